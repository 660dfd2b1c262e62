//! Inspections: start, answer, submit, delete (drafts only), read.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use hazardloop_storage::inspections::{self, InspectionFilter};
use hazardloop_storage::{access, StorageError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::mutate::{
    json_body, mark_replayed, mutation, run_keyed, run_one_keyed, with_args, Idempotency,
};
use crate::routes::parse_id;

/// `GET /v1/inspections` query.
#[derive(Deserialize)]
pub struct InspectionQuery {
    pub site_id: Option<uuid::Uuid>,
    pub status: Option<String>,
    pub inspector_id: Option<uuid::Uuid>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// `POST /v1/inspections`: start a draft (`site_id`, `template_key` [+ `template_version`] or
/// `template_id`, optional `id`, `started_at`, `gps`).
pub async fn start(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let args = with_args(body.into_inner(), &[])?;
    let (applied, replayed) = run_one_keyed(
        &state,
        &auth,
        mutation("inspection.start", args, None),
        &idem,
    )
    .await?;
    Ok(mark_replayed(
        HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/v1/inspections/{}", applied.entity_id),
            ))
            .json(applied.entity),
        replayed,
    ))
}

/// `PUT /v1/inspections/{id}/answers`: `{item_key: value, ...}`, all or nothing.
pub async fn answer(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let Value::Object(answers) = body.into_inner() else {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "the body must be an object of item_key: value",
        ));
    };
    if answers.is_empty() {
        return Err(ApiError::invalid_fields(&["answers"], "no answers given"));
    }
    let mutations = answers
        .into_iter()
        .map(|(k, v)| {
            mutation(
                "inspection.answer",
                json!({"inspection_id": id, "item_key": k, "value": v}),
                None,
            )
        })
        .collect();
    let (applied, replayed) = run_keyed(&state, &auth, mutations, &idem).await?;
    let last = applied
        .last()
        .ok_or_else(|| ApiError::internal("no outcome"))?;
    Ok(mark_replayed(
        HttpResponse::Ok().json(&last.entity),
        replayed,
    ))
}

/// `POST /v1/inspections/{id}/submit`: required items must be answered; raises one hazard per
/// answer that the template says raises one, once, however often submit is retried.
pub async fn submit(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let args = with_args(json_body(&body)?, &[("inspection_id", json!(id))])?;
    let (applied, replayed) = run_one_keyed(
        &state,
        &auth,
        mutation("inspection.submit", args, None),
        &idem,
    )
    .await?;
    Ok(mark_replayed(
        HttpResponse::Ok().json(applied.entity),
        replayed,
    ))
}

/// `DELETE /v1/inspections/{id}`: drafts only; a submitted inspection is never deleted.
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let m = mutation("inspection.delete", json!({"inspection_id": id}), None);
    let (_, replayed) = run_one_keyed(&state, &auth, m, &idem).await?;
    Ok(mark_replayed(HttpResponse::NoContent().finish(), replayed))
}

/// The inspections the caller may read, with their answers (shared with the console).
pub fn list_for(
    c: &mut hazardloop_storage::DbConn,
    auth: &AuthedUser,
    mut filter: InspectionFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<(inspections::Inspection, Vec<inspections::Answer>)>, StorageError> {
    filter.visible_sites = access::visible_site_ids(c, &auth.org_id, &auth.user_id, auth.is_admin)?;
    let rows = inspections::list(c, &auth.org_id, &filter, after, limit)?;
    rows.into_iter()
        .map(|r| {
            let a = inspections::answers_of(c, &r.id)?;
            Ok((r, a))
        })
        .collect()
}

/// One inspection the caller may read, with its answers; one they may not is not found
/// (visibility before the lookup, at the cost of a random id).
pub fn get_for(
    c: &mut hazardloop_storage::DbConn,
    auth: &AuthedUser,
    id: &str,
) -> Result<(inspections::Inspection, Vec<inspections::Answer>), StorageError> {
    let visibility = access::visibility(c, &auth.org_id, &auth.user_id, auth.is_admin)?;
    let (row, _) = inspections::find_with_site(c, &auth.org_id, id)?
        .filter(|(row, site)| visibility.sees(site) && !row.deleted)
        .ok_or(StorageError::NotFound)?;
    let a = inspections::answers_of(c, &row.id)?;
    Ok((row, a))
}

/// `GET /v1/inspections`.
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<InspectionQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let after = q.cursor.clone();
    let filter = InspectionFilter {
        visible_sites: None,
        site_ids: q.site_id.map(|s| vec![s.to_string()]),
        status: q.status.clone(),
        inspector_id: q.inspector_id.map(|s| s.to_string()),
    };
    let rows = state
        .db
        .read(move |c| {
            list_for(c, &auth, filter, after.as_deref(), limit)?
                .into_iter()
                .map(|(r, a)| Ok(r.view(&a)))
                .collect::<Result<Vec<_>, StorageError>>()
        })
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({"items": rows, "next_cursor": next})))
}

/// `GET /v1/inspections/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let view = state
        .db
        .read(move |c| {
            let (row, a) = get_for(c, &auth, &id)?;
            Ok(row.view(&a))
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
