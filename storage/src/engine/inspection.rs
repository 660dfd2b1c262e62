//! Inspection mutations: start a draft, answer items (last writer wins by clock, the loser kept
//! in history), submit (raising hazards once), delete a draft.
//!
//! Longer than the engine's other files (about 450 lines) because the four mutations share
//! one load-and-lock path and one event shape; each is read top to bottom on its own.

use std::collections::BTreeMap;

use diesel::prelude::*;
use hazardloop_sync::checklist::{missing_required, raises_hazard, validate_answer};
use hazardloop_sync::merge::{merge_field, FieldMerge};
use hazardloop_sync::{report_allowed, Hlc, Role};
use serde_json::{json, Value};

use super::hazard::{insert_reported, new_hazard, NewHazard};
use hazardloop_sync::protocol::{
    Arg, InspectionAnswer, InspectionDelete, InspectionStart, InspectionSubmit, TemplateRef,
};

use super::{site_named, Applied, Ctx, Failure, MutationRejection, RejectionCode};
use crate::audit::EventInput;
use crate::inspections::{self, Answer, Inspection};
use crate::schema::{answer_history, answers, hazards, inspections as i};
use crate::{new_id, sites, templates, DbConn, StorageError};

fn applied(
    conn: &mut DbConn,
    row: &Inspection,
    created: bool,
    lost: Vec<String>,
) -> Result<Applied, Failure> {
    let answers = inspections::answers_of(conn, &row.id)?;
    Ok(Applied {
        entity_type: "inspection".into(),
        entity_id: row.id.clone(),
        version: row.version,
        lost,
        entity: serde_json::to_value(row.view(&answers)).unwrap_or(Value::Null),
        created,
    })
}

fn current(conn: &mut DbConn, row: &Inspection) -> Value {
    let answers = inspections::answers_of(conn, &row.id).unwrap_or_default();
    serde_json::to_value(row.view(&answers)).unwrap_or(Value::Null)
}

fn event(
    ctx: &Ctx<'_>,
    row: &Inspection,
    name: &str,
    from: &str,
    to: &str,
    payload: Value,
) -> EventInput {
    EventInput {
        entity_type: "inspection",
        entity_id: row.id.clone(),
        site_id: Some(row.site_id.clone()),
        actor_id: Some(ctx.caller.user_id.clone()),
        device_id: ctx.caller.device_id.clone(),
        device_time: Some(ctx.device_time),
        event: name.to_string(),
        from_state: Some(from.to_string()),
        to_state: Some(to.to_string()),
        payload,
        ..EventInput::default()
    }
}

fn save(conn: &mut DbConn, ctx: &mut Ctx<'_>, row: &mut Inspection) -> Result<(), StorageError> {
    row.version += 1;
    row.updated_at = ctx.now;
    diesel::update(i::table.find(&row.id))
        .set(&*row)
        .execute(conn)?;
    ctx.change
        .touch(conn, "inspection", &row.id, Some(&row.site_id), row.deleted)?;
    Ok(())
}

/// Loads the inspection named by `inspection_id` and checks the caller may write to it: its
/// inspector, or a supervisor+ at its site.
fn load_writable(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    inspection_id: &Arg<String>,
) -> Result<(Inspection, sites::Site), Failure> {
    let id = inspection_id.clone()?;
    // Visibility first, decided before the lookup: an inspection the caller may not read
    // answers exactly as a random id, before any permission or state is looked at.
    let visibility = ctx.visibility(conn)?;
    let site = match inspections::find_with_site(conn, &ctx.caller.org_id, &id)? {
        Some((_, site)) if visibility.sees(&site) => site,
        _ => return Err(MutationRejection::not_found("inspection", &id).into()),
    };
    ctx.remember_site(&site);
    // Locked until commit (only for a reader): answers and submit of one inspection are
    // applied one at a time.
    let Some(row) = inspections::find_for_update(conn, &ctx.caller.org_id, &id)? else {
        return Err(MutationRejection::not_found("inspection", &id).into());
    };
    let role = ctx.role_at(conn, &site)?;
    let own = row.inspector_id == ctx.caller.user_id && role.is_some();
    if !(own || role.is_some_and(|r| r.at_least(Role::Supervisor))) {
        return Err(MutationRejection::forbidden(
            "only the inspector or a supervisor of the site may change an inspection",
        )
        .with_current(current(conn, &row))
        .into());
    }
    if row.deleted {
        return Err(MutationRejection::new(
            RejectionCode::InvalidTransition,
            "the inspection was deleted",
            json!({"state": "deleted", "state_allows": [], "caller_may_run": [], "allowed": []}),
        )
        .with_current(current(conn, &row))
        .into());
    }
    Ok((row, site))
}

pub(super) fn start(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &InspectionStart,
) -> Result<Applied, Failure> {
    let site = site_named(conn, ctx, &args.site_id.clone()?)?;
    if !report_allowed(ctx.role_at(conn, &site)?) {
        return Err(MutationRejection::forbidden(
            "starting an inspection needs a role at the site",
        )
        .into());
    }
    let template = match args.template.clone()? {
        TemplateRef::Id(id) => templates::get(conn, &ctx.caller.org_id, &id).ok(),
        TemplateRef::Key { key, version } => match version {
            Some(v) => templates::version(
                conn,
                &ctx.caller.org_id,
                &key,
                i32::try_from(v).unwrap_or(-1),
            )
            .ok(),
            None => templates::latest(conn, &ctx.caller.org_id, &key)?,
        },
    };
    let Some(template) = template else {
        return Err(MutationRejection::invalid("template_id", "no such template version").into());
    };
    let id = args.id.clone()?.unwrap_or_else(new_id);
    if inspections::id_taken(conn, &id)? {
        // Its inspection comes back only to whoever may read it; anyone else (another site,
        // another organisation) learns no more than that the id is taken.
        let visibility = ctx.visibility(conn)?;
        let rejection = MutationRejection::new(
            RejectionCode::AlreadyExists,
            format!("inspection {id} already exists"),
            json!({"id": id}),
        );
        return Err(
            match inspections::find_with_site(conn, &ctx.caller.org_id, &id)? {
                Some((existing, site)) if visibility.sees(&site) => {
                    let cur = current(conn, &existing);
                    rejection.with_current(cur)
                }
                _ => rejection,
            }
            .into(),
        );
    }
    let row = Inspection {
        id,
        org_id: ctx.caller.org_id.clone(),
        site_id: site.id.clone(),
        template_id: template.id.clone(),
        inspector_id: ctx.caller.user_id.clone(),
        status: "draft".into(),
        deleted: false,
        started_at_device: Some(
            args.started_at
                .clone()?
                .unwrap_or(ctx.device_time)
                .min(ctx.now + 300_000),
        ),
        finished_at_device: None,
        gps: args.gps.clone()?,
        submitted_at: None,
        version: 1,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    diesel::insert_into(i::table).values(&row).execute(conn)?;
    ctx.change
        .touch(conn, "inspection", &row.id, Some(&row.site_id), false)?;
    let ev = event(
        ctx,
        &row,
        "inspection.started",
        "none",
        "draft",
        json!({"template_id": template.id, "template_key": template.key, "template_version": template.version}),
    );
    ctx.change.audit(conn, ev)?;
    applied(conn, &row, true, vec![])
}

pub(super) fn answer(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &InspectionAnswer,
) -> Result<Applied, Failure> {
    let (mut row, _) = load_writable(conn, ctx, &args.inspection_id)?;
    if row.status != "draft" {
        let cur = current(conn, &row);
        return Err(MutationRejection::new(
            RejectionCode::InvalidTransition,
            "a submitted inspection's answers cannot change",
            json!({"state": row.status, "state_allows": [], "caller_may_run": [], "allowed": []}),
        )
        .with_current(cur)
        .into());
    }
    let key = args.item_key.clone()?;
    let value = args.value.clone();
    let template = templates::get(conn, &ctx.caller.org_id, &row.template_id)?.template()?;
    let Some(item) = template.item(&key) else {
        return Err(MutationRejection::new(
            RejectionCode::Invalid,
            format!("the template has no item {key:?}"),
            json!({"field": "item_key", "item": key}),
        )
        .into());
    };
    if let Err(msg) = validate_answer(item, &value) {
        return Err(MutationRejection::new(
            RejectionCode::Invalid,
            format!("item {key:?} ({:?}): {msg}", item.kind),
            json!({"field": "value", "item": key}),
        )
        .into());
    }
    let existing: Option<Answer> = answers::table
        .filter(answers::inspection_id.eq(&row.id))
        .filter(answers::item_key.eq(&key))
        .select(Answer::as_select())
        .first(conn)
        .optional()?;
    let clock = ctx.hlc.to_string();
    let mut lost = Vec::new();
    match &existing {
        Some(cur) => {
            let cur_value: Value = serde_json::from_str(&cur.value).unwrap_or(Value::Null);
            let cur_clock: Option<Hlc> = cur.hlc.parse().ok();
            let decision = merge_field(
                cur_clock.as_ref().map(|c| (&cur_value, c)),
                (&value, &ctx.hlc),
            );
            let (kept_value, kept_clock, kept_by) = if decision == FieldMerge::Take {
                diesel::update(answers::table.find((&row.id, &key)))
                    .set((
                        answers::value.eq(value.to_string()),
                        answers::hlc.eq(&clock),
                        answers::answered_by.eq(&ctx.caller.user_id),
                        answers::device_time.eq(Some(ctx.device_time)),
                        answers::updated_at.eq(ctx.now),
                    ))
                    .execute(conn)?;
                (cur.value.clone(), cur.hlc.clone(), cur.answered_by.clone())
            } else {
                lost.push(key.clone());
                (value.to_string(), clock.clone(), ctx.caller.user_id.clone())
            };
            // Whichever value lost is kept in history, never dropped.
            let winner = if decision == FieldMerge::Take {
                clock.clone()
            } else {
                cur.hlc.clone()
            };
            diesel::insert_into(answer_history::table)
                .values((
                    answer_history::id.eq(new_id()),
                    answer_history::inspection_id.eq(&row.id),
                    answer_history::item_key.eq(&key),
                    answer_history::value.eq(kept_value),
                    answer_history::hlc.eq(kept_clock),
                    answer_history::answered_by.eq(kept_by),
                    answer_history::replaced_by_hlc.eq(winner),
                    answer_history::replaced_at.eq(ctx.now),
                ))
                .execute(conn)?;
        }
        None => {
            diesel::insert_into(answers::table)
                .values(&Answer {
                    inspection_id: row.id.clone(),
                    item_key: key.clone(),
                    value: value.to_string(),
                    hlc: clock.clone(),
                    answered_by: ctx.caller.user_id.clone(),
                    device_time: Some(ctx.device_time),
                    updated_at: ctx.now,
                })
                .execute(conn)?;
        }
    }
    if lost.is_empty() {
        save(conn, ctx, &mut row)?;
    }
    let ev = event(
        ctx,
        &row,
        "inspection.answered",
        "draft",
        "draft",
        json!({"item_key": key, "value": value, "hlc": clock, "lost": !lost.is_empty()}),
    );
    ctx.change.audit(conn, ev)?;
    if item.kind == hazardloop_sync::ItemKind::Photo && lost.is_empty() {
        let shas: Vec<String> = match &value {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let target = crate::photos::LinkTarget {
            entity_type: "inspection",
            entity_id: &row.id,
            site_id: &row.site_id,
            reported_at: Some(row.started_at_device.unwrap_or(row.created_at)),
        };
        super::link_photos(conn, ctx, &target, &shas, "answer", "value")?;
    }
    applied(conn, &row, false, lost)
}

pub(super) fn submit(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &InspectionSubmit,
) -> Result<Applied, Failure> {
    let (mut row, site) = load_writable(conn, ctx, &args.inspection_id)?;
    if row.status == "submitted" {
        // Submitting again (a retry) changes nothing and raises nothing twice.
        return applied(conn, &row, false, vec![]);
    }
    let template = templates::get(conn, &ctx.caller.org_id, &row.template_id)?.template()?;
    let answers = inspections::answers_of(conn, &row.id)?;
    let map: BTreeMap<String, Value> = inspections::answer_map(&answers);
    let missing = missing_required(&template, &map);
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(String::as_str).collect();
        let cur = current(conn, &row);
        return Err(MutationRejection::missing(&names).with_current(cur).into());
    }
    let finished = args
        .finished_at
        .clone()?
        .unwrap_or(ctx.device_time)
        .min(ctx.now + 300_000);
    row.status = "submitted".into();
    row.finished_at_device = Some(finished);
    row.submitted_at = Some(ctx.now);
    save(conn, ctx, &mut row)?;
    let mut raised = Vec::new();
    for item in template.items() {
        let Some(value) = map.get(&item.key) else {
            continue;
        };
        let Some(defaults) = item.hazard.as_ref().filter(|_| raises_hazard(item, value)) else {
            continue;
        };
        let exists: i64 = hazards::table
            .filter(hazards::inspection_id.eq(&row.id))
            .filter(hazards::item_key.eq(&item.key))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            continue;
        }
        let mut hazard = new_hazard(
            ctx,
            NewHazard {
                id: new_id(),
                site_id: site.id.clone(),
                title: item.prompt.chars().take(200).collect(),
                description: format!(
                    "Raised by inspection item {:?}: answered {}",
                    item.key, value
                ),
                location: String::new(),
                gps: row.gps.clone(),
                category: defaults.category.as_str().to_string(),
                grade: defaults.grade.as_str().to_string(),
                risk: defaults.risk.as_str().to_string(),
                reporter_id: row.inspector_id.clone(),
                inspection_id: Some(row.id.clone()),
                item_key: Some(item.key.clone()),
            },
        );
        insert_reported(
            conn,
            ctx,
            &mut hazard,
            json!({"inspection_id": row.id, "item_key": item.key, "answer": value}),
        )?;
        raised.push(hazard.id);
    }
    let ev = event(
        ctx,
        &row,
        hazardloop_sync::event::INSPECTION_SUBMITTED,
        "draft",
        "submitted",
        json!({"raised_hazards": raised}),
    );
    ctx.change.audit(conn, ev)?;
    applied(conn, &row, false, vec![])
}

pub(super) fn delete(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &InspectionDelete,
) -> Result<Applied, Failure> {
    let (mut row, _) = load_writable(conn, ctx, &args.inspection_id)?;
    if row.status != "draft" {
        let cur = current(conn, &row);
        return Err(MutationRejection::new(
            RejectionCode::InvalidTransition,
            "a submitted inspection is never deleted",
            json!({"state": row.status, "state_allows": [], "caller_may_run": [], "allowed": []}),
        )
        .with_current(cur)
        .into());
    }
    row.deleted = true;
    save(conn, ctx, &mut row)?;
    let ev = event(
        ctx,
        &row,
        "inspection.deleted",
        "draft",
        "deleted",
        json!({}),
    );
    ctx.change.audit(conn, ev)?;
    applied(conn, &row, false, vec![])
}
