//! The conflict log for supervisors: values that lost a merge, commands that came too late.

use actix_web::{web, HttpResponse};
use hazardloop_storage::conflicts::{self, ConflictFilter};
use hazardloop_storage::{access, hazards, now_ms, StorageError};
use hazardloop_sync::Role;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::mutate::{mutation, run_one};
use crate::routes::parse_id;

/// `GET /v1/conflicts` query.
#[derive(Deserialize)]
pub struct ConflictQuery {
    pub site_id: Option<uuid::Uuid>,
    pub entity_id: Option<uuid::Uuid>,
    /// `open` (default) or `resolved`; `all` for both.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// `GET /v1/conflicts`: conflicts at sites where the caller is supervisor or above.
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<ConflictQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = match q.status.as_deref().unwrap_or("open") {
        "all" => None,
        s @ ("open" | "resolved") => Some(s.to_string()),
        other => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("status {other:?}: use open, resolved or all"),
            ))
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let after = q.cursor.clone();
    let site = q.site_id.map(|s| s.to_string());
    let entity = q.entity_id.map(|s| s.to_string());
    let rows = state
        .db
        .read(move |c| {
            list_for(
                c,
                &auth,
                site.as_deref(),
                entity,
                status,
                after.as_deref(),
                limit,
            )
        })
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({
        "items": rows.iter().map(|r| r.view()).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// The conflicts the caller may see (supervisor or above at their site), optionally under
/// `site` only; shared by the API and the console.
pub fn list_for(
    c: &mut hazardloop_storage::DbConn,
    auth: &AuthedUser,
    site: Option<&str>,
    entity: Option<String>,
    status: Option<String>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<conflicts::Conflict>, StorageError> {
    let mut allowed = access::site_ids_with_role(
        c,
        &auth.org_id,
        &auth.user_id,
        auth.is_admin,
        Role::Supervisor,
    )?;
    if let Some(s) = site {
        let sub = access::visible_site(c, &auth.org_id, &auth.user_id, auth.is_admin, s)?;
        let subtree: Vec<String> = hazardloop_storage::sites::subtree(c, &sub)?
            .into_iter()
            .map(|s| s.id)
            .collect();
        allowed = Some(match allowed {
            Some(a) => a.into_iter().filter(|x| subtree.contains(x)).collect(),
            None => subtree,
        });
    }
    let f = ConflictFilter {
        site_ids: allowed,
        entity_id: entity,
        status,
    };
    conflicts::list(c, &auth.org_id, &f, after, limit)
}

/// `POST /v1/conflicts/{id}/resolve` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// For a field conflict: the value to keep (any JSON the field accepts). Absent: keep what
    /// the server has.
    pub value: Option<Value>,
    /// `losing` to apply the value that lost, instead of giving `value`.
    pub choose: Option<String>,
    pub note: Option<String>,
}

/// `POST /v1/conflicts/{id}/resolve`: applies the chosen value as a normal mutation (with its
/// audit event) and closes the conflict.
pub async fn resolve(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<Resolve>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let updated = resolve_conflict(&state, &auth, id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(updated.view()))
}

/// Resolves conflict `id` for the caller (shared by the API and the console): supervisors and
/// above at its site; a chosen field value is applied as a `hazard.update` mutation first.
pub async fn resolve_conflict(
    state: &AppState,
    auth: &AuthedUser,
    id: String,
    body: Resolve,
) -> Result<conflicts::Conflict, ApiError> {
    let a = auth.clone();
    let cid = id.clone();
    let conflict = state
        .db
        .read(move |c| {
            let conflict = conflicts::get(c, &a.org_id, &cid)?;
            let allowed =
                access::site_ids_with_role(c, &a.org_id, &a.user_id, a.is_admin, Role::Supervisor)?;
            if allowed.is_some_and(|s| !s.contains(&conflict.site_id)) {
                return Err(StorageError::NotFound);
            }
            Ok(conflict)
        })
        .await?;
    if conflict.status != "open" {
        return Err(ApiError::conflict(
            "already_resolved",
            "this conflict was already resolved",
        ));
    }
    let chosen = match (body.value, body.choose.as_deref()) {
        (Some(v), None) => Some(v),
        (None, Some("losing")) => conflict
            .losing_value
            .as_deref()
            .and_then(|v| serde_json::from_str(v).ok()),
        (None, Some("winning")) | (None, None) => None,
        _ => {
            return Err(ApiError::invalid_fields(
                &["choose"],
                "give either value or choose (winning or losing)",
            ))
        }
    };
    if let (Some(value), "field", Some(field)) = (&chosen, conflict.kind.as_str(), &conflict.field)
    {
        // Choosing a value is deliberate and made on the hazard as it is now: it names the
        // current version (so it may lower the risk) and the conflict as its reason.
        let (a, hid) = (auth.clone(), conflict.entity_id.clone());
        let version = state
            .db
            .read(move |c| Ok(hazards::get(c, &a.org_id, &hid)?.version))
            .await?;
        let reason = match body.note.as_deref().map(str::trim) {
            Some(note) if !note.is_empty() => format!("conflict {}: {note}", conflict.id),
            _ => format!("conflict {} resolved", conflict.id),
        };
        let args = json!({"hazard_id": conflict.entity_id, "fields": {field: value},
                          "reason": reason});
        run_one(state, auth, mutation("hazard.update", args, Some(version))).await?;
    }
    let resolution = json!({"value": chosen, "note": body.note});
    let by = auth.user_id.clone();
    let done = state
        .db
        .write(move |c| conflicts::mark_resolved(c, &id, &by, &resolution, now_ms()))
        .await?;
    if !done {
        return Err(ApiError::conflict(
            "already_resolved",
            "this conflict was already resolved",
        ));
    }
    let a = auth.clone();
    let cid = conflict.id.clone();
    Ok(state
        .db
        .read(move |c| conflicts::get(c, &a.org_id, &cid))
        .await?)
}
