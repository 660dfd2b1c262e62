//! Webhook subscriptions, their delivery log, and manual redelivery. For organisation admins
//! and integration clients with the `webhooks:manage` scope.

use actix_web::{web, HttpResponse};
use hazardloop_storage::webhooks::{self, Delivery, NewWebhook, Webhook, WebhookPatch};
use hazardloop_storage::{now_ms, StorageError};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::{parse_id, rfc3339};
use crate::webhook_delivery::{self as delivery, AllowList, UrlRefusal};

mod delivery_log;

pub use delivery_log::{deliveries, delivery, redeliver, DeliveryQuery};

/// The scope an integration client needs for every route here.
pub const SCOPE: &str = "webhooks:manage";

/// Admins, and clients with the scope. A client limited to some sites is refused: a webhook
/// may carry every site's events.
fn authorise(auth: &AuthedUser) -> Result<(), ApiError> {
    if auth.is_client() {
        auth.require_scope(SCOPE)?;
        if !auth.is_admin {
            return Err(ApiError::forbidden(
                "a client limited to some sites cannot manage webhooks, which may carry every \
                 site's events",
            ));
        }
        Ok(())
    } else {
        auth.require_admin()
    }
}

/// Present (maybe `null`) versus absent, for PATCH members.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// `POST /v1/webhooks` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    pub url: String,
    pub event_types: Vec<String>,
    #[serde(default)]
    pub site_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// `PATCH /v1/webhooks/{id}` body: members present are changed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub site_id: Option<Option<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// The public view of a subscription (the secret only when `secret` is given: at creation).
pub fn webhook_json(w: &Webhook, secret: Option<&str>) -> Value {
    let mut v = json!({
        "id": w.id,
        "url": w.url,
        "description": w.description,
        "event_types": w.types(),
        "site_id": w.site_id,
        "active": w.active,
        "disabled_reason": w.disabled_reason,
        "disabled_at": w.disabled_at.map(rfc3339),
        "consecutive_failures": w.consecutive_failures,
        "created_at": rfc3339(w.created_at),
        "updated_at": rfc3339(w.updated_at),
    });
    if let Some(s) = secret {
        v["secret"] = json!(s);
    }
    v
}

/// The public view of a delivery (with the body sent when `with_payload`).
pub fn delivery_json(d: &Delivery, with_payload: bool) -> Value {
    let mut v = json!({
        "id": d.id,
        "webhook_id": d.webhook_id,
        "message_id": d.message_id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": (d.status == webhooks::PENDING).then(|| rfc3339(d.next_attempt_at)),
        "last_attempt_at": d.last_attempt_at.map(rfc3339),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "delivered_at": d.delivered_at.map(rfc3339),
        "redelivery_of": d.redelivery_of,
        "created_at": rfc3339(d.created_at),
        "updated_at": rfc3339(d.updated_at),
    });
    if with_payload {
        v["payload"] = serde_json::from_str(&d.payload).unwrap_or(Value::String(d.payload.clone()));
    }
    v
}

fn check_event_types(types: &[String]) -> Result<Vec<String>, ApiError> {
    if types.is_empty() || types.len() > 50 {
        return Err(ApiError::invalid_fields(
            &["event_types"],
            "event_types must list 1 to 50 event types (or [\"*\"] for every event)",
        ));
    }
    let unknown: Vec<&str> = types
        .iter()
        .map(String::as_str)
        .filter(|t| !webhooks::is_subscribable(t))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::invalid_fields(
            &["event_types"],
            format!(
                "unknown event types: {}; use * or any of: {}",
                unknown.join(", "),
                webhooks::subscribable_types().join(", ")
            ),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn check_description(d: Option<String>) -> Result<Option<String>, ApiError> {
    match d {
        Some(d) if d.chars().count() > 500 => Err(ApiError::invalid_fields(
            &["description"],
            "description must be at most 500 characters",
        )),
        other => Ok(other.map(|d| d.trim().to_string())),
    }
}

fn check_site_id(s: Option<String>) -> Result<Option<String>, ApiError> {
    s.map(|s| {
        uuid::Uuid::parse_str(&s)
            .map(|u| u.to_string())
            .map_err(|_| ApiError::invalid_fields(&["site_id"], "site_id is not a UUID"))
    })
    .transpose()
}

async fn check_url(raw: &str, allow: &AllowList) -> Result<String, ApiError> {
    match delivery::check_url(raw, allow).await {
        Ok(url) => Ok(url.to_string()),
        Err(UrlRefusal::Malformed(m)) => Err(ApiError::invalid_fields(&["url"], m)),
        Err(UrlRefusal::NotAllowed(m)) => {
            Err(ApiError::unprocessable("url_not_allowed", m).with("fields", json!(["url"])))
        }
    }
}

/// Storage's refusals of a subscription, as problems.
fn storage_error(e: StorageError) -> ApiError {
    match e {
        StorageError::Invalid(m) if m.starts_with("site ") => {
            ApiError::invalid_fields(&["site_id"], m)
        }
        StorageError::Conflict(m) if m.contains("at most") => {
            ApiError::conflict("too_many_webhooks", m)
        }
        other => other.into(),
    }
}

/// `POST /v1/webhooks`: subscribes a URL to event types; answers the subscription with its
/// signing secret, shown this once.
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthedUser,
    body: web::Json<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    authorise(&auth)?;
    let b = body.into_inner();
    let allow = AllowList::new(&state.config.webhook_allow_hosts);
    let url = check_url(&b.url, &allow).await?;
    let new = NewWebhook {
        url,
        description: check_description(b.description)?.unwrap_or_default(),
        event_types: check_event_types(&b.event_types)?,
        site_id: check_site_id(b.site_id)?,
        active: b.active.unwrap_or(true),
        created_by: Some(auth.user_id.clone()),
    };
    let secret = delivery::generate_secret();
    let s = secret.clone();
    let w = state
        .db
        .write(move |c| webhooks::create(c, &auth.org_id, &new, &s, now_ms()))
        .await
        .map_err(storage_error)?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/webhooks/{}", w.id)))
        .json(webhook_json(&w, Some(&secret))))
}

/// `GET /v1/webhooks`: the organisation's subscriptions.
pub async fn list(state: web::Data<AppState>, auth: AuthedUser) -> Result<HttpResponse, ApiError> {
    authorise(&auth)?;
    let rows = state
        .db
        .read(move |c| webhooks::list(c, &auth.org_id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "items": rows.iter().map(|w| webhook_json(w, None)).collect::<Vec<_>>()
    })))
}

/// `GET /v1/webhooks/{id}`.
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorise(&auth)?;
    let id = parse_id(&path)?;
    let w = state
        .db
        .read(move |c| webhooks::get(c, &auth.org_id, &id))
        .await?;
    Ok(HttpResponse::Ok().json(webhook_json(&w, None)))
}

/// `PATCH /v1/webhooks/{id}`: changes the members given. `active: false` disables the webhook
/// (its pending deliveries fail, `webhook.disabled` is recorded); `active: true` enables it
/// again and clears the failure count.
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    body: web::Json<UpdateWebhook>,
) -> Result<HttpResponse, ApiError> {
    authorise(&auth)?;
    let id = parse_id(&path)?;
    let b = body.into_inner();
    let allow = AllowList::new(&state.config.webhook_allow_hosts);
    let url = match &b.url {
        Some(u) => Some(check_url(u, &allow).await?),
        None => None,
    };
    let patch = WebhookPatch {
        url,
        description: check_description(b.description)?,
        event_types: b
            .event_types
            .as_deref()
            .map(check_event_types)
            .transpose()?,
        site_id: b.site_id.map(check_site_id).transpose()?,
        active: b.active,
    };
    let w = state
        .db
        .write(move |c| {
            webhooks::update(c, &auth.org_id, &id, &patch, Some(&auth.user_id), now_ms())
        })
        .await
        .map_err(storage_error)?;
    Ok(HttpResponse::Ok().json(webhook_json(&w, None)))
}

/// `DELETE /v1/webhooks/{id}`: the subscription and its delivery log.
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    authorise(&auth)?;
    let id = parse_id(&path)?;
    state
        .db
        .write(move |c| webhooks::delete(c, &auth.org_id, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
