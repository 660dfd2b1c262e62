//! Whether the database answers, as the pool's connection attempts find it, so that an outage
//! is logged once when it starts and once when it ends rather than on every attempt (the pool
//! retries in the background, and every waiting request makes attempts of its own).

use std::sync::atomic::{AtomicBool, Ordering};

/// What a connection attempt changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The first failure after the database answered: an outage starts.
    Lost,
    /// The first success after an outage: it is over.
    Recovered,
    /// Nothing new.
    Unchanged,
}

/// The reachability of one pool's database.
#[derive(Debug, Default)]
pub struct Reachability {
    down: AtomicBool,
}

impl Reachability {
    /// Records a failed connection attempt.
    pub fn failed(&self) -> Transition {
        if self.down.swap(true, Ordering::SeqCst) {
            Transition::Unchanged
        } else {
            Transition::Lost
        }
    }

    /// Records a successful connection attempt.
    pub fn succeeded(&self) -> Transition {
        if self.down.swap(false, Ordering::SeqCst) {
            Transition::Recovered
        } else {
            Transition::Unchanged
        }
    }

    /// True while the last attempt failed.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_when_it_starts_and_once_when_it_ends() {
        let r = Reachability::default();
        assert_eq!(r.succeeded(), Transition::Unchanged);
        assert_eq!(r.failed(), Transition::Lost);
        for _ in 0..100 {
            assert_eq!(r.failed(), Transition::Unchanged);
        }
        assert!(r.is_down());
        assert_eq!(r.succeeded(), Transition::Recovered);
        assert_eq!(r.succeeded(), Transition::Unchanged);
        // A second outage is a new one.
        assert_eq!(r.failed(), Transition::Lost);
    }

    #[test]
    fn concurrent_failures_report_the_outage_once() {
        let r = std::sync::Arc::new(Reachability::default());
        let lost: usize = (0..8)
            .map(|_| {
                let r = r.clone();
                std::thread::spawn(move || {
                    (0..1000).filter(|_| r.failed() == Transition::Lost).count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(lost, 1);
    }
}
