//! Control measures (管控措施) of a risk event: classified on two levels (engineering /
//! maintenance / operations / emergency, then e.g. process control or PPE), with what to check
//! (排查内容).

use diesel::prelude::*;
use hazardloop_sync::event;
use hazardloop_sync::risk::register::MeasureCategory;
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;
use serde_json::json;

use super::events::{self, RiskEvent};
use super::units::RiskUnit;
use super::{record, require_manager, Caller, Outcome, Refusal};
use crate::change::Change;
use crate::schema::{control_measures, risk_events, risk_units, sites};
use crate::sites::Site;
use crate::{access, new_id, DbConn, StorageError};

/// A measure as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = control_measures)]
pub struct Measure {
    pub id: String,
    pub org_id: String,
    pub event_id: String,
    pub name: String,
    /// [`MeasureCategory`].
    pub category: String,
    pub subcategory: String,
    pub check_content: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What clients see of a measure.
#[derive(Debug, Clone, Serialize)]
pub struct MeasureView {
    pub id: String,
    pub event_id: String,
    pub name: String,
    pub category: String,
    pub subcategory: String,
    pub check_content: String,
    pub created_at: String,
}

impl Measure {
    /// The public view.
    pub fn view(&self) -> MeasureView {
        MeasureView {
            id: self.id.clone(),
            event_id: self.event_id.clone(),
            name: self.name.clone(),
            category: self.category.clone(),
            subcategory: self.subcategory.clone(),
            check_content: self.check_content.clone(),
            created_at: format_rfc3339_ms(self.created_at),
        }
    }
}

/// A new measure's fields.
#[derive(Debug, Clone)]
pub struct MeasureFields {
    pub name: String,
    pub category: MeasureCategory,
    pub subcategory: String,
    pub check_content: String,
}

/// A readable measure with its event, unit and site; `NotFound` otherwise, at the cost of a
/// random id (visibility first, then the measure with its site in one query).
pub fn readable(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(Measure, RiskEvent, RiskUnit, Site), StorageError> {
    let visibility = access::visibility(conn, &caller.org_id, &caller.user_id, caller.is_admin)?;
    let (m, site): (Measure, Site) = control_measures::table
        .inner_join(risk_events::table.on(risk_events::id.eq(control_measures::event_id)))
        .inner_join(risk_units::table.on(risk_units::id.eq(risk_events::unit_id)))
        .inner_join(sites::table.on(sites::id.eq(risk_units::site_id)))
        .filter(control_measures::org_id.eq(&caller.org_id))
        .filter(control_measures::id.eq(id))
        .select((Measure::as_select(), Site::as_select()))
        .first(conn)
        .optional()?
        .ok_or(StorageError::NotFound)?;
    if !visibility.sees(&site) {
        return Err(StorageError::NotFound);
    }
    let ev = events::get(conn, &caller.org_id, &m.event_id)?;
    let unit = super::units::get(conn, &caller.org_id, &ev.unit_id)?;
    Ok((m, ev, unit, site))
}

/// A measure by id, for a caller already found to read it through one of its parts.
pub(crate) fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Measure, StorageError> {
    Ok(control_measures::table
        .filter(control_measures::org_id.eq(org_id))
        .filter(control_measures::id.eq(id))
        .select(Measure::as_select())
        .first(conn)?)
}

/// The measures of some events, by name.
pub fn of_events(conn: &mut DbConn, event_ids: &[String]) -> Result<Vec<Measure>, StorageError> {
    Ok(control_measures::table
        .filter(control_measures::event_id.eq_any(event_ids))
        .order((control_measures::name.asc(), control_measures::id.asc()))
        .select(Measure::as_select())
        .load(conn)?)
}

/// Adds a measure to an event.
pub fn create(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    ev: &RiskEvent,
    site: &Site,
    fields: MeasureFields,
) -> Result<Outcome<Measure>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    let taken: i64 = control_measures::table
        .filter(control_measures::event_id.eq(&ev.id))
        .filter(control_measures::name.eq(&fields.name))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Ok(Err(Refusal::invalid(
            "name",
            format!("the event already has a measure named {:?}", fields.name),
        )));
    }
    let m = Measure {
        id: new_id(),
        org_id: caller.org_id.clone(),
        event_id: ev.id.clone(),
        name: fields.name,
        category: fields.category.as_str().into(),
        subcategory: fields.subcategory,
        check_content: fields.check_content,
        created_at: change.now,
        updated_at: change.now,
    };
    diesel::insert_into(control_measures::table)
        .values(&m)
        .execute(conn)?;
    record(
        conn,
        change,
        "control_measure",
        &m.id,
        &site.id,
        Some(&caller.user_id),
        event::CONTROL_MEASURE_CREATED,
        json!({"measure": m.view(), "unit_id": ev.unit_id}),
    )?;
    Ok(Ok(m))
}

/// Replaces a measure's fields; the event keeps the old and new values.
pub fn update(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    m: &Measure,
    site: &Site,
    fields: MeasureFields,
) -> Result<Outcome<Measure>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    let taken: i64 = control_measures::table
        .filter(control_measures::event_id.eq(&m.event_id))
        .filter(control_measures::name.eq(&fields.name))
        .filter(control_measures::id.ne(&m.id))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Ok(Err(Refusal::invalid(
            "name",
            format!("the event already has a measure named {:?}", fields.name),
        )));
    }
    let next = Measure {
        name: fields.name,
        category: fields.category.as_str().into(),
        subcategory: fields.subcategory,
        check_content: fields.check_content,
        updated_at: change.now,
        ..m.clone()
    };
    diesel::update(control_measures::table.find(&m.id))
        .set((
            control_measures::name.eq(&next.name),
            control_measures::category.eq(&next.category),
            control_measures::subcategory.eq(&next.subcategory),
            control_measures::check_content.eq(&next.check_content),
            control_measures::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
    record(
        conn,
        change,
        "control_measure",
        &m.id,
        &site.id,
        Some(&caller.user_id),
        event::CONTROL_MEASURE_UPDATED,
        json!({"old": m.view(), "new": next.view()}),
    )?;
    Ok(Ok(next))
}
