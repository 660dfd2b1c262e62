//! The audit trail as stored: the events a [`crate::change::Change`] queues ([`EventInput`]),
//! their rows ([`AuditRow`]), and everything that reads them: an entity's history, the event
//! feed, and the walk that verifies an organisation's hash chain against its recorded head.
//!
//! Writing the chain (sequence numbers, hashes, the organisation's lock) is
//! [`crate::change::Change::finish`]'s job; this module only describes and reads.

use diesel::prelude::*;
use hazardloop_sync::audit::{self, AuditRecord};
use serde_json::Value;
use uuid::Uuid;

use crate::schema::{audit_events, org_clocks};
use crate::{DbConn, StorageError};

/// An audit event to append.
#[derive(Debug, Clone, Default)]
pub struct EventInput {
    pub entity_type: &'static str,
    pub entity_id: String,
    pub hazard_id: Option<String>,
    pub site_id: Option<String>,
    pub actor_id: Option<String>,
    pub device_id: Option<String>,
    pub device_time: Option<i64>,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub payload: Value,
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, StorageError> {
    Uuid::parse_str(s).map_err(|_| StorageError::Invalid(format!("{s} is not a UUID")))
}

pub(crate) fn opt_uuid(s: &Option<String>) -> Result<Option<Uuid>, StorageError> {
    s.as_deref().map(parse_uuid).transpose()
}

/// One stored audit event.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub org_id: String,
    pub seq: i64,
    pub id: String,
    pub change_seq: i64,
    pub entity_type: String,
    pub entity_id: String,
    pub hazard_id: Option<String>,
    pub site_id: Option<String>,
    pub actor_id: Option<String>,
    pub device_id: Option<String>,
    pub device_time: Option<i64>,
    pub server_time: i64,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub payload: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    /// The record as it was hashed (a payload that no longer parses becomes a string, so the
    /// hash check fails rather than the walk).
    pub fn record(&self) -> Result<AuditRecord, StorageError> {
        Ok(AuditRecord {
            seq: self.seq,
            org_id: parse_uuid(&self.org_id)?,
            hazard_id: opt_uuid(&self.hazard_id)?,
            entity_type: self.entity_type.clone(),
            entity_id: parse_uuid(&self.entity_id)?,
            actor_id: opt_uuid(&self.actor_id)?,
            device_id: opt_uuid(&self.device_id)?,
            device_time_ms: self.device_time,
            server_time_ms: self.server_time,
            event: self.event.clone(),
            from_state: self.from_state.clone(),
            to_state: self.to_state.clone(),
            payload: serde_json::from_str(&self.payload)
                .unwrap_or_else(|_| Value::String(self.payload.clone())),
            prev_hash: self.prev_hash.clone(),
        })
    }
}

/// The events of one entity, oldest first.
pub fn events_of(
    conn: &mut DbConn,
    org_id: &str,
    entity_id: &str,
) -> Result<Vec<AuditRow>, StorageError> {
    Ok(audit_events::table
        .filter(audit_events::org_id.eq(org_id))
        .filter(audit_events::entity_id.eq(entity_id))
        .order(audit_events::seq.asc())
        .select(AuditRow::as_select())
        .load(conn)?)
}

/// The head the server recorded for an organisation's chain (its clock row): the last audit
/// sequence handed out and that event's hash. It is written in the same transaction as the
/// events, so a chain that ends before it lost its newest events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedHead {
    /// The last sequence number (0 before the first event).
    pub seq: i64,
    /// The hash of that event ([`hazardloop_sync::GENESIS_HASH`] before the first).
    pub hash: String,
}

/// The head recorded in an organisation's clock row.
pub fn recorded_head(conn: &mut DbConn, org_id: &str) -> Result<RecordedHead, StorageError> {
    let (seq, hash): (i64, String) = org_clocks::table
        .find(org_id)
        .select((org_clocks::audit_seq, org_clocks::audit_head))
        .first(conn)?;
    Ok(RecordedHead { seq, hash })
}

/// The stored hash of one event of the chain, if the event exists.
pub fn hash_at(conn: &mut DbConn, org_id: &str, seq: i64) -> Result<Option<String>, StorageError> {
    Ok(audit_events::table
        .filter(audit_events::org_id.eq(org_id))
        .filter(audit_events::seq.eq(seq))
        .select(audit_events::hash)
        .first(conn)
        .optional()?)
}

/// The result of walking one organisation's chain.
#[derive(Debug)]
pub enum ChainReport {
    /// Every link holds and the chain ends at the recorded head; the number of records checked.
    Intact(u64),
    /// The first broken link.
    Broken(hazardloop_sync::BrokenLink),
    /// Every link holds, but the chain ends before the recorded head: its newest events were
    /// deleted.
    Truncated {
        /// The last event still stored (0: none).
        last_seq: i64,
        /// The head the server recorded.
        recorded: RecordedHead,
    },
    /// The chain ends at the recorded sequence, but not with the recorded hash.
    HeadMismatch {
        /// The last event's stored hash.
        hash: String,
        /// The head the server recorded.
        recorded: RecordedHead,
    },
    /// Events are stored past the recorded head (inserted behind the server's back).
    PastHead {
        /// The highest sequence stored.
        max_seq: i64,
        /// The head the server recorded.
        recorded: RecordedHead,
    },
}

impl std::fmt::Display for ChainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainReport::Intact(n) => write!(f, "{n} audit records, chain intact"),
            ChainReport::Broken(link) => write!(f, "{link}"),
            ChainReport::Truncated { last_seq, recorded } => {
                let missing = if last_seq + 1 == recorded.seq {
                    format!("event {} missing", recorded.seq)
                } else {
                    format!("events {}..{} missing", last_seq + 1, recorded.seq)
                };
                write!(
                    f,
                    "audit chain truncated: {missing}: the chain ends at {last_seq} but the \
                     recorded head is {} (hash {})",
                    recorded.seq, recorded.hash
                )
            }
            ChainReport::HeadMismatch { hash, recorded } => write!(
                f,
                "audit chain replaced at its end: event {} has hash {hash} but the recorded \
                 head is {}",
                recorded.seq, recorded.hash
            ),
            ChainReport::PastHead { max_seq, recorded } => write!(
                f,
                "audit chain extended behind the server's back: events {}..{max_seq} are \
                 stored past the recorded head {} (hash {})",
                recorded.seq + 1,
                recorded.seq,
                recorded.hash
            ),
        }
    }
}

impl ChainReport {
    /// True when the chain holds and ends at the recorded head.
    pub fn is_intact(&self) -> bool {
        matches!(self, ChainReport::Intact(_))
    }
}

/// Walks an organisation's whole audit chain in pages of 1,000, so memory stays flat, and
/// compares its end with the head the server recorded.
pub fn verify_chain(conn: &mut DbConn, org_id: &str) -> Result<ChainReport, StorageError> {
    verify_chain_to_head(conn, org_id).map(|(report, _)| report)
}

/// [`verify_chain`], also returning the recorded head the chain was compared with. The head is
/// read first and the walk stops at it, so events committed meanwhile neither break nor extend
/// the check (events and head are written in one transaction).
pub fn verify_chain_to_head(
    conn: &mut DbConn,
    org_id: &str,
) -> Result<(ChainReport, RecordedHead), StorageError> {
    let recorded = recorded_head(conn, org_id)?;
    let mut buffered: std::collections::VecDeque<(AuditRecord, String)> = Default::default();
    let mut after = 0i64;
    let mut last: Option<(i64, String)> = None;
    let mut failure: Option<StorageError> = None;
    let records = std::iter::from_fn(|| {
        if buffered.is_empty() && failure.is_none() {
            let page: Result<Vec<AuditRow>, diesel::result::Error> = audit_events::table
                .filter(audit_events::org_id.eq(org_id))
                .filter(audit_events::seq.gt(after))
                .filter(audit_events::seq.le(recorded.seq))
                .order(audit_events::seq.asc())
                .limit(1000)
                .select(AuditRow::as_select())
                .load(conn);
            match page {
                Ok(rows) => {
                    for row in rows {
                        after = row.seq;
                        match row.record() {
                            Ok(r) => buffered.push_back((r, row.hash.clone())),
                            Err(e) => {
                                failure = Some(StorageError::Invalid(format!(
                                    "audit record {} is malformed: {e}",
                                    row.seq
                                )));
                                break;
                            }
                        }
                    }
                }
                Err(e) => failure = Some(e.into()),
            }
        }
        let next = buffered.pop_front();
        if let Some((record, hash)) = &next {
            last = Some((record.seq, hash.clone()));
        }
        next
    });
    let outcome = audit::verify_chain(records);
    if let Some(e) = failure {
        return Err(e);
    }
    let n = match outcome {
        Ok(n) => n,
        Err(broken) => return Ok((ChainReport::Broken(broken), recorded)),
    };
    let (last_seq, last_hash) =
        last.unwrap_or_else(|| (0, hazardloop_sync::GENESIS_HASH.to_string()));
    if last_seq < recorded.seq {
        return Ok((
            ChainReport::Truncated {
                last_seq,
                recorded: recorded.clone(),
            },
            recorded,
        ));
    }
    if last_hash != recorded.hash {
        return Ok((
            ChainReport::HeadMismatch {
                hash: last_hash,
                recorded: recorded.clone(),
            },
            recorded,
        ));
    }
    // Rows past the head. The highest stored sequence is read before the head is read again:
    // every row seen was committed with a head at least as high, so only rows inserted behind
    // the server's back can stand above it.
    let max_seq: Option<i64> = audit_events::table
        .filter(audit_events::org_id.eq(org_id))
        .select(diesel::dsl::max(audit_events::seq))
        .first(conn)?;
    let now = recorded_head(conn, org_id)?;
    if let Some(max_seq) = max_seq.filter(|m| *m > now.seq) {
        return Ok((
            ChainReport::PastHead {
                max_seq,
                recorded: now,
            },
            recorded,
        ));
    }
    Ok((ChainReport::Intact(n), recorded))
}

/// Which events a feed reader gets.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Sites whose events are included (`None`: all).
    pub site_ids: Option<Vec<String>>,
    /// Event types (`None`: all).
    pub types: Option<Vec<String>>,
    /// Include organisation-level events (no site), e.g. `template.published`. A reader
    /// limited to some sites (`site_ids` given) gets only those of [`ORG_WIDE_ENTITIES`].
    pub org_level: bool,
}

/// Entity types without a site that every member of the organisation may read (templates).
/// Other organisation-level events (a webhook disabled, with its URL) are for those who see
/// everything.
pub const ORG_WIDE_ENTITIES: &[&str] = &["template"];

/// Events after `after` (audit sequence), oldest first, and the organisation's last sequence
/// as read before them.
pub fn events_after(
    conn: &mut DbConn,
    org_id: &str,
    after: i64,
    f: &EventFilter,
    limit: i64,
) -> Result<(Vec<AuditRow>, i64), StorageError> {
    let head: i64 = org_clocks::table
        .find(org_id)
        .select(org_clocks::audit_seq)
        .first(conn)?;
    let mut q = audit_events::table
        .filter(audit_events::org_id.eq(org_id))
        .filter(audit_events::seq.gt(after))
        .order(audit_events::seq.asc())
        .limit(limit)
        .select(AuditRow::as_select())
        .into_boxed();
    if let Some(types) = &f.types {
        q = q.filter(audit_events::event.eq_any(types.clone()));
    }
    if let Some(ids) = &f.site_ids {
        if f.org_level {
            q = q.filter(
                audit_events::site_id
                    .eq_any(ids.clone())
                    .or(audit_events::site_id
                        .is_null()
                        .and(audit_events::entity_type.eq_any(ORG_WIDE_ENTITIES))),
            );
        } else {
            q = q.filter(audit_events::site_id.eq_any(ids.clone()));
        }
    }
    Ok((q.load(conn)?, head))
}
