//! What counts as a conflict (design section 4): two writes that did not see each other.
//!
//! The server below is a small pure model of how `storage/src/engine/hazard.rs` applies
//! `hazard.update`: each field holds one write (value, clock, writer, the hazard version it
//! produced); [`decide_field`] and [`decide_severity`] decide each field of an edit; an accepted
//! edit bumps the version; a deliberate lowering needs the version the device saw and a reason.
//!
//! - Successive edits (each device pulls the latest version before it edits) never make a
//!   conflict, whatever the devices' clocks say, and the last edit of each field stands.
//! - Edits made on the same version by devices that did not see each other, to the same field,
//!   make exactly one conflict per losing device, the loser being the earlier clock (the less
//!   severe colour for risk); the final value and the conflict log are the same in every arrival
//!   order, and the other fields they touched never conflict.

use std::collections::BTreeMap;

use hazardloop_sync::canonical::to_canonical_json;
use hazardloop_sync::field_edit::{decide_field, decide_severity, Decision, Edit, Held, Seen};
use hazardloop_sync::{Hlc, Risk};
use proptest::prelude::*;
use serde_json::{json, Value};

const TEXT_FIELDS: &[&str] = &["title", "description", "location", "measures"];
const RISK: &str = "risk";

/// One `hazard.update` as a device sends it.
#[derive(Debug, Clone)]
struct Update {
    writer: String,
    clock: Hlc,
    seen: Seen,
    reason: bool,
    fields: Vec<(&'static str, Value)>,
}

/// A value that lost, and the field it lost in.
type Loss = (&'static str, String);

#[derive(Debug, Clone)]
struct Server {
    version: i64,
    text: BTreeMap<&'static str, Held<Value>>,
    risk: Held<Risk>,
    conflicts: Vec<Loss>,
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Applied,
    Merged,
    Rejected,
}

fn canon(v: &Value) -> String {
    String::from_utf8(to_canonical_json(v)).unwrap()
}

fn risk_of(v: &Value) -> Risk {
    v.as_str().unwrap().parse().unwrap()
}

impl Server {
    /// A hazard as reported: values without clocks or writers, at version 1.
    fn reported(risk: Risk) -> Server {
        Server {
            version: 1,
            text: TEXT_FIELDS
                .iter()
                .map(|f| (*f, Held::reported(json!(""))))
                .collect(),
            risk: Held::reported(risk),
            conflicts: Vec::new(),
        }
    }

    fn apply(&mut self, u: &Update) -> Answer {
        let next = self.version + 1;
        let mut staged = self.clone();
        let mut changed = false;
        let mut lost = false;
        for (name, value) in &u.fields {
            let decision = if *name == RISK {
                let edit = Edit {
                    value: risk_of(value),
                    clock: u.clock.clone(),
                    writer: u.writer.clone(),
                    seen: u.seen,
                };
                decide_severity(Some(&self.risk), &edit)
            } else {
                let edit = Edit {
                    value: value.clone(),
                    clock: u.clock.clone(),
                    writer: u.writer.clone(),
                    seen: u.seen,
                };
                decide_field(self.text.get(name), &edit)
            };
            let decision = match decision {
                // The engine's rule: a lowering takes a stated version and a reason.
                Decision::Lowers if u.reason && matches!(u.seen, Seen::Version(_)) => {
                    Decision::Take { conflict: false }
                }
                Decision::Lowers => return Answer::Rejected,
                d => d,
            };
            let held_value = if *name == RISK {
                json!(self.risk.value.as_str())
            } else {
                self.text[name].value.clone()
            };
            match decision {
                Decision::Take { conflict } => {
                    if conflict {
                        staged.conflicts.push((name, canon(&held_value)));
                    }
                    if *name == RISK {
                        staged.risk = Held {
                            value: risk_of(value),
                            clock: Some(u.clock.clone()),
                            writer: Some(u.writer.clone()),
                            version: Some(next),
                        };
                    } else {
                        staged.text.insert(
                            name,
                            Held {
                                value: value.clone(),
                                clock: Some(u.clock.clone()),
                                writer: Some(u.writer.clone()),
                                version: Some(next),
                            },
                        );
                    }
                    changed = true;
                }
                Decision::Keep { conflict } => {
                    if conflict {
                        staged.conflicts.push((name, canon(value)));
                        lost = true;
                    }
                }
                Decision::Lowers => unreachable!(),
            }
        }
        if changed {
            staged.version = next;
        }
        *self = staged;
        if lost {
            Answer::Merged
        } else {
            Answer::Applied
        }
    }

    fn value(&self, name: &str) -> Value {
        if name == RISK {
            json!(self.risk.value.as_str())
        } else {
            self.text[name].value.clone()
        }
    }
}

fn device(i: usize) -> String {
    format!("device-{i}")
}

fn clock(wall: i64, i: usize) -> Hlc {
    Hlc::new(wall, 0, device(i)).unwrap()
}

fn field_value(field: usize, v: usize) -> (&'static str, Value) {
    match TEXT_FIELDS.get(field) {
        Some(name) => (*name, json!(format!("text {v}"))),
        None => (RISK, json!(Risk::ALL[v % Risk::ALL.len()].as_str())),
    }
}

/// One successive edit: a device (0..4), its wall clock (anything: devices disagree), whether it
/// is an online edit, and 1-2 fields (index past the text fields is risk) with values.
type Step = (usize, i64, bool, Vec<(usize, usize)>);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0usize..4,
            0i64..1_000,
            any::<bool>(),
            prop::collection::vec((0..=TEXT_FIELDS.len(), 0usize..8), 1..3),
        ),
        0..16,
    )
}

/// Applies successive edits: each device pulls the latest version just before it edits.
fn successive(server: &mut Server, steps: &[Step]) -> BTreeMap<&'static str, Value> {
    let mut last = BTreeMap::new();
    for (dev, wall, online, fields) in steps {
        let mut by_name = BTreeMap::new();
        for &(f, v) in fields {
            let (name, value) = field_value(f, v);
            by_name.insert(name, value);
        }
        let u = Update {
            writer: device(*dev),
            clock: clock(*wall, *dev),
            // Online edits name the version too when they lower the risk (If-Match).
            seen: if *online && !by_name.contains_key(RISK) {
                Seen::Live
            } else {
                Seen::Version(server.version)
            },
            reason: true,
            fields: by_name.into_iter().collect(),
        };
        let answer = server.apply(&u);
        assert_eq!(answer, Answer::Applied, "{u:?}");
        for (name, value) in u.fields {
            last.insert(name, value);
        }
    }
    last
}

/// Edits made on one version by devices that did not see each other.
#[derive(Debug, Clone)]
struct Concurrent {
    /// The field they all edit (index past the text fields is risk).
    field: usize,
    /// Per device: its wall clock, and whether it also edits a field of its own.
    devices: Vec<(i64, bool)>,
    /// Distinct values, one per device.
    values: Vec<usize>,
    /// Distinct colours, one per device, for risk.
    colours: Vec<usize>,
    /// The arrival order to compare with the order of the devices.
    order: Vec<usize>,
}

fn concurrent() -> impl Strategy<Value = Concurrent> {
    (0..=TEXT_FIELDS.len(), 2usize..=4).prop_flat_map(|(field, n)| {
        (
            Just(field),
            prop::collection::vec((0i64..1_000, any::<bool>()), n),
            Just((0..8).collect::<Vec<usize>>()).prop_shuffle(),
            Just((0..4).collect::<Vec<usize>>()).prop_shuffle(),
            Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        )
            .prop_map(|(field, devices, values, colours, order)| Concurrent {
                field,
                devices,
                values,
                colours,
                order,
            })
    })
}

impl Concurrent {
    /// Device `i`'s update (devices 10.. so they differ from the successive editors).
    fn update(&self, i: usize, base: i64) -> Update {
        let (wall, own) = self.devices[i];
        let (name, value) = if self.field < TEXT_FIELDS.len() {
            field_value(self.field, self.values[i])
        } else {
            // Distinct colours: there are four, and at most four devices.
            (RISK, json!(Risk::ALL[self.colours[i]].as_str()))
        };
        let mut fields = vec![(name, value)];
        // A field of its own: a text field nobody else in the group edits.
        let others: Vec<&'static str> =
            TEXT_FIELDS.iter().copied().filter(|f| *f != name).collect();
        if own && i < others.len() {
            fields.push((others[i], json!(format!("own {i}"))));
        }
        Update {
            writer: device(10 + i),
            clock: clock(wall, 10 + i),
            seen: Seen::Version(base),
            reason: true,
            fields,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn successive_edits_never_conflict(
        risk in prop::sample::select(Risk::ALL.to_vec()),
        steps in steps(),
    ) {
        let mut server = Server::reported(risk);
        let last = successive(&mut server, &steps);
        prop_assert_eq!(&server.conflicts, &Vec::<Loss>::new());
        for (name, value) in last {
            prop_assert_eq!(server.value(name), value, "{}", name);
        }
    }

    #[test]
    fn concurrent_edits_make_one_conflict_per_loser_in_any_order(
        risk in prop::sample::select(Risk::ALL.to_vec()),
        prefix in steps(),
        group in concurrent(),
    ) {
        let mut start = Server::reported(risk);
        successive(&mut start, &prefix);
        let base = start.version;
        let updates: Vec<Update> =
            (0..group.devices.len()).map(|i| group.update(i, base)).collect();
        let (name, _) = &updates[0].fields[0];
        // The winner: the latest clock, or for risk the most severe colour.
        let winner = (0..updates.len())
            .max_by_key(|&i| {
                let value = &updates[i].fields[0].1;
                let severity = if *name == RISK { Some(risk_of(value)) } else { None };
                (severity, updates[i].clock.clone())
            })
            .unwrap();
        let mut expected: Vec<Loss> = (0..updates.len())
            .filter(|&i| i != winner)
            .map(|i| (*name, canon(&updates[i].fields[0].1)))
            .collect();
        expected.sort();

        let mut finals = Vec::new();
        for order in [(0..updates.len()).collect::<Vec<_>>(), group.order.clone()] {
            let mut server = start.clone();
            for &i in &order {
                let answer = server.apply(&updates[i]);
                prop_assert_ne!(answer, Answer::Rejected);
            }
            let mut got = server.conflicts.clone();
            got.sort();
            prop_assert_eq!(&got, &expected, "arrival order {:?}", order);
            prop_assert_eq!(server.value(name), updates[winner].fields[0].1.clone());
            // Each device's field of its own holds its value, conflict-free.
            for u in &updates {
                for (own, value) in u.fields.iter().skip(1) {
                    prop_assert_eq!(&server.value(own), value);
                }
            }
            finals.push((
                server.value(name),
                TEXT_FIELDS.iter().map(|f| canon(&server.value(f))).collect::<Vec<_>>(),
            ));
        }
        prop_assert_eq!(&finals[0], &finals[1]);
    }
}
