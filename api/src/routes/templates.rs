//! Checklist templates: import (publishing immutable versions) and reads.

use actix_web::{web, HttpResponse};
use hazardloop_storage::engine::template_view;
use hazardloop_storage::templates;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::{AuthedUser, RequireAdmin};
use crate::error::ApiError;
use crate::mutate::{mark_replayed, mutation, run_one_keyed, Idempotency};

/// `GET /v1/templates` query.
#[derive(Deserialize)]
pub struct TemplateQuery {
    pub key: Option<String>,
}

/// `POST /v1/templates` (admin): the body is a template in the import format. A new key or new
/// content publishes a version (201); content identical to the latest version changes nothing
/// (200).
pub async fn import(
    state: web::Data<AppState>,
    RequireAdmin(auth): RequireAdmin,
    idem: Idempotency,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let args = json!({"template": body.into_inner()});
    let (applied, replayed) = run_one_keyed(
        &state,
        &auth,
        mutation("template.import", args, None),
        &idem,
    )
    .await?;
    Ok(mark_replayed(
        if applied.created {
            HttpResponse::Created().json(applied.entity)
        } else {
            HttpResponse::Ok().json(applied.entity)
        },
        replayed,
    ))
}

/// `GET /v1/templates`: every version (of one key with `?key=`).
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<TemplateQuery>,
) -> Result<HttpResponse, ApiError> {
    let key = q.key.clone();
    let rows = state
        .db
        .read(move |c| templates::list(c, &auth.org_id, key.as_deref()))
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = template_view(r);
            if let Some(o) = v.as_object_mut() {
                o.remove("template");
            }
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET /v1/templates/{key}`: the latest version.
pub async fn latest(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = path.into_inner();
    let row = state
        .db
        .read(move |c| templates::latest(c, &auth.org_id, &key))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(template_view(&row)))
}

/// `GET /v1/templates/{key}/versions/{version}`.
pub async fn version(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<(String, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (key, version) = path.into_inner();
    let row = state
        .db
        .read(move |c| templates::version(c, &auth.org_id, &key, version))
        .await?;
    Ok(HttpResponse::Ok().json(template_view(&row)))
}
