//! Photos: one row per photo per organisation, named by the SHA-256 of its original bytes, and
//! the links through which entities use them.
//!
//! A photo is *pending* when an entity linked it before its bytes arrived, *stored* once the
//! verified original is kept, *ready* once its renditions exist (or *failed* when the original
//! cannot be decoded for them; the original is still kept). Links only grow, and a linked
//! photo is never deleted: the foreign key from `photo_links` makes that a database rule.
//!
//! The functions here are plain database work that other modules call inside their own
//! transactions (the hazard engine calls [`link`]); the byte-moving side is
//! [`store::PhotoStore`].

mod access;
pub mod evidence;
mod intake;
mod link_rows;
mod links;
mod renderers;
pub mod store;
mod upload;

use std::collections::HashMap;

use diesel::prelude::*;
use hazardloop_sync::evidence::{accept_capture, Claim};
use hazardloop_sync::photo::{is_photo_id, PhotoStatus};
use serde::Serialize;

use crate::schema::{photo_uploaders, photos};
use crate::{now_ms, DbConn, StorageError};

pub use access::{readable, visible_links};
pub use intake::{Digest, Intake};
pub use link_rows::{links, PhotoLink};
pub use links::{
    link, link_evidence, of_entity, statuses, vouch, EntityPhoto, LinkTarget, Linked, LinkedBy,
};
pub use renderers::Renderers;
pub use store::{Arrival, PhotoError, PhotoSettings, PhotoStore, Uploader};
pub use upload::{AppendOutcome, ChunkChecksum, NewUpload};

/// Job kind: make the renditions of one photo (payload `{"sha256": ...}`, `org_id` set).
pub const RENDITIONS_JOB: &str = "photo.renditions";
/// Job kind: delete photos that were never linked (periodic).
pub const ORPHANS_JOB: &str = "photo.orphans";
/// Job kind: delete abandoned resumable uploads (periodic).
pub const EXPIRED_UPLOADS_JOB: &str = "upload.expiry";

/// One photo of an organisation.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = photos)]
pub struct Photo {
    pub org_id: String,
    pub sha256: String,
    pub status: String,
    pub size: Option<i64>,
    pub content_type: Option<String>,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub captured_local: Option<String>,
    pub captured_offset_minutes: Option<i32>,
    pub captured_at: Option<i64>,
    pub gps_lat: Option<f64>,
    pub gps_lon: Option<f64>,
    pub uploaded_by: Option<String>,
    pub received_at: Option<i64>,
    pub thumbnail_key: Option<String>,
    pub display_key: Option<String>,
    pub created_at: i64,
    /// The photo's own evidence flags (JSON array; `capture_time_in_future`).
    pub flags: String,
}

impl Photo {
    /// The status as the closed vocabulary; an unknown value reads as pending.
    pub fn status(&self) -> PhotoStatus {
        self.status.parse().unwrap_or(PhotoStatus::Pending)
    }
}

/// Checks and normalises a photo id (64 hex digits; upper case is lowered).
pub fn parse_sha256(raw: &str) -> Option<String> {
    let id = raw.to_ascii_lowercase();
    is_photo_id(&id).then_some(id)
}

/// The photo, or `None`.
pub fn find(conn: &mut DbConn, org_id: &str, sha256: &str) -> Result<Option<Photo>, StorageError> {
    Ok(photos::table
        .find((org_id, sha256))
        .select(Photo::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a pending row unless the photo already has one.
pub(crate) fn ensure_row(
    conn: &mut DbConn,
    org_id: &str,
    sha256: &str,
) -> Result<(), StorageError> {
    let row = (
        photos::org_id.eq(org_id),
        photos::sha256.eq(sha256),
        photos::status.eq(PhotoStatus::Pending.as_str()),
        photos::created_at.eq(now_ms()),
    );
    crate::db_run!(conn, |c| diesel::insert_into(photos::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(())
}

/// Facts recorded when a photo's verified bytes are kept.
#[derive(Debug, Clone)]
pub struct Received<'a> {
    pub size: i64,
    pub facts: &'a hazardloop_media::ImageFacts,
    pub uploaded_by: &'a str,
    pub received_at: i64,
    /// How far ahead of `received_at` a capture time may be before it is clamped and flagged.
    pub max_clock_skew_ms: i64,
}

/// Records that the bytes of a photo arrived. Returns true when this call turned the photo
/// from absent or pending into stored; false when it was stored already (a concurrent or
/// earlier upload of the same bytes won).
pub fn record_arrival(
    conn: &mut DbConn,
    org_id: &str,
    sha256: &str,
    r: &Received<'_>,
) -> Result<bool, StorageError> {
    ensure_row(conn, org_id, sha256)?;
    let capture = r.facts.capture.as_ref();
    // The camera's claim: the instant when it wrote its offset, else its wall clock.
    let claim = capture.and_then(|c| match c.utc_ms {
        Some(ms) => Some(Claim::Instant(ms)),
        None => evidence::local_claim(&c.local),
    });
    let (captured_at, flag) = match claim {
        Some(claim) => accept_capture(claim, r.received_at, r.max_clock_skew_ms),
        None => (None, None),
    };
    let flags: Vec<_> = flag.into_iter().collect();
    let n = diesel::update(
        photos::table
            .find((org_id, sha256))
            .filter(photos::status.eq(PhotoStatus::Pending.as_str())),
    )
    .set((
        photos::status.eq(PhotoStatus::Stored.as_str()),
        photos::size.eq(Some(r.size)),
        photos::content_type.eq(Some(r.facts.format.mime())),
        photos::width.eq(i32::try_from(r.facts.width).ok()),
        photos::height.eq(i32::try_from(r.facts.height).ok()),
        photos::captured_local.eq(capture.map(|c| c.local.clone())),
        photos::captured_offset_minutes.eq(capture.and_then(|c| c.offset_minutes).map(i32::from)),
        photos::captured_at.eq(captured_at),
        photos::flags.eq(evidence::encode(&flags)),
        photos::gps_lat.eq(r.facts.gps.map(|g| g.lat)),
        photos::gps_lon.eq(r.facts.gps.map(|g| g.lon)),
        photos::uploaded_by.eq(Some(r.uploaded_by)),
        photos::received_at.eq(Some(r.received_at)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Remembers that `user_id` holds the photo's bytes (they may read it until it is linked), and
/// vouches for the links to it from entities at sites they see (see [`link_evidence`]).
pub fn add_uploader(
    conn: &mut DbConn,
    org_id: &str,
    sha256: &str,
    user_id: &str,
) -> Result<(), StorageError> {
    let user = crate::users::get(conn, org_id, user_id)?;
    let visibility = crate::access::visibility(conn, org_id, user_id, user.is_admin)?;
    vouch(conn, org_id, sha256, &visibility)?;
    let row = (
        photo_uploaders::org_id.eq(org_id),
        photo_uploaders::sha256.eq(sha256),
        photo_uploaders::user_id.eq(user_id),
        photo_uploaders::created_at.eq(now_ms()),
    );
    crate::db_run!(conn, |c| diesel::insert_into(photo_uploaders::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c)?);
    Ok(())
}

/// Records the thumbnail of a stored photo: it becomes ready (its display image is made on
/// first request, [`set_display`]). False when the photo is no longer stored (deleted as an
/// orphan meanwhile).
pub fn set_renditions(
    conn: &mut DbConn,
    org_id: &str,
    sha256: &str,
    thumbnail_key: &str,
) -> Result<bool, StorageError> {
    let n = diesel::update(
        photos::table
            .find((org_id, sha256))
            .filter(photos::status.eq(PhotoStatus::Stored.as_str())),
    )
    .set((
        photos::status.eq(PhotoStatus::Ready.as_str()),
        photos::thumbnail_key.eq(Some(thumbnail_key)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records a ready photo's display image. False when the photo is gone.
pub fn set_display(
    conn: &mut DbConn,
    org_id: &str,
    sha256: &str,
    display_key: &str,
) -> Result<bool, StorageError> {
    let n = diesel::update(
        photos::table
            .find((org_id, sha256))
            .filter(photos::status.eq(PhotoStatus::Ready.as_str())),
    )
    .set(photos::display_key.eq(Some(display_key)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records that a stored photo cannot be decoded for renditions.
pub fn mark_failed(conn: &mut DbConn, org_id: &str, sha256: &str) -> Result<(), StorageError> {
    diesel::update(
        photos::table
            .find((org_id, sha256))
            .filter(photos::status.eq(PhotoStatus::Stored.as_str())),
    )
    .set(photos::status.eq(PhotoStatus::Failed.as_str()))
    .execute(conn)?;
    Ok(())
}

/// Photos with bytes that no entity links and that arrived before `cutoff`.
pub fn orphans(conn: &mut DbConn, cutoff: i64, limit: i64) -> Result<Vec<Photo>, StorageError> {
    use crate::schema::photo_links;
    Ok(photos::table
        .filter(photos::status.ne(PhotoStatus::Pending.as_str()))
        .filter(photos::received_at.lt(cutoff))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            photo_links::table
                .filter(photo_links::org_id.eq(photos::org_id))
                .filter(photo_links::sha256.eq(photos::sha256)),
        )))
        .order(photos::received_at.asc())
        .limit(limit)
        .select(Photo::as_select())
        .load(conn)?)
}

/// Deletes an orphan row if it is still one (unlinked, received before `cutoff`); true when
/// deleted. A link committed meanwhile makes this fail on the foreign key or match nothing.
pub fn delete_orphan(
    conn: &mut DbConn,
    org_id: &str,
    sha256: &str,
    cutoff: i64,
) -> Result<bool, StorageError> {
    use crate::schema::photo_links;
    let n = diesel::delete(
        photos::table
            .find((org_id, sha256))
            .filter(photos::status.ne(PhotoStatus::Pending.as_str()))
            .filter(photos::received_at.lt(cutoff))
            .filter(diesel::dsl::not(diesel::dsl::exists(
                photo_links::table
                    .filter(photo_links::org_id.eq(org_id))
                    .filter(photo_links::sha256.eq(sha256)),
            ))),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// The status of each photo in `shas` (a photo without a row reads as pending).
pub(crate) fn status_map(
    conn: &mut DbConn,
    org_id: &str,
    shas: &[String],
) -> Result<HashMap<String, PhotoStatus>, StorageError> {
    let rows: Vec<(String, String)> = photos::table
        .filter(photos::org_id.eq(org_id))
        .filter(photos::sha256.eq_any(shas))
        .select((photos::sha256, photos::status))
        .load(conn)?;
    let known: HashMap<String, PhotoStatus> = rows
        .into_iter()
        .map(|(sha, status)| (sha, status.parse().unwrap_or(PhotoStatus::Pending)))
        .collect();
    Ok(shas
        .iter()
        .map(|s| {
            (
                s.clone(),
                known.get(s).copied().unwrap_or(PhotoStatus::Pending),
            )
        })
        .collect())
}
