//! The database job queue: each job is claimed once however many claimers race, failures back
//! off and end dead, a lost lease frees the job, dedupe keys hold one job per key.

use std::collections::HashSet;

use hazardloop_storage::jobs::{self, NewJob};
use hazardloop_storage::Db;

use crate::helpers::spawn_app_with;
use crate::{both_backends, Backend};

both_backends!(
    racing_claimers_take_each_job_once,
    failures_back_off_then_die_and_leases_expire,
);

fn job(kind: &str, key: Option<String>, run_at: i64) -> NewJob<'_> {
    NewJob {
        kind,
        org_id: None,
        payload: serde_json::json!({"n": 1}),
        dedupe_key: key,
        run_at,
        max_attempts: 2,
    }
}

async fn claim(db: &Db, worker: &str, now: i64) -> Vec<jobs::Job> {
    let worker = worker.to_string();
    db.write(move |c| jobs::claim(c, &["test.kind"], &worker, 3, 60_000, now))
        .await
        .expect("claim")
}

async fn racing_claimers_take_each_job_once(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.jobs_enabled = false).await;
    let now = hazardloop_storage::now_ms();
    app.db
        .write(move |c| {
            for _ in 0..30 {
                jobs::enqueue(c, job("test.kind", None, now))?;
            }
            jobs::enqueue(c, job("other.kind", None, now))?;
            // Not due yet.
            jobs::enqueue(c, job("test.kind", None, now + 60_000))?;
            Ok(())
        })
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let db = app.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = claim(&db, &format!("w{w}"), now).await;
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 30, "every due job once");
    assert_eq!(unique.len(), 30);

    // Dedupe: one job per key.
    let fresh = app
        .db
        .write(move |c| {
            Ok((
                jobs::enqueue(c, job("keyed", Some("k1".into()), now))?,
                jobs::enqueue(c, job("keyed", Some("k1".into()), now))?,
            ))
        })
        .await
        .unwrap();
    assert_eq!(fresh, (true, false));
}

async fn failures_back_off_then_die_and_leases_expire(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.jobs_enabled = false).await;
    let now = hazardloop_storage::now_ms();
    app.db
        .write(move |c| jobs::enqueue(c, job("test.kind", None, now)).map(|_| ()))
        .await
        .unwrap();
    let first = claim(&app.db, "w1", now).await.remove(0);
    assert_eq!(first.attempts, 1);
    // Held: nobody else gets it while the lease runs.
    assert!(claim(&app.db, "w2", now + 1_000).await.is_empty());
    let j = first.clone();
    app.db
        .write(move |c| jobs::fail(c, &j, "w1", "boom", now))
        .await
        .unwrap();
    // Backed off: not before 2 s.
    assert!(claim(&app.db, "w2", now + 1_000).await.is_empty());
    let second = claim(&app.db, "w2", now + 2_000).await.remove(0);
    assert_eq!(second.attempts, 2);
    assert_eq!(second.last_error.as_deref(), Some("boom"));
    // The holder dies: after the lease another worker takes it over.
    let third = claim(&app.db, "w3", now + 2_000 + 60_001).await.remove(0);
    assert_eq!(third.locked_by.as_deref(), Some("w3"));
    // The old holder can no longer finish it.
    let id = third.id.clone();
    let stale = app
        .db
        .write(move |c| jobs::complete(c, &id, "w2"))
        .await
        .unwrap();
    assert!(!stale);
    // Out of attempts: dead, never claimed again.
    let j = third.clone();
    app.db
        .write(move |c| jobs::fail(c, &j, "w3", "boom again", now + 70_000))
        .await
        .unwrap();
    assert!(claim(&app.db, "w4", now + 10_000_000).await.is_empty());
    let id = third.id.clone();
    let dead = app.db.read(move |c| jobs::get(c, &id)).await.unwrap();
    assert_eq!(dead.state, jobs::DEAD);
}
