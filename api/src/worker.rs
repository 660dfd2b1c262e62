//! The background worker each node runs: it claims due jobs from the database queue
//! (`storage::jobs`) and runs them, a few at a time. Because jobs are claimed through the
//! database, a job runs once however many nodes share the database. Handlers are registered
//! by kind, so other features (webhook deliveries, overdue scans) add theirs beside the
//! photo ones.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hazardloop_storage::jobs::{self, Job, NewJob};
use hazardloop_storage::photos::{PhotoStore, EXPIRED_UPLOADS_JOB, ORPHANS_JOB, RENDITIONS_JOB};
use hazardloop_storage::{now_ms, Db};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How a job ended.
#[derive(Debug)]
pub enum JobOutcome {
    /// Done: the job is removed.
    Done,
    /// Periodic: run again at this time (unix ms).
    RunAgainAt(i64),
    /// Failed: retried with backoff, up to the job's `max_attempts`.
    Retry(String),
}

/// What a handler returns.
pub type JobFuture = Pin<Box<dyn Future<Output = JobOutcome> + Send>>;
/// A handler for one kind of job.
pub type JobHandler = Arc<dyn Fn(Job) -> JobFuture + Send + Sync>;

/// How long a claimed job is held before another node may take it over.
const LEASE_MS: i64 = 5 * 60_000;

/// The worker of one node.
pub struct Worker {
    db: Db,
    id: String,
    poll: Duration,
    concurrency: usize,
    wake: Arc<Notify>,
    handlers: HashMap<&'static str, JobHandler>,
    periodic: Vec<&'static str>,
}

impl Worker {
    /// A worker with no handlers yet.
    pub fn new(db: Db, poll: Duration, concurrency: usize, wake: Arc<Notify>) -> Worker {
        Worker {
            db,
            id: format!("worker-{}", uuid::Uuid::now_v7()),
            poll,
            concurrency: concurrency.max(1),
            wake,
            handlers: HashMap::new(),
            periodic: Vec::new(),
        }
    }

    /// Registers the handler of a kind.
    pub fn handle(mut self, kind: &'static str, handler: JobHandler) -> Worker {
        self.handlers.insert(kind, handler);
        self
    }

    /// Registers a periodic job: one instance always exists (its kind is its dedupe key);
    /// its handler answers [`JobOutcome::RunAgainAt`].
    pub fn periodic(mut self, kind: &'static str, handler: JobHandler) -> Worker {
        self.periodic.push(kind);
        self.handle(kind, handler)
    }

    /// Runs until the task is dropped.
    pub async fn run(self) {
        let kinds: Vec<&'static str> = self.handlers.keys().copied().collect();
        self.ensure_periodic().await;
        let mut running: JoinSet<()> = JoinSet::new();
        loop {
            while running.try_join_next().is_some() {}
            let free = self.concurrency.saturating_sub(running.len());
            let claimed = if free == 0 {
                Vec::new()
            } else {
                self.claim(&kinds, free).await
            };
            let idle = claimed.is_empty();
            for job in claimed {
                let Some(handler) = self.handlers.get(job.kind.as_str()).cloned() else {
                    continue;
                };
                let (db, worker) = (self.db.clone(), self.id.clone());
                running.spawn(async move {
                    let outcome = handler(job.clone()).await;
                    finish(&db, &worker, job, outcome).await;
                });
            }
            if idle || free == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = self.wake.notified() => {}
                    Some(_) = running.join_next(), if !running.is_empty() => {}
                }
            }
        }
    }

    async fn ensure_periodic(&self) {
        for kind in self.periodic.clone() {
            let result = self
                .db
                .write(move |c| {
                    jobs::enqueue(
                        c,
                        NewJob {
                            kind,
                            org_id: None,
                            payload: serde_json::json!({}),
                            dedupe_key: Some(kind.to_string()),
                            run_at: now_ms(),
                            max_attempts: 3,
                        },
                    )
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(kind, error = %e, "could not schedule a periodic job");
            }
        }
    }

    async fn claim(&self, kinds: &[&'static str], n: usize) -> Vec<Job> {
        let k = kinds.to_vec();
        match self.db.read(move |c| jobs::any_due(c, &k, now_ms())).await {
            Ok(true) => {}
            Ok(false) => return Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "could not look for jobs");
                return Vec::new();
            }
        }
        let (kinds, worker) = (kinds.to_vec(), self.id.clone());
        let limit = i64::try_from(n).unwrap_or(1);
        match self
            .db
            .write(move |c| jobs::claim(c, &kinds, &worker, limit, LEASE_MS, now_ms()))
            .await
        {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "could not claim jobs");
                Vec::new()
            }
        }
    }
}

async fn finish(db: &Db, worker: &str, job: Job, outcome: JobOutcome) {
    let (worker, id) = (worker.to_string(), job.id.clone());
    let kind = job.kind.clone();
    let result = match outcome {
        JobOutcome::Done => {
            db.write(move |c| jobs::complete(c, &id, &worker).map(|_| ()))
                .await
        }
        JobOutcome::RunAgainAt(at) => {
            db.write(move |c| jobs::reschedule(c, &id, &worker, at).map(|_| ()))
                .await
        }
        JobOutcome::Retry(error) => {
            tracing::warn!(kind = %kind, job = %job.id, attempt = job.attempts, error = %error, "job failed");
            db.write(move |c| jobs::fail(c, &job, &worker, &error, now_ms()))
                .await
        }
    };
    if let Err(e) = result {
        tracing::warn!(kind = %kind, error = %e, "could not record a job's outcome");
    }
}

/// The photo handlers: renditions, and the orphan and expired-upload sweeps every
/// `sweep_every_ms`.
pub fn with_photo_jobs(worker: Worker, photos: PhotoStore, sweep_every_ms: i64) -> Worker {
    let p = photos.clone();
    let renditions: JobHandler = Arc::new(move |job: Job| {
        let photos = p.clone();
        Box::pin(async move {
            let sha = serde_json::from_str::<serde_json::Value>(&job.payload)
                .ok()
                .and_then(|v| v["sha256"].as_str().map(str::to_string));
            let (Some(org), Some(sha)) = (job.org_id.clone(), sha) else {
                return JobOutcome::Retry(format!("bad payload {}", job.payload));
            };
            match photos.make_renditions(&org, &sha).await {
                Ok(()) => JobOutcome::Done,
                Err(e) => JobOutcome::Retry(e.to_string()),
            }
        })
    });
    let p = photos.clone();
    let orphans: JobHandler = Arc::new(move |_job: Job| {
        let photos = p.clone();
        Box::pin(async move {
            match photos.sweep_orphans().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "deleted photos that were never linked"),
                Err(e) => tracing::warn!(error = %e, "orphan sweep failed"),
            }
            JobOutcome::RunAgainAt(now_ms() + sweep_every_ms)
        })
    });
    let expired: JobHandler = Arc::new(move |_job: Job| {
        let photos = photos.clone();
        Box::pin(async move {
            match photos.sweep_expired_uploads().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "deleted expired uploads"),
                Err(e) => tracing::warn!(error = %e, "upload sweep failed"),
            }
            JobOutcome::RunAgainAt(now_ms() + sweep_every_ms)
        })
    });
    worker
        .handle(RENDITIONS_JOB, renditions)
        .periodic(ORPHANS_JOB, orphans)
        .periodic(EXPIRED_UPLOADS_JOB, expired)
}
