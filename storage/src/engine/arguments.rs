//! A site named by a mutation's typed arguments (`hazardloop_sync::protocol`): whether the
//! caller may see it is decided here, against the transaction's [`Ctx`].

use hazardloop_sync::MutationRejection;

use super::{Ctx, Failure};
use crate::{sites, DbConn, StorageError};

/// Loads a site of the caller's organisation named by `site_id` as a rejection-aware lookup;
/// a site the caller may not read is answered like one that does not exist.
pub(crate) fn site_named(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    id: &str,
) -> Result<sites::Site, Failure> {
    let visibility = ctx.visibility(conn)?;
    match ctx.site(conn, id) {
        // A site the caller sees nothing of does not exist for them.
        Ok(s) if visibility.sees(&s) => Ok(s),
        Ok(_) | Err(StorageError::NotFound) => {
            Err(MutationRejection::invalid("site_id", format!("site {id} does not exist")).into())
        }
        Err(e) => Err(e.into()),
    }
}
