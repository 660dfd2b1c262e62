//! Resumable (tus) upload records. All state of an upload lives in its row, so any node can
//! take its next chunk; a PATCH holds the row with a lease (`lock_token`, `locked_until`) so
//! that two requests never write the same upload at once, and a node that died mid-request
//! blocks nobody for longer than the lease.

use diesel::prelude::*;
use serde::Serialize;

use crate::schema::uploads;
use crate::{DbConn, StorageError};

/// Staging on the local backend: one file written at offsets.
pub const STAGING_LOCAL: &str = "local";
/// Staging on S3: multipart parts plus a tail object.
pub const STAGING_S3: &str = "s3";

/// One resumable upload.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = uploads)]
pub struct Upload {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub sha256: String,
    /// The `Upload-Metadata` header as received.
    pub metadata: String,
    pub length: i64,
    /// Bytes committed: the tus `Upload-Offset`.
    pub received: i64,
    pub staging: String,
    pub multipart_id: Option<String>,
    /// JSON array of part e-tags.
    pub parts: String,
    pub tail_key: Option<String>,
    pub lock_token: Option<String>,
    pub locked_until: Option<i64>,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Upload {
    /// The committed part e-tags, in order.
    pub fn part_etags(&self) -> Vec<String> {
        serde_json::from_str(&self.parts).unwrap_or_default()
    }
}

/// Why a PATCH could not take the upload.
#[derive(Debug)]
pub enum Refused {
    /// No such upload for this user.
    NotFound,
    /// The upload is at another offset (or already complete).
    Offset(i64),
    /// Another request holds it.
    Locked,
}

/// Inserts a new upload.
pub fn create(conn: &mut DbConn, upload: &Upload) -> Result<(), StorageError> {
    diesel::insert_into(uploads::table)
        .values(upload)
        .execute(conn)?;
    Ok(())
}

/// The upload if it belongs to this user of this organisation.
pub fn get(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    id: &str,
) -> Result<Upload, StorageError> {
    Ok(uploads::table
        .filter(uploads::id.eq(id))
        .filter(uploads::org_id.eq(org_id))
        .filter(uploads::user_id.eq(user_id))
        .select(Upload::as_select())
        .first(conn)?)
}

/// A PATCH's hold on an upload.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Random, unique to the request.
    pub token: String,
    /// Unix ms; refreshed while the request streams.
    pub until: i64,
}

/// Takes the upload for a PATCH at `offset` with `lease`, if it is at that offset, unfinished
/// and free (or its holder's lease ran out by `now`).
pub fn lock(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    id: &str,
    offset: i64,
    lease: &Lease,
    now: i64,
) -> Result<Result<Upload, Refused>, StorageError> {
    let n = diesel::update(
        uploads::table
            .filter(uploads::id.eq(id))
            .filter(uploads::org_id.eq(org_id))
            .filter(uploads::user_id.eq(user_id))
            .filter(uploads::completed_at.is_null())
            .filter(uploads::received.eq(offset))
            .filter(
                uploads::lock_token
                    .is_null()
                    .or(uploads::locked_until.lt(now)),
            ),
    )
    .set((
        uploads::lock_token.eq(Some(&lease.token)),
        uploads::locked_until.eq(Some(lease.until)),
    ))
    .execute(conn)?;
    let upload = match get(conn, org_id, user_id, id) {
        Ok(u) => u,
        Err(StorageError::NotFound) => return Ok(Err(Refused::NotFound)),
        Err(e) => return Err(e),
    };
    if n == 1 {
        return Ok(Ok(upload));
    }
    if upload.completed_at.is_some() || upload.received != offset {
        return Ok(Err(Refused::Offset(upload.received)));
    }
    Ok(Err(Refused::Locked))
}

/// Extends the holder's lease; false when the lease was lost.
pub fn refresh(conn: &mut DbConn, id: &str, token: &str, until: i64) -> Result<bool, StorageError> {
    let n = diesel::update(
        uploads::table
            .filter(uploads::id.eq(id))
            .filter(uploads::lock_token.eq(token)),
    )
    .set(uploads::locked_until.eq(Some(until)))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records the S3 multipart upload id as soon as it exists, so a sweep can abort it.
pub fn set_multipart(
    conn: &mut DbConn,
    id: &str,
    token: &str,
    multipart_id: &str,
) -> Result<bool, StorageError> {
    let n = diesel::update(
        uploads::table
            .filter(uploads::id.eq(id))
            .filter(uploads::lock_token.eq(token)),
    )
    .set(uploads::multipart_id.eq(Some(multipart_id)))
    .execute(conn)?;
    Ok(n == 1)
}

/// What a PATCH commits.
#[derive(Debug, Clone)]
pub struct Progress {
    pub received: i64,
    pub parts: Vec<String>,
    pub tail_key: Option<String>,
    pub expires_at: i64,
}

/// Commits a PATCH's bytes and releases the upload; false when the lease was lost (then
/// nothing changes).
pub fn commit(
    conn: &mut DbConn,
    id: &str,
    token: &str,
    progress: &Progress,
) -> Result<bool, StorageError> {
    let parts =
        serde_json::to_string(&progress.parts).map_err(|e| StorageError::Invalid(e.to_string()))?;
    let n = diesel::update(
        uploads::table
            .filter(uploads::id.eq(id))
            .filter(uploads::lock_token.eq(token)),
    )
    .set((
        uploads::received.eq(progress.received),
        uploads::parts.eq(parts),
        uploads::tail_key.eq(progress.tail_key.as_deref()),
        uploads::expires_at.eq(progress.expires_at),
        uploads::lock_token.eq(None::<String>),
        uploads::locked_until.eq(None::<i64>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks the upload finished (all bytes received and accepted as a photo) and releases it.
pub fn complete(conn: &mut DbConn, id: &str, token: &str, now: i64) -> Result<(), StorageError> {
    let n = diesel::update(
        uploads::table
            .filter(uploads::id.eq(id))
            .filter(uploads::lock_token.eq(token)),
    )
    .set((
        uploads::received.eq(uploads::length),
        uploads::completed_at.eq(Some(now)),
        uploads::tail_key.eq(None::<String>),
        uploads::lock_token.eq(None::<String>),
        uploads::locked_until.eq(None::<i64>),
    ))
    .execute(conn)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StorageError::Conflict("the upload's lease was lost".into()))
    }
}

/// Releases the upload without committing anything.
pub fn unlock(conn: &mut DbConn, id: &str, token: &str) -> Result<(), StorageError> {
    diesel::update(
        uploads::table
            .filter(uploads::id.eq(id))
            .filter(uploads::lock_token.eq(token)),
    )
    .set((
        uploads::lock_token.eq(None::<String>),
        uploads::locked_until.eq(None::<i64>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Deletes an upload record.
pub fn delete(conn: &mut DbConn, id: &str) -> Result<(), StorageError> {
    diesel::delete(uploads::table.filter(uploads::id.eq(id))).execute(conn)?;
    Ok(())
}

/// Deletes an upload that is free (not held by a live PATCH) and, with `expired_before`,
/// past that expiry; returns the row as it was when deleted, so its staged bytes can be
/// removed (a PATCH that committed just before is reflected in it).
pub fn delete_if_free(
    conn: &mut DbConn,
    id: &str,
    now: i64,
    expired_before: Option<i64>,
) -> Result<Option<Upload>, StorageError> {
    let free = uploads::table.filter(uploads::id.eq(id)).filter(
        uploads::lock_token
            .is_null()
            .or(uploads::locked_until.lt(now)),
    );
    let cutoff = expired_before.unwrap_or(i64::MAX);
    let target = free.filter(uploads::expires_at.lt(cutoff));
    let deleted = crate::db_run!(conn, |c| diesel::delete(target)
        .returning(Upload::as_returning())
        .get_result(c)
        .optional()?);
    Ok(deleted)
}

/// Uploads past their expiry and not held by a live PATCH.
pub fn expired(conn: &mut DbConn, now: i64, limit: i64) -> Result<Vec<Upload>, StorageError> {
    Ok(uploads::table
        .filter(uploads::expires_at.lt(now))
        .filter(
            uploads::lock_token
                .is_null()
                .or(uploads::locked_until.lt(now)),
        )
        .order(uploads::expires_at.asc())
        .limit(limit)
        .select(Upload::as_select())
        .load(conn)?)
}
