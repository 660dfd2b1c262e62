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

mod deadlines;
mod signoff;

pub use deadlines::{announce_deadlines, deadlines, Deadline};
pub use signoff::{signoff_status, SignoffStatus};

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
