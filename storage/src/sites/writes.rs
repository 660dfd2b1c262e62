//! Writing the site tree: creating a site and placing it. Each write records the site in the
//! change index through a [`Change`], so these live apart from the reads that [`Change`]'s own
//! sync forms use (no module ring between the tree and the change).

use diesel::prelude::*;

use super::{get, Position, Site};
use crate::change::Change;
use crate::schema::sites;
use crate::{new_id, now_ms, DbConn, StorageError};

/// Sets or clears a site's position (admin work; the caller checks the organisation).
pub fn set_position(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
    position: Option<Position>,
) -> Result<Site, StorageError> {
    let n = diesel::update(
        sites::table
            .filter(sites::org_id.eq(org_id))
            .filter(sites::id.eq(id)),
    )
    .set((
        sites::latitude.eq(position.map(|p| p.lat)),
        sites::longitude.eq(position.map(|p| p.lon)),
        sites::radius_m.eq(position.map(|p| p.radius_m)),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(StorageError::NotFound);
    }
    let site = get(conn, org_id, id)?;
    let mut change = Change::begin(conn, org_id, now_ms())?;
    change.touch(conn, "site", &site.id, Some(&site.id), false)?;
    change.finish(conn)?;
    Ok(site)
}

/// Creates a site under `parent_id` (which must belong to the same organisation).
pub fn create(
    conn: &mut DbConn,
    org_id: &str,
    name: &str,
    kind: &str,
    parent_id: Option<&str>,
    position: Option<Position>,
) -> Result<Site, StorageError> {
    let id = new_id();
    let path = match parent_id {
        Some(pid) => {
            let parent = get(conn, org_id, pid)
                .map_err(|_| StorageError::Invalid(format!("parent site {pid} does not exist")))?;
            format!("{}{id}/", parent.path)
        }
        None => format!("/{id}/"),
    };
    let site = Site {
        id,
        org_id: org_id.to_string(),
        parent_id: parent_id.map(str::to_string),
        name: name.to_string(),
        kind: kind.to_string(),
        path,
        created_at: now_ms(),
        latitude: position.map(|p| p.lat),
        longitude: position.map(|p| p.lon),
        radius_m: position.map(|p| p.radius_m),
    };
    diesel::insert_into(sites::table)
        .values(&site)
        .execute(conn)?;
    let mut change = Change::begin(conn, org_id, site.created_at)?;
    change.touch(conn, "site", &site.id, Some(&site.id), false)?;
    change.finish(conn)?;
    Ok(site)
}
