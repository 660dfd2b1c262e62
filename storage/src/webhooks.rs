//! Webhooks: an organisation's subscriptions, and the delivery outbox.
//!
//! **Outbox.** [`crate::change::Change`] hands every event it writes to the change's
//! [`Outbox`], which loads the organisation's active webhooks once per change (lazily, on the
//! first event) and inserts one `webhook_deliveries` row per matching webhook, in the same
//! transaction as the event. An event that commits has its deliveries; one that rolls back
//! never had any.
//!
//! **Claiming.** Workers on every node call [`claim`]: a short transaction picks due rows
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent claimers take disjoint rows without
//! waiting; a conditional `UPDATE` on SQLite) and leases them (`locked_until`, `locked_by`,
//! `next_attempt_at` moved to the lease's end). The worker sends without holding a connection and
//! reports back with [`record`], which only touches rows still leased to it. A node that dies
//! mid-send loses its lease and another node retries the delivery after it expires.
//!
//! The retry schedule and the HTTP side live in the `api` crate; this module only stores.

use std::collections::HashMap;
use std::sync::OnceLock;

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::audit::EventInput;
use crate::change::Change;
use crate::schema::{sites, webhook_deliveries as wd, webhooks as wh};
use crate::{new_id, DbConn, StorageError};

/// The event appended when a webhook is disabled (automatically after persistent failure, or by
/// a `PATCH` with `active: false`).
pub const WEBHOOK_DISABLED: &str = "webhook.disabled";

/// The most webhooks one organisation may have (each one costs every write an insert).
pub const MAX_PER_ORG: i64 = 100;

/// Delivery states.
pub const PENDING: &str = "pending";
/// Answered 2xx.
pub const DELIVERED: &str = "delivered";
/// Given up: too old to retry, or the webhook was disabled.
pub const FAILED: &str = "failed";

/// True for a name a subscription may list: a known event type, `webhook.disabled`, or `*`.
pub fn is_subscribable(name: &str) -> bool {
    name == "*" || name == WEBHOOK_DISABLED || hazardloop_sync::event::is_known(name)
}

/// Every event type a subscription may name (besides `*`).
pub fn subscribable_types() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = hazardloop_sync::event::ALL.to_vec();
    v.push(WEBHOOK_DISABLED);
    v
}

fn notifier() -> &'static tokio::sync::Notify {
    static N: OnceLock<tokio::sync::Notify> = OnceLock::new();
    N.get_or_init(tokio::sync::Notify::new)
}

/// Wakes this process's delivery workers (called when a change that enqueued deliveries is
/// about to commit; a worker that wakes too early finds nothing and polls again later).
pub fn wake_workers() {
    notifier().notify_waiters();
}

/// Resolves when [`wake_workers`] is next called.
pub async fn woken() {
    notifier().notified().await
}

/// One subscription.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = wh)]
pub struct Webhook {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub description: String,
    /// JSON array of names.
    pub event_types: String,
    pub site_id: Option<String>,
    /// `whsec_<base64>`.
    pub secret: String,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<i64>,
    pub consecutive_failures: i32,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("site_id", &self.site_id)
            .field("secret", &"<redacted>")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// The subscribed event type names.
    pub fn types(&self) -> Vec<String> {
        serde_json::from_str(&self.event_types).unwrap_or_default()
    }
}

/// What a new subscription needs.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub site_id: Option<String>,
    pub active: bool,
    pub created_by: Option<String>,
}

/// Changes to a subscription; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `Some(None)` removes the site filter.
    pub site_id: Option<Option<String>>,
    pub active: Option<bool>,
}

fn check_site(
    conn: &mut DbConn,
    org_id: &str,
    site_id: &Option<String>,
) -> Result<(), StorageError> {
    if let Some(s) = site_id {
        match crate::sites::get(conn, org_id, s) {
            Ok(_) => {}
            Err(StorageError::NotFound) => {
                return Err(StorageError::Invalid(format!("site {s} does not exist")))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Creates a subscription with its secret.
pub fn create(
    conn: &mut DbConn,
    org_id: &str,
    new: &NewWebhook,
    secret: &str,
    now: i64,
) -> Result<Webhook, StorageError> {
    check_site(conn, org_id, &new.site_id)?;
    let count: i64 = wh::table
        .filter(wh::org_id.eq(org_id))
        .count()
        .get_result(conn)?;
    if count >= MAX_PER_ORG {
        return Err(StorageError::Conflict(format!(
            "an organisation may have at most {MAX_PER_ORG} webhooks"
        )));
    }
    let id = new_id();
    diesel::insert_into(wh::table)
        .values((
            wh::id.eq(&id),
            wh::org_id.eq(org_id),
            wh::url.eq(&new.url),
            wh::description.eq(&new.description),
            wh::event_types.eq(json!(new.event_types).to_string()),
            wh::site_id.eq(&new.site_id),
            wh::secret.eq(secret),
            wh::active.eq(new.active),
            wh::consecutive_failures.eq(0),
            wh::created_by.eq(&new.created_by),
            wh::created_at.eq(now),
            wh::updated_at.eq(now),
        ))
        .execute(conn)?;
    get(conn, org_id, &id)
}

/// The organisation's subscriptions, oldest first.
pub fn list(conn: &mut DbConn, org_id: &str) -> Result<Vec<Webhook>, StorageError> {
    Ok(wh::table
        .filter(wh::org_id.eq(org_id))
        .order(wh::id.asc())
        .select(Webhook::as_select())
        .load(conn)?)
}

/// One subscription of the organisation; another organisation's is [`StorageError::NotFound`].
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Webhook, StorageError> {
    Ok(wh::table
        .filter(wh::org_id.eq(org_id))
        .filter(wh::id.eq(id))
        .select(Webhook::as_select())
        .first(conn)?)
}

/// Applies a patch. Turning a webhook off fails its pending deliveries and appends
/// `webhook.disabled` (actor: `actor_id`); turning it on clears the failure count.
pub fn update(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
    patch: &WebhookPatch,
    actor_id: Option<&str>,
    now: i64,
) -> Result<Webhook, StorageError> {
    let before = get(conn, org_id, id)?;
    if let Some(site) = &patch.site_id {
        check_site(conn, org_id, site)?;
    }
    // First, so the event names the webhook as it was.
    if patch.active == Some(false) && before.active {
        disable(
            conn,
            org_id,
            id,
            "disabled through the API",
            actor_id,
            None,
            now,
        )?;
    }
    let target = wh::table
        .filter(wh::id.eq(id))
        .filter(wh::org_id.eq(org_id));
    if let Some(url) = &patch.url {
        diesel::update(target).set(wh::url.eq(url)).execute(conn)?;
    }
    if let Some(d) = &patch.description {
        diesel::update(target)
            .set(wh::description.eq(d))
            .execute(conn)?;
    }
    if let Some(t) = &patch.event_types {
        diesel::update(target)
            .set(wh::event_types.eq(json!(t).to_string()))
            .execute(conn)?;
    }
    if let Some(site) = &patch.site_id {
        diesel::update(target)
            .set(wh::site_id.eq(site))
            .execute(conn)?;
    }
    match patch.active {
        Some(true) if !before.active => {
            diesel::update(target)
                .set((
                    wh::active.eq(true),
                    wh::disabled_reason.eq(None::<String>),
                    wh::disabled_at.eq(None::<i64>),
                    wh::consecutive_failures.eq(0),
                ))
                .execute(conn)?;
        }
        _ => {}
    }
    diesel::update(target)
        .set(wh::updated_at.eq(now))
        .execute(conn)?;
    get(conn, org_id, id)
}

/// Deletes a subscription and its delivery log.
pub fn delete(conn: &mut DbConn, org_id: &str, id: &str) -> Result<(), StorageError> {
    let hook = get(conn, org_id, id)?;
    diesel::delete(wd::table.filter(wd::webhook_id.eq(&hook.id))).execute(conn)?;
    diesel::delete(wh::table.filter(wh::id.eq(&hook.id))).execute(conn)?;
    Ok(())
}

/// Turns a webhook off (once: a webhook already off is left alone; with `min_failures`, only
/// while it has that many consecutive failed deliveries), fails its pending deliveries and
/// appends `webhook.disabled` to the organisation's events, which other subscriptions receive
/// like any event. True when it was turned off now.
///
/// Locks: the webhook's row, and the organisation's where [`Change`] takes it for the event.
/// Writers of events hold the organisation's row and take only a key-share lock on webhook rows
/// (the foreign key of the deliveries they insert), which an `UPDATE` of other columns does not
/// conflict with, so the two never wait on each other in a cycle.
pub fn disable(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
    reason: &str,
    actor_id: Option<&str>,
    min_failures: Option<i32>,
    now: i64,
) -> Result<bool, StorageError> {
    let mut change = Change::begin(conn, org_id, now)?;
    let n = diesel::update(
        wh::table
            .filter(wh::id.eq(id))
            .filter(wh::org_id.eq(org_id))
            .filter(wh::active.eq(true))
            .filter(wh::consecutive_failures.ge(min_failures.unwrap_or(0))),
    )
    .set((
        wh::active.eq(false),
        wh::disabled_reason.eq(reason),
        wh::disabled_at.eq(now),
        wh::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        change.finish(conn)?;
        return Ok(false);
    }
    diesel::update(
        wd::table
            .filter(wd::webhook_id.eq(id))
            .filter(wd::status.eq(PENDING)),
    )
    .set((
        wd::status.eq(FAILED),
        wd::last_error.eq("the webhook was disabled before this delivery succeeded"),
        wd::locked_until.eq(None::<i64>),
        wd::locked_by.eq(None::<String>),
        wd::updated_at.eq(now),
    ))
    .execute(conn)?;
    let hook = get(conn, org_id, id)?;
    change.audit(
        conn,
        EventInput {
            entity_type: "webhook",
            entity_id: hook.id.clone(),
            actor_id: actor_id.map(str::to_string),
            event: WEBHOOK_DISABLED.to_string(),
            from_state: Some("active".into()),
            to_state: Some("disabled".into()),
            payload: json!({
                "webhook_id": hook.id,
                "url": hook.url,
                "reason": reason,
                "consecutive_failures": hook.consecutive_failures,
            }),
            ..EventInput::default()
        },
    )?;
    change.finish(conn)?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// The outbox: one per open change.

#[derive(Debug)]
struct Subscription {
    id: String,
    all: bool,
    types: Vec<String>,
    /// The materialised path of the site filter (`/root/…/site/`).
    site_path: Option<String>,
}

/// The webhooks of one change's organisation, loaded on the first event, and the deliveries
/// enqueued so far.
#[derive(Debug, Default)]
pub struct Outbox {
    subscriptions: Option<Vec<Subscription>>,
    site_paths: HashMap<String, Option<String>>,
    enqueued: usize,
}

/// An event as [`Outbox::enqueue`] needs it.
#[derive(Debug)]
pub struct OutboxEvent<'a> {
    pub id: &'a str,
    pub seq: i64,
    pub input: &'a EventInput,
    pub recorded_at: i64,
}

impl Outbox {
    /// Deliveries enqueued by this change (including any in savepoints rolled back since).
    pub fn enqueued(&self) -> usize {
        self.enqueued
    }

    fn load(&mut self, conn: &mut DbConn, org_id: &str) -> Result<(), StorageError> {
        if self.subscriptions.is_some() {
            return Ok(());
        }
        let rows: Vec<(String, String, Option<String>)> = wh::table
            .filter(wh::org_id.eq(org_id))
            .filter(wh::active.eq(true))
            .select((wh::id, wh::event_types, wh::site_id))
            .load(conn)?;
        let site_ids: Vec<String> = rows.iter().filter_map(|r| r.2.clone()).collect();
        let paths: HashMap<String, String> = if site_ids.is_empty() {
            HashMap::new()
        } else {
            sites::table
                .filter(sites::id.eq_any(&site_ids))
                .select((sites::id, sites::path))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect()
        };
        let subs = rows
            .into_iter()
            .map(|(id, types, site)| {
                let types: Vec<String> = serde_json::from_str(&types).unwrap_or_default();
                Subscription {
                    id,
                    all: types.iter().any(|t| t == "*"),
                    types,
                    // A filter on a site that no longer resolves matches nothing.
                    site_path: site.map(|s| paths.get(&s).cloned().unwrap_or_else(|| "\0".into())),
                }
            })
            .collect();
        self.subscriptions = Some(subs);
        Ok(())
    }

    fn site_path(
        &mut self,
        conn: &mut DbConn,
        site_id: &str,
    ) -> Result<Option<String>, StorageError> {
        if let Some(p) = self.site_paths.get(site_id) {
            return Ok(p.clone());
        }
        let p: Option<String> = sites::table
            .find(site_id)
            .select(sites::path)
            .first(conn)
            .optional()?;
        self.site_paths.insert(site_id.to_string(), p.clone());
        Ok(p)
    }

    /// Inserts a pending delivery of `ev` for every active webhook of `org_id` whose event types
    /// and site filter match it. Returns how many.
    pub fn enqueue(
        &mut self,
        conn: &mut DbConn,
        org_id: &str,
        ev: &OutboxEvent<'_>,
    ) -> Result<usize, StorageError> {
        self.load(conn, org_id)?;
        let subs = self.subscriptions.as_deref().unwrap_or_default();
        if subs.is_empty() {
            return Ok(0);
        }
        let name = ev.input.event.as_str();
        let by_type: Vec<(String, Option<String>)> = subs
            .iter()
            .filter(|s| s.all || s.types.iter().any(|t| t == name))
            .map(|s| (s.id.clone(), s.site_path.clone()))
            .collect();
        if by_type.is_empty() {
            return Ok(0);
        }
        let event_path = match (&ev.input.site_id, by_type.iter().any(|s| s.1.is_some())) {
            (Some(site), true) => self.site_path(conn, site)?,
            _ => None,
        };
        let targets: Vec<String> = by_type
            .into_iter()
            .filter(|(_, filter)| match filter {
                None => true,
                Some(prefix) => event_path.as_deref().is_some_and(|p| p.starts_with(prefix)),
            })
            .map(|(id, _)| id)
            .collect();
        if targets.is_empty() {
            return Ok(0);
        }
        let body = payload(ev).to_string();
        let rows: Vec<_> = targets
            .iter()
            .map(|hook| {
                let id = new_id();
                (
                    wd::message_id.eq(format!("msg_{}", id.replace('-', ""))),
                    wd::id.eq(id),
                    wd::org_id.eq(org_id),
                    wd::webhook_id.eq(hook.as_str()),
                    wd::event_id.eq(ev.id),
                    wd::event_type.eq(name),
                    wd::payload.eq(body.as_str()),
                    wd::status.eq(PENDING),
                    wd::attempts.eq(0),
                    wd::next_attempt_at.eq(ev.recorded_at),
                    wd::created_at.eq(ev.recorded_at),
                    wd::updated_at.eq(ev.recorded_at),
                )
            })
            .collect();
        let n = match conn {
            DbConn::Pg(c) => diesel::insert_into(wd::table).values(&rows).execute(c)?,
            DbConn::Sqlite(c) => {
                let mut n = 0;
                for r in &rows {
                    n += diesel::insert_into(wd::table)
                        .values(r.clone())
                        .execute(c)?;
                }
                n
            }
        };
        self.enqueued += n;
        Ok(n)
    }
}

/// The body of a delivery: the event as the Standard Webhooks payload shape
/// `{type, timestamp, data}`.
pub fn payload(ev: &OutboxEvent<'_>) -> Value {
    use hazardloop_sync::timestamp::format_rfc3339_ms as ts;
    let e = ev.input;
    json!({
        "type": e.event,
        "timestamp": ts(ev.recorded_at),
        "data": {
            "id": ev.id,
            "seq": ev.seq,
            "type": e.event,
            "entity_type": e.entity_type,
            "entity_id": e.entity_id,
            "hazard_id": e.hazard_id,
            "site_id": e.site_id,
            "actor_id": e.actor_id,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "payload": e.payload,
            "occurred_at": e.device_time.map(ts),
            "recorded_at": ts(ev.recorded_at),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Deliveries: the log, redelivery, and the worker's side.

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
