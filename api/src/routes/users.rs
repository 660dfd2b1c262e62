//! Organisation admins manage users and their role per site.

use actix_web::{web, HttpResponse};
use hazardloop_storage::users::{self, Membership, NewUser, User};
use hazardloop_sync::Role;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::{password, RequireAdmin};
use crate::error::ApiError;
use crate::routes::{parse_id, rfc3339};

/// `POST /v1/users` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    pub memberships: Vec<MembershipInput>,
}

/// One role at one site.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipInput {
    pub site_id: uuid::Uuid,
    pub role: Role,
}

/// `GET /v1/users` query.
#[derive(Deserialize)]
pub struct Page {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The public JSON of a user (never the password hash).
pub fn user_json(user: &User, memberships: &[Membership]) -> Value {
    json!({
        "id": user.id,
        "org_id": user.org_id,
        "email": user.email,
        "name": user.name,
        "is_admin": user.is_admin,
        "active": user.active,
        "created_at": rfc3339(user.created_at),
        "memberships": memberships.iter().map(|m| json!({"site_id": m.site_id, "role": m.role})).collect::<Vec<_>>(),
    })
}

fn roles_of(input: Vec<MembershipInput>) -> Result<Vec<(String, Role)>, ApiError> {
    let mut out: Vec<(String, Role)> = Vec::with_capacity(input.len());
    for m in input {
        if m.role == Role::Admin {
            return Err(ApiError::invalid_fields(
                &["role"],
                "admin is organisation-wide: set is_admin on the user instead",
            ));
        }
        let id = m.site_id.to_string();
        if out.iter().any(|(s, _)| *s == id) {
            return Err(ApiError::invalid_fields(
                &["site_id"],
                format!("site {id} is listed twice"),
            ));
        }
        out.push((id, m.role));
    }
    Ok(out)
}

/// `POST /v1/users`.
pub async fn create(
    state: web::Data<AppState>,
    RequireAdmin(admin): RequireAdmin,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = users::normalise_email(&body.email);
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::invalid_fields(
            &["email"],
            "not an e-mail address",
        ));
    }
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::invalid_fields(
            &["name"],
            "name must be 1 to 200 characters",
        ));
    }
    if body.password.chars().count() < password::MIN_PASSWORD_LEN {
        return Err(ApiError::invalid_fields(
            &["password"],
            format!(
                "password must be at least {} characters",
                password::MIN_PASSWORD_LEN
            ),
        ));
    }
    let roles = roles_of(body.memberships)?;
    let pw = body.password;
    let hash = web::block(move || password::hash(&pw))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(ApiError::internal)?;
    let name = body.name.trim().to_string();
    let is_admin = body.is_admin;
    let (user, memberships) = state
        .db
        .write(move |c| {
            let user = users::create(
                c,
                NewUser {
                    org_id: &admin.org_id,
                    email: &email,
                    name: &name,
                    password_hash: &hash,
                    is_admin,
                    kind: "person",
                },
            )?;
            let memberships = users::set_memberships(c, &user, &roles)?;
            Ok((user, memberships))
        })
        .await
        .map_err(|e| match e {
            hazardloop_storage::StorageError::Conflict(m) => ApiError::conflict("email_taken", m),
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(user_json(&user, &memberships)))
}

/// `GET /v1/users`: a page of the organisation's users.
pub async fn list(
    state: web::Data<AppState>,
    RequireAdmin(admin): RequireAdmin,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit.unwrap_or(50).clamp(1, 500);
    let after = page.cursor.clone();
    let rows = state
        .db
        .read(move |c| {
            let list = users::list(c, &admin.org_id, after.as_deref(), limit)?;
            list.into_iter()
                .map(|u| {
                    let m = users::memberships(c, &u.id)?;
                    Ok((u, m))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|(u, _)| u.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({
        "items": rows.iter().map(|(u, m)| user_json(u, m)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `PUT /v1/users/{id}/memberships`: replaces the user's roles per site.
pub async fn set_memberships(
    state: web::Data<AppState>,
    RequireAdmin(admin): RequireAdmin,
    path: web::Path<String>,
    body: web::Json<Vec<MembershipInput>>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let roles = roles_of(body.into_inner())?;
    let (user, memberships) = state
        .db
        .write(move |c| {
            let user = users::get(c, &admin.org_id, &id)?;
            let m = users::set_memberships(c, &user, &roles)?;
            Ok((user, m))
        })
        .await?;
    Ok(HttpResponse::Ok().json(user_json(&user, &memberships)))
}
