//! The stored link rows (`photo_links`) and their reader, apart from the link writers
//! (`links`) and the evidence checks (`evidence`), which both use them: neither of those two
//! files imports the other's module through this one.

use diesel::prelude::*;
use serde::Serialize;

use crate::schema::photo_links;
use crate::{DbConn, StorageError};

/// One link from an entity to a photo.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = photo_links)]
pub struct PhotoLink {
    pub org_id: String,
    /// `hazard`, `inspection`, ...
    pub entity_type: String,
    pub entity_id: String,
    /// The entity's site; users with a role there may read the photo.
    pub site_id: String,
    pub sha256: String,
    /// `before`, `after`, `evidence`, `answer` ([`PhotoRole`]).
    pub role: String,
    pub created_at: i64,
    /// The linking entity's report (or start) time by the device clock, against which the
    /// capture time is judged; `None` when the linking code did not give one.
    pub reported_at: Option<i64>,
    /// The link's evidence flags (JSON array; see `hazardloop_sync::evidence`).
    pub flags: String,
    /// Whether the link grants the entity's readers the photo: made by someone who held or
    /// could read it (or named a photo nobody had mentioned yet), or vouched for since by an
    /// upload of its bytes from someone who sees the entity's site. An unvouched link shows
    /// the photo as pending and grants nothing.
    pub vouched: bool,
}

/// The links to a photo.
pub fn links(
    conn: &mut DbConn,
    org_id: &str,
    sha256: &str,
) -> Result<Vec<PhotoLink>, StorageError> {
    Ok(photo_links::table
        .filter(photo_links::org_id.eq(org_id))
        .filter(photo_links::sha256.eq(sha256))
        .order(photo_links::created_at.asc())
        .select(PhotoLink::as_select())
        .load(conn)?)
}
