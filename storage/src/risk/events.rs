//! Risk events (风险事件) of a unit, each with its latest assessment and the history of every
//! assessment (who, when, old and new values, why). An assessment sets the unit's inherent
//! level again.

use diesel::prelude::*;
use hazardloop_sync::event;
use hazardloop_sync::risk::{Assessment, Method};
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;
use serde_json::{json, Value};

use super::units::{self, RiskUnit};
use super::{record, require_manager, Caller, Outcome, Refusal, RiskSettings};
use crate::change::Change;
use crate::schema::{risk_assessments, risk_events, risk_units, sites};
use crate::sites::Site;
use crate::{access, new_id, DbConn, StorageError};

/// An event as stored, with its latest assessment.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = risk_events, treat_none_as_null = true)]
pub struct RiskEvent {
    pub id: String,
    pub org_id: String,
    pub unit_id: String,
    pub name: String,
    /// `ls` or `lec`.
    pub method: String,
    pub likelihood: f64,
    pub severity: Option<f64>,
    pub exposure: Option<f64>,
    pub consequence: Option<f64>,
    pub score: i64,
    pub level: String,
    pub assessed_by: String,
    pub assessed_at: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One row of an event's assessment history.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = risk_assessments, treat_none_as_null = true)]
pub struct AssessmentRow {
    pub id: String,
    pub org_id: String,
    pub event_id: String,
    pub assessed_by: String,
    pub assessed_at: i64,
    pub old_values: Option<String>,
    pub new_values: String,
    pub reason: String,
}

/// An assessment as clients see it: the method, its inputs, the score and the colour.
#[derive(Debug, Clone, Serialize)]
pub struct AssessmentView {
    pub method: String,
    pub likelihood: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consequence: Option<f64>,
    pub score: i64,
    pub level: String,
}

/// What clients see of an event.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub id: String,
    pub unit_id: String,
    pub name: String,
    pub assessment: AssessmentView,
    pub assessed_by: String,
    pub assessed_at: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// What clients see of one assessment in the history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    pub id: String,
    pub assessed_by: String,
    pub assessed_at: String,
    /// The assessment replaced; null for the first.
    pub old: Option<Value>,
    pub new: Value,
    pub reason: String,
}

impl RiskEvent {
    /// The latest assessment.
    pub fn assessment(&self) -> AssessmentView {
        AssessmentView {
            method: self.method.clone(),
            likelihood: self.likelihood,
            severity: self.severity,
            exposure: self.exposure,
            consequence: self.consequence,
            score: self.score,
            level: self.level.clone(),
        }
    }

    /// The public view.
    pub fn view(&self) -> EventView {
        EventView {
            id: self.id.clone(),
            unit_id: self.unit_id.clone(),
            name: self.name.clone(),
            assessment: self.assessment(),
            assessed_by: self.assessed_by.clone(),
            assessed_at: format_rfc3339_ms(self.assessed_at),
            version: self.version,
            created_at: format_rfc3339_ms(self.created_at),
            updated_at: format_rfc3339_ms(self.updated_at),
        }
    }
}

impl AssessmentRow {
    /// The public view.
    pub fn view(&self) -> HistoryView {
        let parse = |t: &str| serde_json::from_str(t).unwrap_or(Value::Null);
        HistoryView {
            id: self.id.clone(),
            assessed_by: self.assessed_by.clone(),
            assessed_at: format_rfc3339_ms(self.assessed_at),
            old: self.old_values.as_deref().map(parse),
            new: parse(&self.new_values),
            reason: self.reason.clone(),
        }
    }
}

/// Grades `a` on the organisation's matrix: the values kept (only those the method uses), the
/// score and the colour, or a refusal naming the field at fault.
pub fn grade(settings: &RiskSettings, a: &Assessment) -> Outcome<AssessmentView> {
    let lec = matches!(settings.matrix.method, Method::Lec);
    let kept = if lec {
        Assessment {
            severity: None,
            ..*a
        }
    } else {
        Assessment {
            exposure: None,
            consequence: None,
            ..*a
        }
    };
    let (score, colour) = settings.matrix.assess(&kept)?;
    Ok(AssessmentView {
        method: if lec { "lec" } else { "ls" }.into(),
        likelihood: kept.likelihood,
        severity: kept.severity,
        exposure: kept.exposure,
        consequence: kept.consequence,
        score: i64::from(score),
        level: colour.as_str().into(),
    })
}

/// A readable event with its unit and site; `NotFound` otherwise, at the cost of a random id
/// (visibility first, then the event with its site in one query).
pub fn readable(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(RiskEvent, RiskUnit, Site), StorageError> {
    let visibility = access::visibility(conn, &caller.org_id, &caller.user_id, caller.is_admin)?;
    let (event, site): (RiskEvent, Site) = risk_events::table
        .inner_join(risk_units::table.on(risk_units::id.eq(risk_events::unit_id)))
        .inner_join(sites::table.on(sites::id.eq(risk_units::site_id)))
        .filter(risk_events::org_id.eq(&caller.org_id))
        .filter(risk_events::id.eq(id))
        .select((RiskEvent::as_select(), Site::as_select()))
        .first(conn)
        .optional()?
        .ok_or(StorageError::NotFound)?;
    if !visibility.sees(&site) {
        return Err(StorageError::NotFound);
    }
    let unit = units::get(conn, &caller.org_id, &event.unit_id)?;
    Ok((event, unit, site))
}

/// An event by id, for a caller already found to read it through one of its parts.
pub(crate) fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<RiskEvent, StorageError> {
    Ok(risk_events::table
        .filter(risk_events::org_id.eq(org_id))
        .filter(risk_events::id.eq(id))
        .select(RiskEvent::as_select())
        .first(conn)?)
}

/// The events of a unit, by name.
pub fn of_unit(conn: &mut DbConn, unit_id: &str) -> Result<Vec<RiskEvent>, StorageError> {
    Ok(risk_events::table
        .filter(risk_events::unit_id.eq(unit_id))
        .order((risk_events::name.asc(), risk_events::id.asc()))
        .select(RiskEvent::as_select())
        .load(conn)?)
}

/// An event's assessments, oldest first.
pub fn history(conn: &mut DbConn, event_id: &str) -> Result<Vec<AssessmentRow>, StorageError> {
    Ok(risk_assessments::table
        .filter(risk_assessments::event_id.eq(event_id))
        .order((
            risk_assessments::assessed_at.asc(),
            risk_assessments::id.asc(),
        ))
        .select(AssessmentRow::as_select())
        .load(conn)?)
}

/// Adds an event to a unit with its first assessment, and sets the unit's inherent level.
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    unit: &RiskUnit,
    site: &Site,
    name: String,
    assessment: &Assessment,
    reason: Option<String>,
) -> Result<Outcome<RiskEvent>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    let settings = super::settings(conn, &caller.org_id, change.now)?;
    let graded = match grade(&settings, assessment) {
        Ok(g) => g,
        Err(r) => return Ok(Err(r)),
    };
    let taken: i64 = risk_events::table
        .filter(risk_events::unit_id.eq(&unit.id))
        .filter(risk_events::name.eq(&name))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Ok(Err(Refusal::invalid(
            "name",
            format!("the unit already has an event named {name:?}"),
        )));
    }
    let now = change.now;
    let ev = RiskEvent {
        id: new_id(),
        org_id: caller.org_id.clone(),
        unit_id: unit.id.clone(),
        name,
        method: graded.method.clone(),
        likelihood: graded.likelihood,
        severity: graded.severity,
        exposure: graded.exposure,
        consequence: graded.consequence,
        score: graded.score,
        level: graded.level.clone(),
        assessed_by: caller.user_id.clone(),
        assessed_at: now,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(risk_events::table)
        .values(&ev)
        .execute(conn)?;
    let reason = reason.unwrap_or_else(|| "first assessment".into());
    write_history(conn, caller, &ev.id, now, None, &graded, &reason)?;
    let level = units::refresh_inherent(conn, &unit.id)?;
    record(
        conn,
        change,
        "risk_event",
        &ev.id,
        &site.id,
        Some(&caller.user_id),
        event::RISK_EVENT_CREATED,
        json!({"event": ev.view(), "unit_id": unit.id,
               "inherent_level": level.map(|c| c.as_str())}),
    )?;
    Ok(Ok(ev))
}

fn write_history(
    conn: &mut DbConn,
    caller: &Caller,
    event_id: &str,
    now: i64,
    old: Option<&AssessmentView>,
    new: &AssessmentView,
    reason: &str,
) -> Result<(), StorageError> {
    let row = AssessmentRow {
        id: new_id(),
        org_id: caller.org_id.clone(),
        event_id: event_id.to_string(),
        assessed_by: caller.user_id.clone(),
        assessed_at: now,
        old_values: old.map(|o| json!(o).to_string()),
        new_values: json!(new).to_string(),
        reason: reason.to_string(),
    };
    diesel::insert_into(risk_assessments::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// Assesses an event again: keeps the old values in the history with the reason, and sets the
/// unit's inherent level again.
#[allow(clippy::too_many_arguments)]
pub fn reassess(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    ev: &RiskEvent,
    site: &Site,
    assessment: &Assessment,
    reason: String,
) -> Result<Outcome<RiskEvent>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    let settings = super::settings(conn, &caller.org_id, change.now)?;
    let graded = match grade(&settings, assessment) {
        Ok(g) => g,
        Err(r) => return Ok(Err(r)),
    };
    let now = change.now;
    let old = ev.assessment();
    let mut next = ev.clone();
    next.method = graded.method.clone();
    next.likelihood = graded.likelihood;
    next.severity = graded.severity;
    next.exposure = graded.exposure;
    next.consequence = graded.consequence;
    next.score = graded.score;
    next.level = graded.level.clone();
    next.assessed_by = caller.user_id.clone();
    next.assessed_at = now;
    next.version = ev.version + 1;
    next.updated_at = now;
    diesel::update(risk_events::table.find(&ev.id))
        .set((
            risk_events::method.eq(&next.method),
            risk_events::likelihood.eq(next.likelihood),
            risk_events::severity.eq(next.severity),
            risk_events::exposure.eq(next.exposure),
            risk_events::consequence.eq(next.consequence),
            risk_events::score.eq(next.score),
            risk_events::level.eq(&next.level),
            risk_events::assessed_by.eq(&next.assessed_by),
            risk_events::assessed_at.eq(now),
            risk_events::version.eq(next.version),
            risk_events::updated_at.eq(now),
        ))
        .execute(conn)?;
    write_history(conn, caller, &ev.id, now, Some(&old), &graded, &reason)?;
    let level = units::refresh_inherent(conn, &ev.unit_id)?;
    record(
        conn,
        change,
        "risk_event",
        &ev.id,
        &site.id,
        Some(&caller.user_id),
        event::RISK_EVENT_ASSESSED,
        json!({"unit_id": ev.unit_id, "old": old, "new": graded, "reason": reason,
               "inherent_level": level.map(|c| c.as_str())}),
    )?;
    Ok(Ok(next))
}
