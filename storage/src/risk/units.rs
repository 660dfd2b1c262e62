//! Risk analysis units (风险分析单元): a place, installation or job at a site, with its
//! responsible department and person; a major hazard installation (重大危险源) names its three
//! 包保 people.

use diesel::prelude::*;
use hazardloop_sync::event;
use hazardloop_sync::risk::register::UnitKind;
use hazardloop_sync::risk::Colour;
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;
use serde_json::json;

use super::{check_people, record, require_manager, Caller, Outcome, Refusal};
use crate::change::Change;
use crate::schema::{risk_events, risk_units, sites};
use crate::sites::Site;
use crate::{access, new_id, DbConn, StorageError};

/// A unit as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = risk_units, treat_none_as_null = true)]
pub struct RiskUnit {
    pub id: String,
    pub org_id: String,
    pub site_id: String,
    pub name: String,
    /// place, installation or job ([`UnitKind`]).
    pub kind: String,
    pub department: String,
    pub responsible_id: String,
    pub major_hazard: bool,
    pub principal_id: Option<String>,
    pub technical_lead_id: Option<String>,
    pub operations_lead_id: Option<String>,
    /// The worst colour of its events' latest assessments.
    pub inherent_level: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A major hazard installation's 包保 people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leads {
    pub principal_id: String,
    pub technical_lead_id: String,
    pub operations_lead_id: String,
}

/// What clients see of a unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitView {
    pub id: String,
    pub site_id: String,
    pub name: String,
    pub kind: String,
    pub department: String,
    pub responsible_id: String,
    pub major_hazard: bool,
    /// The 包保 people of a major hazard installation; null otherwise.
    pub leads: Option<Leads>,
    pub inherent_level: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl RiskUnit {
    /// The 包保 people, when the unit is a major hazard installation.
    pub fn leads(&self) -> Option<Leads> {
        match (
            self.major_hazard,
            &self.principal_id,
            &self.technical_lead_id,
            &self.operations_lead_id,
        ) {
            (true, Some(p), Some(t), Some(o)) => Some(Leads {
                principal_id: p.clone(),
                technical_lead_id: t.clone(),
                operations_lead_id: o.clone(),
            }),
            _ => None,
        }
    }

    /// The public view.
    pub fn view(&self) -> UnitView {
        UnitView {
            id: self.id.clone(),
            site_id: self.site_id.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            department: self.department.clone(),
            responsible_id: self.responsible_id.clone(),
            major_hazard: self.major_hazard,
            leads: self.leads(),
            inherent_level: self.inherent_level.clone(),
            version: self.version,
            created_at: format_rfc3339_ms(self.created_at),
            updated_at: format_rfc3339_ms(self.updated_at),
        }
    }
}

/// A unit's details, as created or as they become after an update.
#[derive(Debug, Clone)]
pub struct UnitFields {
    pub name: String,
    pub kind: UnitKind,
    pub department: String,
    pub responsible_id: String,
    /// `Some` makes the unit a major hazard installation.
    pub leads: Option<Leads>,
}

impl UnitFields {
    fn people(&self) -> Vec<(&'static str, Option<&str>)> {
        let l = self.leads.as_ref();
        vec![
            ("responsible_id", Some(self.responsible_id.as_str())),
            ("principal_id", l.map(|l| l.principal_id.as_str())),
            ("technical_lead_id", l.map(|l| l.technical_lead_id.as_str())),
            (
                "operations_lead_id",
                l.map(|l| l.operations_lead_id.as_str()),
            ),
        ]
    }
}

/// A unit the caller may read, with its site; otherwise `NotFound`, exactly as for an id that
/// does not exist (visibility is decided first, the unit loaded with its site in one query).
pub fn readable(
    conn: &mut DbConn,
    caller: &Caller,
    id: &str,
) -> Result<(RiskUnit, Site), StorageError> {
    let visibility = access::visibility(conn, &caller.org_id, &caller.user_id, caller.is_admin)?;
    let (unit, site): (RiskUnit, Site) = risk_units::table
        .inner_join(sites::table.on(sites::id.eq(risk_units::site_id)))
        .filter(risk_units::org_id.eq(&caller.org_id))
        .filter(risk_units::id.eq(id))
        .select((RiskUnit::as_select(), Site::as_select()))
        .first(conn)
        .optional()?
        .ok_or(StorageError::NotFound)?;
    if !visibility.sees(&site) {
        return Err(StorageError::NotFound);
    }
    Ok((unit, site))
}

/// A unit by id, for a caller already found to read it through one of its parts.
pub(crate) fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<RiskUnit, StorageError> {
    Ok(risk_units::table
        .filter(risk_units::org_id.eq(org_id))
        .filter(risk_units::id.eq(id))
        .select(RiskUnit::as_select())
        .first(conn)?)
}

/// Adds a unit at `site` (already found readable by the caller).
pub fn create(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    site: &Site,
    fields: UnitFields,
) -> Result<Outcome<RiskUnit>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    if let Err(r) = check_people(conn, &caller.org_id, &fields.people())? {
        return Ok(Err(r));
    }
    if name_taken(conn, &caller.org_id, &site.id, &fields.name, None)? {
        return Ok(Err(Refusal::invalid(
            "name",
            format!("the site already has a unit named {:?}", fields.name),
        )));
    }
    let now = change.now;
    let l = fields.leads.clone();
    let unit = RiskUnit {
        id: new_id(),
        org_id: caller.org_id.clone(),
        site_id: site.id.clone(),
        name: fields.name,
        kind: fields.kind.as_str().to_string(),
        department: fields.department,
        responsible_id: fields.responsible_id,
        major_hazard: l.is_some(),
        principal_id: l.as_ref().map(|l| l.principal_id.clone()),
        technical_lead_id: l.as_ref().map(|l| l.technical_lead_id.clone()),
        operations_lead_id: l.map(|l| l.operations_lead_id),
        inherent_level: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    diesel::insert_into(risk_units::table)
        .values(&unit)
        .execute(conn)?;
    record(
        conn,
        change,
        "risk_unit",
        &unit.id,
        &site.id,
        Some(&caller.user_id),
        event::RISK_UNIT_CREATED,
        json!({"unit": unit.view()}),
    )?;
    Ok(Ok(unit))
}

fn name_taken(
    conn: &mut DbConn,
    org_id: &str,
    site_id: &str,
    name: &str,
    except: Option<&str>,
) -> Result<bool, StorageError> {
    let ids: Vec<String> = risk_units::table
        .filter(risk_units::org_id.eq(org_id))
        .filter(risk_units::site_id.eq(site_id))
        .filter(risk_units::name.eq(name))
        .select(risk_units::id)
        .load(conn)?;
    Ok(ids.iter().any(|i| Some(i.as_str()) != except))
}

/// Replaces a unit's details (the caller found it readable); records old and new values.
pub fn update(
    conn: &mut DbConn,
    change: &mut Change,
    caller: &Caller,
    unit: &RiskUnit,
    site: &Site,
    fields: UnitFields,
) -> Result<Outcome<RiskUnit>, StorageError> {
    if let Err(r) = require_manager(conn, caller, site)? {
        return Ok(Err(r));
    }
    if let Err(r) = check_people(conn, &caller.org_id, &fields.people())? {
        return Ok(Err(r));
    }
    if name_taken(conn, &caller.org_id, &site.id, &fields.name, Some(&unit.id))? {
        return Ok(Err(Refusal::invalid(
            "name",
            format!("the site already has a unit named {:?}", fields.name),
        )));
    }
    let l = fields.leads.clone();
    let mut next = unit.clone();
    next.name = fields.name;
    next.kind = fields.kind.as_str().to_string();
    next.department = fields.department;
    next.responsible_id = fields.responsible_id;
    next.major_hazard = l.is_some();
    next.principal_id = l.as_ref().map(|l| l.principal_id.clone());
    next.technical_lead_id = l.as_ref().map(|l| l.technical_lead_id.clone());
    next.operations_lead_id = l.map(|l| l.operations_lead_id);
    next.version = unit.version + 1;
    next.updated_at = change.now;
    diesel::update(risk_units::table.find(&unit.id))
        .set((
            risk_units::name.eq(&next.name),
            risk_units::kind.eq(&next.kind),
            risk_units::department.eq(&next.department),
            risk_units::responsible_id.eq(&next.responsible_id),
            risk_units::major_hazard.eq(next.major_hazard),
            risk_units::principal_id.eq(&next.principal_id),
            risk_units::technical_lead_id.eq(&next.technical_lead_id),
            risk_units::operations_lead_id.eq(&next.operations_lead_id),
            risk_units::version.eq(next.version),
            risk_units::updated_at.eq(next.updated_at),
        ))
        .execute(conn)?;
    record(
        conn,
        change,
        "risk_unit",
        &unit.id,
        &site.id,
        Some(&caller.user_id),
        event::RISK_UNIT_UPDATED,
        json!({"old": unit.view(), "new": next.view()}),
    )?;
    Ok(Ok(next))
}

/// Recomputes a unit's inherent level from its events' latest assessments and stores it.
pub fn refresh_inherent(conn: &mut DbConn, unit_id: &str) -> Result<Option<Colour>, StorageError> {
    let levels: Vec<String> = risk_events::table
        .filter(risk_events::unit_id.eq(unit_id))
        .select(risk_events::level)
        .load(conn)?;
    let level = hazardloop_sync::risk::matrix::inherent_level(
        levels.iter().filter_map(|l| l.parse::<Colour>().ok()),
    );
    diesel::update(risk_units::table.find(unit_id))
        .set(risk_units::inherent_level.eq(level.map(|c| c.as_str())))
        .execute(conn)?;
    Ok(level)
}

/// Which units a list shows.
#[derive(Debug, Clone, Default)]
pub struct UnitFilter {
    /// Materialised paths the caller sees (`None`: everything).
    pub visible_paths: Option<Vec<String>>,
    /// Only units at this site or below it (its path).
    pub under_path: Option<String>,
    /// Only units of this inherent level.
    pub level: Option<String>,
}

/// Units by site name and unit name, at most `limit`.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    f: &UnitFilter,
    limit: i64,
) -> Result<Vec<RiskUnit>, StorageError> {
    let mut q = risk_units::table
        .inner_join(sites::table.on(sites::id.eq(risk_units::site_id)))
        .filter(risk_units::org_id.eq(org_id))
        .select(RiskUnit::as_select())
        .order((
            sites::path.asc(),
            risk_units::name.asc(),
            risk_units::id.asc(),
        ))
        .limit(limit)
        .into_boxed();
    if let Some(paths) = &f.visible_paths {
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let mut cond: Box<dyn BoxableExpression<_, _, SqlType = diesel::sql_types::Bool>> =
            Box::new(sites::path.like(format!("{}%", paths[0])));
        for p in &paths[1..] {
            cond = Box::new(cond.or(sites::path.like(format!("{p}%"))));
        }
        q = q.filter(cond);
    }
    if let Some(p) = &f.under_path {
        q = q.filter(sites::path.like(format!("{p}%")));
    }
    if let Some(level) = &f.level {
        q = q.filter(risk_units::inherent_level.eq(level.clone()));
    }
    Ok(q.load(conn)?)
}

/// Finds a unit by site and name (the register's key for a unit).
pub fn by_name(
    conn: &mut DbConn,
    org_id: &str,
    site_id: &str,
    name: &str,
) -> Result<Option<RiskUnit>, StorageError> {
    Ok(risk_units::table
        .filter(risk_units::org_id.eq(org_id))
        .filter(risk_units::site_id.eq(site_id))
        .filter(risk_units::name.eq(name))
        .select(RiskUnit::as_select())
        .first(conn)
        .optional()?)
}
