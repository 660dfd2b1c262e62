//! Dual prevention's register and check tasks under `/v1/risk/...`: units, events with their
//! assessment history, control measures, check duties, pauses, the spreadsheet import, and the
//! task list. People only (no client scope reaches them). Anyone with a role at a unit's site
//! (or above it) reads it; managers there and admins change it; whoever may not read it gets
//! 404, as for an id that does not exist.

pub mod controls;
pub mod edits;
pub mod import;
pub mod register;
pub mod tasks;

use actix_web::web;
use hazardloop_storage::change::Change;
use hazardloop_storage::risk::{Caller, Outcome, Refusal};
use hazardloop_storage::{now_ms, DbConn, StorageError};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;

/// The storage form of the signed-in person.
pub fn caller(auth: &AuthedUser) -> Caller {
    Caller {
        org_id: auth.org_id.clone(),
        user_id: auth.user_id.clone(),
        is_admin: auth.is_admin,
    }
}

/// The HTTP answer to a refusal: 403 `forbidden`, or 422 `validation_failed` naming the field.
pub fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Forbidden(m) => ApiError::forbidden(m),
        Refusal::Invalid { field, reason } => ApiError::invalid_fields(&[field.as_str()], reason),
    }
}

/// Runs one register write in a transaction with its audit bookkeeping: `f` checks first and
/// refuses before writing anything, or writes and queues its events, which are committed with
/// it (audit chain, event feed, webhook outbox).
pub async fn write<T, F>(
    state: &web::Data<AppState>,
    auth: &AuthedUser,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &mut Change, &Caller) -> Result<Outcome<T>, StorageError>
        + Send
        + 'static,
{
    let who = caller(auth);
    let outcome = state
        .db
        .write(move |c| {
            let mut change = Change::begin(c, &who.org_id, now_ms())?;
            let out = f(c, &mut change, &who)?;
            if out.is_ok() {
                change.finish(c)?;
            }
            Ok(out)
        })
        .await?;
    outcome.map_err(refused)
}

/// Text of 1 to `max` characters (trimmed), or 422 naming the field.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    hazardloop_storage::risk::text(field, value, max).map_err(refused)
}

/// A time in RFC 3339, or 422 naming the field.
pub fn time(field: &str, value: &str) -> Result<i64, ApiError> {
    hazardloop_sync::timestamp::parse_rfc3339_ms(value).map_err(|_| {
        ApiError::invalid_fields(&[field], format!("{field} must be an RFC 3339 time"))
    })
}
