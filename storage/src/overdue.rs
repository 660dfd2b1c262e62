//! The overdue scan: one `hazard.overdue` event per hazard per deadline, however many nodes
//! scan and however often.

use diesel::prelude::*;
use serde_json::json;

use crate::audit::EventInput;
use crate::change::Change;
use crate::schema::hazards;
use crate::{DbConn, StorageError};

const OPEN: [&str; 4] = [
    "reported",
    "assigned",
    "rectifying",
    "awaiting_verification",
];

/// Records the overdue event of every open hazard whose deadline has passed and was not
/// reported yet; returns how many were recorded. One transaction per organisation (run it
/// through `Db::write_blocking` or inside a write).
pub fn scan(conn: &mut DbConn, now: i64, limit: i64) -> Result<usize, StorageError> {
    let due: Vec<(String, String, String, String, Option<i64>)> = hazards::table
        .filter(hazards::state.eq_any(OPEN))
        .filter(hazards::deadline.lt(now))
        .filter(
            hazards::overdue_notified_deadline
                .is_null()
                .or(hazards::overdue_notified_deadline
                    .nullable()
                    .ne(hazards::deadline)),
        )
        .order((hazards::org_id.asc(), hazards::id.asc()))
        .limit(limit)
        .select((
            hazards::org_id,
            hazards::id,
            hazards::site_id,
            hazards::state,
            hazards::deadline,
        ))
        .load(conn)?;
    let mut recorded = 0;
    let mut i = 0;
    while i < due.len() {
        let org = due[i].0.clone();
        let mut change = Change::begin(conn, &org, now)?;
        while i < due.len() && due[i].0 == org {
            let (_, id, site, state, deadline) = &due[i];
            i += 1;
            let Some(deadline) = *deadline else { continue };
            // Conditional on the deadline not yet being notified: a second scanner (another
            // node, or this one again) updates nothing and records nothing.
            let n = diesel::update(
                hazards::table
                    .filter(hazards::id.eq(id))
                    .filter(hazards::deadline.eq(deadline))
                    .filter(
                        hazards::overdue_notified_deadline
                            .is_null()
                            .or(hazards::overdue_notified_deadline.ne(deadline)),
                    ),
            )
            .set(hazards::overdue_notified_deadline.eq(deadline))
            .execute(conn)?;
            if n == 0 {
                continue;
            }
            change.touch(conn, "hazard", id, Some(site), false)?;
            change.audit(
                conn,
                EventInput {
                    entity_type: "hazard",
                    entity_id: id.clone(),
                    hazard_id: Some(id.clone()),
                    site_id: Some(site.clone()),
                    event: hazardloop_sync::event::HAZARD_OVERDUE.to_string(),
                    from_state: Some(state.clone()),
                    to_state: Some(state.clone()),
                    payload: json!({"deadline": hazardloop_sync::timestamp::format_rfc3339_ms(deadline)}),
                    ..EventInput::default()
                },
            )?;
            recorded += 1;
        }
        change.finish(conn)?;
    }
    Ok(recorded)
}
