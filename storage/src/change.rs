//! One write transaction's bookkeeping: the organisation's change sequence number, the audit
//! chain, the change index that pulls read, and the webhook outbox.
//!
//! Mutations run first, collecting their audit events and touched entities here. Only
//! [`Change::finish`], the last step before commit, bumps the organisation row's counters: that
//! `UPDATE` takes the row's lock on PostgreSQL (SQLite has one writer anyway) and holds it to
//! commit. So sequence numbers are handed out in commit order, a pull or feed reading
//! `seq > cursor` never skips a transaction that commits late, and the audit chain stays linear —
//! while the mutations themselves (the bulk of the work) run concurrently on PostgreSQL, with
//! row locks on the entities they change.

use std::collections::HashMap;

use diesel::prelude::*;
use hazardloop_sync::audit::{self, AuditRecord};

use crate::schema::{audit_events, org_clocks};
use crate::{new_id, DbConn, StorageError};

pub use crate::audit::EventInput;
use crate::audit::{opt_uuid, parse_uuid};

/// An entity written in this transaction.
#[derive(Debug, Clone)]
struct Touched {
    entity_type: String,
    entity_id: String,
    site_id: Option<String>,
    deleted: bool,
    /// The one user who pulls it (`None`: whoever reads its site).
    audience: Option<String>,
}

/// Where a [`Change`] stood, to return to when a mutation's savepoint rolls back.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    events: usize,
    touched: usize,
}

/// The open write of one organisation.
#[derive(Debug)]
pub struct Change {
    /// The organisation.
    pub org_id: String,
    /// Server time of the transaction, unix ms.
    pub now: i64,
    events: Vec<EventInput>,
    touched: Vec<Touched>,
    /// Webhook deliveries of this change's events (the outbox), in the same transaction.
    outbox: crate::webhooks::Outbox,
}

impl Change {
    /// Opens the bookkeeping of a write; takes no lock yet.
    pub fn begin(_conn: &mut DbConn, org_id: &str, now: i64) -> Result<Change, StorageError> {
        Ok(Change {
            org_id: org_id.to_string(),
            now,
            events: Vec::new(),
            touched: Vec::new(),
            outbox: Default::default(),
        })
    }

    /// Queues an event for the organisation's audit chain (written by [`Change::finish`]).
    pub fn audit(&mut self, _conn: &mut DbConn, ev: EventInput) -> Result<(), StorageError> {
        parse_uuid(&ev.entity_id)?;
        self.events.push(ev);
        Ok(())
    }

    /// Records that an entity changed in this transaction (the index pulls read).
    pub fn touch(
        &mut self,
        _conn: &mut DbConn,
        entity_type: &str,
        entity_id: &str,
        site_id: Option<&str>,
        deleted: bool,
    ) -> Result<(), StorageError> {
        self.touched.push(Touched {
            entity_type: entity_type.to_string(),
            entity_id: entity_id.to_string(),
            site_id: site_id.map(str::to_string),
            deleted,
            audience: None,
        });
        Ok(())
    }

    /// Records that an entity pulled by one user only changed: a check task goes to the phone
    /// of its assignee (`audience`), at a site that user reads.
    pub fn touch_for(
        &mut self,
        entity_type: &str,
        entity_id: &str,
        site_id: &str,
        deleted: bool,
        audience: &str,
    ) {
        self.touched.push(Touched {
            entity_type: entity_type.to_string(),
            entity_id: entity_id.to_string(),
            site_id: Some(site_id.to_string()),
            deleted,
            audience: Some(audience.to_string()),
        });
    }

    /// Where the change stands now.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            events: self.events.len(),
            touched: self.touched.len(),
        }
    }

    /// Forgets what was queued after `saved` (its savepoint rolled back).
    pub fn restore(&mut self, saved: Checkpoint) {
        self.events.truncate(saved.events);
        self.touched.truncate(saved.touched);
    }

    /// Takes the organisation's lock, allocates the sequence numbers, writes the audit events
    /// (hash-chained), the change index and the webhook outbox. Call once, last, in the same
    /// transaction. Returns the change sequence (the current one when nothing changed).
    pub fn finish(mut self, conn: &mut DbConn) -> Result<i64, StorageError> {
        if self.events.is_empty() && self.touched.is_empty() {
            return Ok(org_clocks::table
                .find(&self.org_id)
                .select(org_clocks::change_seq)
                .first(conn)?);
        }
        let n = self.events.len() as i64;
        // The organisation's lock: on PostgreSQL the clock row is locked here, and concurrent
        // writers of the organisation wait until this transaction commits (then read what it
        // wrote); SQLite has one writer at a time anyway. Locking is not a new row version: the
        // one UPDATE below is this transaction's only rewrite of the row.
        let clock = org_clocks::table.find(&self.org_id).select((
            org_clocks::change_seq,
            org_clocks::audit_seq,
            org_clocks::audit_head,
        ));
        let (last_change, first_audit, mut head): (i64, i64, String) = match conn {
            DbConn::Pg(c) => clock.for_update().first(c),
            DbConn::Sqlite(c) => clock.first(c),
        }
        .optional()?
        .ok_or(StorageError::NotFound)?;
        let seq = last_change + 1;
        let last_audit = first_audit + n;
        let org_uuid = parse_uuid(&self.org_id)?;
        let events = std::mem::take(&mut self.events);
        let mut rows = Vec::with_capacity(events.len());
        for (audit_seq, ev) in (last_audit - n + 1..).zip(events.iter()) {
            let record = AuditRecord {
                seq: audit_seq,
                org_id: org_uuid,
                hazard_id: opt_uuid(&ev.hazard_id)?,
                entity_type: ev.entity_type.to_string(),
                entity_id: parse_uuid(&ev.entity_id)?,
                actor_id: opt_uuid(&ev.actor_id)?,
                device_id: opt_uuid(&ev.device_id)?,
                device_time_ms: ev.device_time,
                server_time_ms: self.now,
                event: ev.event.clone(),
                from_state: ev.from_state.clone(),
                to_state: ev.to_state.clone(),
                payload: ev.payload.clone(),
                prev_hash: head.clone(),
            };
            let hash = audit::hash(&record);
            rows.push(crate::audit::AuditRow {
                org_id: self.org_id.clone(),
                seq: audit_seq,
                id: new_id(),
                change_seq: seq,
                entity_type: ev.entity_type.to_string(),
                entity_id: ev.entity_id.clone(),
                hazard_id: ev.hazard_id.clone(),
                site_id: ev.site_id.clone(),
                actor_id: ev.actor_id.clone(),
                device_id: ev.device_id.clone(),
                device_time: ev.device_time,
                server_time: self.now,
                event: ev.event.clone(),
                from_state: ev.from_state.clone(),
                to_state: ev.to_state.clone(),
                payload: ev.payload.to_string(),
                prev_hash: std::mem::replace(&mut head, hash.clone()),
                hash,
            });
        }
        // One statement per batch on PostgreSQL; SQLite runs in-process, row by row is as fast.
        match conn {
            DbConn::Pg(c) => {
                for chunk in rows.chunks(500) {
                    diesel::insert_into(audit_events::table)
                        .values(chunk)
                        .execute(c)?;
                }
            }
            DbConn::Sqlite(c) => {
                for row in &rows {
                    diesel::insert_into(audit_events::table)
                        .values(row)
                        .execute(c)?;
                }
            }
        }
        for (ev, row) in events.iter().zip(rows.iter()) {
            let outbox_event = crate::webhooks::OutboxEvent {
                id: &row.id,
                seq: row.seq,
                input: ev,
                recorded_at: self.now,
            };
            self.outbox.enqueue(conn, &self.org_id, &outbox_event)?;
        }
        diesel::update(org_clocks::table.find(&self.org_id))
            .set((
                org_clocks::change_seq.eq(seq),
                org_clocks::audit_seq.eq(last_audit),
                org_clocks::audit_head.eq(&head),
            ))
            .execute(conn)?;
        // The last write of an entity in this transaction decides its index row.
        let mut latest: HashMap<(String, String), Touched> = HashMap::new();
        for t in std::mem::take(&mut self.touched) {
            latest.insert((t.entity_type.clone(), t.entity_id.clone()), t);
        }
        let touched: Vec<Touched> = latest.into_values().collect();
        // Each live entity's sync form beside its index row, as this transaction leaves it.
        let live: Vec<(String, String)> = touched
            .iter()
            .filter(|t| !t.deleted)
            .map(|t| (t.entity_type.clone(), t.entity_id.clone()))
            .collect();
        let forms = crate::pull::sync_forms(conn, &self.org_id, &live)?;
        upsert_changes(conn, &self.org_id, &touched, &forms, seq, self.now)?;
        if self.outbox.enqueued() > 0 {
            crate::webhooks::wake_workers();
        }
        Ok(seq)
    }
}

fn upsert_changes(
    conn: &mut DbConn,
    org_id: &str,
    touched: &[Touched],
    forms: &HashMap<(String, String), crate::pull::SyncForm>,
    seq: i64,
    now: i64,
) -> Result<(), StorageError> {
    use crate::schema::entity_changes as ec;
    use diesel::upsert::excluded;
    let rows: Vec<_> = touched
        .iter()
        .map(|t| {
            let form = if t.deleted {
                None
            } else {
                forms.get(&(t.entity_type.clone(), t.entity_id.clone()))
            };
            (
                ec::entity_type.eq(&t.entity_type),
                ec::entity_id.eq(&t.entity_id),
                ec::org_id.eq(org_id),
                ec::site_id.eq(&t.site_id),
                ec::seq.eq(seq),
                ec::deleted.eq(t.deleted),
                ec::changed_at.eq(now),
                ec::data.eq(form.map(|f| f.data.as_str())),
                ec::due_at.eq(form.and_then(|f| f.due_at)),
                ec::audience.eq(&t.audience),
            )
        })
        .collect();
    match conn {
        DbConn::Pg(c) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(ec::table)
                    .values(chunk)
                    .on_conflict((ec::entity_type, ec::entity_id))
                    .do_update()
                    .set((
                        ec::site_id.eq(excluded(ec::site_id)),
                        ec::seq.eq(excluded(ec::seq)),
                        ec::deleted.eq(excluded(ec::deleted)),
                        ec::changed_at.eq(excluded(ec::changed_at)),
                        ec::data.eq(excluded(ec::data)),
                        ec::due_at.eq(excluded(ec::due_at)),
                        ec::audience.eq(excluded(ec::audience)),
                    ))
                    .execute(c)?;
            }
        }
        DbConn::Sqlite(c) => {
            for (row, t) in rows.into_iter().zip(touched) {
                let form = if t.deleted {
                    None
                } else {
                    forms.get(&(t.entity_type.clone(), t.entity_id.clone()))
                };
                diesel::insert_into(ec::table)
                    .values(row)
                    .on_conflict((ec::entity_type, ec::entity_id))
                    .do_update()
                    .set((
                        ec::site_id.eq(&t.site_id),
                        ec::seq.eq(seq),
                        ec::deleted.eq(t.deleted),
                        ec::changed_at.eq(now),
                        ec::data.eq(form.map(|f| f.data.as_str())),
                        ec::due_at.eq(form.and_then(|f| f.due_at)),
                        ec::audience.eq(&t.audience),
                    ))
                    .execute(c)?;
            }
        }
    }
    Ok(())
}
