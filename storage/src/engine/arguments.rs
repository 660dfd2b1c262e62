//! Reading a mutation's JSON arguments inside a handler: the pure readers are
//! `hazardloop_sync::protocol::args::read` (each names the argument it refuses), adapted here
//! to the engine's [`Failure`]; [`site_arg`] also decides whether the caller may see the site.

use hazardloop_sync::protocol::args::read;
use hazardloop_sync::MutationRejection;
use serde_json::Value;

use super::{Ctx, Failure};
use crate::{sites, DbConn, StorageError};

/// Reads a required id argument.
pub(crate) fn id_arg(args: &Value, key: &str) -> Result<String, Failure> {
    Ok(read::id(args, key)?)
}

/// Reads an optional id argument.
pub(crate) fn opt_id_arg(args: &Value, key: &str) -> Result<Option<String>, Failure> {
    Ok(read::opt_id(args, key)?)
}

/// Reads an optional text argument (trimmed; over `max` characters is invalid).
pub(crate) fn text_arg(args: &Value, key: &str, max: usize) -> Result<Option<String>, Failure> {
    Ok(read::text(args, key, max)?)
}

/// Reads an optional GPS argument `{lat, lon, accuracy_m?}` (as stored JSON text).
pub(crate) fn gps_arg(args: &Value, key: &str) -> Result<Option<String>, Failure> {
    Ok(read::gps(args, key)?)
}

/// Reads an optional RFC 3339 time argument as unix ms.
pub(crate) fn time_arg(args: &Value, key: &str) -> Result<Option<i64>, Failure> {
    Ok(read::time(args, key)?)
}

/// Reads an optional array of photo ids.
pub(crate) fn photos_arg(args: &Value, key: &str) -> Result<Vec<String>, Failure> {
    Ok(read::photos(args, key)?)
}

/// Loads a site of the caller's organisation as a rejection-aware lookup; a site the caller may
/// not read is answered like one that does not exist.
pub(crate) fn site_arg(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &Value,
) -> Result<sites::Site, Failure> {
    let id = id_arg(args, "site_id")?;
    let visibility = ctx.visibility(conn)?;
    match ctx.site(conn, &id) {
        // A site the caller sees nothing of does not exist for them.
        Ok(s) if visibility.sees(&s) => Ok(s),
        Ok(_) | Err(StorageError::NotFound) => {
            Err(MutationRejection::invalid("site_id", format!("site {id} does not exist")).into())
        }
        Err(e) => Err(e.into()),
    }
}
