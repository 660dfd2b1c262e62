//! Sign-in, refresh-token rotation and sign-out.

use actix_web::{web, HttpResponse};
use hazardloop_storage::tokens::{self, Rotation};
use hazardloop_storage::{devices, users};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::{random_token, AuthedUser};
use crate::error::ApiError;

/// `POST /v1/auth/login` body.
#[derive(Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Sign in on a registered device: the session is bound to it and dies when it is revoked.
    #[serde(default)]
    pub device_id: Option<String>,
}

/// `POST /v1/auth/refresh` and `/logout` body.
#[derive(Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens handed to a signed-in client.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

async fn issue_tokens(
    state: &AppState,
    user_id: String,
    org_id: String,
    is_admin: bool,
    device_id: Option<String>,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let access = state
        .jwt
        .issue(&user_id, &org_id, is_admin, device_id.as_deref())
        .map_err(ApiError::internal)?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in: state.jwt.ttl_secs(),
        refresh_token,
        refresh_expires_in: state.config.refresh_token_ttl_secs,
        user_id,
        device_id,
    })
}

/// Signs in with e-mail and password. Wrong password and unknown address get the same answer;
/// repeated failures lock the address (recorded in the database, so it holds on every node).
pub async fn login(
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest {
        email,
        password,
        device_id,
    } = body.into_inner();
    let device_id = device_id.map(|d| crate::routes::parse_id(&d)).transpose()?;
    let cfg = state.config.clone();
    let user = crate::auth::sign_in::check_password(&state, email, password).await??;
    let refresh = random_token();
    let stored = refresh.clone();
    let ttl_ms = cfg.refresh_token_ttl_secs * 1000;
    let (uid, org) = (user.id.clone(), user.org_id.clone());
    let device = device_id.clone();
    let revoked = state
        .db
        .write(move |c| {
            if let Some(d) = &device {
                // Only the user's own device, and never a revoked one.
                let d = devices::get_for_user(c, &org, &uid, d)?;
                if d.revoked_at.is_some() {
                    return Ok(true);
                }
            }
            tokens::issue(c, &uid, None, device.as_deref(), &stored, ttl_ms)?;
            Ok(false)
        })
        .await?;
    if revoked {
        return Err(crate::routes::devices::device_revoked());
    }
    let body = issue_tokens(
        &state,
        user.id,
        user.org_id,
        user.is_admin,
        device_id,
        refresh,
    )
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Rotates a refresh token. Presenting one that was already rotated revokes its whole family.
pub async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let presented = body.into_inner().refresh_token;
    let fresh = random_token();
    let stored = fresh.clone();
    let ttl_ms = state.config.refresh_token_ttl_secs * 1000;
    let outcome = state
        .db
        .write(move |c| {
            let r = tokens::rotate(c, &presented, &stored, ttl_ms)?;
            match r {
                Rotation::Rotated { ref user_id, .. } => {
                    let user = users::find_active_by_id(c, user_id)?;
                    Ok((r, user))
                }
                _ => Ok((r, None)),
            }
        })
        .await?;
    match outcome {
        (Rotation::Rotated { device_id, .. }, Some(user)) => {
            let body = issue_tokens(
                &state,
                user.id,
                user.org_id,
                user.is_admin,
                device_id,
                fresh,
            )
            .await?;
            Ok(HttpResponse::Ok().json(body))
        }
        (Rotation::Reused, _) => Err(ApiError::unauthorized(
            "refresh_token_reused",
            "this refresh token was already used; every session of its family is now signed out",
        )),
        _ => Err(ApiError::unauthorized(
            "invalid_refresh_token",
            "the refresh token is unknown, expired or revoked",
        )),
    }
}

/// Signs out: revokes the refresh token's family. The access token expires on its own.
pub async fn logout(
    state: web::Data<AppState>,
    user: AuthedUser,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = body.into_inner().refresh_token;
    state
        .db
        .write(move |c| tokens::revoke_by_token(c, &user.user_id, &token))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
