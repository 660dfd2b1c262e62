//! Subscriptions: the webhooks an organisation registered, and turning one off.

use diesel::prelude::*;
use serde_json::json;

use super::{FAILED, MAX_PER_ORG, PENDING, WEBHOOK_DISABLED};
use crate::audit::EventInput;
use crate::change::Change;
use crate::schema::{webhook_deliveries as wd, webhooks as wh};
use crate::{new_id, DbConn, StorageError};

/// One subscription.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = wh)]
pub struct Webhook {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub description: String,
    /// JSON array of names.
    pub event_types: String,
    pub site_id: Option<String>,
    /// `whsec_<base64>`.
    pub secret: String,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<i64>,
    pub consecutive_failures: i32,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("site_id", &self.site_id)
            .field("secret", &"<redacted>")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// The subscribed event type names.
    pub fn types(&self) -> Vec<String> {
        serde_json::from_str(&self.event_types).unwrap_or_default()
    }
}

/// What a new subscription needs.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub site_id: Option<String>,
    pub active: bool,
    pub created_by: Option<String>,
}

/// Changes to a subscription; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `Some(None)` removes the site filter.
    pub site_id: Option<Option<String>>,
    pub active: Option<bool>,
}

fn check_site(
    conn: &mut DbConn,
    org_id: &str,
    site_id: &Option<String>,
) -> Result<(), StorageError> {
    if let Some(s) = site_id {
        match crate::sites::get(conn, org_id, s) {
            Ok(_) => {}
            Err(StorageError::NotFound) => {
                return Err(StorageError::Invalid(format!("site {s} does not exist")))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Creates a subscription with its secret.
pub fn create(
    conn: &mut DbConn,
    org_id: &str,
    new: &NewWebhook,
    secret: &str,
    now: i64,
) -> Result<Webhook, StorageError> {
    check_site(conn, org_id, &new.site_id)?;
    let count: i64 = wh::table
        .filter(wh::org_id.eq(org_id))
        .count()
        .get_result(conn)?;
    if count >= MAX_PER_ORG {
        return Err(StorageError::Conflict(format!(
            "an organisation may have at most {MAX_PER_ORG} webhooks"
        )));
    }
    let id = new_id();
    diesel::insert_into(wh::table)
        .values((
            wh::id.eq(&id),
            wh::org_id.eq(org_id),
            wh::url.eq(&new.url),
            wh::description.eq(&new.description),
            wh::event_types.eq(json!(new.event_types).to_string()),
            wh::site_id.eq(&new.site_id),
            wh::secret.eq(secret),
            wh::active.eq(new.active),
            wh::consecutive_failures.eq(0),
            wh::created_by.eq(&new.created_by),
            wh::created_at.eq(now),
            wh::updated_at.eq(now),
        ))
        .execute(conn)?;
    get(conn, org_id, &id)
}

/// The organisation's subscriptions, oldest first.
pub fn list(conn: &mut DbConn, org_id: &str) -> Result<Vec<Webhook>, StorageError> {
    Ok(wh::table
        .filter(wh::org_id.eq(org_id))
        .order(wh::id.asc())
        .select(Webhook::as_select())
        .load(conn)?)
}

/// One subscription of the organisation; another organisation's is [`StorageError::NotFound`].
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Webhook, StorageError> {
    Ok(wh::table
        .filter(wh::org_id.eq(org_id))
        .filter(wh::id.eq(id))
        .select(Webhook::as_select())
        .first(conn)?)
}

/// Applies a patch. Turning a webhook off fails its pending deliveries and appends
/// `webhook.disabled` (actor: `actor_id`); turning it on clears the failure count.
pub fn update(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
    patch: &WebhookPatch,
    actor_id: Option<&str>,
    now: i64,
) -> Result<Webhook, StorageError> {
    let before = get(conn, org_id, id)?;
    if let Some(site) = &patch.site_id {
        check_site(conn, org_id, site)?;
    }
    // First, so the event names the webhook as it was.
    if patch.active == Some(false) && before.active {
        disable(
            conn,
            org_id,
            id,
            "disabled through the API",
            actor_id,
            None,
            now,
        )?;
    }
    let target = wh::table
        .filter(wh::id.eq(id))
        .filter(wh::org_id.eq(org_id));
    if let Some(url) = &patch.url {
        diesel::update(target).set(wh::url.eq(url)).execute(conn)?;
    }
    if let Some(d) = &patch.description {
        diesel::update(target)
            .set(wh::description.eq(d))
            .execute(conn)?;
    }
    if let Some(t) = &patch.event_types {
        diesel::update(target)
            .set(wh::event_types.eq(json!(t).to_string()))
            .execute(conn)?;
    }
    if let Some(site) = &patch.site_id {
        diesel::update(target)
            .set(wh::site_id.eq(site))
            .execute(conn)?;
    }
    match patch.active {
        Some(true) if !before.active => {
            diesel::update(target)
                .set((
                    wh::active.eq(true),
                    wh::disabled_reason.eq(None::<String>),
                    wh::disabled_at.eq(None::<i64>),
                    wh::consecutive_failures.eq(0),
                ))
                .execute(conn)?;
        }
        _ => {}
    }
    diesel::update(target)
        .set(wh::updated_at.eq(now))
        .execute(conn)?;
    get(conn, org_id, id)
}

/// Deletes a subscription and its delivery log.
pub fn delete(conn: &mut DbConn, org_id: &str, id: &str) -> Result<(), StorageError> {
    let hook = get(conn, org_id, id)?;
    diesel::delete(wd::table.filter(wd::webhook_id.eq(&hook.id))).execute(conn)?;
    diesel::delete(wh::table.filter(wh::id.eq(&hook.id))).execute(conn)?;
    Ok(())
}

/// Turns a webhook off (once: a webhook already off is left alone; with `min_failures`, only
/// while it has that many consecutive failed deliveries), fails its pending deliveries and
/// appends `webhook.disabled` to the organisation's events, which other subscriptions receive
/// like any event. True when it was turned off now.
///
/// Locks: the webhook's row, and the organisation's where [`Change`] takes it for the event.
/// Writers of events hold the organisation's row and take only a key-share lock on webhook rows
/// (the foreign key of the deliveries they insert), which an `UPDATE` of other columns does not
/// conflict with, so the two never wait on each other in a cycle.
pub fn disable(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
    reason: &str,
    actor_id: Option<&str>,
    min_failures: Option<i32>,
    now: i64,
) -> Result<bool, StorageError> {
    let mut change = Change::begin(conn, org_id, now)?;
    let n = diesel::update(
        wh::table
            .filter(wh::id.eq(id))
            .filter(wh::org_id.eq(org_id))
            .filter(wh::active.eq(true))
            .filter(wh::consecutive_failures.ge(min_failures.unwrap_or(0))),
    )
    .set((
        wh::active.eq(false),
        wh::disabled_reason.eq(reason),
        wh::disabled_at.eq(now),
        wh::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        change.finish(conn)?;
        return Ok(false);
    }
    diesel::update(
        wd::table
            .filter(wd::webhook_id.eq(id))
            .filter(wd::status.eq(PENDING)),
    )
    .set((
        wd::status.eq(FAILED),
        wd::last_error.eq("the webhook was disabled before this delivery succeeded"),
        wd::locked_until.eq(None::<i64>),
        wd::locked_by.eq(None::<String>),
        wd::updated_at.eq(now),
    ))
    .execute(conn)?;
    let hook = get(conn, org_id, id)?;
    change.audit(
        conn,
        EventInput {
            entity_type: "webhook",
            entity_id: hook.id.clone(),
            actor_id: actor_id.map(str::to_string),
            event: WEBHOOK_DISABLED.to_string(),
            from_state: Some("active".into()),
            to_state: Some("disabled".into()),
            payload: json!({
                "webhook_id": hook.id,
                "url": hook.url,
                "reason": reason,
                "consecutive_failures": hook.consecutive_failures,
            }),
            ..EventInput::default()
        },
    )?;
    change.finish(conn)?;
    Ok(true)
}
