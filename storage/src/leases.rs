//! Named leases in the database: a periodic task runs on whichever node holds its lease, so
//! several nodes never run it at once.

use diesel::prelude::*;

use crate::schema::leases;
use crate::{DbConn, StorageError};

/// Takes or renews the lease `name` for `holder` until `now + ttl_ms`; false when another
/// holder's lease is still running.
pub fn try_acquire(
    conn: &mut DbConn,
    name: &str,
    holder: &str,
    ttl_ms: i64,
    now: i64,
) -> Result<bool, StorageError> {
    let row = (
        leases::name.eq(name),
        leases::holder.eq(holder),
        leases::expires_at.eq(now + ttl_ms),
    );
    // The first claim of a name: insert, or do nothing when another node got there first.
    let inserted = crate::db_run!(conn, |c| diesel::insert_into(leases::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c)?);
    if inserted == 1 {
        return Ok(true);
    }
    let taken = diesel::update(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::expires_at.lt(now).or(leases::holder.eq(holder))),
    )
    .set((
        leases::holder.eq(holder),
        leases::expires_at.eq(now + ttl_ms),
    ))
    .execute(conn)?;
    Ok(taken == 1)
}
