//! Hazard mutations: report, descriptive edits (merged per field), workflow commands.
//!
//! The three share the hazard's load, lock, version check, save and event shape (here); the
//! workflow commands are in [`command`], `hazard.update`'s per-field merge in [`update`].

use hazardloop_sync::evidence::{outside_radius, Flag, Point};
use hazardloop_sync::field_edit::{decide_field, decide_severity, Decision, Edit, Held, Seen};
use hazardloop_sync::{decide_mutation, report_allowed, Actor, GradeScale, Hlc, Risk};
use serde_json::{json, Map, Value};

use hazardloop_sync::protocol::args::read;
use hazardloop_sync::protocol::{Arg, HazardReport, HazardUpdate};

use super::{site_named, Applied, Ctx, Failure, MutationRejection, RejectionCode};
use crate::audit::EventInput;
use crate::hazards::{self, Hazard};
use crate::schema::hazards as h;
use crate::{sites, users, DbConn, StorageError};
use diesel::prelude::*;

mod command;
mod update;

pub(super) use command::command;
pub(super) use update::update;

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
/// The site's visibility and the caller's role there come before the other arguments.
pub(super) fn report(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &HazardReport,
) -> Result<Applied, Failure> {
    let site = match args.site_id.clone()? {
        None => None,
        Some(id) => Some(site_named(conn, ctx, &id)?),
    };
    if let Some(site) = &site {
        if !report_allowed(ctx.role_at(conn, site)?) {
            return Err(MutationRejection::forbidden(
                "reporting needs a role at the hazard's site",
            )
            .into());
        }
    }
    let title = args.title.clone()?;
    let category = args.category.clone()?;
    let grade = args.grade.clone()?;
    let risk = args.risk.clone()?;
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
    let id = args.id.clone()?.unwrap_or_else(crate::new_id);
    let mut row = new_hazard(
        ctx,
        NewHazard {
            id,
            site_id: site.id.clone(),
            title,
            description: args.description.clone()?,
            location: args.location.clone()?,
            gps: args.gps.clone()?,
            category: category.as_str().to_string(),
            grade,
            risk: risk.unwrap_or(Risk::Blue).as_str().to_string(),
            reporter_id: ctx.caller.user_id.clone(),
            inspection_id: None,
            item_key: None,
        },
    );
    let photos = args.photos.clone()?;
    if !insert_reported(conn, ctx, &mut row, args.raw.clone())? {
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
    crate::engine::link_photos(conn, ctx, &link_target(&row), &photos, "before", "photos")?;
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
    let inserted = crate::db_run!(conn, |c| diesel::insert_into(h::table)
        .values((&*row, h::search_text.eq(row.search_text())))
        .on_conflict_do_nothing()
        .execute(c))?;
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
    hazard_id: &Arg<String>,
) -> Result<(Hazard, sites::Site), Failure> {
    let id = hazard_id.clone()?;
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
