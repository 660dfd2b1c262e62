//! The offline sync protocol: push a device's queue, pull changes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_storage::engine::Caller;
use hazardloop_storage::pull::{self, PullRefusal};
use hazardloop_storage::push::PushRefusal;
use hazardloop_storage::{devices, push};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::mutate::json_body;
use crate::routes::devices::{check_pulling_device, usable_device};

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

/// `POST /v1/sync/push`.
pub async fn push(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&body)?;
    check_schema(&req, Some(&body))?;
    let Some(device_id) = body.get("device_id").and_then(Value::as_str) else {
        return Err(ApiError::invalid_fields(
            &["device_id"],
            "device_id is required",
        ));
    };
    let Some(items) = body.get("mutations").and_then(Value::as_array) else {
        return Err(ApiError::invalid_fields(
            &["mutations"],
            "mutations must be an array",
        ));
    };
    let max = state.config.max_push_mutations;
    if items.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "a push may carry at most {max} mutations; this one has {}. Split the queue",
                items.len()
            ),
        )
        .with("max_batch", json!(max)));
    }
    let device = usable_device(&state, &auth, device_id).await?;
    let caller = Caller {
        user_id: auth.user_id.clone(),
        org_id: auth.org_id.clone(),
        is_admin: auth.is_admin,
        device_id: Some(device.id.clone()),
    };
    let settings = state.config.engine_settings();
    let parsed = push::parse(items);
    match state
        .db
        .write(move |c| push::push(c, &caller, &parsed, settings))
        .await
    {
        Ok(Ok(outcome)) => Ok(HttpResponse::Ok().json(outcome)),
        Ok(Err(PushRefusal::DeviceRevoked)) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "device_revoked",
            "this device was revoked",
        )),
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
