//! Templates and inspections over HTTP: versioned import, answer validation, submit raising
//! hazards exactly once, draft deletion.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, crew, spawn_app, Crew, TestApp};
use crate::{both_backends, Backend};

both_backends!(
    templates_publish_immutable_versions,
    an_inspection_raises_hazards_once_however_often_it_is_submitted,
    answers_are_validated_against_the_template,
    drafts_may_be_deleted_submitted_inspections_never,
);

fn fixture(name: &str) -> Value {
    let path = format!("{}/demo/templates/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn import_all(app: &TestApp, admin: &str) {
    for name in [
        "hot-work-permit",
        "confined-space-entry",
        "fire-equipment-monthly",
    ] {
        app.post_ok("/v1/templates", admin, &fixture(name), 201)
            .await;
    }
}

async fn templates_publish_immutable_versions(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    import_all(&app, &c.admin).await;
    // The same content again changes nothing.
    let again = app
        .post_ok("/v1/templates", &c.admin, &fixture("hot-work-permit"), 200)
        .await;
    assert_eq!(again["version"], 1);
    // New content publishes version 2; version 1 stays as it was.
    let mut changed = fixture("hot-work-permit");
    changed["title"] = json!("Hot work permit check, revised");
    let v2 = app.post_ok("/v1/templates", &c.admin, &changed, 201).await;
    assert_eq!(v2["version"], 2);
    let v1 = app
        .get_json(
            "/v1/templates/hot-work-permit/versions/1",
            c.token("inspector"),
        )
        .await;
    assert_eq!(v1["template"]["title"], "Hot work permit check (动火作业)");
    let latest = app
        .get_json("/v1/templates/hot-work-permit", c.token("inspector"))
        .await;
    assert_eq!(latest["version"], 2);
    let list = app.get_json("/v1/templates", c.token("inspector")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    // Only admins publish; a broken template is refused with its problems.
    assert_problem(
        app.post("/v1/templates", c.token("manager"), &changed)
            .await,
        403,
        "forbidden",
    )
    .await;
    let mut broken = fixture("hot-work-permit");
    broken["sections"][0]["items"][1]["key"] = json!("permit-valid");
    let body = assert_problem(
        app.post("/v1/templates", &c.admin, &broken).await,
        422,
        "invalid",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("permit-valid"),
        "{body}"
    );
    let mut bad_grade = fixture("hot-work-permit");
    bad_grade["sections"][0]["items"][0]["hazard"]["grade"] = json!("catastrophic");
    assert_problem(
        app.post("/v1/templates", &c.admin, &bad_grade).await,
        422,
        "invalid",
    )
    .await;
    assert_problem(
        app.get("/v1/templates/nope/versions/1", &c.admin).await,
        404,
        "not_found",
    )
    .await;
}

fn hot_work_answers(photo: &str) -> Value {
    json!({
        "permit-valid": "no",
        "welder-certified": "yes",
        "fire-watch": "yes",
        "gas-test-minutes": 45,
        "lel-percent": 2,
        "combustibles-cleared": "present",
        "extinguishers": "2 or more",
        "site-photo": [photo],
    })
}

async fn an_inspection_raises_hazards_once_however_often_it_is_submitted(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    import_all(&app, &c.admin).await;
    let insp = app
        .post_ok("/v1/inspections", c.token("inspector"),
                 &json!({"site_id": c.workshop, "template_key": "hot-work-permit", "gps": {"lat": 30.57, "lon": 104.06}}), 201)
        .await;
    assert_eq!(insp["status"], "draft");
    let id = insp["id"].as_str().unwrap();
    // Submitting with required items unanswered names them.
    let res = app
        .post(
            &format!("/v1/inspections/{id}/submit"),
            c.token("inspector"),
            &json!({}),
        )
        .await;
    let body = assert_problem(res, 422, "missing_fields").await;
    assert!(body["fields"]
        .as_array()
        .unwrap()
        .contains(&json!("permit-valid")));
    let photo = "ab".repeat(32);
    let res = app
        .put(
            &format!("/v1/inspections/{id}/answers"),
            c.token("inspector"),
            &hot_work_answers(&photo),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["answers"]["gas-test-minutes"], 45);
    for _ in 0..3 {
        let s = app
            .post_ok(
                &format!("/v1/inspections/{id}/submit"),
                c.token("inspector"),
                &json!({}),
                200,
            )
            .await;
        assert_eq!(s["status"], "submitted");
    }
    // "no" on the permit, 45 minutes out of 0..30, combustibles present: three hazards, once.
    let hazards = app.get_json("/v1/hazards?limit=100", &c.admin).await;
    let raised: Vec<&Value> = hazards["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["inspection_id"] == id)
        .collect();
    let mut keys: Vec<&str> = raised
        .iter()
        .map(|h| h["item_key"].as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec!["combustibles-cleared", "gas-test-minutes", "permit-valid"]
    );
    let gas = raised
        .iter()
        .find(|h| h["item_key"] == "gas-test-minutes")
        .unwrap();
    assert_eq!(gas["grade"], "major");
    assert_eq!(gas["risk"], "red");
    assert_eq!(gas["site_id"], c.workshop.as_str());
    assert_eq!(gas["reporter_id"], c.id("inspector"));
    // Answers of a submitted inspection are frozen.
    let res = app
        .put(
            &format!("/v1/inspections/{id}/answers"),
            c.token("inspector"),
            &json!({"remarks": "late"}),
        )
        .await;
    assert_problem(res, 409, "invalid_transition").await;
    let got = app
        .get_json(&format!("/v1/inspections/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(got["status"], "submitted");
    assert!(got["submitted_at"].is_string());
    assert_problem(
        app.get(&format!("/v1/inspections/{id}"), c.token("outsider"))
            .await,
        404,
        "not_found",
    )
    .await;
    let list = app
        .get_json("/v1/inspections?status=submitted", c.token("supervisor"))
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn answers_are_validated_against_the_template(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    import_all(&app, &c.admin).await;
    let insp = app
        .post_ok(
            "/v1/inspections",
            c.token("inspector"),
            &json!({"site_id": c.plant, "template_key": "hot-work-permit"}),
            201,
        )
        .await;
    let path = format!("/v1/inspections/{}/answers", insp["id"].as_str().unwrap());
    for (answers, field_item) in [
        (json!({"no-such-item": "yes"}), "no-such-item"),
        (json!({"permit-valid": "maybe"}), "permit-valid"),
        (json!({"gas-test-minutes": "ten"}), "gas-test-minutes"),
        (
            json!({"combustibles-cleared": "somewhere"}),
            "combustibles-cleared",
        ),
        (json!({"site-photo": ["not-a-hash"]}), "site-photo"),
    ] {
        let body = assert_problem(
            app.put(&path, c.token("inspector"), &answers).await,
            422,
            "invalid",
        )
        .await;
        assert_eq!(body["item"], field_item, "{body}");
    }
    // One bad answer in a batch: none of the batch is kept.
    let res = app
        .put(
            &path,
            c.token("inspector"),
            &json!({"fire-watch": "yes", "permit-valid": "maybe"}),
        )
        .await;
    assert_problem(res, 422, "invalid").await;
    let got = app
        .get_json(
            &format!("/v1/inspections/{}", insp["id"].as_str().unwrap()),
            c.token("inspector"),
        )
        .await;
    assert_eq!(got["answers"], json!({}));
    // Someone without a role at the site cannot start one there: for them it does not exist.
    let res = app
        .post(
            "/v1/inspections",
            c.token("outsider"),
            &json!({"site_id": c.plant, "template_key": "hot-work-permit"}),
        )
        .await;
    assert_eq!(
        assert_problem(res, 422, "invalid").await["field"],
        "site_id"
    );
    let res = app
        .post(
            "/v1/inspections",
            c.token("inspector"),
            &json!({"site_id": c.plant, "template_key": "nope"}),
        )
        .await;
    assert_problem(res, 422, "invalid").await;
}

async fn drafts_may_be_deleted_submitted_inspections_never(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    import_all(&app, &c.admin).await;
    let start = json!({"site_id": c.plant, "template_key": "fire-equipment-monthly"});
    let draft = app
        .post_ok("/v1/inspections", c.token("inspector"), &start, 201)
        .await;
    let draft_id = draft["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/inspections/{draft_id}"), c.token("inspector"))
            .await
            .status(),
        204
    );
    assert_problem(
        app.get(&format!("/v1/inspections/{draft_id}"), c.token("inspector"))
            .await,
        404,
        "not_found",
    )
    .await;

    let other = app
        .post_ok("/v1/inspections", c.token("inspector"), &start, 201)
        .await;
    let id = other["id"].as_str().unwrap();
    let template = app
        .get_json("/v1/templates/fire-equipment-monthly", c.token("inspector"))
        .await;
    let mut answers = serde_json::Map::new();
    for section in template["template"]["sections"].as_array().unwrap() {
        for item in section["items"].as_array().unwrap() {
            let v = match item["kind"].as_str().unwrap() {
                "yes_no" | "yes_no_na" => json!("yes"),
                "number" => item["min"].clone(),
                "choice" => item["options"][0].clone(),
                "multi_choice" => json!([]),
                "text" => json!("ok"),
                _ => json!(["cd".repeat(32)]),
            };
            answers.insert(item["key"].as_str().unwrap().to_string(), v);
        }
    }
    let res = app
        .put(
            &format!("/v1/inspections/{id}/answers"),
            c.token("inspector"),
            &Value::Object(answers),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.post_ok(
        &format!("/v1/inspections/{id}/submit"),
        c.token("inspector"),
        &json!({}),
        200,
    )
    .await;
    assert_problem(
        app.delete(&format!("/v1/inspections/{id}"), c.token("inspector"))
            .await,
        409,
        "invalid_transition",
    )
    .await;
    assert_problem(
        app.delete(&format!("/v1/inspections/{id}"), c.token("outsider"))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.get(&format!("/v1/inspections/{id}"), c.token("inspector"))
            .await
            .status(),
        200
    );
}

/// Imports the fixture templates and submits a hot-work inspection at the workshop whose
/// answers raise three hazards; returns the inspection's id.
pub async fn raise_three_hazards(app: &TestApp, c: &Crew) -> String {
    import_all(app, &c.admin).await;
    let insp = app
        .post_ok(
            "/v1/inspections",
            c.token("inspector"),
            &json!({"site_id": c.workshop, "template_key": "hot-work-permit"}),
            201,
        )
        .await;
    let id = insp["id"].as_str().unwrap().to_string();
    let res = app
        .put(
            &format!("/v1/inspections/{id}/answers"),
            c.token("inspector"),
            &hot_work_answers(&"ab".repeat(32)),
        )
        .await;
    assert_eq!(res.status(), 200);
    app.post_ok(
        &format!("/v1/inspections/{id}/submit"),
        c.token("inspector"),
        &json!({}),
        200,
    )
    .await;
    id
}
