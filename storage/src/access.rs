//! What a signed-in user may see: sites by role, following the tree downwards.
//!
//! The rule every answer follows: whoever may not read an entity learns nothing about it, so an
//! entity at a site the caller sees nothing of is answered exactly like an id that does not
//! exist. [`Visibility`] is decided before the entity is looked up, so that an existing entity
//! costs a caller who may not read it no more work than a random id.

use diesel::prelude::*;

use crate::schema::{memberships, sites as s};
use crate::sites::{self, Site};
use crate::{users, DbConn, StorageError};

/// The sites whose entities a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Everything of the organisation (an admin, an unrestricted integration client).
    All,
    /// The subtrees below these materialised paths (the caller's memberships, any role).
    Under(Vec<String>),
}

impl Visibility {
    /// Whether entities at the site with this materialised path are readable.
    pub fn sees_path(&self, path: &str) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Under(roots) => roots.iter().any(|r| path.starts_with(r.as_str())),
        }
    }

    /// Whether entities at `site` are readable.
    pub fn sees(&self, site: &Site) -> bool {
        self.sees_path(&site.path)
    }
}

/// The caller's [`Visibility`]: one query for anyone but an admin.
pub fn visibility(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<Visibility, StorageError> {
    if is_admin {
        return Ok(Visibility::All);
    }
    let paths: Vec<String> = memberships::table
        .inner_join(s::table)
        .filter(memberships::user_id.eq(user_id))
        .filter(s::org_id.eq(org_id))
        .select(s::path)
        .load(conn)?;
    Ok(Visibility::Under(paths))
}

/// The materialised paths under which the user may see data; `None` means everything (admin).
pub fn visible_paths(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<Option<Vec<String>>, StorageError> {
    if is_admin {
        return Ok(None);
    }
    let user = users::get(conn, org_id, user_id)?;
    Ok(Some(
        users::membership_sites(conn, &user)?
            .into_iter()
            .map(|s| s.path)
            .collect(),
    ))
}

/// The ids of the sites the user may see; `None` means everything.
pub fn visible_site_ids(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    is_admin: bool,
) -> Result<Option<Vec<String>>, StorageError> {
    let Some(paths) = visible_paths(conn, org_id, user_id, is_admin)? else {
        return Ok(None);
    };
    Ok(Some(
        sites::list(conn, org_id)?
            .into_iter()
            .filter(|s| paths.iter().any(|p| s.path.starts_with(p)))
            .map(|s| s.id)
            .collect(),
    ))
}

/// Loads a site the user may see; otherwise `NotFound`, the same answer at the same cost as
/// for a site that does not exist (what the user sees is read first).
pub fn visible_site(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    is_admin: bool,
    site_id: &str,
) -> Result<Site, StorageError> {
    let visibility = visibility(conn, org_id, user_id, is_admin)?;
    let site = sites::get(conn, org_id, site_id)?;
    if !visibility.sees(&site) {
        return Err(StorageError::NotFound);
    }
    Ok(site)
}

/// The ids of the sites where the user holds at least `min` (through the tree); `None` means
/// everything (admin).
pub fn site_ids_with_role(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    is_admin: bool,
    min: hazardloop_sync::Role,
) -> Result<Option<Vec<String>>, StorageError> {
    if is_admin {
        return Ok(None);
    }
    let user = users::get(conn, org_id, user_id)?;
    let memberships = users::memberships(conn, &user.id)?;
    let all = sites::list(conn, org_id)?;
    let roots: Vec<&str> = memberships
        .iter()
        .filter(|m| {
            m.role
                .parse::<hazardloop_sync::Role>()
                .is_ok_and(|r| r.at_least(min))
        })
        .filter_map(|m| {
            all.iter()
                .find(|s| s.id == m.site_id)
                .map(|s| s.path.as_str())
        })
        .collect();
    Ok(Some(
        all.iter()
            .filter(|s| roots.iter().any(|p| s.path.starts_with(p)))
            .map(|s| s.id.clone())
            .collect(),
    ))
}
