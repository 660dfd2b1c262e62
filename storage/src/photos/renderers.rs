//! The threads that decode originals for renditions. Decoding allocates tens of megabytes at a
//! time; on the general blocking pool those allocations land in whichever threads' allocator
//! arenas happen to run them, and the allocator keeps freed memory per arena, so the process
//! grows with the number of threads that ever decoded. A few dedicated threads keep that
//! memory in a few arenas.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Task = Box<dyn FnOnce() + Send>;

/// A fixed set of threads running rendition work, one task per thread at a time.
#[derive(Clone)]
pub struct Renderers {
    tasks: mpsc::Sender<Task>,
}

impl std::fmt::Debug for Renderers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderers").finish_non_exhaustive()
    }
}

impl Renderers {
    /// Starts `threads` threads (at least one); they end when the last handle is dropped.
    pub fn start(threads: usize) -> std::io::Result<Renderers> {
        let (tx, rx) = mpsc::channel::<Task>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("renderer-{i}"))
                .spawn(move || loop {
                    // Poisoning only means another renderer panicked; the queue is intact.
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match next {
                        Ok(task) => task(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(Renderers { tasks: tx })
    }

    /// Runs `f` on a renderer thread and waits for its result; `None` when the renderers are
    /// gone or `f` panicked.
    pub async fn run<T, F>(&self, f: F) -> Option<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let task: Task = Box::new(move || {
            let _ = done.send(f());
        });
        self.tasks.send(task).ok()?;
        result.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_work_on_its_threads() {
        let r = Renderers::start(2).expect("threads");
        let name = r
            .run(|| std::thread::current().name().map(str::to_string))
            .await
            .flatten();
        assert!(name.is_some_and(|n| n.starts_with("renderer-")));
        assert_eq!(r.run(|| 2 + 2).await, Some(4));
    }
}
