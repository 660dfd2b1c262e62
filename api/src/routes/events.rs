//! The replayable event feed: every domain event, in the order it was committed, from a cursor.
//! Deliveries of webhooks can be missed; this feed cannot.

use actix_web::{web, HttpResponse};
use hazardloop_storage::{access, audit, sites};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::rfc3339;

/// `GET /v1/events` query.
#[derive(Deserialize)]
pub struct EventQuery {
    /// The `next_cursor` of the previous page; absent: from the beginning.
    pub cursor: Option<String>,
    /// Comma-separated event types.
    pub types: Option<String>,
    /// A site and its subtree.
    pub site: Option<uuid::Uuid>,
    pub limit: Option<i64>,
}

/// The public form of one event: the `data` of a webhook payload (same members, same names),
/// plus `device_id`.
pub fn event_json(e: &audit::AuditRow) -> Value {
    json!({
        "id": e.id,
        "seq": e.seq,
        "type": e.event,
        "entity_type": e.entity_type,
        "entity_id": e.entity_id,
        "hazard_id": e.hazard_id,
        "site_id": e.site_id,
        "actor_id": e.actor_id,
        "device_id": e.device_id,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "payload": serde_json::from_str::<Value>(&e.payload).unwrap_or(Value::Null),
        "occurred_at": e.device_time.map(rfc3339),
        "recorded_at": rfc3339(e.server_time),
    })
}

/// The events after `after` the caller may see, and the feed's head read before them (shared
/// with the console).
pub fn page_for(
    c: &mut hazardloop_storage::DbConn,
    auth: &AuthedUser,
    after: i64,
    types: Option<Vec<String>>,
    site: Option<String>,
    limit: i64,
) -> Result<(Vec<audit::AuditRow>, i64), hazardloop_storage::StorageError> {
    let explicit_site = site.clone();
    let mut site_ids = access::visible_site_ids(c, &auth.org_id, &auth.user_id, auth.is_admin)?;
    if let Some(s) = site {
        let root = access::visible_site(c, &auth.org_id, &auth.user_id, auth.is_admin, &s)?;
        site_ids = Some(
            sites::subtree(c, &root)?
                .into_iter()
                .map(|s| s.id)
                .collect(),
        );
    }
    let filter = audit::EventFilter {
        site_ids,
        types,
        org_level: explicit_site.is_none(),
    };
    audit::events_after(c, &auth.org_id, after, &filter, limit)
}

/// `GET /v1/events?cursor=&types=&site=&limit=`: events after the cursor, oldest first. Event
/// sequence numbers are taken under the organisation's lock and become visible in order, so a
/// reader that follows `next_cursor` never skips an event.
pub async fn feed(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let after: i64 = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "the cursor was not made by this server")
        })?,
    };
    let types: Option<Vec<String>> = q.types.as_deref().map(|t| {
        t.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    });
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let site = q.site.map(|s| s.to_string());
    let (rows, head) = state
        .db
        .read(move |c| page_for(c, &auth, after, types, site, limit))
        .await?;
    let full = rows.len() as i64 == limit;
    let last = rows.last().map(|e| e.seq).unwrap_or(after);
    // A short page covered everything committed up to `head` (read before the rows), so the
    // cursor may move past events this reader does not see.
    let next = if full { last } else { last.max(head) };
    Ok(HttpResponse::Ok().json(json!({
        "items": rows.iter().map(event_json).collect::<Vec<_>>(),
        "next_cursor": next.to_string(),
        "has_more": full,
    })))
}
