//! Sync push: a device's queued mutations, applied exactly once, each with its own result.
//!
//! The whole batch runs in the caller's one write transaction, with the `(device, seq) ->
//! result` records written beside the effects: a crash or a lost connection leaves nothing
//! half-done, and a retry of the same batch answers `duplicate` for what did commit.

use diesel::prelude::*;
use hazardloop_sync::{Mutation, Policy};
use serde_json::{json, Value};

use crate::change::Change;
use crate::engine::{self, Applied, Caller, EngineSettings, Rejection};
use crate::schema::{device_mutations, devices};
use crate::{conflicts, DbConn, StorageError};

/// Largest sequence number accepted (JSON-safe integer range).
pub const MAX_SEQ: i64 = 9_007_199_254_740_991;

/// What a push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushOutcome {
    /// One result per submitted mutation, in order.
    pub results: Vec<Value>,
    /// The device's last applied (or refused) sequence number after this push.
    pub applied_through: i64,
    /// The change sequence of this push: a pull whose `position` reaches it includes the
    /// push's own writes.
    pub write_cursor: String,
}

fn applied_result(seq: i64, id: &str, a: &Applied) -> Value {
    json!({
        "seq": seq,
        "id": id,
        "status": if a.lost.is_empty() { "applied" } else { "merged" },
        "entity_type": a.entity_type,
        "entity_id": a.entity_id,
        "version": a.version,
        "lost": a.lost,
    })
}

fn rejected_result(seq: i64, id: &str, r: &Rejection) -> Value {
    json!({
        "seq": seq,
        "id": id,
        "status": "rejected",
        "code": r.code,
        "message": r.message,
        "details": r.details,
        "current": r.current,
    })
}

/// Writes the `(device, seq) -> result` records of a push: one statement per 500 on
/// PostgreSQL, row by row on SQLite (in-process, as fast).
fn record_all(
    conn: &mut DbConn,
    device: &str,
    records: &[(i64, String, String)],
    now: i64,
) -> Result<(), StorageError> {
    let rows: Vec<_> = records
        .iter()
        .map(|(seq, id, result)| {
            (
                device_mutations::device_id.eq(device),
                device_mutations::seq.eq(*seq),
                device_mutations::mutation_id.eq(id),
                device_mutations::result.eq(result),
                device_mutations::created_at.eq(now),
            )
        })
        .collect();
    match conn {
        DbConn::Pg(c) => {
            for chunk in rows.chunks(500) {
                diesel::insert_into(device_mutations::table)
                    .values(chunk)
                    .execute(c)?;
            }
        }
        DbConn::Sqlite(c) => {
            for row in rows {
                diesel::insert_into(device_mutations::table)
                    .values(row)
                    .execute(c)?;
            }
        }
    }
    Ok(())
}

/// A pushed item: its seq and mutation, or the answer to a malformed one (which is skipped
/// without advancing the device's sequence).
pub type Parsed = Result<(i64, Mutation), Value>;

/// Parses a push's items. Done before the write transaction: it needs no database.
pub fn parse(items: &[Value]) -> Vec<Parsed> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| parse_item(i, v))
        .collect()
}

fn parse_item(index: usize, raw: &Value) -> Parsed {
    let seq = raw.get("seq");
    let bad = |code: &str, message: String| json!({"index": index, "seq": seq, "id": raw.get("id"), "status": "invalid", "code": code, "message": message});
    let seq = match seq.and_then(Value::as_i64) {
        Some(s) if (1..=MAX_SEQ).contains(&s) => s,
        Some(s) => {
            return Err(bad(
                "invalid_seq",
                format!("seq must be between 1 and {MAX_SEQ}, not {s}"),
            ))
        }
        None => return Err(bad("invalid_seq", "seq must be a positive integer".into())),
    };
    let m = <Mutation as serde::Deserialize>::deserialize(raw)
        .map_err(|e| bad("malformed_mutation", format!("not a mutation: {e}")))?;
    Ok((seq, m))
}

/// Why a push was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefusal {
    /// The device is unknown to this user or was revoked.
    DeviceRevoked,
}

/// Applies a push's [`parse`]d items for `caller.device_id` inside the caller's write
/// transaction.
pub fn push(
    conn: &mut DbConn,
    caller: &Caller,
    parsed: &[Parsed],
    settings: EngineSettings,
) -> Result<Result<PushOutcome, PushRefusal>, StorageError> {
    let device = caller
        .device_id
        .clone()
        .ok_or_else(|| StorageError::Invalid("a push needs a device".into()))?;
    let now = crate::now_ms();
    // Locks the device row: two pushes from one device are applied one after the other.
    let n = diesel::update(
        devices::table
            .filter(devices::id.eq(&device))
            .filter(devices::org_id.eq(&caller.org_id))
            .filter(devices::user_id.eq(&caller.user_id))
            .filter(devices::revoked_at.is_null()),
    )
    .set(devices::last_seen_at.eq(now))
    .execute(conn)?;
    if n == 0 {
        return Ok(Err(PushRefusal::DeviceRevoked));
    }
    let mut last: i64 = devices::table
        .find(&device)
        .select(devices::last_seq)
        .first(conn)?;
    let policy: Policy = engine::policy(conn, &caller.org_id)?;
    let mut change = Change::begin(conn, &caller.org_id, now)?;
    let mut results: Vec<Value> = Vec::with_capacity(parsed.len());
    let mut records: Vec<(i64, String, String)> = Vec::with_capacity(parsed.len());
    let mut i = 0;
    let mut gap: Option<i64> = None;
    while i < parsed.len() {
        let (seq, m) = match &parsed[i] {
            Err(answer) => {
                results.push(answer.clone());
                i += 1;
                continue;
            }
            Ok((seq, m)) => (*seq, m),
        };
        if let Some(expected) = gap {
            results.push(
                json!({"seq": seq, "id": m.id, "status": "out_of_order", "expected_seq": expected}),
            );
            i += 1;
            continue;
        }
        if seq <= last {
            // Earlier in this same push (not written yet), or an earlier push.
            let pending = records
                .iter()
                .find(|(s, _, _)| *s == seq)
                .map(|(_, id, result)| (id.clone(), result.clone()));
            let stored: Option<(String, String)> = match pending {
                Some(p) => Some(p),
                None => device_mutations::table
                    .find((&device, seq))
                    .select((device_mutations::mutation_id, device_mutations::result))
                    .first(conn)
                    .optional()?,
            };
            results.push(match stored {
                Some((id, result)) if id == m.id.to_string() => {
                    let mut r: Value = serde_json::from_str(&result).unwrap_or(json!({}));
                    r["original_status"] = r.get("status").cloned().unwrap_or(Value::Null);
                    r["status"] = json!("duplicate");
                    r
                }
                _ => json!({
                    "seq": seq, "id": m.id, "status": "seq_reused", "code": "seq_reused",
                    "message": format!("seq {seq} was already used by another mutation; this one was NOT applied. Continue from seq {}", last + 1),
                    "expected_seq": last + 1,
                }),
            });
            i += 1;
            continue;
        }
        if seq > last + 1 {
            gap = Some(last + 1);
            continue;
        }
        // seq == last + 1: apply, as a group when the mutation carries one.
        let mut end = i + 1;
        if let Some(g) = m.group {
            while end < parsed.len() {
                match &parsed[end] {
                    Ok((s, next)) if next.group == Some(g) && *s == seq + (end - i) as i64 => {
                        end += 1
                    }
                    _ => break,
                }
            }
        }
        let batch: Vec<(i64, &Mutation)> = parsed[i..end]
            .iter()
            .filter_map(|p| p.as_ref().ok().map(|(s, m)| (*s, m)))
            .collect();
        let outcomes: Vec<Value> = if batch.len() == 1 {
            match engine::apply(conn, &mut change, &policy, caller, m, settings)? {
                Ok(a) => vec![applied_result(seq, &m.id.to_string(), &a)],
                Err(r) => {
                    log_rejected_command(conn, caller, m, &r, now)?;
                    vec![rejected_result(seq, &m.id.to_string(), &r)]
                }
            }
        } else {
            let group: Vec<Mutation> = batch.iter().map(|(_, m)| (*m).clone()).collect();
            match engine::apply_group(conn, &mut change, &policy, caller, &group, settings)? {
                Ok(applied) => batch
                    .iter()
                    .zip(applied.iter())
                    .map(|((s, m), a)| applied_result(*s, &m.id.to_string(), a))
                    .collect(),
                Err((failed, r)) => batch
                    .iter()
                    .enumerate()
                    .map(|(k, (s, m))| {
                        if k == failed {
                            rejected_result(*s, &m.id.to_string(), &r)
                        } else {
                            let other = Rejection::new(
                                "group_failed",
                                format!(
                                    "not applied: mutation seq {} of the same group was rejected",
                                    batch[failed].0
                                ),
                                json!({"group": m.group, "failed_seq": batch[failed].0}),
                            );
                            rejected_result(*s, &m.id.to_string(), &other)
                        }
                    })
                    .collect(),
            }
        };
        for ((s, m), result) in batch.iter().zip(outcomes.iter()) {
            records.push((*s, m.id.to_string(), result.to_string()));
            last = *s;
        }
        results.extend(outcomes);
        i = end;
    }
    record_all(conn, &device, &records, now)?;
    diesel::update(devices::table.find(&device))
        .set(devices::last_seq.eq(last))
        .execute(conn)?;
    let seq = change.finish(conn)?;
    Ok(Ok(PushOutcome {
        results,
        applied_through: last,
        write_cursor: seq.to_string(),
    }))
}

/// A workflow command that arrived after the hazard moved on (its state no longer allows it,
/// or it names a version the hazard has left) is kept in the conflict log.
fn log_rejected_command(
    conn: &mut DbConn,
    caller: &Caller,
    m: &Mutation,
    r: &Rejection,
    now: i64,
) -> Result<(), StorageError> {
    let late = match r.code.as_str() {
        "invalid_transition" => true,
        // An edit's version is only refused when the hazard never had it: no conflict.
        "version_mismatch" => m.name != "hazard.update",
        _ => false,
    };
    if !late || !m.name.starts_with("hazard.") {
        return Ok(());
    }
    let (Some(current), Some(id)) = (
        r.current.as_ref(),
        m.args.get("hazard_id").and_then(Value::as_str),
    ) else {
        return Ok(());
    };
    let site = current
        .get("site_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    conflicts::record(
        conn,
        conflicts::NewConflict {
            org_id: caller.org_id.clone(),
            site_id: site,
            entity_type: "hazard".into(),
            entity_id: id.to_string(),
            kind: "rejected_command",
            field: None,
            winning_value: current.get("state").cloned(),
            winning_hlc: None,
            losing_value: Some(json!({"name": m.name, "args": m.args})),
            losing_hlc: m.hlc.clone(),
            losing_actor: Some(caller.user_id.clone()),
            losing_device: caller.device_id.clone(),
            detail: json!({"code": r.code, "message": r.message, "mutation_id": m.id}),
        },
        now,
    )?;
    Ok(())
}
