//! Refresh tokens: stored only as hashes, rotated on every use, and revoked as a whole family
//! when a rotated token is presented again (a sign that it was stolen).

use diesel::prelude::*;

use crate::schema::refresh_tokens;
use crate::{new_id, now_ms, DbConn, StorageError};

/// Hex SHA-256 of a presented token; the only form in which tokens are stored.
pub fn hash_token(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Stores a new refresh token for `user_id`; a new family unless `family_id` is given. A token
/// signed in on a registered device carries `device_id` and dies with the device.
pub fn issue(
    conn: &mut DbConn,
    user_id: &str,
    family_id: Option<&str>,
    device_id: Option<&str>,
    token: &str,
    ttl_ms: i64,
) -> Result<(), StorageError> {
    let now = now_ms();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(new_id()),
            refresh_tokens::family_id.eq(family_id.map(str::to_string).unwrap_or_else(new_id)),
            refresh_tokens::user_id.eq(user_id),
            refresh_tokens::token_hash.eq(hash_token(token)),
            refresh_tokens::expires_at.eq(now + ttl_ms),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::device_id.eq(device_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was valid; it is now spent and `new_token` replaces it in the same family.
    Rotated {
        user_id: String,
        device_id: Option<String>,
    },
    /// The token had already been rotated: the whole family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// id, family, user, expiry, rotated, revoked, device.
type TokenRow = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// Spends `presented` and stores `new_token` in its place, all in the caller's transaction.
/// Two concurrent uses of one token: exactly one rotates, the other counts as reuse.
pub fn rotate(
    conn: &mut DbConn,
    presented: &str,
    new_token: &str,
    ttl_ms: i64,
) -> Result<Rotation, StorageError> {
    let now = now_ms();
    let row: Option<TokenRow> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash_token(presented)))
        .select((
            refresh_tokens::id,
            refresh_tokens::family_id,
            refresh_tokens::user_id,
            refresh_tokens::expires_at,
            refresh_tokens::rotated_at,
            refresh_tokens::revoked_at,
            refresh_tokens::device_id,
        ))
        .first(conn)
        .optional()?;
    let Some((id, family, user_id, expires_at, rotated_at, revoked_at, device_id)) = row else {
        return Ok(Rotation::Invalid);
    };
    if revoked_at.is_some() || expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    if rotated_at.is_some() {
        revoke_family(conn, &family)?;
        return Ok(Rotation::Reused);
    }
    let spent = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(&id))
            .filter(refresh_tokens::rotated_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(now))
    .execute(conn)?;
    if spent == 0 {
        revoke_family(conn, &family)?;
        return Ok(Rotation::Reused);
    }
    issue(
        conn,
        &user_id,
        Some(&family),
        device_id.as_deref(),
        new_token,
        ttl_ms,
    )?;
    Ok(Rotation::Rotated { user_id, device_id })
}

/// Revokes every token of a family.
pub fn revoke_family(conn: &mut DbConn, family_id: &str) -> Result<(), StorageError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now_ms()))
    .execute(conn)?;
    Ok(())
}

/// Revokes every refresh token signed in on a device (the device was revoked).
pub fn revoke_for_device(conn: &mut DbConn, device_id: &str) -> Result<(), StorageError> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::device_id.eq(device_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now_ms()))
    .execute(conn)?;
    Ok(())
}

/// Logout: revokes the family of the presented token, if it is one of `user_id`'s.
pub fn revoke_by_token(
    conn: &mut DbConn,
    user_id: &str,
    token: &str,
) -> Result<bool, StorageError> {
    let family: Option<String> = refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(hash_token(token)))
        .filter(refresh_tokens::user_id.eq(user_id))
        .select(refresh_tokens::family_id)
        .first(conn)
        .optional()?;
    match family {
        Some(f) => {
            revoke_family(conn, &f)?;
            Ok(true)
        }
        None => Ok(false),
    }
}
