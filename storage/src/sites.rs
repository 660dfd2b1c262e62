//! The site tree (company / plant / workshop / area), stored with a materialised path so that
//! subtree and ancestor questions are one indexed prefix query on either backend.

use diesel::prelude::*;
use serde::Serialize;

use crate::schema::sites;
use crate::{new_id, now_ms, DbConn, StorageError};

/// One node of an organisation's site tree.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = sites)]
pub struct Site {
    pub id: String,
    pub org_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub kind: String,
    /// `/root-id/.../self-id/`.
    pub path: String,
    pub created_at: i64,
}

impl Site {
    /// Ids from the root down to this site, inclusive.
    pub fn lineage(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// Creates a site under `parent_id` (which must belong to the same organisation).
pub fn create(
    conn: &mut DbConn,
    org_id: &str,
    name: &str,
    kind: &str,
    parent_id: Option<&str>,
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
    };
    diesel::insert_into(sites::table)
        .values(&site)
        .execute(conn)?;
    let mut change = crate::change::Change::begin(conn, org_id, site.created_at)?;
    change.touch(conn, "site", &site.id, Some(&site.id), false)?;
    change.finish(conn)?;
    Ok(site)
}

/// Loads a site of the organisation; another organisation's site is `NotFound`.
pub fn get(conn: &mut DbConn, org_id: &str, id: &str) -> Result<Site, StorageError> {
    Ok(sites::table
        .filter(sites::org_id.eq(org_id))
        .filter(sites::id.eq(id))
        .select(Site::as_select())
        .first(conn)?)
}

/// The site and everything below it, parents before children.
pub fn subtree(conn: &mut DbConn, site: &Site) -> Result<Vec<Site>, StorageError> {
    Ok(sites::table
        .filter(sites::org_id.eq(&site.org_id))
        .filter(sites::path.like(format!("{}%", site.path)))
        .order(sites::path.asc())
        .select(Site::as_select())
        .load(conn)?)
}

/// Every site of the organisation, parents before children.
pub fn list(conn: &mut DbConn, org_id: &str) -> Result<Vec<Site>, StorageError> {
    Ok(sites::table
        .filter(sites::org_id.eq(org_id))
        .order(sites::path.asc())
        .select(Site::as_select())
        .load(conn)?)
}

/// The sites whose path starts with one of `roots`' paths: what a user with memberships at
/// `roots` may see.
pub fn below_any(
    conn: &mut DbConn,
    org_id: &str,
    roots: &[Site],
) -> Result<Vec<Site>, StorageError> {
    let all = list(conn, org_id)?;
    Ok(all
        .into_iter()
        .filter(|s| roots.iter().any(|r| s.path.starts_with(&r.path)))
        .collect())
}

/// Sites by id.
pub fn by_ids(conn: &mut DbConn, org_id: &str, ids: &[String]) -> Result<Vec<Site>, StorageError> {
    Ok(sites::table
        .filter(sites::org_id.eq(org_id))
        .filter(sites::id.eq_any(ids.to_vec()))
        .select(Site::as_select())
        .load(conn)?)
}
