//! Dashboard figures by month: hazards reported and closed, closure rate, median days to close,
//! and how many were overdue at each month's end. Read over the same narrow projection as
//! [`crate::stats`], scoped by the caller's visible paths exactly like `GET /v1/stats/hazards`.
//!
//! Months are calendar months of the organisation's time zone (its `time_zone` setting, as
//! reports count periods): each month starts at local midnight on the 1st, whatever the
//! zone's offset that day.
//! "Overdue at a month's end" uses each hazard's current deadline and its close time: a hazard
//! counts when it was reported by then, not closed by then, and its deadline had passed;
//! cancelled hazards never count (their cancel time is not kept on the row).

use diesel::prelude::*;
use serde::Serialize;

use hazardloop_sync::period::Day;
use jiff::tz::TimeZone;

use crate::schema::{hazards, sites};
use crate::{DbConn, StorageError};

const DAY_MS: i64 = 86_400_000;

/// One month's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthFigures {
    /// `2026-06`.
    pub month: String,
    /// Hazards reported (server time) in the month.
    pub reported: u64,
    /// Hazards closed in the month.
    pub closed: u64,
    /// Of the hazards reported in the month and not cancelled, the share closed by now.
    pub closure_rate: Option<f64>,
    /// Median days from report to close of the hazards closed in the month.
    pub median_days_to_close: Option<f64>,
    /// Open hazards past their deadline at the month's end (or now, for the current month).
    pub overdue_at_end: u64,
}

/// The median of `values` (`None` when empty); sorts in place.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    (n > 0).then(|| {
        if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        }
    })
}

/// `part / whole`, `None` when nothing counts.
pub fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
#[cfg(test)]
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `months` calendar months of `tz` ending with the one holding `now`: (label, start ms,
/// end ms) oldest first.
pub fn month_bounds(now: i64, tz: &TimeZone, months: u32) -> Vec<(String, i64, i64)> {
    let today = Day::of_instant(now, tz).unwrap_or(Day {
        year: 1970,
        month: 1,
        day: 1,
    });
    let first = |index: i32| Day {
        year: index.div_euclid(12),
        month: (index.rem_euclid(12) + 1) as u8,
        day: 1,
    };
    let start_of = |d: Day| d.start_in(tz).unwrap_or(d.ordinal() * DAY_MS);
    let this = today.year * 12 + i32::from(today.month) - 1;
    (0..months as i32)
        .rev()
        .map(|back| {
            let m = first(this - back);
            let next = first(this - back + 1);
            (
                format!("{:04}-{:02}", m.year, m.month),
                start_of(m),
                start_of(next),
            )
        })
        .collect()
}

/// One hazard as the monthly figures need it.
#[derive(Debug, Clone)]
pub struct Point {
    pub state: String,
    pub deadline: Option<i64>,
    pub reported: i64,
    pub closed: Option<i64>,
}

/// The monthly figures of `points` (pure: the arithmetic the tests check by hand).
pub fn monthly_figures(
    points: &[Point],
    now: i64,
    tz: &TimeZone,
    months: u32,
) -> Vec<MonthFigures> {
    month_bounds(now, tz, months)
        .into_iter()
        .map(|(month, start, end)| {
            let at = end.min(now);
            let mut reported = 0u64;
            let mut cohort = 0u64;
            let mut cohort_closed = 0u64;
            let mut days = Vec::new();
            let mut overdue = 0u64;
            for p in points {
                let closed_at = p.closed.filter(|_| p.state == "closed");
                if (start..end).contains(&p.reported) {
                    reported += 1;
                    if p.state != "cancelled" {
                        cohort += 1;
                        if closed_at.is_some() {
                            cohort_closed += 1;
                        }
                    }
                }
                if let Some(c) = closed_at.filter(|c| (start..end).contains(c)) {
                    days.push((c - p.reported) as f64 / DAY_MS as f64);
                }
                if p.state != "cancelled"
                    && p.reported <= at
                    && closed_at.is_none_or(|c| c > at)
                    && p.deadline.is_some_and(|d| d < at)
                {
                    overdue += 1;
                }
            }
            MonthFigures {
                month,
                reported,
                closed: days.len() as u64,
                closure_rate: rate(cohort_closed, cohort),
                median_days_to_close: median(&mut days),
                overdue_at_end: overdue,
            }
        })
        .collect()
}

type Row = (String, String, String, Option<i64>, i64, Option<i64>);

/// The monthly figures over hazards whose site path starts with one of `paths` (`None`: every
/// site of the organisation), for the `months` months up to `now`.
pub fn monthly(
    conn: &mut DbConn,
    org_id: &str,
    paths: Option<&[String]>,
    now: i64,
    tz: &TimeZone,
    months: u32,
) -> Result<Vec<MonthFigures>, StorageError> {
    let mut points = Vec::new();
    let mut after = String::new();
    loop {
        let page: Vec<Row> = hazards::table
            .inner_join(sites::table.on(sites::id.eq(hazards::site_id)))
            .filter(hazards::org_id.eq(org_id))
            .filter(hazards::id.gt(&after))
            .order(hazards::id.asc())
            .limit(5000)
            .select((
                hazards::id,
                sites::path,
                hazards::state,
                hazards::deadline,
                hazards::reported_at,
                hazards::closed_at,
            ))
            .load(conn)?;
        let Some(last) = page.last() else { break };
        after = last.0.clone();
        for (_, path, state, deadline, reported, closed) in page {
            if let Some(p) = paths {
                if !p.iter().any(|root| path.starts_with(root)) {
                    continue;
                }
            }
            points.push(Point {
                state,
                deadline,
                reported,
                closed,
            });
        }
    }
    Ok(monthly_figures(&points, now, tz, months))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_rate() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(rate(1, 4), Some(0.25));
        assert_eq!(rate(0, 0), None);
    }

    fn zone(name: &str) -> TimeZone {
        hazardloop_sync::period::time_zone(name).unwrap()
    }

    #[test]
    fn months_in_a_time_zone() {
        // 2026-03-31T20:00Z is 2026-04-01 04:00 in Shanghai (UTC+8).
        let now = days_from_civil(2026, 3, 31) * DAY_MS + 20 * 3_600_000;
        let b = month_bounds(now, &zone("Asia/Shanghai"), 3);
        let labels: Vec<&str> = b.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(labels, ["2026-02", "2026-03", "2026-04"]);
        assert_eq!(b[2].1, days_from_civil(2026, 4, 1) * DAY_MS - 480 * 60_000);
        assert_eq!(b[0].2, b[1].1);
        // The same instant is still March 31 in New York; April there starts at 04:00Z
        // (summer time, UTC-4), March at 05:00Z (winter time, UTC-5).
        let ny = month_bounds(now, &zone("America/New_York"), 2);
        assert_eq!(ny[1].0, "2026-03");
        assert_eq!(
            ny[1].1,
            days_from_civil(2026, 3, 1) * DAY_MS + 5 * 3_600_000
        );
        assert_eq!(
            ny[1].2,
            days_from_civil(2026, 4, 1) * DAY_MS + 4 * 3_600_000
        );
        let dec = month_bounds(days_from_civil(2026, 1, 15) * DAY_MS, &zone("UTC"), 2);
        assert_eq!(dec[0].0, "2025-12");
    }

    #[test]
    fn figures_by_hand() {
        let d = |m, day| days_from_civil(2026, m, day) * DAY_MS;
        let now = d(3, 15);
        let p = |state: &str, deadline, reported, closed| Point {
            state: state.into(),
            deadline,
            reported,
            closed,
        };
        let points = [
            // Reported Jan 1, closed Feb 5 (35 days), deadline Jan 20: overdue at end of Jan.
            p("closed", Some(d(1, 20)), d(1, 1), Some(d(2, 5))),
            // Reported Jan 10, still open, deadline Feb 10: overdue at end of Feb and now.
            p("assigned", Some(d(2, 10)), d(1, 10), None),
            // Reported Feb 1, closed Feb 3 (2 days).
            p("closed", Some(d(2, 20)), d(2, 1), Some(d(2, 3))),
            // Reported Feb 2, cancelled: counted as reported, not in the rate, never overdue.
            p("cancelled", Some(d(2, 3)), d(2, 2), None),
        ];
        let f = monthly_figures(&points, now, &zone("UTC"), 3);
        assert_eq!(f[0].month, "2026-01");
        assert_eq!((f[0].reported, f[0].closed, f[0].overdue_at_end), (2, 0, 1));
        assert_eq!(f[0].closure_rate, Some(0.5));
        assert_eq!(f[0].median_days_to_close, None);
        assert_eq!((f[1].reported, f[1].closed, f[1].overdue_at_end), (2, 2, 1));
        assert_eq!(f[1].closure_rate, Some(1.0));
        assert_eq!(f[1].median_days_to_close, Some(18.5));
        assert_eq!((f[2].reported, f[2].closed, f[2].overdue_at_end), (0, 0, 1));
        assert_eq!(f[2].closure_rate, None);
    }
}
