//! The statutory period report: loads the hazards of an organisation or a site subtree in
//! pages (a narrow projection) and hands them to `hazardloop_sync::report`, which owns every
//! rule (period boundaries, outcomes, rates, the comparison). Nothing here decides a figure.

use diesel::prelude::*;
use hazardloop_sync::period::{time_zone, Period};
use hazardloop_sync::report::{change, Figures, FiguresBuilder, HazardFact, Headline, Source};
use hazardloop_sync::timestamp::format_rfc3339_ms;
use hazardloop_sync::{FiveImplementations, Grade, Money};
use serde::Serialize;
use serde_json::Value;

use crate::schema::{hazards, sites};
use crate::sites::Site;
use crate::{orgs, DbConn, StorageError};

/// Which hazards a report covers.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The site whose subtree is reported; `None`: the whole organisation.
    pub site: Option<Site>,
    /// The subtrees the caller may see (`None`: everything).
    pub visible: Option<Vec<String>>,
}

impl Scope {
    /// The stored scope key: `""` for the organisation, else the site id.
    pub fn key(&self) -> String {
        self.site.as_ref().map(|s| s.id.clone()).unwrap_or_default()
    }

    fn admits(&self, path: &str) -> bool {
        match (&self.site, &self.visible) {
            (Some(site), _) => path.starts_with(&site.path),
            (None, Some(roots)) => roots.iter().any(|r| path.starts_with(r)),
            (None, None) => true,
        }
    }
}

/// A period as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodView {
    /// `2026-Q1`, `2026-03`, `2026`, `2026-01-01..2026-02-10`.
    pub label: String,
    /// `month`, `quarter`, `year` or `range`.
    pub kind: &'static str,
    /// First local day.
    pub first_day: String,
    /// Last local day (included).
    pub last_day: String,
    /// The instant the period starts (RFC 3339, UTC).
    pub start: String,
    /// The instant after it ends.
    pub end: String,
    /// The last day to submit it to the authority (quarter and year only).
    pub statutory_deadline: Option<String>,
}

fn period_view(p: &Period, start: i64, end: i64) -> PeriodView {
    PeriodView {
        label: p.label(),
        kind: p.kind.as_str(),
        first_day: p.first.to_string(),
        last_day: p.last.to_string(),
        start: format_rfc3339_ms(start),
        end: format_rfc3339_ms(end),
        statutory_deadline: p.statutory_deadline().map(|d| d.to_string()),
    }
}

/// The organisation or site a report is about.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeView {
    /// Organisation id.
    pub org_id: String,
    /// Organisation name.
    pub org_name: String,
    /// The site whose subtree is reported; null for the organisation.
    pub site_id: Option<String>,
    /// That site's name.
    pub site_name: Option<String>,
}

/// The previous period's headline.
#[derive(Debug, Clone, Serialize)]
pub struct Previous {
    /// Which period.
    pub period: PeriodView,
    /// Its headline numbers.
    #[serde(flatten)]
    pub headline: Headline,
}

/// The report. Everything in it follows from the data and the period (no generation time), so
/// the same data gives the same JSON: that is what a signature freezes.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodReport {
    /// Whose report.
    pub scope: ScopeView,
    /// The IANA time zone the period's days are counted in.
    pub time_zone: String,
    /// The period.
    pub period: PeriodView,
    /// The instant the rectification outcomes are judged at: the period's end, or the time of
    /// the request while the period runs.
    pub as_of: String,
    /// True once the period has ended (its figures then no longer move with time).
    pub complete: bool,
    /// The figures.
    pub figures: Figures,
    /// The previous period's headline.
    pub previous: Previous,
    /// This period's headline minus the previous one's.
    pub change: Value,
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    (Option<String>, Option<String>),
);

/// Computes the report of `period` over `scope` at `now`. An unknown organisation time zone
/// is `Invalid`.
pub fn period_report(
    conn: &mut DbConn,
    org_id: &str,
    scope: &Scope,
    period: &Period,
    now: i64,
) -> Result<PeriodReport, StorageError> {
    let org = orgs::get(conn, org_id)?;
    let zone_name = org.time_zone();
    let tz = time_zone(&zone_name).map_err(StorageError::Invalid)?;
    let (start, end) = period.bounds(&tz).map_err(StorageError::Invalid)?;
    let prev = period.previous();
    let (prev_start, prev_end) = prev.bounds(&tz).map_err(StorageError::Invalid)?;
    let mut current = FiguresBuilder::new(start, end, now);
    let mut before = FiguresBuilder::new(prev_start, prev_end, now);
    let mut after = String::new();
    loop {
        // Hazards found up to the period's end: from the previous period on, or major ones of
        // any age (they may be carried over).
        let page: Vec<Row> = hazards::table
            .inner_join(sites::table.on(sites::id.eq(hazards::site_id)))
            .filter(hazards::org_id.eq(org_id))
            .filter(hazards::id.gt(&after))
            .filter(hazards::reported_at_device.lt(end))
            .filter(
                hazards::reported_at_device
                    .ge(prev_start)
                    .or(hazards::grade.eq(Grade::MAJOR)),
            )
            .order(hazards::id.asc())
            .limit(2000)
            .select((
                hazards::id,
                hazards::title,
                hazards::site_id,
                sites::path,
                sites::name,
                hazards::state,
                hazards::grade,
                hazards::category,
                hazards::inspection_id,
                hazards::reported_at_device,
                hazards::deadline,
                hazards::closed_at,
                (hazards::rectification_cost, hazards::five),
            ))
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.0.clone();
        for row in page {
            let (id, title, site_id, path, site_name, state, grade, category, inspection) = (
                row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8,
            );
            if !scope.admits(&path) {
                continue;
            }
            let (cost, five) = row.12;
            let fact = HazardFact {
                id,
                title,
                site_id,
                site_name,
                state,
                grade,
                category,
                source: if inspection.is_some() {
                    Source::Inspection
                } else {
                    Source::AdHoc
                },
                found_at: row.9,
                deadline: row.10,
                closed_at: row.11,
                cost: cost.and_then(|c| serde_json::from_str::<Money>(&c).ok()),
                five: five.and_then(|f| serde_json::from_str::<FiveImplementations>(&f).ok()),
            };
            current.add(&fact);
            before.add(&fact);
        }
    }
    let figures = current.finish();
    let prev_figures = before.finish();
    let now_headline = Headline::of(&figures);
    let prev_headline = Headline::of(&prev_figures);
    Ok(PeriodReport {
        scope: ScopeView {
            org_id: org.id.clone(),
            org_name: org.name.clone(),
            site_id: scope.site.as_ref().map(|s| s.id.clone()),
            site_name: scope.site.as_ref().map(|s| s.name.clone()),
        },
        time_zone: zone_name,
        period: period_view(period, start, end),
        as_of: format_rfc3339_ms(end.min(now)),
        complete: now >= end,
        change: change(&now_headline, &prev_headline),
        figures,
        previous: Previous {
            period: period_view(&prev, prev_start, prev_end),
            headline: prev_headline,
        },
    })
}

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
                crate::change::EventInput {
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
