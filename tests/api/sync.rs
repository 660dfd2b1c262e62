//! The offline sync protocol over HTTP, on both databases.

use serde_json::{json, Value};

use crate::closed_loop::{deadline, report};
use crate::contract::SendChecked;
use crate::helpers::{assert_problem, crew, spawn_app, spawn_app_with, Crew, TestApp};
use crate::{both_backends, Backend};

both_backends!(
    three_devices_edit_one_hazard_offline_and_converge,
    a_lost_response_is_answered_duplicate_and_nothing_doubles,
    gaps_groups_and_rejections_follow_the_contract,
    bad_input_gets_clear_errors_and_other_mutations_proceed,
    the_first_pull_is_a_paged_snapshot_with_a_total,
    a_broken_off_snapshot_resumes_from_its_cursor,
    membership_changes_deliver_backfill_and_tombstones,
    revoked_devices_and_old_cursors_are_refused,
    a_session_signed_in_on_a_device_ends_with_it,
    conflicts_are_listed_and_resolved_by_a_supervisor,
);

/// An HLC text at `wall` ms for `node`.
pub fn hlc(wall: i64, node: &str) -> String {
    format!("{wall:018}-{:010}-{node}", 0)
}

pub async fn device(app: &TestApp, token: &str) -> String {
    let d = app
        .post_ok(
            "/v1/devices",
            token,
            &json!({"name": "Pixel", "platform": "android", "app_version": "1.0"}),
            201,
        )
        .await;
    d["id"].as_str().unwrap().to_string()
}

pub async fn push(app: &TestApp, token: &str, device: &str, mutations: Value) -> Value {
    let res = app
        .post(
            "/v1/sync/push",
            token,
            &json!({"device_id": device, "mutations": mutations}),
        )
        .await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, 200, "push: {text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    // The typed wire format reads every answer and writes it back the same.
    let typed: hazardloop_sync::protocol::PushResponse =
        serde_json::from_value(answer.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), answer);
    answer
}

/// Pulls every page from `cursor`; returns the items and the final cursor.
pub async fn pull_all(app: &TestApp, token: &str, cursor: Option<String>) -> (Vec<Value>, String) {
    let mut cursor = cursor;
    let mut items = Vec::new();
    for _ in 0..1000 {
        let path = match &cursor {
            Some(c) => format!("/v1/sync/pull?limit=7&cursor={c}"),
            None => "/v1/sync/pull?limit=7".to_string(),
        };
        let page = app.get_json(&path, token).await;
        let typed: hazardloop_sync::protocol::PullPage =
            serde_json::from_value(page.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), page);
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        cursor = Some(page["next_cursor"].as_str().unwrap().to_string());
        if page["has_more"] == false {
            return (items, cursor.unwrap());
        }
    }
    panic!("pull never finished");
}

fn m(seq: i64, name: &str, args: Value, hlc: &str) -> Value {
    json!({"seq": seq, "id": uuid::Uuid::now_v7(), "name": name, "args": args, "hlc": hlc})
}

fn statuses(res: &Value) -> Vec<String> {
    res["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

/// The latest state of each entity in pulled items.
fn fold(items: &[Value]) -> std::collections::BTreeMap<String, Value> {
    let mut map = std::collections::BTreeMap::new();
    for i in items {
        let key = format!(
            "{}/{}",
            i["type"].as_str().unwrap(),
            i["id"].as_str().unwrap()
        );
        if i["deleted"] == true {
            map.remove(&key);
        } else {
            map.insert(key, i["data"].clone());
        }
    }
    map
}

async fn three_devices_edit_one_hazard_offline_and_converge(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Leaking valve", "general").await;
    let (d_insp, d_sup, d_mgr) = (
        device(&app, c.token("inspector")).await,
        device(&app, c.token("supervisor")).await,
        device(&app, c.token("manager")).await,
    );
    let t0 = hazardloop_storage::now_ms() - 60_000;
    let upd = |fields: Value| json!({"hazard_id": id, "fields": fields});
    // Offline: the inspector edits the description (early) and the location; the supervisor
    // edits the description (later) and assigns too; the manager assigns. Pushed in reverse order
    // of their clocks.
    let r_mgr = push(
        &app,
        c.token("manager"),
        &d_mgr,
        json!([m(
            1,
            "hazard.assign",
            json!({"hazard_id": id, "owner_id": c.id("rectifier"), "verifier_id": c.id("verifier"),
                                     "deadline": deadline(5), "measures": "Replace gasket"}),
            &hlc(t0 + 3000, &d_mgr)
        ),]),
    )
    .await;
    assert_eq!(statuses(&r_mgr), vec!["applied"]);
    let r_sup = push(&app, c.token("supervisor"), &d_sup, json!([
        m(1, "hazard.update", upd(json!({"description": "Valve leaks steam"})), &hlc(t0 + 2000, &d_sup)),
        m(2, "hazard.assign", json!({"hazard_id": id, "owner_id": c.id("verifier"), "verifier_id": c.id("inspector"),
                                     "deadline": deadline(2), "measures": "Tighten"}), &hlc(t0 + 2500, &d_sup)),
    ])).await;
    assert_eq!(statuses(&r_sup), vec!["applied", "rejected"]);
    let rejected = &r_sup["results"][1];
    assert_eq!(rejected["code"], "invalid_transition");
    assert_eq!(rejected["current"]["state"], "assigned");
    let r_insp = push(
        &app,
        c.token("inspector"),
        &d_insp,
        json!([
            m(
                1,
                "hazard.update",
                upd(json!({"description": "Valve drips", "location": "Boiler room"})),
                &hlc(t0 + 1000, &d_insp)
            ),
            m(
                2,
                "hazard.update",
                upd(json!({"risk": "blue"})),
                &hlc(t0 + 4000, &d_insp)
            ),
        ]),
    )
    .await;
    assert_eq!(statuses(&r_insp), vec!["merged", "merged"]);
    assert_eq!(r_insp["results"][0]["lost"], json!(["description"]));
    assert_eq!(r_insp["results"][1]["lost"], json!(["risk"]));
    assert_eq!(r_insp["applied_through"], 2);

    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(h["description"], "Valve leaks steam");
    assert_eq!(h["location"], "Boiler room");
    assert_eq!(h["state"], "assigned");
    assert_eq!(h["risk"], "orange", "risk never silently goes down");

    // Every device pulls and sees the same hazard.
    let mut seen = Vec::new();
    for who in ["inspector", "supervisor", "manager"] {
        let (items, _) = pull_all(&app, c.token(who), None).await;
        seen.push(fold(&items)[&format!("hazard/{id}")].clone());
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1], seen[2]);
    assert_eq!(seen[0]["description"], "Valve leaks steam");

    // The losers are in the conflict log: the description, the risk, and the late cancel.
    let list = app
        .get_json(
            &format!("/v1/conflicts?entity_id={id}"),
            c.token("supervisor"),
        )
        .await;
    let mut kinds: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}:{}",
                c["kind"].as_str().unwrap(),
                c["field"].as_str().unwrap_or("-")
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec!["field:description", "field:risk", "rejected_command:-"]
    );
    let desc = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "description")
        .unwrap();
    assert_eq!(desc["losing_value"], "Valve drips");
    assert_eq!(desc["winning_value"], "Valve leaks steam");
}

async fn a_lost_response_is_answered_duplicate_and_nothing_doubles(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let d = device(&app, c.token("inspector")).await;
    let now = hazardloop_storage::now_ms();
    let batch = json!([
        m(
            1,
            "hazard.report",
            json!({"site_id": c.workshop, "title": "One", "category": "unsafe_act", "grade": "general"}),
            &hlc(now, &d)
        ),
        m(
            2,
            "hazard.report",
            json!({"site_id": c.workshop, "title": "Two", "category": "unsafe_act", "grade": "general"}),
            &hlc(now + 1, &d)
        ),
    ]);
    let first = push(&app, c.token("inspector"), &d, batch.clone()).await;
    assert_eq!(statuses(&first), vec!["applied", "applied"]);
    // The phone never saw that answer and sends the same batch again.
    let again = push(&app, c.token("inspector"), &d, batch.clone()).await;
    assert_eq!(statuses(&again), vec!["duplicate", "duplicate"]);
    assert_eq!(again["results"][0]["original_status"], "applied");
    assert_eq!(
        again["results"][0]["entity_id"],
        first["results"][0]["entity_id"]
    );
    let list = app.get_json("/v1/hazards", &c.admin).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        2,
        "nothing doubled"
    );
    // A phone that lost its state reuses seq 1 and 2 for new work: refused, never "done".
    let reused = push(&app, c.token("inspector"), &d, json!([
        m(1, "hazard.report", json!({"site_id": c.workshop, "title": "Three", "category": "unsafe_act", "grade": "general"}), &hlc(now + 5, &d)),
    ])).await;
    assert_eq!(statuses(&reused), vec!["seq_reused"]);
    assert_eq!(reused["results"][0]["expected_seq"], 3);
    let list = app.get_json("/v1/hazards", &c.admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    // The write cursor: a pull that reaches it has the push's writes.
    let (items, _) = pull_all(&app, c.token("inspector"), None).await;
    let titles: Vec<&str> = items
        .iter()
        .filter(|i| i["type"] == "hazard")
        .map(|i| i["data"]["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"One") && titles.contains(&"Two"));
}

async fn gaps_groups_and_rejections_follow_the_contract(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let d = device(&app, c.token("inspector")).await;
    let now = hazardloop_storage::now_ms();
    let rep = |title: &str| json!({"site_id": c.workshop, "title": title, "category": "unsafe_act", "grade": "general"});
    // A gap: seq 2 missing; nothing after the gap is applied.
    let res = push(
        &app,
        c.token("inspector"),
        &d,
        json!([
            m(1, "hazard.report", rep("A"), &hlc(now, &d)),
            m(3, "hazard.report", rep("C"), &hlc(now, &d)),
            m(4, "hazard.report", rep("D"), &hlc(now, &d)),
        ]),
    )
    .await;
    assert_eq!(
        statuses(&res),
        vec!["applied", "out_of_order", "out_of_order"]
    );
    assert_eq!(res["results"][1]["expected_seq"], 2);
    assert_eq!(res["applied_through"], 1);
    // A rejected mutation still advances the seq, so the queue never wedges.
    let res = push(
        &app,
        c.token("inspector"),
        &d,
        json!([
            m(
                2,
                "hazard.report",
                json!({"site_id": c.workshop, "title": "No category", "grade": "general"}),
                &hlc(now, &d)
            ),
            m(3, "hazard.report", rep("C"), &hlc(now, &d)),
        ]),
    )
    .await;
    assert_eq!(statuses(&res), vec!["rejected", "applied"]);
    assert_eq!(res["results"][0]["code"], "missing_fields");
    assert_eq!(res["results"][0]["details"]["fields"], json!(["category"]));
    // A group stands or falls together.
    let g = uuid::Uuid::now_v7();
    let new_id = uuid::Uuid::now_v7();
    let mut a = m(
        4,
        "hazard.report",
        json!({"id": new_id, "site_id": c.workshop, "title": "Grouped", "category": "unsafe_act", "grade": "general"}),
        &hlc(now, &d),
    );
    let mut b = m(
        5,
        "hazard.update",
        json!({"hazard_id": new_id, "fields": {"state": "closed"}}),
        &hlc(now, &d),
    );
    a["group"] = json!(g);
    b["group"] = json!(g);
    let res = push(&app, c.token("inspector"), &d, json!([a, b])).await;
    assert_eq!(statuses(&res), vec!["rejected", "rejected"]);
    assert_eq!(res["results"][0]["code"], "group_failed");
    assert_eq!(res["results"][1]["code"], "invalid");
    assert_eq!(res["applied_through"], 5);
    assert_problem(
        app.get(&format!("/v1/hazards/{new_id}"), &c.admin).await,
        404,
        "not_found",
    )
    .await;
    let mut a = m(
        6,
        "hazard.report",
        json!({"id": new_id, "site_id": c.workshop, "title": "Grouped", "category": "unsafe_act", "grade": "general"}),
        &hlc(now, &d),
    );
    let mut b = m(
        7,
        "hazard.update",
        json!({"hazard_id": new_id, "fields": {"location": "Dock"}}),
        &hlc(now + 1, &d),
    );
    a["group"] = json!(g);
    b["group"] = json!(g);
    let res = push(&app, c.token("inspector"), &d, json!([a, b])).await;
    assert_eq!(statuses(&res), vec!["applied", "applied"]);
    let h = app
        .get_json(&format!("/v1/hazards/{new_id}"), &c.admin)
        .await;
    assert_eq!(h["location"], "Dock");
}

async fn bad_input_gets_clear_errors_and_other_mutations_proceed(backend: Backend) {
    let app = spawn_app_with(backend, |cfg| cfg.max_push_mutations = 10).await;
    let c = crew(&app).await;
    let d = device(&app, c.token("inspector")).await;
    let now = hazardloop_storage::now_ms();
    let rep =
        json!({"site_id": c.workshop, "title": "ok", "category": "unsafe_act", "grade": "general"});
    let res = push(&app, c.token("inspector"), &d, json!([
        {"seq": 0, "id": uuid::Uuid::now_v7(), "name": "hazard.report", "args": rep},
        {"seq": -4, "id": uuid::Uuid::now_v7(), "name": "hazard.report", "args": rep},
        {"seq": 1e300, "id": uuid::Uuid::now_v7(), "name": "hazard.report", "args": rep},
        {"seq": "one", "id": uuid::Uuid::now_v7(), "name": "hazard.report", "args": rep},
        {"seq": 1, "id": "not-a-uuid", "name": "hazard.report", "args": rep},
        {"seq": 1, "id": uuid::Uuid::now_v7(), "name": "hazard.explode", "args": {}},
        {"seq": 2, "id": uuid::Uuid::now_v7(), "name": "hazard.report", "args": {"site_id": 5, "title": ["x"]}},
        {"seq": 3, "id": uuid::Uuid::now_v7(), "name": "hazard.report", "args": rep, "hlc": "yesterday"},
        m(4, "hazard.report", rep.clone(), &hlc(now, &d)),
    ])).await;
    let codes: Vec<String> = res["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["status"].as_str().unwrap(),
                r["code"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            "invalid:invalid_seq",
            "invalid:invalid_seq",
            "invalid:invalid_seq",
            "invalid:invalid_seq",
            "invalid:malformed_mutation",
            "rejected:unknown_mutation",
            "rejected:invalid",
            "rejected:invalid",
            "applied:",
        ]
    );
    assert_eq!(res["applied_through"], 4);
    // Too many mutations: 413 with the limit.
    let many: Vec<Value> = (5..17)
        .map(|s| m(s, "hazard.report", rep.clone(), &hlc(now, &d)))
        .collect();
    let res = app
        .post(
            "/v1/sync/push",
            c.token("inspector"),
            &json!({"device_id": d, "mutations": many}),
        )
        .await;
    let body = assert_problem(res, 413, "batch_too_large").await;
    assert_eq!(body["max_batch"], 10);
    // Envelope errors.
    let res = app
        .post(
            "/v1/sync/push",
            c.token("inspector"),
            &json!({"mutations": []}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .post(
            "/v1/sync/push",
            c.token("inspector"),
            &json!({"device_id": d, "mutations": {}}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let res = app
        .post(
            "/v1/sync/push",
            c.token("inspector"),
            &json!({"device_id": uuid::Uuid::now_v7(), "mutations": []}),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    let other = device(&app, c.token("supervisor")).await;
    let res = app
        .post(
            "/v1/sync/push",
            c.token("inspector"),
            &json!({"device_id": other, "mutations": []}),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .post(
            "/v1/sync/push",
            c.token("inspector"),
            &json!({"device_id": d, "mutations": [], "schema_version": 2}),
        )
        .await;
    assert_problem(res, 400, "unsupported_schema_version").await;
    let res = app
        .client
        .post(app.url("/v1/sync/push"))
        .bearer_auth(c.token("inspector"))
        .header("content-type", "application/json")
        .body("{\"device_id\": ")
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 400, "malformed_json").await;
    // Exactly the one valid report exists.
    let list = app.get_json("/v1/hazards", &c.admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn the_first_pull_is_a_paged_snapshot_with_a_total(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    for i in 0..12 {
        report(&app, &c, &format!("Hazard {i}"), "general").await;
    }
    let first = app
        .get_json("/v1/sync/pull?limit=5", c.token("supervisor"))
        .await;
    let total = first["total"].as_i64().unwrap();
    // 12 hazards plus the sites the supervisor sees (plant and workshop).
    assert_eq!(total, 14);
    assert_eq!(first["items"].as_array().unwrap().len(), 5);
    assert_eq!(first["has_more"], true);
    let (rest, cursor) = pull_all(
        &app,
        c.token("supervisor"),
        Some(first["next_cursor"].as_str().unwrap().into()),
    )
    .await;
    assert_eq!(first["items"].as_array().unwrap().len() + rest.len(), 14);
    // Nothing new: an empty page, same position.
    let page = app
        .get_json(
            &format!("/v1/sync/pull?cursor={cursor}"),
            c.token("supervisor"),
        )
        .await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["has_more"], false);
    // A change after the cursor arrives, once.
    let id = report(&app, &c, "Late", "general").await;
    let (items, _) = pull_all(&app, c.token("supervisor"), Some(cursor)).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_problem(
        app.get("/v1/sync/pull?cursor=garbage", c.token("supervisor"))
            .await,
        400,
        "invalid_cursor",
    )
    .await;
}

fn key_of(item: &Value) -> String {
    format!(
        "{}/{}",
        item["type"].as_str().unwrap(),
        item["id"].as_str().unwrap()
    )
}

async fn a_broken_off_snapshot_resumes_from_its_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(report(&app, &c, &format!("Hazard {i}"), "general").await);
    }
    // One hazard already late, one not: their stored sync forms were written before the
    // deadline passed (or not), and the pull must still say which is overdue now.
    for (id, days) in [(&ids[0], -1), (&ids[1], 5)] {
        let res = app
            .post(&format!("/v1/hazards/{id}/assign"), c.token("supervisor"),
                  &json!({"owner_id": c.id("rectifier"), "verifier_id": c.id("verifier"), "deadline": deadline(days), "measures": "m"}))
            .await;
        assert_eq!(res.status(), 200);
    }
    let token = c.token("supervisor");
    let first = app.get_json("/v1/sync/pull?limit=6", token).await;
    // 20 hazards plus the sites the supervisor sees (plant and workshop).
    assert_eq!(first["total"], 22);
    let first_items = first["items"].as_array().unwrap().clone();
    assert_eq!(first_items.len(), 6);
    let resume_from = first["next_cursor"].as_str().unwrap().to_string();
    // The second page is fetched but lost (the connection broke off): it tells the same total.
    let lost = app
        .get_json(
            &format!("/v1/sync/pull?limit=6&cursor={resume_from}"),
            token,
        )
        .await;
    assert_eq!(lost["total"], 22);
    assert_eq!(lost["items"].as_array().unwrap().len(), 6);
    // Meanwhile a new hazard, and a change to one the phone already has.
    let late = report(&app, &c, "Reported during the snapshot", "general").await;
    let changed = first_items
        .iter()
        .find(|i| i["type"] == "hazard" && i["data"]["state"] == "reported")
        .map(|i| i["id"].as_str().unwrap().to_string())
        .expect("a reported hazard in the first page");
    let res = app
        .post(&format!("/v1/hazards/{changed}/assign"), c.token("supervisor"),
              &json!({"owner_id": c.id("rectifier"), "verifier_id": c.id("verifier"), "deadline": deadline(3), "measures": "m"}))
        .await;
    assert_eq!(res.status(), 200);
    // A row written before sync forms were stored: the pull builds it from the hazard's table.
    {
        use diesel::prelude::*;
        use hazardloop_storage::schema::entity_changes as ec;
        let legacy = ids[19].clone();
        app.db
            .write(move |c| {
                diesel::update(ec::table.filter(ec::entity_id.eq(legacy)))
                    .set((ec::data.eq(None::<String>), ec::due_at.eq(None::<i64>)))
                    .execute(c)?;
                Ok(())
            })
            .await
            .unwrap();
    }
    // Resume from the first page's cursor: exactly what the phone lacks.
    let (rest, _) = pull_all(&app, token, Some(resume_from)).await;
    let rest_keys: Vec<String> = rest.iter().map(key_of).collect();
    let unique: std::collections::BTreeSet<&String> = rest_keys.iter().collect();
    assert_eq!(unique.len(), rest_keys.len(), "duplicates: {rest_keys:?}");
    let first_keys: std::collections::BTreeSet<String> = first_items.iter().map(key_of).collect();
    let again: Vec<&String> = rest_keys
        .iter()
        .filter(|k| first_keys.contains(*k))
        .collect();
    // Only the entity that changed after it was delivered comes again.
    assert_eq!(again, vec![&format!("hazard/{changed}")]);
    let mut all: std::collections::BTreeSet<String> = first_keys.clone();
    all.extend(rest_keys.iter().cloned());
    // 22 entities of the snapshot and the late report: none missing.
    assert_eq!(all.len(), 23);
    for id in ids.iter().chain([&late]) {
        assert!(all.contains(&format!("hazard/{id}")), "missing {id}");
    }
    // What the phone holds now is what the server says, field by field.
    let mut items = first_items.clone();
    items.extend(rest);
    let view = fold(&items);
    for id in ids.iter().chain([&late]) {
        let pulled = &view[&format!("hazard/{id}")];
        let h = app.get_json(&format!("/v1/hazards/{id}"), token).await;
        for (k, v) in pulled.as_object().unwrap() {
            assert_eq!(&h[k], v, "hazard {id} field {k}");
        }
    }
    assert_eq!(view[&format!("hazard/{}", ids[0])]["overdue"], true);
    assert_eq!(view[&format!("hazard/{}", ids[1])]["overdue"], false);
    assert_eq!(view[&format!("hazard/{changed}")]["state"], "assigned");
    // A snapshot page may be larger than a later page: all 23 at once.
    let whole = app.get_json("/v1/sync/pull?limit=5000", token).await;
    assert_eq!(whole["items"].as_array().unwrap().len(), 23);
    assert_eq!(whole["has_more"], false);
}

async fn membership_changes_deliver_backfill_and_tombstones(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let here = report(&app, &c, "In the plant", "general").await;
    let there = app
        .post_ok("/v1/hazards", c.token("outsider"),
                 &json!({"site_id": c.other_plant, "title": "Elsewhere", "category": "unsafe_act", "grade": "general"}), 201)
        .await["id"].as_str().unwrap().to_string();
    let (items, cursor) = pull_all(&app, c.token("verifier"), None).await;
    let view = fold(&items);
    assert!(view.contains_key(&format!("hazard/{here}")));
    assert!(!view.contains_key(&format!("hazard/{there}")));
    // The verifier moves to the other plant.
    let res = app
        .put(
            &format!("/v1/users/{}/memberships", c.id("verifier")),
            &c.admin,
            &json!([{"site_id": c.other_plant, "role": "inspector"}]),
        )
        .await;
    assert_eq!(res.status(), 200);
    let (delta, _) = pull_all(&app, c.token("verifier"), Some(cursor)).await;
    let gone: Vec<&Value> = delta.iter().filter(|i| i["deleted"] == true).collect();
    assert!(
        gone.iter()
            .any(|i| i["id"] == here.as_str() && i["reason"] == "not_visible"),
        "{delta:?}"
    );
    assert!(
        delta
            .iter()
            .any(|i| i["id"] == there.as_str() && i["deleted"] == false),
        "{delta:?}"
    );
    let mut view = view;
    for i in &delta {
        let key = format!(
            "{}/{}",
            i["type"].as_str().unwrap(),
            i["id"].as_str().unwrap()
        );
        if i["deleted"] == true {
            view.remove(&key);
        } else {
            view.insert(key, i["data"].clone());
        }
    }
    let (fresh, _) = pull_all(&app, c.token("verifier"), None).await;
    assert_eq!(
        view,
        fold(&fresh),
        "incremental view equals a fresh snapshot"
    );
}

async fn revoked_devices_and_old_cursors_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let d = device(&app, c.token("inspector")).await;
    let (_, cursor) = pull_all(&app, c.token("inspector"), None).await;
    // A deleted draft leaves a tombstone; pruning it makes older cursors unusable.
    let admin = &c.admin;
    let tpl: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/demo/templates/fire-equipment-monthly.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    app.post_ok("/v1/templates", admin, &tpl, 201).await;
    let draft = app
        .post_ok(
            "/v1/inspections",
            c.token("inspector"),
            &json!({"site_id": c.plant, "template_key": "fire-equipment-monthly"}),
            201,
        )
        .await;
    let draft_id = draft["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.delete(&format!("/v1/inspections/{draft_id}"), c.token("inspector"))
            .await
            .status(),
        204
    );
    let (delta, _) = pull_all(&app, c.token("inspector"), Some(cursor.clone())).await;
    assert!(
        delta
            .iter()
            .any(|i| i["id"] == draft_id.as_str() && i["deleted"] == true),
        "{delta:?}"
    );
    let db = app.db.clone();
    let pruned = tokio::task::spawn_blocking(move || {
        db.write_blocking(|c| {
            hazardloop_storage::pull::prune_tombstones(c, hazardloop_storage::now_ms() + 1)
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(pruned, 1);
    let res = app
        .get(
            &format!("/v1/sync/pull?cursor={cursor}"),
            c.token("inspector"),
        )
        .await;
    assert_problem(res, 410, "reset_required").await;
    let (fresh, _) = pull_all(&app, c.token("inspector"), None).await;
    assert!(!fresh.iter().any(|i| i["id"] == draft_id.as_str()));

    assert_eq!(
        app.delete(&format!("/v1/devices/{d}"), c.token("inspector"))
            .await
            .status(),
        204
    );
    let res = app
        .post(
            "/v1/sync/push",
            c.token("inspector"),
            &json!({"device_id": d, "mutations": []}),
        )
        .await;
    assert_problem(res, 403, "device_revoked").await;
    let res = app
        .get(
            &format!("/v1/sync/pull?device_id={d}"),
            c.token("inspector"),
        )
        .await;
    assert_problem(res, 403, "device_revoked").await;
    let list = app.get_json("/v1/devices", c.token("inspector")).await;
    assert!(list["items"][0]["revoked_at"].is_string());
}

/// An empty push for `device`.
async fn push_nothing(app: &TestApp, token: &str, device: &str) -> reqwest::Response {
    app.post(
        "/v1/sync/push",
        token,
        &json!({"device_id": device, "mutations": []}),
    )
    .await
}

/// Signs in on a device; returns the token response.
async fn login_on(app: &TestApp, email: &str, device: &str) -> reqwest::Response {
    app.post(
        "/v1/auth/login",
        "",
        &json!({"email": email, "password": crate::helpers::PASSWORD, "device_id": device}),
    )
    .await
}

async fn a_session_signed_in_on_a_device_ends_with_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let unbound = c.token("inspector");
    let phone = device(&app, unbound).await;
    let tablet = device(&app, unbound).await;
    let others = device(&app, c.token("verifier")).await;

    let res = login_on(&app, "inspector@example.com", &phone).await;
    assert_eq!(res.status(), 200);
    let session: Value = res.json().await.unwrap();
    assert_eq!(session["device_id"], phone.as_str());
    let bound = session["access_token"].as_str().unwrap().to_string();
    // Someone else's device, or an unknown one, is not the user's to sign in on.
    assert_problem(
        login_on(&app, "inspector@example.com", &others).await,
        404,
        "not_found",
    )
    .await;

    // The bound session pulls as its device and pushes only for it.
    assert_eq!(app.get("/v1/sync/pull", &bound).await.status(), 200);
    let res = push_nothing(&app, &bound, &tablet).await;
    assert_problem(res, 403, "device_mismatch").await;
    let res = app
        .get(&format!("/v1/sync/pull?device_id={tablet}"), &bound)
        .await;
    assert_problem(res, 403, "device_mismatch").await;
    let res = push_nothing(&app, &bound, &phone).await;
    assert_eq!(res.status(), 200);

    // Refreshing keeps the binding.
    let res = app
        .post(
            "/v1/auth/refresh",
            "",
            &json!({"refresh_token": session["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    assert_eq!(refreshed["device_id"], phone.as_str());
    let bound = refreshed["access_token"].as_str().unwrap().to_string();

    // Revoking the phone ends its session: pull without naming the device, push, refresh and a
    // new sign-in on it are all refused. The session signed in without a device goes on.
    assert_eq!(
        app.delete(&format!("/v1/devices/{phone}"), unbound)
            .await
            .status(),
        204
    );
    assert_problem(
        app.get("/v1/sync/pull", &bound).await,
        403,
        "device_revoked",
    )
    .await;
    let res = push_nothing(&app, &bound, &phone).await;
    assert_problem(res, 403, "device_revoked").await;
    let res = app
        .post(
            "/v1/auth/refresh",
            "",
            &json!({"refresh_token": refreshed["refresh_token"]}),
        )
        .await;
    assert_problem(res, 401, "invalid_refresh_token").await;
    assert_problem(
        login_on(&app, "inspector@example.com", &phone).await,
        403,
        "device_revoked",
    )
    .await;
    assert_eq!(app.get("/v1/sync/pull", unbound).await.status(), 200);
    let res = push_nothing(&app, unbound, &tablet).await;
    assert_eq!(res.status(), 200);
}

async fn conflicts_are_listed_and_resolved_by_a_supervisor(backend: Backend) {
    let app = spawn_app(backend).await;
    let c: Crew = crew(&app).await;
    let id = report(&app, &c, "Noise", "general").await;
    let (d1, d2) = (
        device(&app, c.token("inspector")).await,
        device(&app, c.token("supervisor")).await,
    );
    let t = hazardloop_storage::now_ms() - 10_000;
    let upd = |v: &str| json!({"hazard_id": id, "fields": {"description": v}});
    push(
        &app,
        c.token("supervisor"),
        &d2,
        json!([m(
            1,
            "hazard.update",
            upd("From supervisor"),
            &hlc(t + 10, &d2)
        )]),
    )
    .await;
    let r = push(
        &app,
        c.token("inspector"),
        &d1,
        json!([m(1, "hazard.update", upd("From inspector"), &hlc(t, &d1))]),
    )
    .await;
    assert_eq!(statuses(&r), vec!["merged"]);
    // Inspectors do not see the conflict log; supervisors do.
    let none = app.get_json("/v1/conflicts", c.token("inspector")).await;
    assert_eq!(none["items"], json!([]));
    let list = app.get_json("/v1/conflicts", c.token("supervisor")).await;
    let conflict = list["items"][0].clone();
    assert_eq!(conflict["status"], "open");
    let cid = conflict["id"].as_str().unwrap();
    let res = app
        .post_ok(
            &format!("/v1/conflicts/{cid}/resolve"),
            c.token("supervisor"),
            &json!({"choose": "losing", "note": "inspector was right"}),
            200,
        )
        .await;
    assert_eq!(res["status"], "resolved");
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(h["description"], "From inspector");
    let res = app
        .post(
            &format!("/v1/conflicts/{cid}/resolve"),
            c.token("supervisor"),
            &json!({}),
        )
        .await;
    assert_problem(res, 409, "already_resolved").await;
    let open = app
        .get_json("/v1/conflicts?status=open", c.token("supervisor"))
        .await;
    assert_eq!(open["items"], json!([]));
    assert_problem(
        app.post(
            &format!("/v1/conflicts/{cid}/resolve"),
            c.token("outsider"),
            &json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}
