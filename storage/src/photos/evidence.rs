//! Evidence flags of photos and their links: storage loads the facts (the photo's capture and
//! GPS, the linking entity's report time, the site's circle), asks
//! `hazardloop_sync::evidence`, and writes the flags where readers and events find them.
//!
//! A photo's own flags (`capture_time_in_future`) are set when its bytes arrive. A link's
//! flags (`captured_long_before_report`, `outside_site_radius`) need both the link and the
//! bytes, so they are set by whichever comes second: [`link_flags`] when an entity links a
//! photo already stored, [`judge_links`] when the bytes of a linked photo arrive. Either way a
//! `photo.flagged` event carries them into the entity's timeline, the event feed and webhooks.

use diesel::prelude::*;
use hazardloop_sync::evidence::{capture_age, outside_radius, Claim, Flag, Point};
use serde_json::{json, Value};

use super::link_rows::{self, PhotoLink};
use super::Photo;
use crate::audit::EventInput;
use crate::change::Change;
use crate::schema::photo_links;
use crate::{sites, DbConn, StorageError};

/// Flags as stored: a JSON array of `{"code": ..., facts...}`.
pub fn encode(flags: &[Flag]) -> String {
    serde_json::to_string(flags).unwrap_or_else(|_| "[]".into())
}

/// Stored flags as JSON values (unknown codes from a newer server survive a read).
pub fn decode(text: &str) -> Vec<Value> {
    serde_json::from_str(text).unwrap_or_default()
}

/// What the camera claimed, as the server accepted it: the accepted instant when there is one
/// (a known offset, or a clamp), else the wall-clock time read as UTC.
pub fn claim_of(photo: &Photo) -> Option<Claim> {
    if let Some(ms) = photo.captured_at {
        return Some(Claim::Instant(ms));
    }
    local_claim(photo.captured_local.as_deref()?)
}

/// A camera's wall-clock `YYYY-MM-DDTHH:MM:SS` read as if it were UTC.
pub fn local_claim(local: &str) -> Option<Claim> {
    hazardloop_sync::timestamp::parse_rfc3339_ms(&format!("{local}Z"))
        .ok()
        .map(Claim::Local)
}

/// The flags of a link between `photo` (with bytes) and an entity at `site_id` reported at
/// `reported_at` (device clock). Nothing for a photo whose bytes have not arrived.
pub fn judge(
    conn: &mut DbConn,
    photo: &Photo,
    site_id: &str,
    reported_at: Option<i64>,
    max_capture_age_ms: i64,
) -> Result<Vec<Flag>, StorageError> {
    let mut flags = Vec::new();
    if !photo.status().has_bytes() {
        return Ok(flags);
    }
    if let (Some(claim), Some(reported)) = (claim_of(photo), reported_at) {
        flags.extend(capture_age(claim, reported, max_capture_age_ms));
    }
    if let (Some(lat), Some(lon)) = (photo.gps_lat, photo.gps_lon) {
        let site = sites::get(conn, &photo.org_id, site_id)?;
        if let Some(circle) = sites::circle_of(conn, &site)? {
            flags.extend(outside_radius(Point { lat, lon }, &circle));
        }
    }
    Ok(flags)
}

/// Judges a freshly inserted link and stores its flags; returns the photo's own flags followed
/// by the link's (empty when the bytes have not arrived: [`judge_links`] does it then).
pub(super) fn link_flags(
    conn: &mut DbConn,
    photo: &Photo,
    link: &PhotoLink,
    max_capture_age_ms: i64,
) -> Result<Vec<Value>, StorageError> {
    if !photo.status().has_bytes() {
        return Ok(Vec::new());
    }
    let flags = judge(
        conn,
        photo,
        &link.site_id,
        link.reported_at,
        max_capture_age_ms,
    )?;
    store(conn, link, &flags)?;
    let mut all = decode(&photo.flags);
    all.extend(flags.iter().filter_map(|f| serde_json::to_value(f).ok()));
    Ok(all)
}

fn store(conn: &mut DbConn, link: &PhotoLink, flags: &[Flag]) -> Result<(), StorageError> {
    diesel::update(photo_links::table.find((
        &link.org_id,
        &link.entity_type,
        &link.entity_id,
        &link.sha256,
        &link.role,
    )))
    .set(photo_links::flags.eq(encode(flags)))
    .execute(conn)?;
    Ok(())
}

/// After the bytes of `photo` arrived: judges every link made while it was pending, stores
/// the links' flags, and records a `photo.flagged` event for each link with any flag (the
/// photo's own included), by `actor_id` (the uploader).
pub fn judge_links(
    conn: &mut DbConn,
    photo: &Photo,
    actor_id: &str,
    now: i64,
    max_capture_age_ms: i64,
) -> Result<(), StorageError> {
    let links = link_rows::links(conn, &photo.org_id, &photo.sha256)?;
    let mut change: Option<Change> = None;
    // An unvouched link shows the photo as pending and must tell its entity nothing about it.
    for link in links.into_iter().filter(|l| l.vouched) {
        let flags = link_flags(conn, photo, &link, max_capture_age_ms)?;
        if flags.is_empty() {
            continue;
        }
        if change.is_none() {
            change = Some(Change::begin(conn, &photo.org_id, now)?);
        }
        if let (Some(ch), Some(ev)) = (change.as_mut(), flagged_event(&link, flags, actor_id)) {
            ch.audit(conn, ev)?;
        }
    }
    if let Some(ch) = change {
        ch.finish(conn)?;
    }
    Ok(())
}

/// The `photo.flagged` event of a link, for entities that have events (hazards,
/// inspections); `None` for anything else (its flags stay on the link).
pub fn flagged_event(link: &PhotoLink, flags: Vec<Value>, actor_id: &str) -> Option<EventInput> {
    let entity_type: &'static str = match link.entity_type.as_str() {
        "hazard" => "hazard",
        "inspection" => "inspection",
        _ => return None,
    };
    uuid::Uuid::parse_str(&link.entity_id).ok()?;
    Some(EventInput {
        entity_type,
        entity_id: link.entity_id.clone(),
        hazard_id: (entity_type == "hazard").then(|| link.entity_id.clone()),
        site_id: Some(link.site_id.clone()),
        actor_id: Some(actor_id.to_string()),
        device_id: None,
        device_time: None,
        event: hazardloop_sync::event::PHOTO_FLAGGED.to_string(),
        from_state: None,
        to_state: None,
        payload: json!({
            "sha256": link.sha256,
            "role": link.role,
            "flags": flags,
        }),
    })
}
