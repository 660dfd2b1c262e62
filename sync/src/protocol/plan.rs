//! The push plan: what to do with each item of a batch, decided before anything is written.
//!
//! The device's seq moves in a way that depends only on the batch, never on what the engine
//! answers: an item at `last + 1` is applied (alone or with its group) and advances `last`
//! whether it is applied or rejected. So the whole plan is known up front, from the device's
//! last seq, the results recorded for the seqs the batch repeats, and the parsed batch;
//! `storage` only runs it inside the transaction.
//!
//! The contract (section 4 of the design):
//! - an item at or below `last` with the mutation id recorded for its seq is `duplicate`
//!   (the recorded answer again); with another id it is `seq_reused`, never applied;
//! - an item above `last + 1` is a gap: it and every valid item after it are `out_of_order`
//!   with the expected seq, and nothing after the gap is applied;
//! - consecutive items carrying the same `group` with consecutive seqs are applied together,
//!   all or nothing;
//! - a malformed item is answered `invalid` and does not move the seq.

use std::collections::HashMap;
use std::ops::Range;

use uuid::Uuid;

use super::wire::{ParsedItem, PushResult};

/// A result recorded for `(device, seq)` by an earlier push.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedResult {
    /// The mutation id that seq was used by.
    pub mutation_id: String,
    /// The result's JSON text.
    pub result: String,
}

/// What to do with one item, or with the items of one group.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Answer without applying: `invalid`, `out_of_order`, `seq_reused`, or `duplicate` of a
    /// result recorded by an earlier push.
    Answer {
        /// The item.
        index: usize,
        /// Its answer.
        result: PushResult,
    },
    /// The same mutation as an earlier item of this batch: answer `duplicate` of that item's
    /// result, once it has one.
    RepeatOf {
        /// The item.
        index: usize,
        /// The earlier item whose result it repeats.
        earlier: usize,
    },
    /// Apply the item on its own.
    Apply {
        /// The item.
        index: usize,
    },
    /// Apply these items as one group, all or nothing (two or more).
    ApplyGroup {
        /// The items, consecutive in the batch.
        indexes: Range<usize>,
    },
}

impl Step {
    /// The items this step answers.
    pub fn indexes(&self) -> Range<usize> {
        match self {
            Step::Answer { index, .. } | Step::RepeatOf { index, .. } | Step::Apply { index } => {
                *index..*index + 1
            }
            Step::ApplyGroup { indexes } => indexes.clone(),
        }
    }
}

/// The plan of a push: steps covering every item once, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct PushPlan {
    /// In batch order.
    pub steps: Vec<Step>,
    /// The device's last seq once the plan has run.
    pub applied_through: i64,
}

/// The seqs whose recorded results [`plan`] may need: the batch's valid seqs at or below the
/// device's `last_seq` (ascending, once each). Usually none.
pub fn recorded_seqs_needed(last_seq: i64, batch: &[ParsedItem]) -> Vec<i64> {
    let mut seqs: Vec<i64> = batch
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|i| i.seq)
        .filter(|s| *s <= last_seq)
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

/// Plans a push for a device whose last applied seq is `last_seq`. `recorded` holds the
/// results recorded for (at least) [`recorded_seqs_needed`]; a seq missing from it was never
/// recorded, so an item repeating it is `seq_reused`.
pub fn plan(
    last_seq: i64,
    recorded: &HashMap<i64, RecordedResult>,
    batch: &[ParsedItem],
) -> PushPlan {
    let mut steps = Vec::with_capacity(batch.len());
    let mut last = last_seq;
    // Seqs advanced by this batch: which item, with which mutation id.
    let mut advanced: HashMap<i64, (usize, Uuid)> = HashMap::new();
    let mut gap: Option<i64> = None;
    let mut i = 0;
    while i < batch.len() {
        let item = match &batch[i] {
            Err(invalid) => {
                steps.push(Step::Answer {
                    index: i,
                    result: PushResult::Invalid(invalid.clone()),
                });
                i += 1;
                continue;
            }
            Ok(item) => item,
        };
        let (seq, id) = (item.seq, item.mutation.id);
        let expected_seq = last + 1;
        if let Some(expected_seq) = gap {
            steps.push(Step::Answer {
                index: i,
                result: PushResult::OutOfOrder {
                    seq,
                    id,
                    expected_seq,
                },
            });
            i += 1;
            continue;
        }
        if seq > expected_seq {
            gap = Some(expected_seq);
            continue;
        }
        if seq < expected_seq {
            let reused = PushResult::SeqReused {
                seq,
                id,
                expected_seq,
            };
            steps.push(match advanced.get(&seq) {
                Some((earlier, earlier_id)) if *earlier_id == id => Step::RepeatOf {
                    index: i,
                    earlier: *earlier,
                },
                Some(_) => Step::Answer {
                    index: i,
                    result: reused,
                },
                None => match recorded.get(&seq) {
                    Some(r) if r.mutation_id == id.to_string() => Step::Answer {
                        index: i,
                        result: PushResult::duplicate_of_text(&r.result),
                    },
                    _ => Step::Answer {
                        index: i,
                        result: reused,
                    },
                },
            });
            i += 1;
            continue;
        }
        // seq == last + 1: apply, with the rest of its group when it carries one.
        let mut end = i + 1;
        if let Some(g) = item.mutation.group {
            while let Some(Ok(next)) = batch.get(end) {
                if next.mutation.group != Some(g) || next.seq != seq + (end - i) as i64 {
                    break;
                }
                end += 1;
            }
        }
        for (k, member) in batch[i..end].iter().enumerate() {
            if let Ok(member) = member {
                advanced.insert(member.seq, (i + k, member.mutation.id));
                last = member.seq;
            }
        }
        steps.push(if end - i == 1 {
            Step::Apply { index: i }
        } else {
            Step::ApplyGroup { indexes: i..end }
        });
        i = end;
    }
    PushPlan {
        steps,
        applied_through: last,
    }
}
