//! The closed loop over HTTP: report, assign, rectify, verify, with every guard.

use serde_json::{json, Value};

use crate::contract::SendChecked;
use crate::helpers::{assert_problem, crew, spawn_app, Crew, TestApp};
use crate::{both_backends, Backend};

both_backends!(
    a_general_hazard_goes_round_the_whole_loop,
    guards_answer_403_409_and_422_with_details,
    a_major_hazard_needs_a_manager_and_the_five_implementations,
    racing_clients_one_wins_the_other_gets_409_with_state,
    stale_if_match_answers_412_and_changes_nothing,
    rectify_on_spot_and_reject_then_resubmit,
    lists_filter_by_site_subtree_state_and_assignee,
    the_state_s_commands_and_the_caller_s_are_two_named_lists_in_both_places,
);

const PHOTO: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

pub fn deadline(days: i64) -> String {
    let ms = hazardloop_storage::now_ms() + days * 86_400_000;
    hazardloop_sync::timestamp::format_rfc3339_ms(ms)
}

pub async fn report(app: &TestApp, c: &Crew, title: &str, grade: &str) -> String {
    let body = app
        .post_ok(
            "/v1/hazards",
            c.token("inspector"),
            &json!({"site_id": c.workshop, "title": title, "category": "unsafe_condition",
                    "grade": grade, "risk": "orange", "location": "Bay 2",
                    "gps": {"lat": 36.6171, "lon": 101.7782}}),
            201,
        )
        .await;
    body["id"].as_str().unwrap().to_string()
}

pub async fn assign(app: &TestApp, c: &Crew, id: &str, by: &str) -> reqwest::Response {
    app.post(
        &format!("/v1/hazards/{id}/assign"),
        c.token(by),
        &json!({"owner_id": c.id("rectifier"), "verifier_id": c.id("verifier"),
                "deadline": deadline(7), "measures": "Fix it"}),
    )
    .await
}

async fn a_general_hazard_goes_round_the_whole_loop(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Extinguisher missing", "general").await;
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(h["state"], "reported");
    assert_eq!(h["gps"], json!({"lat": 36.6171, "lon": 101.7782}));
    assert!(h["allowed_commands"]
        .as_array()
        .unwrap()
        .contains(&json!("assign")));

    assert_eq!(assign(&app, &c, &id, "supervisor").await.status(), 200);
    let path = |cmd: &str| format!("/v1/hazards/{id}/{cmd}");
    let h = app
        .post_ok(&path("start"), c.token("rectifier"), &json!({}), 200)
        .await;
    assert_eq!(h["state"], "rectifying");
    let h = app
        .post_ok(
            &path("submit_rectification"),
            c.token("rectifier"),
            &json!({"note": "Mounted a new extinguisher", "after_photos": [PHOTO]}),
            200,
        )
        .await;
    assert_eq!(h["state"], "awaiting_verification");
    assert_eq!(h["rectified_by"], c.id("rectifier"));
    let h = app
        .post_ok(
            &path("verify"),
            c.token("verifier"),
            &json!({"note": "Checked"}),
            200,
        )
        .await;
    assert_eq!(h["state"], "closed");
    assert!(h["closed_at"].is_string());

    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("inspector"))
        .await;
    let events: Vec<&str> = h["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        vec![
            "hazard.reported",
            "hazard.assigned",
            "hazard.rectification_started",
            "hazard.rectification_submitted",
            "hazard.verified",
        ]
    );
    for e in h["timeline"].as_array().unwrap() {
        assert!(
            e["device_time"].is_string() && e["server_time"].is_string(),
            "{e}"
        );
    }
    let last = &h["timeline"][4];
    assert_eq!(last["actor_id"], c.id("verifier"));
    assert_eq!(last["from_state"], "awaiting_verification");
    assert_eq!(last["to_state"], "closed");
    assert_eq!(h["allowed_commands"], json!([]));
}

async fn guards_answer_403_409_and_422_with_details(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Loose guard", "general").await;
    let path = |cmd: &str| format!("/v1/hazards/{id}/{cmd}");
    // An inspector may not assign.
    assert_problem(assign(&app, &c, &id, "inspector").await, 403, "forbidden").await;
    // Missing fields are all named.
    let res = app
        .post(
            &path("assign"),
            c.token("supervisor"),
            &json!({"owner_id": c.id("rectifier")}),
        )
        .await;
    let body = assert_problem(res, 422, "missing_fields").await;
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"verifier_id")
            && fields.contains(&"deadline")
            && fields.contains(&"measures"),
        "{body}"
    );
    // A command from the wrong state: 409 with the state and what is allowed now.
    let res = app
        .post(
            &path("verify"),
            c.token("supervisor"),
            &json!({"note": "x"}),
        )
        .await;
    let body = assert_problem(res, 409, "invalid_transition").await;
    assert_eq!(body["state"], "reported");
    assert!(body["allowed"]
        .as_array()
        .unwrap()
        .contains(&json!("assign")));
    assert_eq!(body["current"]["id"], id.as_str());
    // Unknown owner is invalid, naming the field.
    let res = app
        .post(&path("assign"), c.token("supervisor"),
              &json!({"owner_id": uuid::Uuid::now_v7(), "verifier_id": c.id("verifier"), "deadline": deadline(3), "measures": "m"}))
        .await;
    let body = assert_problem(res, 422, "invalid").await;
    assert_eq!(body["field"], "owner_id");
    // Someone at another plant cannot even see it.
    assert_problem(
        app.get(&format!("/v1/hazards/{id}"), c.token("outsider"))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.post(
            &path("cancel"),
            c.token("outsider"),
            &json!({"reason": "x"}),
        )
        .await,
        // Without a role at the hazard's site: not found, as for any unknown id.
        404,
        "not_found",
    )
    .await;

    assert_eq!(assign(&app, &c, &id, "supervisor").await.status(), 200);
    // Only the owner starts.
    assert_problem(
        app.post(&path("start"), c.token("supervisor"), &json!({}))
            .await,
        403,
        "forbidden",
    )
    .await;
    app.post_ok(&path("start"), c.token("rectifier"), &json!({}), 200)
        .await;
    // An after photo is required (default policy).
    let res = app
        .post(
            &path("submit_rectification"),
            c.token("rectifier"),
            &json!({"note": "done"}),
        )
        .await;
    assert_problem(res, 422, "missing_fields").await;
    let res = app
        .post(
            &path("submit_rectification"),
            c.token("rectifier"),
            &json!({"note": "done", "after_photos": ["not-a-hash"]}),
        )
        .await;
    assert_problem(res, 422, "invalid").await;
    app.post_ok(
        &path("submit_rectification"),
        c.token("rectifier"),
        &json!({"note": "done", "after_photos": [PHOTO]}),
        200,
    )
    .await;
    // The rectifier may never verify their own work, whatever their role.
    assert_problem(
        app.post(
            &path("verify"),
            c.token("rectifier"),
            &json!({"note": "ok"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // Nothing of the refused attempts reached the trail.
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(h["timeline"].as_array().unwrap().len(), 4);
    assert_eq!(h["state"], "awaiting_verification");
}

async fn a_major_hazard_needs_a_manager_and_the_five_implementations(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Gas detector faulty", "major").await;
    assert_problem(assign(&app, &c, &id, "supervisor").await, 403, "forbidden").await;
    let res = assign(&app, &c, &id, "manager").await;
    let body = assert_problem(res, 422, "missing_fields").await;
    let fields = body["fields"].to_string();
    for f in [
        "five.responsible_person",
        "five.measures",
        "five.funds",
        "five.deadline",
        "five.contingency_plan",
    ] {
        assert!(fields.contains(f), "{f} not named in {fields}");
    }
    let res = app
        .post(&format!("/v1/hazards/{id}/assign"), c.token("manager"),
              &json!({"owner_id": c.id("rectifier"), "verifier_id": c.id("manager"), "deadline": deadline(7),
                      "measures": "Recalibrate",
                      "five": {"responsible_person": "Plant manager", "measures": "Recalibrate", "funds": "CNY 5000",
                               "deadline": deadline(7), "contingency_plan": "Portable detectors"}}))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("manager"))
        .await;
    assert_eq!(h["five"]["funds"], "CNY 5000");
    assert!(h["five"]["deadline"].is_string());
    let p = |cmd: &str| format!("/v1/hazards/{id}/{cmd}");
    app.post_ok(&p("start"), c.token("rectifier"), &json!({}), 200)
        .await;
    app.post_ok(
        &p("submit_rectification"),
        c.token("rectifier"),
        &json!({"note": "n", "after_photos": [PHOTO]}),
        200,
    )
    .await;
    // A supervisor may not verify a major hazard.
    assert_problem(
        app.post(&p("verify"), c.token("supervisor"), &json!({"note": "n"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    app.post_ok(&p("verify"), c.token("manager"), &json!({"note": "n"}), 200)
        .await;
}

async fn racing_clients_one_wins_the_other_gets_409_with_state(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Race", "general").await;
    let path = format!("/v1/hazards/{id}/cancel");
    let (ra, rb) = (
        json!({"reason": "duplicate"}),
        json!({"reason": "not a hazard"}),
    );
    let (a, b) = tokio::join!(
        app.post(&path, c.token("supervisor"), &ra),
        app.post(&path, c.token("manager"), &rb),
    );
    let mut statuses = vec![a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, vec![200, 409]);
    let loser = if a.status() == 409 { a } else { b };
    let body = assert_problem(loser, 409, "invalid_transition").await;
    assert_eq!(body["state"], "cancelled");
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    let cancels = h["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "hazard.cancelled")
        .count();
    assert_eq!(cancels, 1);
}

async fn stale_if_match_answers_412_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Spill", "general").await;
    let res = app
        .get(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    let etag = res
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(etag, "\"1\"");
    let res = app
        .patch(
            &format!("/v1/hazards/{id}"),
            c.token("supervisor"),
            &json!({"description": "Large oil spill"}),
            Some(&etag),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("etag").unwrap(), "\"2\"");
    let res = app
        .patch(
            &format!("/v1/hazards/{id}"),
            c.token("inspector"),
            &json!({"description": "Small"}),
            Some(&etag),
        )
        .await;
    let body = assert_problem(res, 412, "version_mismatch").await;
    assert_eq!(body["current"]["description"], "Large oil spill");
    let res = app
        .client
        .post(app.url(&format!("/v1/hazards/{id}/cancel")))
        .bearer_auth(c.token("supervisor"))
        .header("if-match", &etag)
        .json(&json!({"reason": "dup"}))
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 412, "version_mismatch").await;
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(h["description"], "Large oil spill");
    assert_eq!(h["state"], "reported");
    // Editing a field that is not editable names it.
    let res = app
        .patch(
            &format!("/v1/hazards/{id}"),
            c.token("supervisor"),
            &json!({"state": "closed"}),
            None,
        )
        .await;
    let body = assert_problem(res, 422, "invalid").await;
    assert_eq!(body["field"], "fields.state");
}

async fn rectify_on_spot_and_reject_then_resubmit(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Cable across walkway", "general").await;
    let p = |id: &str, cmd: &str| format!("/v1/hazards/{id}/{cmd}");
    let h = app
        .post_ok(
            &p(&id, "rectify_on_spot"),
            c.token("inspector"),
            &json!({"note": "Re-routed", "after_photos": [PHOTO]}),
            200,
        )
        .await;
    assert_eq!(h["state"], "awaiting_verification");
    assert_eq!(h["owner_id"], c.id("inspector"));
    // The reporter fixed it, so the reporter cannot verify it.
    assert_problem(
        app.post(
            &p(&id, "verify"),
            c.token("inspector"),
            &json!({"note": "ok"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    app.post_ok(
        &p(&id, "verify"),
        c.token("supervisor"),
        &json!({"note": "ok"}),
        200,
    )
    .await;

    let id = report(&app, &c, "Ladder damaged", "general").await;
    assert_eq!(assign(&app, &c, &id, "supervisor").await.status(), 200);
    app.post_ok(&p(&id, "start"), c.token("rectifier"), &json!({}), 200)
        .await;
    app.post_ok(
        &p(&id, "submit_rectification"),
        c.token("rectifier"),
        &json!({"note": "taped", "after_photos": [PHOTO]}),
        200,
    )
    .await;
    let h = app
        .post_ok(
            &p(&id, "reject"),
            c.token("verifier"),
            &json!({"reason": "Tape is not a repair"}),
            200,
        )
        .await;
    assert_eq!(h["state"], "rectifying");
    let res = app
        .post(&p(&id, "reject"), c.token("verifier"), &json!({}))
        .await;
    assert_problem(res, 409, "invalid_transition").await;
    app.post_ok(
        &p(&id, "submit_rectification"),
        c.token("rectifier"),
        &json!({"note": "replaced", "after_photos": [PHOTO]}),
        200,
    )
    .await;
    let h = app
        .post_ok(
            &p(&id, "extend_deadline"),
            c.token("supervisor"),
            &json!({"deadline": deadline(30), "reason": "x"}),
            409,
        )
        .await;
    assert_eq!(h["code"], "invalid_transition");
    app.post_ok(
        &p(&id, "verify"),
        c.token("verifier"),
        &json!({"note": "good"}),
        200,
    )
    .await;
}

async fn lists_filter_by_site_subtree_state_and_assignee(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let a = report(&app, &c, "Alpha leak", "general").await;
    let b = report(&app, &c, "Beta noise", "general").await;
    assert_eq!(assign(&app, &c, &b, "supervisor").await.status(), 200);
    let body = app
        .post_ok("/v1/hazards", c.token("outsider"),
                 &json!({"site_id": c.other_plant, "title": "Other", "category": "unsafe_act", "grade": "general"}), 201)
        .await;
    let other = body["id"].as_str().unwrap().to_string();
    let ids = |v: &Value| -> Vec<String> {
        let mut x: Vec<String> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect();
        x.sort();
        x
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let all = app.get_json("/v1/hazards", &c.admin).await;
    assert_eq!(ids(&all), sorted(vec![a.clone(), b.clone(), other.clone()]));
    // The plant filter includes the workshop below it.
    let plant = app
        .get_json(&format!("/v1/hazards?site_id={}", c.plant), &c.admin)
        .await;
    assert_eq!(ids(&plant), sorted(vec![a.clone(), b.clone()]));
    let assigned = app.get_json("/v1/hazards?state=assigned", &c.admin).await;
    assert_eq!(ids(&assigned), vec![b.clone()]);
    let mine = app
        .get_json(
            &format!("/v1/hazards?owner_id={}", c.id("rectifier")),
            &c.admin,
        )
        .await;
    assert_eq!(ids(&mine), vec![b.clone()]);
    let text = app.get_json("/v1/hazards?q=leak", &c.admin).await;
    assert_eq!(ids(&text), vec![a.clone()]);
    // Visibility: the outsider sees only the other plant.
    let outsider = app.get_json("/v1/hazards", c.token("outsider")).await;
    assert_eq!(ids(&outsider), vec![other.clone()]);
    let overdue = app.get_json("/v1/hazards?overdue=true", &c.admin).await;
    assert_eq!(ids(&overdue), Vec::<String>::new());
    let page = app.get_json("/v1/hazards?limit=2", &c.admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = app
        .get_json(&format!("/v1/hazards?limit=2&cursor={next}"), &c.admin)
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_problem(
        app.get("/v1/hazards?updated_since=yesterday", &c.admin)
            .await,
        400,
        "invalid_query",
    )
    .await;
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("a list: {v}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// `state_allows` (what the state accepts from someone) and `caller_may_run` (what this caller
/// may run now) on the hazard and in a 409, with the old names kept as aliases.
async fn the_state_s_commands_and_the_caller_s_are_two_named_lists_in_both_places(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Loose handrail", "general").await;
    let as_supervisor = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    let as_verifier = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("verifier"))
        .await;
    let state_allows = names(&as_supervisor["state_allows"]);
    assert_eq!(
        state_allows,
        ["assign", "rectify_on_spot", "regrade", "cancel"],
        "{as_supervisor}"
    );
    assert_eq!(names(&as_verifier["state_allows"]), state_allows);
    let supervisor_may = names(&as_supervisor["caller_may_run"]);
    let verifier_may = names(&as_verifier["caller_may_run"]);
    // Not rectify_on_spot: only the reporter may.
    assert_eq!(supervisor_may, ["assign", "regrade", "cancel"]);
    assert!(
        verifier_may.is_empty(),
        "an inspector who did not report it: {verifier_may:?}"
    );
    assert_eq!(names(&as_supervisor["allowed_commands"]), supervisor_may);
    for who in ["supervisor", "verifier"] {
        let res = app
            .post(
                &format!("/v1/hazards/{id}/verify"),
                c.token(who),
                &json!({"note": "x"}),
            )
            .await;
        let body = assert_problem(res, 409, "invalid_transition").await;
        assert_eq!(body["state"], "reported");
        assert_eq!(names(&body["state_allows"]), state_allows, "{body}");
        assert_eq!(names(&body["allowed"]), state_allows, "{body}");
        let mine = if who == "supervisor" {
            &supervisor_may
        } else {
            &verifier_may
        };
        assert_eq!(&names(&body["caller_may_run"]), mine, "{who}: {body}");
    }
}
