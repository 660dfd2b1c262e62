//! Webhooks: an organisation's subscriptions ([`subscriptions`]), the delivery outbox every
//! write fills ([`outbox`]), and the delivery log the workers claim from ([`deliveries`]).
//!
//! **Outbox.** [`crate::change::Change`] hands every event it writes to the change's
//! [`outbox::Outbox`], which loads the organisation's active webhooks once per change (lazily, on the
//! first event) and inserts one `webhook_deliveries` row per matching webhook, in the same
//! transaction as the event. An event that commits has its deliveries; one that rolls back
//! never had any.
//!
//! **Claiming.** Workers on every node call [`deliveries::claim`]: a short transaction picks due rows
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent claimers take disjoint rows without
//! waiting; a conditional `UPDATE` on SQLite) and leases them (`locked_until`, `locked_by`,
//! `next_attempt_at` moved to the lease's end). The worker sends without holding a connection and
//! reports back with [`deliveries::record`], which only touches rows still leased to it. A node that dies
//! mid-send loses its lease and another node retries the delivery after it expires.
//!
//! The retry schedule and the HTTP side live in the `api` crate; this module only stores.

use std::sync::OnceLock;

pub mod deliveries;
pub mod outbox;
pub mod subscriptions;

pub use deliveries::{
    claim, deliveries, delivery, prune, record, redeliver, Attempt, Claimed, Delivery,
    FailingWebhook,
};
pub use outbox::{payload, Outbox, OutboxEvent};
pub use subscriptions::{
    create, delete, disable, get, list, update, NewWebhook, Webhook, WebhookPatch,
};

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
