//! Property tests for check duties' windows: for random cycles, working windows, day rules,
//! anchors, zones (fixed offsets, as in DST-free zones) and pauses, the generated windows are
//! exactly those a plain day-by-day reading of the rule gives, with no gaps or overlaps, and
//! generating over ranges that meet gives each window once.

use hazardloop_sync::risk::cycle::{Cycle, CycleUnit, DayRule, Pause, Schedule, Slot, WorkWindow};
use hazardloop_sync::risk::Window;
use proptest::prelude::*;
use time::{Date, Duration, PrimitiveDateTime, Time, UtcOffset, Weekday};

fn schedule() -> impl Strategy<Value = Schedule> {
    let unit = prop_oneof![
        Just(CycleUnit::Hour),
        Just(CycleUnit::Day),
        Just(CycleUnit::Week),
        Just(CycleUnit::Month),
        Just(CycleUnit::Quarter),
        Just(CycleUnit::Year),
    ];
    (
        unit,
        1u16..=3,
        (0u16..=1380, 1u16..=1440),
        any::<bool>(),
        0i32..4000,
        -48i32..=56,
    )
        .prop_map(|(unit, every, (a, b), workdays, day, quarter_hours)| {
            let (start, end) = if a < b {
                (a, b)
            } else {
                (b.min(a), a.max(b) + 1)
            };
            let (start, end) = if start == end {
                (start, end + 1)
            } else {
                (start, end.min(1440))
            };
            let every = if unit == CycleUnit::Hour {
                every * 3
            } else {
                every
            };
            Schedule {
                cycle: Cycle { unit, every },
                window: WorkWindow { start, end },
                days: if workdays {
                    DayRule::Workdays
                } else {
                    DayRule::EveryDay
                },
                anchor: Date::from_calendar_date(2020, time::Month::January, 1).unwrap()
                    + Duration::days(i64::from(day)),
                utc_offset_minutes: quarter_hours * 15,
            }
        })
}

fn offset(s: &Schedule) -> UtcOffset {
    UtcOffset::from_whole_seconds(s.utc_offset_minutes * 60).unwrap()
}

/// Unix ms of a local date and minute of the day, through the calendar library.
fn at(s: &Schedule, date: Date, minute: u16) -> i64 {
    let (date, minute) = if minute == 1440 {
        (date.next_day().unwrap(), 0)
    } else {
        (date, minute)
    };
    let t = Time::from_hms((minute / 60) as u8, (minute % 60) as u8, 0).unwrap();
    PrimitiveDateTime::new(date, t)
        .assume_offset(offset(s))
        .unix_timestamp()
        * 1000
}

fn included(s: &Schedule, d: Date) -> bool {
    d >= s.anchor
        && (s.days == DayRule::EveryDay
            || !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday))
}

/// The windows the rule defines, read day by day from the anchor: the oracle.
fn oracle(s: &Schedule, from_ms: i64, to_ms: i64) -> Vec<Window> {
    let n = i64::from(s.cycle.every);
    let mut monday = s.anchor;
    while monday.weekday() != Weekday::Monday {
        monday = monday.previous_day().unwrap();
    }
    let month = |d: Date| i64::from(d.year()) * 12 + i64::from(u8::from(d.month())) - 1;
    let first_month = match s.cycle.unit {
        CycleUnit::Quarter => month(s.anchor) - month(s.anchor) % 3,
        CycleUnit::Year => month(s.anchor) - month(s.anchor) % 12,
        _ => month(s.anchor),
    };
    let key = |d: Date| -> i64 {
        match s.cycle.unit {
            CycleUnit::Hour => 0,
            CycleUnit::Day => (d - s.anchor).whole_days() / n,
            CycleUnit::Week => (d - monday).whole_days() / 7 / n,
            CycleUnit::Month => (month(d) - first_month) / n,
            CycleUnit::Quarter => (month(d) - first_month) / (3 * n),
            CycleUnit::Year => (month(d) - first_month) / (12 * n),
        }
    };
    let mut out = Vec::new();
    let mut groups: Vec<(i64, Date, Date)> = Vec::new();
    let mut d = s.anchor;
    // Far enough past `to` to finish the last period that opens before it.
    let last = s.anchor + Duration::days(6000);
    while d <= last && at(s, d, 0) < to_ms + 3 * 366 * 86_400_000 {
        if included(s, d) {
            if s.cycle.unit == CycleUnit::Hour {
                let step = s.cycle.every * 60;
                let mut m = s.window.start;
                while m < s.window.end {
                    let e = (m + step).min(s.window.end);
                    out.push(Window {
                        start_ms: at(s, d, m),
                        end_ms: at(s, d, e),
                    });
                    m = e;
                }
            } else {
                let k = key(d);
                match groups.last_mut() {
                    Some((gk, _, close)) if *gk == k => *close = d,
                    _ => groups.push((k, d, d)),
                }
            }
        }
        d = d.next_day().unwrap();
    }
    for (_, open, close) in groups {
        out.push(Window {
            start_ms: at(s, open, s.window.start),
            end_ms: at(s, close, s.window.end),
        });
    }
    out.retain(|w| w.start_ms >= from_ms && w.start_ms < to_ms);
    out
}

fn range(s: &Schedule) -> impl Strategy<Value = (i64, i64, i64)> {
    let base = at(s, s.anchor, 0);
    (-40i64..200, 1i64..400, 0u32..=100).prop_map(move |(from_days, len_days, split)| {
        let from = base + from_days * 86_400_000 + (from_days * 7_919_000) % 86_400_000;
        let to = from + len_days * 86_400_000;
        let mid = from + (to - from) / 100 * i64::from(split);
        (from, mid, to)
    })
}

fn windows(slots: &[Slot]) -> Vec<Window> {
    slots.iter().map(|s| s.window).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn windows_are_exactly_the_rule(
        (s, (from, mid, to)) in schedule().prop_flat_map(|s| (Just(s), range(&s)))
    ) {
        let got = s.slots(from, to, &[]);
        prop_assert_eq!(windows(&got), oracle(&s, from, to));
        // Without pauses a slot is its own window.
        for slot in &got {
            prop_assert_eq!(slot.period_start_ms, slot.window.start_ms);
        }
        // Ranges that meet: every slot once.
        let mut halves = s.slots(from, mid, &[]);
        halves.extend(s.slots(mid, to, &[]));
        prop_assert_eq!(halves, got.clone());
        // Ordered, non-empty, never overlapping.
        for pair in got.windows(2) {
            prop_assert!(pair[0].window.end_ms <= pair[1].window.start_ms);
        }
        for slot in &got {
            prop_assert!(slot.window.start_ms < slot.window.end_ms);
        }
    }

    #[test]
    fn every_day_all_day_cycles_leave_no_gap(
        unit in prop_oneof![Just(CycleUnit::Day), Just(CycleUnit::Week), Just(CycleUnit::Month), Just(CycleUnit::Quarter)],
        every in 1u16..=3,
        day in 0i64..4000,
        quarter_hours in -48i32..=56,
        len in 30i64..800,
    ) {
        let s = Schedule {
            cycle: Cycle { unit, every },
            window: WorkWindow::ALL_DAY,
            days: DayRule::EveryDay,
            anchor: Date::from_calendar_date(2020, time::Month::January, 1).unwrap() + Duration::days(day),
            utc_offset_minutes: quarter_hours * 15,
        };
        let from = at(&s, s.anchor, 0);
        let got = s.slots(from, from + len * 86_400_000, &[]);
        prop_assert!(!got.is_empty());
        prop_assert_eq!(got[0].window.start_ms, from);
        for pair in got.windows(2) {
            prop_assert_eq!(pair[0].window.end_ms, pair[1].window.start_ms);
        }
    }

    #[test]
    fn pauses_only_cut_windows_back(
        (s, (from, _, to)) in schedule().prop_flat_map(|s| (Just(s), range(&s))),
        raw_pauses in prop::collection::vec((0i64..400 * 24, 1i64..24 * 20), 0..4),
    ) {
        let base = at(&s, s.anchor, 0);
        let pauses: Vec<Pause> = raw_pauses
            .iter()
            .map(|(start_h, len_h)| Pause {
                start_ms: base + start_h * 3_600_000 - 40 * 86_400_000,
                end_ms: base + (start_h + len_h) * 3_600_000 - 40 * 86_400_000,
            })
            .collect();
        let plain = s.slots(from, to, &[]);
        let paused = s.slots(from, to, &pauses);
        let inside = |t: i64| pauses.iter().any(|p| p.start_ms <= t && t < p.end_ms);
        let covered = |w: Window| {
            // Whole window inside the union of pauses: walk it hour by hour is too coarse, so
            // walk pause ends from its start.
            let mut t = w.start_ms;
            loop {
                match pauses.iter().filter(|p| p.start_ms <= t && t < p.end_ms).map(|p| p.end_ms).max() {
                    Some(end) if end >= w.end_ms => return true,
                    Some(end) => t = end,
                    None => return false,
                }
            }
        };
        let mut kept = paused.iter().peekable();
        for slot in &plain {
            match kept.peek() {
                Some(k) if k.period_start_ms == slot.period_start_ms => {
                    let w = k.window;
                    prop_assert!(!covered(slot.window));
                    prop_assert!(w.start_ms >= slot.window.start_ms && w.end_ms <= slot.window.end_ms);
                    prop_assert!(w.start_ms < w.end_ms);
                    // No task opens or falls due inside a pause.
                    prop_assert!(!inside(w.start_ms));
                    prop_assert!(!pauses.iter().any(|p| p.start_ms < w.end_ms && w.end_ms <= p.end_ms));
                    // Only a paused stretch was cut away.
                    prop_assert!(w.start_ms == slot.window.start_ms || inside(slot.window.start_ms));
                    prop_assert!(w.end_ms == slot.window.end_ms || inside(slot.window.end_ms - 1));
                    kept.next();
                }
                _ => prop_assert!(covered(slot.window), "dropped a window that was not paused"),
            }
        }
        prop_assert!(kept.next().is_none(), "a slot appeared that the rule does not define");
    }
}
