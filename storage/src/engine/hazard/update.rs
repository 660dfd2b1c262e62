//! `hazard.update`: descriptive edits merged per field, each on its own clock
//! (`hazardloop_sync::field_edit`), the losers kept as conflicts.

use super::*;
use hazardloop_sync::protocol::FieldEdit;

/// Descriptive edits, merged per field (`hazardloop_sync::field_edit`): an edit that saw a
/// field's value replaces it; concurrent edits to one field go to the later clock (risk: the
/// more severe colour) and the loser to the conflict log; edits to different fields never
/// conflict. Lowering the risk needs the version it was made on and a `reason`.
pub(in crate::engine) fn update(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &HazardUpdate,
    base_version: Option<i64>,
) -> Result<Applied, Failure> {
    let (mut row, site) = load(conn, ctx, &args.hazard_id)?;
    let role = ctx.role_at(conn, &site)?;
    let is_party = [Some(&row.reporter_id), row.owner_id.as_ref()]
        .into_iter()
        .flatten()
        .any(|u| *u == ctx.caller.user_id);
    let allowed = role.is_some_and(|r| r.at_least(hazardloop_sync::Role::Supervisor))
        || (role.is_some() && is_party);
    if !allowed {
        return Err(MutationRejection::forbidden(
            "only the reporter, the owner or a supervisor may edit a hazard",
        )
        .with_current(current(&row, ctx.now))
        .into());
    }
    if matches!(row.state.as_str(), "closed" | "cancelled") {
        return Err(MutationRejection::new(
            RejectionCode::InvalidTransition,
            format!("cannot edit a hazard that is {}", row.state),
            json!({"state": row.state, "state_allows": [], "caller_may_run": [], "allowed": []}),
        )
        .with_current(current(&row, ctx.now))
        .into());
    }
    check_version(ctx, &row, base_version, true)?;
    let seen = seen(ctx, base_version);
    let reason = args.reason.clone()?;
    let incoming = args.fields.clone()?;
    // field -> {"hlc": clock of the stored value, "by": device (or user) that wrote it,
    // "v": the hazard version it produced}.
    let mut clocks: Map<String, Value> =
        serde_json::from_str(&row.field_clocks).unwrap_or_default();
    let writer = writer(ctx);
    // The hazard as it was, for a refusal's `current` (fields are set as they are decided).
    let before = row.clone();
    let mut lost = Vec::new();
    let mut changed = Map::new();
    let mut conflicts = Vec::new();
    for FieldEdit {
        name,
        sent: raw,
        stored,
    } in incoming
    {
        let meta = clocks.get(name).cloned().unwrap_or(Value::Null);
        let clock: Option<Hlc> = meta
            .get("hlc")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok());
        let by = meta.get("by").and_then(Value::as_str).map(str::to_string);
        let cur_val = field_value(&row, name);
        let decision = match (name, row.risk.parse::<Risk>(), stored.parse::<Risk>()) {
            ("risk", Ok(cur), Ok(inc)) => decide_severity(
                Some(&held_write(cur, &meta)),
                &edit_write(ctx, inc, &writer, seen),
            ),
            ("risk", ..) => Decision::Take { conflict: false },
            _ => decide_field(
                Some(&held_write(cur_val.clone(), &meta)),
                &edit_write(ctx, raw.clone(), &writer, seen),
            ),
        };
        let take = match decision {
            Decision::Take { conflict } => Some(conflict),
            Decision::Keep { .. } => None,
            // Lowering a risk is a safety decision: it names the version it was made on and
            // says why; an offline edit that did not is refused here, never half-applied.
            Decision::Lowers => {
                if ctx.caller.device_id.is_none() && base_version.is_none() {
                    return Err(MutationRejection::new(
                        RejectionCode::PreconditionRequired,
                        "lowering the risk needs If-Match with the hazard's ETag, and a reason",
                        json!({"version": row.version}),
                    )
                    .with_current(current(&before, ctx.now))
                    .into());
                }
                if reason.is_none() {
                    return Err(MutationRejection::missing(&["reason"])
                        .with_current(current(&before, ctx.now))
                        .into());
                }
                Some(false)
            }
        };
        match take {
            Some(conflict) => {
                if conflict {
                    conflicts.push((
                        name,
                        raw.clone(),
                        ctx.hlc.to_string(),
                        cur_val.clone(),
                        clock.map(|c| c.to_string()),
                        by,
                        false,
                    ));
                }
                set_field(&mut row, name, stored);
                clocks.insert(name.to_string(), field_meta(ctx, &row));
                changed.insert(name.to_string(), raw);
            }
            None if cur_val != raw => {
                lost.push(name.to_string());
                conflicts.push((
                    name,
                    cur_val.clone(),
                    clock.map(|c| c.to_string()).unwrap_or_default(),
                    raw.clone(),
                    Some(ctx.hlc.to_string()),
                    Some(writer.clone()),
                    true,
                ));
            }
            None => {}
        }
    }
    for (field, win, win_hlc, lose, lose_hlc, lose_by, loser_is_caller) in conflicts {
        crate::conflicts::record(
            conn,
            crate::conflicts::NewConflict {
                org_id: row.org_id.clone(),
                site_id: row.site_id.clone(),
                entity_type: "hazard".into(),
                entity_id: row.id.clone(),
                kind: "field",
                field: Some(field.to_string()),
                winning_value: Some(win),
                winning_hlc: Some(win_hlc),
                losing_value: Some(lose),
                losing_hlc: lose_hlc,
                losing_actor: loser_is_caller.then(|| ctx.caller.user_id.clone()),
                losing_device: lose_by,
                detail: Value::Null,
            },
            ctx.now,
        )?;
    }
    row.field_clocks = Value::Object(clocks).to_string();
    if !changed.is_empty() {
        // A new position is a new claim, judged against the site's circle as the report's was.
        let moved = changed.contains_key("gps");
        if moved {
            row.flags = crate::photos::evidence::encode(&report_flags(conn, ctx, &row)?);
        }
        save(conn, ctx, &mut row)?;
        let mut payload = json!({"fields": changed, "lost": lost});
        if let Some(reason) = &reason {
            payload["reason"] = json!(reason);
        }
        if moved {
            payload["flags"] = json!(crate::photos::evidence::decode(&row.flags));
        }
        let ev = event(
            ctx,
            &row,
            hazardloop_sync::event::HAZARD_UPDATED,
            Some(&row.state),
            Some(&row.state),
            payload,
        );
        ctx.change.audit(conn, ev)?;
    }
    Ok(applied(&row, ctx.now, false, lost))
}

/// The write a field holds, from its clock record (`{hlc, by, v}`; empty for the report's
/// values).
fn held_write<V>(value: V, meta: &Value) -> Held<V> {
    Held {
        value,
        clock: meta
            .get("hlc")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        writer: meta.get("by").and_then(Value::as_str).map(str::to_string),
        version: meta.get("v").and_then(Value::as_i64),
    }
}

fn edit_write<V>(ctx: &Ctx<'_>, value: V, writer: &str, seen: Seen) -> Edit<V> {
    Edit {
        value,
        clock: ctx.hlc.clone(),
        writer: writer.to_string(),
        seen,
    }
}

/// A field's current value as the client sent it (GPS as an object, not stored text).
fn field_value(row: &Hazard, name: &str) -> Value {
    match name {
        "title" => json!(row.title),
        "description" => json!(row.description),
        "location" => json!(row.location),
        "gps" => row
            .gps
            .as_deref()
            .and_then(|g| serde_json::from_str(g).ok())
            .unwrap_or(Value::Null),
        "measures" => json!(row.measures.clone().unwrap_or_default()),
        "risk" => json!(row.risk),
        _ => Value::Null,
    }
}

fn set_field(row: &mut Hazard, name: &str, value: String) {
    match name {
        "title" => row.title = value,
        "description" => row.description = value,
        "location" => row.location = value,
        "gps" => row.gps = (!value.is_empty()).then_some(value),
        "measures" => row.measures = Some(value),
        "risk" => row.risk = value,
        _ => {}
    }
}
