//! Paused periods of a unit (停用检维修): no check task of the unit is due while it is paused.
//! A new pause takes back the open tasks it covers (their windows cut, or gone when wholly
//! paused); tasks already recorded or missed stay as they are.

use diesel::prelude::*;
use hazardloop_sync::event;
use hazardloop_sync::risk::Pause;
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;
use serde_json::json;

use super::units::RiskUnit;
use super::{record, require_manager, Caller, Outcome, Refusal};
use crate::change::Change;
use crate::schema::risk_pauses;
use crate::sites::Site;
use crate::{new_id, DbConn, StorageError};

/// A pause as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = risk_pauses)]
pub struct PauseRow {
    pub id: String,
    pub org_id: String,
    pub unit_id: String,
    pub start_at: i64,
    pub end_at: i64,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
}

/// What clients see of a pause.
#[derive(Debug, Clone, Serialize)]
pub struct PauseView {
    pub id: String,
    pub unit_id: String,
    pub start_at: String,
    pub end_at: String,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

impl PauseRow {
    /// The public view.
    pub fn view(&self) -> PauseView {
        PauseView {
            id: self.id.clone(),
            unit_id: self.unit_id.clone(),
            start_at: format_rfc3339_ms(self.start_at),
            end_at: format_rfc3339_ms(self.end_at),
            reason: self.reason.clone(),
            created_by: self.created_by.clone(),
            created_at: format_rfc3339_ms(self.created_at),
        }
    }

    /// The rule's form.
    pub fn pause(&self) -> Pause {
        Pause {
            start_ms: self.start_at,
            end_ms: self.end_at,
        }
    }
}

/// A unit's pauses, by start.
pub fn of_unit(conn: &mut DbConn, unit_id: &str) -> Result<Vec<PauseRow>, StorageError> {
    Ok(risk_pauses::table
        .filter(risk_pauses::unit_id.eq(unit_id))
        .order((risk_pauses::start_at.asc(), risk_pauses::id.asc()))
        .select(PauseRow::as_select())
        .load(conn)?)
}

/// Pauses a unit for `[start_at, end_at)` and takes back the open tasks the pause covers.
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    unit: &RiskUnit,
    site: &Site,
    start_at: i64,
    end_at: i64,
    reason: String,
) -> Result<Outcome<PauseRow>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    if start_at >= end_at {
        return Ok(Err(Refusal::invalid(
            "end_at",
            "end_at must be after start_at",
        )));
    }
    let row = PauseRow {
        id: new_id(),
        org_id: caller.org_id.clone(),
        unit_id: unit.id.clone(),
        start_at,
        end_at,
        reason,
        created_by: caller.user_id.clone(),
        created_at: change.now,
    };
    diesel::insert_into(risk_pauses::table)
        .values(&row)
        .execute(conn)?;
    let all = of_unit(conn, &unit.id)?;
    let withdrawn = super::tasks::apply_pauses(conn, change, &unit.id, &all)?;
    record(
        conn,
        change,
        "risk_unit",
        &unit.id,
        &site.id,
        Some(&caller.user_id),
        event::RISK_UNIT_PAUSED,
        json!({"pause": row.view(), "tasks_withdrawn": withdrawn}),
    )?;
    Ok(Ok(row))
}
