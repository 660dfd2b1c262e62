//! A generic job queue in the database, so that background work (renditions today; webhook
//! deliveries and overdue scans tomorrow) runs once across any number of nodes.
//!
//! A job is claimed with a lease: PostgreSQL picks due rows with `FOR UPDATE SKIP LOCKED`, so
//! concurrent claimers never wait on or take each other's rows; SQLite (one writer at a time)
//! claims with a conditional update. A worker that dies mid-job loses its lease and the job
//! becomes claimable again. Failures are retried with exponential backoff up to
//! `max_attempts`, then the job is kept as `dead` for inspection.
//!
//! Usage: [`enqueue`] (inside the caller's own transaction, so the job exists exactly when the
//! work it follows committed), then a worker loops over [`claim`] and ends each job with
//! [`complete`], [`fail`] or [`reschedule`].

use diesel::prelude::*;
use serde::Serialize;

use crate::schema::jobs;
use crate::{new_id, now_ms, DbConn, StorageError};

/// A job waiting to be claimed.
pub const QUEUED: &str = "queued";
/// A job held by a worker until `locked_until`.
pub const RUNNING: &str = "running";
/// A job that failed `max_attempts` times; kept, never retried.
pub const DEAD: &str = "dead";

/// One row of the queue.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, Serialize)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: String,
    pub org_id: Option<String>,
    pub kind: String,
    /// JSON text.
    pub payload: String,
    pub dedupe_key: Option<String>,
    pub state: String,
    /// Claims so far, including the current one.
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What is needed to enqueue a job.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub org_id: Option<&'a str>,
    pub payload: serde_json::Value,
    /// At most one job with this key exists at a time; enqueueing it again is a no-op.
    pub dedupe_key: Option<String>,
    /// Not before this time (unix ms).
    pub run_at: i64,
    pub max_attempts: i32,
}

/// Adds a job; returns false when a job with the same `dedupe_key` already exists.
pub fn enqueue(conn: &mut DbConn, job: NewJob<'_>) -> Result<bool, StorageError> {
    let now = now_ms();
    let row = Job {
        id: new_id(),
        org_id: job.org_id.map(str::to_string),
        kind: job.kind.to_string(),
        payload: job.payload.to_string(),
        dedupe_key: job.dedupe_key,
        state: QUEUED.into(),
        attempts: 0,
        max_attempts: job.max_attempts.max(1),
        run_at: job.run_at,
        locked_by: None,
        locked_until: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    let inserted = crate::db_run!(conn, |c| diesel::insert_into(jobs::table)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(inserted == 1)
}

/// True when a job of the given kinds is due: a read, so an idle worker polls without taking
/// SQLite's single write lock (or any row lock).
pub fn any_due(conn: &mut DbConn, kinds: &[&str], now: i64) -> Result<bool, StorageError> {
    let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    let n: i64 = jobs::table
        .filter(jobs::kind.eq_any(kinds))
        .filter(
            jobs::state
                .eq(QUEUED)
                .and(jobs::run_at.le(now))
                .or(jobs::state.eq(RUNNING).and(jobs::locked_until.lt(now))),
        )
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Claims up to `limit` due jobs of the given kinds for `worker` for `lease_ms`. A job is due
/// when queued and `run_at` has passed, or when its previous holder's lease ran out.
pub fn claim(
    conn: &mut DbConn,
    kinds: &[&str],
    worker: &str,
    limit: i64,
    lease_ms: i64,
    now: i64,
) -> Result<Vec<Job>, StorageError> {
    let kinds: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
    let due = jobs::kind.eq_any(kinds.clone()).and(
        jobs::state
            .eq(QUEUED)
            .and(jobs::run_at.le(now))
            .or(jobs::state.eq(RUNNING).and(jobs::locked_until.lt(now))),
    );
    let set = (
        jobs::state.eq(RUNNING),
        jobs::attempts.eq(jobs::attempts + 1),
        jobs::locked_by.eq(worker),
        jobs::locked_until.eq(now + lease_ms),
        jobs::updated_at.eq(now),
    );
    match conn {
        DbConn::Pg(c) => {
            use diesel::sql_types::{Array, BigInt, Text};
            // Rows another claimer holds are skipped, not waited for.
            Ok(diesel::sql_query(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, \
                 locked_until = $2, updated_at = $3 \
                 WHERE id IN (SELECT id FROM jobs WHERE kind = ANY($4) \
                   AND ((state = 'queued' AND run_at <= $3) \
                     OR (state = 'running' AND locked_until < $3)) \
                   ORDER BY run_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
                 RETURNING *",
            )
            .bind::<Text, _>(worker)
            .bind::<BigInt, _>(now + lease_ms)
            .bind::<BigInt, _>(now)
            .bind::<Array<Text>, _>(&kinds)
            .bind::<BigInt, _>(limit)
            .load(c)?)
        }
        DbConn::Sqlite(c) => {
            let candidates: Vec<String> = jobs::table
                .filter(due.clone())
                .order(jobs::run_at.asc())
                .limit(limit)
                .select(jobs::id)
                .load(c)?;
            let mut claimed = Vec::with_capacity(candidates.len());
            for id in candidates {
                // Conditional: only if it is still due (another process may have taken it).
                let n = diesel::update(jobs::table.filter(jobs::id.eq(&id)).filter(due.clone()))
                    .set(set)
                    .execute(c)?;
                if n == 1 {
                    claimed.push(jobs::table.find(&id).select(Job::as_select()).first(c)?);
                }
            }
            Ok(claimed)
        }
    }
}

/// Ends a job successfully: it is removed (and its `dedupe_key` freed).
pub fn complete(conn: &mut DbConn, id: &str, worker: &str) -> Result<bool, StorageError> {
    let n = diesel::delete(
        jobs::table
            .filter(jobs::id.eq(id))
            .filter(jobs::locked_by.eq(worker)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Runs the same job again at `run_at` (periodic work), with its attempts reset.
pub fn reschedule(
    conn: &mut DbConn,
    id: &str,
    worker: &str,
    run_at: i64,
) -> Result<bool, StorageError> {
    let n = diesel::update(
        jobs::table
            .filter(jobs::id.eq(id))
            .filter(jobs::locked_by.eq(worker)),
    )
    .set((
        jobs::state.eq(QUEUED),
        jobs::attempts.eq(0),
        jobs::run_at.eq(run_at),
        jobs::locked_by.eq(None::<String>),
        jobs::locked_until.eq(None::<i64>),
        jobs::last_error.eq(None::<String>),
        jobs::updated_at.eq(now_ms()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Delay before retry number `attempt` (1-based): 2 s, 4 s, 8 s... capped at one hour.
pub fn backoff_ms(attempt: i32) -> i64 {
    let exp = attempt.clamp(1, 12) as u32;
    (1_000i64 << exp).min(3_600_000)
}

/// Records a failure: the job is retried after [`backoff_ms`], or marked dead once it has
/// been tried `max_attempts` times.
pub fn fail(
    conn: &mut DbConn,
    job: &Job,
    worker: &str,
    error: &str,
    now: i64,
) -> Result<(), StorageError> {
    let dead = job.attempts >= job.max_attempts;
    let error: String = error.chars().take(2_000).collect();
    diesel::update(
        jobs::table
            .filter(jobs::id.eq(&job.id))
            .filter(jobs::locked_by.eq(worker)),
    )
    .set((
        jobs::state.eq(if dead { DEAD } else { QUEUED }),
        jobs::run_at.eq(now + backoff_ms(job.attempts)),
        jobs::locked_by.eq(None::<String>),
        jobs::locked_until.eq(None::<i64>),
        jobs::last_error.eq(Some(error)),
        jobs::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// Loads a job by id (operations and tests).
pub fn get(conn: &mut DbConn, id: &str) -> Result<Job, StorageError> {
    Ok(jobs::table.find(id).select(Job::as_select()).first(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 2_000);
        assert_eq!(backoff_ms(2), 4_000);
        assert_eq!(backoff_ms(5), 32_000);
        assert_eq!(backoff_ms(40), 3_600_000);
        assert_eq!(backoff_ms(0), 2_000);
    }
}
