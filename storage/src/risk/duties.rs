//! Check duties of a control measure: how often it is checked (a cycle), when in the day (a
//! working window), on which days, from which date, and by whom (a person, or a post by name;
//! the 包保 leads of a major hazard installation have duties of their own).

use diesel::prelude::*;
use hazardloop_sync::event;
use hazardloop_sync::risk::cycle::{parse_local_date, CycleUnit};
use hazardloop_sync::risk::{Cycle, DayRule, Schedule, WorkWindow};
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;
use serde_json::json;

use super::events::RiskEvent;
use super::measures::{self, Measure};
use super::units::RiskUnit;
use super::{check_people, record, require_manager, Caller, Outcome, Refusal};
use crate::change::Change;
use crate::schema::{check_duties, check_tasks, sites};
use crate::sites::Site;
use crate::{new_id, DbConn, StorageError};

/// The 包保 roles a duty may belong to.
pub const LEAD_ROLES: [&str; 3] = ["principal", "technical_lead", "operations_lead"];

/// A duty as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = check_duties, treat_none_as_null = true)]
pub struct Duty {
    pub id: String,
    pub org_id: String,
    pub measure_id: String,
    pub unit_id: String,
    pub site_id: String,
    pub cycle_unit: String,
    pub cycle_every: i32,
    /// Minutes after local midnight.
    pub window_start: i32,
    pub window_end: i32,
    pub day_rule: String,
    /// `YYYY-MM-DD`, local.
    pub anchor: String,
    pub assignee_id: Option<String>,
    pub post: Option<String>,
    pub lead_role: Option<String>,
    pub active: bool,
    /// Every window opening before this has been generated.
    pub generated_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A duty's cycle as clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct CycleView {
    pub unit: String,
    pub every: i32,
}

/// A working window as clients see it (`HH:MM`).
#[derive(Debug, Clone, Serialize)]
pub struct WindowView {
    pub start: String,
    pub end: String,
}

/// What clients see of a duty.
#[derive(Debug, Clone, Serialize)]
pub struct DutyView {
    pub id: String,
    pub measure_id: String,
    pub unit_id: String,
    pub cycle: CycleView,
    pub window: WindowView,
    pub day_rule: String,
    pub anchor: String,
    pub assignee_id: Option<String>,
    pub post: Option<String>,
    pub lead_role: Option<String>,
    pub active: bool,
    pub created_at: String,
}

impl Duty {
    /// The public view.
    pub fn view(&self) -> DutyView {
        let f = |m: i32| format!("{:02}:{:02}", m / 60, m % 60);
        DutyView {
            id: self.id.clone(),
            measure_id: self.measure_id.clone(),
            unit_id: self.unit_id.clone(),
            cycle: CycleView {
                unit: self.cycle_unit.clone(),
                every: self.cycle_every,
            },
            window: WindowView {
                start: f(self.window_start),
                end: f(self.window_end),
            },
            day_rule: self.day_rule.clone(),
            anchor: self.anchor.clone(),
            assignee_id: self.assignee_id.clone(),
            post: self.post.clone(),
            lead_role: self.lead_role.clone(),
            active: self.active,
            created_at: format_rfc3339_ms(self.created_at),
        }
    }

    /// The duty's timetable in the organisation's offset; `None` for a stored value the rules
    /// no longer accept (such a duty generates nothing).
    pub fn schedule(&self, utc_offset_minutes: i32) -> Option<Schedule> {
        let s = Schedule {
            cycle: Cycle {
                unit: self.cycle_unit.parse::<CycleUnit>().ok()?,
                every: u16::try_from(self.cycle_every).ok()?,
            },
            window: WorkWindow {
                start: u16::try_from(self.window_start).ok()?,
                end: u16::try_from(self.window_end).ok()?,
            },
            days: self.day_rule.parse::<DayRule>().ok()?,
            anchor: parse_local_date("anchor", &self.anchor).ok()?,
            utc_offset_minutes,
        };
        s.validate().ok().map(|_| s)
    }
}

/// A new duty's fields.
#[derive(Debug, Clone)]
pub struct DutyFields {
    pub cycle: Cycle,
    pub window: WorkWindow,
    pub days: DayRule,
    /// `YYYY-MM-DD`; today (local) when absent.
    pub anchor: Option<String>,
    pub assignee_id: Option<String>,
    pub post: Option<String>,
    pub lead_role: Option<String>,
}

/// The duties of some measures.
pub fn of_measures(conn: &mut DbConn, ids: &[String]) -> Result<Vec<Duty>, StorageError> {
    Ok(check_duties::table
        .filter(check_duties::measure_id.eq_any(ids))
        .order(check_duties::id.asc())
        .select(Duty::as_select())
        .load(conn)?)
}

/// Today's local date at `now` in the organisation's offset.
pub fn local_today(now: i64, utc_offset_minutes: i32) -> String {
    let local = now + i64::from(utc_offset_minutes) * 60_000;
    format_rfc3339_ms(local)[..10].to_string()
}

/// Gives a measure a check duty.
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    measure: &Measure,
    ev: &RiskEvent,
    unit: &RiskUnit,
    site: &Site,
    fields: DutyFields,
) -> Result<Outcome<Duty>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    let mut assignee = fields.assignee_id.clone();
    if let Some(role) = &fields.lead_role {
        let Some(leads) = unit.leads() else {
            return Ok(Err(Refusal::invalid(
                "lead_role",
                "only a major hazard installation's duties belong to its 包保 leads",
            )));
        };
        let lead = match role.as_str() {
            "principal" => leads.principal_id,
            "technical_lead" => leads.technical_lead_id,
            "operations_lead" => leads.operations_lead_id,
            other => {
                return Ok(Err(Refusal::invalid(
                    "lead_role",
                    format!("{other:?} is not one of {}", LEAD_ROLES.join(", ")),
                )))
            }
        };
        if assignee.as_ref().is_some_and(|a| *a != lead) {
            return Ok(Err(Refusal::invalid(
                "assignee_id",
                "a lead's duty is done by that lead: leave assignee_id out",
            )));
        }
        assignee = Some(lead);
    }
    let post = fields
        .post
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    match (&assignee, &post) {
        (Some(_), Some(_)) | (None, None) => {
            return Ok(Err(Refusal::invalid(
                "assignee_id",
                "name either a person (assignee_id) or a post, not both",
            )))
        }
        _ => {}
    }
    if let Some(Err(r)) = post.as_deref().map(|p| super::text("post", p, 200)) {
        return Ok(Err(r));
    }
    if let Err(r) = check_people(
        conn,
        &caller.org_id,
        &[("assignee_id", assignee.as_deref())],
    )? {
        return Ok(Err(r));
    }
    let settings = super::settings(conn, &caller.org_id, change.now)?;
    let anchor = fields
        .anchor
        .clone()
        .unwrap_or_else(|| local_today(change.now, settings.utc_offset_minutes));
    let anchor_date = match parse_local_date("anchor", &anchor) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e.into())),
    };
    let schedule = Schedule {
        cycle: fields.cycle,
        window: fields.window,
        days: fields.days,
        anchor: anchor_date,
        utc_offset_minutes: settings.utc_offset_minutes,
    };
    if let Err(e) = schedule.validate() {
        return Ok(Err(e.into()));
    }
    let d = Duty {
        id: new_id(),
        org_id: caller.org_id.clone(),
        measure_id: measure.id.clone(),
        unit_id: unit.id.clone(),
        site_id: site.id.clone(),
        cycle_unit: fields.cycle.unit.as_str().into(),
        cycle_every: i32::from(fields.cycle.every),
        window_start: i32::from(fields.window.start),
        window_end: i32::from(fields.window.end),
        day_rule: fields.days.as_str().into(),
        anchor,
        assignee_id: assignee,
        post,
        lead_role: fields.lead_role,
        active: true,
        generated_until: None,
        created_at: change.now,
        updated_at: change.now,
    };
    diesel::insert_into(check_duties::table)
        .values(&d)
        .execute(conn)?;
    record(
        conn,
        change,
        "check_duty",
        &d.id,
        &site.id,
        Some(&caller.user_id),
        event::CHECK_DUTY_CREATED,
        json!({"duty": d.view(), "event_id": ev.id}),
    )?;
    Ok(Ok(d))
}

/// A readable duty with its measure, event, unit and site; `NotFound` otherwise, at the cost
/// of a random id (visibility first, then the duty with its site in one query).
#[allow(clippy::type_complexity)]
pub fn readable(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(Duty, Measure, RiskEvent, RiskUnit, Site), StorageError> {
    let visibility =
        crate::access::visibility(conn, &caller.org_id, &caller.user_id, caller.is_admin)?;
    let (d, site): (Duty, Site) = check_duties::table
        .inner_join(sites::table.on(sites::id.eq(check_duties::site_id)))
        .filter(check_duties::org_id.eq(&caller.org_id))
        .filter(check_duties::id.eq(id))
        .select((Duty::as_select(), Site::as_select()))
        .first(conn)
        .optional()?
        .ok_or(StorageError::NotFound)?;
    if !visibility.sees(&site) {
        return Err(StorageError::NotFound);
    }
    let m = measures::get(conn, &caller.org_id, &d.measure_id)?;
    let ev = super::events::get(conn, &caller.org_id, &m.event_id)?;
    let unit = super::units::get(conn, &caller.org_id, &d.unit_id)?;
    Ok((d, m, ev, unit, site))
}

/// Stops a duty (its tasks not yet open are withdrawn; no more are made) or starts it again
/// (tasks are made from now on: the windows while it was stopped are not owed).
pub fn set_active(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    d: &Duty,
    site: &Site,
    active: bool,
) -> Result<Outcome<Duty>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    let now = change.now;
    let mut next = d.clone();
    next.active = active;
    next.updated_at = now;
    let mut withdrawn = 0;
    if active && !d.active {
        next.generated_until = Some(d.generated_until.unwrap_or(0).max(now));
    }
    if !active {
        let doomed: Vec<super::tasks::Task> = check_tasks::table
            .filter(check_tasks::duty_id.eq(&d.id))
            .filter(check_tasks::state.eq(super::tasks::OPEN))
            .filter(check_tasks::window_start.gt(now))
            .select(super::tasks::Task::as_select())
            .load(conn)?;
        for t in &doomed {
            withdrawn += diesel::delete(check_tasks::table.find(&t.id)).execute(conn)?;
            t.touch(change, true);
        }
    }
    diesel::update(check_duties::table.find(&d.id))
        .set((
            check_duties::active.eq(next.active),
            check_duties::generated_until.eq(next.generated_until),
            check_duties::updated_at.eq(now),
        ))
        .execute(conn)?;
    record(
        conn,
        change,
        "check_duty",
        &d.id,
        &site.id,
        Some(&caller.user_id),
        event::CHECK_DUTY_UPDATED,
        json!({"active": active, "tasks_withdrawn": withdrawn, "measure_id": d.measure_id}),
    )?;
    Ok(Ok(next))
}
