//! Idempotency keys for REST writes: the outcome is stored in the same transaction as the
//! write's effects, so a retried request gets the stored answer and nothing happens twice.

use diesel::prelude::*;

use crate::schema::idempotency_keys as ik;
use crate::{DbConn, StorageError};

/// What a key already holds.
#[derive(Debug, Clone)]
pub struct Stored {
    pub request_hash: String,
    pub outcome: String,
}

/// The live record of `(principal, key)`, if any.
pub fn lookup(
    conn: &mut DbConn,
    principal: &str,
    key: &str,
    now: i64,
) -> Result<Option<Stored>, StorageError> {
    let row: Option<(String, String, i64)> = ik::table
        .find((principal, key))
        .select((ik::request_hash, ik::outcome, ik::expires_at))
        .first(conn)
        .optional()?;
    match row {
        Some((request_hash, outcome, expires)) if expires > now => Ok(Some(Stored {
            request_hash,
            outcome,
        })),
        Some(_) => {
            diesel::delete(ik::table.find((principal, key))).execute(conn)?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Stores an outcome. Two concurrent requests with one key: the second insert fails with a
/// unique violation and its whole transaction (effects included) rolls back.
#[allow(clippy::too_many_arguments)]
pub fn store(
    conn: &mut DbConn,
    principal: &str,
    key: &str,
    org_id: &str,
    request_hash: &str,
    outcome: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<(), StorageError> {
    diesel::insert_into(ik::table)
        .values((
            ik::principal_id.eq(principal),
            ik::key.eq(key),
            ik::org_id.eq(org_id),
            ik::request_hash.eq(request_hash),
            ik::outcome.eq(outcome),
            ik::created_at.eq(now),
            ik::expires_at.eq(now + ttl_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// Deletes expired keys.
pub fn prune(conn: &mut DbConn, now: i64) -> Result<usize, StorageError> {
    Ok(diesel::delete(ik::table.filter(ik::expires_at.le(now))).execute(conn)?)
}
