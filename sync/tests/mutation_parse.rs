//! Workflow mutations from JSON: argument parsing, and the order of refusals when the
//! arguments are still JSON.

use hazardloop_sync::mutation::{decide_mutation, parse_command, Mutation};
use hazardloop_sync::timestamp::parse_rfc3339_ms;
use hazardloop_sync::workflow::{Actor, HazardFacts, Policy};
use hazardloop_sync::{Command, FiveImplementations, Grade, HazardState, Refusal, Role};
use serde_json::{json, Value};
use uuid::Uuid;

const PHOTO: &str = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";

fn invalid_field(r: Result<Command, Refusal>) -> String {
    match r {
        Err(Refusal::Invalid { field, .. }) => field,
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn parses_every_command() {
    let owner = Uuid::from_u128(2);
    let verifier = Uuid::from_u128(3);
    let args = json!({
        "owner_id": owner.to_string(),
        "verifier_id": verifier.to_string(),
        "deadline": "2026-06-30T18:00:00+08:00",
        "measures": "  fence it off ",
        "five": {
            "responsible_person": "Zhang",
            "measures": "replace",
            "funds": "CNY 20,000",
            "deadline": "2026-07-01T00:00:00Z",
            "contingency_plan": "isolate"
        }
    });
    let Command::Assign {
        owner_id,
        verifier_id,
        deadline_ms,
        measures,
        five,
    } = parse_command("assign", &args).unwrap()
    else {
        panic!()
    };
    assert_eq!((owner_id, verifier_id), (Some(owner), Some(verifier)));
    assert_eq!(
        deadline_ms,
        Some(parse_rfc3339_ms("2026-06-30T10:00:00Z").unwrap())
    );
    assert_eq!(measures, "fence it off");
    assert!(five.unwrap().is_complete());

    assert_eq!(
        parse_command("start", &Value::Null).unwrap(),
        Command::Start
    );
    assert_eq!(
        parse_command(
            "submit_rectification",
            &json!({"note": "done", "after_photos": [PHOTO, PHOTO.to_lowercase()]})
        )
        .unwrap(),
        Command::SubmitRectification {
            note: "done".into(),
            after_photos: vec![PHOTO.to_lowercase()],
            cost: None,
        }
    );
    assert_eq!(
        parse_command("regrade", &json!({"grade": "major", "reason": "worse"})).unwrap(),
        Command::Regrade {
            grade: Some(Grade::major()),
            reason: "worse".into(),
            five: None
        }
    );
    for name in Command::ALL_NAMES {
        let cmd = parse_command(name, &json!({})).unwrap();
        assert_eq!(cmd.name(), name);
    }
}

#[test]
fn absent_arguments_are_left_for_decide_to_name() {
    let cmd = parse_command("assign", &json!({"owner_id": null, "five": {"funds": "x"}})).unwrap();
    assert_eq!(
        cmd,
        Command::Assign {
            owner_id: None,
            verifier_id: None,
            deadline_ms: None,
            measures: String::new(),
            five: Some(FiveImplementations {
                funds: "x".into(),
                ..Default::default()
            }),
        }
    );
}

#[test]
fn malformed_arguments_are_named() {
    assert_eq!(
        invalid_field(parse_command("assign", &json!({"owner_id": "bob"}))),
        "owner_id"
    );
    assert_eq!(
        invalid_field(parse_command("assign", &json!({"verifier_id": 7}))),
        "verifier_id"
    );
    assert_eq!(
        invalid_field(parse_command("assign", &json!({"deadline": "tomorrow"}))),
        "deadline"
    );
    assert_eq!(
        invalid_field(parse_command(
            "assign",
            &json!({"deadline": 1_780_000_000_000_i64})
        )),
        "deadline"
    );
    assert_eq!(
        invalid_field(parse_command("assign", &json!({"five": {"deadline": "x"}}))),
        "five.deadline"
    );
    assert_eq!(
        invalid_field(parse_command("assign", &json!({"five": []}))),
        "five"
    );
    assert_eq!(
        invalid_field(parse_command("verify", &json!({"note": 3}))),
        "note"
    );
    assert_eq!(
        invalid_field(parse_command(
            "rectify_on_spot",
            &json!({"after_photos": "abc"})
        )),
        "after_photos"
    );
    assert_eq!(
        invalid_field(parse_command(
            "rectify_on_spot",
            &json!({"after_photos": ["abc"]})
        )),
        "after_photos"
    );
    assert_eq!(
        invalid_field(parse_command("cancel", &json!("reason"))),
        "args"
    );
    assert_eq!(invalid_field(parse_command("report", &json!({}))), "name");
}

#[test]
fn decide_mutation_keeps_the_order_of_checks() {
    let reporter = Uuid::from_u128(1);
    let policy = Policy::default();
    let supervisor = Actor {
        user_id: Uuid::from_u128(6),
        role: Some(Role::Supervisor),
    };
    let inspector = Actor {
        user_id: Uuid::from_u128(5),
        role: Some(Role::Inspector),
    };
    let closed = HazardFacts {
        state: HazardState::Closed,
        ..HazardFacts::reported(reporter, Grade::general())
    };
    let reported = HazardFacts::reported(reporter, Grade::general());
    let garbage = json!({"owner_id": "not a uuid"});

    let code = |r: Result<_, Refusal>| r.map(|_| ()).map_err(|e| e.code());
    assert_eq!(
        code(decide_mutation(
            &closed,
            &supervisor,
            "assign",
            &garbage,
            &policy
        )),
        Err("invalid_transition")
    );
    assert_eq!(
        code(decide_mutation(
            &reported, &inspector, "assign", &garbage, &policy
        )),
        Err("forbidden")
    );
    assert_eq!(
        code(decide_mutation(
            &reported,
            &supervisor,
            "assign",
            &garbage,
            &policy
        )),
        Err("invalid")
    );
    let r = decide_mutation(
        &reported,
        &supervisor,
        "assign",
        &json!({"measures": "m"}),
        &policy,
    );
    assert_eq!(
        r.map(|_| ()),
        Err(Refusal::MissingFields(vec![
            "owner_id".into(),
            "verifier_id".into(),
            "deadline".into()
        ]))
    );
    let args = json!({
        "owner_id": Uuid::from_u128(2).to_string(),
        "verifier_id": Uuid::from_u128(3).to_string(),
        "deadline": "2026-06-30T18:00:00+08:00",
        "measures": "m"
    });
    let (cmd, outcome) = decide_mutation(&reported, &supervisor, "assign", &args, &policy).unwrap();
    assert_eq!((cmd.name(), outcome.to), ("assign", HazardState::Assigned));
    assert_eq!(
        code(decide_mutation(
            &reported,
            &supervisor,
            "explode",
            &args,
            &policy
        )),
        Err("invalid")
    );
}

#[test]
fn mutation_envelope() {
    let m: Mutation = serde_json::from_value(json!({
        "id": "0190b1a2-7c3d-7e4f-8a5b-6c7d8e9f0a1b",
        "name": "verify",
        "args": {"note": "ok"},
        "hlc": "000001780000000000-0000000002-phone-1",
        "device_time": "2026-06-04T15:02:10+08:00",
        "seq": 7
    }))
    .unwrap();
    assert_eq!((m.base_version, m.seq, m.group), (None, Some(7), None));
    assert_eq!(
        m.device_time_ms().unwrap(),
        Some(parse_rfc3339_ms("2026-06-04T07:02:10Z").unwrap())
    );
    assert_eq!(m.parse_hlc().unwrap().unwrap().node(), "phone-1");
    let bad = Mutation {
        device_time: Some("noon".into()),
        hlc: Some("x".into()),
        ..m.clone()
    };
    assert_eq!(
        bad.device_time_ms().map_err(|e| e.details()),
        Err(json!({"field": "device_time"}))
    );
    assert_eq!(
        bad.parse_hlc().map_err(|e| e.details()),
        Err(json!({"field": "hlc"}))
    );
    let minimal: Mutation =
        serde_json::from_value(json!({"id": Uuid::nil(), "name": "start"})).unwrap();
    assert_eq!(minimal.args, Value::Null);
}
