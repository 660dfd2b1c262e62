//! Hazards: report, read, edit, and the workflow commands.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_storage::hazards::{self, HazardFilter};
use hazardloop_storage::{access, audit, engine, now_ms, sites, users};
use hazardloop_sync::{allowed_commands, commands_from, Actor};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::mutate::{
    if_match, json_body, mark_replayed, mutation, run_one_keyed, with_args, Idempotency,
};
use crate::routes::{parse_id, rfc3339};

/// `GET /v1/hazards` query.
#[derive(Debug, Deserialize, Default)]
pub struct HazardQuery {
    pub site_id: Option<uuid::Uuid>,
    /// One state or several, comma-separated.
    pub state: Option<String>,
    pub grade: Option<String>,
    pub risk: Option<String>,
    pub overdue: Option<bool>,
    pub owner_id: Option<uuid::Uuid>,
    pub verifier_id: Option<uuid::Uuid>,
    pub reporter_id: Option<uuid::Uuid>,
    pub updated_since: Option<String>,
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

impl HazardQuery {
    /// The storage filter, before visibility and the site path are resolved.
    pub fn filter(&self) -> Result<HazardFilter, ApiError> {
        let updated_since = self
            .updated_since
            .as_deref()
            .map(hazardloop_sync::timestamp::parse_rfc3339_ms)
            .transpose()
            .map_err(|_| {
                ApiError::bad_request("invalid_query", "updated_since must be an RFC 3339 time")
            })?;
        Ok(HazardFilter {
            states: self
                .state
                .as_deref()
                .map(|s| {
                    s.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            grade: self.grade.clone(),
            risk: self.risk.clone(),
            overdue: self.overdue,
            owner_id: self.owner_id.map(|u| u.to_string()),
            verifier_id: self.verifier_id.map(|u| u.to_string()),
            reporter_id: self.reporter_id.map(|u| u.to_string()),
            updated_since,
            text: self.q.clone().filter(|q| !q.trim().is_empty()),
            ..HazardFilter::default()
        })
    }
}

/// Resolves visibility and the site filter for the caller.
pub fn scoped_filter(
    conn: &mut hazardloop_storage::DbConn,
    auth: &AuthedUser,
    mut filter: HazardFilter,
    site_id: Option<String>,
) -> Result<HazardFilter, hazardloop_storage::StorageError> {
    filter.visible_paths = access::visible_paths(conn, &auth.org_id, &auth.user_id, auth.is_admin)?;
    if let Some(site) = site_id {
        filter.site_path = Some(match sites::get(conn, &auth.org_id, &site) {
            Ok(s) => s.path,
            // An unknown site filters everything out rather than revealing anything.
            Err(hazardloop_storage::StorageError::NotFound) => "/none/".into(),
            Err(e) => return Err(e),
        });
    }
    Ok(filter)
}

/// `POST /v1/hazards`: report a hazard.
pub async fn report(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let args = with_args(body.into_inner(), &[])?;
    let (applied, replayed) =
        run_one_keyed(&state, &auth, mutation("hazard.report", args, None), &idem).await?;
    Ok(mark_replayed(
        HttpResponse::Created()
            .insert_header((header::ETAG, format!("\"{}\"", applied.version)))
            .insert_header((
                header::LOCATION,
                format!("/v1/hazards/{}", applied.entity_id),
            ))
            .json(applied.entity),
        replayed,
    ))
}

/// `GET /v1/hazards`: filtered, cursor-paginated.
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthedUser,
    query: web::Query<HazardQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.filter()?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let after = query.cursor.clone();
    let site = query.site_id.map(|s| s.to_string());
    let now = now_ms();
    let rows = state
        .db
        .read(move |c| {
            let f = scoped_filter(c, &auth, filter, site)?;
            hazards::list(c, &auth.org_id, &f, now, after.as_deref(), limit)
        })
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|h| h.id.clone()))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({
        "items": rows.iter().map(|h| h.view(now)).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `GET /v1/hazards/{id}`: the hazard, its timeline, and the commands the caller may run now.
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let now = now_ms();
    let user_id = auth.user_id.clone();
    let (row, events, role, policy, photos) = state
        .db
        .read(move |c| {
            // Visibility before the lookup: a hazard the caller may not read is not found, at
            // the cost of a random id.
            let visibility = access::visibility(c, &auth.org_id, &auth.user_id, auth.is_admin)?;
            let (row, site) = hazards::find_with_site(c, &auth.org_id, &id)?
                .filter(|(_, site)| visibility.sees(site))
                .ok_or(hazardloop_storage::StorageError::NotFound)?;
            let role = users::role_at(c, &auth.user_id, auth.is_admin, &site)?;
            let events = audit::events_of(c, &auth.org_id, &row.id)?;
            let policy = engine::policy(c, &auth.org_id)?;
            let photos = hazardloop_storage::photos::of_entity(c, &auth.org_id, "hazard", &row.id)?;
            Ok((row, events, role, policy, photos))
        })
        .await?;
    let actor = Actor {
        user_id: uuid::Uuid::parse_str(&user_id).map_err(|e| ApiError::internal(e.to_string()))?,
        role,
    };
    let facts = row.facts()?;
    let mut body =
        serde_json::to_value(row.view(now)).map_err(|e| ApiError::internal(e.to_string()))?;
    // Two lists that answer different questions, named for the question: what the hazard's
    // state accepts from someone with the right role, and what this caller may run now.
    // `allowed_commands` is the latter under its first name, kept for existing clients.
    let mine = allowed_commands(&facts, &actor, &policy);
    body["state_allows"] = json!(commands_from(facts.state));
    body["caller_may_run"] = json!(mine);
    body["allowed_commands"] = json!(mine);
    body["photos"] = json!(photos
        .iter()
        .map(|p| json!({
            "sha256": p.link.sha256,
            "role": p.link.role,
            "status": p.status.as_str(),
            "flags": p.flags,
        }))
        .collect::<Vec<_>>());
    body["timeline"] = json!(events
        .iter()
        .map(|e| json!({
            "seq": e.seq,
            "event": e.event,
            "actor_id": e.actor_id,
            "device_id": e.device_id,
            "device_time": e.device_time.map(rfc3339),
            "server_time": rfc3339(e.server_time),
            "from_state": e.from_state,
            "to_state": e.to_state,
            "payload": serde_json::from_str::<Value>(&e.payload).unwrap_or(Value::Null),
        }))
        .collect::<Vec<_>>());
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, row.etag()))
        .json(body))
}

/// `PATCH /v1/hazards/{id}`: edit descriptive fields (`If-Match` for optimistic concurrency).
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let base = if_match(&req)?;
    let Value::Object(mut fields) = body.into_inner() else {
        return Err(ApiError::unprocessable(
            "invalid_body",
            "the body must be an object of field: value",
        ));
    };
    // `reason` is not a field: it explains the edit (required to lower the risk).
    let reason = fields.remove("reason");
    let mut args = json!({"hazard_id": id, "fields": fields});
    if let Some(reason) = reason {
        args["reason"] = reason;
    }
    let (applied, replayed) =
        run_one_keyed(&state, &auth, mutation("hazard.update", args, base), &idem).await?;
    Ok(mark_replayed(
        HttpResponse::Ok()
            .insert_header((header::ETAG, format!("\"{}\"", applied.version)))
            .json(applied.entity),
        replayed,
    ))
}

/// `POST /v1/hazards/{id}/<command>`: one workflow command; the command is the last path
/// segment (`assign`, `start`, `rectify_on_spot`, ...).
pub async fn command(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let name = req
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let base = if_match(&req)?;
    let args = with_args(json_body(&body)?, &[("hazard_id", json!(id))])?;
    let (applied, replayed) = run_one_keyed(
        &state,
        &auth,
        mutation(&format!("hazard.{name}"), args, base),
        &idem,
    )
    .await?;
    Ok(mark_replayed(
        HttpResponse::Ok()
            .insert_header((header::ETAG, format!("\"{}\"", applied.version)))
            .json(applied.entity),
        replayed,
    ))
}
