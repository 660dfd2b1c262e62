//! The offline sync protocol: push a device's queue, pull changes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_storage::pull::{self, PullRefusal};
use hazardloop_storage::push::PushRefusal;
use hazardloop_storage::{devices, push};
use hazardloop_sync::protocol::PushRequest;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::{Acting, AuthedUser};
use crate::error::ApiError;
use crate::mutate::json_body;
use crate::routes::devices::{check_pulling_device, device_revoked, usable_device};

/// The newest sync schema this server speaks.
pub const SCHEMA_VERSION: i64 = 1;

/// Refuses clients that speak a newer schema than this server knows.
pub fn check_schema(req: &HttpRequest, body: Option<&Value>) -> Result<(), ApiError> {
    let header = req
        .headers()
        .get("x-schema-version")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_schema_version",
                    "X-Schema-Version must be an integer",
                )
            })
        })
        .transpose()?;
    let in_body = body
        .and_then(|b| b.get("schema_version"))
        .and_then(Value::as_i64);
    let version = header.or(in_body).unwrap_or(SCHEMA_VERSION);
    if version > SCHEMA_VERSION || version < 1 {
        return Err(ApiError::bad_request(
            "unsupported_schema_version",
            format!("this server speaks sync schema {SCHEMA_VERSION}; the app sent {version}. Update the server, or use an app version that speaks schema {SCHEMA_VERSION}"),
        )
        .with("supported", json!([SCHEMA_VERSION])));
    }
    Ok(())
}

/// `POST /v1/sync/push`: the body is read into a [`PushRequest`] (`hazardloop_sync`), the
/// device checked, and the batch planned and run by `storage::push::push` in one write
/// transaction; the answer is its [`PushResponse`](hazardloop_sync::protocol::PushResponse).
pub async fn push(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    check_schema(&req, Some(&body))?;
    let request = PushRequest::from_json(&body)
        .map_err(|e| ApiError::invalid_fields(&[e.field()], e.message()))?;
    drop(body);
    let max = state.config.max_push_mutations;
    if request.items.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "a push may carry at most {max} mutations; this one has {}. Split the queue",
                request.items.len()
            ),
        )
        .with("max_batch", json!(max)));
    }
    let device = usable_device(&state, &auth, &request.device_id).await?;
    let Acting { caller, settings } = auth.acting_on(&state, Some(&device.id));
    let items = request.items;
    match state
        .db
        .write(move |c| push::push(c, &caller, &items, settings))
        .await
    {
        Ok(Ok(response)) => Ok(HttpResponse::Ok().json(response)),
        // Revoked between the check above and the transaction's lock of the device row.
        Ok(Err(PushRefusal::DeviceRevoked)) => Err(device_revoked()),
        Err(e) => {
            // Nothing of this batch was applied; tell the phone where to continue.
            // Transient (database gone, a race on a unique key): the retry will tell.
            tracing::error!(error = %e, "push failed; nothing applied");
            let (org, user, id) = (auth.org_id.clone(), auth.user_id.clone(), device.id.clone());
            let applied = state
                .db
                .read(move |c| devices::get_for_user(c, &org, &user, &id))
                .await
                .map(|d| d.last_seq)
                .unwrap_or(device.last_seq);
            Err(ApiError::unavailable("the push could not be applied; nothing of it took effect. Retry from applied_through + 1")
                .with("applied_through", json!(applied)))
        }
    }
}

/// `GET /v1/sync/pull` query.
#[derive(Deserialize)]
pub struct PullQuery {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    pub device_id: Option<String>,
}

/// `GET /v1/sync/pull`.
pub async fn pull(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    q: web::Query<PullQuery>,
) -> Result<HttpResponse, ApiError> {
    check_schema(&req, None)?;
    // The device named in the query or, for a session signed in on a device, that device:
    // a revoked one cannot pull.
    check_pulling_device(&state, &auth, q.device_id.as_deref()).await?;
    // Clamped by the pull: up to 5000 in the first snapshot's pages, 1000 after.
    let limit = q.limit.unwrap_or(500);
    let cursor = q.cursor.clone();
    let key = state.jwt.cursor_key();
    let page = state
        .db
        .read(move |c| {
            let seal = pull::CursorSeal {
                key: &key,
                org_id: &auth.org_id,
                user_id: &auth.user_id,
            };
            pull::pull(c, seal, auth.is_admin, cursor.as_deref(), limit)
        })
        .await?;
    match page {
        Ok(p) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(p.to_json())),
        Err(PullRefusal::BadCursor) => Err(ApiError::bad_request("invalid_cursor", "the cursor was not made by this server")),
        Err(PullRefusal::ResetRequired { pruned_seq }) => Err(ApiError::new(
            StatusCode::GONE,
            "reset_required",
            "the cursor is older than the tombstone retention: pull again without a cursor (keep the unpushed queue)",
        )
        .with("pruned_seq", json!(pruned_seq.to_string()))),
    }
}
