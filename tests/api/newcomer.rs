//! The newcomer's commands, run as the real binary: `serve --demo` (the product in one
//! command, twice), `seed demo` twice, and `user add` naming its organisation.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hazardloop_api::demo::DEMO_PASSWORD;
use hazardloop_storage::{orgs, Db, DbSettings};
use serde_json::{json, Value};

use crate::helpers::database_url_for;
use crate::{both_backends, Backend};

both_backends!(
    serve_demo_seeds_an_empty_database_once_and_prints_where_to_go_and_who_to_be,
    seed_demo_twice_says_the_demo_exists_and_user_add_names_its_organisation,
);

/// The binary with a data folder and database of its own, quiet logs.
fn hazardloop(dir: &std::path::Path, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hazardloop"));
    cmd.env_remove("HAZARDLOOP_CONFIG")
        .env("HAZARDLOOP_DATA_DIR", dir)
        .env("DATABASE_URL", url)
        .env("HAZARDLOOP_LOG", "error")
        .env("HAZARDLOOP_WORKERS", "2")
        .env("HAZARDLOOP_OVERDUE_SCAN_INTERVAL_SECS", "0");
    cmd
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --demo` on a free port and returns it with what it printed: every line up to
/// and including the demo accounts (or the line saying there is no demo).
fn serve_demo(dir: &std::path::Path, url: &str) -> (Server, Vec<String>) {
    let mut child = hazardloop(dir, url)
        .args(["serve", "--demo"])
        .env("HAZARDLOOP_BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server binary");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server { child };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("serve --demo printed {lines:?}, then {e}"));
        lines.push(line);
        let accounts = lines.iter().filter(|l| l.starts_with("  ")).count();
        if accounts == 5 || lines.iter().any(|l| l.contains("no demo was created")) {
            return (server, lines);
        }
    }
}

/// The `http://host:port` the server said it runs at.
fn base_of(lines: &[String]) -> String {
    let first = lines
        .iter()
        .find_map(|l| l.strip_prefix("HazardLoop is running at "))
        .unwrap_or_else(|| panic!("no address in {lines:?}"));
    first
        .split_whitespace()
        .next()
        .expect("an address")
        .to_string()
}

/// `(role, email, password)` of each printed account.
fn accounts_of(lines: &[String]) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "{l}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became ready");
}

/// Signs in and returns the access token.
async fn sign_in(client: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let res = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), 200, "sign-in of {email}");
    let body: Value = res.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_string()
}

/// Hazard titles a supervisor sees, sorted.
async fn hazard_titles(client: &reqwest::Client, base: &str, token: &str) -> Vec<String> {
    let body: Value = client
        .get(format!("{base}/v1/hazards?limit=100"))
        .bearer_auth(token)
        .send()
        .await
        .expect("hazards")
        .json()
        .await
        .expect("json");
    let mut titles: Vec<String> = body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|h| h["title"].as_str().unwrap_or_default().to_string())
        .collect();
    titles.sort();
    titles
}

/// The organisations' names in the database.
async fn org_names(url: &str) -> Vec<String> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, &DbSettings::default()).expect("connect");
        let list = db.read_blocking(orgs::list).expect("orgs");
        list.into_iter().map(|o| o.name).collect()
    })
    .await
    .expect("orgs")
}

const SUPERVISOR: &str = "supervisor@demochemicals.example";

async fn serve_demo_seeds_an_empty_database_once_and_prints_where_to_go_and_who_to_be(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url_for(backend, dir.path());
    let client = crate::helpers::http_client()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let (server, lines) = serve_demo(dir.path(), &url);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("demo organisation \"Demo Chemicals\" created")),
        "{lines:?}"
    );
    let accounts = accounts_of(&lines);
    let roles: Vec<&str> = accounts.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(
        roles,
        ["admin", "manager", "supervisor", "inspector", "rectifier"]
    );
    assert!(
        accounts.iter().all(|a| a.2 == DEMO_PASSWORD),
        "{accounts:?}"
    );
    let base = base_of(&lines);
    wait_ready(&client, &base).await;
    // Every printed account signs in with the printed password.
    for (_, email, password) in &accounts {
        sign_in(&client, &base, email, password).await;
    }
    let token = sign_in(&client, &base, SUPERVISOR, DEMO_PASSWORD).await;
    let first = hazard_titles(&client, &base, &token).await;
    assert_eq!(first.len(), 7, "a hazard in every state: {first:?}");
    drop(server);

    // Again: the database is kept as it is, and says so.
    let (server, lines) = serve_demo(dir.path(), &url);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("demo organisation \"Demo Chemicals\" kept as it is")),
        "{lines:?}"
    );
    assert_eq!(accounts_of(&lines), accounts);
    let base = base_of(&lines);
    wait_ready(&client, &base).await;
    let token = sign_in(&client, &base, SUPERVISOR, DEMO_PASSWORD).await;
    assert_eq!(hazard_titles(&client, &base, &token).await, first);
    drop(server);
    assert_eq!(org_names(&url).await, ["Demo Chemicals"]);
}

/// Runs a command to its end: (exit success, stdout, stderr).
fn run(mut cmd: Command, stdin: &str) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn seed_demo_twice_says_the_demo_exists_and_user_add_names_its_organisation(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url_for(backend, dir.path());
    let (d, u) = (dir.path().to_path_buf(), url.clone());
    let outputs = tokio::task::spawn_blocking(move || {
        // On an empty database, user add creates the organisation and says so.
        let mut add = hazardloop(&d, &u);
        add.args([
            "user",
            "add",
            "--email",
            "first@example.com",
            "--name",
            "First",
        ]);
        let first = run(add, "first-password-1\n");
        let mut seed = hazardloop(&d, &u);
        seed.args(["seed", "demo"]);
        let seeded = run(seed, "");
        let mut seed = hazardloop(&d, &u);
        seed.args(["seed", "demo"]);
        let again = run(seed, "");
        // Several organisations now: user add names the one it used.
        let mut add = hazardloop(&d, &u);
        add.args([
            "user",
            "add",
            "--email",
            "second@example.com",
            "--name",
            "Second",
        ]);
        add.args(["--org", "Demo Chemicals"]);
        let second = run(add, "second-password-1\n");
        (first, seeded, again, second)
    })
    .await
    .unwrap();
    let (first, seeded, again, second) = outputs;
    assert!(first.0, "{first:?}");
    assert!(
        first
            .1
            .contains("in the new organisation \"Default organisation\""),
        "{first:?}"
    );
    assert!(seeded.0, "{seeded:?}");
    assert!(
        seeded
            .1
            .contains("demo organisation \"Demo Chemicals\" created"),
        "{seeded:?}"
    );
    assert!(again.0, "the second seed must succeed: {again:?}");
    assert!(
        again
            .1
            .contains("demo organisation \"Demo Chemicals\" exists already"),
        "{again:?}"
    );
    assert!(
        !again.2.contains("panicked") && !again.2.contains("Backtrace"),
        "{again:?}"
    );
    // The accounts it prints are the same as the first time.
    let accounts = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("  "))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(accounts(&again.1), accounts(&seeded.1));
    assert_eq!(accounts(&seeded.1).len(), 5);
    assert!(second.0, "{second:?}");
    assert!(
        second.1.contains("in the organisation \"Demo Chemicals\""),
        "{second:?}"
    );
    let mut names = org_names(&url).await;
    names.sort();
    assert_eq!(names, ["Default organisation", "Demo Chemicals"]);
}
