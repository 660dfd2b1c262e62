//! Web console sessions: the browser's cookie holds a random token, the table its SHA-256 (a
//! leaked database row cannot be replayed as a cookie). A session ends when revoked (sign-out,
//! or an admin revoking it), when idle for too long, or at its absolute end.

use diesel::prelude::*;

use crate::schema::console_sessions;
use crate::tokens::hash_token;
use crate::{DbConn, StorageError};

/// A live console session.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = console_sessions)]
pub struct ConsoleSession {
    pub token_hash: String,
    pub user_id: String,
    pub org_id: String,
    /// The token every form of this session carries.
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// Records a new session for `token`, ending at `now + absolute_ms` at the latest.
pub fn create(
    conn: &mut DbConn,
    token: &str,
    user_id: &str,
    org_id: &str,
    csrf_token: &str,
    now: i64,
    absolute_ms: i64,
) -> Result<(), StorageError> {
    diesel::insert_into(console_sessions::table)
        .values((
            console_sessions::token_hash.eq(hash_token(token)),
            console_sessions::user_id.eq(user_id),
            console_sessions::org_id.eq(org_id),
            console_sessions::csrf_token.eq(csrf_token),
            console_sessions::created_at.eq(now),
            console_sessions::last_seen_at.eq(now),
            console_sessions::expires_at.eq(now + absolute_ms),
        ))
        .execute(conn)?;
    Ok(())
}

/// The session of `token` if it is live at `now`: not revoked, not past its absolute end, and
/// seen within `idle_ms`.
pub fn find_live(
    conn: &mut DbConn,
    token: &str,
    now: i64,
    idle_ms: i64,
) -> Result<Option<ConsoleSession>, StorageError> {
    let found: Option<ConsoleSession> = console_sessions::table
        .find(hash_token(token))
        .select(ConsoleSession::as_select())
        .first(conn)
        .optional()?;
    Ok(found.filter(|s| {
        s.revoked_at.is_none() && now < s.expires_at && now - s.last_seen_at <= idle_ms
    }))
}

/// How stale the recorded last-seen time may get before a request moves it (so a page with
/// many images does not write once per image).
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// Moves a live session's last-seen time to `now`.
pub fn touch(conn: &mut DbConn, token_hash: &str, now: i64) -> Result<(), StorageError> {
    diesel::update(
        console_sessions::table
            .find(token_hash)
            .filter(console_sessions::revoked_at.is_null()),
    )
    .set(console_sessions::last_seen_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Revokes the session of `token` (sign-out).
pub fn revoke(conn: &mut DbConn, token: &str, now: i64) -> Result<(), StorageError> {
    diesel::update(
        console_sessions::table
            .find(hash_token(token))
            .filter(console_sessions::revoked_at.is_null()),
    )
    .set(console_sessions::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Revokes every console session of a user (e.g. deactivated, password changed).
pub fn revoke_all_of_user(
    conn: &mut DbConn,
    user_id: &str,
    now: i64,
) -> Result<usize, StorageError> {
    Ok(diesel::update(
        console_sessions::table
            .filter(console_sessions::user_id.eq(user_id))
            .filter(console_sessions::revoked_at.is_null()),
    )
    .set(console_sessions::revoked_at.eq(now))
    .execute(conn)?)
}
