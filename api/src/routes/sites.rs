//! The site tree.

use actix_web::{web, HttpResponse};
use hazardloop_storage::sites::{self, Site};
use hazardloop_storage::users;
use hazardloop_sync::Role;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::{AuthedUser, RequireAdmin};
use crate::error::ApiError;
use crate::routes::{parse_id, rfc3339};

/// `POST /v1/sites` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSite {
    pub name: String,
    /// company, plant, workshop, area (free text; default `area`).
    #[serde(default)]
    pub kind: Option<String>,
    pub parent_id: Option<uuid::Uuid>,
}

/// The public JSON of a site.
pub fn site_json(site: &Site) -> Value {
    json!({
        "id": site.id,
        "org_id": site.org_id,
        "parent_id": site.parent_id,
        "name": site.name,
        "kind": site.kind,
        "ancestors": site.lineage().iter().take(site.lineage().len().saturating_sub(1)).collect::<Vec<_>>(),
        "created_at": rfc3339(site.created_at),
    })
}

/// `POST /v1/sites` (admin).
pub async fn create(
    state: web::Data<AppState>,
    RequireAdmin(admin): RequireAdmin,
    body: web::Json<CreateSite>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = body.name.trim().to_string();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::invalid_fields(
            &["name"],
            "name must be 1 to 200 characters",
        ));
    }
    let kind = body.kind.unwrap_or_else(|| "area".into());
    if kind.trim().is_empty() || kind.len() > 50 {
        return Err(ApiError::invalid_fields(
            &["kind"],
            "kind must be 1 to 50 characters",
        ));
    }
    let parent = body.parent_id.map(|p| p.to_string());
    let site = state
        .db
        .write(move |c| sites::create(c, &admin.org_id, &name, &kind, parent.as_deref()))
        .await
        .map_err(|e| match e {
            hazardloop_storage::StorageError::Invalid(m) => {
                ApiError::invalid_fields(&["parent_id"], m)
            }
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(site_json(&site)))
}

/// `GET /v1/sites`: every site for an admin; for anyone else, the subtrees of their memberships.
pub async fn list(state: web::Data<AppState>, auth: AuthedUser) -> Result<HttpResponse, ApiError> {
    let list = state
        .db
        .read(move |c| {
            if auth.is_admin {
                return sites::list(c, &auth.org_id);
            }
            let user = users::get(c, &auth.org_id, &auth.user_id)?;
            let roots = users::membership_sites(c, &user)?;
            sites::below_any(c, &auth.org_id, &roots)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": list.iter().map(site_json).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/sites/{id}`: the site with its subtree. Visible to admins and to users with a role
/// at the site or above it; others (and other organisations) get 404.
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let (site, subtree) = state
        .db
        .read(move |c| {
            let site = sites::get(c, &auth.org_id, &id)?;
            if !auth.is_admin {
                let user = users::get(c, &auth.org_id, &auth.user_id)?;
                if users::effective_role(c, &user, &site)?.is_none() {
                    return Err(hazardloop_storage::StorageError::NotFound);
                }
            }
            let subtree = sites::subtree(c, &site)?;
            Ok((site, subtree))
        })
        .await?;
    let mut body = site_json(&site);
    body["subtree"] = json!(subtree.iter().map(site_json).collect::<Vec<_>>());
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /v1/sites/{id}/people`: whom a supervisor can assign or name as verifier at a site.
/// The people whose role applies there (a membership at the site or above it, and
/// organisation admins), with only their id, name and effective role at the site: no e-mail
/// address and no other memberships. For admins and for users who are at least supervisor at
/// the site; an inspector there gets 403; without a role there (or for another
/// organisation's site) 404, as for the site itself.
pub async fn people(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let people = state
        .db
        .read(move |c| {
            let site = sites::get(c, &auth.org_id, &id)?;
            let role = users::role_at(c, &auth.user_id, auth.is_admin, &site)?;
            match role {
                None => Err(hazardloop_storage::StorageError::NotFound),
                Some(r) if r.at_least(Role::Supervisor) => users::people_at(c, &site).map(Some),
                Some(_) => Ok(None),
            }
        })
        .await?;
    let Some(people) = people else {
        return Err(ApiError::forbidden(
            "only supervisors, managers and admins of the site may list its people",
        ));
    };
    Ok(HttpResponse::Ok().json(json!({
        "items": people
            .iter()
            .map(|p| json!({"id": p.id, "name": p.name, "role": p.role.as_str()}))
            .collect::<Vec<_>>(),
    })))
}
