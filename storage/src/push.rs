//! Sync push: runs a device's [`PushPlan`] inside the caller's one write transaction.
//!
//! What happens to each item is decided by `hazardloop_sync::protocol::plan` from the batch,
//! the device's last seq and the results recorded for the seqs it repeats; this module only
//! loads those, runs the plan's `Apply`/`ApplyGroup` steps through the engine, and writes the
//! `(device, seq) -> result` records beside the effects: a crash or a lost connection leaves
//! nothing half-done, and a retry of the same batch answers `duplicate` for what did commit.

use std::collections::HashMap;

use diesel::prelude::*;
use hazardloop_sync::protocol::{
    self, AppliedItem, MutationRejection, ParsedItem, PushItem, PushPlan, PushResponse, PushResult,
    RecordedResult, RejectionCode, Step,
};
use hazardloop_sync::{Mutation, Policy};
use serde_json::{json, Value};

use crate::change::Change;
use crate::engine::{self, Applied, Caller, EngineSettings, Lookups};
use crate::schema::{device_mutations, devices};
use crate::{conflicts, DbConn, StorageError};

pub use hazardloop_sync::protocol::MAX_SEQ;

/// Why a push was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRefusal {
    /// The device is unknown to this user or was revoked.
    DeviceRevoked,
}

/// Applies a push's parsed items for `caller.device_id` inside the caller's write
/// transaction: locks the device, plans the batch, runs the plan.
pub fn push(
    conn: &mut DbConn,
    caller: &Caller,
    items: &[ParsedItem],
    settings: EngineSettings,
) -> Result<Result<PushResponse, PushRefusal>, StorageError> {
    let device = caller
        .device_id
        .clone()
        .ok_or_else(|| StorageError::Invalid("a push needs a device".into()))?;
    let now = crate::now_ms();
    let Some(last) = lock_device(conn, caller, &device, now)? else {
        return Ok(Err(PushRefusal::DeviceRevoked));
    };
    let recorded = recorded_results(conn, &device, &protocol::recorded_seqs_needed(last, items))?;
    let plan = protocol::plan(last, &recorded, items);
    let policy: Policy = engine::policy(conn, &caller.org_id)?;
    let mut change = Change::begin(conn, &caller.org_id, now)?;
    let run = Run {
        caller,
        policy: &policy,
        settings,
        now,
    };
    let results = run.execute(conn, &mut change, items, &plan)?;
    let records: Vec<(i64, String, String)> = plan
        .steps
        .iter()
        .filter(|s| matches!(s, Step::Apply { .. } | Step::ApplyGroup { .. }))
        .flat_map(|s| s.indexes())
        .filter_map(|i| {
            let item = items[i].as_ref().ok()?;
            Some((
                item.seq,
                item.mutation.id.to_string(),
                results[i].to_json().to_string(),
            ))
        })
        .collect();
    record_all(conn, &device, &records, now)?;
    diesel::update(devices::table.find(&device))
        .set(devices::last_seq.eq(plan.applied_through))
        .execute(conn)?;
    let seq = change.finish(conn)?;
    Ok(Ok(PushResponse {
        results,
        applied_through: plan.applied_through,
        write_cursor: seq.to_string(),
    }))
}

/// Marks the device seen and locks its row (two pushes from one device run one after the
/// other); its last seq, or `None` when it is not the caller's or was revoked.
fn lock_device(
    conn: &mut DbConn,
    caller: &Caller,
    device: &str,
    now: i64,
) -> Result<Option<i64>, StorageError> {
    let n = diesel::update(
        devices::table
            .filter(devices::id.eq(device))
            .filter(devices::org_id.eq(&caller.org_id))
            .filter(devices::user_id.eq(&caller.user_id))
            .filter(devices::revoked_at.is_null()),
    )
    .set(devices::last_seen_at.eq(now))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(
        devices::table
            .find(device)
            .select(devices::last_seq)
            .first(conn)?,
    ))
}

/// The results recorded for `seqs` of the device (a seq never recorded is absent).
fn recorded_results(
    conn: &mut DbConn,
    device: &str,
    seqs: &[i64],
) -> Result<HashMap<i64, RecordedResult>, StorageError> {
    let mut out = HashMap::new();
    for &seq in seqs {
        let row: Option<(String, String)> = device_mutations::table
            .find((device, seq))
            .select((device_mutations::mutation_id, device_mutations::result))
            .first(conn)
            .optional()?;
        if let Some((mutation_id, result)) = row {
            out.insert(
                seq,
                RecordedResult {
                    mutation_id,
                    result,
                },
            );
        }
    }
    Ok(out)
}

/// What a plan runs with.
struct Run<'a> {
    caller: &'a Caller,
    policy: &'a Policy,
    settings: EngineSettings,
    now: i64,
}

impl Run<'_> {
    /// Runs the plan's steps in order; one result per item.
    fn execute(
        &self,
        conn: &mut DbConn,
        change: &mut Change,
        items: &[ParsedItem],
        plan: &PushPlan,
    ) -> Result<Vec<PushResult>, StorageError> {
        let mut lookups = Lookups::default();
        let mut results: Vec<PushResult> = Vec::with_capacity(items.len());
        for step in &plan.steps {
            match step {
                Step::Answer { result, .. } => results.push(result.clone()),
                Step::RepeatOf { earlier, .. } => results.push(PushResult::Duplicate {
                    original: results[*earlier].to_json(),
                }),
                Step::Apply { index } => {
                    let item = planned(items, *index)?;
                    let m = &item.mutation;
                    let outcome = engine::apply_with(
                        conn,
                        change,
                        &mut lookups,
                        self.policy,
                        self.caller,
                        m,
                        self.settings,
                    )?;
                    results.push(match outcome {
                        Ok(a) => applied(item, &a),
                        Err(r) => {
                            log_rejected_command(conn, self.caller, m, &r, self.now)?;
                            PushResult::Rejected {
                                seq: item.seq,
                                id: m.id,
                                rejection: r,
                            }
                        }
                    });
                }
                Step::ApplyGroup { indexes } => {
                    let members: Vec<&PushItem> = indexes
                        .clone()
                        .map(|i| planned(items, i))
                        .collect::<Result<_, _>>()?;
                    let group: Vec<Mutation> = members.iter().map(|i| i.mutation.clone()).collect();
                    let outcome = engine::apply_group_with(
                        conn,
                        change,
                        &mut lookups,
                        self.policy,
                        self.caller,
                        &group,
                        self.settings,
                    )?;
                    match outcome {
                        Ok(done) => results
                            .extend(members.iter().zip(done.iter()).map(|(i, a)| applied(i, a))),
                        Err((failed, r)) => {
                            let failed_seq = members[failed].seq;
                            for (k, item) in members.iter().enumerate() {
                                results.push(if k == failed {
                                    PushResult::Rejected {
                                        seq: item.seq,
                                        id: item.mutation.id,
                                        rejection: r.clone(),
                                    }
                                } else {
                                    PushResult::GroupFailed {
                                        seq: item.seq,
                                        id: item.mutation.id,
                                        group: item.mutation.group,
                                        failed_seq,
                                    }
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(results)
    }
}

/// The item a plan step names (the plan only applies readable items).
fn planned(items: &[ParsedItem], index: usize) -> Result<&PushItem, StorageError> {
    items
        .get(index)
        .and_then(|i| i.as_ref().ok())
        .ok_or_else(|| {
            StorageError::Invalid(format!(
                "the push plan applies item {index}, which is not a mutation"
            ))
        })
}

fn applied(item: &PushItem, a: &Applied) -> PushResult {
    PushResult::applied(
        item.seq,
        item.mutation.id,
        AppliedItem {
            entity_type: a.entity_type.clone(),
            entity_id: a.entity_id.clone(),
            version: a.version,
            lost: a.lost.clone(),
        },
    )
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

/// A workflow command that arrived after the hazard moved on (its state no longer allows it,
/// or it names a version the hazard has left) is kept in the conflict log.
fn log_rejected_command(
    conn: &mut DbConn,
    caller: &Caller,
    m: &Mutation,
    r: &MutationRejection,
    now: i64,
) -> Result<(), StorageError> {
    let late = match r.code {
        RejectionCode::InvalidTransition => true,
        // An edit's version is only refused when the hazard never had it: no conflict.
        RejectionCode::VersionMismatch => m.name != "hazard.update",
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
