//! Reporting periods: a month, a quarter, a year or a range of days, in an organisation's time
//! zone, and the statutory deadlines of the quarter and year reports (Order 16 of 2007: a
//! quarter's figures by the 15th of the next month, a year's by 31 January).
//!
//! Calendar arithmetic is done here on plain days; the time zone (an IANA name, resolved from
//! the tz database compiled into the binary, so no file is read) only turns a local midnight
//! into an instant.

use std::fmt;

use jiff::tz::TimeZone;

/// A calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day {
    /// Year, e.g. 2026.
    pub year: i32,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Day {
    /// A valid day between years 1900 and 9998, else `None`.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Day> {
        ((1900..=9998).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month))
        .then_some(Day { year, month, day })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Day> {
        let mut parts = text.trim().splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        Day::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn ordinal(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The day `n` days after 1970-01-01.
    pub fn from_ordinal(n: i64) -> Day {
        let z = n + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Day { year, month, day }
    }

    /// The day `n` days later (earlier for negative `n`).
    pub fn plus_days(self, n: i64) -> Day {
        Day::from_ordinal(self.ordinal() + n)
    }

    /// The first day of the month `n` months later.
    fn month_start_plus(self, n: i32) -> Day {
        let index = self.year * 12 + i32::from(self.month) - 1 + n;
        Day {
            year: index.div_euclid(12),
            month: (index.rem_euclid(12) + 1) as u8,
            day: 1,
        }
    }

    /// The instant this day starts in `tz`, unix milliseconds.
    pub fn start_in(self, tz: &TimeZone) -> Result<i64, String> {
        let civil = jiff::civil::date(self.year as i16, self.month as i8, self.day as i8)
            .to_datetime(jiff::civil::time(0, 0, 0, 0));
        tz.to_ambiguous_timestamp(civil)
            .compatible()
            .map(|t| t.as_millisecond())
            .map_err(|e| e.to_string())
    }

    /// The local day of an instant in `tz`.
    pub fn of_instant(ms: i64, tz: &TimeZone) -> Option<Day> {
        let ts = jiff::Timestamp::from_millisecond(ms).ok()?;
        let d = tz.to_datetime(ts).date();
        Day::new(i32::from(d.year()), d.month() as u8, d.day() as u8)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The local wall-clock reading of an instant in `tz`, as unix-style milliseconds (the instant
/// shifted by the zone's offset then): what a spreadsheet cell without a zone should show.
pub fn local_ms(ms: i64, tz: &TimeZone) -> i64 {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ms + i64::from(tz.to_offset(ts).seconds()) * 1000,
        Err(_) => ms,
    }
}

/// Resolves an IANA time zone name (`Asia/Shanghai`, `UTC`) from the compiled-in database.
pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| format!("{name:?} is not an IANA time zone name"))
}

/// What kind of period a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodKind {
    /// A calendar month.
    Month,
    /// A calendar quarter.
    Quarter,
    /// A calendar year.
    Year,
    /// Any run of whole days.
    Range,
}

impl PeriodKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
            PeriodKind::Range => "range",
        }
    }
}

/// A reporting period: whole local days from `first` to `last`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Month, quarter, year or range.
    pub kind: PeriodKind,
    /// The first day.
    pub first: Day,
    /// The last day (included).
    pub last: Day,
}

/// The longest range accepted, in days (ten years and leap days).
pub const MAX_RANGE_DAYS: i64 = 3660;

impl Period {
    /// From `period` (`2026`, `2026-03`, `2026-Q1`) or from `from` and `to` (`YYYY-MM-DD`, both
    /// included). Exactly one form must be given; the message says what is wrong.
    pub fn parse(
        period: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Period, String> {
        match (period, from, to) {
            (Some(p), None, None) => Period::parse_named(p.trim()),
            (None, Some(f), Some(t)) => {
                let first = Day::parse(f).ok_or("from: expected a date YYYY-MM-DD")?;
                let last = Day::parse(t).ok_or("to: expected a date YYYY-MM-DD")?;
                if last < first {
                    return Err("to: must not be before from".into());
                }
                if last.ordinal() - first.ordinal() >= MAX_RANGE_DAYS {
                    return Err(format!("to: a range covers at most {MAX_RANGE_DAYS} days"));
                }
                Ok(Period {
                    kind: PeriodKind::Range,
                    first,
                    last,
                })
            }
            (None, None, None) => {
                Err("period: give period=2026-Q1 (or 2026, 2026-03) or from and to".into())
            }
            (Some(_), _, _) => Err("period: give either period or from and to, not both".into()),
            _ => Err("from: a range needs both from and to".into()),
        }
    }

    fn parse_named(p: &str) -> Result<Period, String> {
        let bad =
            || format!("period: {p:?} is not a year (2026), month (2026-03) or quarter (2026-Q1)");
        let (year, rest) = match p.split_once('-') {
            Some((y, r)) => (y, Some(r)),
            None => (p, None),
        };
        if year.len() != 4 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let start = Day::new(year, 1, 1).ok_or_else(bad)?;
        let (kind, first, months) = match rest {
            None => (PeriodKind::Year, start, 12),
            Some(q) if q.len() == 2 && (q.starts_with('Q') || q.starts_with('q')) => {
                let n: u8 = q[1..].parse().map_err(|_| bad())?;
                if !(1..=4).contains(&n) {
                    return Err(bad());
                }
                let first = Day::new(year, (n - 1) * 3 + 1, 1).ok_or_else(bad)?;
                (PeriodKind::Quarter, first, 3)
            }
            Some(m) if m.len() == 2 => {
                let month: u8 = m.parse().map_err(|_| bad())?;
                (
                    PeriodKind::Month,
                    Day::new(year, month, 1).ok_or_else(bad)?,
                    1,
                )
            }
            Some(_) => return Err(bad()),
        };
        Ok(Period {
            kind,
            first,
            last: first.month_start_plus(months).plus_days(-1),
        })
    }

    /// The period's name: `2026`, `2026-03`, `2026-Q1`, or `2026-01-01..2026-02-10`.
    pub fn label(&self) -> String {
        match self.kind {
            PeriodKind::Year => format!("{:04}", self.first.year),
            PeriodKind::Quarter => {
                format!("{:04}-Q{}", self.first.year, (self.first.month - 1) / 3 + 1)
            }
            PeriodKind::Month => format!("{:04}-{:02}", self.first.year, self.first.month),
            PeriodKind::Range => format!("{}..{}", self.first, self.last),
        }
    }

    /// The period before: the previous month, quarter or year, or the range of as many days
    /// ending the day before this one starts.
    pub fn previous(&self) -> Period {
        let months = match self.kind {
            PeriodKind::Month => 1,
            PeriodKind::Quarter => 3,
            PeriodKind::Year => 12,
            PeriodKind::Range => {
                let len = self.last.ordinal() - self.first.ordinal();
                let last = self.first.plus_days(-1);
                return Period {
                    kind: PeriodKind::Range,
                    first: last.plus_days(-len),
                    last,
                };
            }
        };
        Period {
            kind: self.kind,
            first: self.first.month_start_plus(-months),
            last: self.first.plus_days(-1),
        }
    }

    /// `[start, end)` in unix milliseconds: local midnight of the first day to local midnight
    /// after the last, in `tz`.
    pub fn bounds(&self, tz: &TimeZone) -> Result<(i64, i64), String> {
        Ok((
            self.first.start_in(tz)?,
            self.last.plus_days(1).start_in(tz)?,
        ))
    }

    /// The last day the report may be handed to the authority: the 15th of the month after a
    /// quarter, 31 January after a year; months and ranges have none.
    pub fn statutory_deadline(&self) -> Option<Day> {
        match self.kind {
            PeriodKind::Quarter => {
                let next = self.last.plus_days(1);
                Some(Day { day: 15, ..next })
            }
            PeriodKind::Year => Some(Day {
                year: self.first.year + 1,
                month: 1,
                day: 31,
            }),
            PeriodKind::Month | PeriodKind::Range => None,
        }
    }

    /// The quarter and year periods whose deadline falls on or after `from` and on or before
    /// `to` (local days), oldest deadline first: what is due around a given time.
    pub fn statutory_between(from: Day, to: Day) -> Vec<Period> {
        let mut out = Vec::new();
        for year in (from.year - 1)..=to.year {
            for q in 1..=4u8 {
                let first = Day {
                    year,
                    month: (q - 1) * 3 + 1,
                    day: 1,
                };
                out.push(Period {
                    kind: PeriodKind::Quarter,
                    first,
                    last: first.month_start_plus(3).plus_days(-1),
                });
            }
            out.push(Period {
                kind: PeriodKind::Year,
                first: Day {
                    year,
                    month: 1,
                    day: 1,
                },
                last: Day {
                    year,
                    month: 12,
                    day: 31,
                },
            });
        }
        out.retain(|p| p.statutory_deadline().is_some_and(|d| d >= from && d <= to));
        out.sort_by_key(|p| (p.statutory_deadline(), p.kind == PeriodKind::Year));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u8, d: u8) -> Day {
        Day::new(y, m, d).unwrap()
    }

    #[test]
    fn ordinals_round_trip() {
        assert_eq!(day(1970, 1, 1).ordinal(), 0);
        assert_eq!(day(2000, 3, 1).ordinal(), 11_017);
        for n in [-1000, 0, 59, 11_016, 20_000, 40_000] {
            assert_eq!(Day::from_ordinal(n).ordinal(), n);
        }
        assert_eq!(day(2024, 2, 28).plus_days(1), day(2024, 2, 29));
        assert_eq!(day(2026, 12, 31).plus_days(1), day(2027, 1, 1));
    }

    #[test]
    fn parses_named_periods() {
        let q1 = Period::parse(Some("2026-Q1"), None, None).unwrap();
        assert_eq!(
            (q1.kind, q1.first, q1.last),
            (PeriodKind::Quarter, day(2026, 1, 1), day(2026, 3, 31))
        );
        let feb = Period::parse(Some("2024-02"), None, None).unwrap();
        assert_eq!(feb.last, day(2024, 2, 29));
        let y = Period::parse(Some("2026"), None, None).unwrap();
        assert_eq!((y.first, y.last), (day(2026, 1, 1), day(2026, 12, 31)));
        let r = Period::parse(None, Some("2026-01-10"), Some("2026-01-19")).unwrap();
        assert_eq!(r.label(), "2026-01-10..2026-01-19");
        for bad in ["2026-Q5", "2026-13", "26", "2026-1", "x", "2026-Q1x"] {
            assert!(Period::parse(Some(bad), None, None).is_err(), "{bad}");
        }
        assert!(Period::parse(None, Some("2026-02-01"), Some("2026-01-01")).is_err());
        assert!(Period::parse(None, Some("2026-02-01"), None).is_err());
        assert!(Period::parse(None, None, None).is_err());
        assert!(Period::parse(Some("2026"), Some("2026-01-01"), Some("2026-01-02")).is_err());
    }

    #[test]
    fn previous_periods() {
        let p = |s: &str| Period::parse(Some(s), None, None).unwrap();
        assert_eq!(p("2026-Q1").previous().label(), "2025-Q4");
        assert_eq!(p("2026-01").previous().label(), "2025-12");
        assert_eq!(p("2026-03").previous().last, day(2026, 2, 28));
        assert_eq!(p("2026").previous().label(), "2025");
        let r = Period::parse(None, Some("2026-03-01"), Some("2026-03-10")).unwrap();
        assert_eq!(r.previous().label(), "2026-02-19..2026-02-28");
    }

    #[test]
    fn bounds_follow_the_time_zone() {
        let shanghai = time_zone("Asia/Shanghai").unwrap();
        let q1 = Period::parse(Some("2026-Q1"), None, None).unwrap();
        let (start, end) = q1.bounds(&shanghai).unwrap();
        // 2026-01-01T00:00+08:00 and 2026-04-01T00:00+08:00.
        assert_eq!(start, 1_767_196_800_000);
        assert_eq!(end, 1_774_972_800_000);
        // 23:30 local on 31 March is inside, 00:30 local on 1 April is not.
        let late_march = end - 30 * 60_000;
        assert!(late_march >= start && late_march < end);
        assert_eq!(
            Day::of_instant(late_march, &shanghai),
            Some(day(2026, 3, 31))
        );
        assert_eq!(
            Day::of_instant(end + 30 * 60_000, &shanghai),
            Some(day(2026, 4, 1))
        );
        assert_eq!(local_ms(end, &shanghai), end + 8 * 3_600_000);
        let utc = time_zone("UTC").unwrap();
        assert_eq!(q1.bounds(&utc).unwrap().0, 1_767_225_600_000);
        assert!(time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn bounds_across_a_daylight_saving_change() {
        // Berlin moves to summer time on 29 March 2026: March is 31 days minus an hour.
        let berlin = time_zone("Europe/Berlin").unwrap();
        let (start, end) = Period::parse(Some("2026-03"), None, None)
            .unwrap()
            .bounds(&berlin)
            .unwrap();
        assert_eq!(end - start, (31 * 24 - 1) * 3_600_000);
    }

    #[test]
    fn statutory_deadlines() {
        let p = |s: &str| Period::parse(Some(s), None, None).unwrap();
        assert_eq!(p("2026-Q1").statutory_deadline(), Some(day(2026, 4, 15)));
        assert_eq!(p("2026-Q4").statutory_deadline(), Some(day(2027, 1, 15)));
        assert_eq!(p("2026").statutory_deadline(), Some(day(2027, 1, 31)));
        assert_eq!(p("2026-03").statutory_deadline(), None);
        let due = Period::statutory_between(day(2027, 1, 1), day(2027, 2, 1));
        let labels: Vec<String> = due.iter().map(Period::label).collect();
        assert_eq!(labels, ["2026-Q4", "2026"]);
    }
}
