//! Field merge for offline edits (design section 4): each field is last-writer-wins by hybrid
//! logical clock, except grade and risk colour, which never silently go down. Deciding is
//! all this does; keeping the losing value in history and the conflict log is the caller's job.
//!
//! Every rule here picks a winner from the values alone, never from which write arrived first,
//! so replicas that receive the same writes in any order end with the same value.

use serde_json::Value;

use crate::canonical::to_canonical_json;
use crate::hazard::{Grade, GradeScale};
use crate::hlc::Hlc;

/// What to do with an incoming write to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldMerge {
    /// Store the incoming value; the current one (if any) lost.
    Take,
    /// Keep the current value; the incoming one lost (report it as `merged`).
    KeepCurrent,
}

/// Last writer wins: the incoming value is taken when there is no current value or its clock
/// is later. Equal clocks (the same write delivered twice) keep the current value, unless the
/// values differ, in which case the greater canonical JSON wins so every replica agrees.
pub fn merge_field(current: Option<(&Value, &Hlc)>, incoming: (&Value, &Hlc)) -> FieldMerge {
    let Some((cur_value, cur_clock)) = current else {
        return FieldMerge::Take;
    };
    let (new_value, new_clock) = incoming;
    match new_clock.cmp(cur_clock) {
        std::cmp::Ordering::Greater => FieldMerge::Take,
        std::cmp::Ordering::Less => FieldMerge::KeepCurrent,
        std::cmp::Ordering::Equal => {
            if to_canonical_json(new_value) > to_canonical_json(cur_value) {
                FieldMerge::Take
            } else {
                FieldMerge::KeepCurrent
            }
        }
    }
}

/// Severity merge for values ordered by severity (e.g. [`crate::Risk`]): the more severe value
/// wins whatever the clocks say, so an offline edit can never lower a hazard's severity
/// (lowering a grade is an explicit `regrade` command). Equally severe values fall back to
/// [`merge_field`]'s clock rule.
pub fn merge_severity<T: Ord>(current: Option<(&T, &Hlc)>, incoming: (&T, &Hlc)) -> FieldMerge {
    let Some((cur_value, cur_clock)) = current else {
        return FieldMerge::Take;
    };
    let (new_value, new_clock) = incoming;
    match new_value.cmp(cur_value) {
        std::cmp::Ordering::Greater => FieldMerge::Take,
        std::cmp::Ordering::Less => FieldMerge::KeepCurrent,
        std::cmp::Ordering::Equal if new_clock > cur_clock => FieldMerge::Take,
        std::cmp::Ordering::Equal => FieldMerge::KeepCurrent,
    }
}

/// [`merge_severity`] for grades, ranked by the organisation's scale (a grade outside the
/// scale ranks below all in it; two such grades are ordered by name).
pub fn merge_grade(
    scale: &GradeScale,
    current: Option<(&Grade, &Hlc)>,
    incoming: (&Grade, &Hlc),
) -> FieldMerge {
    let key = |g: &Grade| (scale.rank(g.as_str()), g.as_str().to_owned());
    let current_key = current.map(|(g, h)| (key(g), h));
    let incoming_key = key(incoming.0);
    merge_severity(
        current_key.as_ref().map(|(k, h)| (k, *h)),
        (&incoming_key, incoming.1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hazard::Risk;
    use serde_json::json;

    fn at(wall: i64, node: &str) -> Hlc {
        Hlc::new(wall, 0, node).unwrap()
    }

    #[test]
    fn later_clock_wins() {
        let (old, new) = (at(1, "a"), at(2, "b"));
        assert_eq!(merge_field(None, (&json!("x"), &old)), FieldMerge::Take);
        assert_eq!(
            merge_field(Some((&json!("x"), &old)), (&json!("y"), &new)),
            FieldMerge::Take
        );
        assert_eq!(
            merge_field(Some((&json!("y"), &new)), (&json!("x"), &old)),
            FieldMerge::KeepCurrent
        );
        // Same millisecond: the node breaks the tie.
        assert_eq!(
            merge_field(Some((&json!("x"), &at(5, "a"))), (&json!("y"), &at(5, "b"))),
            FieldMerge::Take
        );
    }

    #[test]
    fn a_replayed_write_changes_nothing() {
        let c = at(3, "a");
        assert_eq!(
            merge_field(Some((&json!(1), &c)), (&json!(1), &c)),
            FieldMerge::KeepCurrent
        );
    }

    #[test]
    fn severity_never_goes_down() {
        let (old, new) = (at(1, "a"), at(2, "b"));
        assert_eq!(
            merge_severity(Some((&Risk::Red, &old)), (&Risk::Blue, &new)),
            FieldMerge::KeepCurrent
        );
        assert_eq!(
            merge_severity(Some((&Risk::Blue, &new)), (&Risk::Red, &old)),
            FieldMerge::Take
        );
        assert_eq!(
            merge_severity(Some((&Risk::Red, &old)), (&Risk::Red, &new)),
            FieldMerge::Take
        );
        assert_eq!(merge_severity(None, (&Risk::Blue, &old)), FieldMerge::Take);
        let scale = GradeScale::default();
        let (general, major) = (Grade::general(), Grade::major());
        assert_eq!(
            merge_grade(&scale, Some((&major, &old)), (&general, &new)),
            FieldMerge::KeepCurrent
        );
        assert_eq!(
            merge_grade(&scale, Some((&general, &new)), (&major, &old)),
            FieldMerge::Take
        );
        assert_eq!(
            merge_grade(&scale, Some((&Grade::new("odd"), &new)), (&general, &old)),
            FieldMerge::Take
        );
    }
}
