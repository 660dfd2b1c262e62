//! One field of a hazard edit, decided (design section 4): did the edit see the value it would
//! replace, which value stays, and is the loser a conflict.
//!
//! A conflict is two writes that did not see each other. An edit *saw* the value a field holds
//! when its writer had the hazard at or after the version that value was written in (the
//! `base_version` of a sync mutation, or the `If-Match` of a REST edit), when it is the writer's
//! own earlier write, or when the value is the one the hazard was reported with (nobody can edit
//! a hazard before having it). An edit that saw the value replaces it, whatever the clocks say:
//! it is an ordinary successive edit and never a conflict. An edit that did not see it is
//! concurrent: [`merge_field`] (later clock) or [`merge_severity`] (more severe) picks the value,
//! and the loser goes to the conflict log.
//!
//! Severity (risk colour) never silently goes down: an edit that lowers a value it saw is a
//! deliberate [`Decision::Lowers`], which the caller takes only with a stated version and a
//! reason; a lower value that is concurrent, or whose writer said nothing about what it saw, is
//! kept out and logged.

use serde_json::Value;

use crate::hlc::Hlc;
use crate::merge::{merge_field, merge_severity, FieldMerge};

/// What the writer of an edit had seen of the hazard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The hazard at this version: a sync mutation's `base_version`, or a REST `If-Match` that
    /// matched the current version.
    Version(i64),
    /// The live state, without naming a version: an online (REST) edit without `If-Match`.
    Live,
    /// Nothing said: a sync edit without `base_version`. Overwriting another writer's value
    /// then counts as concurrent.
    Nothing,
}

/// The write a field holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held<V> {
    /// The value.
    pub value: V,
    /// Its clock; `None` for a value written without one (the report's values).
    pub clock: Option<Hlc>,
    /// Who wrote it (a device id, or a user id for an online edit); `None` for the report's
    /// values.
    pub writer: Option<String>,
    /// The hazard version the write produced; `None` when not recorded.
    pub version: Option<i64>,
}

impl<V> Held<V> {
    /// A value the hazard was reported with: no clock, no writer.
    pub fn reported(value: V) -> Held<V> {
        Held {
            value,
            clock: None,
            writer: None,
            version: None,
        }
    }
}

/// An incoming write to one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit<V> {
    /// The value.
    pub value: V,
    /// The mutation's clock.
    pub clock: Hlc,
    /// A device id, or a user id for an online edit.
    pub writer: String,
    /// What the writer had seen.
    pub seen: Seen,
}

/// What to do with an edit to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Store the edit's value with its clock. `conflict`: the held value lost to a write that
    /// did not see it (log it).
    Take {
        /// The replaced value is a conflict's loser.
        conflict: bool,
    },
    /// Keep the held value. `conflict`: the edit's value differs and lost (report it `lost`
    /// and log it).
    Keep {
        /// The edit's value is a conflict's loser.
        conflict: bool,
    },
    /// The edit lowers a severity it saw: a deliberate lowering. Take it, without a conflict,
    /// only when the writer named the version it saw and gave a reason; else refuse the edit.
    Lowers,
}

/// True when `edit` saw the value `held` (see the module documentation).
pub fn saw<V, W>(held: &Held<V>, edit: &Edit<W>) -> bool {
    let Some(writer) = &held.writer else {
        return true;
    };
    if *writer == edit.writer {
        return true;
    }
    match edit.seen {
        Seen::Live => true,
        Seen::Version(base) => held.version.is_some_and(|v| v <= base),
        Seen::Nothing => false,
    }
}

/// A descriptive field (title, description, ...): an edit that saw the held value replaces it;
/// a concurrent one is decided by [`merge_field`] (later clock).
pub fn decide_field(held: Option<&Held<Value>>, edit: &Edit<Value>) -> Decision {
    let Some(held) = held else {
        return Decision::Take { conflict: false };
    };
    let differ = held.value != edit.value;
    if saw(held, edit) {
        return Decision::Take { conflict: false };
    }
    let current = held.clock.as_ref().map(|c| (&held.value, c));
    match merge_field(current, (&edit.value, &edit.clock)) {
        FieldMerge::Take => Decision::Take { conflict: differ },
        FieldMerge::KeepCurrent => Decision::Keep { conflict: differ },
    }
}

/// A severity (risk colour, ordered least to most severe): raising or keeping the level follows
/// [`decide_field`]'s rule with [`merge_severity`] for concurrent edits; lowering a level the
/// edit saw is [`Decision::Lowers`] when the writer said what it saw, and any other lower value
/// is kept out (and logged).
pub fn decide_severity<T: Ord>(held: Option<&Held<T>>, edit: &Edit<T>) -> Decision {
    let Some(held) = held else {
        return Decision::Take { conflict: false };
    };
    let seen = saw(held, edit);
    if edit.value < held.value {
        return if seen && edit.seen != Seen::Nothing {
            Decision::Lowers
        } else {
            Decision::Keep { conflict: true }
        };
    }
    let differ = edit.value != held.value;
    if seen {
        return Decision::Take { conflict: false };
    }
    // A value without a clock (the report's) counts as the earliest.
    let take = match &held.clock {
        Some(c) => merge_severity(Some((&held.value, c)), (&edit.value, &edit.clock)),
        None => FieldMerge::Take,
    };
    match take {
        FieldMerge::Take => Decision::Take { conflict: differ },
        FieldMerge::KeepCurrent => Decision::Keep { conflict: differ },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hazard::Risk;
    use serde_json::json;

    fn at(wall: i64, node: &str) -> Hlc {
        Hlc::new(wall, 0, node).unwrap()
    }

    fn held(v: &str, wall: i64, by: &str, version: i64) -> Held<Value> {
        Held {
            value: json!(v),
            clock: Some(at(wall, by)),
            writer: Some(by.into()),
            version: Some(version),
        }
    }

    fn edit(v: &str, wall: i64, by: &str, seen: Seen) -> Edit<Value> {
        Edit {
            value: json!(v),
            clock: at(wall, by),
            writer: by.into(),
            seen,
        }
    }

    #[test]
    fn an_edit_after_pulling_the_value_replaces_it_even_with_an_older_clock() {
        let h = held("from b", 50, "b", 2);
        let d = decide_field(Some(&h), &edit("from a", 10, "a", Seen::Version(2)));
        assert_eq!(d, Decision::Take { conflict: false });
        assert_eq!(
            decide_field(Some(&h), &edit("again", 10, "b", Seen::Nothing)),
            Decision::Take { conflict: false },
            "a writer saw its own write"
        );
        assert_eq!(
            decide_field(Some(&h), &edit("online", 10, "u", Seen::Live)),
            Decision::Take { conflict: false }
        );
    }

    #[test]
    fn concurrent_edits_go_by_clock_and_the_loser_is_a_conflict() {
        let h = held("from b", 50, "b", 3);
        assert_eq!(
            decide_field(Some(&h), &edit("from a", 60, "a", Seen::Version(2))),
            Decision::Take { conflict: true }
        );
        assert_eq!(
            decide_field(Some(&h), &edit("from a", 40, "a", Seen::Version(2))),
            Decision::Keep { conflict: true }
        );
        assert_eq!(
            decide_field(Some(&h), &edit("from b", 40, "a", Seen::Nothing)),
            Decision::Keep { conflict: false },
            "the same value is no conflict"
        );
        let reported = Held::reported(json!("at report"));
        assert_eq!(
            decide_field(Some(&reported), &edit("x", 1, "a", Seen::Nothing)),
            Decision::Take { conflict: false }
        );
    }

    #[test]
    fn risk_goes_down_only_deliberately() {
        let red = Held {
            value: Risk::Red,
            clock: Some(at(50, "b")),
            writer: Some("b".into()),
            version: Some(2),
        };
        let e = |v: Risk, seen: Seen| Edit {
            value: v,
            clock: at(60, "a"),
            writer: "a".into(),
            seen,
        };
        assert_eq!(
            decide_severity(Some(&red), &e(Risk::Blue, Seen::Version(2))),
            Decision::Lowers
        );
        assert_eq!(
            decide_severity(Some(&red), &e(Risk::Blue, Seen::Live)),
            Decision::Lowers
        );
        assert_eq!(
            decide_severity(Some(&red), &e(Risk::Blue, Seen::Version(1))),
            Decision::Keep { conflict: true },
            "concurrent: the more severe stays"
        );
        assert_eq!(
            decide_severity(Some(&red), &e(Risk::Blue, Seen::Nothing)),
            Decision::Keep { conflict: true }
        );
        let blue = Held {
            value: Risk::Blue,
            ..red.clone()
        };
        assert_eq!(
            decide_severity(Some(&blue), &e(Risk::Red, Seen::Version(1))),
            Decision::Take { conflict: true }
        );
        assert_eq!(
            decide_severity(Some(&blue), &e(Risk::Red, Seen::Version(2))),
            Decision::Take { conflict: false }
        );
        assert_eq!(
            decide_severity(
                Some(&Held::reported(Risk::Orange)),
                &e(Risk::Blue, Seen::Nothing)
            ),
            Decision::Keep { conflict: true }
        );
    }
}
