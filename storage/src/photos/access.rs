//! Who may read a photo: an organisation admin; anyone with a role at the site of an entity
//! linking it; and, while nothing links it yet, whoever uploaded it. Everyone else (and every
//! other organisation) gets `NotFound`, indistinguishable from a photo that does not exist.
//! Only vouched links grant access (see [`super::link_evidence`]).
//! The links a reader is shown are only those of entities they may read themselves.

use diesel::prelude::*;

use super::{find, Photo, PhotoLink};
use crate::access::Visibility;
use crate::schema::{photo_links, photo_uploaders, sites};
use crate::{users, DbConn, StorageError};

/// The photo if `user_id` of `org_id` may read it.
pub fn readable(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    sha256: &str,
) -> Result<Photo, StorageError> {
    // Who the caller is and what they see come first: the same work for any id.
    let user = users::get(conn, org_id, user_id)?;
    let visibility = crate::access::visibility(conn, org_id, user_id, user.is_admin)?;
    let photo = find(conn, org_id, sha256)?.ok_or(StorageError::NotFound)?;
    if visibility == Visibility::All {
        return Ok(photo);
    }
    let links: Vec<(bool, String)> = photo_links::table
        .inner_join(sites::table.on(sites::id.eq(photo_links::site_id)))
        .filter(photo_links::org_id.eq(org_id))
        .filter(photo_links::sha256.eq(sha256))
        .select((photo_links::vouched, sites::path))
        .load(conn)?;
    if links.is_empty() {
        let uploaded: i64 = photo_uploaders::table
            .filter(photo_uploaders::org_id.eq(org_id))
            .filter(photo_uploaders::sha256.eq(sha256))
            .filter(photo_uploaders::user_id.eq(user_id))
            .count()
            .get_result(conn)?;
        return if uploaded > 0 {
            Ok(photo)
        } else {
            Err(StorageError::NotFound)
        };
    }
    if links.iter().any(|(v, p)| *v && visibility.sees_path(p)) {
        return Ok(photo);
    }
    if links.iter().any(|(_, p)| visibility.sees_path(p)) {
        // Only unvouched links of the caller's own entities: to them the photo is what any
        // photo whose bytes have not arrived is.
        return Ok(as_pending(photo));
    }
    Err(StorageError::NotFound)
}

/// The photo as one whose bytes have not arrived: its id and nothing else.
fn as_pending(photo: Photo) -> Photo {
    Photo {
        org_id: photo.org_id,
        sha256: photo.sha256,
        status: hazardloop_sync::photo::PhotoStatus::Pending
            .as_str()
            .to_string(),
        size: None,
        content_type: None,
        width: None,
        height: None,
        captured_local: None,
        captured_offset_minutes: None,
        captured_at: None,
        gps_lat: None,
        gps_lon: None,
        uploaded_by: None,
        received_at: None,
        thumbnail_key: None,
        display_key: None,
        created_at: photo.created_at,
        flags: "[]".into(),
    }
}

/// The links to a photo from entities the user may read (a photo shared by two sites does not
/// tell a reader of one about the other's entities).
pub fn visible_links(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    is_admin: bool,
    sha256: &str,
) -> Result<Vec<PhotoLink>, StorageError> {
    let visibility = crate::access::visibility(conn, org_id, user_id, is_admin)?;
    let rows: Vec<(PhotoLink, String)> = photo_links::table
        .inner_join(sites::table.on(sites::id.eq(photo_links::site_id)))
        .filter(photo_links::org_id.eq(org_id))
        .filter(photo_links::sha256.eq(sha256))
        .order(photo_links::created_at.asc())
        .select((PhotoLink::as_select(), sites::path))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(_, path)| visibility.sees_path(path))
        .map(|(link, _)| link)
        .collect())
}
