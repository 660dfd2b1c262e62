//! The check task list.

use actix_web::{web, HttpResponse};
use hazardloop_storage::risk::readable_site;
use hazardloop_storage::risk::tasks::{self, Task, TaskFilter};
use hazardloop_storage::{access, now_ms};
use hazardloop_sync::risk::TaskState;
use serde::Deserialize;
use serde_json::json;

use super::caller;
use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;

/// `GET /v1/risk/tasks` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    pub site_id: Option<uuid::Uuid>,
    pub unit_id: Option<uuid::Uuid>,
    /// A person's id, or `me`.
    pub assignee_id: Option<String>,
    /// upcoming, due or missed.
    pub state: Option<String>,
    /// Windows that end after `from` and start before `to` (RFC 3339).
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<i64>,
}

fn query_time(name: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|t| {
        hazardloop_sync::timestamp::parse_rfc3339_ms(t).map_err(|_| {
            ApiError::bad_request("invalid_query", format!("{name} must be an RFC 3339 time"))
        })
    })
    .transpose()
}

/// `GET /v1/risk/tasks`: the check tasks at sites the caller may read, by window start.
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<TaskQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let task_state = q
        .state
        .as_deref()
        .map(|s| match s.parse::<TaskState>() {
            Ok(t @ (TaskState::Upcoming | TaskState::Due | TaskState::Missed)) => Ok(t),
            _ => Err(ApiError::bad_request(
                "invalid_query",
                "state must be upcoming, due or missed",
            )),
        })
        .transpose()?;
    let assignee_id = match q.assignee_id.as_deref() {
        None => None,
        Some("me") => Some(auth.user_id.clone()),
        Some(other) => Some(
            uuid::Uuid::parse_str(other)
                .map_err(|_| {
                    ApiError::bad_request("invalid_query", "assignee_id must be a UUID or me")
                })?
                .to_string(),
        ),
    };
    let from = query_time("from", q.from.as_deref())?;
    let to = query_time("to", q.to.as_deref())?;
    let limit = q.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be 1 to 1000",
        ));
    }
    let who = caller(&auth);
    let now = now_ms();
    let list = state
        .db
        .read(move |c| {
            let under_path = match q.site_id {
                Some(s) => Some(readable_site(c, &who, &s.to_string())?.path),
                None => None,
            };
            let f = TaskFilter {
                visible_paths: access::visible_paths(c, &who.org_id, &who.user_id, who.is_admin)?,
                under_path,
                assignee_id,
                unit_id: q.unit_id.map(|u| u.to_string()),
                state: task_state,
                from,
                to,
            };
            tasks::list(c, &who.org_id, &f, now, limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": list.iter().map(|t: &Task| t.view(now)).collect::<Vec<_>>(),
    })))
}
