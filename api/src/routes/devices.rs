//! Devices: register, list, revoke.

use actix_web::{web, HttpResponse};
use hazardloop_storage::devices::{self, Device};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::{parse_id, rfc3339};

/// `POST /v1/devices` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterDevice {
    pub name: String,
    pub platform: String,
    pub app_version: String,
}

/// The public view of a device.
pub fn device_json(d: &Device) -> Value {
    json!({
        "id": d.id,
        "user_id": d.user_id,
        "name": d.name,
        "platform": d.platform,
        "app_version": d.app_version,
        "last_seq": d.last_seq,
        "created_at": rfc3339(d.created_at),
        "last_seen_at": d.last_seen_at.map(rfc3339),
        "revoked_at": d.revoked_at.map(rfc3339),
    })
}

/// `POST /v1/devices`: registers a device for the signed-in user; its queue starts at seq 1.
pub async fn register(
    state: web::Data<AppState>,
    auth: AuthedUser,
    body: web::Json<RegisterDevice>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    for (field, v, max) in [
        ("name", &b.name, 200),
        ("platform", &b.platform, 50),
        ("app_version", &b.app_version, 50),
    ] {
        if v.trim().is_empty() || v.len() > max {
            return Err(ApiError::invalid_fields(
                &[field],
                format!("{field} must be 1 to {max} characters"),
            ));
        }
    }
    let d = state
        .db
        .write(move |c| {
            devices::register(
                c,
                &auth.org_id,
                &auth.user_id,
                b.name.trim(),
                b.platform.trim(),
                b.app_version.trim(),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(device_json(&d)))
}

/// `GET /v1/devices`: the signed-in user's devices.
pub async fn list(state: web::Data<AppState>, auth: AuthedUser) -> Result<HttpResponse, ApiError> {
    let list = state
        .db
        .read(move |c| devices::list_for_user(c, &auth.org_id, &auth.user_id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"items": list.iter().map(device_json).collect::<Vec<_>>()})))
}

/// `DELETE /v1/devices/{id}`: revokes one of the user's devices; it can no longer push or pull.
pub async fn revoke(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    state
        .db
        .write(move |c| {
            let d = devices::get_for_user(c, &auth.org_id, &auth.user_id, &id)?;
            devices::revoke(c, &d)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Loads the caller's device for a sync request: unknown is 404, revoked is 403, and a session
/// signed in on another device is 403 `device_mismatch`.
pub async fn usable_device(
    state: &AppState,
    auth: &AuthedUser,
    id: &str,
) -> Result<Device, ApiError> {
    let id = parse_id(id)?;
    if auth.device_id.as_ref().is_some_and(|bound| *bound != id) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "device_mismatch",
            "this session was signed in on another device",
        ));
    }
    let (org, user) = (auth.org_id.clone(), auth.user_id.clone());
    let d = state
        .db
        .read(move |c| devices::get_for_user(c, &org, &user, &id))
        .await?;
    if d.revoked_at.is_some() {
        return Err(device_revoked());
    }
    Ok(d)
}

/// 403 `device_revoked`.
pub fn device_revoked() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::FORBIDDEN,
        "device_revoked",
        "this device was revoked; register it anew",
    )
}

/// A pull's device check: the device it names or, for a session signed in on a device, that
/// one must be usable ([`usable_device`]). Nothing to check for a session without a device
/// that names none.
pub async fn check_pulling_device(
    state: &AppState,
    auth: &AuthedUser,
    named: Option<&str>,
) -> Result<(), ApiError> {
    match named.or(auth.device_id.as_deref()) {
        Some(id) => usable_device(state, auth, id).await.map(|_| ()),
        None => Ok(()),
    }
}
