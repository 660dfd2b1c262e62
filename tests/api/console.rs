//! The web console over plain HTTP: sign-in and its lockout, the cookie session, CSRF,
//! headers, escaping, isolation, and console writes landing in the audit chain and the event
//! feed like the API's. (The browser walk-through is in `console_browser`.)

use std::collections::BTreeMap;

use hazardloop_storage::audit::{verify_chain, ChainReport};
use serde_json::{json, Value};

use crate::closed_loop::{assign, deadline, report};
use crate::helpers::{crew, spawn_app, Crew, TestApp, PASSWORD};
use crate::{both_backends, Backend};

both_backends!(
    sign_in_session_and_csrf_hold,
    pages_escape_and_isolate_like_the_api,
    console_commands_are_audited_like_their_api_twins,
);

pub const CSP: &str = hazardloop_console::layout::CSP;

/// A cookie-keeping client that does not follow redirects.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

/// An answer, read whole.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.base.clone(),
            client: crate::helpers::http_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let page = Page {
            status,
            headers,
            body: res.text().await.unwrap(),
        };
        for c in page.set_cookies() {
            let first = c.split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", "en")
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", "en")
            .form(fields)
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    /// POSTs a `multipart/form-data` form: `fields`, and one file.
    pub async fn upload(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Page {
        let boundary = format!("----hl{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        let (name, filename, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", "en")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    /// Signs in through the form; returns the answer to the POST.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.csrf();
        self.post(
            "/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// Signs in and checks it worked.
    pub async fn signed_in(app: &TestApp, email: &str) -> Browser {
        let mut b = Browser::new(app);
        let res = b.sign_in(email, PASSWORD).await;
        assert_eq!(res.status, 303, "{}", res.body);
        assert_eq!(res.location(), "/");
        b
    }
}

async fn org_of(app: &TestApp, token: &str) -> String {
    app.get_json("/v1/me", token).await["org_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A general hazard awaiting verification by `verifier`.
async fn awaiting(app: &TestApp, c: &Crew, title: &str) -> String {
    let id = report(app, c, title, "general").await;
    assert_eq!(assign(app, c, &id, "supervisor").await.status(), 200);
    let r = c.token("rectifier");
    app.post_ok(&format!("/v1/hazards/{id}/start"), r, &json!({}), 200)
        .await;
    app.post_ok(
        &format!("/v1/hazards/{id}/submit_rectification"),
        r,
        &json!({"note": "done", "after_photos": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]}),
        200,
    )
    .await;
    id
}

async fn sign_in_session_and_csrf_hold(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = awaiting(&app, &c, "Loose cable").await;
    let mut b = Browser::new(&app);

    // Not signed in: to the sign-in page; every answer carries the policy.
    let home = b.get("/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location(), "/login");
    let form = b.get("/login").await;
    assert_eq!(form.status, 200);
    for page in [&home, &form] {
        assert_eq!(page.headers["content-security-policy"], CSP);
    }
    assert!(CSP.contains("default-src 'self'") && !CSP.contains("unsafe-inline"));
    let csrf_cookie = form.set_cookies().join("\n");
    assert!(
        csrf_cookie.contains("hl_csrf=")
            && csrf_cookie.contains("HttpOnly")
            && csrf_cookie.contains("SameSite=Strict"),
        "{csrf_cookie}"
    );
    let token = form.csrf();

    // The sign-in form refuses a missing or wrong token, even with the right password.
    let email = "supervisor@example.com";
    let missing = b
        .post("/login", &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(missing.status, 403);
    let wrong = b
        .post(
            "/login",
            &[
                ("csrf", "x".repeat(43).as_str()),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert!(!b.cookies.contains_key("hl_session"));

    // A wrong password: the same words whether or not the address exists.
    let bad = b
        .post(
            "/login",
            &[
                ("csrf", &token),
                ("email", email),
                ("password", "nope-nope-nope"),
            ],
        )
        .await;
    assert_eq!(bad.status, 401);
    assert!(bad.body.contains("Wrong e-mail address or password."));

    // Signed in: an HttpOnly, SameSite session cookie.
    let ok = b.sign_in(email, PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let set = ok.set_cookies().join("\n");
    assert!(
        set.contains("hl_session=") && set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "plain HTTP without the setting: no Secure"
    );
    for path in [
        "/",
        "/hazards",
        &format!("/hazards/{id}"),
        "/static/console.css",
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert_eq!(p.headers["content-security-policy"], CSP, "{path}");
        assert_eq!(p.headers["x-content-type-options"], "nosniff", "{path}");
    }
    let detail = b.get(&format!("/hazards/{id}")).await;
    assert!(
        detail.body.contains("id=\"form-verify\""),
        "the supervisor may verify"
    );
    let csrf = detail.csrf();

    // A command without the token, or with another one, is refused and changes nothing.
    let path = format!("/hazards/{id}/verify");
    assert_eq!(b.post(&path, &[("note", "ok")]).await.status, 403);
    let other = "A".repeat(csrf.len());
    assert_eq!(
        b.post(&path, &[("csrf", &other), ("note", "ok")])
            .await
            .status,
        403
    );
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(h["state"], "awaiting_verification");

    // Sign-out revokes the session in the database: the old cookie no longer works.
    let session = b.cookies["hl_session"].clone();
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/login");
    let mut replay = Browser::new(&app);
    replay.cookies.insert("hl_session".into(), session);
    assert_eq!(replay.get("/").await.status, 303);

    // Idle and absolute limits, as the database judges them.
    let db = app.db.clone();
    let (idle, absolute) = (
        app.config.console_idle_secs * 1000,
        app.config.console_absolute_secs * 1000,
    );
    tokio::task::spawn_blocking(move || {
        db.write_blocking(|c| {
            use hazardloop_storage::console_sessions as cs;
            let me = hazardloop_storage::users::find_active_by_email(c, "verifier@example.com")?
                .unwrap();
            let t0 = hazardloop_storage::now_ms();
            cs::create(
                c,
                "token-of-a-test-session-000000000000",
                &me.id,
                &me.org_id,
                "csrf",
                t0,
                absolute,
            )?;
            let live = |c: &mut hazardloop_storage::DbConn, at: i64| {
                cs::find_live(c, "token-of-a-test-session-000000000000", at, idle)
                    .map(|s| s.is_some())
            };
            assert!(live(c, t0 + idle)?, "live until the idle limit");
            assert!(!live(c, t0 + idle + 1)?, "idle too long");
            // Busy all along: still ends at the absolute limit.
            let mut at = t0;
            while at + idle < t0 + absolute {
                at += idle;
                cs::touch(
                    c,
                    &hazardloop_storage::tokens::hash_token("token-of-a-test-session-000000000000"),
                    at,
                )?;
            }
            assert!(live(c, t0 + absolute - 1)?);
            assert!(!live(c, t0 + absolute)?, "past the absolute end");
            Ok(())
        })
    })
    .await
    .unwrap()
    .unwrap();

    // The same lockout as the API: failures through the console lock the API sign-in too.
    let mut m = Browser::new(&app);
    for _ in 0..app.config.login_max_failures {
        m.sign_in("manager@example.com", "wrong-password-1").await;
    }
    let locked = m.sign_in("manager@example.com", PASSWORD).await;
    assert_eq!(locked.status, 401);
    assert!(
        locked.body.contains("Too many failed sign-ins"),
        "{}",
        locked.body
    );
    assert_eq!(
        app.login("manager@example.com", PASSWORD).await.status(),
        429
    );
}

async fn pages_escape_and_isolate_like_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let xss = "<img src=x onerror=alert(1)>";
    let id = app
        .post_ok(
            "/v1/hazards",
            c.token("inspector"),
            &json!({"site_id": c.workshop, "title": xss, "category": "unsafe_condition",
                    "grade": "general", "description": "</textarea><script>alert(2)</script>"}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut sup = Browser::signed_in(&app, "supervisor@example.com").await;
    for path in [
        format!("/hazards/{id}"),
        "/hazards".to_string(),
        "/".to_string(),
    ] {
        let p = sup.get(&path).await;
        assert_eq!(p.status, 200);
        assert!(
            p.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{path}"
        );
        assert!(!p.body.contains(xss), "{path}");
        assert!(!p.body.contains("<script>"), "{path}");
    }

    // Another organisation's admin: 404 for the page, the command and the photos, the same
    // answer as a random id.
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
    })
    .await
    .unwrap()
    .unwrap();
    let random = uuid::Uuid::now_v7().to_string();
    for who in ["boss@other.example", "outsider@example.com"] {
        let mut b = Browser::signed_in(&app, who).await;
        let csrf = b.get("/").await.csrf();
        let mine = b.get(&format!("/hazards/{id}")).await;
        let none = b.get(&format!("/hazards/{random}")).await;
        assert_eq!(mine.status, 404, "{who}");
        assert_eq!(mine.body, none.body, "{who}");
        let cmd = b
            .post(
                &format!("/hazards/{id}/cancel"),
                &[("csrf", &csrf), ("reason", "mine now")],
            )
            .await;
        assert_eq!(cmd.status, 404, "{who}");
        let list = b.get("/hazards").await;
        assert!(
            !list.body.contains(&id),
            "{who} sees the hazard in the list"
        );
        let photo = b
            .get("/photos/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/thumbnail")
            .await;
        assert_eq!(photo.status, 404, "{who}");
    }
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(h["state"], "reported");
}

async fn console_commands_are_audited_like_their_api_twins(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let by_console = awaiting(&app, &c, "Verified in the console").await;
    let by_api = awaiting(&app, &c, "Verified through the API").await;

    // The rectifier is not offered verify (and could not: they submitted it).
    let mut rect = Browser::signed_in(&app, "rectifier@example.com").await;
    let page = rect.get(&format!("/hazards/{by_console}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("id=\"form-verify\""));

    let mut sup = Browser::signed_in(&app, "supervisor@example.com").await;
    let page = sup.get(&format!("/hazards/{by_console}")).await;
    let csrf = page.csrf();
    let done = sup
        .post(
            &format!("/hazards/{by_console}/verify"),
            &[("csrf", &csrf), ("note", "Looks right")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location(),
        format!("/hazards/{by_console}?done=verify")
    );
    let shown = sup.get(done.location()).await;
    assert!(shown.body.contains("Done: Verify and close."));
    app.post_ok(
        &format!("/v1/hazards/{by_api}/verify"),
        c.token("supervisor"),
        &json!({"note": "Looks right"}),
        200,
    )
    .await;

    // The same event, actor, states and payload in the feed as the API's twin.
    let org = org_of(&app, &c.admin).await;
    let feed = app
        .get_json("/v1/events?types=hazard.verified", &c.admin)
        .await;
    let items = feed["items"].as_array().unwrap();
    let of = |id: &str| -> Value {
        items
            .iter()
            .find(|e| e["hazard_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no hazard.verified for {id} in {feed}"))
    };
    let (ours, theirs) = (of(&by_console), of(&by_api));
    for k in ["type", "actor_id", "from_state", "to_state", "site_id"] {
        assert_eq!(ours[k], theirs[k], "{k}");
    }
    // The same payload but for the hazard it names.
    let strip = |mut v: Value| {
        v["payload"].as_object_mut().unwrap().remove("hazard_id");
        v["payload"].clone()
    };
    assert_eq!(ours["payload"]["hazard_id"], by_console.as_str());
    assert_eq!(strip(ours.clone()), strip(theirs.clone()));
    assert_eq!(ours["actor_id"], c.id("supervisor"));
    assert_eq!(ours["to_state"], "closed");
    let db = app.db.clone();
    let report = tokio::task::spawn_blocking(move || db.read_blocking(|c| verify_chain(c, &org)))
        .await
        .unwrap()
        .unwrap();
    // Two hazards, five events each (the console's verify among them), chain intact.
    assert!(matches!(report, ChainReport::Intact(10)), "{report:?}");

    // A major hazard assigned without the 五落实: each missing part named next to its input,
    // in words, and nothing changes.
    let major = report_major(&app, &c).await;
    let mut mgr = Browser::signed_in(&app, "manager@example.com").await;
    let page = mgr.get(&format!("/hazards/{major}")).await;
    let csrf = page.csrf();
    let refused = mgr
        .post(
            &format!("/hazards/{major}/assign"),
            &[
                ("csrf", &csrf),
                ("owner_id", c.id("rectifier")),
                ("verifier_id", c.id("verifier")),
                ("deadline", "2030-01-01T12:00"),
                ("measures", "Replace the valve"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("Some required fields are missing"));
    assert!(!refused.body.contains("missing_fields"), "no raw code");
    for part in [
        "responsible_person",
        "measures",
        "funds",
        "deadline",
        "contingency_plan",
    ] {
        assert!(
            refused
                .body
                .contains(&format!("id=\"assign-five-{part}-error\"")),
            "{part} not named"
        );
    }
    assert!(!refused.body.contains("id=\"assign-owner_id-error\""));
    // What was typed stays.
    assert!(refused.body.contains("Replace the valve"));
    let h = app
        .get_json(&format!("/v1/hazards/{major}"), c.token("manager"))
        .await;
    assert_eq!(h["state"], "reported");
    let _ = deadline(1);
}

async fn report_major(app: &TestApp, c: &Crew) -> String {
    report(app, c, "Gas line corroded", "major").await
}
