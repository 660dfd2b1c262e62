//! Signed checkpoints of the audit chain, to keep outside the database.
//!
//! Someone who can write to the database can delete the newest audit events and rewind the
//! recorded head with them, or rewrite the chain and the head together: the database alone
//! cannot show that. A checkpoint (organisation, sequence, head hash, time) kept elsewhere (a
//! regulator, a ticket, a WORM bucket) can: `audit verify --checkpoint` proves the chain still
//! holds that event with that hash.
//!
//! Checkpoints are signed with HMAC-SHA256 under a key derived from the token signing key (the
//! configured `jwt_secret` or `<data_dir>/jwt.key`), with a label of its own so a checkpoint
//! signature can never serve as a token signature. The key lives outside the database, so a
//! database writer cannot forge a checkpoint; whoever holds the signing key (every node) can,
//! and only a holder of the key can check a signature (HMAC, not a public-key signature). The
//! checkpoint's protection does not rest on the signature alone: its copy kept elsewhere is the
//! anchor, and the signature shows it came from this server.

use hazardloop_storage::audit::{hash_at, verify_chain_to_head, ChainReport};
use hazardloop_storage::{orgs, Db};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Config;

/// The `format` of checkpoints this server writes and reads.
pub const FORMAT: &str = "hazardloop-audit-checkpoint/1";

/// Labels the key derived from the signing key (domain separation).
const KEY_LABEL: &[u8] = b"hazardloop audit checkpoint v1";

/// One organisation's chain head at a moment, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always [`FORMAT`].
    pub format: String,
    /// The organisation.
    pub org_id: String,
    /// Its name when the checkpoint was made (for people; not checked).
    pub org_name: String,
    /// The audit sequence of the head.
    pub seq: i64,
    /// The hash of that event.
    pub head: String,
    /// When the checkpoint was made (RFC 3339, UTC).
    pub issued_at: String,
    /// Hex HMAC-SHA256 over the canonical JSON of the other fields.
    pub signature: String,
}

type HmacSha256 = Hmac<Sha256>;

/// The checkpoint key, derived from the server's signing secret.
pub fn key(config: &Config) -> Result<Vec<u8>, String> {
    let secret = crate::auth::jwt::existing_secret(config)?;
    let mut mac = HmacSha256::new_from_slice(&secret).map_err(|e| e.to_string())?;
    mac.update(KEY_LABEL);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn signed_bytes(cp: &Checkpoint) -> Vec<u8> {
    let mut value = serde_json::to_value(cp).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("signature");
    }
    hazardloop_sync::canonical::to_canonical_json(&value)
}

fn mac(key: &[u8], cp: &Checkpoint) -> Result<HmacSha256, String> {
    let mut mac = HmacSha256::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(&signed_bytes(cp));
    Ok(mac)
}

/// Signs `cp` in place.
pub fn sign(key: &[u8], cp: &mut Checkpoint) -> Result<(), String> {
    cp.signature = hex::encode(mac(key, cp)?.finalize().into_bytes());
    Ok(())
}

/// True when the signature is this key's, over exactly these fields (constant-time compare).
pub fn signature_holds(key: &[u8], cp: &Checkpoint) -> bool {
    match (hex::decode(&cp.signature), mac(key, cp)) {
        (Ok(sig), Ok(mac)) => mac.verify_slice(&sig).is_ok(),
        _ => false,
    }
}

/// Makes a checkpoint of an organisation's head after verifying the chain up to it: a chain
/// that does not hold is not anchored (the refusal says why).
pub fn issue(db: &Db, key: &[u8], org_id: &str) -> Result<Checkpoint, String> {
    let org = db
        .read_blocking(|c| orgs::get(c, org_id))
        .map_err(|e| e.to_string())?;
    let (report, head) = db
        .read_blocking(|c| verify_chain_to_head(c, org_id))
        .map_err(|e| e.to_string())?;
    if !report.is_intact() {
        return Err(format!("no checkpoint for {}: {report}", org.name));
    }
    let mut cp = Checkpoint {
        format: FORMAT.into(),
        org_id: org.id,
        org_name: org.name,
        seq: head.seq,
        head: head.hash,
        issued_at: hazardloop_sync::timestamp::format_rfc3339_ms(hazardloop_storage::now_ms()),
        signature: String::new(),
    };
    sign(key, &mut cp)?;
    Ok(cp)
}

/// Why a checkpoint does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointFailure {
    /// The text is not a checkpoint.
    #[error("not a checkpoint: {0}")]
    Unreadable(String),
    /// The signature is not this server's, or a field was changed after signing.
    #[error(
        "the signature does not match: the checkpoint was not issued with this server's key, \
         or was altered"
    )]
    Signature,
    /// The organisation is gone.
    #[error("organisation {0} does not exist")]
    UnknownOrganisation(String),
    /// The chain itself does not hold.
    #[error("{0}")]
    Chain(String),
    /// The checkpoint's event is not in the chain any more.
    #[error(
        "event {seq} of the checkpoint is missing: the chain now ends at {head_seq}, so events \
         up to {seq} were removed and the recorded head rewound"
    )]
    Missing {
        /// The checkpoint's sequence.
        seq: i64,
        /// Where the recorded head stands now.
        head_seq: i64,
    },
    /// The event is there with another hash: the chain was rewritten from there on.
    #[error(
        "event {seq} has hash {found}, but the checkpoint says {expected}: the chain was \
         rewritten"
    )]
    Rewritten {
        /// The checkpoint's sequence.
        seq: i64,
        /// The hash in the checkpoint.
        expected: String,
        /// The hash stored now.
        found: String,
    },
}

/// Parses one checkpoint (a JSON object, as `audit checkpoint` prints it).
pub fn parse(text: &str) -> Result<Checkpoint, CheckpointFailure> {
    let cp: Checkpoint =
        serde_json::from_str(text).map_err(|e| CheckpointFailure::Unreadable(e.to_string()))?;
    if cp.format != FORMAT {
        return Err(CheckpointFailure::Unreadable(format!(
            "format {:?}, expected {FORMAT:?}",
            cp.format
        )));
    }
    Ok(cp)
}

/// Checks a checkpoint: its signature, the chain up to the recorded head, and that the chain
/// still holds the checkpoint's event with its hash. Returns the recorded head's sequence.
pub fn check(db: &Db, key: &[u8], cp: &Checkpoint) -> Result<i64, CheckpointFailure> {
    if !signature_holds(key, cp) {
        return Err(CheckpointFailure::Signature);
    }
    let storage = |e: hazardloop_storage::StorageError| CheckpointFailure::Chain(e.to_string());
    let exists = db
        .read_blocking(|c| orgs::get(c, &cp.org_id).map(|_| ()))
        .is_ok();
    if !exists {
        return Err(CheckpointFailure::UnknownOrganisation(cp.org_id.clone()));
    }
    let (report, head) = db
        .read_blocking(|c| verify_chain_to_head(c, &cp.org_id))
        .map_err(storage)?;
    let stored = db
        .read_blocking(|c| hash_at(c, &cp.org_id, cp.seq))
        .map_err(storage)?;
    // The checkpoint's own finding comes first: it is the one the database cannot argue with.
    match stored {
        None if cp.seq > 0 => {
            return Err(CheckpointFailure::Missing {
                seq: cp.seq,
                head_seq: head.seq,
            })
        }
        Some(found) if found != cp.head => {
            return Err(CheckpointFailure::Rewritten {
                seq: cp.seq,
                expected: cp.head.clone(),
                found,
            })
        }
        _ => {}
    }
    match report {
        ChainReport::Intact(_) => Ok(head.seq),
        other => Err(CheckpointFailure::Chain(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            format: FORMAT.into(),
            org_id: "0190a1b2-0000-7000-8000-000000000001".into(),
            org_name: "Acme".into(),
            seq: 43,
            head: "ab".repeat(32),
            issued_at: "2026-12-01T10:00:00.000Z".into(),
            signature: String::new(),
        }
    }

    #[test]
    fn a_signature_covers_every_field_and_only_this_key() {
        let key = b"k".repeat(32);
        let mut cp = sample();
        sign(&key, &mut cp).unwrap();
        assert!(signature_holds(&key, &cp));
        assert!(!signature_holds(&b"x".repeat(32), &cp));
        for change in [
            |c: &mut Checkpoint| c.seq = 42,
            |c: &mut Checkpoint| c.head = "cd".repeat(32),
            |c: &mut Checkpoint| c.org_id = "0190a1b2-0000-7000-8000-000000000002".into(),
            |c: &mut Checkpoint| c.issued_at = "2027-01-01T00:00:00.000Z".into(),
        ] {
            let mut altered = cp.clone();
            change(&mut altered);
            assert!(!signature_holds(&key, &altered), "{altered:?}");
        }
        let mut garbage = cp.clone();
        garbage.signature = "not hex".into();
        assert!(!signature_holds(&key, &garbage));
    }

    #[test]
    fn a_checkpoint_reads_back_as_printed() {
        let mut cp = sample();
        sign(&[7u8; 32], &mut cp).unwrap();
        let text = serde_json::to_string(&cp).unwrap();
        assert_eq!(parse(&text), Ok(cp));
        assert!(matches!(
            parse("{\"format\":\"other\"}"),
            Err(CheckpointFailure::Unreadable(_))
        ));
    }
}
