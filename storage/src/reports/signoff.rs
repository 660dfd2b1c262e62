//! A signed report against the same report computed now.

use hazardloop_sync::period::Period;
use serde::Serialize;
use serde_json::Value;

use super::{period_report, Scope};
use crate::{DbConn, StorageError};

/// A signed report against the same report computed now.
#[derive(Debug, Clone, Serialize)]
pub struct SignoffStatus {
    /// The period.
    pub period: String,
    /// The sign-off, when there is one.
    pub signoff: Option<crate::signoffs::SignoffView>,
    /// The figures as signed.
    pub snapshot: Option<Value>,
    /// Hash of the figures as they are now.
    pub current_hash: String,
    /// True when the figures now differ from the signed ones.
    pub changed_since_signed: bool,
    /// What differs (empty when unchanged or unsigned).
    pub differences: Vec<hazardloop_sync::report::Difference>,
}

/// The sign-off of `period` for `scope` and how the figures stand against it now.
pub fn signoff_status(
    conn: &mut DbConn,
    org_id: &str,
    scope: &Scope,
    period: &Period,
    now: i64,
) -> Result<SignoffStatus, StorageError> {
    let report = period_report(conn, org_id, scope, period, now)?;
    let current =
        serde_json::to_value(&report).map_err(|e| StorageError::Invalid(e.to_string()))?;
    let current_hash = crate::signoffs::snapshot_hash(&current);
    let signoff = crate::signoffs::find(conn, org_id, &scope.key(), &period.label())?;
    let snapshot = signoff
        .as_ref()
        .and_then(|s| serde_json::from_str::<Value>(&s.snapshot).ok());
    let differences = snapshot
        .as_ref()
        .map(|s| hazardloop_sync::report::diff(s, &current))
        .unwrap_or_default();
    Ok(SignoffStatus {
        period: period.label(),
        changed_since_signed: signoff
            .as_ref()
            .is_some_and(|s| s.snapshot_hash != current_hash),
        signoff: signoff.map(|s| s.view()),
        snapshot,
        current_hash,
        differences,
    })
}
