//! A webhook's delivery log: listing, one delivery, and manual redelivery.

use actix_web::{web, HttpResponse};
use hazardloop_storage::{now_ms, webhooks, StorageError};
use serde::Deserialize;
use serde_json::json;

use super::{authorise, delivery_json};
use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::parse_id;

/// `GET /v1/webhooks/{id}/deliveries` query.
#[derive(Deserialize)]
pub struct DeliveryQuery {
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /v1/webhooks/{id}/deliveries`: the delivery log, newest first.
pub async fn deliveries(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    q: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    authorise(&auth)?;
    let id = parse_id(&path)?;
    let status = match q.status.as_deref() {
        None | Some("all") => None,
        Some(s @ (webhooks::PENDING | webhooks::DELIVERED | webhooks::FAILED)) => {
            Some(s.to_string())
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("status {other:?}: use pending, delivered, failed or all"),
            ))
        }
    };
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            uuid::Uuid::parse_str(c)
                .map(|u| u.to_string())
                .map_err(|_| ApiError::bad_request("invalid_cursor", "the cursor is not valid"))?,
        ),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rows = state
        .db
        .read(move |c| {
            webhooks::deliveries(
                c,
                &auth.org_id,
                &id,
                status.as_deref(),
                after.as_deref(),
                limit,
            )
        })
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({
        "items": rows.iter().map(|d| delivery_json(d, false)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `GET /v1/webhooks/{id}/deliveries/{delivery_id}`: one delivery with the body it sends.
pub async fn delivery(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    authorise(&auth)?;
    let (id, delivery_id) = (parse_id(&path.0)?, parse_id(&path.1)?);
    let d = state
        .db
        .read(move |c| {
            webhooks::get(c, &auth.org_id, &id)?;
            webhooks::delivery(c, &auth.org_id, &id, &delivery_id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(delivery_json(&d, true)))
}

/// `POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver`: sends the delivery's message
/// again now, as a new delivery with the same `webhook-id`.
pub async fn redeliver(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    authorise(&auth)?;
    let (id, delivery_id) = (parse_id(&path.0)?, parse_id(&path.1)?);
    let d = state
        .db
        .write(move |c| webhooks::redeliver(c, &auth.org_id, &id, &delivery_id, now_ms()))
        .await
        .map_err(|e| match e {
            StorageError::Conflict(m) => ApiError::conflict(
                "webhook_disabled",
                format!("{m}; enable it with PATCH {{\"active\": true}} first"),
            ),
            other => other.into(),
        })?;
    Ok(HttpResponse::Accepted().json(delivery_json(&d, false)))
}
