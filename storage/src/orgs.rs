//! Organisations (tenants). Every other row carries an `org_id`.

use diesel::prelude::*;
use serde::Serialize;

use crate::schema::{org_clocks, organisations};
use crate::{new_id, now_ms, DbConn, StorageError};

/// One tenant.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = organisations)]
pub struct Organisation {
    pub id: String,
    pub name: String,
    /// Organisation settings as JSON text (grades, policies).
    pub settings: String,
    pub created_at: i64,
    /// Tombstones up to this change sequence were pruned; older pull cursors must reset.
    pub pruned_seq: i64,
}

/// Creates an organisation.
pub fn create(conn: &mut DbConn, name: &str) -> Result<Organisation, StorageError> {
    let org = Organisation {
        id: new_id(),
        name: name.to_string(),
        settings: "{}".into(),
        created_at: now_ms(),
        pruned_seq: 0,
    };
    diesel::insert_into(organisations::table)
        .values(&org)
        .execute(conn)?;
    diesel::insert_into(org_clocks::table)
        .values((
            org_clocks::org_id.eq(&org.id),
            org_clocks::change_seq.eq(0),
            org_clocks::audit_seq.eq(0),
            org_clocks::audit_head.eq(hazardloop_sync::GENESIS_HASH),
        ))
        .execute(conn)?;
    Ok(org)
}

/// Loads one organisation.
pub fn get(conn: &mut DbConn, id: &str) -> Result<Organisation, StorageError> {
    Ok(organisations::table
        .find(id)
        .select(Organisation::as_select())
        .first(conn)?)
}

/// Finds an organisation by its exact name.
pub fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Organisation>, StorageError> {
    Ok(organisations::table
        .filter(organisations::name.eq(name))
        .select(Organisation::as_select())
        .first(conn)
        .optional()?)
}

/// The organisation to use when the command line names none: the only one there is, or a new
/// one called `name` when there is none. Several organisations and no name is an error.
pub fn default_org(conn: &mut DbConn, name: Option<&str>) -> Result<Organisation, StorageError> {
    if let Some(name) = name {
        return match find_by_name(conn, name)? {
            Some(org) => Ok(org),
            None => create(conn, name),
        };
    }
    let all: Vec<Organisation> = organisations::table
        .select(Organisation::as_select())
        .limit(2)
        .load(conn)?;
    match all.len() {
        0 => create(conn, "Default organisation"),
        1 => Ok(all.into_iter().next().ok_or(StorageError::NotFound)?),
        _ => Err(StorageError::Invalid(
            "several organisations exist: name one with --org".into(),
        )),
    }
}

/// Every organisation.
pub fn list(conn: &mut DbConn) -> Result<Vec<Organisation>, StorageError> {
    Ok(organisations::table
        .order(organisations::id.asc())
        .select(Organisation::as_select())
        .load(conn)?)
}
