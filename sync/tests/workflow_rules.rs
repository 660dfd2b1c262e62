//! The workflow's finer rules, one scenario each: the 五落实, grades, deadlines, photos, the
//! order of checks, and what an accepted command changes.

use hazardloop_sync::workflow::{decide, Actor, HazardFacts, Policy};
use hazardloop_sync::{event, Command, FiveImplementations, Grade, HazardState, Refusal, Role};
use uuid::Uuid;

const PHOTO: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn user(n: u128, role: Option<Role>) -> Actor {
    Actor {
        user_id: Uuid::from_u128(n),
        role,
    }
}

fn reporter() -> Actor {
    user(1, Some(Role::Inspector))
}
fn owner() -> Actor {
    user(2, Some(Role::Inspector))
}
fn verifier() -> Actor {
    user(3, Some(Role::Inspector))
}
fn supervisor() -> Actor {
    user(6, Some(Role::Supervisor))
}
fn manager() -> Actor {
    user(7, Some(Role::Manager))
}

fn five() -> FiveImplementations {
    FiveImplementations {
        responsible_person: "Zhang".into(),
        measures: "replace flange".into(),
        funds: "CNY 20,000".into(),
        deadline_ms: Some(9_000),
        contingency_plan: "isolate".into(),
        funds_amount: None,
    }
}

fn assign(five: Option<FiveImplementations>) -> Command {
    Command::Assign {
        owner_id: Some(owner().user_id),
        verifier_id: Some(verifier().user_id),
        deadline_ms: Some(2_000),
        measures: "fence".into(),
        five,
    }
}

fn reported(grade: Grade) -> HazardFacts {
    HazardFacts::reported(reporter().user_id, grade)
}

fn missing(fields: &[&str]) -> Result<(), Refusal> {
    Err(Refusal::MissingFields(
        fields.iter().map(|s| s.to_string()).collect(),
    ))
}

fn refusal<T>(r: Result<T, Refusal>) -> Result<(), Refusal> {
    r.map(|_| ())
}

#[test]
fn full_loop_for_a_general_hazard() {
    let p = Policy::default();
    let f = reported(Grade::general());
    let o = decide(&f, &supervisor(), &assign(None), &p).unwrap();
    assert_eq!(o.event, event::HAZARD_ASSIGNED);
    assert_eq!(o.changed, ["state", "owner_id", "verifier_id", "deadline"]);
    let o = decide(&o.facts, &owner(), &Command::Start, &p).unwrap();
    assert_eq!(
        (o.to, o.event),
        (HazardState::Rectifying, event::HAZARD_RECTIFICATION_STARTED)
    );
    let submit = Command::SubmitRectification {
        note: "fixed".into(),
        after_photos: vec![PHOTO.into()],
        cost: None,
    };
    let o = decide(&o.facts, &owner(), &submit, &p).unwrap();
    assert_eq!(o.facts.rectified_by, Some(owner().user_id));
    let o = decide(
        &o.facts,
        &verifier(),
        &Command::Reject {
            reason: "still leaking".into(),
        },
        &p,
    )
    .unwrap();
    assert_eq!(
        (o.to, o.event),
        (HazardState::Rectifying, event::HAZARD_REJECTED)
    );
    let o = decide(&o.facts, &owner(), &submit, &p).unwrap();
    let o = decide(
        &o.facts,
        &verifier(),
        &Command::Verify { note: "ok".into() },
        &p,
    )
    .unwrap();
    assert_eq!(
        (o.from, o.to, o.event),
        (
            HazardState::AwaitingVerification,
            HazardState::Closed,
            event::HAZARD_VERIFIED
        )
    );
    assert_eq!(o.changed, ["state"]);
}

#[test]
fn rectify_on_spot_makes_the_reporter_owner_and_rectifier() {
    let p = Policy::default();
    let cmd = Command::RectifyOnSpot {
        note: "moved the pallet".into(),
        after_photos: vec![PHOTO.into()],
        cost: None,
    };
    let o = decide(&reported(Grade::general()), &reporter(), &cmd, &p).unwrap();
    assert_eq!(o.to, HazardState::AwaitingVerification);
    assert_eq!(o.facts.owner_id, Some(reporter().user_id));
    assert_eq!(o.facts.rectified_by, Some(reporter().user_id));
    assert_eq!(o.event, event::HAZARD_RECTIFIED_ON_SPOT);
    // The reporter cannot then verify their own fix, even if they are a supervisor.
    let boss_reporter = user(1, Some(Role::Supervisor));
    let r = decide(
        &o.facts,
        &boss_reporter,
        &Command::Verify { note: "ok".into() },
        &p,
    );
    assert_eq!(refusal(r).map_err(|e| e.code()), Err("forbidden"));
    assert!(decide(
        &o.facts,
        &supervisor(),
        &Command::Verify { note: "ok".into() },
        &p
    )
    .is_ok());
    // On-spot needs a photo whatever the organisation's setting.
    let no_photo = Command::RectifyOnSpot {
        note: "moved".into(),
        after_photos: vec![],
        cost: None,
    };
    let lax = Policy {
        require_after_photo: false,
        ..Policy::default()
    };
    let r = decide(&reported(Grade::general()), &reporter(), &no_photo, &lax);
    assert_eq!(refusal(r), missing(&["after_photos"]));
}

#[test]
fn a_major_hazard_needs_the_five_implementations_and_a_manager() {
    let p = Policy::default();
    let f = reported(Grade::major());
    let r = decide(&f, &supervisor(), &assign(Some(five())), &p);
    assert_eq!(refusal(r).map_err(|e| e.code()), Err("forbidden"));
    let r = decide(&f, &manager(), &assign(None), &p);
    assert_eq!(refusal(r), missing(&FiveImplementations::FIELDS));
    let partial = FiveImplementations {
        funds: String::new(),
        deadline_ms: None,
        ..five()
    };
    let r = decide(&f, &manager(), &assign(Some(partial)), &p);
    assert_eq!(refusal(r), missing(&["five.funds", "five.deadline"]));
    let o = decide(&f, &manager(), &assign(Some(five())), &p).unwrap();
    assert_eq!(o.facts.five, Some(five()));
    // Missing five is reported together with the other missing fields.
    let bare = Command::Assign {
        owner_id: None,
        verifier_id: None,
        deadline_ms: None,
        measures: String::new(),
        five: None,
    };
    let r = decide(&f, &manager(), &bare, &p);
    assert_eq!(
        refusal(r).map_err(|e| e.details()["fields"].as_array().unwrap().len()),
        Err(9)
    );
    // Start re-checks it (facts edited behind the workflow's back must not slip through).
    let mut assigned = o.facts.clone();
    assigned.five = None;
    let r = decide(&assigned, &owner(), &Command::Start, &p);
    assert_eq!(refusal(r), missing(&FiveImplementations::FIELDS));
    assert!(decide(&o.facts, &owner(), &Command::Start, &p).is_ok());
}

#[test]
fn regrade_to_major_after_assignment_needs_the_five_implementations() {
    let p = Policy::default();
    let assigned = decide(
        &reported(Grade::general()),
        &supervisor(),
        &assign(None),
        &p,
    )
    .unwrap()
    .facts;
    let to_major = |five| Command::Regrade {
        grade: Some(Grade::major()),
        reason: "worse than thought".into(),
        five,
    };
    let r = decide(&assigned, &supervisor(), &to_major(None), &p);
    assert_eq!(refusal(r), missing(&FiveImplementations::FIELDS));
    let o = decide(&assigned, &supervisor(), &to_major(Some(five())), &p).unwrap();
    assert_eq!(
        (o.to, o.facts.grade.is_major(), o.event),
        (HazardState::Assigned, true, event::HAZARD_REGRADED)
    );
    assert_eq!(o.changed, ["grade", "five"]);
    // Before assignment the 五落实 can wait until assign.
    let o = decide(
        &reported(Grade::general()),
        &supervisor(),
        &to_major(None),
        &p,
    )
    .unwrap();
    assert!(o.facts.five.is_none());
    // Only the organisation's grades.
    let odd = Command::Regrade {
        grade: Some(Grade::new("catastrophic")),
        reason: "x".into(),
        five: None,
    };
    let r = decide(&assigned, &supervisor(), &odd, &p);
    assert_eq!(
        refusal(r).map_err(|e| e.details()),
        Err(serde_json::json!({"field": "grade"}))
    );
}

#[test]
fn deadlines_only_move_later() {
    let p = Policy::default();
    let assigned = decide(
        &reported(Grade::general()),
        &supervisor(),
        &assign(None),
        &p,
    )
    .unwrap()
    .facts;
    let extend = |ms| Command::ExtendDeadline {
        deadline_ms: Some(ms),
        reason: "parts".into(),
    };
    let r = decide(&assigned, &supervisor(), &extend(2_000), &p);
    assert_eq!(refusal(r).map_err(|e| e.code()), Err("invalid"));
    let o = decide(&assigned, &supervisor(), &extend(3_000), &p).unwrap();
    assert_eq!(
        (o.facts.deadline_ms, o.changed.as_slice()),
        (Some(3_000), &["deadline"][..])
    );
    assert!(o.facts.is_overdue(3_001) && !o.facts.is_overdue(3_000));
}

#[test]
fn owner_and_verifier_must_differ() {
    let cmd = Command::Assign {
        owner_id: Some(owner().user_id),
        verifier_id: Some(owner().user_id),
        deadline_ms: Some(1),
        measures: "m".into(),
        five: None,
    };
    let r = decide(
        &reported(Grade::general()),
        &supervisor(),
        &cmd,
        &Policy::default(),
    );
    assert_eq!(
        refusal(r).map_err(|e| e.details()),
        Err(serde_json::json!({"field": "verifier_id"}))
    );
}

#[test]
fn after_photos_follow_the_policy_and_must_be_photo_ids() {
    let mut f = reported(Grade::general());
    f.state = HazardState::Rectifying;
    f.owner_id = Some(owner().user_id);
    let no_photo = Command::SubmitRectification {
        note: "done".into(),
        after_photos: vec![],
        cost: None,
    };
    let strict = Policy::default();
    let lax = Policy {
        require_after_photo: false,
        ..Policy::default()
    };
    assert_eq!(
        refusal(decide(&f, &owner(), &no_photo, &strict)),
        missing(&["after_photos"])
    );
    assert!(decide(&f, &owner(), &no_photo, &lax).is_ok());
    let bad = Command::SubmitRectification {
        note: "done".into(),
        after_photos: vec!["photo.jpg".into()],
        cost: None,
    };
    let r = decide(&f, &owner(), &bad, &lax);
    assert_eq!(refusal(r).map_err(|e| e.code()), Err("invalid"));
}

#[test]
fn checks_run_transition_then_permission_then_fields() {
    let p = Policy::default();
    let closed = HazardFacts {
        state: HazardState::Closed,
        ..reported(Grade::general())
    };
    let stranger = user(99, None);
    let empty_verify = Command::Verify {
        note: String::new(),
    };
    let r = decide(&closed, &stranger, &empty_verify, &p);
    assert_eq!(refusal(r).map_err(|e| e.code()), Err("invalid_transition"));
    let awaiting = HazardFacts {
        state: HazardState::AwaitingVerification,
        ..reported(Grade::general())
    };
    let r = decide(&awaiting, &stranger, &empty_verify, &p);
    assert_eq!(refusal(r).map_err(|e| e.code()), Err("forbidden"));
    let r = decide(&awaiting, &supervisor(), &empty_verify, &p);
    assert_eq!(refusal(r), missing(&["note"]));
}

#[test]
fn closed_and_cancelled_hazards_accept_nothing() {
    let p = Policy::default();
    let admin = user(8, Some(Role::Admin));
    for state in [HazardState::Closed, HazardState::Cancelled] {
        let f = HazardFacts {
            state,
            ..reported(Grade::general())
        };
        let r = decide(&f, &admin, &Command::Cancel { reason: "x".into() }, &p);
        let Err(Refusal::InvalidTransition { allowed, .. }) = r else {
            panic!("{r:?}")
        };
        assert!(allowed.is_empty());
    }
}

#[test]
fn reporting_needs_a_role_on_the_site() {
    use hazardloop_sync::report_allowed;
    assert!(report_allowed(Some(Role::Inspector)));
    assert!(report_allowed(Some(Role::Admin)));
    assert!(!report_allowed(None));
}
