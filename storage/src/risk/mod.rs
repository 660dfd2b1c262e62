//! The dual prevention register (双重预防) and its check tasks: risk analysis units, their risk
//! events with assessment history, control measures, check duties, paused periods, and the task
//! instances the duties generate.
//!
//! The rules (a matrix's colour, a duty's windows, a task's timing, a unit's level) are
//! `hazardloop_sync::risk`'s; this module loads what they need, asks them and writes the answer
//! with its audit events through [`crate::change::Change`], like the overdue scan. Checking who
//! may do what happens here before anything is written, so a refusal leaves nothing behind.

pub mod duties;
pub mod events;
pub mod import;
pub mod measures;
pub mod pauses;
pub mod tasks;
pub mod units;

use hazardloop_sync::risk::RiskMatrix;
use hazardloop_sync::Role;
use serde_json::Value;

use crate::change::{Change, EventInput};
use crate::sites::Site;
use crate::{access, orgs, users, DbConn, StorageError};

/// Who is asking: the signed-in person's organisation, id and admin flag.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: String,
    pub user_id: String,
    pub is_admin: bool,
}

/// Why a register write was refused; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller may read the unit but not change it (a manager at its site, or an admin,
    /// keeps the register).
    Forbidden(String),
    /// A value breaks a rule; `field` names it as the API does.
    Invalid { field: String, reason: String },
}

impl Refusal {
    /// A refusal naming the field at fault.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Refusal {
        Refusal::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<hazardloop_sync::risk::RiskError> for Refusal {
    fn from(e: hazardloop_sync::risk::RiskError) -> Refusal {
        match e {
            hazardloop_sync::risk::RiskError::Invalid { field, reason } => {
                Refusal::invalid(field, reason)
            }
        }
    }
}

/// A refused or accepted write.
pub type Outcome<T> = Result<T, Refusal>;

/// The organisation's risk settings: its matrix (`settings.risk_matrix`, the 5x5 LS matrix by
/// default) and its offset from UTC in minutes at `now` (from `settings.time_zone`,
/// Asia/Shanghai by default; the zones served have no daylight saving time).
#[derive(Debug, Clone, Copy)]
pub struct RiskSettings {
    pub matrix: RiskMatrix,
    pub utc_offset_minutes: i32,
}

/// Loads the organisation's [`RiskSettings`].
pub fn settings(conn: &mut DbConn, org_id: &str, now: i64) -> Result<RiskSettings, StorageError> {
    let org = orgs::get(conn, org_id)?;
    let matrix = serde_json::from_str::<Value>(&org.settings)
        .ok()
        .and_then(|s| s.get("risk_matrix").cloned())
        .and_then(|m| serde_json::from_value::<RiskMatrix>(m).ok())
        .filter(|m| m.validate().is_ok())
        .unwrap_or_default();
    let offset_ms = hazardloop_sync::period::time_zone(&org.time_zone())
        .map(|tz| hazardloop_sync::period::local_ms(now, &tz) - now)
        .unwrap_or(8 * 3_600_000);
    Ok(RiskSettings {
        matrix,
        utc_offset_minutes: (offset_ms / 60_000) as i32,
    })
}

/// The site named by a request, if the caller may read it; otherwise `NotFound`, the answer a
/// site that does not exist gets (visibility is decided before the lookup).
pub fn readable_site(
    conn: &mut DbConn,
    caller: &Caller,
    site_id: &str,
) -> Result<Site, StorageError> {
    access::visible_site(
        conn,
        &caller.org_id,
        &caller.user_id,
        caller.is_admin,
        site_id,
    )
}

/// Whether the caller keeps the register at `site`: an admin, or a manager there or above.
pub fn may_manage(conn: &mut DbConn, caller: &Caller, site: &Site) -> Result<bool, StorageError> {
    Ok(
        users::role_at(conn, &caller.user_id, caller.is_admin, site)?
            .is_some_and(|r| r.at_least(Role::Manager)),
    )
}

/// `Forbidden` unless the caller keeps the register at `site`.
pub fn require_manager(
    conn: &mut DbConn,
    caller: &Caller,
    site: &Site,
) -> Result<Outcome<()>, StorageError> {
    Ok(if may_manage(conn, caller, site)? {
        Ok(())
    } else {
        Err(Refusal::Forbidden(
            "only managers of the site and admins may change its risk register".into(),
        ))
    })
}

/// Checks that each named person is an active user of the organisation; the first one that is
/// not is refused with its field.
pub fn check_people(
    conn: &mut DbConn,
    org_id: &str,
    people: &[(&str, Option<&str>)],
) -> Result<Outcome<()>, StorageError> {
    for (field, id) in people {
        let Some(id) = id else { continue };
        match users::get(conn, org_id, id) {
            Ok(u) if u.active => {}
            Ok(_) => {
                return Ok(Err(Refusal::invalid(
                    *field,
                    format!("user {id} is not active"),
                )))
            }
            Err(StorageError::NotFound) => {
                return Ok(Err(Refusal::invalid(
                    *field,
                    format!("{id} is not a user of the organisation"),
                )))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Ok(()))
}

/// Text of 1 to `max` characters after trimming, or a refusal naming `field`.
pub fn text(field: &str, value: &str, max: usize) -> Outcome<String> {
    let v = value.trim();
    if v.contains('\0') {
        // PostgreSQL's text cannot hold NUL; refuse it on both backends alike.
        return Err(Refusal::invalid(
            field,
            format!("{field} must not contain NUL"),
        ));
    }
    if v.is_empty() || v.chars().count() > max {
        return Err(Refusal::invalid(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(v.to_string())
}

/// Queues one audit event of the register (the feed and the webhooks take it from there).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    conn: &mut DbConn,
    change: &mut Change,
    entity_type: &'static str,
    entity_id: &str,
    site_id: &str,
    actor_id: Option<&str>,
    event: &str,
    payload: Value,
) -> Result<(), StorageError> {
    change.audit(
        conn,
        EventInput {
            entity_type,
            entity_id: entity_id.to_string(),
            site_id: Some(site_id.to_string()),
            actor_id: actor_id.map(str::to_string),
            event: event.to_string(),
            payload,
            ..EventInput::default()
        },
    )
}
