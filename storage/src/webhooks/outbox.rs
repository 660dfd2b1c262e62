//! The outbox: one per open change. It loads the organisation's active webhooks on the first
//! event and inserts one pending delivery per matching webhook, in the change's transaction.

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::{json, Value};

use super::PENDING;
use crate::audit::EventInput;
use crate::schema::{sites, webhook_deliveries as wd, webhooks as wh};
use crate::{new_id, DbConn, StorageError};

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
