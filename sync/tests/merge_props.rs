//! Merging is convergent: every delivery order of the same writes ends in the same value.

use hazardloop_sync::merge::{merge_field, merge_grade, merge_severity, FieldMerge};
use hazardloop_sync::{Grade, GradeScale, Hlc, Risk};
use proptest::prelude::*;
use serde_json::{json, Value};

fn clock() -> impl Strategy<Value = Hlc> {
    (
        0i64..5,
        0u32..3,
        prop_oneof![Just("a"), Just("b"), Just("server")],
    )
        .prop_map(|(w, c, n)| Hlc::new(w, c, n).unwrap())
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("x")),
        Just(json!("y")),
        Just(json!(1)),
        Just(json!({"k": [1, 2]})),
        Just(Value::Null)
    ]
}

fn risk() -> impl Strategy<Value = Risk> {
    prop::sample::select(Risk::ALL.to_vec())
}

fn grade() -> impl Strategy<Value = Grade> {
    prop_oneof![
        Just(Grade::general()),
        Just(Grade::major()),
        Just(Grade::new("odd"))
    ]
}

/// Applies writes in order with `merge`, returning the value held at the end.
fn fold<T: Clone>(
    writes: &[(T, Hlc)],
    merge: impl Fn(Option<(&T, &Hlc)>, (&T, &Hlc)) -> FieldMerge,
) -> Option<(T, Hlc)> {
    let mut held: Option<(T, Hlc)> = None;
    for (v, h) in writes {
        if merge(held.as_ref().map(|(cv, ch)| (cv, ch)), (v, h)) == FieldMerge::Take {
            held = Some((v.clone(), h.clone()));
        }
    }
    held
}

proptest! {
    #[test]
    fn last_writer_wins_in_any_order(
        writes in proptest::collection::vec((value(), clock()), 1..8).prop_shuffle(),
        seed in any::<u64>(),
    ) {
        let mut other = writes.clone();
        // A second, different delivery order (with one write delivered twice).
        other.rotate_left((seed as usize) % writes.len());
        other.reverse();
        other.push(writes[0].clone());
        let a = fold(&writes, merge_field);
        let b = fold(&other, merge_field);
        prop_assert_eq!(a.clone(), b);
        // The winner carries the latest clock.
        let latest = writes.iter().map(|(_, h)| h).max().cloned();
        prop_assert_eq!(a.map(|(_, h)| h), latest);
    }

    #[test]
    fn severity_converges_to_the_most_severe(
        writes in proptest::collection::vec((risk(), clock()), 1..8).prop_shuffle(),
    ) {
        let mut reversed = writes.clone();
        reversed.reverse();
        let a = fold(&writes, merge_severity);
        prop_assert_eq!(a.clone(), fold(&reversed, merge_severity));
        prop_assert_eq!(a.map(|(r, _)| r), writes.iter().map(|(r, _)| *r).max());
    }

    #[test]
    fn grades_converge_and_never_go_down(
        writes in proptest::collection::vec((grade(), clock()), 1..8).prop_shuffle(),
    ) {
        let scale = GradeScale::default();
        let merge = |c: Option<(&Grade, &Hlc)>, i: (&Grade, &Hlc)| merge_grade(&scale, c, i);
        let mut reversed = writes.clone();
        reversed.reverse();
        let a = fold(&writes, merge);
        prop_assert_eq!(a.clone(), fold(&reversed, merge));
        let has_major = writes.iter().any(|(g, _)| g.is_major());
        prop_assert_eq!(a.map(|(g, _)| g.is_major()), Some(has_major));
    }

    #[test]
    fn merge_field_is_antisymmetric(a in (value(), clock()), b in (value(), clock())) {
        // Whichever is current, the same write ends up held.
        let held_if_a_first = if merge_field(Some((&a.0, &a.1)), (&b.0, &b.1)) == FieldMerge::Take { &b } else { &a };
        let held_if_b_first = if merge_field(Some((&b.0, &b.1)), (&a.0, &a.1)) == FieldMerge::Take { &a } else { &b };
        prop_assert_eq!(held_if_a_first, held_if_b_first);
    }
}
