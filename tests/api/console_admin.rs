//! The console's administration pages: each write lands like its `/v1` twin (the same effect,
//! the same audit chain entries and the same event feed entries), refusals are shown in
//! words, and times and months follow the organisation's time zone.

use hazardloop_storage::audit::{verify_chain, ChainReport};
use serde_json::{json, Value};

use crate::closed_loop::{assign, report};
use crate::console::{Browser, Page};
use crate::helpers::{crew, spawn_app, spawn_app_with, TestApp, ADMIN_EMAIL};
use crate::{both_backends, Backend};

both_backends!(
    admin_writes_land_like_their_api_twins,
    admin_refusals_are_words_and_change_nothing,
    times_and_months_follow_the_organisation_time_zone,
);

async fn org_of(app: &TestApp, token: &str) -> String {
    app.get_json("/v1/me", token).await["org_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What the audit chain and the event feed hold: the chain's length (checked intact) and
/// each feed event's type and actor, oldest first.
async fn trail(app: &TestApp, admin: &str, org: &str) -> (i64, Vec<(String, String)>) {
    let db = app.db.clone();
    let org = org.to_string();
    let report = tokio::task::spawn_blocking(move || db.read_blocking(|c| verify_chain(c, &org)))
        .await
        .unwrap()
        .unwrap();
    let n = match report {
        ChainReport::Intact(n) => n as i64,
        other => panic!("the audit chain is broken: {other:?}"),
    };
    let feed = app.get_json("/v1/events?limit=1000", admin).await;
    let events = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_string(),
                e["actor_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (n, events)
}

/// What one write added to the trail.
fn added(
    before: &(i64, Vec<(String, String)>),
    after: &(i64, Vec<(String, String)>),
) -> (i64, Vec<(String, String)>) {
    (after.0 - before.0, after.1[before.1.len()..].to_vec())
}

/// Runs the API twin, then the console's write, and checks both added the same to the trail;
/// returns what each added.
async fn twins<A, C>(
    app: &TestApp,
    admin: &str,
    org: &str,
    what: &str,
    api: A,
    console: C,
) -> (i64, Vec<(String, String)>)
where
    A: std::future::Future<Output = ()>,
    C: std::future::Future<Output = ()>,
{
    let t0 = trail(app, admin, org).await;
    api.await;
    let t1 = trail(app, admin, org).await;
    console.await;
    let t2 = trail(app, admin, org).await;
    let (by_api, by_console) = (added(&t0, &t1), added(&t1, &t2));
    assert_eq!(
        by_console, by_api,
        "{what}: the console's trail differs from the API's"
    );
    by_console
}

fn template(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/demo/templates/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn memberships(app_user: &Value) -> Vec<(String, String)> {
    let mut m: Vec<(String, String)> = app_user["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["site_id"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    m.sort();
    m
}

async fn user_json(app: &TestApp, admin: &str, id: &str) -> Value {
    app.get_json("/v1/users?limit=500", admin).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == id)
        .cloned()
        .unwrap()
}

async fn deliveries(app: &TestApp, hook: &str, admin: &str) -> Vec<Value> {
    app.get_json(&format!("/v1/webhooks/{hook}/deliveries"), admin)
        .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn expect_done(p: &Page, to: &str) {
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location(), to);
}

async fn admin_writes_land_like_their_api_twins(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.webhook_allow_hosts = vec!["127.0.0.1".into()];
        c.webhook_concurrency = 0;
    })
    .await;
    let c = crew(&app).await;
    let org = org_of(&app, &c.admin).await;
    let mut b = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let csrf = b.get("/admin/sites").await.csrf();

    // A site.
    twins(
        &app,
        &c.admin,
        &org,
        "add a site",
        async {
            app.post_ok(
                "/v1/sites",
                &c.admin,
                &json!({"name": "Boiler room", "kind": "area", "parent_id": c.plant}),
                201,
            )
            .await;
        },
        async {
            let p = b
                .post(
                    "/admin/sites",
                    &[
                        ("csrf", &csrf),
                        ("name", "Pump room"),
                        ("kind", "area"),
                        ("parent_id", &c.plant),
                    ],
                )
                .await;
            expect_done(&p, "/admin/sites?done=site");
        },
    )
    .await;
    let sites = app.get_json("/v1/sites", &c.admin).await;
    for name in ["Boiler room", "Pump room"] {
        let s = sites["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {sites}"));
        assert_eq!(s["parent_id"], c.plant.as_str());
        assert_eq!(s["kind"], "area");
    }
    let tree = b.get("/admin/sites").await;
    assert!(tree.body.contains("Pump room"));

    // Roles: grant a role at the plant to two inspectors of the workshop, then revoke it.
    let (by_api, by_console) = (c.id("rectifier").to_string(), {
        app.user(
            &c.admin,
            "second@example.com",
            "inspector",
            Some(&c.workshop),
        )
        .await
    });
    let granted = [
        (c.workshop.clone(), "inspector".to_string()),
        (c.plant.clone(), "supervisor".to_string()),
    ];
    twins(
        &app,
        &c.admin,
        &org,
        "grant a role",
        async {
            let res = app
                .put(
                    &format!("/v1/users/{by_api}/memberships"),
                    &c.admin,
                    &json!([{"site_id": c.workshop, "role": "inspector"},
                            {"site_id": c.plant, "role": "supervisor"}]),
                )
                .await;
            assert_eq!(res.status(), 200);
        },
        async {
            let page = b.get(&format!("/admin/users/{by_console}")).await;
            assert_eq!(page.status, 200);
            let p = b
                .post(
                    &format!("/admin/users/{by_console}/roles"),
                    &[
                        ("csrf", &csrf),
                        ("site_id", &c.plant),
                        ("role", "supervisor"),
                    ],
                )
                .await;
            expect_done(&p, &format!("/admin/users/{by_console}?done=grant"));
        },
    )
    .await;
    let mut want = granted.to_vec();
    want.sort();
    for id in [&by_api, &by_console] {
        assert_eq!(memberships(&user_json(&app, &c.admin, id).await), want);
    }
    let shown = b
        .get(&format!("/admin/users/{by_console}?done=grant"))
        .await;
    assert!(shown.body.contains("The role was granted."));
    assert!(shown.body.contains(&format!(
        "data-site=\"{}\" data-role=\"supervisor\"",
        c.plant
    )));
    twins(
        &app,
        &c.admin,
        &org,
        "revoke a role",
        async {
            let res = app
                .put(
                    &format!("/v1/users/{by_api}/memberships"),
                    &c.admin,
                    &json!([{"site_id": c.workshop, "role": "inspector"}]),
                )
                .await;
            assert_eq!(res.status(), 200);
        },
        async {
            let p = b
                .post(
                    &format!("/admin/users/{by_console}/roles/revoke"),
                    &[("csrf", &csrf), ("site_id", &c.plant)],
                )
                .await;
            expect_done(&p, &format!("/admin/users/{by_console}?done=revoke"));
        },
    )
    .await;
    for id in [&by_api, &by_console] {
        assert_eq!(
            memberships(&user_json(&app, &c.admin, id).await),
            vec![(c.workshop.clone(), "inspector".to_string())]
        );
    }

    // A template: the mutation's audit entry and feed event, by the admin, like the API's.
    let admin_id = app.get_json("/v1/me", &c.admin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let landed = twins(
        &app,
        &c.admin,
        &org,
        "import a template",
        async {
            let t: Value = serde_json::from_slice(&template("confined-space-entry")).unwrap();
            app.post_ok("/v1/templates", &c.admin, &t, 201).await;
        },
        async {
            let p = b
                .upload(
                    "/admin/templates",
                    &[("csrf", &csrf)],
                    (
                        "file",
                        "fire-equipment-monthly.json",
                        &template("fire-equipment-monthly"),
                    ),
                )
                .await;
            expect_done(&p, "/admin/templates?done=published");
        },
    )
    .await;
    assert_eq!(landed.0, 1, "one audit entry");
    assert_eq!(
        landed.1,
        vec![("template.published".to_string(), admin_id.clone())]
    );
    let list = app.get_json("/v1/templates", &c.admin).await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "fire-equipment-monthly" && t["version"] == 1));
    let page = b.get("/admin/templates?done=published").await;
    assert!(page.body.contains("A new version was published."));
    assert!(page
        .body
        .contains("data-key=\"fire-equipment-monthly\" data-version=\"1\""));
    // The same file again publishes nothing, like the API's 200.
    let t0 = trail(&app, &c.admin, &org).await;
    let again = b
        .upload(
            "/admin/templates",
            &[("csrf", &csrf)],
            (
                "file",
                "fire-equipment-monthly.json",
                &template("fire-equipment-monthly"),
            ),
        )
        .await;
    expect_done(&again, "/admin/templates?done=unchanged");
    assert_eq!(trail(&app, &c.admin, &org).await, t0);
    // Without the CSRF token the upload is refused before anything happens.
    let forged = b
        .upload(
            "/admin/templates",
            &[("csrf", "forged-token-forged-token")],
            ("file", "hot-work-permit.json", &template("hot-work-permit")),
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(trail(&app, &c.admin, &org).await, t0);

    // A client: created (the secret shown once works at the token endpoint), then revoked.
    let mut console_client = (String::new(), String::new());
    twins(
        &app,
        &c.admin,
        &org,
        "create a client",
        async {
            app.post_ok(
                "/v1/clients",
                &c.admin,
                &json!({"name": "ERP", "scopes": ["hazards:read"]}),
                201,
            )
            .await;
        },
        async {
            let p = b
                .post(
                    "/admin/clients",
                    &[
                        ("csrf", &csrf),
                        ("name", "BI"),
                        ("scope", "hazards:read"),
                        ("scope", "events:read"),
                    ],
                )
                .await;
            assert_eq!(p.status, 200, "{}", p.body);
            let grab = |id: &str| {
                let at = p.body.find(&format!("id=\"{id}\">")).unwrap() + id.len() + 6;
                p.body[at..at + p.body[at..].find('<').unwrap()].to_string()
            };
            console_client = (grab("new-client-id"), grab("new-client-secret"));
        },
    )
    .await;
    let (client_id, secret) = console_client;
    let token = |id: String, secret: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/v1/auth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let res = token(client_id.clone(), secret.clone()).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "events:read hazards:read");
    // Shown once: the list does not carry it.
    let listed = b.get("/admin/clients").await;
    assert!(listed.body.contains(&client_id));
    assert!(!listed.body.contains(&secret));
    let api_client = app.get_json("/v1/clients", &c.admin).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ERP")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    twins(
        &app,
        &c.admin,
        &org,
        "revoke a client",
        async {
            let res = app
                .client
                .delete(app.url(&format!("/v1/clients/{api_client}")))
                .bearer_auth(&c.admin)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 204);
        },
        async {
            let p = b
                .post(
                    &format!("/admin/clients/{client_id}/revoke"),
                    &[("csrf", &csrf)],
                )
                .await;
            expect_done(&p, "/admin/clients?done=revoke");
        },
    )
    .await;
    assert_eq!(token(client_id.clone(), secret.clone()).await.status(), 401);

    // A webhook's delivery, redelivered: a new delivery of the same message, like the API's.
    let hook = app
        .post_ok(
            "/v1/webhooks",
            &c.admin,
            &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["hazard.reported"]}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    report(&app, &c, "Leaking valve", "general").await;
    let first = deliveries(&app, &hook, &c.admin).await;
    assert_eq!(first.len(), 1);
    let delivery = first[0]["id"].as_str().unwrap().to_string();
    let page = b.get(&format!("/admin/webhooks/{hook}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("data-delivery=\"{delivery}\"")));
    twins(
        &app,
        &c.admin,
        &org,
        "redeliver",
        async {
            app.post_ok(
                &format!("/v1/webhooks/{hook}/deliveries/{delivery}/redeliver"),
                &c.admin,
                &json!({}),
                202,
            )
            .await;
        },
        async {
            let p = b
                .post(
                    &format!("/admin/webhooks/{hook}/deliveries/{delivery}/redeliver"),
                    &[("csrf", &csrf)],
                )
                .await;
            expect_done(&p, &format!("/admin/webhooks/{hook}?done=redeliver"));
        },
    )
    .await;
    let after = deliveries(&app, &hook, &c.admin).await;
    assert_eq!(after.len(), 3);
    let redeliveries: Vec<&Value> = after
        .iter()
        .filter(|d| d["redelivery_of"] == delivery.as_str())
        .collect();
    assert_eq!(redeliveries.len(), 2);
    for d in redeliveries {
        assert_eq!(d["message_id"], first[0]["message_id"]);
    }

    // The ledger links answer the API's own exports to the session.
    let page = b.get("/admin/ledger").await;
    assert_eq!(page.status, 200);
    for link in [
        "/ledger/hazards.csv",
        "/ledger/hazards.xlsx",
        "/ledger/inspections.xlsx",
    ] {
        assert!(page.body.contains(&format!("href=\"{link}\"")), "{link}");
        let file = b.get(link).await;
        assert_eq!(file.status, 200, "{link}");
        assert_eq!(
            file.headers["content-security-policy"],
            hazardloop_console::layout::CSP
        );
    }
    let csv = b.get("/ledger/hazards.csv").await;
    assert!(csv.body.contains("Leaking valve"));
}

async fn admin_refusals_are_words_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let org = org_of(&app, &c.admin).await;
    let mut b = Browser::signed_in(&app, ADMIN_EMAIL).await;
    let csrf = b.get("/admin/users").await.csrf();
    let t0 = trail(&app, &c.admin, &org).await;
    let inspector = c.id("inspector").to_string();
    let before = user_json(&app, &c.admin, &inspector).await;

    // Admin is organisation-wide, not a site role: the API's refusal, in words.
    let p = b
        .post(
            &format!("/admin/users/{inspector}/roles"),
            &[("csrf", &csrf), ("site_id", &c.workshop), ("role", "admin")],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("id=\"admin-refused\""));
    assert!(p.body.contains("organisation-wide"), "{}", p.body);
    assert!(!p.body.contains("invalid_fields"), "no raw code");
    assert_eq!(user_json(&app, &c.admin, &inspector).await, before);

    // A client without scopes.
    let p = b
        .post("/admin/clients", &[("csrf", &csrf), ("name", "Nothing")])
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("id=\"admin-refused\""));
    assert!(p.body.contains("Scopes") || p.body.contains("scope"));
    // A file that is not JSON, and a template the engine refuses.
    let p = b
        .upload(
            "/admin/templates",
            &[("csrf", &csrf)],
            ("file", "x.json", b"not json"),
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("not JSON"));
    let p = b
        .upload(
            "/admin/templates",
            &[("csrf", &csrf)],
            ("file", "x.json", br#"{"key": "k", "title": "T", "sections": [{"title": "S", "items": [{"key": "a", "kind": "bogus"}]}]}"#),
        )
        .await;
    assert!(
        p.status == 422 || p.status == 400,
        "{} {}",
        p.status,
        p.body
    );
    assert!(p.body.contains("id=\"admin-refused\""));
    assert_eq!(trail(&app, &c.admin, &org).await, t0);
    assert!(app.get_json("/v1/clients", &c.admin).await["items"]
        .as_array()
        .unwrap()
        .is_empty());

    // Forms without the CSRF token are refused; a supervisor meets no administration at all.
    let p = b
        .post(
            &format!("/admin/users/{inspector}/roles"),
            &[("site_id", &c.plant), ("role", "manager")],
        )
        .await;
    assert_eq!(p.status, 403);
    let mut sup = Browser::signed_in(&app, "supervisor@example.com").await;
    let home = sup.get("/").await;
    assert!(!home.body.contains("href=\"/admin\""));
    assert!(b.get("/").await.body.contains("href=\"/admin\""));
    let sup_csrf = home.csrf();
    let p = sup
        .post(
            &format!("/admin/users/{inspector}/roles"),
            &[
                ("csrf", &sup_csrf),
                ("site_id", &c.plant),
                ("role", "manager"),
            ],
        )
        .await;
    assert_eq!(p.status, 404);
    assert_eq!(user_json(&app, &c.admin, &inspector).await, before);
    assert_eq!(trail(&app, &c.admin, &org).await, t0);
}

async fn times_and_months_follow_the_organisation_time_zone(backend: Backend) {
    use hazardloop_sync::period::Day;
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let org = org_of(&app, &c.admin).await;
    let set_zone = |zone: &'static str| {
        let (db, org) = (app.db.clone(), org.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                db.write_blocking(|c| hazardloop_storage::orgs::set_time_zone(c, &org, zone))
            })
            .await
            .unwrap()
            .unwrap();
        }
    };
    set_zone("America/New_York").await;
    let id = report(&app, &c, "Frayed cable", "general").await;
    assert_eq!(assign(&app, &c, &id, "supervisor").await.status(), 200);
    // 2030-07-01T02:30Z is 22:30 on June 30 in New York (summer time) and 10:30 on July 1 in
    // Shanghai.
    let res = app
        .post(
            &format!("/v1/hazards/{id}/extend_deadline"),
            c.token("supervisor"),
            &json!({"deadline": "2030-07-01T02:30:00Z", "reason": "parts"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut sup = Browser::signed_in(&app, "supervisor@example.com").await;
    let page = sup.get(&format!("/hazards/{id}")).await;
    assert!(page.body.contains("2030-06-30 22:30"), "{}", page.body);
    assert!(!page.body.contains("2030-07-01 10:30"));
    let list = sup.get("/hazards").await;
    assert!(list.body.contains("2030-06-30 22:30"));

    // A deadline typed in the console is read on New York's wall clock.
    let csrf = page.csrf();
    let p = sup
        .post(
            &format!("/hazards/{id}/extend_deadline"),
            &[
                ("csrf", &csrf),
                ("deadline", "2030-12-15T09:00"),
                ("reason", "winter"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    // Winter time: UTC-5.
    assert!(
        h["deadline"]
            .as_str()
            .unwrap()
            .starts_with("2030-12-15T14:00:00"),
        "{}",
        h["deadline"]
    );

    // The dashboard's months are New York's: a hazard reported two hours before this month
    // began there counts in the previous month, while in Shanghai it is this month already.
    let ny = hazardloop_sync::period::time_zone("America/New_York").unwrap();
    let now = hazardloop_storage::now_ms();
    let today = Day::of_instant(now, &ny).unwrap();
    let month_start = Day { day: 1, ..today }.start_in(&ny).unwrap();
    let reported = month_start - 2 * 3_600_000;
    let (db, hid) = (app.db.clone(), id.clone());
    tokio::task::spawn_blocking(move || {
        db.write_blocking(move |c| {
            use diesel::prelude::*;
            use hazardloop_storage::schema::hazards as h;
            diesel::update(h::table.find(&hid))
                .set(h::reported_at.eq(reported))
                .execute(c)?;
            Ok(())
        })
    })
    .await
    .unwrap()
    .unwrap();
    let reported_in = |body: &str, month: &str| -> String {
        let at = body
            .find(&format!("<tr data-month=\"{month}\""))
            .unwrap_or_else(|| panic!("no row for {month}"));
        let rest = &body[at..];
        let key = "class=\"reported\">";
        let n = rest.find(key).unwrap() + key.len();
        rest[n..n + rest[n..].find('<').unwrap()].to_string()
    };
    let label = |d: Day| format!("{:04}-{:02}", d.year, d.month);
    let this = label(today);
    let previous = label(Day::of_instant(month_start - 1, &ny).unwrap());
    let dash = sup.get("/dashboard").await;
    assert_eq!(reported_in(&dash.body, &previous), "1", "New York");
    assert_eq!(reported_in(&dash.body, &this), "0", "New York");
    set_zone("Asia/Shanghai").await;
    let shanghai = hazardloop_sync::period::time_zone("Asia/Shanghai").unwrap();
    let there = label(Day::of_instant(reported, &shanghai).unwrap());
    assert_eq!(there, this, "the instant is this month in Shanghai");
    let dash = sup.get("/dashboard").await;
    assert_eq!(reported_in(&dash.body, &this), "1", "Shanghai");
    let page = sup.get(&format!("/hazards/{id}")).await;
    assert!(
        page.body.contains("2030-12-15 22:00"),
        "Shanghai wall clock"
    );
}
