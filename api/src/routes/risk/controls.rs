//! The register's controls: control measures, their check duties, and unit pauses.

use actix_web::{web, HttpResponse};
use hazardloop_storage::risk::duties::{self, DutyFields};
use hazardloop_storage::risk::events::{self};
use hazardloop_storage::risk::measures::{self, MeasureFields};
use hazardloop_storage::risk::pauses;
use hazardloop_storage::risk::units::{self};
use hazardloop_sync::risk::cycle::CycleUnit;
use hazardloop_sync::risk::register::MeasureCategory;
use hazardloop_sync::risk::{Cycle, DayRule, WorkWindow};
use serde::Deserialize;

use super::{refused, text, time, write};
use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::parse_id;

/// `POST /v1/risk/events/{id}/measures` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMeasure {
    pub name: String,
    /// engineering, maintenance, operations or emergency.
    pub category: String,
    /// The second level (process control, critical equipment, PPE...), free text.
    #[serde(default)]
    pub subcategory: String,
    /// What to check (排查内容).
    pub check_content: String,
}

/// `POST /v1/risk/events/{id}/measures`: adds a control measure.
pub async fn create_measure(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<CreateMeasure>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let b = body.into_inner();
    let subcategory = b.subcategory.trim().to_string();
    if subcategory.chars().count() > 200 || subcategory.contains('\0') {
        return Err(ApiError::invalid_fields(
            &["subcategory"],
            "subcategory must be at most 200 characters, without NUL",
        ));
    }
    let fields = MeasureFields {
        name: text("name", &b.name, 500)?,
        category: b.category.parse::<MeasureCategory>().map_err(|_| {
            ApiError::invalid_fields(
                &["category"],
                "category must be engineering, maintenance, operations or emergency",
            )
        })?,
        subcategory,
        check_content: text("check_content", &b.check_content, 2000)?,
    };
    let m = write(&state, &auth, move |c, change, who| {
        let (ev, _, site) = events::readable(c, who, &id)?;
        measures::create(c, change, who, &ev, &site, fields)
    })
    .await?;
    Ok(HttpResponse::Created().json(m.view()))
}

/// A duty's cycle in a body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleBody {
    /// hour, day, week, month, quarter or year.
    pub unit: String,
    pub every: u16,
}

/// A working window in a body (`HH:MM`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    pub start: String,
    pub end: String,
}

/// `POST /v1/risk/measures/{id}/duties` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDuty {
    pub cycle: CycleBody,
    pub window: WindowBody,
    /// every_day (default) or workdays.
    pub day_rule: Option<String>,
    /// `YYYY-MM-DD`, local; today when absent.
    pub anchor: Option<String>,
    pub assignee_id: Option<uuid::Uuid>,
    pub post: Option<String>,
    /// principal, technical_lead or operations_lead: the duty of a major hazard's 包保 lead.
    pub lead_role: Option<String>,
}

/// `POST /v1/risk/measures/{id}/duties`: gives a measure a check duty.
pub async fn create_duty(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<CreateDuty>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let b = body.into_inner();
    let unit = b.cycle.unit.parse::<CycleUnit>().map_err(|_| {
        ApiError::invalid_fields(
            &["cycle.unit"],
            "cycle.unit must be hour, day, week, month, quarter or year",
        )
    })?;
    let window =
        WorkWindow::parse(&b.window.start, &b.window.end).map_err(|e| refused(e.into()))?;
    let days = match b.day_rule.as_deref() {
        None => DayRule::EveryDay,
        Some(d) => d.parse().map_err(|_| {
            ApiError::invalid_fields(&["day_rule"], "day_rule must be every_day or workdays")
        })?,
    };
    let fields = DutyFields {
        cycle: Cycle {
            unit,
            every: b.cycle.every,
        },
        window,
        days,
        anchor: b.anchor,
        assignee_id: b.assignee_id.map(|u| u.to_string()),
        post: b.post,
        lead_role: b.lead_role,
    };
    let d = write(&state, &auth, move |c, change, who| {
        let (m, ev, unit, site) = measures::readable(c, who, &id)?;
        duties::create(c, change, who, &m, &ev, &unit, &site, fields)
    })
    .await?;
    Ok(HttpResponse::Created().json(d.view()))
}

/// `POST /v1/risk/units/{id}/pauses` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePause {
    pub start_at: String,
    pub end_at: String,
    /// Why (停用, 检维修...).
    pub reason: String,
}

/// `POST /v1/risk/units/{id}/pauses`: pauses a unit; open tasks it covers are withdrawn.
pub async fn create_pause(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<CreatePause>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let b = body.into_inner();
    let start = time("start_at", &b.start_at)?;
    let end = time("end_at", &b.end_at)?;
    let reason = text("reason", &b.reason, 1000)?;
    let p = write(&state, &auth, move |c, change, who| {
        let (unit, site) = units::readable(c, who, &id)?;
        pauses::create(c, change, who, &unit, &site, start, end, reason)
    })
    .await?;
    Ok(HttpResponse::Created().json(p.view()))
}
