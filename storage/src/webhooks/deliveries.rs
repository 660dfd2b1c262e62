//! Deliveries: the log, redelivery, and the worker's side (claiming leases, recording
//! attempts, pruning).

use diesel::prelude::*;

use super::subscriptions::get;
use super::{wake_workers, DELIVERED, FAILED, PENDING};
use crate::schema::{webhook_deliveries as wd, webhooks as wh};
use crate::{new_id, DbConn, StorageError};

/// One delivery (one event for one webhook; a redelivery is a new row with the same
/// `message_id`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = wd)]
pub struct Delivery {
    pub id: String,
    pub org_id: String,
    pub webhook_id: String,
    pub message_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub locked_until: Option<i64>,
    pub locked_by: Option<String>,
    pub last_attempt_at: Option<i64>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub redelivery_of: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A page of a webhook's deliveries, newest first, optionally of one status, starting after
/// the delivery `after` (the previous page's last id).
pub fn deliveries(
    conn: &mut DbConn,
    org_id: &str,
    webhook_id: &str,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, StorageError> {
    let hook = get(conn, org_id, webhook_id)?;
    let mut q = wd::table
        .filter(wd::webhook_id.eq(hook.id))
        .select(Delivery::as_select())
        .order(wd::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(wd::status.eq(s.to_string()));
    }
    if let Some(a) = after {
        q = q.filter(wd::id.lt(a.to_string()));
    }
    Ok(q.load(conn)?)
}

/// One delivery of one of the organisation's webhooks.
pub fn delivery(
    conn: &mut DbConn,
    org_id: &str,
    webhook_id: &str,
    id: &str,
) -> Result<Delivery, StorageError> {
    Ok(wd::table
        .filter(wd::org_id.eq(org_id))
        .filter(wd::webhook_id.eq(webhook_id))
        .filter(wd::id.eq(id))
        .select(Delivery::as_select())
        .first(conn)?)
}

/// Queues a delivery again, now: a new row with the same message id (so the receiver's
/// `webhook-id` is unchanged), body and event, pointing back at the original. The webhook must
/// be active ([`StorageError::Conflict`] otherwise).
pub fn redeliver(
    conn: &mut DbConn,
    org_id: &str,
    webhook_id: &str,
    delivery_id: &str,
    now: i64,
) -> Result<Delivery, StorageError> {
    let hook = get(conn, org_id, webhook_id)?;
    if !hook.active {
        return Err(StorageError::Conflict("the webhook is disabled".into()));
    }
    let orig = delivery(conn, org_id, webhook_id, delivery_id)?;
    let id = new_id();
    diesel::insert_into(wd::table)
        .values((
            wd::id.eq(&id),
            wd::org_id.eq(org_id),
            wd::webhook_id.eq(&hook.id),
            wd::message_id.eq(&orig.message_id),
            wd::event_id.eq(&orig.event_id),
            wd::event_type.eq(&orig.event_type),
            wd::payload.eq(&orig.payload),
            wd::status.eq(PENDING),
            wd::attempts.eq(0),
            wd::next_attempt_at.eq(now),
            wd::redelivery_of.eq(&orig.id),
            wd::created_at.eq(now),
            wd::updated_at.eq(now),
        ))
        .execute(conn)?;
    wake_workers();
    delivery(conn, org_id, webhook_id, &id)
}

/// A delivery leased to a worker, with what it needs to send it.
#[derive(Clone, Queryable)]
pub struct Claimed {
    pub id: String,
    pub org_id: String,
    pub webhook_id: String,
    pub message_id: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i32,
    pub created_at: i64,
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("webhook_id", &self.webhook_id)
            .field("message_id", &self.message_id)
            .field("attempts", &self.attempts)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Leases up to `limit` due deliveries of active webhooks to `holder` until `now + lease_ms`.
/// Concurrent claimers (other nodes) get disjoint sets.
pub fn claim(
    conn: &mut DbConn,
    holder: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Claimed>, StorageError> {
    let active = wh::table.filter(wh::active.eq(true)).select(wh::id);
    let due = wd::table
        .filter(wd::status.eq(PENDING))
        .filter(wd::next_attempt_at.le(now))
        .filter(wd::webhook_id.eq_any(active))
        .order(wd::next_attempt_at.asc())
        .limit(limit)
        .select(wd::id);
    let ids: Vec<String> = match conn {
        // Rows another claimer has locked are skipped, not waited for.
        DbConn::Pg(c) => due.for_update().skip_locked().load(c)?,
        // One writer at a time: the conditional UPDATE below is the claim.
        DbConn::Sqlite(c) => due.load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let until = now + lease_ms;
    diesel::update(
        wd::table
            .filter(wd::id.eq_any(&ids))
            .filter(wd::status.eq(PENDING))
            .filter(wd::next_attempt_at.le(now)),
    )
    .set((
        wd::locked_by.eq(holder),
        wd::locked_until.eq(until),
        wd::next_attempt_at.eq(until),
    ))
    .execute(conn)?;
    Ok(wd::table
        .inner_join(wh::table.on(wh::id.eq(wd::webhook_id)))
        .filter(wd::id.eq_any(&ids))
        .filter(wd::locked_by.eq(holder))
        .filter(wd::locked_until.eq(until))
        .select((
            wd::id,
            wd::org_id,
            wd::webhook_id,
            wd::message_id,
            wd::payload,
            wd::attempts,
            wd::created_at,
            wh::url,
            wh::secret,
        ))
        .load::<Claimed>(conn)?)
}

/// What happened to one attempt, and what to do next.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: String,
    pub webhook_id: String,
    /// The HTTP status, when the receiver answered.
    pub status_code: Option<u16>,
    /// Why it failed (`None`: delivered).
    pub error: Option<String>,
    /// For a failure: when to try again, or `None` to give up (the delivery becomes `failed`).
    pub retry_at: Option<i64>,
}

/// A webhook whose failures reached the threshold: disable it with [`disable`] in a
/// transaction of its own.
#[derive(Debug, Clone)]
pub struct FailingWebhook {
    pub org_id: String,
    pub webhook_id: String,
    pub consecutive_failures: i32,
    pub last_error: String,
}

/// Stores attempts made under `holder`'s lease (an attempt whose lease was lost is dropped: the
/// delivery belongs to whoever holds it now). A delivery that gives up counts against its
/// webhook, a delivered one resets the count. Returns the active webhooks that now have at
/// least `disable_after` consecutive failed deliveries (none when it is 0).
pub fn record(
    conn: &mut DbConn,
    holder: &str,
    attempts: &[Attempt],
    disable_after: i32,
    now: i64,
) -> Result<Vec<FailingWebhook>, StorageError> {
    // Webhook rows are locked in one order by every recorder, so two never wait on each other.
    let mut sorted: Vec<&Attempt> = attempts.iter().collect();
    sorted.sort_by(|a, b| (&a.webhook_id, &a.delivery_id).cmp(&(&b.webhook_id, &b.delivery_id)));
    let mut failing: Vec<FailingWebhook> = Vec::new();
    for a in sorted {
        let mine = wd::table
            .filter(wd::id.eq(&a.delivery_id))
            .filter(wd::locked_by.eq(holder))
            .filter(wd::status.eq(PENDING));
        let code = a.status_code.map(i32::from);
        let common = (
            wd::attempts.eq(wd::attempts + 1),
            wd::last_attempt_at.eq(now),
            wd::last_status_code.eq(code),
            wd::last_error.eq(&a.error),
            wd::locked_until.eq(None::<i64>),
            wd::locked_by.eq(None::<String>),
            wd::updated_at.eq(now),
        );
        match (&a.error, a.retry_at) {
            (None, _) => {
                let n = diesel::update(mine)
                    .set((common, wd::status.eq(DELIVERED), wd::delivered_at.eq(now)))
                    .execute(conn)?;
                if n == 1 {
                    diesel::update(
                        wh::table
                            .filter(wh::id.eq(&a.webhook_id))
                            .filter(wh::consecutive_failures.ne(0)),
                    )
                    .set(wh::consecutive_failures.eq(0))
                    .execute(conn)?;
                    failing.retain(|f| f.webhook_id != a.webhook_id);
                }
            }
            (Some(_), Some(at)) => {
                diesel::update(mine)
                    .set((common, wd::next_attempt_at.eq(at)))
                    .execute(conn)?;
            }
            (Some(error), None) => {
                let n = diesel::update(mine)
                    .set((common, wd::status.eq(FAILED)))
                    .execute(conn)?;
                if n == 0 {
                    continue;
                }
                diesel::update(wh::table.filter(wh::id.eq(&a.webhook_id)))
                    .set(wh::consecutive_failures.eq(wh::consecutive_failures + 1))
                    .execute(conn)?;
                let hook: Option<(String, i32, bool)> = wh::table
                    .find(&a.webhook_id)
                    .select((wh::org_id, wh::consecutive_failures, wh::active))
                    .first(conn)
                    .optional()?;
                if let Some((org_id, failures, true)) = hook {
                    if disable_after > 0 && failures >= disable_after {
                        failing.retain(|f| f.webhook_id != a.webhook_id);
                        failing.push(FailingWebhook {
                            org_id,
                            webhook_id: a.webhook_id.clone(),
                            consecutive_failures: failures,
                            last_error: error.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(failing)
}

/// Deletes finished deliveries (delivered or failed) last changed before `before`.
pub fn prune(conn: &mut DbConn, before: i64) -> Result<usize, StorageError> {
    Ok(diesel::delete(
        wd::table
            .filter(wd::status.ne(PENDING))
            .filter(wd::updated_at.lt(before)),
    )
    .execute(conn)?)
}
