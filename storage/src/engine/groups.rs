//! Mutations that stand or fall together: a sync group, a REST request (one request, one
//! transaction), and a REST request under an `Idempotency-Key` whose outcome is stored with
//! its effects.

use diesel::Connection;
use hazardloop_sync::{Mutation, MutationRejection, Policy};
use serde_json::{json, Value};

use super::{apply_with, policy, Applied, Caller, EngineSettings, Failure, Lookups};
use crate::change::Change;
use crate::{DbConn, StorageError};

/// Applies mutations that stand or fall together: all take effect, or none does and the first
/// rejection is returned (index in the group and the rejection).
pub fn apply_group(
    conn: &mut DbConn,
    change: &mut Change,
    policy: &Policy,
    caller: &Caller,
    group: &[Mutation],
    settings: EngineSettings,
) -> Result<Result<Vec<Applied>, (usize, MutationRejection)>, StorageError> {
    let mut lookups = Lookups::default();
    apply_group_with(conn, change, &mut lookups, policy, caller, group, settings)
}

/// [`apply_group`] with the transaction's [`Lookups`].
pub fn apply_group_with(
    conn: &mut DbConn,
    change: &mut Change,
    lookups: &mut Lookups,
    policy: &Policy,
    caller: &Caller,
    group: &[Mutation],
    settings: EngineSettings,
) -> Result<Result<Vec<Applied>, (usize, MutationRejection)>, StorageError> {
    let saved = change.checkpoint();
    let result = conn.transaction::<Vec<Applied>, Failure, _>(|conn| {
        let mut out = Vec::with_capacity(group.len());
        for (i, m) in group.iter().enumerate() {
            match apply_with(conn, change, lookups, policy, caller, m, settings)? {
                Ok(a) => out.push(a),
                Err(mut r) => {
                    r.details["index"] = json!(i);
                    return Err(Failure::Rejected(r));
                }
            }
        }
        Ok(out)
    });
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(Failure::Rejected(r)) => {
            change.restore(saved);
            let i = r.details.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            Ok(Err((i, r)))
        }
        Err(Failure::Storage(e)) => Err(e),
    }
}

/// Runs `mutations` as one all-or-nothing group in a new write of the caller's organisation
/// (the REST path: one request, one transaction).
pub fn run_group(
    conn: &mut DbConn,
    caller: &Caller,
    mutations: &[Mutation],
    settings: EngineSettings,
) -> Result<Result<Vec<Applied>, (usize, MutationRejection)>, StorageError> {
    let policy = policy(conn, &caller.org_id)?;
    let mut change = Change::begin(conn, &caller.org_id, crate::now_ms())?;
    let mut lookups = Lookups::default();
    let out = apply_group_with(
        conn,
        &mut change,
        &mut lookups,
        &policy,
        caller,
        mutations,
        settings,
    )?;
    change.finish(conn)?;
    Ok(out)
}

/// An `Idempotency-Key` with the hash of the request content it arrived with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
    pub ttl_ms: i64,
}

/// The outcome of a group, and whether it is a stored answer to an earlier identical request.
#[derive(Debug, Clone)]
pub struct GroupAnswer {
    pub outcome: Result<Vec<Applied>, (usize, MutationRejection)>,
    pub replayed: bool,
}

/// The key was used before with different request content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReused;

/// [`run_group`] under an optional idempotency key: the outcome is stored in the same
/// transaction as the effects, and the same key with the same content returns it again.
pub fn run_group_once(
    conn: &mut DbConn,
    caller: &Caller,
    mutations: &[Mutation],
    settings: EngineSettings,
    key: Option<&IdempotencyKey>,
) -> Result<Result<GroupAnswer, KeyReused>, StorageError> {
    let now = crate::now_ms();
    if let Some(k) = key {
        if let Some(stored) = crate::idempotency::lookup(conn, &caller.user_id, &k.key, now)? {
            if stored.request_hash != k.request_hash {
                return Ok(Err(KeyReused));
            }
            let outcome = serde_json::from_str(&stored.outcome)
                .map_err(|e| StorageError::Invalid(format!("stored idempotent outcome: {e}")))?;
            return Ok(Ok(GroupAnswer {
                outcome,
                replayed: true,
            }));
        }
    }
    let outcome = run_group(conn, caller, mutations, settings)?;
    if let Some(k) = key {
        let text = serde_json::to_string(&outcome)
            .map_err(|e| StorageError::Invalid(format!("outcome not serialisable: {e}")))?;
        crate::idempotency::store(
            conn,
            &caller.user_id,
            &k.key,
            &caller.org_id,
            &k.request_hash,
            &text,
            now,
            k.ttl_ms,
        )?;
    }
    Ok(Ok(GroupAnswer {
        outcome,
        replayed: false,
    }))
}
