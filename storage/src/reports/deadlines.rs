//! Report deadlines: which periods are due for sign-off, and the event announcing one.

use diesel::prelude::*;
use hazardloop_sync::period::{time_zone, Period};
use hazardloop_sync::timestamp::format_rfc3339_ms;
use serde::Serialize;

use crate::{orgs, DbConn, StorageError};

/// One statutory deadline of an organisation.
#[derive(Debug, Clone, Serialize)]
pub struct Deadline {
    /// The period (`2026-Q1`, `2026`).
    pub period: String,
    /// `quarter` or `year`.
    pub kind: &'static str,
    /// The last day to submit (local).
    pub deadline: String,
    /// The instant it passes (local midnight after the deadline day).
    pub due_at: String,
    /// `running` (the period has not ended), `due` (ended, not submitted, deadline ahead),
    /// `missed` (deadline passed, not submitted), `submitted`.
    pub status: &'static str,
    /// Signed by the principal.
    pub signed: bool,
    /// When it was submitted.
    pub submitted_at: Option<String>,
    /// Submitted after the deadline.
    pub submitted_late: bool,
}

/// How far back and ahead deadlines are listed and announced, in days.
const DEADLINE_LOOKBACK_DAYS: i64 = 400;
const DEADLINE_LOOKAHEAD_DAYS: i64 = 130;
/// A deadline is announced as upcoming this many days before it passes.
pub const UPCOMING_NOTICE_DAYS: i64 = 7;

/// The organisation-wide statutory deadlines from about a year back to a quarter ahead, oldest
/// first; periods that ended before the organisation existed are left out.
pub fn deadlines(conn: &mut DbConn, org_id: &str, now: i64) -> Result<Vec<Deadline>, StorageError> {
    use hazardloop_sync::period::Day;
    let org = orgs::get(conn, org_id)?;
    let tz = time_zone(&org.time_zone()).map_err(StorageError::Invalid)?;
    let today = Day::of_instant(now, &tz)
        .ok_or_else(|| StorageError::Invalid("the clock is out of range".into()))?;
    let periods = Period::statutory_between(
        today.plus_days(-DEADLINE_LOOKBACK_DAYS),
        today.plus_days(DEADLINE_LOOKAHEAD_DAYS),
    );
    let labels: Vec<String> = periods.iter().map(Period::label).collect();
    let signed = crate::signoffs::submitted_periods(conn, org_id, &labels)?;
    let mut out = Vec::new();
    for p in periods {
        let (_, end) = p.bounds(&tz).map_err(StorageError::Invalid)?;
        if end < org.created_at {
            continue;
        }
        let Some(day) = p.statutory_deadline() else {
            continue;
        };
        let due_at = day
            .plus_days(1)
            .start_in(&tz)
            .map_err(StorageError::Invalid)?;
        let label = p.label();
        let sign = signed.iter().find(|(l, _, _)| *l == label);
        let submitted_at = sign.and_then(|s| s.1);
        let status = match submitted_at {
            Some(_) => "submitted",
            None if now < end => "running",
            None if now < due_at => "due",
            None => "missed",
        };
        out.push(Deadline {
            period: label,
            kind: p.kind.as_str(),
            deadline: day.to_string(),
            due_at: format_rfc3339_ms(due_at),
            status,
            signed: sign.is_some(),
            submitted_at: submitted_at.map(format_rfc3339_ms),
            submitted_late: submitted_at.is_some_and(|s| s >= due_at),
        });
    }
    Ok(out)
}

/// Announces, once each, the statutory deadlines of every organisation that were missed
/// (`report.deadline_missed`) or pass within [`UPCOMING_NOTICE_DAYS`] unsubmitted
/// (`report.deadline_upcoming`): audit events, so they reach the feed and webhooks. Returns how
/// many were announced. Runs under the maintenance lease.
pub fn announce_deadlines(conn: &mut DbConn, now: i64) -> Result<usize, StorageError> {
    use crate::schema::report_deadline_notices as notices;
    let mut announced = 0;
    for org in orgs::list(conn)? {
        let mut change = crate::change::Change::begin(conn, &org.id, now)?;
        for d in deadlines(conn, &org.id, now)? {
            let due_at = hazardloop_sync::timestamp::parse_rfc3339_ms(&d.due_at)
                .map_err(|e| StorageError::Invalid(e.to_string()))?;
            let kind = match d.status {
                "missed" => "missed",
                "due" | "running" if due_at - now <= UPCOMING_NOTICE_DAYS * 86_400_000 => {
                    "upcoming"
                }
                _ => continue,
            };
            let done: i64 = notices::table
                .filter(notices::org_id.eq(&org.id))
                .filter(notices::period.eq(&d.period))
                .filter(notices::kind.eq(kind))
                .count()
                .get_result(conn)?;
            if done > 0 {
                continue;
            }
            diesel::insert_into(notices::table)
                .values((
                    notices::org_id.eq(&org.id),
                    notices::period.eq(&d.period),
                    notices::kind.eq(kind),
                    notices::notified_at.eq(now),
                ))
                .execute(conn)?;
            change.audit(
                conn,
                crate::audit::EventInput {
                    entity_type: "report",
                    entity_id: crate::new_id(),
                    event: format!("report.deadline_{kind}"),
                    payload: serde_json::json!({
                        "period": d.period, "kind": d.kind, "deadline": d.deadline,
                        "due_at": d.due_at, "signed": d.signed,
                    }),
                    ..Default::default()
                },
            )?;
            announced += 1;
        }
        change.finish(conn)?;
    }
    Ok(announced)
}
