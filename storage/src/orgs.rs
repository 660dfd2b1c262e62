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

/// The time zone reports use when the organisation names none: the product's statutory
/// reports follow Chinese regulation, whose days are Beijing time.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

#[derive(serde::Deserialize, Default)]
struct ReportSettings {
    time_zone: Option<String>,
    principal_id: Option<String>,
}

impl Organisation {
    /// The IANA time zone its reporting periods are counted in (`settings.time_zone`).
    pub fn time_zone(&self) -> String {
        serde_json::from_str::<ReportSettings>(&self.settings)
            .ok()
            .and_then(|s| s.time_zone)
            .filter(|z| !z.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string())
    }

    /// The principal (主要负责人) who signs its reports (`settings.principal_id`); `None`:
    /// its admins sign.
    pub fn principal_id(&self) -> Option<String> {
        serde_json::from_str::<ReportSettings>(&self.settings)
            .ok()
            .and_then(|s| s.principal_id)
            .filter(|p| !p.trim().is_empty())
    }
}

fn set_setting(
    conn: &mut DbConn,
    org_id: &str,
    key: &str,
    value: serde_json::Value,
) -> Result<(), StorageError> {
    let org = get(conn, org_id)?;
    let mut settings: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&org.settings).unwrap_or_default();
    settings.insert(key.into(), value);
    diesel::update(organisations::table.find(org_id))
        .set(organisations::settings.eq(serde_json::Value::Object(settings).to_string()))
        .execute(conn)?;
    Ok(())
}

/// Names the user who signs the organisation's reports (an active user of the organisation).
pub fn set_principal(conn: &mut DbConn, org_id: &str, user_id: &str) -> Result<(), StorageError> {
    let user = crate::users::get(conn, org_id, user_id)?;
    if !user.active {
        return Err(StorageError::Invalid(format!(
            "user {user_id} is not active"
        )));
    }
    set_setting(conn, org_id, "principal_id", user.id.into())
}

/// Sets the organisation's time zone (an IANA name such as `Asia/Shanghai`), keeping its
/// other settings.
pub fn set_time_zone(conn: &mut DbConn, org_id: &str, zone: &str) -> Result<(), StorageError> {
    hazardloop_sync::period::time_zone(zone).map_err(StorageError::Invalid)?;
    set_setting(conn, org_id, "time_zone", zone.into())
}
