//! The retry schedule of failed deliveries.

/// The retry schedule.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt.
    pub base_ms: u64,
    /// Longest delay.
    pub max_ms: u64,
    /// A delivery older than this is not retried.
    pub max_age_ms: i64,
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts (1 for the first failure), with
    /// `jitter` in 0..1 adding up to 20 % to the delay; `None` once the next attempt would fall
    /// after the delivery's `created_at + max_age`. Delays double: base, 2 base, 4 base, ...
    /// up to `max_ms`.
    pub fn retry_at(&self, attempts: i32, created_at: i64, now: i64, jitter: f64) -> Option<i64> {
        let doublings = (attempts.max(1) - 1).min(40) as u32;
        let delay = self
            .base_ms
            .max(1)
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms.max(1));
        let delay = (delay as f64 * (1.0 + 0.2 * jitter.clamp(0.0, 1.0))) as i64;
        let at = now.saturating_add(delay);
        (at <= created_at.saturating_add(self.max_age_ms)).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_stop() {
        let p = RetryPolicy {
            base_ms: 1000,
            max_ms: 10_000,
            max_age_ms: 60_000,
        };
        assert_eq!(p.retry_at(1, 0, 0, 0.0), Some(1000));
        assert_eq!(p.retry_at(2, 0, 0, 0.0), Some(2000));
        assert_eq!(p.retry_at(3, 0, 0, 0.0), Some(4000));
        assert_eq!(p.retry_at(3, 0, 0, 1.0), Some(4800));
        assert_eq!(p.retry_at(10, 0, 0, 0.0), Some(10_000));
        assert_eq!(p.retry_at(100, 0, 0, 0.0), Some(10_000));
        assert_eq!(p.retry_at(1, 0, 59_500, 0.0), None);
    }
}
