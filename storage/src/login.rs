//! Failed sign-in records, kept in the database so throttling holds across several nodes.
//! Keyed by the normalised e-mail address as typed, whether or not such a user exists, so the
//! answer never reveals which accounts exist.

use diesel::prelude::*;

use crate::schema::login_failures;
use crate::users::normalise_email;
use crate::{DbConn, StorageError};

/// Throttling parameters.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    /// Failures within `window_ms` that lock the address.
    pub max_failures: i32,
    /// The counting window.
    pub window_ms: i64,
    /// How long a lock lasts.
    pub lockout_ms: i64,
}

/// When the address is locked, until when (unix ms).
pub fn locked_until(conn: &mut DbConn, email: &str, now: i64) -> Result<Option<i64>, StorageError> {
    let until: Option<Option<i64>> = login_failures::table
        .find(normalise_email(email))
        .select(login_failures::locked_until)
        .first(conn)
        .optional()?;
    Ok(until.flatten().filter(|t| *t > now))
}

/// Records one failure; returns the lock's end when this failure locked the address.
pub fn record_failure(
    conn: &mut DbConn,
    email: &str,
    now: i64,
    throttle: Throttle,
) -> Result<Option<i64>, StorageError> {
    let email = normalise_email(email);
    let current: Option<(i32, i64)> = login_failures::table
        .find(&email)
        .select((login_failures::failures, login_failures::window_started_at))
        .first(conn)
        .optional()?;
    let (failures, started) = match current {
        Some((n, started)) if now - started < throttle.window_ms => (n + 1, started),
        _ => (1, now),
    };
    let locked = (failures >= throttle.max_failures).then_some(now + throttle.lockout_ms);
    // Two nodes may race to create the first row: an upsert settles it on both backends.
    let values = (
        login_failures::email.eq(&email),
        login_failures::failures.eq(failures),
        login_failures::window_started_at.eq(started),
        login_failures::locked_until.eq(locked),
    );
    let update = (
        login_failures::failures.eq(failures),
        login_failures::window_started_at.eq(started),
        login_failures::locked_until.eq(locked),
    );
    crate::db_run!(conn, |c| diesel::insert_into(login_failures::table)
        .values(values)
        .on_conflict(login_failures::email)
        .do_update()
        .set(update)
        .execute(c)?);
    Ok(locked)
}

/// Forgets the failures after a successful sign-in.
pub fn clear(conn: &mut DbConn, email: &str) -> Result<(), StorageError> {
    diesel::delete(login_failures::table.find(normalise_email(email))).execute(conn)?;
    Ok(())
}
