//! Signed period reports: the figures frozen when the principal signed, their hash, and the
//! record of submission to the authority. Written only by the engine (`report.sign`,
//! `report.submit`); read here.

use diesel::prelude::*;
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::schema::report_signoffs;
use crate::{DbConn, StorageError};

/// A signed report as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = report_signoffs, treat_none_as_null = true)]
pub struct Signoff {
    pub id: String,
    pub org_id: String,
    /// `""` for the organisation, else the site id.
    pub scope: String,
    /// The period's label.
    pub period: String,
    /// The report's JSON as signed.
    pub snapshot: String,
    /// SHA-256 (hex) of the snapshot's canonical JSON.
    pub snapshot_hash: String,
    pub signed_by: String,
    pub signed_at: i64,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<i64>,
    /// The authority's receipt number or how it was sent, as the submitter wrote it.
    pub submission_reference: Option<String>,
}

/// SHA-256 (hex) of a report's canonical JSON (sorted keys, no whitespace).
pub fn snapshot_hash(report: &Value) -> String {
    hex::encode(Sha256::digest(
        hazardloop_sync::canonical::to_canonical_json(report),
    ))
}

/// What clients see of a sign-off (the snapshot itself is served by the status endpoint).
#[derive(Debug, Clone, Serialize)]
pub struct SignoffView {
    pub id: String,
    pub period: String,
    pub site_id: Option<String>,
    pub snapshot_hash: String,
    pub signed_by: String,
    pub signed_at: String,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<String>,
    pub submission_reference: Option<String>,
}

impl Signoff {
    /// The public view.
    pub fn view(&self) -> SignoffView {
        SignoffView {
            id: self.id.clone(),
            period: self.period.clone(),
            site_id: (!self.scope.is_empty()).then(|| self.scope.clone()),
            snapshot_hash: self.snapshot_hash.clone(),
            signed_by: self.signed_by.clone(),
            signed_at: format_rfc3339_ms(self.signed_at),
            submitted_by: self.submitted_by.clone(),
            submitted_at: self.submitted_at.map(format_rfc3339_ms),
            submission_reference: self.submission_reference.clone(),
        }
    }
}

/// The sign-off of a period for a scope, if there is one.
pub fn find(
    conn: &mut DbConn,
    org_id: &str,
    scope: &str,
    period: &str,
) -> Result<Option<Signoff>, StorageError> {
    Ok(report_signoffs::table
        .filter(report_signoffs::org_id.eq(org_id))
        .filter(report_signoffs::scope.eq(scope))
        .filter(report_signoffs::period.eq(period))
        .select(Signoff::as_select())
        .first(conn)
        .optional()?)
}

/// Stores a new sign-off.
pub fn insert(conn: &mut DbConn, s: &Signoff) -> Result<(), StorageError> {
    diesel::insert_into(report_signoffs::table)
        .values(s)
        .execute(conn)?;
    Ok(())
}

/// Records the submission to the authority.
pub fn set_submitted(
    conn: &mut DbConn,
    id: &str,
    by: &str,
    at: i64,
    reference: Option<&str>,
) -> Result<(), StorageError> {
    diesel::update(report_signoffs::table.find(id))
        .set((
            report_signoffs::submitted_by.eq(by),
            report_signoffs::submitted_at.eq(at),
            report_signoffs::submission_reference.eq(reference),
        ))
        .execute(conn)?;
    Ok(())
}

/// The organisation-wide sign-offs of the given periods that were submitted (label set).
pub fn submitted_periods(
    conn: &mut DbConn,
    org_id: &str,
    periods: &[String],
) -> Result<Vec<(String, Option<i64>, i64)>, StorageError> {
    Ok(report_signoffs::table
        .filter(report_signoffs::org_id.eq(org_id))
        .filter(report_signoffs::scope.eq(""))
        .filter(report_signoffs::period.eq_any(periods))
        .select((
            report_signoffs::period,
            report_signoffs::submitted_at,
            report_signoffs::signed_at,
        ))
        .load(conn)?)
}
