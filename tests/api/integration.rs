//! Integration clients, scopes, idempotent REST writes, rate limits and the event feed.

use serde_json::{json, Value};

use crate::closed_loop::{assign, report};
use crate::contract::SendChecked;
use crate::helpers::{assert_problem, crew, spawn_app, spawn_app_with, TestApp};
use crate::{both_backends, Backend};

both_backends!(
    client_credentials_issue_scoped_tokens,
    every_route_checks_its_scope,
    a_site_limited_client_sees_and_writes_only_its_sites,
    idempotent_retries_apply_once_and_replay_the_answer,
    clients_are_rate_limited_with_retry_after,
    the_event_feed_replays_every_event_in_order,
    the_event_feed_never_skips_under_concurrent_writers,
);

pub async fn client(
    app: &TestApp,
    admin: &str,
    scopes: &[&str],
    sites: Option<Vec<&str>>,
) -> (String, String) {
    let mut body = json!({"name": "ERP", "scopes": scopes});
    if let Some(s) = sites {
        body["site_ids"] = json!(s);
    }
    let c = app.post_ok("/v1/clients", admin, &body, 201).await;
    (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().unwrap().to_string(),
    )
}

pub async fn client_token(app: &TestApp, id: &str, secret: &str) -> String {
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn client_credentials_issue_scoped_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let (id, secret) = client(&app, &c.admin, &["hazards:read", "events:read"], None).await;
    assert!(secret.len() > 40);
    // Form-encoded, as RFC 6749 has it.
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "hazards:read"),
        ])
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "hazards:read");
    assert_eq!(body["expires_in"], 300);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/hazards", token).await.status(), 200);
    // Narrowed to hazards:read, the token cannot read events.
    assert_problem(
        app.get("/v1/events", token).await,
        403,
        "insufficient_scope",
    )
    .await;
    // JSON and HTTP Basic work too.
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .json(
            &json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}),
        )
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Failures answer with OAuth's error member as well as the problem code.
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", "wrong"),
        ])
        .send_checked()
        .await
        .unwrap();
    let body = assert_problem(res, 401, "invalid_client").await;
    assert_eq!(body["error"], "invalid_client");
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[("grant_type", "password")])
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 400, "unsupported_grant_type").await;
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "webhooks:manage"),
        ])
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 400, "invalid_scope").await;
    // Unknown scopes are refused at creation; only admins create clients.
    let res = app
        .post(
            "/v1/clients",
            &c.admin,
            &json!({"name": "x", "scopes": ["root"]}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    assert_problem(
        app.post(
            "/v1/clients",
            c.token("manager"),
            &json!({"name": "x", "scopes": ["hazards:read"]}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // Revoked: no new tokens.
    assert_eq!(
        app.delete(&format!("/v1/clients/{id}"), &c.admin)
            .await
            .status(),
        204
    );
    let res = app
        .client
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 401, "invalid_client").await;
    let list = app.get_json("/v1/clients", &c.admin).await;
    assert!(list["items"][0]["revoked_at"].is_string());
    assert!(list["items"][0].get("client_secret").is_none());
}

async fn every_route_checks_its_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let all: Vec<&str> = hazardloop_api::routes::SCOPES.to_vec();
    for (method, path, scope) in hazardloop_api::routes::ROUTE_SCOPES {
        if matches!(*scope, "public" | "any") {
            continue;
        }
        // A client with every scope but the one this route needs.
        let granted: Vec<&str> = all.iter().copied().filter(|s| s != scope).collect();
        let (id, secret) = client(&app, &c.admin, &granted, None).await;
        let token = client_token(&app, &id, &secret).await;
        let concrete = path
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{key}", "some-key")
            .replace("{version}", "1")
            .replace("{delivery_id}", &uuid::Uuid::now_v7().to_string())
            .replace("{sha256}", &"a".repeat(64));
        let req = app
            .client
            .request(method.parse().unwrap(), app.url(&concrete))
            .bearer_auth(&token)
            .json(&json!({}));
        let res = req.send_checked().await.unwrap();
        assert_eq!(res.status(), 403, "{method} {path} without {scope}");
        if *method == "HEAD" {
            // A HEAD answer has no body to read the code from.
            continue;
        }
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["code"], "insufficient_scope",
            "{method} {path}: {body}"
        );
    }
}

async fn a_site_limited_client_sees_and_writes_only_its_sites(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let mine = report(&app, &c, "In the plant", "general").await;
    let other = app
        .post_ok("/v1/hazards", c.token("outsider"),
                 &json!({"site_id": c.other_plant, "title": "Elsewhere", "category": "unsafe_act", "grade": "general"}), 201)
        .await["id"].as_str().unwrap().to_string();
    let (id, secret) = client(
        &app,
        &c.admin,
        &["hazards:read", "hazards:write"],
        Some(vec![c.plant.as_str()]),
    )
    .await;
    let token = client_token(&app, &id, &secret).await;
    let list = app.get_json("/v1/hazards", &token).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine.as_str()]);
    assert_problem(
        app.get(&format!("/v1/hazards/{other}"), &token).await,
        404,
        "not_found",
    )
    .await;
    // It reports through its own principal, with the audit trail naming it.
    let h = app.post_ok("/v1/hazards", &token, &json!({"site_id": c.workshop, "title": "From ERP", "category": "management_gap", "grade": "general"}), 201).await;
    assert_eq!(h["reporter_id"], id.as_str());
    // A site outside its own does not exist for it.
    let res = app.post("/v1/hazards", &token, &json!({"site_id": c.other_plant, "title": "No", "category": "unsafe_act", "grade": "general"})).await;
    assert_eq!(
        assert_problem(res, 422, "invalid").await["field"],
        "site_id"
    );
    // Clients never use people's routes.
    assert_problem(
        app.get("/v1/users", &token).await,
        403,
        "insufficient_scope",
    )
    .await;
    // And do not appear among people.
    let people = app.get_json("/v1/users?limit=500", &c.admin).await;
    assert!(people["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["id"] != id.as_str()));
}

async fn idempotent_retries_apply_once_and_replay_the_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let body = json!({"site_id": c.workshop, "title": "Once", "category": "unsafe_act", "grade": "general"});
    let send = |key: &'static str, body: Value| {
        app.client
            .post(app.url("/v1/hazards"))
            .bearer_auth(c.token("inspector"))
            .header("idempotency-key", key)
            .json(&body)
            .send_checked()
    };
    let first = send("k-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send("k-1", body.clone()).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let list = app.get_json("/v1/hazards", &c.admin).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // The same key with another body is refused.
    let mut other = body.clone();
    other["title"] = json!("Twice");
    assert_problem(
        send("k-1", other).await.unwrap(),
        422,
        "idempotency_key_reused",
    )
    .await;
    // A refused command is answered the same way again, and still changes nothing.
    let id = first["id"].as_str().unwrap();
    let verify = || {
        app.client
            .post(app.url(&format!("/v1/hazards/{id}/verify")))
            .bearer_auth(c.token("supervisor"))
            .header("idempotency-key", "k-2")
            .json(&json!({"note": "x"}))
            .send_checked()
    };
    assert_problem(verify().await.unwrap(), 409, "invalid_transition").await;
    let res = verify().await.unwrap();
    assert_eq!(res.headers().get("idempotent-replayed").unwrap(), "true");
    assert_problem(res, 409, "invalid_transition").await;
    // Keys belong to their user: another user may use the same key for their own request.
    let res = app
        .client
        .post(app.url("/v1/hazards"))
        .bearer_auth(c.token("supervisor"))
        .header("idempotency-key", "k-1")
        .json(&body)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let res = app
        .client
        .post(app.url("/v1/hazards"))
        .bearer_auth(c.token("supervisor"))
        .header("idempotency-key", "")
        .json(&body)
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 400, "invalid_idempotency_key").await;
}

async fn clients_are_rate_limited_with_retry_after(backend: Backend) {
    let app = spawn_app_with(backend, |cfg| cfg.client_rate_limit_per_minute = 5).await;
    let c = crew(&app).await;
    let (id, secret) = client(&app, &c.admin, &["hazards:read"], None).await;
    let token = client_token(&app, &id, &secret).await;
    for _ in 0..5 {
        assert_eq!(app.get("/v1/hazards", &token).await.status(), 200);
    }
    let res = app.get("/v1/hazards", &token).await;
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_problem(res, 429, "rate_limited").await;
    // People are not limited this way, and another client has its own budget.
    assert_eq!(app.get("/v1/hazards", &c.admin).await.status(), 200);
    let (id2, secret2) = client(&app, &c.admin, &["hazards:read"], None).await;
    let token2 = client_token(&app, &id2, &secret2).await;
    assert_eq!(app.get("/v1/hazards", &token2).await.status(), 200);
}

async fn the_event_feed_replays_every_event_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Feed", "general").await;
    assert_eq!(assign(&app, &c, &id, "supervisor").await.status(), 200);
    app.post_ok(
        &format!("/v1/hazards/{id}/start"),
        c.token("rectifier"),
        &json!({}),
        200,
    )
    .await;
    let other = app
        .post_ok("/v1/hazards", c.token("outsider"),
                 &json!({"site_id": c.other_plant, "title": "Elsewhere", "category": "unsafe_act", "grade": "general"}), 201)
        .await["id"].as_str().unwrap().to_string();
    let (cid, secret) = client(&app, &c.admin, &["events:read"], None).await;
    let token = client_token(&app, &cid, &secret).await;
    let page = app.get_json("/v1/events?limit=2", &token).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    let rest = app
        .get_json(
            &format!(
                "/v1/events?cursor={}",
                page["next_cursor"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    let mut all: Vec<Value> = page["items"].as_array().unwrap().clone();
    all.extend(rest["items"].as_array().unwrap().iter().cloned());
    let types: Vec<&str> = all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        vec![
            "hazard.reported",
            "hazard.assigned",
            "hazard.rectification_started",
            "hazard.reported"
        ]
    );
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(all[1]["from_state"], "reported");
    assert_eq!(all[1]["to_state"], "assigned");
    assert!(all[1]["occurred_at"].is_string() && all[1]["recorded_at"].is_string());
    let only = app
        .get_json(
            "/v1/events?types=hazard.assigned,hazard.rectification_started",
            &token,
        )
        .await;
    assert_eq!(only["items"].as_array().unwrap().len(), 2);
    let site = app
        .get_json(&format!("/v1/events?site={}", c.other_plant), &token)
        .await;
    let ids: Vec<&str> = site["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![other.as_str()]);
    // An inspector at the other plant sees only its events.
    let theirs = app.get_json("/v1/events", c.token("outsider")).await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1);
    // The end cursor returns nothing new until something happens.
    let end = rest["next_cursor"].as_str().unwrap();
    let empty = app
        .get_json(&format!("/v1/events?cursor={end}"), &token)
        .await;
    assert_eq!(empty["items"], json!([]));
    assert_problem(
        app.get("/v1/events?cursor=abc", &token).await,
        400,
        "invalid_cursor",
    )
    .await;
}

async fn the_event_feed_never_skips_under_concurrent_writers(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app(backend).await);
    let c = crew(&app).await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (app, done, token) = (app.clone(), done.clone(), c.admin.clone());
        tokio::spawn(async move {
            let mut cursor = "0".to_string();
            let mut seen = std::collections::BTreeSet::new();
            let mut last = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = app
                    .get_json(&format!("/v1/events?limit=20&cursor={cursor}"), &token)
                    .await;
                for e in page["items"].as_array().unwrap() {
                    let seq = e["seq"].as_i64().unwrap();
                    assert!(seq > last, "events arrive in order, once");
                    last = seq;
                    if e["type"] == "hazard.reported" {
                        seen.insert(e["entity_id"].as_str().unwrap().to_string());
                    }
                }
                cursor = page["next_cursor"].as_str().unwrap().to_string();
                if finished && page["has_more"] == false {
                    return seen;
                }
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..4 {
        let (app, token, site) = (
            app.clone(),
            c.token(if w % 2 == 0 {
                "inspector"
            } else {
                "supervisor"
            })
            .to_string(),
            c.workshop.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..12 {
                let h = app.post_ok("/v1/hazards", &token, &json!({"site_id": site, "title": format!("{w}-{i}"), "category": "unsafe_act", "grade": "general"}), 201).await;
                ids.push(h["id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut created = std::collections::BTreeSet::new();
    for w in writers {
        created.extend(w.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.unwrap();
    assert_eq!(created.len(), 48);
    let missed: Vec<_> = created.difference(&seen).collect();
    assert!(missed.is_empty(), "missed {missed:?}");
}
