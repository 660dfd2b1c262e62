//! Every (state x command x actor x grade) combination, each with complete and with empty
//! arguments, checked against an expectation written out by hand below rather than derived
//! from the crate's own rules.

use hazardloop_sync::workflow::{
    allowed_commands, commands_from, decide, Actor, HazardFacts, Policy,
};
use hazardloop_sync::{Command, FiveImplementations, Grade, HazardState, Refusal, Role};
use uuid::Uuid;

use HazardState::*;

/// Who tries. The rectifier (the user in `rectified_by`) is an admin, to show that the
/// separation of duties beats every role.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Reporter,
    Owner,
    Verifier,
    Rectifier,
    Inspector,
    Supervisor,
    Manager,
    Admin,
    Stranger,
}

const KINDS: [Kind; 9] = [
    Kind::Reporter,
    Kind::Owner,
    Kind::Verifier,
    Kind::Rectifier,
    Kind::Inspector,
    Kind::Supervisor,
    Kind::Manager,
    Kind::Admin,
    Kind::Stranger,
];

fn actor(kind: Kind) -> Actor {
    let (n, role) = match kind {
        Kind::Reporter => (1, Some(Role::Inspector)),
        Kind::Owner => (2, Some(Role::Inspector)),
        Kind::Verifier => (3, Some(Role::Inspector)),
        Kind::Rectifier => (4, Some(Role::Admin)),
        Kind::Inspector => (5, Some(Role::Inspector)),
        Kind::Supervisor => (6, Some(Role::Supervisor)),
        Kind::Manager => (7, Some(Role::Manager)),
        Kind::Admin => (8, Some(Role::Admin)),
        Kind::Stranger => (9, None),
    };
    Actor {
        user_id: Uuid::from_u128(n),
        role,
    }
}

/// From which states each command runs, and where it goes (`None`: stays put).
const TRANSITIONS: &[(&str, &[HazardState], Option<HazardState>)] = &[
    ("assign", &[Reported], Some(Assigned)),
    ("start", &[Assigned], Some(Rectifying)),
    ("rectify_on_spot", &[Reported], Some(AwaitingVerification)),
    (
        "submit_rectification",
        &[Rectifying],
        Some(AwaitingVerification),
    ),
    ("verify", &[AwaitingVerification], Some(Closed)),
    ("reject", &[AwaitingVerification], Some(Rectifying)),
    (
        "regrade",
        &[Reported, Assigned, Rectifying, AwaitingVerification],
        None,
    ),
    ("extend_deadline", &[Assigned, Rectifying], None),
    ("cancel", &[Reported, Assigned], Some(Cancelled)),
];

const Y: bool = true;
const N: bool = false;

/// Who may run each command, per actor kind in `KINDS` order:
/// Reporter Owner Verifier Rectifier(admin) Inspector Supervisor Manager Admin Stranger.
const WHO: &[(&str, [bool; 9], [bool; 9])] = &[
    //                      general                       major
    (
        "assign",
        [N, N, N, Y, N, Y, Y, Y, N],
        [N, N, N, Y, N, N, Y, Y, N],
    ),
    (
        "start",
        [N, Y, N, N, N, N, N, N, N],
        [N, Y, N, N, N, N, N, N, N],
    ),
    (
        "rectify_on_spot",
        [Y, N, N, N, N, N, N, N, N],
        [N, N, N, N, N, N, N, N, N],
    ),
    (
        "submit_rectification",
        [N, Y, N, N, N, N, N, N, N],
        [N, Y, N, N, N, N, N, N, N],
    ),
    (
        "verify",
        [N, N, Y, N, N, Y, Y, Y, N],
        [N, N, N, N, N, N, Y, Y, N],
    ),
    (
        "reject",
        [N, N, Y, N, N, Y, Y, Y, N],
        [N, N, N, N, N, N, Y, Y, N],
    ),
    (
        "regrade",
        [N, N, N, Y, N, Y, Y, Y, N],
        [N, N, N, Y, N, Y, Y, Y, N],
    ),
    (
        "extend_deadline",
        [N, N, N, Y, N, Y, Y, Y, N],
        [N, N, N, Y, N, Y, Y, Y, N],
    ),
    (
        "cancel",
        [N, N, N, Y, N, Y, Y, Y, N],
        [N, N, N, Y, N, Y, Y, Y, N],
    ),
];

/// The fields an empty command is missing (for a major hazard whose 五落实 is in place).
const MISSING_WHEN_EMPTY: &[(&str, &[&str])] = &[
    (
        "assign",
        &["owner_id", "verifier_id", "deadline", "measures"],
    ),
    ("start", &[]),
    ("rectify_on_spot", &["note", "after_photos"]),
    ("submit_rectification", &["note", "after_photos"]),
    ("verify", &["note"]),
    ("reject", &["reason"]),
    ("regrade", &["grade", "reason"]),
    ("extend_deadline", &["deadline", "reason"]),
    ("cancel", &["reason"]),
];

const PHOTO: &str = "5f2b7c0e9d4a3b1c8e6f0a2d4c6b8e0f1a3c5e7b9d2f4a6c8e0b2d4f6a8c0e2b";

fn five() -> FiveImplementations {
    FiveImplementations {
        responsible_person: "Plant manager Zhang".into(),
        measures: "Replace the corroded flange".into(),
        funds: "CNY 20,000, maintenance budget".into(),
        deadline_ms: Some(9_000),
        contingency_plan: "Isolate the line, gas detector on site".into(),
        funds_amount: None,
    }
}

fn facts(state: HazardState, major: bool) -> HazardFacts {
    HazardFacts {
        state,
        grade: if major {
            Grade::major()
        } else {
            Grade::general()
        },
        reporter_id: actor(Kind::Reporter).user_id,
        owner_id: Some(actor(Kind::Owner).user_id),
        verifier_id: Some(actor(Kind::Verifier).user_id),
        rectified_by: Some(actor(Kind::Rectifier).user_id),
        five: major.then(five),
        deadline_ms: Some(1_000),
    }
}

fn complete(name: &str, major: bool) -> Command {
    let note = "done".to_owned();
    let photos = vec![PHOTO.to_owned()];
    match name {
        "assign" => Command::Assign {
            owner_id: Some(actor(Kind::Owner).user_id),
            verifier_id: Some(actor(Kind::Verifier).user_id),
            deadline_ms: Some(2_000),
            measures: "fence it off".into(),
            five: None,
        },
        "start" => Command::Start,
        "rectify_on_spot" => Command::RectifyOnSpot {
            note,
            after_photos: photos,
            cost: None,
        },
        "submit_rectification" => Command::SubmitRectification {
            note,
            after_photos: photos,
            cost: None,
        },
        "verify" => Command::Verify { note },
        "reject" => Command::Reject { reason: note },
        "regrade" => Command::Regrade {
            grade: Some(if major {
                Grade::general()
            } else {
                Grade::major()
            }),
            reason: "re-assessed".into(),
            five: Some(five()),
        },
        "extend_deadline" => Command::ExtendDeadline {
            deadline_ms: Some(5_000),
            reason: "parts on order".into(),
        },
        "cancel" => Command::Cancel {
            reason: "duplicate".into(),
        },
        other => panic!("no command {other}"),
    }
}

fn empty(name: &str) -> Command {
    match name {
        "assign" => Command::Assign {
            owner_id: None,
            verifier_id: None,
            deadline_ms: None,
            measures: " ".into(),
            five: None,
        },
        "start" => Command::Start,
        "rectify_on_spot" => Command::RectifyOnSpot {
            note: String::new(),
            after_photos: vec![],
            cost: None,
        },
        "submit_rectification" => Command::SubmitRectification {
            note: String::new(),
            after_photos: vec![],
            cost: None,
        },
        "verify" => Command::Verify {
            note: String::new(),
        },
        "reject" => Command::Reject {
            reason: String::new(),
        },
        "regrade" => Command::Regrade {
            grade: None,
            reason: String::new(),
            five: None,
        },
        "extend_deadline" => Command::ExtendDeadline {
            deadline_ms: None,
            reason: String::new(),
        },
        "cancel" => Command::Cancel {
            reason: String::new(),
        },
        other => panic!("no command {other}"),
    }
}

fn expected_allowed_from(state: HazardState) -> Vec<&'static str> {
    TRANSITIONS
        .iter()
        .filter(|(_, from, _)| from.contains(&state))
        .map(|(name, _, _)| *name)
        .collect()
}

fn may(name: &str, kind: Kind, major: bool) -> bool {
    let column = KINDS.iter().position(|k| *k == kind).unwrap();
    let (_, general, maj) = WHO.iter().find(|(n, _, _)| *n == name).unwrap();
    if major {
        maj[column]
    } else {
        general[column]
    }
}

#[test]
fn every_state_command_actor_and_grade() {
    let policy = Policy::default();
    let mut cases = 0;
    for &state in HazardState::ALL {
        assert_eq!(
            commands_from(state),
            expected_allowed_from(state),
            "{state}"
        );
        for major in [false, true] {
            let facts = facts(state, major);
            for kind in KINDS {
                let who = actor(kind);
                let mut could = Vec::new();
                for (name, from, to) in TRANSITIONS {
                    let state_ok = from.contains(&state);
                    let permitted = may(name, kind, major);
                    if state_ok && permitted {
                        could.push(*name);
                    }
                    for full in [true, false] {
                        cases += 1;
                        let cmd = if full {
                            complete(name, major)
                        } else {
                            empty(name)
                        };
                        let got = decide(&facts, &who, &cmd, &policy);
                        let ctx =
                            format!("{name} in {state} by {kind:?} (major {major}, full {full})");
                        if !state_ok {
                            let Err(Refusal::InvalidTransition {
                                command,
                                state: got_state,
                                allowed,
                                caller_may_run,
                            }) = got
                            else {
                                panic!("{ctx}: {got:?}");
                            };
                            assert_eq!(
                                (command, got_state, &allowed),
                                (*name, state, &expected_allowed_from(state)),
                                "{ctx}"
                            );
                            // What the caller may run is what the hazard shows them.
                            assert_eq!(
                                caller_may_run,
                                allowed_commands(&facts, &who, &policy),
                                "{ctx}"
                            );
                            assert!(caller_may_run.iter().all(|c| allowed.contains(c)), "{ctx}");
                            continue;
                        }
                        if !permitted {
                            assert_eq!(
                                got.as_ref().map_err(Refusal::code),
                                Err("forbidden"),
                                "{ctx}"
                            );
                            continue;
                        }
                        let missing = MISSING_WHEN_EMPTY
                            .iter()
                            .find(|(n, _)| n == name)
                            .unwrap()
                            .1;
                        if !full && !missing.is_empty() {
                            let want: Vec<String> = missing.iter().map(|s| s.to_string()).collect();
                            assert_eq!(got, Err(Refusal::MissingFields(want)), "{ctx}");
                            continue;
                        }
                        let outcome = got.unwrap_or_else(|r| panic!("{ctx}: refused {r:?}"));
                        let want_to = to.unwrap_or(state);
                        assert_eq!((outcome.from, outcome.to), (state, want_to), "{ctx}");
                        assert_eq!(outcome.facts.state, want_to, "{ctx}");
                        assert!(outcome.event.starts_with("hazard."), "{ctx}");
                    }
                }
                assert_eq!(
                    allowed_commands(&facts, &who, &policy),
                    could,
                    "{state} {kind:?} {major}"
                );
            }
        }
    }
    assert_eq!(cases, 6 * 9 * 9 * 2 * 2);
}
