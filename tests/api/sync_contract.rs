//! The sync contract kept to the letter: `base_version` on push, what counts as a conflict,
//! lowering the risk, and the promise of a pull page's `position`.

use serde_json::{json, Value};

use crate::closed_loop::report;
use crate::helpers::{assert_problem, crew, spawn_app, Crew, TestApp};
use crate::sync::{device, hlc, push};
use crate::{both_backends, Backend};

both_backends!(
    a_stale_base_version_refuses_commands_and_steers_edits,
    an_edit_made_after_pulling_is_never_a_conflict,
    lowering_the_risk_takes_if_match_and_a_reason,
    position_reaches_write_cursor_only_with_the_whole_push,
);

fn m(seq: i64, name: &str, args: Value, base: Option<i64>, hlc: &str) -> Value {
    json!({"seq": seq, "id": uuid::Uuid::now_v7(), "name": name, "args": args,
           "base_version": base, "hlc": hlc})
}

async fn hazard(app: &TestApp, c: &Crew, id: &str) -> Value {
    app.get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await
}

async fn conflicts_of(app: &TestApp, c: &Crew, id: &str) -> Vec<Value> {
    app.get_json(
        &format!("/v1/conflicts?entity_id={id}"),
        c.token("supervisor"),
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_stale_base_version_refuses_commands_and_steers_edits(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Blocked exit", "general").await;
    let dev = device(&app, c.token("supervisor")).await;
    let t = hazardloop_storage::now_ms() - 10_000;
    // Someone edits online: the hazard is now at version 2.
    let res = app
        .patch(
            &format!("/v1/hazards/{id}"),
            c.token("inspector"),
            &json!({"description": "Pallets in front of the door"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let cancel = json!({"hazard_id": id, "reason": "duplicate"});
    let r = push(
        &app,
        c.token("supervisor"),
        &dev,
        json!([
            // Both commands were made on version 1.
            m(1, "hazard.cancel", cancel.clone(), Some(1), &hlc(t, &dev)),
            m(
                2,
                "hazard.extend_deadline",
                json!({"hazard_id": id, "deadline": "2030-01-01T00:00:00Z", "reason": "x"}),
                Some(1),
                &hlc(t + 1, &dev)
            ),
            // An edit based on version 1 is merged per field, never refused for it.
            m(
                3,
                "hazard.update",
                json!({"hazard_id": id, "fields": {"location": "East stairwell"}}),
                Some(1),
                &hlc(t + 2, &dev)
            ),
            // A version the hazard never had is refused, edit or command.
            m(
                4,
                "hazard.update",
                json!({"hazard_id": id, "fields": {"location": "West"}}),
                Some(99),
                &hlc(t + 3, &dev)
            ),
        ]),
    )
    .await;
    let res = &r["results"];
    assert_eq!(res[0]["status"], "rejected", "{r}");
    assert_eq!(res[0]["code"], "version_mismatch");
    assert_eq!(res[0]["details"]["version"], 2);
    assert_eq!(res[0]["current"]["state"], "reported");
    assert_eq!(
        res[1]["code"], "invalid_transition",
        "the state is checked first: {r}"
    );
    assert_eq!(res[2]["status"], "applied", "{r}");
    assert_eq!(res[3]["status"], "rejected");
    assert_eq!(res[3]["code"], "version_mismatch");
    let h = hazard(&app, &c, &id).await;
    assert_eq!(h["state"], "reported", "a stale cancel changed nothing");
    assert_eq!(h["location"], "East stairwell");
    assert_eq!(h["version"], 3);
    // The late commands are kept in the conflict log; the merged edit made no conflict.
    let log = conflicts_of(&app, &c, &id).await;
    let mut kinds: Vec<String> = log
        .iter()
        .map(|x| format!("{}:{}", x["kind"], x["detail"]["code"]))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            "\"rejected_command\":\"invalid_transition\"",
            "\"rejected_command\":\"version_mismatch\""
        ]
    );
    // With the current version the command goes through.
    let r = push(
        &app,
        c.token("supervisor"),
        &dev,
        json!([m(5, "hazard.cancel", cancel, Some(3), &hlc(t + 4, &dev))]),
    )
    .await;
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    assert_eq!(hazard(&app, &c, &id).await["state"], "cancelled");
}

async fn an_edit_made_after_pulling_is_never_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Loose grating", "general").await;
    let (a, b) = (
        device(&app, c.token("inspector")).await,
        device(&app, c.token("supervisor")).await,
    );
    let t = hazardloop_storage::now_ms() - 60_000;
    let desc = |v: &str| json!({"hazard_id": id, "fields": {"description": v}});
    // B sets the description; its clock runs ahead of A's.
    let r = push(
        &app,
        c.token("supervisor"),
        &b,
        json!([m(
            1,
            "hazard.update",
            desc("From B"),
            Some(1),
            &hlc(t + 30_000, &b)
        )]),
    )
    .await;
    assert_eq!(r["results"][0]["status"], "applied");
    // A pulls it (version 2) and then edits the description: a successive edit.
    let pulled = hazard(&app, &c, &id).await;
    assert_eq!(pulled["version"], 2);
    let r = push(
        &app,
        c.token("inspector"),
        &a,
        json!([m(
            1,
            "hazard.update",
            desc("From A, after B"),
            Some(2),
            &hlc(t, &a)
        )]),
    )
    .await;
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    assert_eq!(
        hazard(&app, &c, &id).await["description"],
        "From A, after B"
    );
    // B edits again after pulling A's text.
    let r = push(
        &app,
        c.token("supervisor"),
        &b,
        json!([m(
            2,
            "hazard.update",
            desc("From B, after A"),
            Some(3),
            &hlc(t + 31_000, &b)
        )]),
    )
    .await;
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    assert_eq!(conflicts_of(&app, &c, &id).await, Vec::<Value>::new());

    // Now both edit the same version without seeing each other: one conflict, the earlier
    // clock (A's) loses, whichever arrives first.
    let rounds = [
        (
            4,
            [("inspector", &a, 2, 40_000), ("supervisor", &b, 3, 40_500)],
        ),
        (
            5,
            [("supervisor", &b, 4, 41_500), ("inspector", &a, 3, 41_000)],
        ),
    ];
    for (n, (base, pushes)) in rounds.into_iter().enumerate() {
        for (who, d, seq, at) in pushes {
            let text = format!("{who} on {base}");
            let r = push(
                &app,
                c.token(who),
                d,
                json!([m(
                    seq,
                    "hazard.update",
                    desc(&text),
                    Some(base),
                    &hlc(t + at, d)
                )]),
            )
            .await;
            assert_ne!(r["results"][0]["status"], "rejected", "{r}");
        }
        let log = conflicts_of(&app, &c, &id).await;
        assert_eq!(log.len(), n + 1, "{log:?}");
        let loser = format!("inspector on {base}");
        let winner = format!("supervisor on {base}");
        let new: Vec<&Value> = log.iter().filter(|x| x["losing_value"] == loser).collect();
        assert_eq!(new.len(), 1, "{log:?}");
        assert_eq!(new[0]["winning_value"], winner);
        assert_eq!(new[0]["field"], "description");
        assert_eq!(hazard(&app, &c, &id).await["description"], winner);
    }
}

async fn lowering_the_risk_takes_if_match_and_a_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Corroded rail", "general").await; // risk orange, version 1
    let path = format!("/v1/hazards/{id}");
    let sup = c.token("supervisor");
    // Without If-Match: 428, nothing changes (not even the other fields).
    let res = app
        .patch(
            &path,
            sup,
            &json!({"risk": "blue", "description": "x", "reason": "painted"}),
            None,
        )
        .await;
    assert_problem(res, 428, "precondition_required").await;
    // With If-Match but no reason: 422 naming the reason.
    let res = app
        .patch(&path, sup, &json!({"risk": "blue"}), Some("\"1\""))
        .await;
    let body = assert_problem(res, 422, "missing_fields").await;
    assert_eq!(body["fields"], json!(["reason"]));
    let h = hazard(&app, &c, &id).await;
    assert_eq!(h["risk"], "orange");
    assert_eq!(h["description"], "");
    assert_eq!(h["version"], 1);
    // Raising needs neither.
    let res = app.patch(&path, sup, &json!({"risk": "red"}), None).await;
    assert_eq!(res.status(), 200);
    // Both: lowered, and the audit event carries the reason.
    let res = app
        .patch(
            &path,
            sup,
            &json!({"risk": "yellow", "reason": "guard rail replaced"}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(res.status(), 200);
    let h = hazard(&app, &c, &id).await;
    assert_eq!(h["risk"], "yellow");
    let last = h["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "hazard.updated");
    assert_eq!(last["payload"]["reason"], "guard rail replaced");
    assert_eq!(last["payload"]["fields"], json!({"risk": "yellow"}));

    // Sync follows the same rule: a lowering from the version the device saw needs a reason;
    // without base_version the more severe colour stays.
    let dev = device(&app, sup).await;
    let t = hazardloop_storage::now_ms() - 5_000;
    let upd = |risk: &str| json!({"hazard_id": id, "fields": {"risk": risk}});
    let mut with_reason = upd("blue");
    with_reason["reason"] = json!("rail fenced off");
    let r = push(
        &app,
        sup,
        &dev,
        json!([
            m(1, "hazard.update", upd("blue"), None, &hlc(t, &dev)),
            m(2, "hazard.update", upd("blue"), Some(3), &hlc(t + 1, &dev)),
            m(3, "hazard.update", with_reason, Some(3), &hlc(t + 2, &dev)),
        ]),
    )
    .await;
    let res = &r["results"];
    assert_eq!(res[0]["status"], "merged", "{r}");
    assert_eq!(res[0]["lost"], json!(["risk"]));
    assert_eq!(res[1]["status"], "rejected");
    assert_eq!(res[1]["code"], "missing_fields");
    assert_eq!(res[1]["details"]["fields"], json!(["reason"]));
    assert_eq!(res[2]["status"], "applied", "{r}");
    assert_eq!(hazard(&app, &c, &id).await["risk"], "blue");
}

async fn position_reaches_write_cursor_only_with_the_whole_push(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let sup = c.token("supervisor");
    let dev = device(&app, sup).await;
    // Up to date first.
    let (_, cursor) = crate::sync::pull_all(&app, sup, None).await;
    // One push, three entities, one change sequence.
    let t = hazardloop_storage::now_ms() - 5_000;
    let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let mutations: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            m(
                i as i64 + 1,
                "hazard.report",
                json!({"id": id, "site_id": c.workshop, "title": format!("Spill {i}"),
                       "category": "unsafe_condition", "grade": "general"}),
                None,
                &hlc(t + i as i64, &dev),
            )
        })
        .collect();
    let r = push(&app, sup, &dev, json!(mutations)).await;
    let write_cursor: i64 = r["write_cursor"].as_str().unwrap().parse().unwrap();
    for start in [Some(cursor), None] {
        // Incremental from the cursor, then a first snapshot from scratch: pages of one.
        let mut seen = std::collections::BTreeSet::new();
        let mut next = start;
        let mut reached = false;
        for _ in 0..200 {
            let path = match &next {
                Some(cur) => format!("/v1/sync/pull?limit=1&cursor={cur}"),
                None => "/v1/sync/pull?limit=1".to_string(),
            };
            let page = app.get_json(&path, sup).await;
            for item in page["items"].as_array().unwrap() {
                seen.insert(item["id"].as_str().unwrap().to_string());
            }
            let position: i64 = page["position"].as_str().unwrap().parse().unwrap();
            let all = ids.iter().all(|id| seen.contains(id));
            assert_eq!(
                position >= write_cursor,
                all,
                "position {position}, write_cursor {write_cursor}, delivered {seen:?}"
            );
            reached |= all;
            next = Some(page["next_cursor"].as_str().unwrap().to_string());
            if page["has_more"] == false {
                break;
            }
        }
        assert!(reached, "the pull never delivered the push");
    }
}
