//! Check duties' cycles: which windows a duty's tasks are due in.
//!
//! A duty runs every N hours, days, weeks, months, quarters or years, inside a working window
//! (e.g. 08:00-17:30 local time), on every day or on workdays only (Monday to Friday; public
//! holidays are not modelled). Its periods tile local time from the duty's anchor date onwards:
//! - **days, weeks, months, quarters, years**: period k covers N calendar units counted from the
//!   anchor (weeks from the anchor's Monday, quarters from its quarter's first month, years from
//!   its January). The task's window opens at the working start of the period's first included
//!   day (at or after the anchor) and closes at the working end of its last one. A period with no
//!   included day (a weekend, for a daily workday duty) has no task.
//! - **hours**: each included day's working window is cut into N-hour slots from its start; the
//!   last slot ends at the working end.
//!
//! A window is identified by where it opens before pauses ([`Slot::period_start_ms`]), so the
//! generator can be run again over any range and produce the same slots, and ranges that meet
//! produce every slot exactly once. A unit under shutdown or maintenance (停用检维修) has paused
//! periods in which no task is due: a window wholly inside a pause is dropped, and one that starts
//! or ends inside a pause is cut back to the unpaused part.

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use super::timing::Window;
use super::{invalid, RiskError};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
/// Julian day number of 1970-01-01.
const EPOCH_JULIAN: i64 = 2_440_588;

text_enum! {
    /// The unit a cycle counts in.
    pub enum CycleUnit as "cycle unit" {
        /// Every N hours within the working window.
        Hour => "hour",
        /// Every N days.
        Day => "day",
        /// Every N weeks (Monday to Sunday).
        Week => "week",
        /// Every N calendar months.
        Month => "month",
        /// Every N calendar quarters.
        Quarter => "quarter",
        /// Every N calendar years.
        Year => "year",
    }
}

text_enum! {
    /// Which days a duty is done on.
    pub enum DayRule as "day rule" {
        /// Every day of the week.
        EveryDay => "every_day",
        /// Monday to Friday.
        Workdays => "workdays",
    }
}

/// Every `every` `unit`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    /// What is counted.
    pub unit: CycleUnit,
    /// How many of them make one period (at least 1).
    pub every: u16,
}

/// The working time of a day, in minutes after local midnight: `start` < `end` <= 1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkWindow {
    /// Opens, minutes after midnight.
    pub start: u16,
    /// Closes, minutes after midnight (1440 is the next midnight).
    pub end: u16,
}

impl WorkWindow {
    /// The whole day.
    pub const ALL_DAY: WorkWindow = WorkWindow {
        start: 0,
        end: 1440,
    };

    /// Parses `HH:MM` start and end (end may be `24:00`).
    pub fn parse(start: &str, end: &str) -> Result<WorkWindow, RiskError> {
        let start = hhmm("window.start", start)?;
        let end = hhmm("window.end", end)?;
        let w = WorkWindow { start, end };
        w.validate()?;
        Ok(w)
    }

    fn validate(&self) -> Result<(), RiskError> {
        if self.end > 1440 {
            return Err(invalid("window.end", "must be 24:00 at the latest"));
        }
        if self.start >= self.end {
            return Err(invalid(
                "window",
                "must start before it ends on the same day (a night shift is two duties)",
            ));
        }
        Ok(())
    }

    /// `HH:MM` of the start and of the end.
    pub fn to_text(self) -> (String, String) {
        let f = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        (f(self.start), f(self.end))
    }
}

fn hhmm(field: &'static str, text: &str) -> Result<u16, RiskError> {
    let bad = || invalid(field, format!("must be HH:MM, not {text:?}"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// A paused period, `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Starts, unix ms.
    pub start_ms: i64,
    /// Ends (exclusive), unix ms.
    pub end_ms: i64,
}

/// A duty's timetable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How often.
    pub cycle: Cycle,
    /// When in the day.
    pub window: WorkWindow,
    /// On which days.
    pub days: DayRule,
    /// The local date the duty starts on; no window opens before it.
    pub anchor: Date,
    /// The organisation's offset from UTC, in minutes (Asia/Shanghai: 480).
    pub utc_offset_minutes: i32,
}

/// One task window a schedule defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Where the window opens before pauses: the slot's identity.
    pub period_start_ms: i64,
    /// When the task is due: opens at `start_ms`, closes at `end_ms` (pauses cut away).
    pub window: Window,
}

impl Schedule {
    /// Checks the schedule's values: a cycle of at least 1 (at most 1000), a window inside the
    /// day, an offset within -12:00..+14:00, an anchor in years 1970-9999.
    pub fn validate(&self) -> Result<(), RiskError> {
        if !(1..=1000).contains(&self.cycle.every) {
            return Err(invalid(
                "cycle.every",
                format!("must be 1 to 1000, not {}", self.cycle.every),
            ));
        }
        if self.cycle.unit == CycleUnit::Hour && self.cycle.every > 24 {
            return Err(invalid(
                "cycle.every",
                "an hourly cycle is at most 24 hours (use days)",
            ));
        }
        self.window.validate()?;
        if !(-720..=840).contains(&self.utc_offset_minutes) {
            return Err(invalid(
                "utc_offset_minutes",
                "must be between -12:00 and +14:00",
            ));
        }
        if !(1970..=9999).contains(&self.anchor.year()) {
            return Err(invalid("anchor", "must be a date in years 1970 to 9999"));
        }
        Ok(())
    }

    /// The slots whose windows open (before pauses) in `[from_ms, to_ms)`, in order, with
    /// `pauses` cut away. Ranges that meet (`[a, b)` then `[b, c)`) give every slot once.
    /// The caller bounds the range (a job's horizon); a schedule that fails
    /// [`Schedule::validate`] gives no slot.
    pub fn slots(&self, from_ms: i64, to_ms: i64, pauses: &[Pause]) -> Vec<Slot> {
        if self.validate().is_err() || from_ms >= to_ms {
            return Vec::new();
        }
        let pauses = merged(pauses);
        self.raw_windows(from_ms, to_ms)
            .into_iter()
            .filter_map(|w| {
                cut(w, &pauses).map(|window| Slot {
                    period_start_ms: w.start_ms,
                    window,
                })
            })
            .collect()
    }

    fn local_day(&self, ms: i64) -> i64 {
        (ms + i64::from(self.utc_offset_minutes) * MINUTE_MS).div_euclid(DAY_MS)
    }

    fn at(&self, day: i64, minute: u16) -> i64 {
        day * DAY_MS + i64::from(minute) * MINUTE_MS
            - i64::from(self.utc_offset_minutes) * MINUTE_MS
    }

    fn anchor_day(&self) -> i64 {
        i64::from(self.anchor.to_julian_day()) - EPOCH_JULIAN
    }

    fn included(&self, day: i64) -> bool {
        day >= self.anchor_day() && (self.days == DayRule::EveryDay || weekday(day) < 5)
    }

    /// Windows before pauses whose start lies in `[from_ms, to_ms)`.
    fn raw_windows(&self, from_ms: i64, to_ms: i64) -> Vec<Window> {
        let mut out = Vec::new();
        let first_day = self.local_day(from_ms).max(self.anchor_day()) - 1;
        let keep = |w: Window, out: &mut Vec<Window>| {
            if w.start_ms >= from_ms && w.start_ms < to_ms {
                out.push(w);
            }
        };
        if self.cycle.unit == CycleUnit::Hour {
            let step = self.cycle.every * 60;
            let mut day = first_day;
            while self.at(day, 0) < to_ms {
                if self.included(day) {
                    let mut start = self.window.start;
                    while start < self.window.end {
                        let end = (start + step).min(self.window.end);
                        keep(
                            Window {
                                start_ms: self.at(day, start),
                                end_ms: self.at(day, end),
                            },
                            &mut out,
                        );
                        start = end;
                    }
                }
                day += 1;
            }
            return out;
        }
        let Some(mut k) = self.period_index(first_day) else {
            return out;
        };
        while let Some((first, end)) = self.period_days(k) {
            if self.at(first, 0) >= to_ms {
                break;
            }
            let mut days = (first..end).filter(|d| self.included(*d));
            if let Some(open) = days.next() {
                let close = days.next_back().unwrap_or(open);
                keep(
                    Window {
                        start_ms: self.at(open, self.window.start),
                        end_ms: self.at(close, self.window.end),
                    },
                    &mut out,
                );
            }
            k += 1;
        }
        out
    }

    /// The period holding `day` (0 for days before the anchor's first period).
    fn period_index(&self, day: i64) -> Option<i64> {
        let n = i64::from(self.cycle.every);
        let anchor = self.anchor_day();
        let k = match self.cycle.unit {
            CycleUnit::Hour => 0,
            CycleUnit::Day => (day - anchor).div_euclid(n),
            CycleUnit::Week => (day - monday(anchor)).div_euclid(7 * n),
            CycleUnit::Month | CycleUnit::Quarter | CycleUnit::Year => {
                (month_index(day)? - self.first_month()).div_euclid(self.months_per_period())
            }
        };
        Some(k.max(0))
    }

    /// Local days `[first, end)` of period `k`; `None` past the calendar's range.
    fn period_days(&self, k: i64) -> Option<(i64, i64)> {
        let n = i64::from(self.cycle.every);
        let anchor = self.anchor_day();
        match self.cycle.unit {
            CycleUnit::Hour => None,
            CycleUnit::Day => Some((anchor + k * n, anchor + (k + 1) * n)),
            CycleUnit::Week => {
                let start = monday(anchor) + k * 7 * n;
                Some((start, start + 7 * n))
            }
            CycleUnit::Month | CycleUnit::Quarter | CycleUnit::Year => {
                let per = self.months_per_period();
                let first = self.first_month() + k * per;
                Some((month_start(first)?, month_start(first + per)?))
            }
        }
    }

    fn months_per_period(&self) -> i64 {
        let n = i64::from(self.cycle.every);
        match self.cycle.unit {
            CycleUnit::Quarter => 3 * n,
            CycleUnit::Year => 12 * n,
            _ => n,
        }
    }

    /// The month index (year x 12 + month - 1) where period 0 begins.
    fn first_month(&self) -> i64 {
        let m = i64::from(self.anchor.year()) * 12 + i64::from(u8::from(self.anchor.month())) - 1;
        match self.cycle.unit {
            CycleUnit::Quarter => m - m.rem_euclid(3),
            CycleUnit::Year => m - m.rem_euclid(12),
            _ => m,
        }
    }
}

/// 0 for Monday .. 6 for Sunday (1970-01-01 was a Thursday).
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

fn monday(day: i64) -> i64 {
    day - weekday(day)
}

fn month_index(day: i64) -> Option<i64> {
    let date = Date::from_julian_day(i32::try_from(day + EPOCH_JULIAN).ok()?).ok()?;
    Some(i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1)
}

fn month_start(index: i64) -> Option<i64> {
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let date = Date::from_calendar_date(year, month, 1).ok()?;
    Some(i64::from(date.to_julian_day()) - EPOCH_JULIAN)
}

/// Pauses sorted and joined where they touch or overlap; empty ones dropped.
fn merged(pauses: &[Pause]) -> Vec<Pause> {
    let mut sorted: Vec<Pause> = pauses
        .iter()
        .copied()
        .filter(|p| p.start_ms < p.end_ms)
        .collect();
    sorted.sort_by_key(|p| p.start_ms);
    let mut out: Vec<Pause> = Vec::with_capacity(sorted.len());
    for p in sorted {
        match out.last_mut() {
            Some(last) if p.start_ms <= last.end_ms => last.end_ms = last.end_ms.max(p.end_ms),
            _ => out.push(p),
        }
    }
    out
}

/// The window with merged pauses cut away at its ends; `None` when nothing is left.
fn cut(mut w: Window, pauses: &[Pause]) -> Option<Window> {
    for p in pauses {
        if p.start_ms <= w.start_ms && w.start_ms < p.end_ms {
            w.start_ms = p.end_ms;
        }
    }
    for p in pauses.iter().rev() {
        if p.start_ms < w.end_ms && w.end_ms <= p.end_ms {
            w.end_ms = p.start_ms;
        }
    }
    (w.start_ms < w.end_ms).then_some(w)
}

/// A local date from `YYYY-MM-DD`.
pub fn parse_local_date(field: &'static str, text: &str) -> Result<Date, RiskError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map_err(|_| invalid(field, format!("must be YYYY-MM-DD, not {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn ms(text: &str) -> i64 {
        crate::timestamp::parse_rfc3339_ms(text).unwrap()
    }

    fn text(w: Window) -> (String, String) {
        let f = |m: i64| {
            time::OffsetDateTime::from_unix_timestamp(m / 1000)
                .unwrap()
                .to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap())
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]"
                ))
                .unwrap()
        };
        (f(w.start_ms), f(w.end_ms))
    }

    fn shanghai(unit: CycleUnit, every: u16, days: DayRule, anchor: Date) -> Schedule {
        Schedule {
            cycle: Cycle { unit, every },
            window: WorkWindow::parse("08:00", "17:30").unwrap(),
            days,
            anchor,
            utc_offset_minutes: 480,
        }
    }

    fn windows(s: &Schedule, from: &str, to: &str, pauses: &[Pause]) -> Vec<(String, String)> {
        s.slots(ms(from), ms(to), pauses)
            .into_iter()
            .map(|slot| text(slot.window))
            .collect()
    }

    #[test]
    fn daily_workdays_skip_the_weekend() {
        // 2026-12-04 is a Friday.
        let s = shanghai(CycleUnit::Day, 1, DayRule::Workdays, date!(2026 - 12 - 03));
        let got = windows(
            &s,
            "2026-12-01T00:00:00+08:00",
            "2026-12-08T00:00:00+08:00",
            &[],
        );
        let want: Vec<(String, String)> = ["03", "04", "07"]
            .iter()
            .map(|d| (format!("2026-12-{d} 08:00"), format!("2026-12-{d} 17:30")))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn weekly_and_monthly_windows_span_their_period() {
        // Anchored on a Wednesday: the first week's window opens that day, later ones on Monday.
        let s = shanghai(CycleUnit::Week, 1, DayRule::Workdays, date!(2026 - 12 - 02));
        assert_eq!(
            windows(
                &s,
                "2026-12-01T00:00:00+08:00",
                "2026-12-15T00:00:00+08:00",
                &[]
            ),
            vec![
                ("2026-12-02 08:00".into(), "2026-12-04 17:30".into()),
                ("2026-12-07 08:00".into(), "2026-12-11 17:30".into()),
                ("2026-12-14 08:00".into(), "2026-12-18 17:30".into()),
            ]
        );
        let q = shanghai(
            CycleUnit::Quarter,
            1,
            DayRule::EveryDay,
            date!(2026 - 02 - 10),
        );
        assert_eq!(
            windows(
                &q,
                "2026-01-01T00:00:00+08:00",
                "2026-12-31T00:00:00+08:00",
                &[]
            ),
            vec![
                ("2026-02-10 08:00".into(), "2026-03-31 17:30".into()),
                ("2026-04-01 08:00".into(), "2026-06-30 17:30".into()),
                ("2026-07-01 08:00".into(), "2026-09-30 17:30".into()),
                ("2026-10-01 08:00".into(), "2026-12-31 17:30".into()),
            ]
        );
        let y = shanghai(CycleUnit::Year, 1, DayRule::Workdays, date!(2026 - 01 - 01));
        // 2027-01-01 is a Friday, 2027-12-31 a Friday.
        assert_eq!(
            windows(
                &y,
                "2027-01-01T00:00:00+08:00",
                "2028-01-01T00:00:00+08:00",
                &[]
            ),
            vec![("2027-01-01 08:00".into(), "2027-12-31 17:30".into())]
        );
    }

    #[test]
    fn hourly_slots_end_at_the_working_end() {
        let s = shanghai(CycleUnit::Hour, 4, DayRule::EveryDay, date!(2026 - 12 - 01));
        assert_eq!(
            windows(
                &s,
                "2026-12-01T00:00:00+08:00",
                "2026-12-02T00:00:00+08:00",
                &[]
            ),
            vec![
                ("2026-12-01 08:00".into(), "2026-12-01 12:00".into()),
                ("2026-12-01 12:00".into(), "2026-12-01 16:00".into()),
                ("2026-12-01 16:00".into(), "2026-12-01 17:30".into()),
            ]
        );
    }

    #[test]
    fn pauses_drop_or_cut_windows() {
        let s = shanghai(CycleUnit::Day, 1, DayRule::EveryDay, date!(2026 - 12 - 01));
        let pause = Pause {
            start_ms: ms("2026-12-02T12:00:00+08:00"),
            end_ms: ms("2026-12-04T10:00:00+08:00"),
        };
        assert_eq!(
            windows(
                &s,
                "2026-12-01T00:00:00+08:00",
                "2026-12-05T00:00:00+08:00",
                &[pause]
            ),
            vec![
                ("2026-12-01 08:00".into(), "2026-12-01 17:30".into()),
                ("2026-12-02 08:00".into(), "2026-12-02 12:00".into()),
                ("2026-12-04 10:00".into(), "2026-12-04 17:30".into()),
            ]
        );
    }

    #[test]
    fn meeting_ranges_give_each_slot_once() {
        let s = shanghai(CycleUnit::Day, 2, DayRule::EveryDay, date!(2026 - 12 - 01));
        let (a, b, c) = (
            ms("2026-12-01T00:00:00+08:00"),
            ms("2026-12-05T08:00:00+08:00"),
            ms("2026-12-12T00:00:00+08:00"),
        );
        let whole = s.slots(a, c, &[]);
        let mut halves = s.slots(a, b, &[]);
        halves.extend(s.slots(b, c, &[]));
        assert_eq!(whole, halves);
        assert_eq!(whole.len(), 6);
    }

    #[test]
    fn bad_values_are_named() {
        for (start, end, field) in [
            ("8:00", "17:00", "window.start"),
            ("08:00", "24:01", "window.end"),
            ("17:00", "08:00", "window"),
            ("08:60", "09:00", "window.start"),
        ] {
            match WorkWindow::parse(start, end) {
                Err(RiskError::Invalid { field: f, .. }) => assert_eq!(f, field, "{start}-{end}"),
                other => panic!("{start}-{end}: {other:?}"),
            }
        }
        let mut s = shanghai(
            CycleUnit::Hour,
            25,
            DayRule::EveryDay,
            date!(2026 - 12 - 01),
        );
        assert!(s.validate().is_err());
        assert!(s.slots(0, i64::MAX, &[]).is_empty());
        s.cycle.every = 0;
        assert!(s.validate().is_err());
        assert_eq!(
            parse_local_date("anchor", "2026-12-01").unwrap(),
            date!(2026 - 12 - 01)
        );
        assert!(parse_local_date("anchor", "2026-13-01").is_err());
    }
}
