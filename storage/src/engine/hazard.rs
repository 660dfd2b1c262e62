//! Hazard mutations: report, descriptive edits (merged per field), workflow commands.
//!
//! About 750 lines: the three share the hazard's load, lock, version check, save and event
//! shape, and `hazard.update`'s per-field merge (about 250 lines) is the next thing to move
//! to a file of its own.

use hazardloop_sync::evidence::{outside_radius, Flag, Point};
use hazardloop_sync::field_edit::{decide_field, decide_severity, Decision, Edit, Held, Seen};
use hazardloop_sync::{decide_mutation, report_allowed, Actor, Category, GradeScale, Hlc, Risk};
use serde_json::{json, Map, Value};

use super::{
    gps_arg, id_arg, opt_id_arg, site_arg, text_arg, Applied, Ctx, Failure, MutationRejection,
    RejectionCode,
};
use crate::change::EventInput;
use crate::hazards::{self, Hazard};
use crate::schema::hazards as h;
use crate::{sites, users, DbConn, StorageError};
use diesel::prelude::*;

const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 10_000;
const REASON_MAX: usize = 2_000;

fn applied(row: &Hazard, now: i64, created: bool, lost: Vec<String>) -> Applied {
    Applied {
        entity_type: "hazard".into(),
        entity_id: row.id.clone(),
        version: row.version,
        lost,
        entity: serde_json::to_value(row.view(now)).unwrap_or(Value::Null),
        created,
    }
}

fn parse_enum<T: std::str::FromStr>(
    args: &Value,
    key: &str,
    allowed: &str,
) -> Result<Option<T>, Failure> {
    match text_arg(args, key, 50)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|_| {
            MutationRejection::invalid(key, format!("{s:?} is not one of {allowed}")).into()
        }),
    }
}

fn check_grade(scale: &GradeScale, grade: &str) -> Result<(), Failure> {
    if scale.contains(grade) {
        Ok(())
    } else {
        Err(MutationRejection::invalid(
            "grade",
            format!("{grade:?} is not one of {}", scale.0.join(", ")),
        )
        .into())
    }
}

/// A new hazard, reported ad hoc (inspection-raised hazards come from `inspection.submit`).
pub(super) fn report(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &Value,
) -> Result<Applied, Failure> {
    let site = match args.get("site_id") {
        None | Some(Value::Null) => None,
        _ => Some(site_arg(conn, ctx, args)?),
    };
    if let Some(site) = &site {
        if !report_allowed(ctx.role_at(conn, site)?) {
            return Err(MutationRejection::forbidden(
                "reporting needs a role at the hazard's site",
            )
            .into());
        }
    }
    let title = text_arg(args, "title", TITLE_MAX)?.filter(|t| !t.is_empty());
    let category: Option<Category> = parse_enum(
        args,
        "category",
        "unsafe_condition, unsafe_act, management_gap",
    )?;
    let grade = text_arg(args, "grade", 50)?.filter(|g| !g.is_empty());
    let risk: Option<Risk> = parse_enum(args, "risk", "blue, yellow, orange, red")?;
    let mut missing = Vec::new();
    if site.is_none() {
        missing.push("site_id");
    }
    if title.is_none() {
        missing.push("title");
    }
    if category.is_none() {
        missing.push("category");
    }
    if grade.is_none() {
        missing.push("grade");
    }
    let (Some(site), Some(title), Some(category), Some(grade)) = (site, title, category, grade)
    else {
        return Err(MutationRejection::missing(&missing).into());
    };
    check_grade(&ctx.policy.grade_scale, &grade)?;
    let id = opt_id_arg(args, "id")?.unwrap_or_else(crate::new_id);
    let mut row = new_hazard(
        ctx,
        NewHazard {
            id,
            site_id: site.id.clone(),
            title,
            description: text_arg(args, "description", TEXT_MAX)?.unwrap_or_default(),
            location: text_arg(args, "location", 500)?.unwrap_or_default(),
            gps: gps_arg(args, "gps")?,
            category: category.as_str().to_string(),
            grade,
            risk: risk.unwrap_or(Risk::Blue).as_str().to_string(),
            reporter_id: ctx.caller.user_id.clone(),
            inspection_id: None,
            item_key: None,
        },
    );
    let photos = super::photos_arg(args, "photos")?;
    if !insert_reported(conn, ctx, &mut row, args.clone())? {
        // The id is taken. Its hazard comes back only to whoever may read it; for a hazard of
        // a site the caller sees nothing of (or of another organisation) the answer says no
        // more than that the id is taken.
        let visibility = ctx.visibility(conn)?;
        let rejection = MutationRejection::new(
            RejectionCode::AlreadyExists,
            format!("hazard {} already exists", row.id),
            json!({"id": row.id}),
        );
        return Err(
            match hazards::find_with_site(conn, &ctx.caller.org_id, &row.id)? {
                Some((existing, site)) if visibility.sees(&site) => {
                    rejection.with_current(applied(&existing, ctx.now, false, vec![]).entity)
                }
                _ => rejection,
            }
            .into(),
        );
    }
    super::link_photos(conn, ctx, &link_target(&row), &photos, "before", "photos")?;
    Ok(applied(&row, ctx.now, true, vec![]))
}

/// A hazard as a photo's link target: its photos are judged against its report time.
fn link_target(row: &Hazard) -> crate::photos::LinkTarget<'_> {
    crate::photos::LinkTarget {
        entity_type: "hazard",
        entity_id: &row.id,
        site_id: &row.site_id,
        reported_at: Some(row.reported_at_device),
    }
}

/// What a new hazard starts with.
pub(super) struct NewHazard {
    pub id: String,
    pub site_id: String,
    pub title: String,
    pub description: String,
    pub location: String,
    pub gps: Option<String>,
    pub category: String,
    pub grade: String,
    pub risk: String,
    pub reporter_id: String,
    pub inspection_id: Option<String>,
    pub item_key: Option<String>,
}

pub(super) fn new_hazard(ctx: &Ctx<'_>, n: NewHazard) -> Hazard {
    Hazard {
        id: n.id,
        org_id: ctx.caller.org_id.clone(),
        site_id: n.site_id,
        state: "reported".into(),
        title: n.title,
        description: n.description,
        location: n.location,
        gps: n.gps,
        category: n.category,
        grade: n.grade,
        risk: n.risk,
        reporter_id: n.reporter_id,
        owner_id: None,
        verifier_id: None,
        rectified_by: None,
        measures: None,
        deadline: None,
        five: None,
        inspection_id: n.inspection_id,
        item_key: n.item_key,
        reported_at_device: ctx.device_time,
        reported_at: ctx.now,
        closed_at: None,
        overdue_notified_deadline: None,
        field_clocks: "{}".into(),
        version: 1,
        updated_at: ctx.now,
        flags: "[]".into(),
        rectification_cost: None,
    }
}

/// The evidence flags of a report: its GPS outside the circle of its site (or of the nearest
/// ancestor with a position).
fn report_flags(conn: &mut DbConn, ctx: &mut Ctx<'_>, row: &Hazard) -> Result<Vec<Flag>, Failure> {
    let Some(gps) = row.gps.as_deref() else {
        return Ok(Vec::new());
    };
    let g: Value = serde_json::from_str(gps).unwrap_or(Value::Null);
    let (Some(lat), Some(lon)) = (g["lat"].as_f64(), g["lon"].as_f64()) else {
        return Ok(Vec::new());
    };
    let site = ctx.site(conn, &row.site_id)?;
    Ok(match sites::circle_of(conn, &site)? {
        Some(circle) => outside_radius(Point { lat, lon }, &circle)
            .into_iter()
            .collect(),
        None => Vec::new(),
    })
}

/// Inserts a reported hazard and its audit event. The report's evidence flags are judged
/// here, stored on the row and carried by the event (`flags`).
pub(super) fn insert_reported(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    row: &mut Hazard,
    mut payload: Value,
) -> Result<bool, Failure> {
    let flags = report_flags(conn, ctx, row)?;
    row.flags = crate::photos::evidence::encode(&flags);
    if !flags.is_empty() {
        payload["flags"] = json!(flags);
    }
    // One statement whether or not the id exists (a retried report is common offline).
    let inserted = match conn {
        DbConn::Pg(c) => diesel::insert_into(h::table)
            .values((&*row, h::search_text.eq(row.search_text())))
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConn::Sqlite(c) => diesel::insert_into(h::table)
            .values((&*row, h::search_text.eq(row.search_text())))
            .on_conflict_do_nothing()
            .execute(c)?,
    };
    if inserted == 0 {
        return Ok(false);
    }
    ctx.change
        .touch(conn, "hazard", &row.id, Some(&row.site_id), false)?;
    let ev = event(
        ctx,
        row,
        hazardloop_sync::event::HAZARD_REPORTED,
        None,
        Some("reported"),
        payload,
    );
    ctx.change.audit(conn, ev)?;
    Ok(true)
}

fn event(
    ctx: &Ctx<'_>,
    row: &Hazard,
    name: &str,
    from: Option<&str>,
    to: Option<&str>,
    mut payload: Value,
) -> EventInput {
    if ctx.clock_flagged {
        payload["device_clock_clamped"] = json!(true);
    }
    EventInput {
        entity_type: "hazard",
        entity_id: row.id.clone(),
        hazard_id: Some(row.id.clone()),
        site_id: Some(row.site_id.clone()),
        actor_id: Some(ctx.caller.user_id.clone()),
        device_id: ctx.caller.device_id.clone(),
        device_time: Some(ctx.device_time),
        event: name.to_string(),
        from_state: from.map(str::to_string),
        to_state: to.map(str::to_string),
        payload,
    }
}

fn load(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &Value,
) -> Result<(Hazard, sites::Site), Failure> {
    let id = id_arg(args, "hazard_id")?;
    // Visibility first, decided before the lookup: a hazard the caller may not read answers
    // exactly as a random id, before any permission or state is looked at.
    let visibility = ctx.visibility(conn)?;
    let site = match hazards::find_with_site(conn, &ctx.caller.org_id, &id)? {
        Some((_, site)) if visibility.sees(&site) => site,
        _ => return Err(MutationRejection::not_found("hazard", &id).into()),
    };
    ctx.remember_site(&site);
    // Locked until commit, and only now, so a caller who may not read the hazard neither takes
    // nor waits for its lock: two commands on one hazard are decided one after the other.
    let row = match hazards::find_for_update(conn, &ctx.caller.org_id, &id)? {
        Some(r) => r,
        None => return Err(MutationRejection::not_found("hazard", &id).into()),
    };
    Ok((row, site))
}

fn current(row: &Hazard, now: i64) -> Value {
    serde_json::to_value(row.view(now)).unwrap_or(Value::Null)
}

/// The version a mutation names (`If-Match` on REST, `base_version` on push). A workflow command
/// and an online edit are refused unless it is the current version. A sync edit may name an
/// older one: it says what the device saw, and its fields merge (see [`update`]); only a version
/// the hazard never had is refused.
fn check_version(
    ctx: &Ctx<'_>,
    row: &Hazard,
    base: Option<i64>,
    merges: bool,
) -> Result<(), Failure> {
    let Some(v) = base else {
        return Ok(());
    };
    if v == row.version || (merges && ctx.caller.device_id.is_some() && v < row.version) {
        return Ok(());
    }
    Err(MutationRejection::new(
        RejectionCode::VersionMismatch,
        format!("the hazard is at version {}, not {v}", row.version),
        json!({"version": row.version}),
    )
    .with_current(current(row, ctx.now))
    .into())
}

/// Who a field write is attributed to: the device, or the user for an online edit.
fn writer(ctx: &Ctx<'_>) -> String {
    ctx.caller
        .device_id
        .clone()
        .unwrap_or_else(|| ctx.caller.user_id.clone())
}

/// What the writer saw: the version it names, the live state (online, no `If-Match`), or,
/// for a sync edit without `base_version`, nothing.
fn seen(ctx: &Ctx<'_>, base: Option<i64>) -> Seen {
    match (base, &ctx.caller.device_id) {
        (Some(v), _) => Seen::Version(v),
        (None, None) => Seen::Live,
        (None, Some(_)) => Seen::Nothing,
    }
}

/// The clock record of a field write: its clock, its writer, the hazard version it produced.
fn field_meta(ctx: &Ctx<'_>, row: &Hazard) -> Value {
    json!({"hlc": ctx.hlc.to_string(), "by": writer(ctx), "v": row.version + 1})
}

fn save(conn: &mut DbConn, ctx: &mut Ctx<'_>, row: &mut Hazard) -> Result<(), StorageError> {
    row.version += 1;
    row.updated_at = ctx.now;
    diesel::update(h::table.find(&row.id))
        .set((&*row, h::search_text.eq(row.search_text())))
        .execute(conn)?;
    ctx.change
        .touch(conn, "hazard", &row.id, Some(&row.site_id), false)?;
    Ok(())
}

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
pub(super) fn command(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    name: &str,
    args: &Value,
    base_version: Option<i64>,
) -> Result<Applied, Failure> {
    let (mut row, site) = load(conn, ctx, args)?;
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
        super::link_photos(
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

/// Fields `hazard.update` may edit, each merged on its own clock.
const EDITABLE: &[&str] = &[
    "title",
    "description",
    "location",
    "gps",
    "measures",
    "risk",
];

/// Descriptive edits, merged per field (`hazardloop_sync::field_edit`): an edit that saw a
/// field's value replaces it; concurrent edits to one field go to the later clock (risk: the
/// more severe colour) and the loser to the conflict log; edits to different fields never
/// conflict. Lowering the risk needs the version it was made on and a `reason`.
pub(super) fn update(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &Value,
    base_version: Option<i64>,
) -> Result<Applied, Failure> {
    let (mut row, site) = load(conn, ctx, args)?;
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
    let reason = text_arg(args, "reason", REASON_MAX)?.filter(|r| !r.is_empty());
    let fields = match args.get("fields") {
        Some(Value::Object(f)) if !f.is_empty() => f.clone(),
        Some(Value::Object(_)) | None | Some(Value::Null) => {
            return Err(MutationRejection::missing(&["fields"]).into())
        }
        Some(_) => {
            return Err(
                MutationRejection::invalid("fields", "expected an object of field: value").into(),
            )
        }
    };
    let mut incoming: Vec<(&'static str, Value, String)> = Vec::new();
    for (key, value) in &fields {
        let Some(name) = EDITABLE.iter().find(|f| **f == key.as_str()) else {
            return Err(MutationRejection::invalid(
                &format!("fields.{key}"),
                format!("not editable; editable: {}", EDITABLE.join(", ")),
            )
            .into());
        };
        let wrapped = json!({ *name: value });
        let stored = match *name {
            "title" => text_arg(&wrapped, name, TITLE_MAX)?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    Failure::from(MutationRejection::invalid(
                        "fields.title",
                        "must not be blank",
                    ))
                })?,
            "gps" => gps_arg(&wrapped, name)?.unwrap_or_default(),
            "risk" => parse_enum::<Risk>(&wrapped, name, "blue, yellow, orange, red")?
                .ok_or_else(|| {
                    Failure::from(MutationRejection::invalid(
                        "fields.risk",
                        "must not be blank",
                    ))
                })?
                .as_str()
                .to_string(),
            _ => text_arg(&wrapped, name, TEXT_MAX)?.unwrap_or_default(),
        };
        incoming.push((name, value.clone(), stored));
    }
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
    for (name, raw, stored) in incoming {
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
