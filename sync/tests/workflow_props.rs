//! Random command sequences by random users with random roles: the hazard only ever moves
//! along the design's transitions, and nobody closes a hazard they rectified themselves.

use hazardloop_sync::workflow::{decide, Actor, HazardFacts, Policy};
use hazardloop_sync::{Command, FiveImplementations, Grade, HazardState, Role};
use proptest::prelude::*;
use uuid::Uuid;

use HazardState::*;

/// The design's table, written out independently of the crate: (command, from, to).
const ALLOWED: &[(&str, HazardState, HazardState)] = &[
    ("assign", Reported, Assigned),
    ("start", Assigned, Rectifying),
    ("rectify_on_spot", Reported, AwaitingVerification),
    ("submit_rectification", Rectifying, AwaitingVerification),
    ("verify", AwaitingVerification, Closed),
    ("reject", AwaitingVerification, Rectifying),
    ("regrade", Reported, Reported),
    ("regrade", Assigned, Assigned),
    ("regrade", Rectifying, Rectifying),
    ("regrade", AwaitingVerification, AwaitingVerification),
    ("extend_deadline", Assigned, Assigned),
    ("extend_deadline", Rectifying, Rectifying),
    ("cancel", Reported, Cancelled),
    ("cancel", Assigned, Cancelled),
];

const USERS: usize = 4;
const PHOTO: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn uid(i: usize) -> Uuid {
    Uuid::from_u128(i as u128 + 1)
}

fn role() -> impl Strategy<Value = Option<Role>> {
    prop_oneof![
        1 => Just(None),
        2 => Just(Some(Role::Inspector)),
        2 => Just(Some(Role::Supervisor)),
        2 => Just(Some(Role::Manager)),
        1 => Just(Some(Role::Admin)),
    ]
}

fn five() -> impl Strategy<Value = Option<FiveImplementations>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(FiveImplementations::default())),
        4 => Just(Some(FiveImplementations {
            responsible_person: "Zhang".into(),
            measures: "m".into(),
            funds: "f".into(),
            deadline_ms: Some(50),
            contingency_plan: "c".into(),
            funds_amount: None,
        })),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![1 => Just(String::new()), 4 => Just("because".to_owned())]
}

fn photos() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        1 => Just(vec![]),
        4 => Just(vec![PHOTO.to_owned()]),
        1 => Just(vec!["x".to_owned()]),
    ]
}

fn grade() -> impl Strategy<Value = Option<Grade>> {
    prop_oneof![
        Just(None),
        Just(Some(Grade::general())),
        Just(Some(Grade::major())),
        Just(Some(Grade::new("unknown"))),
    ]
}

/// Arguments for whichever command a step turns out to be.
#[derive(Debug, Clone)]
struct Args {
    owner: Option<usize>,
    verifier: Option<usize>,
    deadline_ms: Option<i64>,
    text: String,
    photos: Vec<String>,
    five: Option<FiveImplementations>,
    grade: Option<Grade>,
}

fn args() -> impl Strategy<Value = Args> {
    let who = proptest::option::weighted(0.9, 0..USERS);
    let when = proptest::option::weighted(0.9, 0i64..100);
    (who.clone(), who, when, text(), photos(), five(), grade()).prop_map(
        |(owner, verifier, deadline_ms, text, photos, five, grade)| Args {
            owner,
            verifier,
            deadline_ms,
            text,
            photos,
            five,
            grade,
        },
    )
}

fn command(name: &str, a: Args) -> Command {
    match name {
        "assign" => Command::Assign {
            owner_id: a.owner.map(uid),
            verifier_id: a.verifier.map(uid),
            deadline_ms: a.deadline_ms,
            measures: a.text,
            five: a.five,
        },
        "start" => Command::Start,
        "rectify_on_spot" => Command::RectifyOnSpot {
            note: a.text,
            after_photos: a.photos,
            cost: None,
        },
        "submit_rectification" => Command::SubmitRectification {
            note: a.text,
            after_photos: a.photos,
            cost: None,
        },
        "verify" => Command::Verify { note: a.text },
        "reject" => Command::Reject { reason: a.text },
        "regrade" => Command::Regrade {
            grade: a.grade,
            reason: a.text,
            five: a.five,
        },
        "extend_deadline" => Command::ExtendDeadline {
            deadline_ms: a.deadline_ms,
            reason: a.text,
        },
        _ => Command::Cancel { reason: a.text },
    }
}

/// Most steps pick a command the (independent) table allows from the current state, so that
/// histories get far; the rest pick any command at all.
fn pick_name(state: HazardState, plausible: bool, pick: usize) -> &'static str {
    // Cancelling ends a history early; let it through only now and then.
    let from_here: Vec<&str> = ALLOWED
        .iter()
        .filter(|(n, from, _)| *from == state && (*n != "cancel" || pick % 8 == 7))
        .map(|(n, _, _)| *n)
        .collect();
    if plausible && !from_here.is_empty() {
        from_here[pick % from_here.len()]
    } else {
        Command::ALL_NAMES[pick % Command::ALL_NAMES.len()]
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_histories_stay_on_the_map(
        roles in proptest::collection::vec(role(), USERS),
        reporter in 0..USERS,
        major in any::<bool>(),
        require_after_photo in any::<bool>(),
        steps in proptest::collection::vec(
            (0..USERS, proptest::bool::weighted(0.8), 0..1000usize, args()),
            1..80,
        ),
    ) {
        let policy = Policy { require_after_photo, ..Policy::default() };
        let grade = if major { Grade::major() } else { Grade::general() };
        let mut facts = HazardFacts::reported(uid(reporter), grade);
        for (who, plausible, pick, args) in steps {
            let cmd = command(pick_name(facts.state, plausible, pick), args);
            let actor = Actor { user_id: uid(who), role: roles[who] };
            let Ok(outcome) = decide(&facts, &actor, &cmd, &policy) else { continue };
            let name = cmd.name();
            prop_assert!(
                ALLOWED.contains(&(name, outcome.from, outcome.to)),
                "{name}: {:?} -> {:?} is not in the table", outcome.from, outcome.to
            );
            prop_assert_eq!(outcome.from, facts.state);
            prop_assert_eq!(outcome.facts.state, outcome.to);
            prop_assert!(actor.role.is_some(), "someone without a role acted");
            match name {
                "start" | "submit_rectification" => {
                    prop_assert_eq!(facts.owner_id, Some(actor.user_id));
                }
                "verify" | "reject" => {
                    prop_assert!(facts.rectified_by.is_some());
                    prop_assert_ne!(facts.rectified_by, Some(actor.user_id));
                }
                _ => {}
            }
            facts = outcome.facts;
            let past_assignment = matches!(
                facts.state,
                Assigned | Rectifying | AwaitingVerification | Closed
            );
            if facts.grade.is_major() && past_assignment {
                prop_assert!(facts.five.as_ref().is_some_and(FiveImplementations::is_complete));
            }
            if facts.state == Closed {
                prop_assert!(facts.rectified_by.is_some());
                prop_assert_ne!(facts.rectified_by, Some(actor.user_id));
                prop_assert_eq!(name, "verify");
            }
            if facts.state != Reported && facts.state != Cancelled {
                prop_assert!(facts.owner_id.is_some());
            }
        }
    }
}
