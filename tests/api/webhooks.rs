//! Webhooks end to end: a real receiver on 127.0.0.1 that checks every signature with its own
//! HMAC-SHA256, retries with growing delays, redelivery, SSRF refusals, automatic disabling,
//! filters, permissions, and several delivery workers sharing one outbox.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hazardloop_api::{Application, Config};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::closed_loop::{assign, report};
use crate::contract::SendChecked;
use crate::helpers::{assert_problem, crew, spawn_app, spawn_app_with, TestApp, PASSWORD};
use crate::{both_backends, Backend};

both_backends!(
    deliveries_are_signed_and_failures_retried_with_growing_delays,
    a_redelivery_keeps_its_webhook_id,
    internal_target_urls_are_refused_at_creation_and_at_delivery,
    a_webhook_that_keeps_failing_is_disabled_and_that_is_an_event,
    event_types_and_site_subtrees_choose_what_is_delivered,
    only_admins_and_scoped_clients_manage_webhooks_of_their_organisation,
    subscriptions_are_validated_updated_and_deleted,
    two_nodes_share_the_outbox_and_send_each_message_once,
    concurrent_claims_take_disjoint_deliveries,
);

// ---------------------------------------------------------------------------------------------
// The receiver.

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    answered: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// A webhook receiver on 127.0.0.1: records every request; answers 500 to the first
/// `fail_first` attempts of each message (every attempt of paths starting with `/fail`), 200
/// otherwise.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(fail_first: usize, delay: Duration) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let seen: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let l = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (log, seen) = (l.clone(), seen.clone());
                tokio::spawn(async move {
                    let Some((path, headers, body)) = read_request(&mut sock).await else {
                        return;
                    };
                    let at = Instant::now();
                    let id = headers.get("webhook-id").cloned().unwrap_or_default();
                    let n = {
                        let mut s = seen.lock().unwrap();
                        let n = s.entry(id.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    let status = if path.starts_with("/fail") || n <= fail_first {
                        500
                    } else {
                        200
                    };
                    log.lock().unwrap().push(Received {
                        at,
                        path,
                        id,
                        timestamp: headers
                            .get("webhook-timestamp")
                            .cloned()
                            .unwrap_or_default(),
                        signature: headers
                            .get("webhook-signature")
                            .cloned()
                            .unwrap_or_default(),
                        body,
                        answered: status,
                    });
                    tokio::time::sleep(delay).await;
                    let reason = if status == 200 {
                        "OK"
                    } else {
                        "Internal Server Error"
                    };
                    let text = if status == 200 {
                        ""
                    } else {
                        "receiver says no"
                    };
                    let res = format!(
                        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = sock.write_all(res.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Receiver { addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits until `path` has received `n` requests (or fails after `limit`).
    async fn wait_for(&self, path: &str, n: usize, limit: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.at(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < limit,
                "{path} received {} requests within {limit:?}, expected {n}: {:?}",
                got.len(),
                got.iter()
                    .map(|r| r.json()["type"].clone())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn read_request(
    sock: &mut tokio::net::TcpStream,
) -> Option<(String, BTreeMap<String, String>, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    Some((path, headers, body))
}

/// HMAC-SHA256 written out from RFC 2104, independent of the server's implementation.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().to_vec()
}

/// Verifies a request as a Standard Webhooks receiver would: the signature over
/// `{webhook-id}.{webhook-timestamp}.{body}` with the decoded secret, and a fresh timestamp.
fn assert_signed(r: &Received, secret: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("secret is base64");
    let signed = format!("{}.{}.{}", r.id, r.timestamp, r.body);
    let expected = format!("v1,{}", b64.encode(hmac_sha256(&key, signed.as_bytes())));
    assert!(
        r.signature.split(' ').any(|s| s == expected),
        "bad signature {} (expected {expected})",
        r.signature
    );
    assert!(r.id.starts_with("msg_"), "webhook-id {}", r.id);
    let ts: i64 = r
        .timestamp
        .parse()
        .expect("webhook-timestamp is unix seconds");
    let now = hazardloop_storage::now_ms() / 1000;
    assert!(
        (now - ts).abs() < 300,
        "timestamp {ts} is not fresh (now {now})"
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn fast(c: &mut Config) {
    c.webhook_allow_hosts = vec!["127.0.0.1".into()];
    c.webhook_poll_interval_ms = 50;
    c.webhook_retry_base_ms = 200;
    c.webhook_retry_max_ms = 5_000;
    c.webhook_timeout_secs = 5;
}

/// Creates a webhook; returns (id, secret).
async fn subscribe(app: &TestApp, token: &str, body: Value) -> (String, String) {
    let w = app.post_ok("/v1/webhooks", token, &body, 201).await;
    (
        w["id"].as_str().expect("id").to_string(),
        w["secret"].as_str().expect("secret").to_string(),
    )
}

async fn deliveries(app: &TestApp, token: &str, hook: &str) -> Vec<Value> {
    app.get_json(&format!("/v1/webhooks/{hook}/deliveries"), token)
        .await["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// Waits until every delivery of `hook` is no longer pending; returns them.
async fn settled(app: &TestApp, token: &str, hook: &str, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let d = deliveries(app, token, hook).await;
        if d.len() >= n && d.iter().all(|d| d["status"] != "pending") {
            return d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "deliveries of {hook} did not settle: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client of the admin's organisation with `scopes`; returns its access token.
async fn client_token(app: &TestApp, admin: &str, scopes: &[&str]) -> String {
    let c = app
        .post_ok(
            "/v1/clients",
            admin,
            &json!({"name": format!("client {}", scopes.join(" ")), "scopes": scopes}),
            201,
        )
        .await;
    let id = c["client_id"]
        .as_str()
        .or(c["id"].as_str())
        .expect("client id");
    let t = app
        .client
        .post(app.url("/v1/auth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": id,
                      "client_secret": c["client_secret"]}))
        .send_checked()
        .await
        .expect("token request");
    assert_eq!(t.status(), 200);
    let t: Value = t.json().await.expect("json");
    t["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

async fn org_id(app: &TestApp, token: &str) -> String {
    let me = app.get_json("/v1/me", token).await;
    me["organisation"]["id"]
        .as_str()
        .or(me["org_id"].as_str())
        .expect("organisation id")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Tests.

async fn deliveries_are_signed_and_failures_retried_with_growing_delays(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let c = crew(&app).await;
    let rx = Receiver::start(3, Duration::ZERO).await;
    let res = app
        .post(
            "/v1/webhooks",
            &c.admin,
            &json!({"url": rx.url("/hook"), "event_types": ["hazard.reported"],
                    "description": "ERP"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let created: Value = res.json().await.unwrap();
    let hook = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/webhooks/{hook}"));
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["active"], true);
    assert_eq!(created["event_types"], json!(["hazard.reported"]));
    // The secret is shown once.
    let again = app.get_json(&location, &c.admin).await;
    assert!(again.get("secret").is_none(), "{again}");

    let hazard = report(&app, &c, "Loose guard", "general").await;
    // Three answers of 500, then 200.
    let got = rx.wait_for("/hook", 4, Duration::from_secs(20)).await;
    for r in &got {
        assert_signed(r, &secret);
        assert_eq!(r.id, got[0].id, "the webhook-id is stable across retries");
        assert_eq!(r.body, got[0].body, "the body is the same on every attempt");
    }
    let answers: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answers, [500, 500, 500, 200]);
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (i, g) in gaps.iter().enumerate() {
        let floor = Duration::from_millis(200 << i);
        assert!(
            *g >= floor,
            "retry {} came after {g:?}, before {floor:?}",
            i + 1
        );
    }
    assert!(
        gaps[0] < gaps[1] && gaps[1] < gaps[2],
        "delays must grow: {gaps:?}"
    );

    let body = got[0].json();
    assert_eq!(body["type"], "hazard.reported");
    assert!(body["timestamp"].is_string());
    let data = &body["data"];
    assert_eq!(data["entity_type"], "hazard");
    assert_eq!(data["entity_id"], hazard);
    assert_eq!(data["hazard_id"], hazard);
    assert_eq!(data["site_id"], c.workshop);
    assert_eq!(data["actor_id"], c.id("inspector"));
    assert_eq!(data["to_state"], "reported");
    assert!(data["id"].is_string() && data["seq"].is_i64(), "{data}");
    assert!(data["recorded_at"].is_string() && data["occurred_at"].is_string());
    assert_eq!(data["payload"]["title"], "Loose guard", "{data}");

    // The delivery log.
    let log = settled(&app, &c.admin, &hook, 1).await;
    assert_eq!(log.len(), 1, "{log:?}");
    let d = &log[0];
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 4);
    assert_eq!(d["last_status_code"], 200);
    assert_eq!(d["last_error"], Value::Null);
    assert_eq!(d["message_id"], got[0].id.as_str());
    assert_eq!(d["event_type"], "hazard.reported");
    assert_eq!(d["event_id"], data["id"]);
    assert!(d["delivered_at"].is_string() && d["next_attempt_at"].is_null());
    let one = app
        .get_json(
            &format!(
                "/v1/webhooks/{hook}/deliveries/{}",
                d["id"].as_str().unwrap()
            ),
            &c.admin,
        )
        .await;
    assert_eq!(one["payload"], body);
}

async fn a_redelivery_keeps_its_webhook_id(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let c = crew(&app).await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let (hook, secret) = subscribe(
        &app,
        &c.admin,
        json!({"url": rx.url("/hook"), "event_types": ["*"]}),
    )
    .await;
    report(&app, &c, "Spill", "general").await;
    let first = rx.wait_for("/hook", 1, Duration::from_secs(10)).await;
    let log = settled(&app, &c.admin, &hook, 1).await;
    let original = log[0]["id"].as_str().unwrap().to_string();

    let again = app
        .post_ok(
            &format!("/v1/webhooks/{hook}/deliveries/{original}/redeliver"),
            &c.admin,
            &json!({}),
            202,
        )
        .await;
    assert_eq!(again["redelivery_of"], original.as_str());
    assert_eq!(again["message_id"], first[0].id.as_str());
    assert_ne!(again["id"], original.as_str());
    let got = rx.wait_for("/hook", 2, Duration::from_secs(10)).await;
    assert_eq!(got[1].id, got[0].id, "a redelivery keeps the webhook-id");
    assert_eq!(got[1].body, got[0].body);
    assert_signed(&got[1], &secret);
    let log = settled(&app, &c.admin, &hook, 2).await;
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    // Newest first.
    assert_eq!(log[0]["redelivery_of"], original.as_str());

    // Unknown delivery, malformed ids.
    let res = app
        .post(
            &format!(
                "/v1/webhooks/{hook}/deliveries/{}/redeliver",
                uuid::Uuid::now_v7()
            ),
            &c.admin,
            &json!({}),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .get(
            &format!("/v1/webhooks/{hook}/deliveries?status=bogus"),
            &c.admin,
        )
        .await;
    assert_problem(res, 400, "invalid_query").await;
}

async fn internal_target_urls_are_refused_at_creation_and_at_delivery(backend: Backend) {
    // No allow-list: loopback is refused too.
    let strict = spawn_app(backend).await;
    let admin = strict.admin_token().await;
    for url in [
        "http://127.0.0.1:9000/hook",
        "http://localhost:9000/hook",
        "http://10.0.0.1/hook",
        "http://172.16.5.4/",
        "http://192.168.1.20/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://255.255.255.255/",
        "ftp://203.0.113.10/",
        "file:///etc/passwd",
    ] {
        let res = strict
            .post(
                "/v1/webhooks",
                &admin,
                &json!({"url": url, "event_types": ["*"]}),
            )
            .await;
        let p = assert_problem(res, 422, "url_not_allowed").await;
        assert_eq!(p["fields"], json!(["url"]), "{url}");
    }
    let res = strict
        .post(
            "/v1/webhooks",
            &admin,
            &json!({"url": "not a url", "event_types": ["*"]}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    // A public address is fine (created inactive: nothing is sent to it).
    let (public, _) = subscribe(
        &strict,
        &admin,
        json!({"url": "https://203.0.113.10/hook", "event_types": ["*"], "active": false}),
    )
    .await;
    // Updates are checked the same way.
    let res = strict
        .patch(
            &format!("/v1/webhooks/{public}"),
            &admin,
            &json!({"url": "http://169.254.169.254/"}),
            None,
        )
        .await;
    assert_problem(res, 422, "url_not_allowed").await;
    assert_eq!(
        strict
            .get_json(&format!("/v1/webhooks/{public}"), &admin)
            .await["url"],
        "https://203.0.113.10/hook"
    );

    // With 127.0.0.1 allow-listed, loopback on that address is allowed and nothing else.
    let app = spawn_app_with(backend, fast).await;
    let c = crew(&app).await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    for url in ["http://10.0.0.1/", "http://[::1]/", "http://127.0.0.2/"] {
        let res = app
            .post(
                "/v1/webhooks",
                &c.admin,
                &json!({"url": url, "event_types": ["*"]}),
            )
            .await;
        assert_problem(res, 422, "url_not_allowed").await;
    }
    let (hook, _) = subscribe(
        &app,
        &c.admin,
        json!({"url": rx.url("/hook"), "event_types": ["*"]}),
    )
    .await;
    // The address changes behind the API's back (as a DNS answer may): delivery checks again.
    let id = hook.clone();
    app.db
        .write(move |conn| {
            use diesel::prelude::*;
            use hazardloop_storage::schema::webhooks as wh;
            diesel::update(wh::table.find(id))
                .set(wh::url.eq("http://10.0.0.1:9/hook"))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    report(&app, &c, "Rebound", "general").await;
    let start = Instant::now();
    let d = loop {
        let d = deliveries(&app, &c.admin, &hook).await;
        if d.first().is_some_and(|d| d["attempts"].as_i64() >= Some(1)) {
            break d[0].clone();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{d:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let err = d["last_error"].as_str().unwrap_or_default();
    assert!(err.contains("url not allowed"), "{d}");
    assert_eq!(d["last_status_code"], Value::Null);
    assert_eq!(d["status"], "pending", "it is retried");
    assert!(rx.received().is_empty());
}

async fn a_webhook_that_keeps_failing_is_disabled_and_that_is_an_event(backend: Backend) {
    let app = spawn_app_with(backend, |cfg| {
        fast(cfg);
        cfg.webhook_retry_base_ms = 100;
        cfg.webhook_max_age_secs = 1;
        cfg.webhook_disable_after_failures = 2;
    })
    .await;
    let c = crew(&app).await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let (bad, _) = subscribe(
        &app,
        &c.admin,
        json!({"url": rx.url("/fail"), "event_types": ["hazard.reported"]}),
    )
    .await;
    let (_watch, watch_secret) = subscribe(
        &app,
        &c.admin,
        json!({"url": rx.url("/watch"), "event_types": ["webhook.disabled"]}),
    )
    .await;
    report(&app, &c, "One", "general").await;
    report(&app, &c, "Two", "general").await;

    let start = Instant::now();
    let w = loop {
        let w = app.get_json(&format!("/v1/webhooks/{bad}"), &c.admin).await;
        if w["active"] == false {
            break w;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not disabled: {w}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        w["disabled_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("consecutive deliveries failed"),
        "{w}"
    );
    assert_eq!(w["consecutive_failures"], 2);
    assert!(w["disabled_at"].is_string());
    let log = settled(&app, &c.admin, &bad, 2).await;
    assert_eq!(log.len(), 2);
    for d in &log {
        assert_eq!(d["status"], "failed", "{d}");
        assert!(
            d["attempts"].as_i64().unwrap() >= 2,
            "retried before giving up: {d}"
        );
        assert_eq!(d["last_status_code"], 500);
        assert!(
            d["last_error"].as_str().unwrap().contains("HTTP 500"),
            "{d}"
        );
    }
    // Retried with growing delays until too old.
    let attempts = rx.at("/fail");
    assert!(attempts.len() >= 4, "{}", attempts.len());

    // The disabling is an event of the organisation...
    let org = org_id(&app, &c.admin).await;
    let id = bad.clone();
    let events = app
        .db
        .read(move |conn| hazardloop_storage::audit::events_of(conn, &org, &id))
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, "webhook.disabled");
    assert_eq!(events[0].entity_type, "webhook");
    // ... delivered to subscribers of webhook.disabled.
    let got = rx.wait_for("/watch", 1, Duration::from_secs(10)).await;
    assert_signed(&got[0], &watch_secret);
    let body = got[0].json();
    assert_eq!(body["type"], "webhook.disabled");
    assert_eq!(body["data"]["entity_id"], bad.as_str());
    assert_eq!(body["data"]["payload"]["consecutive_failures"], 2);

    // A disabled webhook gets nothing and cannot be redelivered to.
    report(&app, &c, "Three", "general").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(deliveries(&app, &c.admin, &bad).await.len(), 2);
    let res = app
        .post(
            &format!(
                "/v1/webhooks/{bad}/deliveries/{}/redeliver",
                log[0]["id"].as_str().unwrap()
            ),
            &c.admin,
            &json!({}),
        )
        .await;
    assert_problem(res, 409, "webhook_disabled").await;
    // Enabling it again clears the failures.
    let w = app
        .patch(
            &format!("/v1/webhooks/{bad}"),
            &c.admin,
            &json!({"active": true}),
            None,
        )
        .await;
    assert_eq!(w.status(), 200);
    let w: Value = w.json().await.unwrap();
    assert_eq!(w["active"], true);
    assert_eq!(w["consecutive_failures"], 0);
    assert_eq!(w["disabled_reason"], Value::Null);
}

async fn event_types_and_site_subtrees_choose_what_is_delivered(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let c = crew(&app).await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let sub = |path: &str, types: Value, site: Option<&str>| json!({"url": rx.url(path), "event_types": types, "site_id": site});
    subscribe(
        &app,
        &c.admin,
        sub("/assigned", json!(["hazard.assigned"]), None),
    )
    .await;
    subscribe(
        &app,
        &c.admin,
        sub("/workshop", json!(["*"]), Some(&c.workshop)),
    )
    .await;
    subscribe(
        &app,
        &c.admin,
        sub("/other", json!(["hazard.reported"]), Some(&c.other_plant)),
    )
    .await;
    subscribe(
        &app,
        &c.admin,
        sub(
            "/plant",
            json!(["hazard.reported", "hazard.assigned"]),
            Some(&c.plant),
        ),
    )
    .await;
    let (off, _) = subscribe(&app, &c.admin, sub("/off", json!(["*"]), None)).await;
    let res = app
        .patch(
            &format!("/v1/webhooks/{off}"),
            &c.admin,
            &json!({"active": false}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);

    // At the plant (not the workshop), at the workshop, and at the other plant.
    app.post_ok(
        "/v1/hazards",
        c.token("inspector"),
        &json!({"site_id": c.plant, "title": "At the plant", "category": "unsafe_condition",
                "grade": "general", "location": "Gate"}),
        201,
    )
    .await;
    let h2 = report(&app, &c, "In the workshop", "general").await;
    assert_eq!(assign(&app, &c, &h2, "supervisor").await.status(), 200);
    app.post_ok(
        "/v1/hazards",
        c.token("outsider"),
        &json!({"site_id": c.other_plant, "title": "Elsewhere", "category": "unsafe_condition",
                "grade": "general", "location": "Yard"}),
        201,
    )
    .await;

    let limit = Duration::from_secs(10);
    let types = |rs: Vec<Received>| -> Vec<String> {
        rs.iter()
            .map(|r| r.json()["type"].as_str().unwrap().to_string())
            .collect()
    };
    rx.wait_for("/assigned", 1, limit).await;
    rx.wait_for("/workshop", 2, limit).await;
    rx.wait_for("/other", 1, limit).await;
    rx.wait_for("/plant", 3, limit).await;
    // Nothing more arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(types(rx.at("/assigned")), ["hazard.assigned"]);
    let mut workshop = types(rx.at("/workshop"));
    workshop.sort();
    assert_eq!(workshop, ["hazard.assigned", "hazard.reported"]);
    assert!(rx
        .at("/workshop")
        .iter()
        .all(|r| r.json()["data"]["entity_id"] == h2.as_str()));
    assert_eq!(types(rx.at("/other")), ["hazard.reported"]);
    assert_eq!(rx.at("/other")[0].json()["data"]["site_id"], c.other_plant);
    let mut plant = types(rx.at("/plant"));
    plant.sort();
    assert_eq!(
        plant,
        ["hazard.assigned", "hazard.reported", "hazard.reported"]
    );
    assert!(rx.at("/off").is_empty());
    let assigned = &rx.at("/assigned")[0].json()["data"];
    assert_eq!(assigned["from_state"], "reported");
    assert_eq!(assigned["to_state"], "assigned");
    assert_eq!(assigned["actor_id"], c.id("supervisor"));
}

async fn only_admins_and_scoped_clients_manage_webhooks_of_their_organisation(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let c = crew(&app).await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let (hook, _) = subscribe(
        &app,
        &c.admin,
        json!({"url": rx.url("/hook"), "event_types": ["*"]}),
    )
    .await;
    report(&app, &c, "Something", "general").await;
    let log = settled(&app, &c.admin, &hook, 1).await;
    let delivery = log[0]["id"].as_str().unwrap().to_string();

    let routes = |hook: &str| -> Vec<(&'static str, String)> {
        vec![
            ("POST", "/v1/webhooks".to_string()),
            ("GET", "/v1/webhooks".to_string()),
            ("GET", format!("/v1/webhooks/{hook}")),
            ("PATCH", format!("/v1/webhooks/{hook}")),
            ("DELETE", format!("/v1/webhooks/{hook}")),
            ("GET", format!("/v1/webhooks/{hook}/deliveries")),
            ("GET", format!("/v1/webhooks/{hook}/deliveries/{delivery}")),
            (
                "POST",
                format!("/v1/webhooks/{hook}/deliveries/{delivery}/redeliver"),
            ),
        ]
    };
    let call = |method: &'static str, path: String, token: String| {
        let app = &app;
        let body = json!({"url": rx.url("/x"), "event_types": ["*"]});
        async move {
            let req = match method {
                "POST" => app.client.post(app.url(&path)).json(&body),
                "PATCH" => app.client.patch(app.url(&path)).json(&json!({})),
                "DELETE" => app.client.delete(app.url(&path)),
                _ => app.client.get(app.url(&path)),
            };
            req.bearer_auth(token)
                .send_checked()
                .await
                .expect("request")
        }
    };
    // People without the admin flag: 403, whatever their role.
    for who in ["inspector", "supervisor", "manager"] {
        for (m, p) in routes(&hook) {
            let res = call(m, p.clone(), c.token(who).to_string()).await;
            assert_eq!(res.status(), 403, "{who} {m} {p}");
        }
    }
    // A client without the scope: 403 insufficient_scope (or the route guard's answer).
    let reader = client_token(&app, &c.admin, &["hazards:read"]).await;
    for (m, p) in routes(&hook) {
        let res = call(m, p.clone(), reader.clone()).await;
        assert_eq!(res.status(), 403, "client without scope: {m} {p}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "insufficient_scope", "{m} {p}: {body}");
    }
    // A client limited to some sites may not, even with the scope: webhooks see every site.
    let c2 = app
        .post_ok(
            "/v1/clients",
            &c.admin,
            &json!({"name": "plant only", "scopes": ["webhooks:manage"], "site_ids": [c.plant]}),
            201,
        )
        .await;
    let t = app
        .client
        .post(app.url("/v1/auth/token"))
        .json(&json!({"grant_type": "client_credentials",
                      "client_id": c2["client_id"].as_str().or(c2["id"].as_str()),
                      "client_secret": c2["client_secret"]}))
        .send_checked()
        .await
        .expect("token");
    let limited = t.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app.get("/v1/webhooks", &limited).await;
    assert_problem(res, 403, "forbidden").await;
    // A client with webhooks:manage may.
    let manager = client_token(&app, &c.admin, &["webhooks:manage"]).await;
    let list = app.get_json("/v1/webhooks", &manager).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (own, _) = subscribe(
        &app,
        &manager,
        json!({"url": rx.url("/client"), "event_types": ["hazard.verified"]}),
    )
    .await;
    app.get_json(&format!("/v1/webhooks/{hook}/deliveries"), &manager)
        .await;

    // Another organisation: every id is unknown, its list is empty.
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        hazardloop_api::bootstrap::add_user(
            &db,
            Some("Other Org"),
            "boss@other.example",
            "Other Boss",
            PASSWORD,
            hazardloop_sync::Role::Admin,
            None,
        )
        .expect("second organisation")
    })
    .await
    .unwrap();
    let other = app.token("boss@other.example").await;
    let list = app.get_json("/v1/webhooks", &other).await;
    assert_eq!(list["items"], json!([]));
    for (m, p) in routes(&hook).into_iter().skip(2) {
        let res = call(m, p.clone(), other.clone()).await;
        assert_problem(res, 404, "not_found").await;
    }
    // Nothing was changed by the refused calls.
    let list = app.get_json("/v1/webhooks", &c.admin).await;
    let ids: BTreeSet<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([hook.as_str(), own.as_str()]));
}

async fn subscriptions_are_validated_updated_and_deleted(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let c = crew(&app).await;
    let rx = Receiver::start(0, Duration::ZERO).await;
    let url = rx.url("/hook");
    for (body, field) in [
        (json!({"url": url, "event_types": []}), "event_types"),
        (
            json!({"url": url, "event_types": ["hazard.exploded"]}),
            "event_types",
        ),
        (
            json!({"url": url, "event_types": ["*"], "site_id": "nope"}),
            "site_id",
        ),
        (
            json!({"url": url, "event_types": ["*"], "site_id": uuid::Uuid::now_v7()}),
            "site_id",
        ),
        (
            json!({"url": url, "event_types": ["*"], "description": "x".repeat(501)}),
            "description",
        ),
    ] {
        let res = app.post("/v1/webhooks", &c.admin, &body).await;
        let p = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(p["fields"], json!([field]), "{body}");
    }
    let res = app
        .post(
            "/v1/webhooks",
            &c.admin,
            &json!({"url": url, "event_types": ["*"], "secret": "mine"}),
        )
        .await;
    assert_problem(res, 422, "invalid_body").await;

    let (hook, _) = subscribe(
        &app,
        &c.admin,
        json!({"url": url, "event_types": ["hazard.reported", "hazard.reported", "hazard.verified"],
               "site_id": c.plant}),
    )
    .await;
    let w = app
        .get_json(&format!("/v1/webhooks/{hook}"), &c.admin)
        .await;
    assert_eq!(
        w["event_types"],
        json!(["hazard.reported", "hazard.verified"])
    );
    assert_eq!(w["site_id"], c.plant);
    assert_eq!(w["description"], "");

    let res = app
        .patch(
            &format!("/v1/webhooks/{hook}"),
            &c.admin,
            &json!({"event_types": ["inspection.submitted"], "site_id": null,
                    "description": "BI", "url": rx.url("/other")}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let w: Value = res.json().await.unwrap();
    assert_eq!(w["event_types"], json!(["inspection.submitted"]));
    assert_eq!(w["site_id"], Value::Null);
    assert_eq!(w["description"], "BI");
    assert_eq!(w["url"], rx.url("/other"));
    assert!(w.get("secret").is_none());
    let res = app
        .patch(
            &format!("/v1/webhooks/{hook}"),
            &c.admin,
            &json!({"event_types": ["nope"]}),
            None,
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;

    // Turning it off by hand is recorded like the automatic disabling, with the actor.
    let res = app
        .patch(
            &format!("/v1/webhooks/{hook}"),
            &c.admin,
            &json!({"active": false}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let org = org_id(&app, &c.admin).await;
    let id = hook.clone();
    let events = app
        .db
        .read(move |conn| hazardloop_storage::audit::events_of(conn, &org, &id))
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, "webhook.disabled");
    assert!(events[0].actor_id.is_some());

    let res = app.delete(&format!("/v1/webhooks/{hook}"), &c.admin).await;
    assert_eq!(res.status(), 204);
    let res = app.get(&format!("/v1/webhooks/{hook}"), &c.admin).await;
    assert_problem(res, 404, "not_found").await;
    let res = app
        .get(&format!("/v1/webhooks/{hook}/deliveries"), &c.admin)
        .await;
    assert_problem(res, 404, "not_found").await;
    let res = app.delete(&format!("/v1/webhooks/{hook}"), &c.admin).await;
    assert_problem(res, 404, "not_found").await;
    let res = app.get("/v1/webhooks/not-a-uuid", &c.admin).await;
    assert_problem(res, 404, "not_found").await;
}

async fn two_nodes_share_the_outbox_and_send_each_message_once(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    // A second node on the same database, with its own delivery worker.
    let second = Application::build_with_db(app.config.clone(), app.db.clone()).expect("node 2");
    tokio::spawn(second.run_until_stopped());
    let c = crew(&app).await;
    let rx = Receiver::start(0, Duration::from_millis(20)).await;
    let (_, secret) = subscribe(
        &app,
        &c.admin,
        json!({"url": rx.url("/hook"), "event_types": ["hazard.reported"]}),
    )
    .await;
    let n = 40;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (base, token, site) = (
            app.base.clone(),
            c.token("inspector").to_string(),
            c.workshop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let res = crate::helpers::http_client()
                .build()
                .expect("http client")
                .post(format!("{base}/v1/hazards"))
                .bearer_auth(token)
                .json(&json!({"site_id": site, "title": format!("H{i}"),
                              "category": "unsafe_condition", "grade": "general",
                              "location": "Bay"}))
                .send_checked()
                .await
                .expect("report");
            assert_eq!(res.status(), 201);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    rx.wait_for("/hook", n, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = rx.at("/hook");
    let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
    for r in &got {
        assert_signed(r, &secret);
        *per_id.entry(r.id.clone()).or_default() += 1;
    }
    assert_eq!(per_id.len(), n, "one message per event");
    assert!(
        per_id.values().all(|&k| k == 1),
        "a message was sent twice: {per_id:?}"
    );
}

async fn concurrent_claims_take_disjoint_deliveries(backend: Backend) {
    // No worker on this node: the test claims by hand.
    let app = spawn_app_with(backend, |cfg| {
        fast(cfg);
        cfg.webhook_concurrency = 0;
    })
    .await;
    let c = crew(&app).await;
    for path in ["/a", "/b"] {
        subscribe(
            &app,
            &c.admin,
            json!({"url": format!("http://127.0.0.1:9{path}"), "event_types": ["*"]}),
        )
        .await;
    }
    for i in 0..30 {
        report(&app, &c, &format!("H{i}"), "general").await;
    }
    let total = 60;
    let now = hazardloop_storage::now_ms();
    let mut workers = Vec::new();
    for w in 0..4 {
        let db = app.db.clone();
        workers.push(tokio::task::spawn_blocking(move || {
            let holder = format!("node-{w}");
            let mut mine = Vec::new();
            loop {
                let batch = db
                    .write_blocking(|c| {
                        hazardloop_storage::webhooks::claim(c, &holder, now, 60_000, 7)
                    })
                    .expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|d| d.id));
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "a delivery was claimed twice");
    assert_eq!(all.len(), total);
    // Leased: nothing is due until the lease ends, then everything is again.
    let db = app.db.clone();
    let (now_due, later_due) = tokio::task::spawn_blocking(move || {
        let a = db
            .write_blocking(|c| hazardloop_storage::webhooks::claim(c, "x", now, 60_000, 100))
            .unwrap()
            .len();
        let b = db
            .write_blocking(|c| {
                hazardloop_storage::webhooks::claim(c, "y", now + 60_001, 60_000, 100)
            })
            .unwrap()
            .len();
        (a, b)
    })
    .await
    .unwrap();
    assert_eq!((now_due, later_due), (0, total));
}
