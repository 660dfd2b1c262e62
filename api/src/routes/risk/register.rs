//! The register: units, events (with assessment history), control measures, check duties and
//! pauses.

use actix_web::{web, HttpResponse};
use hazardloop_storage::risk::duties::{self};
use hazardloop_storage::risk::events::{self, RiskEvent};
use hazardloop_storage::risk::measures::{self};
use hazardloop_storage::risk::units::{self, Leads, RiskUnit, UnitFields, UnitFilter};
use hazardloop_storage::risk::{pauses, readable_site, Refusal};
use hazardloop_storage::{access, DbConn, StorageError};
use hazardloop_sync::risk::register::UnitKind;
use hazardloop_sync::risk::{Assessment, Colour};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{caller, refused, text, write};
use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::parse_id;

/// `POST /v1/risk/units` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUnit {
    pub site_id: uuid::Uuid,
    pub name: String,
    /// place, installation or job.
    pub kind: String,
    pub department: String,
    pub responsible_id: uuid::Uuid,
    #[serde(default)]
    pub major_hazard: bool,
    pub principal_id: Option<uuid::Uuid>,
    pub technical_lead_id: Option<uuid::Uuid>,
    pub operations_lead_id: Option<uuid::Uuid>,
}

/// `PATCH /v1/risk/units/{id}` body: the fields to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUnit {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub department: Option<String>,
    pub responsible_id: Option<uuid::Uuid>,
    pub major_hazard: Option<bool>,
    pub principal_id: Option<uuid::Uuid>,
    pub technical_lead_id: Option<uuid::Uuid>,
    pub operations_lead_id: Option<uuid::Uuid>,
}

fn unit_kind(text: &str) -> Result<UnitKind, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid_fields(&["kind"], "kind must be place, installation or job"))
}

/// The 包保 leads: all three for a major hazard installation, none otherwise; a refusal names
/// the first field at fault.
fn leads(major_hazard: bool, ids: [Option<String>; 3]) -> Result<Option<Leads>, Refusal> {
    const FIELDS: [&str; 3] = ["principal_id", "technical_lead_id", "operations_lead_id"];
    match (major_hazard, ids) {
        (true, [Some(p), Some(t), Some(o)]) => Ok(Some(Leads {
            principal_id: p,
            technical_lead_id: t,
            operations_lead_id: o,
        })),
        (true, ids) => {
            let missing = FIELDS
                .iter()
                .zip(ids.iter())
                .find(|(_, v)| v.is_none())
                .map_or(FIELDS[0], |(f, _)| *f);
            Err(Refusal::invalid(
                missing,
                "a major hazard installation names its principal, technical lead and operations lead",
            ))
        }
        (false, ids) => match FIELDS.iter().zip(ids.iter()).find(|(_, v)| v.is_some()) {
            Some((f, _)) => Err(Refusal::invalid(
                *f,
                "only a major hazard installation (major_hazard: true) names 包保 leads",
            )),
            None => Ok(None),
        },
    }
}

/// A unit with its events (each with measures and their duties) and its pauses.
fn unit_detail(conn: &mut DbConn, unit: &RiskUnit) -> Result<Value, StorageError> {
    let evs = events::of_unit(conn, &unit.id)?;
    let ids: Vec<String> = evs.iter().map(|e| e.id.clone()).collect();
    let ms = measures::of_events(conn, &ids)?;
    let mids: Vec<String> = ms.iter().map(|m| m.id.clone()).collect();
    let ds = duties::of_measures(conn, &mids)?;
    let ps = pauses::of_unit(conn, &unit.id)?;
    let measure_json = |m: &measures::Measure| {
        let mut v = json!(m.view());
        v["duties"] = json!(ds
            .iter()
            .filter(|d| d.measure_id == m.id)
            .map(|d| d.view())
            .collect::<Vec<_>>());
        v
    };
    let mut v = json!(unit.view());
    v["events"] = json!(evs
        .iter()
        .map(|e| {
            let mut ev = json!(e.view());
            ev["measures"] = json!(ms
                .iter()
                .filter(|m| m.event_id == e.id)
                .map(measure_json)
                .collect::<Vec<_>>());
            ev
        })
        .collect::<Vec<_>>());
    v["pauses"] = json!(ps.iter().map(|p| p.view()).collect::<Vec<_>>());
    Ok(v)
}

/// `POST /v1/risk/units`: adds a unit at a site (managers of the site, admins).
pub async fn create_unit(
    state: web::Data<AppState>,
    auth: AuthedUser,
    body: web::Json<CreateUnit>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let fields = UnitFields {
        name: text("name", &b.name, 200)?,
        kind: unit_kind(&b.kind)?,
        department: text("department", &b.department, 200)?,
        responsible_id: b.responsible_id.to_string(),
        leads: leads(
            b.major_hazard,
            [b.principal_id, b.technical_lead_id, b.operations_lead_id]
                .map(|u| u.map(|u| u.to_string())),
        )
        .map_err(refused)?,
    };
    let site_id = b.site_id.to_string();
    let unit = write(&state, &auth, move |c, change, who| {
        let site = readable_site(c, who, &site_id)?;
        units::create(c, change, who, &site, fields)
    })
    .await?;
    Ok(HttpResponse::Created().json(unit.view()))
}

/// `GET /v1/risk/units` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitQuery {
    pub site_id: Option<uuid::Uuid>,
    /// blue, yellow, orange or red (the inherent level).
    pub level: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /v1/risk/units`: the units the caller may read, by site and name.
pub async fn list_units(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<UnitQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    if let Some(l) = &q.level {
        l.parse::<Colour>().map_err(|_| {
            ApiError::bad_request("invalid_query", "level must be blue, yellow, orange or red")
        })?;
    }
    let limit = q.limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be 1 to 5000",
        ));
    }
    let who = caller(&auth);
    let list = state
        .db
        .read(move |c| {
            let under_path = match q.site_id {
                Some(s) => Some(readable_site(c, &who, &s.to_string())?.path),
                None => None,
            };
            let f = UnitFilter {
                visible_paths: access::visible_paths(c, &who.org_id, &who.user_id, who.is_admin)?,
                under_path,
                level: q.level,
            };
            units::list(c, &who.org_id, &f, limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": list.iter().map(RiskUnit::view).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/risk/units/{id}`: the unit with its events, measures, duties and pauses.
pub async fn get_unit(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let who = caller(&auth);
    let body = state
        .db
        .read(move |c| {
            let (unit, _) = units::readable(c, &who, &id)?;
            unit_detail(c, &unit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `PATCH /v1/risk/units/{id}`: changes a unit's details; the event keeps old and new values.
pub async fn update_unit(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<UpdateUnit>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let b = body.into_inner();
    let name = b
        .name
        .as_deref()
        .map(|n| text("name", n, 200))
        .transpose()?;
    let kind = b.kind.as_deref().map(unit_kind).transpose()?;
    let department = b
        .department
        .as_deref()
        .map(|d| text("department", d, 200))
        .transpose()?;
    let unit = write(&state, &auth, move |c, change, who| {
        let (unit, site) = units::readable(c, who, &id)?;
        let major = b.major_hazard.unwrap_or(unit.major_hazard);
        let pick = |new: Option<uuid::Uuid>, old: &Option<String>| {
            new.map(|u| u.to_string()).or_else(|| old.clone())
        };
        let ids = if major {
            [
                pick(b.principal_id, &unit.principal_id),
                pick(b.technical_lead_id, &unit.technical_lead_id),
                pick(b.operations_lead_id, &unit.operations_lead_id),
            ]
        } else {
            [b.principal_id, b.technical_lead_id, b.operations_lead_id]
                .map(|u| u.map(|u| u.to_string()))
        };
        let leads = match leads(major, ids) {
            Ok(l) => l,
            Err(r) => return Ok(Err(r)),
        };
        let fields = UnitFields {
            name: name.unwrap_or_else(|| unit.name.clone()),
            kind: kind.unwrap_or_else(|| unit.kind.parse().unwrap_or(UnitKind::Place)),
            department: department.unwrap_or_else(|| unit.department.clone()),
            responsible_id: b
                .responsible_id
                .map(|u| u.to_string())
                .unwrap_or_else(|| unit.responsible_id.clone()),
            leads,
        };
        units::update(c, change, who, &unit, &site, fields)
    })
    .await?;
    Ok(HttpResponse::Ok().json(unit.view()))
}

/// An assessment's inputs in a body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEvent {
    pub name: String,
    pub likelihood: f64,
    pub severity: Option<f64>,
    pub exposure: Option<f64>,
    pub consequence: Option<f64>,
    /// Why it is graded so (kept in the history); "first assessment" when absent.
    pub reason: Option<String>,
}

/// `POST /v1/risk/units/{id}/events`: adds an assessed event; the unit's inherent level follows.
pub async fn create_event(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<CreateEvent>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let b = body.into_inner();
    let name = text("name", &b.name, 200)?;
    let reason = b
        .reason
        .as_deref()
        .map(|r| text("reason", r, 1000))
        .transpose()?;
    let a = Assessment {
        likelihood: b.likelihood,
        severity: b.severity,
        exposure: b.exposure,
        consequence: b.consequence,
    };
    let ev = write(&state, &auth, move |c, change, who| {
        let (unit, site) = units::readable(c, who, &id)?;
        events::create(c, change, who, &unit, &site, name, &a, reason)
    })
    .await?;
    Ok(HttpResponse::Created().json(ev.view()))
}

/// `GET /v1/risk/events/{id}`: the event with its measures and its assessment history.
pub async fn get_event(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let who = caller(&auth);
    let body = state
        .db
        .read(move |c| {
            let (ev, _, _) = events::readable(c, &who, &id)?;
            let ms = measures::of_events(c, std::slice::from_ref(&ev.id))?;
            let history = events::history(c, &ev.id)?;
            let mut v = json!(ev.view());
            v["measures"] = json!(ms.iter().map(|m| m.view()).collect::<Vec<_>>());
            v["history"] = json!(history.iter().map(|h| h.view()).collect::<Vec<_>>());
            Ok(v)
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /v1/risk/events/{id}/assess` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assess {
    pub likelihood: f64,
    pub severity: Option<f64>,
    pub exposure: Option<f64>,
    pub consequence: Option<f64>,
    /// Why the grading changes (required; kept in the history and the event).
    pub reason: String,
}

/// `POST /v1/risk/events/{id}/assess`: assesses again; the history keeps the old values.
pub async fn assess_event(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<Assess>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let b = body.into_inner();
    let reason = text("reason", &b.reason, 1000)?;
    let a = Assessment {
        likelihood: b.likelihood,
        severity: b.severity,
        exposure: b.exposure,
        consequence: b.consequence,
    };
    let ev: RiskEvent = write(&state, &auth, move |c, change, who| {
        let (ev, _, site) = events::readable(c, who, &id)?;
        events::reassess(c, change, who, &ev, &site, &a, reason)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ev.view()))
}
