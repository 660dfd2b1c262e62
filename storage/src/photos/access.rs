//! Who may read a photo: an organisation admin; anyone with a role at the site of an entity
//! linking it; and, while nothing links it yet, whoever uploaded it. Everyone else (and every
//! other organisation) gets `NotFound`, indistinguishable from a photo that does not exist.

use diesel::prelude::*;

use super::{find, Photo};
use crate::schema::{photo_links, photo_uploaders};
use crate::{sites, users, DbConn, StorageError};

/// The photo if `user_id` of `org_id` may read it.
pub fn readable(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    sha256: &str,
) -> Result<Photo, StorageError> {
    let photo = find(conn, org_id, sha256)?.ok_or(StorageError::NotFound)?;
    let user = users::get(conn, org_id, user_id)?;
    if user.is_admin {
        return Ok(photo);
    }
    let site_ids: Vec<String> = photo_links::table
        .filter(photo_links::org_id.eq(org_id))
        .filter(photo_links::sha256.eq(sha256))
        .select(photo_links::site_id)
        .distinct()
        .load(conn)?;
    if site_ids.is_empty() {
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
    for site_id in site_ids {
        let site = sites::get(conn, org_id, &site_id)?;
        if users::effective_role(conn, &user, &site)?.is_some() {
            return Ok(photo);
        }
    }
    Err(StorageError::NotFound)
}
