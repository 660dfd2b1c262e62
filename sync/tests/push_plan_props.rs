//! The push plan against the contract of section 4 of the design, for random batches with
//! repeats of recorded and of same-batch seqs, reused seqs, gaps, malformed items and groups.
//!
//! The checks walk the batch item by item as the design states the contract (a seq at or below
//! the last: duplicate with the same id, else seq_reused; the next seq: applied; above it: a gap,
//! and nothing applied after it), running the plan the way storage does with made-up engine
//! outcomes, and compare every answer.

use std::collections::HashMap;

use hazardloop_sync::protocol::{
    plan, recorded_seqs_needed, AppliedItem, InvalidItem, MutationRejection, ParsedItem, PushItem,
    PushResult, RecordedResult, RejectionCode, Step,
};
use hazardloop_sync::Mutation;
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

/// How an item's seq relates to the ones before it.
#[derive(Debug, Clone)]
enum Kind {
    /// The next seq after the highest so far.
    Next,
    /// A seq `k` below the highest so far (a repeat or a reuse).
    Back(i64),
    /// Skips `k` seqs (a gap).
    Jump(i64),
    /// Not a readable item.
    Invalid,
}

#[derive(Debug, Clone)]
struct Spec {
    kind: Kind,
    /// From a small pool, so repeats with the same id are common.
    id: u128,
    /// None or one of two groups.
    group: Option<u128>,
    /// Whether the engine would reject it.
    rejected: bool,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        8 => Just(Kind::Next),
        3 => (0i64..4).prop_map(Kind::Back),
        1 => (1i64..3).prop_map(Kind::Jump),
        1 => Just(Kind::Invalid),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        kind(),
        1u128..5,
        prop_oneof![2 => Just(None), 1 => Just(Some(100u128)), 1 => Just(Some(101u128))],
        prop::bool::weighted(0.2),
    )
        .prop_map(|(kind, id, group, rejected)| Spec {
            kind,
            id,
            group,
            rejected,
        })
}

/// A device that has applied `last` seqs, some of whose records are gone (`missing`), and a
/// batch.
fn scenario() -> impl Strategy<Value = (i64, Vec<u128>, Vec<bool>, Vec<Spec>)> {
    (0i64..5).prop_flat_map(|last| {
        (
            Just(last),
            prop::collection::vec(1u128..5, last as usize),
            prop::collection::vec(prop::bool::weighted(0.15), last as usize),
            prop::collection::vec(spec(), 0..14),
        )
    })
}

fn batch_of(last: i64, specs: &[Spec]) -> Vec<ParsedItem> {
    let mut high = last;
    specs
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let seq = match s.kind {
                Kind::Next => high + 1,
                Kind::Back(k) => (high - k).max(1),
                Kind::Jump(k) => high + 1 + k,
                Kind::Invalid => {
                    return Err(InvalidItem {
                        index,
                        seq: json!("x"),
                        id: Value::Null,
                        code: "invalid_seq",
                        message: "seq must be a positive integer".into(),
                    })
                }
            };
            high = high.max(seq);
            Ok(PushItem {
                seq,
                mutation: Mutation {
                    id: Uuid::from_u128(s.id),
                    name: "hazard.report".into(),
                    args: json!({}),
                    base_version: None,
                    hlc: None,
                    device_time: None,
                    seq: Some(seq),
                    group: s.group.map(Uuid::from_u128),
                },
            })
        })
        .collect()
}

fn recorded_result(seq: i64, id: Uuid) -> String {
    PushResult::applied(
        seq,
        id,
        AppliedItem {
            entity_type: "hazard".into(),
            entity_id: format!("recorded-{seq}"),
            version: 1,
            lost: vec![],
        },
    )
    .to_json()
    .to_string()
}

/// Runs the plan as storage does, with the engine's answers made up from `specs`.
fn execute(batch: &[ParsedItem], specs: &[Spec], steps: &[Step]) -> Vec<PushResult> {
    let mut out: Vec<PushResult> = Vec::new();
    let engine = |i: usize| -> Result<PushResult, MutationRejection> {
        let item = batch[i].as_ref().unwrap();
        if specs[i].rejected {
            Err(MutationRejection::invalid("title", "no"))
        } else {
            Ok(PushResult::applied(
                item.seq,
                item.mutation.id,
                AppliedItem {
                    entity_type: "hazard".into(),
                    entity_id: format!("item-{i}"),
                    version: 1,
                    lost: vec![],
                },
            ))
        }
    };
    for step in steps {
        match step {
            Step::Answer { result, .. } => out.push(result.clone()),
            Step::RepeatOf { earlier, .. } => out.push(PushResult::Duplicate {
                original: out[*earlier].to_json(),
            }),
            Step::Apply { index } => {
                let item = batch[*index].as_ref().unwrap();
                out.push(engine(*index).unwrap_or_else(|r| PushResult::Rejected {
                    seq: item.seq,
                    id: item.mutation.id,
                    rejection: r,
                }))
            }
            Step::ApplyGroup { indexes } => {
                let failed = indexes.clone().find(|i| specs[*i].rejected);
                for i in indexes.clone() {
                    let item = batch[i].as_ref().unwrap();
                    out.push(match failed {
                        None => engine(i).unwrap(),
                        Some(f) if f == i => PushResult::Rejected {
                            seq: item.seq,
                            id: item.mutation.id,
                            rejection: engine(i).unwrap_err(),
                        },
                        Some(f) => PushResult::GroupFailed {
                            seq: item.seq,
                            id: item.mutation.id,
                            group: item.mutation.group,
                            failed_seq: batch[f].as_ref().unwrap().seq,
                        },
                    });
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_answer_follows_the_contract((last, ids, missing, specs) in scenario()) {
        let batch = batch_of(last, &specs);
        // What earlier pushes recorded: seq s was used by id ids[s-1], unless its record is gone.
        let mut recorded = HashMap::new();
        for seq in recorded_seqs_needed(last, &batch) {
            prop_assert!(seq >= 1 && seq <= last);
            let i = (seq - 1) as usize;
            if !missing[i] {
                let id = Uuid::from_u128(ids[i]);
                recorded.insert(seq, RecordedResult {
                    mutation_id: id.to_string(),
                    result: recorded_result(seq, id),
                });
            }
        }
        let p = plan(last, &recorded, &batch);

        // Steps cover every item once, in order.
        let covered: Vec<usize> = p.steps.iter().flat_map(|s| s.indexes()).collect();
        prop_assert_eq!(covered, (0..batch.len()).collect::<Vec<_>>());
        let results = execute(&batch, &specs, &p.steps);
        prop_assert_eq!(results.len(), batch.len());
        let applied_here: Vec<usize> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Apply { .. } | Step::ApplyGroup { .. }))
            .flat_map(|s| s.indexes())
            .collect();

        // The contract, item by item.
        let mut done: HashMap<i64, (Uuid, Value)> = HashMap::new();
        for (seq, r) in &recorded {
            done.insert(*seq, (Uuid::parse_str(&r.mutation_id).unwrap(), serde_json::from_str(&r.result).unwrap()));
        }
        let mut expected_last = last;
        let mut gap: Option<i64> = None;
        for (i, item) in batch.iter().enumerate() {
            let got = &results[i];
            let Ok(item) = item else {
                prop_assert_eq!(got.status(), "invalid");
                prop_assert!(!applied_here.contains(&i));
                continue;
            };
            let id = item.mutation.id;
            if gap.is_none() && item.seq > expected_last + 1 {
                gap = Some(expected_last + 1);
            }
            if let Some(expected_seq) = gap {
                prop_assert_eq!(got, &PushResult::OutOfOrder { seq: item.seq, id, expected_seq });
                prop_assert!(!applied_here.contains(&i), "applied after a gap");
                continue;
            }
            if item.seq <= expected_last {
                prop_assert!(!applied_here.contains(&i), "a repeated seq was applied again");
                match done.get(&item.seq) {
                    Some((used_by, first)) if *used_by == id => {
                        prop_assert_eq!(got.status(), "duplicate");
                        let mut want = first.clone();
                        want["original_status"] = first["status"].clone();
                        want["status"] = json!("duplicate");
                        prop_assert_eq!(got.to_json(), want);
                    }
                    _ => prop_assert_eq!(
                        got,
                        &PushResult::SeqReused { seq: item.seq, id, expected_seq: expected_last + 1 }
                    ),
                }
                continue;
            }
            // The next seq: applied (or rejected by the engine), never skipped.
            prop_assert!(applied_here.contains(&i), "the next seq was not applied");
            prop_assert_eq!(got.seq_and_id(), Some((item.seq, id)));
            prop_assert!(matches!(got.status(), "applied" | "rejected"));
            done.insert(item.seq, (id, got.to_json()));
            expected_last = item.seq;
        }
        prop_assert_eq!(p.applied_through, expected_last);

        // Groups: two or more consecutive items of one group with consecutive seqs, as long as
        // the batch allows, standing or falling together.
        for step in &p.steps {
            let range = match step {
                Step::Apply { index } => *index..*index + 1,
                Step::ApplyGroup { indexes } => {
                    prop_assert!(indexes.len() >= 2);
                    indexes.clone()
                }
                _ => continue,
            };
            let first = batch[range.start].as_ref().unwrap();
            let mut prev = first.seq - 1;
            for i in range.clone() {
                let it = batch[i].as_ref().unwrap();
                prop_assert_eq!(it.seq, prev + 1);
                if range.len() > 1 {
                    prop_assert!(it.mutation.group.is_some());
                    prop_assert_eq!(it.mutation.group, first.mutation.group);
                }
                prev = it.seq;
            }
            if let (Some(g), Some(Ok(next))) = (first.mutation.group, batch.get(range.end)) {
                prop_assert!(
                    !(next.mutation.group == Some(g) && next.seq == prev + 1),
                    "a group was cut short"
                );
            }
            let statuses: Vec<&str> = range.clone().map(|i| results[i].status()).collect();
            prop_assert!(
                statuses.iter().all(|s| *s == "applied") || statuses.iter().all(|s| *s == "rejected"),
                "a group applied in part: {:?}", statuses
            );
            if range.len() > 1 && statuses[0] == "rejected" {
                let failed = range.clone().filter(|i| {
                    matches!(&results[*i], PushResult::Rejected { rejection, .. } if rejection.code != RejectionCode::GroupFailed)
                }).count();
                prop_assert_eq!(failed, 1);
                for i in range.clone() {
                    let j = results[i].to_json();
                    prop_assert!(j["code"] == "group_failed" || j["code"] == "invalid");
                }
            }
        }

        // Every result survives the wire as it is.
        for r in &results {
            let back: PushResult = serde_json::from_value(r.to_json()).unwrap();
            prop_assert_eq!(back.to_json(), r.to_json());
        }
    }
}

#[test]
fn a_lost_answer_is_repeated_and_a_reused_seq_is_refused() {
    let id = Uuid::from_u128(7);
    let other = Uuid::from_u128(8);
    let batch = batch_of(
        0,
        &[
            Spec {
                kind: Kind::Next,
                id: 7,
                group: None,
                rejected: false,
            },
            Spec {
                kind: Kind::Back(0),
                id: 7,
                group: None,
                rejected: false,
            },
            Spec {
                kind: Kind::Back(0),
                id: 8,
                group: None,
                rejected: false,
            },
            Spec {
                kind: Kind::Jump(1),
                id: 9,
                group: None,
                rejected: false,
            },
            Spec {
                kind: Kind::Next,
                id: 9,
                group: None,
                rejected: false,
            },
        ],
    );
    let p = plan(0, &HashMap::new(), &batch);
    assert_eq!(
        p.steps,
        vec![
            Step::Apply { index: 0 },
            Step::RepeatOf {
                index: 1,
                earlier: 0
            },
            Step::Answer {
                index: 2,
                result: PushResult::SeqReused {
                    seq: 1,
                    id: other,
                    expected_seq: 2
                }
            },
            Step::Answer {
                index: 3,
                result: PushResult::OutOfOrder {
                    seq: 3,
                    id: Uuid::from_u128(9),
                    expected_seq: 2
                }
            },
            Step::Answer {
                index: 4,
                result: PushResult::OutOfOrder {
                    seq: 4,
                    id: Uuid::from_u128(9),
                    expected_seq: 2
                }
            },
        ]
    );
    assert_eq!(p.applied_through, 1);
    let _ = id;
}
