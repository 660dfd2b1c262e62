//! Workflow commands on a hazard (design section 3): the rules in `hazardloop_sync` decide,
//! this applies the outcome and checks the people a command names.

use super::*;

/// A user named by a command must belong to the organisation and hold a role at the site.
fn check_person(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    site: &sites::Site,
    field: &str,
    id: &str,
) -> Result<(), Failure> {
    let user = match users::get(conn, &ctx.caller.org_id, id) {
        Ok(u) => u,
        Err(StorageError::NotFound) => {
            return Err(
                MutationRejection::invalid(field, format!("user {id} does not exist")).into(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    if !user.active || users::effective_role(conn, &user, site)?.is_none() {
        return Err(MutationRejection::invalid(
            field,
            format!("user {id} has no role at the hazard's site"),
        )
        .into());
    }
    Ok(())
}

/// A workflow command (design section 3), decided by `hazardloop_sync::decide_mutation`.
pub(in crate::engine) fn command(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    name: &str,
    args: &Value,
    base_version: Option<i64>,
) -> Result<Applied, Failure> {
    let (mut row, site) = load(conn, ctx, &read::id(args, "hazard_id"))?;
    let facts = row.facts()?;
    let user_id = uuid::Uuid::parse_str(&ctx.caller.user_id)
        .map_err(|_| StorageError::Invalid("caller id".into()))?;
    let actor = Actor {
        user_id,
        role: ctx.role_at(conn, &site)?,
    };
    let (cmd, outcome) = decide_mutation(&facts, &actor, name, args, &ctx.policy)
        .map_err(|r| MutationRejection::from(r).with_current(current(&row, ctx.now)))?;
    check_version(ctx, &row, base_version, false)?;
    if let hazardloop_sync::Command::Assign {
        owner_id,
        verifier_id,
        measures,
        ..
    } = &cmd
    {
        for (field, id) in [("owner_id", owner_id), ("verifier_id", verifier_id)] {
            if let Some(id) = id {
                check_person(conn, ctx, &site, field, &id.to_string())?;
            }
        }
        row.measures = Some(measures.clone());
        // Measures are also an editable field: record this write so later edits know whether
        // they saw it.
        let mut clocks: Map<String, Value> =
            serde_json::from_str(&row.field_clocks).unwrap_or_default();
        clocks.insert("measures".into(), field_meta(ctx, &row));
        row.field_clocks = Value::Object(clocks).to_string();
    }
    if let hazardloop_sync::Command::RectifyOnSpot {
        cost: Some(cost), ..
    }
    | hazardloop_sync::Command::SubmitRectification {
        cost: Some(cost), ..
    } = &cmd
    {
        row.rectification_cost = Some(cost.to_json().to_string());
    }
    let from = row.state.clone();
    row.apply_facts(&outcome.facts, ctx.now);
    if outcome.to.as_str() == "rectifying" && from == "awaiting_verification" {
        // A rejected rectification must be submitted again, by whoever submits it next.
        row.rectified_by = outcome.facts.rectified_by.map(|u| u.to_string());
    }
    save(conn, ctx, &mut row)?;
    let ev = event(
        ctx,
        &row,
        outcome.event,
        Some(&from),
        Some(outcome.to.as_str()),
        args.clone(),
    );
    ctx.change.audit(conn, ev)?;
    if let hazardloop_sync::Command::RectifyOnSpot { after_photos, .. }
    | hazardloop_sync::Command::SubmitRectification { after_photos, .. } = &cmd
    {
        crate::engine::link_photos(
            conn,
            ctx,
            &link_target(&row),
            after_photos,
            "after",
            "after_photos",
        )?;
    }
    Ok(applied(&row, ctx.now, false, vec![]))
}
