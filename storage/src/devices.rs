//! Devices registered to a user. A device pushes mutations with its own sequence numbers; a
//! revoked device can neither push nor pull.

use diesel::prelude::*;
use serde::Serialize;

use crate::schema::devices;
use crate::{new_id, now_ms, DbConn, StorageError};

/// A registered device.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = devices)]
pub struct Device {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub name: String,
    pub platform: String,
    pub app_version: String,
    /// The last sequence number applied (or refused) for this device.
    pub last_seq: i64,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Registers a device for a user.
pub fn register(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    name: &str,
    platform: &str,
    app_version: &str,
) -> Result<Device, StorageError> {
    let d = Device {
        id: new_id(),
        org_id: org_id.into(),
        user_id: user_id.into(),
        name: name.into(),
        platform: platform.into(),
        app_version: app_version.into(),
        last_seq: 0,
        created_at: now_ms(),
        last_seen_at: None,
        revoked_at: None,
    };
    diesel::insert_into(devices::table)
        .values(&d)
        .execute(conn)?;
    Ok(d)
}

/// A device of the user; another user's device (or organisation's) is `NotFound`.
pub fn get_for_user(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    id: &str,
) -> Result<Device, StorageError> {
    Ok(devices::table
        .filter(devices::org_id.eq(org_id))
        .filter(devices::user_id.eq(user_id))
        .filter(devices::id.eq(id))
        .select(Device::as_select())
        .first(conn)?)
}

/// The user's devices, newest first.
pub fn list_for_user(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
) -> Result<Vec<Device>, StorageError> {
    Ok(devices::table
        .filter(devices::org_id.eq(org_id))
        .filter(devices::user_id.eq(user_id))
        .order(devices::id.desc())
        .select(Device::as_select())
        .load(conn)?)
}

/// Revokes a device (idempotent) and signs out every session signed in on it.
pub fn revoke(conn: &mut DbConn, device: &Device) -> Result<(), StorageError> {
    crate::tokens::revoke_for_device(conn, &device.id)?;
    diesel::update(
        devices::table
            .find(&device.id)
            .filter(devices::revoked_at.is_null()),
    )
    .set(devices::revoked_at.eq(now_ms()))
    .execute(conn)?;
    Ok(())
}
