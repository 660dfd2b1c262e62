//! The console in a real headless Chromium, driven over WebDriver (Debian's chromedriver):
//! one browser session walks the supervisor's, the rectifier's and the manager's work on the
//! demo organisation, and leaves a screenshot of each page under
//! `target/console-screenshots/`.
//!
//! Without chromedriver the test says so and passes, except under `CI=true`, where a missing
//! browser is a failure (CI installs it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::photos::{noise_png, sha};
use crate::Backend;

const DEMO_ORG: &str = "Demo Co";

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    path.exists().then_some(path)
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(path: &std::path::Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not start listening on port {port}");
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,1400",
        "--lang=en-US",
    ];
    if std::env::var_os("CONSOLE_BROWSER_HEADED").is_some() {
        args.retain(|a| *a != "--headless=new");
    }
    let mut chrome = json!({ "args": args });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = json!("/usr/bin/chromium");
    }
    caps.insert("goog:chromeOptions".into(), chrome);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session in Chromium")
}

fn shots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

async fn shot(b: &Client, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// How long a page may take to arrive after a click; a click that follows a link or submits a
/// form can return before the next page has loaded.
const PAGE_WAIT: Duration = Duration::from_secs(15);

/// Waits until the browser shows a loaded page at `path`.
async fn wait_for_path(b: &Client, path: &str) {
    let mut seen = String::new();
    for _ in 0..150 {
        seen = b.current_url().await.unwrap().path().to_string();
        let ready = b
            .execute("return document.readyState;", vec![])
            .await
            .unwrap_or(Value::Null);
        if seen == path && ready == json!("complete") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page at {path} never arrived; the browser is at {seen}");
}

/// Waits until the page's language is `lang`.
async fn wait_for_lang(b: &Client, lang: &str) {
    let mut seen = Value::Null;
    for _ in 0..150 {
        seen = b
            .execute("return document.documentElement.lang;", vec![])
            .await
            .unwrap_or(Value::Null);
        if seen == json!(lang) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page's language never became {lang}; it is {seen}");
}

async fn text(b: &Client, css: &str) -> String {
    b.wait()
        .at_most(PAGE_WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Clicks the element with this id.
async fn click(b: &Client, id: &str) {
    b.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Types `keys` into the input with this id.
async fn fill(b: &Client, id: &str, keys: &str) {
    b.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .send_keys(keys)
        .await
        .unwrap();
}

/// Chooses the option with this value in the select with this id.
async fn choose(b: &Client, id: &str, value: &str) {
    b.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .select_by_value(value)
        .await
        .unwrap();
}

async fn sign_in(b: &Client, app: &TestApp, role: &str) {
    b.goto(&app.url("/")).await.unwrap();
    assert!(b.current_url().await.unwrap().path() == "/login");
    let email = format!("{role}@democo.example");
    fill(b, "email", &email).await;
    fill(b, "password", hazardloop_api::demo::DEMO_PASSWORD).await;
    click(b, "sign-in").await;
    wait_for_path(b, "/").await;
}

async fn sign_out(b: &Client) {
    click(b, "sign-out").await;
    wait_for_path(b, "/login").await;
}

/// The demo user's id and API token.
async fn demo_token(app: &TestApp, role: &str) -> (String, String) {
    let res = app
        .login(
            &format!("{role}@democo.example"),
            hazardloop_api::demo::DEMO_PASSWORD,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    (
        body["user_id"].as_str().unwrap().to_string(),
        body["access_token"].as_str().unwrap().to_string(),
    )
}

/// Waits until the thumbnail of a photo has been made by the background worker.
async fn thumbnail_ready(app: &TestApp, token: &str, id: &str) {
    for _ in 0..400 {
        let res = app.get(&format!("/v1/photos/{id}/thumbnail"), token).await;
        if res.status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the thumbnail of {id} was never made");
}

/// A demo hazard awaiting verification with a real before and a real after photo.
async fn hazard_with_photos(app: &TestApp) -> String {
    let (_, insp) = demo_token(app, "inspector").await;
    let (rect_id, rect) = demo_token(app, "rectifier").await;
    let (sup_id, sup) = demo_token(app, "supervisor").await;
    let site = app.get_json("/v1/hazards?limit=1", &insp).await["items"][0]["site_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = noise_png(64, 11);
    let after = noise_png(64, 12);
    let (before_id, after_id) = (sha(&before), sha(&after));
    assert!(app
        .put_photo(&insp, &before_id, before)
        .await
        .status()
        .is_success());
    let id = app
        .post_ok(
            "/v1/hazards",
            &insp,
            &json!({"site_id": site, "title": "Cracked ladder rung", "category": "unsafe_condition",
                    "grade": "general", "risk": "orange", "location": "Bay 5",
                    "photos": [before_id]}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_ok(
        &format!("/v1/hazards/{id}/assign"),
        &sup,
        &json!({"owner_id": rect_id, "verifier_id": sup_id,
                "deadline": crate::closed_loop::deadline(3), "measures": "Replace the ladder"}),
        200,
    )
    .await;
    app.post_ok(&format!("/v1/hazards/{id}/start"), &rect, &json!({}), 200)
        .await;
    assert!(app
        .put_photo(&rect, &after_id, after)
        .await
        .status()
        .is_success());
    app.post_ok(
        &format!("/v1/hazards/{id}/submit_rectification"),
        &rect,
        &json!({"note": "New ladder", "after_photos": [after_id]}),
        200,
    )
    .await;
    thumbnail_ready(app, &sup, &before_id).await;
    thumbnail_ready(app, &sup, &after_id).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_a_rectifier_and_a_manager_work_in_the_console() {
    let Some(path) = chromedriver() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromedriver is missing under CI (install chromium and chromium-driver)");
        }
        eprintln!(
            "SKIPPED console browser test: no chromedriver at /usr/bin/chromedriver (or \
             $CHROMEDRIVER); apt-get install chromium chromium-driver to run it"
        );
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || hazardloop_api::demo::seed(&db, DEMO_ORG))
        .await
        .unwrap()
        .expect("demo seed");
    let hazard = hazard_with_photos(&app).await;
    let (_, insp) = demo_token(&app, "inspector").await;
    let major = app
        .post_ok(
            "/v1/hazards",
            &insp,
            &json!({"site_id": app.get_json(&format!("/v1/hazards/{hazard}"), &insp).await["site_id"],
                    "title": "Pressure vessel valve leaking", "category": "unsafe_condition",
                    "grade": "major", "risk": "red"}),
            201,
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let driver = start_driver(&path).await;
    let b = browser(&driver).await;
    let walk = async {
        // The supervisor: sign in, my work, the hazard with both photos, verify.
        b.goto(&app.url("/login")).await.unwrap();
        shot(&b, "01-sign-in").await;
        sign_in(&b, &app, "supervisor").await;
        assert!(
            text(&b, "#count-to-verify").await.starts_with('2'),
            "two to verify"
        );
        shot(&b, "02-my-work").await;
        b.goto(&app.url("/hazards?state=awaiting_verification"))
            .await
            .unwrap();
        shot(&b, "03-hazards").await;
        b.find(Locator::LinkText("Cracked ladder rung"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_path(&b, &format!("/hazards/{hazard}")).await;
        for side in ["#photos-before img", "#photos-after img"] {
            let img = b.find(Locator::Css(side)).await.unwrap();
            let arg = vec![serde_json::to_value(&img).unwrap()];
            let mut width = 0;
            // Until the browser has the picture (a wait, not a timing assertion).
            for _ in 0..100 {
                let w = b
                    .execute(
                        "return arguments[0].complete ? arguments[0].naturalWidth : 0;",
                        arg.clone(),
                    )
                    .await
                    .unwrap();
                width = w.as_u64().unwrap_or(0);
                if width > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(width > 0, "{side} shows a picture");
        }
        shot(&b, "04-hazard-awaiting-verification").await;
        fill(&b, "verify-note", "Ladder replaced").await;
        click(&b, "run-verify").await;
        assert!(text(&b, "#command-done").await.contains("Verify and close"));
        assert_eq!(text(&b, "#hazard-state").await.trim(), "Closed");
        shot(&b, "05-hazard-verified").await;
        // The display-size picture behind the thumbnail.
        b.goto(&app.url(&format!("/hazards/{hazard}")))
            .await
            .unwrap();
        sign_out(&b).await;

        // The rectifier: verify is not offered on what they submitted.
        sign_in(&b, &app, "rectifier").await;
        b.goto(&app.url("/hazards?state=awaiting_verification"))
            .await
            .unwrap();
        b.find(Locator::LinkText("Oil spill near press"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        // The hazard's page, not the list it was opened from.
        text(&b, "#hazard-state").await;
        assert!(
            b.find(Locator::Id("form-verify")).await.is_err(),
            "verify offered to the rectifier"
        );
        shot(&b, "06-rectifier-no-verify").await;
        sign_out(&b).await;

        // The manager: assign a major hazard without the 五落实.
        sign_in(&b, &app, "manager").await;
        b.goto(&app.url(&format!("/hazards/{major}")))
            .await
            .unwrap();
        let (rect_id, _) = demo_token(&app, "rectifier").await;
        let (sup_id, _) = demo_token(&app, "supervisor").await;
        choose(&b, "assign-owner_id", &rect_id).await;
        choose(&b, "assign-verifier_id", &sup_id).await;
        fill(&b, "assign-measures", "Replace the valve").await;
        click(&b, "run-assign").await;
        assert!(text(&b, "#command-refused")
            .await
            .contains("Some required fields are missing"));
        for part in [
            "responsible_person",
            "measures",
            "funds",
            "deadline",
            "contingency_plan",
        ] {
            let words = text(&b, &format!("#assign-five-{part}-error")).await;
            assert!(words.contains("Required"), "{part}: {words}");
        }
        shot(&b, "07-major-assign-refused").await;

        // 中文.
        click(&b, "switch-language").await;
        wait_for_lang(&b, "zh-CN").await;
        wait_for_path(&b, &format!("/hazards/{major}")).await;
        assert!(text(&b, "#sign-out").await.contains("退出登录"));
        assert!(text(&b, "#form-assign h3").await.contains("指派"));
        shot(&b, "08-zh-CN").await;
        b.goto(&app.url("/")).await.unwrap();
        shot(&b, "09-my-work-zh-CN").await;
        sign_out(&b).await;
        shot(&b, "10-signed-out").await;

        // The admin: every administration page, a role granted, a template imported from a
        // file, a client created.
        sign_in(&b, &app, "admin").await;
        // The language chosen before stays with the browser.
        click(&b, "switch-language").await;
        wait_for_lang(&b, "en").await;
        b.goto(&app.url("/admin")).await.unwrap();
        wait_for_path(&b, "/admin/sites").await;
        assert!(text(&b, "#site-tree").await.contains("Welding workshop"));
        shot(&b, "11-admin-sites").await;
        b.goto(&app.url("/admin/users")).await.unwrap();
        shot(&b, "12-admin-users").await;
        let (insp_id, _) = demo_token(&app, "inspector").await;
        b.goto(&app.url(&format!("/admin/users/{insp_id}")))
            .await
            .unwrap();
        let site = app.get_json(&format!("/v1/hazards/{hazard}"), &insp).await["site_id"]
            .as_str()
            .unwrap()
            .to_string();
        choose(&b, "grant-site", &site).await;
        choose(&b, "grant-role", "supervisor").await;
        click(&b, "grant").await;
        assert!(text(&b, "#admin-done").await.contains("granted"));
        shot(&b, "13-admin-role-granted").await;
        let file = shots_dir().join("browser-template.json");
        std::fs::write(
            &file,
            json!({"key": "ladder-check", "title": "Ladder check", "sections": [{"title": "Ladder",
                   "items": [{"key": "rungs", "kind": "yes_no", "prompt": "Rungs intact?"}]}]})
            .to_string(),
        )
        .unwrap();
        b.goto(&app.url("/admin/templates")).await.unwrap();
        fill(&b, "template-file", file.to_str().unwrap()).await;
        click(&b, "import-template").await;
        assert!(text(&b, "#admin-done").await.contains("published"));
        assert!(text(&b, "#template-list").await.contains("Ladder check"));
        shot(&b, "14-admin-templates").await;
        b.goto(&app.url("/admin/clients")).await.unwrap();
        fill(&b, "client-name", "Regulator platform").await;
        click(&b, "scope-hazards-read").await;
        click(&b, "create-client").await;
        assert!(text(&b, "#new-client-secret").await.starts_with("hlcs_"));
        shot(&b, "15-admin-client-created").await;
        b.goto(&app.url("/admin/webhooks")).await.unwrap();
        shot(&b, "16-admin-webhooks").await;
        b.goto(&app.url("/admin/ledger")).await.unwrap();
        text(&b, "#ledger-links").await;
        shot(&b, "17-admin-ledger").await;
        // A phone-sized screen.
        b.set_window_size(390, 844).await.unwrap();
        b.goto(&app.url(&format!("/hazards/{hazard}")))
            .await
            .unwrap();
        text(&b, "#hazard-state").await;
        shot(&b, "18-phone-hazard").await;
        b.goto(&app.url("/admin/users")).await.unwrap();
        text(&b, "#user-list").await;
        shot(&b, "19-phone-admin-users").await;
        sign_out(&b).await;
    };
    // Close the browser whatever happened, then report.
    let result = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(walk)).await;
    let _ = b.clone().close().await;
    drop(driver);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    let h = app
        .get_json(
            &format!("/v1/hazards/{hazard}"),
            &demo_token(&app, "supervisor").await.1,
        )
        .await;
    assert_eq!(h["state"], "closed");
}
