//! Integration clients: created by an admin (the secret is shown once), and the OAuth 2.0
//! client-credentials token endpoint.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use hazardloop_storage::clients::{self, ApiClient, NewClient};
use hazardloop_storage::tokens::hash_token;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::{random_token, AuthedUser};
use crate::error::ApiError;
use crate::routes::{parse_id, rfc3339, SCOPES};

/// `POST /v1/clients` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    pub name: String,
    pub scopes: Vec<String>,
    /// Limit the client to these sites (and their subtrees); absent: the whole organisation.
    pub site_ids: Option<Vec<uuid::Uuid>>,
}

fn client_json(c: &ApiClient) -> Value {
    json!({
        "id": c.id,
        "client_id": c.id,
        "name": c.name,
        "scopes": c.scope_list(),
        "site_ids": c.sites(),
        "created_at": rfc3339(c.created_at),
        "revoked_at": c.revoked_at.map(rfc3339),
    })
}

fn require_person_admin(auth: &AuthedUser) -> Result<(), ApiError> {
    if auth.is_client() {
        return Err(ApiError::forbidden("clients cannot manage clients"));
    }
    auth.require_admin()
}

/// `POST /v1/clients` (admin): returns the client with `client_secret`, shown this once.
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthedUser,
    body: web::Json<CreateClient>,
) -> Result<HttpResponse, ApiError> {
    require_person_admin(&auth)?;
    let b = body.into_inner();
    if b.name.trim().is_empty() || b.name.len() > 200 {
        return Err(ApiError::invalid_fields(
            &["name"],
            "name must be 1 to 200 characters",
        ));
    }
    if b.scopes.is_empty() {
        return Err(ApiError::invalid_fields(
            &["scopes"],
            "give at least one scope",
        ));
    }
    if let Some(bad) = b.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(ApiError::invalid_fields(
            &["scopes"],
            format!("unknown scope {bad:?}; known: {}", SCOPES.join(", ")),
        )
        .with("known", json!(SCOPES)));
    }
    let secret = format!("hlcs_{}", random_token());
    let hash = hash_token(&secret);
    let sites: Option<Vec<String>> = b
        .site_ids
        .map(|v| v.iter().map(|u| u.to_string()).collect());
    let mut scopes = b.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let name = b.name.trim().to_string();
    let client = state
        .db
        .write(move |c| {
            clients::create(
                c,
                NewClient {
                    org_id: &auth.org_id,
                    name: &name,
                    scopes: &scopes,
                    site_ids: sites.as_deref(),
                    created_by: &auth.user_id,
                    secret_hash: &hash,
                },
            )
        })
        .await
        .map_err(|e| match e {
            hazardloop_storage::StorageError::Invalid(m) => {
                ApiError::invalid_fields(&["site_ids"], m)
            }
            other => other.into(),
        })?;
    let mut body = client_json(&client);
    body["client_secret"] = json!(secret);
    Ok(HttpResponse::Created().json(body))
}

/// `GET /v1/clients` (admin).
pub async fn list(state: web::Data<AppState>, auth: AuthedUser) -> Result<HttpResponse, ApiError> {
    require_person_admin(&auth)?;
    let rows = state
        .db
        .read(move |c| clients::list(c, &auth.org_id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"items": rows.iter().map(client_json).collect::<Vec<_>>()})))
}

/// `DELETE /v1/clients/{id}` (admin): no new tokens from now on; tokens already issued expire
/// within `client_token_ttl_secs`.
pub async fn revoke(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_person_admin(&auth)?;
    let id = parse_id(&path)?;
    state
        .db
        .write(move |c| clients::revoke(c, &auth.org_id, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

fn oauth_error(status: StatusCode, error: &'static str, description: &str) -> ApiError {
    ApiError::new(status, error, description.to_string())
        .with("error", json!(error))
        .with("error_description", json!(description))
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// `POST /v1/auth/token`: OAuth 2.0 client credentials, form-encoded (RFC 6749) or JSON; the
/// credentials in the body or as HTTP Basic. Returns a scoped access token.
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mut form: TokenRequest = if content_type.starts_with("application/json") {
        serde_json::from_slice(&body).map_err(|e| {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("the body is not valid JSON: {e}"),
            )
        })?
    } else if content_type.starts_with("application/x-www-form-urlencoded") || body.is_empty() {
        serde_urlencoded::from_bytes(&body).map_err(|e| {
            oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("the form is malformed: {e}"),
            )
        })?
    } else {
        return Err(oauth_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "send application/x-www-form-urlencoded or application/json",
        ));
    };
    // RFC 6749 section 5.2: the challenge names the scheme clients authenticate with here.
    let invalid_client = |description: &str| {
        let mut e = oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
        e.headers
            .push(("www-authenticate", "Basic realm=\"hazardloop\""));
        e
    };
    if let Some((id, secret)) = basic_credentials(&req) {
        form.client_id.get_or_insert(id);
        form.client_secret.get_or_insert(secret);
    }
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            ))
        }
        None => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            ))
        }
    }
    let (Some(id), Some(secret)) = (form.client_id, form.client_secret) else {
        return Err(invalid_client("client_id and client_secret are required"));
    };
    let lookup = id.clone();
    let client = match uuid::Uuid::parse_str(&lookup) {
        Ok(u) => {
            state
                .db
                .read(move |c| clients::find_live(c, &u.to_string()))
                .await?
        }
        Err(_) => None,
    };
    let Some(client) = client.filter(|c| {
        use sha2::Digest;
        let presented = hash_token(&secret);
        // Compare digests, not secrets: equal-length hex, so the comparison leaks nothing useful.
        sha2::Sha256::digest(presented.as_bytes()) == sha2::Sha256::digest(c.secret_hash.as_bytes())
    }) else {
        return Err(invalid_client("unknown client or wrong secret"));
    };
    let granted = client.scope_list();
    let scopes: Vec<String> = match form
        .scope
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => granted,
        Some(asked) => {
            let asked: Vec<String> = asked.split_whitespace().map(str::to_string).collect();
            if let Some(extra) = asked.iter().find(|s| !granted.contains(s)) {
                return Err(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    &format!("scope {extra} was not granted to this client"),
                ));
            }
            asked
        }
    };
    let ttl = state.config.client_token_ttl_secs;
    let access = state
        .jwt
        .issue_client(
            &client.id,
            &client.org_id,
            client.sites().is_none(),
            &scopes,
            ttl,
        )
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": scopes.join(" "),
        })))
}
