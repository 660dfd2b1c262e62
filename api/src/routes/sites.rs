//! The site tree.

use actix_web::{web, HttpResponse};
use hazardloop_storage::sites::{self, Site};
use hazardloop_storage::{access, users};
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
    /// The site's position and radius: all three or none.
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub radius_m: Option<f64>,
}

/// A position from the three optional fields: all three, or none; a clear 422 otherwise.
fn position(
    latitude: Option<f64>,
    longitude: Option<f64>,
    radius_m: Option<f64>,
) -> Result<Option<sites::Position>, ApiError> {
    match (latitude, longitude, radius_m) {
        (None, None, None) => Ok(None),
        (Some(lat), Some(lon), Some(r)) => sites::Position::new(lat, lon, r)
            .map(Some)
            .map_err(|(field, m)| ApiError::invalid_fields(&[field], m)),
        (lat, lon, r) => {
            let missing: Vec<&str> = [("latitude", lat), ("longitude", lon), ("radius_m", r)]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| *k)
                .collect();
            Err(ApiError::invalid_fields(
                &missing,
                "latitude, longitude and radius_m go together: give all three or none",
            ))
        }
    }
}

/// The public JSON of a site.
pub fn site_json(site: &Site) -> Value {
    json!({
        "id": site.id,
        "org_id": site.org_id,
        "parent_id": site.parent_id,
        "name": site.name,
        "kind": site.kind,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "radius_m": site.radius_m,
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
    let position = position(body.latitude, body.longitude, body.radius_m)?;
    let parent = body.parent_id.map(|p| p.to_string());
    let site = state
        .db
        .write(move |c| sites::create(c, &admin.org_id, &name, &kind, parent.as_deref(), position))
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
            let site = access::visible_site(c, &auth.org_id, &auth.user_id, auth.is_admin, &id)?;
            let subtree = sites::subtree(c, &site)?;
            Ok((site, subtree))
        })
        .await?;
    let mut body = site_json(&site);
    body["subtree"] = json!(subtree.iter().map(site_json).collect::<Vec<_>>());
    Ok(HttpResponse::Ok().json(body))
}

/// `PATCH /v1/sites/{id}` (admin): sets the site's position and radius
/// (`{"latitude", "longitude", "radius_m"}`), or clears them when all three are null. The three
/// keys must all be present, so that an empty body never clears a position by accident.
pub async fn update(
    state: web::Data<AppState>,
    RequireAdmin(admin): RequireAdmin,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let Some(fields) = body.as_object() else {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "the body must be an object with latitude, longitude and radius_m",
        ));
    };
    const KEYS: [&str; 3] = ["latitude", "longitude", "radius_m"];
    if let Some(other) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(ApiError::invalid_fields(
            &[other.as_str()],
            format!("{other} cannot be changed here; send latitude, longitude and radius_m"),
        ));
    }
    let mut values = [None; 3];
    for (slot, key) in values.iter_mut().zip(KEYS) {
        *slot = match fields.get(key) {
            None => {
                return Err(ApiError::invalid_fields(
                    &[key],
                    format!("{key} is required (null, with the other two, clears the position)"),
                ))
            }
            Some(Value::Null) => None,
            Some(v) => Some(v.as_f64().ok_or_else(|| {
                ApiError::invalid_fields(&[key], format!("{key} must be a number or null"))
            })?),
        };
    }
    let position = position(values[0], values[1], values[2])?;
    let site = state
        .db
        .write(move |c| sites::set_position(c, &admin.org_id, &id, position))
        .await?;
    Ok(HttpResponse::Ok().json(site_json(&site)))
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
