//! `spawn_app()`: a migrated database of the chosen backend, the real server on port 0, an
//! organisation with an admin, and a client.

use std::sync::Once;

use diesel::{Connection, PgConnection, RunQueryDsl};
use hazardloop_api::{bootstrap, Application, Config};
use hazardloop_storage::{migrate, Db, DbSettings};
use hazardloop_sync::Role;
use serde_json::{json, Value};

use crate::contract::checked;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The admin every test app starts with.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// Every test user's password.
pub const PASSWORD: &str = "correct-horse-battery";

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub config: Config,
    /// The folder on disk where blobs end up (the local store's root, or the bucket's folder
    /// inside the S3 server's root), so tests can count what was really stored.
    pub blob_root: std::path::PathBuf,
    /// The S3 server of this test, when it uses one; stopped when the app is dropped.
    pub s3: Option<crate::s3::S3Server>,
    _dir: tempfile::TempDir,
}

fn pg_admin_url() -> String {
    crate::pg_cluster::admin_url()
}

fn drop_stale_pg_databases() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(mut conn) = PgConnection::establish(&pg_admin_url()) else {
            return;
        };
        #[derive(diesel::QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            datname: String,
        }
        // Databases of earlier runs (older than an hour, by the time in their name).
        let cutoff = hazardloop_storage::now_ms() - 3_600_000;
        let names: Vec<Name> =
            diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'hl\\_test\\_%'")
                .load(&mut conn)
                .unwrap_or_default();
        for n in names {
            let ts = n
                .datname
                .split('_')
                .nth(2)
                .and_then(|t| t.parse::<i64>().ok());
            if ts.is_some_and(|t| t < cutoff) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{}\"", n.datname))
                    .execute(&mut conn);
            }
        }
    });
}

/// A fresh database of the backend (a file in `dir` for SQLite).
pub fn database_url_for(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => dir.join("test.db").to_string_lossy().into_owned(),
        Backend::Postgres => {
            drop_stale_pg_databases();
            let name = format!(
                "hl_test_{}_{}",
                hazardloop_storage::now_ms(),
                uuid::Uuid::new_v4().simple()
            );
            let admin = pg_admin_url();
            let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
                panic!("cannot connect to the test PostgreSQL at {admin}: {e}")
            });
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .expect("create test database");
            let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
            format!("{base}/{name}")
        }
    }
}

/// Starts a server on a fresh database with one organisation and its admin.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with the configuration adjusted first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(backend, None, adjust).await
}

/// Like [`spawn_app_with`], with photos on the given S3 server (or the local folder).
pub async fn spawn_app_on(
    backend: Backend,
    s3: Option<crate::s3::S3Server>,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database_url_for(backend, dir.path());
    let mut config = Config {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(url.clone()),
        workers: 2,
        db_max_connections: 4,
        jobs_poll_ms: 50,
        ..Config::default()
    };
    if let Some(s3) = &s3 {
        s3.configure(&mut config);
    }
    adjust(&mut config);
    let blob_root = match &s3 {
        Some(s3) => s3.bucket_dir(),
        None => config
            .blob_dir
            .clone()
            .unwrap_or_else(|| config.data_dir.join("blobs")),
    };
    // The configuration as adjusted: a test may point the server at another address of the
    // same database (a proxy it controls) or change the pool's timeout.
    let url = config.database_url();
    let settings = DbSettings {
        max_connections: 4,
        ..config.db_settings()
    };
    let (db, config) = tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, &settings).expect("connect");
        migrate::run_pending(&db).expect("migrate");
        bootstrap::add_user(
            &db,
            Some("Acme"),
            ADMIN_EMAIL,
            "Ada Admin",
            PASSWORD,
            Role::Admin,
            None,
        )
        .expect("admin");
        (db, config)
    })
    .await
    .expect("setup");
    let app =
        Application::build_mounted(config.clone(), db.clone(), Some(hazardloop_console::MOUNT))
            .expect("build app");
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: http_client().build().expect("http client"),
        db,
        config,
        blob_root,
        s3,
        _dir: dir,
    }
}

impl TestApp {
    /// Absolute URL for a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Signs in; returns the whole token response.
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        let res = self
            .client
            .post(self.url("/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request");
        checked("POST", "/v1/auth/login", res).await
    }

    /// Signs in and returns the access token, panicking on failure.
    pub async fn token(&self, email: &str) -> String {
        let res = self.login(email, PASSWORD).await;
        assert_eq!(res.status(), 200, "login of {email} failed");
        let body: Value = res.json().await.expect("json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// The admin's access token.
    pub async fn admin_token(&self) -> String {
        self.token(ADMIN_EMAIL).await
    }

    /// GET with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        let res = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        checked("GET", path, res).await
    }

    /// POST JSON with a bearer token.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        let res = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST");
        checked("POST", path, res).await
    }

    /// PUT JSON with a bearer token.
    pub async fn put(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        let res = self
            .client
            .put(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("PUT");
        checked("PUT", path, res).await
    }

    /// Creates a site as admin and returns its id.
    pub async fn site(&self, admin: &str, name: &str, parent: Option<&str>) -> String {
        let res = self
            .post(
                "/v1/sites",
                admin,
                &json!({"name": name, "kind": "plant", "parent_id": parent}),
            )
            .await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.expect("json");
        body["id"].as_str().expect("id").to_string()
    }

    /// Creates a user with a role at a site (or an admin when `role` is "admin") and returns
    /// their id.
    pub async fn user(&self, admin: &str, email: &str, role: &str, site: Option<&str>) -> String {
        let memberships = match site {
            Some(s) if role != "admin" => json!([{"site_id": s, "role": role}]),
            _ => json!([]),
        };
        let res = self
            .post(
                "/v1/users",
                admin,
                &json!({"email": email, "name": email, "password": PASSWORD,
                        "is_admin": role == "admin", "memberships": memberships}),
            )
            .await;
        assert_eq!(res.status(), 201, "create user {email}");
        let body: Value = res.json().await.expect("json");
        body["id"].as_str().expect("id").to_string()
    }
}

/// Asserts a problem+json answer with the status and code; returns the body.
pub async fn assert_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status for expected {code}");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}"
    );
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

/// PATCH JSON with a bearer token and optional If-Match.
impl TestApp {
    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(body);
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        let res = req.send().await.expect("PATCH");
        checked("PATCH", path, res).await
    }

    /// DELETE with a bearer token.
    pub async fn delete(&self, path: &str, token: &str) -> reqwest::Response {
        let res = self
            .client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("DELETE");
        checked("DELETE", path, res).await
    }

    /// POST JSON and return the JSON body, asserting the status.
    pub async fn post_ok(&self, path: &str, token: &str, body: &Value, status: u16) -> Value {
        let res = self.post(path, token, body).await;
        let got = res.status().as_u16();
        let text = res.text().await.expect("body");
        assert_eq!(got, status, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// GET and return the JSON body, asserting 200.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let res = self.get(path, token).await;
        let got = res.status().as_u16();
        let text = res.text().await.expect("body");
        assert_eq!(got, 200, "GET {path}: {text}");
        serde_json::from_str(&text).expect("JSON")
    }
}

/// A site tree with one user per role, as most workflow tests need it.
pub struct Crew {
    pub admin: String,
    pub plant: String,
    pub workshop: String,
    pub other_plant: String,
    /// (user id, token) per role name: inspector, rectifier, supervisor, manager, verifier,
    /// outsider (an inspector at the other plant).
    pub people: std::collections::BTreeMap<&'static str, (String, String)>,
}

impl Crew {
    pub fn id(&self, who: &str) -> &str {
        &self.people[who].0
    }
    pub fn token(&self, who: &str) -> &str {
        &self.people[who].1
    }
}

/// Builds a [`Crew`].
pub async fn crew(app: &TestApp) -> Crew {
    let admin = app.admin_token().await;
    let company = app.site(&admin, "Company", None).await;
    let plant = app.site(&admin, "Plant", Some(&company)).await;
    let workshop = app.site(&admin, "Workshop", Some(&plant)).await;
    let other_plant = app.site(&admin, "Other plant", Some(&company)).await;
    let mut people = std::collections::BTreeMap::new();
    for (who, role, site) in [
        ("inspector", "inspector", &plant),
        ("rectifier", "inspector", &workshop),
        ("verifier", "inspector", &plant),
        ("supervisor", "supervisor", &plant),
        ("manager", "manager", &company),
        ("outsider", "inspector", &other_plant),
    ] {
        let email = format!("{who}@example.com");
        let id = app.user(&admin, &email, role, Some(site)).await;
        let token = app.token(&email).await;
        people.insert(who, (id, token));
    }
    Crew {
        admin,
        plant,
        workshop,
        other_plant,
        people,
    }
}

/// A reqwest client builder. reqwest is built with rustls but without a crypto provider of its
/// own (one crypto library in the binary, see `hazardloop_storage::tls`), so the process's
/// provider is installed first, as the server does before its HTTP clients.
pub fn http_client() -> reqwest::ClientBuilder {
    hazardloop_storage::tls::install_provider();
    reqwest::Client::builder()
}
