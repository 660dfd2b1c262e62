//! Changing a control measure, and stopping or restarting a check duty.

use actix_web::{web, HttpResponse};
use hazardloop_storage::risk::duties;
use hazardloop_storage::risk::measures::{self, MeasureFields};
use hazardloop_sync::risk::register::MeasureCategory;
use serde::Deserialize;

use super::{text, write};
use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::parse_id;

/// `PATCH /v1/risk/measures/{id}` body: the fields to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeasure {
    pub name: Option<String>,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub check_content: Option<String>,
}

/// `PATCH /v1/risk/measures/{id}`: changes a measure; the event keeps old and new values.
pub async fn update_measure(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<UpdateMeasure>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let b = body.into_inner();
    let name = b
        .name
        .as_deref()
        .map(|n| text("name", n, 500))
        .transpose()?;
    let category = b
        .category
        .as_deref()
        .map(|c| {
            c.parse::<MeasureCategory>().map_err(|_| {
                ApiError::invalid_fields(
                    &["category"],
                    "category must be engineering, maintenance, operations or emergency",
                )
            })
        })
        .transpose()?;
    let subcategory = match b.subcategory {
        Some(s) if s.chars().count() > 200 || s.contains('\0') => {
            return Err(ApiError::invalid_fields(
                &["subcategory"],
                "subcategory must be at most 200 characters, without NUL",
            ))
        }
        other => other.map(|s| s.trim().to_string()),
    };
    let check_content = b
        .check_content
        .as_deref()
        .map(|c| text("check_content", c, 2000))
        .transpose()?;
    let m = write(&state, &auth, move |c, change, who| {
        let (m, _, _, site) = measures::readable(c, who, &id)?;
        let fields = MeasureFields {
            name: name.unwrap_or_else(|| m.name.clone()),
            category: category
                .or_else(|| m.category.parse().ok())
                .unwrap_or(MeasureCategory::Operations),
            subcategory: subcategory.unwrap_or_else(|| m.subcategory.clone()),
            check_content: check_content.unwrap_or_else(|| m.check_content.clone()),
        };
        measures::update(c, change, who, &m, &site, fields)
    })
    .await?;
    Ok(HttpResponse::Ok().json(m.view()))
}

/// `PATCH /v1/risk/duties/{id}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateDuty {
    /// false stops the duty, true starts it again.
    pub active: bool,
}

/// `PATCH /v1/risk/duties/{id}`: stops a duty (tasks not yet open are withdrawn) or starts it
/// again (tasks from now on).
pub async fn update_duty(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<UpdateDuty>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let active = body.into_inner().active;
    let d = write(&state, &auth, move |c, change, who| {
        let (d, _, _, _, site) = duties::readable(c, who, &id)?;
        duties::set_active(c, change, who, &d, &site, active)
    })
    .await?;
    Ok(HttpResponse::Ok().json(d.view()))
}
