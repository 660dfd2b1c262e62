//! Offline sync converges: random edits from several devices, delivered to several replicas in
//! random orders with duplicates and retries, end in the same state on every replica, and no
//! value that reached a replica vanishes without a history or conflict record.
//!
//! The replica below is a small pure model of how the server applies edits
//! (`storage/src/engine`): `hazard.update` merges each field on its own clock with
//! [`merge_field`], risk with [`merge_severity`] (an unknown current clock counts as the
//! earliest server clock); `inspection.answer` keeps one value per item, last writer wins by
//! [`merge_field`], the loser written to history; photo links grow by [`union_photos`]; a
//! mutation id seen before changes nothing (exactly once); a device clock too far ahead of the
//! server is pulled back to server time. Server time is held fixed here so every replica makes
//! the same clamp. The edits carry no `base_version` (they say they saw nothing), so values
//! are decided by clock alone; what counts as a conflict when they do is
//! `conflict_props.rs`. Not modelled: deliberate lowerings of the risk (which name the version
//! they saw and give a reason), and workflow commands (an edit to a closed hazard is rejected), both decided by arrival order
//! on the one server rather than merged.

use std::collections::{BTreeMap, BTreeSet};

use hazardloop_sync::canonical::to_canonical_json;
use hazardloop_sync::merge::{merge_field, merge_severity, FieldMerge};
use hazardloop_sync::photo::{is_photo_id, union_photos};
use hazardloop_sync::{Hlc, Risk};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

/// The server's clock while the replicas apply the edits.
const SERVER_NOW: i64 = 10_000;
/// `EngineSettings::max_clock_skew_ms`: a device clock further ahead than this is clamped.
const MAX_SKEW_MS: i64 = 100;
/// Devices start around here, some behind the server, some too far ahead.
const DEVICE_BASE: i64 = 9_900;

/// Descriptive fields `hazard.update` edits (besides `risk`).
const TEXT_FIELDS: &[&str] = &["title", "description", "location", "measures"];
/// Few values, so different devices often write the same one.
const TEXTS: &[&str] = &["a", "b", "c"];
const ITEMS: &[&str] = &["q1", "q2", "q3"];

fn answer_value(i: usize) -> Value {
    [json!(true), json!(false), json!("n/a"), json!(3)][i % 4].clone()
}

fn photo(n: u8) -> String {
    format!("{n:064x}")
}

/// What one field of the replicated state is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Hazard(&'static str),
    Answer(&'static str),
}

const RISK: Key = Key::Hazard("risk");

/// One mutation as a device queues it.
#[derive(Debug, Clone)]
struct Mutation {
    id: u64,
    hlc: Hlc,
    op: Op,
}

#[derive(Debug, Clone)]
enum Op {
    /// `hazard.update` with `{fields: {name: value, ...}}`.
    Update(Vec<(&'static str, Value)>),
    /// `inspection.answer` with `{item_key, value}`.
    Answer(&'static str, Value),
    /// Photo links added to the hazard.
    Photos(Vec<String>),
}

/// A value written to a field with the clock it was written at (none for the report's values,
/// which `hazard.report` stores without a field clock).
type Write = (Key, Value, Option<Hlc>);

/// One server's view of the hazard and its inspection.
#[derive(Debug, Clone, Default)]
struct Replica {
    /// Mutation ids already applied (the server's `(device_id, seq) -> result`).
    seen: BTreeSet<u64>,
    fields: BTreeMap<Key, (Value, Option<Hlc>)>,
    photos: Vec<String>,
    /// Every value that lost a merge: answer history and the hazard conflict log/audit.
    lost: Vec<Write>,
}

/// The clock the server uses for a mutation (`engine::apply`): one too far ahead is pulled back.
fn server_clock(h: &Hlc) -> Hlc {
    if h.wall_ms() > SERVER_NOW + MAX_SKEW_MS {
        Hlc::new(SERVER_NOW, h.counter(), h.node()).unwrap()
    } else {
        h.clone()
    }
}

fn risk_of(v: &Value) -> Risk {
    v.as_str().unwrap().parse().unwrap()
}

impl Replica {
    /// The hazard as `hazard.report` left it: values, but no field clocks.
    fn reported(risk: Risk, photos: &[String]) -> Replica {
        let mut r = Replica::default();
        for (name, value) in [
            ("title", "reported"),
            ("description", ""),
            ("location", ""),
            ("measures", ""),
            ("risk", risk.as_str()),
        ] {
            r.fields.insert(Key::Hazard(name), (json!(value), None));
        }
        r.photos = union_photos(&[], photos);
        r
    }

    fn apply(&mut self, m: &Mutation) {
        if !self.seen.insert(m.id) {
            return; // duplicate: the stored result is returned, nothing is applied again
        }
        let hlc = server_clock(&m.hlc);
        match &m.op {
            Op::Update(fields) => {
                for (name, raw) in fields {
                    let key = Key::Hazard(name);
                    let current = self.fields.get(&key);
                    let decision = if *name == "risk" {
                        let (cur_value, cur_clock) = current.unwrap();
                        let cur_clock = cur_clock
                            .clone()
                            .unwrap_or_else(|| Hlc::server_tick(None, 0));
                        merge_severity(
                            Some((&risk_of(cur_value), &cur_clock)),
                            (&risk_of(raw), &hlc),
                        )
                    } else {
                        merge_field(Self::held(current), (raw, &hlc))
                    };
                    self.settle(key, raw.clone(), hlc.clone(), decision);
                }
            }
            Op::Answer(item, value) => {
                let key = Key::Answer(item);
                let decision = merge_field(Self::held(self.fields.get(&key)), (value, &hlc));
                self.settle(key, value.clone(), hlc, decision);
            }
            Op::Photos(ids) => self.photos = union_photos(&self.photos, ids),
        }
    }

    /// The current value as `merge_field` sees it: none when there is no clock to compare.
    fn held(current: Option<&(Value, Option<Hlc>)>) -> Option<(&Value, &Hlc)> {
        current.and_then(|(v, c)| Some((v, c.as_ref()?)))
    }

    /// Stores the winner; whichever value lost goes to the log, never dropped.
    fn settle(&mut self, key: Key, value: Value, hlc: Hlc, decision: FieldMerge) {
        match decision {
            FieldMerge::Take => {
                if let Some((old, old_clock)) = self.fields.insert(key.clone(), (value, Some(hlc)))
                {
                    self.lost.push((key, old, old_clock));
                }
            }
            FieldMerge::KeepCurrent => self.lost.push((key, value, Some(hlc))),
        }
    }

    /// The state in a form that compares across replicas: photo links as a set (their list
    /// keeps first-seen order, which depends on arrival) and the log as a sorted multiset.
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            seen: self.seen.clone(),
            fields: self
                .fields
                .iter()
                .map(|(k, (v, c))| (k.clone(), (canon(v), c.clone())))
                .collect(),
            photos: self.photos.iter().cloned().collect(),
            lost: sorted(&self.lost),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    seen: BTreeSet<u64>,
    fields: BTreeMap<Key, (String, Option<Hlc>)>,
    photos: BTreeSet<String>,
    lost: Vec<(Key, String, Option<Hlc>)>,
}

fn canon(v: &Value) -> String {
    String::from_utf8(to_canonical_json(v)).unwrap()
}

fn sorted(writes: &[Write]) -> Vec<(Key, String, Option<Hlc>)> {
    let mut out: Vec<_> = writes
        .iter()
        .map(|(k, v, c)| (k.clone(), canon(v), c.clone()))
        .collect();
    out.sort();
    out
}

/// What a device does next.
#[derive(Debug, Clone)]
enum Action {
    /// Field index (the last one is risk) and value index, per field.
    Update(Vec<(usize, usize)>),
    Answer(usize, usize),
    Photos(Vec<u8>),
    /// Pulls another device's writes, taking in its clock.
    Pull(usize),
}

/// One step of the offline session: a device's wall clock advances, then it acts.
#[derive(Debug, Clone)]
struct Step {
    device: usize,
    advance_ms: i64,
    action: Action,
}

fn action() -> impl Strategy<Value = Action> {
    // A field index past the text fields is risk.
    let field = (0..=TEXT_FIELDS.len(), 0usize..4);
    prop_oneof![
        4 => prop::collection::vec(field, 1..4).prop_map(Action::Update),
        3 => (0..ITEMS.len(), 0usize..4).prop_map(|(i, v)| Action::Answer(i, v)),
        1 => prop::collection::vec(0u8..6, 1..3).prop_map(Action::Photos),
        1 => any::<usize>().prop_map(Action::Pull),
    ]
}

/// Devices' clock skews (2-4 devices) and their interleaved steps.
#[derive(Debug, Clone)]
struct Session {
    skews: Vec<i64>,
    steps: Vec<Step>,
    initial_risk: Risk,
    initial_photos: Vec<u8>,
}

fn session() -> impl Strategy<Value = Session> {
    (
        prop::collection::vec(-100i64..250, 2..=4),
        prop::collection::vec(
            (any::<usize>(), 0i64..4, action()).prop_map(|(device, advance_ms, action)| Step {
                device,
                advance_ms,
                action,
            }),
            1..24,
        ),
        prop::sample::select(Risk::ALL.to_vec()),
        prop::collection::vec(0u8..6, 0..2),
    )
        .prop_map(|(skews, steps, initial_risk, initial_photos)| Session {
            skews,
            steps,
            initial_risk,
            initial_photos,
        })
}

impl Session {
    /// The mutations each device queues, by step index (`None` for a pull). Each device's clock
    /// is an HLC ticked from its own skewed wall clock, so it only ever goes up.
    fn mutations(&self) -> Vec<Option<Mutation>> {
        let n = self.skews.len();
        let nodes: Vec<String> = (0..n).map(|d| format!("device-{d}")).collect();
        let mut local_ms = vec![0i64; n];
        let mut clocks: Vec<Option<Hlc>> = vec![None; n];
        let mut out = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let d = step.device % n;
            local_ms[d] += step.advance_ms;
            let now = DEVICE_BASE + self.skews[d] + local_ms[d];
            let tick = |prev: Option<&Hlc>| Hlc::tick(prev, now, &nodes[d]).unwrap();
            let op = match &step.action {
                Action::Pull(from) => {
                    if let Some(remote) = clocks[from % n].clone() {
                        let local = clocks[d].clone().unwrap_or_else(|| tick(None));
                        clocks[d] = Some(Hlc::receive(&local, &remote, now));
                    }
                    out.push(None);
                    continue;
                }
                Action::Update(fields) => {
                    let mut by_name = BTreeMap::new();
                    for &(f, v) in fields {
                        let (name, value) = match TEXT_FIELDS.get(f) {
                            Some(name) => (*name, json!(TEXTS[v % TEXTS.len()])),
                            None => ("risk", json!(Risk::ALL[v % Risk::ALL.len()].as_str())),
                        };
                        by_name.insert(name, value);
                    }
                    Op::Update(by_name.into_iter().collect())
                }
                Action::Answer(item, v) => Op::Answer(ITEMS[*item], answer_value(*v)),
                Action::Photos(ids) => Op::Photos(ids.iter().map(|&p| photo(p)).collect()),
            };
            let hlc = tick(clocks[d].as_ref());
            assert!(clocks[d].as_ref().is_none_or(|prev| hlc > *prev));
            clocks[d] = Some(hlc.clone());
            out.push(Some(Mutation {
                id: i as u64,
                hlc,
                op,
            }));
        }
        out
    }
}

/// How one replica receives the edits: a permutation of the steps, single re-deliveries
/// anywhere, and retried batches (the tail before a point pushed again).
#[derive(Debug, Clone)]
struct Delivery {
    order: Vec<usize>,
    duplicates: Vec<(Index, Index)>,
    retries: Vec<(Index, usize)>,
}

fn delivery(steps: usize) -> impl Strategy<Value = Delivery> {
    (
        Just((0..steps).collect::<Vec<_>>()).prop_shuffle(),
        prop::collection::vec((any::<Index>(), any::<Index>()), 0..6),
        prop::collection::vec((any::<Index>(), 1usize..4), 0..3),
    )
        .prop_map(|(order, duplicates, retries)| Delivery {
            order,
            duplicates,
            retries,
        })
}

impl Delivery {
    fn sequence(&self) -> Vec<usize> {
        let mut seq = self.order.clone();
        for (which, at) in &self.duplicates {
            let again = seq[which.index(seq.len())];
            seq.insert(at.index(seq.len() + 1), again);
        }
        for (at, len) in &self.retries {
            let at = at.index(seq.len() + 1);
            let batch = seq[at.saturating_sub(*len)..at].to_vec();
            seq.splice(at..at, batch);
        }
        seq
    }
}

fn scenario() -> impl Strategy<Value = (Session, Vec<Delivery>)> {
    session().prop_flat_map(|s| {
        let n = s.steps.len();
        (Just(s), prop::collection::vec(delivery(n), 2..5))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn offline_edits_converge_and_nothing_vanishes((session, deliveries) in scenario()) {
        let mutations = session.mutations();
        let initial_photos: Vec<String> =
            session.initial_photos.iter().map(|&p| photo(p)).collect();
        let reported = Replica::reported(session.initial_risk, &initial_photos);

        // The first replica gets the edits in the order they were made, the rest shuffled.
        let mut sequences = vec![(0..mutations.len()).collect::<Vec<_>>()];
        sequences.extend(deliveries.iter().map(Delivery::sequence));
        let replicas: Vec<Replica> = sequences
            .iter()
            .map(|seq| {
                let mut r = reported.clone();
                for m in seq.iter().filter_map(|&i| mutations[i].as_ref()) {
                    r.apply(m);
                }
                r
            })
            .collect();

        // Every value that reached a replica, as the server clocked it.
        let mut written: Vec<Write> = Vec::new();
        let mut linked: BTreeSet<String> = initial_photos.iter().cloned().collect();
        for m in mutations.iter().flatten() {
            let hlc = server_clock(&m.hlc);
            match &m.op {
                Op::Update(fields) => written.extend(
                    fields
                        .iter()
                        .map(|(n, v)| (Key::Hazard(n), v.clone(), Some(hlc.clone()))),
                ),
                Op::Answer(item, v) => written.push((Key::Answer(item), v.clone(), Some(hlc))),
                Op::Photos(ids) => linked.extend(ids.iter().cloned()),
            }
        }
        let mut every_value: Vec<Write> = reported
            .fields
            .iter()
            .map(|(k, (v, c))| (k.clone(), v.clone(), c.clone()))
            .collect();
        every_value.extend(written.iter().cloned());
        let max_risk = every_value
            .iter()
            .filter(|(k, _, _)| *k == RISK)
            .map(|(_, v, _)| risk_of(v))
            .max()
            .unwrap();

        // (1) Every replica ends in the same state, log included.
        let first = replicas[0].snapshot();
        for (r, seq) in replicas.iter().zip(&sequences).skip(1) {
            prop_assert_eq!(&r.snapshot(), &first, "delivery order {:?}", seq);
        }

        for r in &replicas {
            // (2) Every accepted value is the current one or in the history/conflict log.
            for (key, value, clock) in &written {
                let current = r.fields.get(key) == Some(&(value.clone(), clock.clone()));
                let logged = r.lost.iter().any(|(k, v, c)| k == key && v == value && c == clock);
                prop_assert!(current || logged, "{:?} = {} at {:?} vanished", key, value, clock);
            }
            // Nothing invented or lost twice: current values plus the log are exactly the
            // values written (the report's included).
            let mut accounted = r.lost.clone();
            accounted.extend(r.fields.iter().map(|(k, (v, c))| (k.clone(), v.clone(), c.clone())));
            prop_assert_eq!(sorted(&accounted), sorted(&every_value));
            // Last writer wins: each clocked field holds its latest write.
            for (key, (_, clock)) in &r.fields {
                if *key == RISK {
                    continue;
                }
                let latest = written.iter().filter(|(k, _, _)| k == key).map(|(_, _, c)| c).max();
                if let Some(latest) = latest {
                    prop_assert_eq!(clock, latest, "{:?}", key);
                }
            }
            // (3) Risk never went down: it is the most severe ever written.
            prop_assert_eq!(risk_of(&r.fields[&RISK].0), max_risk);
            // (4) Photo links are the union of every link, each once.
            let photos: BTreeSet<String> = r.photos.iter().cloned().collect();
            prop_assert_eq!(photos.len(), r.photos.len());
            prop_assert!(r.photos.iter().all(|p| is_photo_id(p)));
            prop_assert_eq!(&photos, &linked);
        }
    }
}
