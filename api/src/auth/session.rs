//! The signed-in caller, extracted from `Authorization: Bearer <token>`.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use crate::app::AppState;
use crate::error::ApiError;

/// A request authenticated with a valid access token: a signed-in person, or an integration
/// client acting through its own principal (`user_id` is then the client's principal id).
#[derive(Debug, Clone)]
pub struct AuthedUser {
    pub user_id: String,
    pub org_id: String,
    pub is_admin: bool,
    /// The scopes of an integration client's token; `None` for a person (whose role decides).
    pub scopes: Option<Vec<String>>,
    /// The registered device the session was signed in on (`device_id` at sign-in).
    pub device_id: Option<String>,
}

impl AuthedUser {
    /// Fails with 403 `insufficient_scope` when a client token lacks `scope`. People are
    /// limited by their roles instead.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        match &self.scopes {
            Some(s) if !s.iter().any(|x| x == scope) => Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!("this token lacks the scope {scope}"),
            )
            .with("required_scope", serde_json::json!(scope))),
            _ => Ok(()),
        }
    }

    /// True for an integration client's token.
    pub fn is_client(&self) -> bool {
        self.scopes.is_some()
    }

    /// Fails with 403 unless the caller is an organisation admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this action needs an organisation admin",
            ))
        }
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthedUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "sign in and send Authorization: Bearer <token>",
            )
        })?;
    let value = header.to_str().map_err(|_| {
        ApiError::unauthorized("invalid_token", "the Authorization header is not text")
    })?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "expected a Bearer token"))?;
    let claims = state.jwt.validate(token.trim()).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::ExpiredSignature => {
                ApiError::unauthorized("token_expired", "the access token has expired; refresh it")
            }
            _ => ApiError::unauthorized("invalid_token", "the access token is not valid"),
        }
    })?;
    let user = AuthedUser {
        user_id: claims.sub,
        org_id: claims.org,
        is_admin: claims.adm,
        scopes: claims
            .scope
            .map(|s| s.split_whitespace().map(str::to_string).collect()),
        device_id: claims.dev,
    };
    if user.is_client() {
        let pattern = req.match_pattern().unwrap_or_default();
        match crate::routes::scope_for(req.method().as_str(), &pattern) {
            "public" | "any" => {}
            "person" => {
                return Err(ApiError::new(
                    actix_web::http::StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "integration clients cannot use this route; it is for people",
                ))
            }
            scope => user.require_scope(scope)?,
        }
        state.limiter.check(&user.user_id)?;
    }
    Ok(user)
}

impl FromRequest for AuthedUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// A signed-in organisation admin; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct RequireAdmin(pub AuthedUser);

impl FromRequest for RequireAdmin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|u| {
            u.require_admin()?;
            Ok(RequireAdmin(u))
        }))
    }
}
