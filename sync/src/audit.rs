//! The tamper-evident audit trail: every accepted command becomes a record whose hash covers
//! its content and the previous record's hash, chained per organisation. Changing, removing or
//! reordering any stored record breaks the chain at that record, and [`verify_chain`] names it.

use std::fmt;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::canonical::to_canonical_json;

/// The `prev_hash` of an organisation's first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event in an organisation's audit trail. Every field is covered by the hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// Position in the organisation's chain; strictly increasing.
    pub seq: i64,
    /// The organisation whose chain this is.
    pub org_id: Uuid,
    /// The hazard concerned, if any.
    pub hazard_id: Option<Uuid>,
    /// What kind of entity changed, e.g. `"hazard"`, `"inspection"`.
    pub entity_type: String,
    /// Which entity.
    pub entity_id: Uuid,
    /// Who acted (a user or integration client); `None` for the system.
    pub actor_id: Option<Uuid>,
    /// The device the change came from, if any.
    pub device_id: Option<Uuid>,
    /// When it happened on the device (clamped), unix milliseconds.
    pub device_time_ms: Option<i64>,
    /// When the server accepted it, unix milliseconds.
    pub server_time_ms: i64,
    /// Event type (see [`crate::event`]).
    pub event: String,
    /// Workflow state before, if a state applies.
    pub from_state: Option<String>,
    /// Workflow state after, if a state applies.
    pub to_state: Option<String>,
    /// The command's arguments, photos and anything else worth keeping.
    pub payload: serde_json::Value,
    /// The hash of the previous record in the chain, or [`GENESIS_HASH`].
    pub prev_hash: String,
}

/// The bytes that are hashed: the record as JSON with keys sorted recursively and no
/// whitespace; absent options are written as `null`.
pub fn canonical_bytes(record: &AuditRecord) -> Vec<u8> {
    match serde_json::to_value(record) {
        Ok(value) => to_canonical_json(&value),
        // Serialising this struct cannot fail (string keys, no custom serialisers); if it ever
        // did, hashing the Debug form would still be deterministic.
        Err(_) => format!("{record:?}").into_bytes(),
    }
}

/// Hex SHA-256 of [`canonical_bytes`]: the record's stored hash and the next record's
/// `prev_hash`.
pub fn hash(record: &AuditRecord) -> String {
    hex::encode(Sha256::digest(canonical_bytes(record)))
}

/// What is wrong at a broken link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// The record's content does not match its stored hash: the record (or its hash) changed.
    HashMismatch {
        /// The hash stored with the record.
        stored: String,
        /// The hash of the record as it is now.
        computed: String,
    },
    /// The record does not point at the previous record's hash: a record before it was
    /// removed, inserted or rewritten with a new hash.
    PrevHashMismatch {
        /// The previous record's hash (or [`GENESIS_HASH`] for the first).
        expected: String,
        /// The record's `prev_hash`.
        found: String,
    },
    /// The sequence number does not increase.
    SeqNotIncreasing {
        /// The previous record's sequence number.
        previous: i64,
    },
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakReason::HashMismatch { stored, computed } => {
                write!(
                    f,
                    "content does not match its hash (stored {stored}, computed {computed})"
                )
            }
            BreakReason::PrevHashMismatch { expected, found } => {
                write!(f, "prev_hash is {found}, expected {expected}")
            }
            BreakReason::SeqNotIncreasing { previous } => {
                write!(f, "seq does not follow the previous seq {previous}")
            }
        }
    }
}

/// The first record at which the chain no longer holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {reason}")]
pub struct BrokenLink {
    /// The record's sequence number.
    pub seq: i64,
    /// What is wrong there.
    pub reason: BreakReason,
}

/// Walks an organisation's chain from its first record, in `seq` order, each record with the
/// hash stored beside it. Returns how many records hold, or the first broken link. Checks per
/// record, in this order: seq increases, `prev_hash` is the previous stored hash (the first
/// record's is [`GENESIS_HASH`]), and the stored hash is the hash of the content.
pub fn verify_chain(
    records: impl Iterator<Item = (AuditRecord, String)>,
) -> Result<u64, BrokenLink> {
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut previous_seq: Option<i64> = None;
    let mut count = 0u64;
    for (record, stored) in records {
        let broken = |reason| BrokenLink {
            seq: record.seq,
            reason,
        };
        if let Some(previous) = previous_seq.filter(|p| record.seq <= *p) {
            return Err(broken(BreakReason::SeqNotIncreasing { previous }));
        }
        if record.prev_hash != expected_prev {
            return Err(broken(BreakReason::PrevHashMismatch {
                expected: expected_prev,
                found: record.prev_hash.clone(),
            }));
        }
        let computed = hash(&record);
        if computed != stored {
            return Err(broken(BreakReason::HashMismatch { stored, computed }));
        }
        previous_seq = Some(record.seq);
        expected_prev = stored;
        count += 1;
    }
    Ok(count)
}
