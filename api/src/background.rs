//! Periodic work. Every node runs the loop; the database decides which node does the work (a
//! lease), and the work itself is idempotent, so a scan run twice records nothing twice.

use std::time::Duration;

use hazardloop_storage::{leases, now_ms, overdue, pull, reports, risk, Db};

/// Every `interval` until the process stops: records overdue hazards and statutory report
/// deadlines missed or near (once each), and prunes tombstones
/// older than `retention_ms`.
pub async fn maintenance_loop(db: Db, interval: Duration, retention_ms: i64, node: String) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ttl = (interval.as_millis() as i64).saturating_mul(2).max(1000);
        let holder = node.clone();
        let result = db
            .write(move |c| {
                let now = now_ms();
                if !leases::try_acquire(c, "overdue_scan", &holder, ttl, now)? {
                    return Ok(None);
                }
                let recorded =
                    overdue::scan(c, now, 10_000)? + reports::announce_deadlines(c, now)?;
                pull::prune_tombstones(c, now - retention_ms)?;
                hazardloop_storage::idempotency::prune(c, now)?;
                Ok(Some(recorded))
            })
            .await;
        match result {
            Ok(Some(n)) if n > 0 => tracing::info!(recorded = n, "overdue scan"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "maintenance failed; retrying next tick"),
        }
        check_tasks(&db, ttl, &node).await;
    }
}

/// The check task job (`storage::risk::tasks::run`) in a transaction of its own, on the node
/// holding its lease: tasks for the windows ahead, and missed ones recorded once.
async fn check_tasks(db: &Db, ttl: i64, node: &str) {
    let holder = node.to_string();
    let result = db
        .write(move |c| {
            let now = now_ms();
            if !leases::try_acquire(c, "check_tasks", &holder, ttl, now)? {
                return Ok(None);
            }
            risk::tasks::run(c, now, risk::tasks::DEFAULT_HORIZON_MS).map(Some)
        })
        .await;
    match result {
        Ok(Some(r)) if r.created + r.missed > 0 => {
            tracing::info!(created = r.created, missed = r.missed, "check tasks")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "check task job failed; retrying next tick"),
    }
}
