//! The benchmark's HTTP client and the people it acts as.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{ADMIN_EMAIL, PASSWORD};
use crate::measure::Recorder;

/// A client bound to one server.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

/// One answered request.
pub struct Reply {
    pub status: u16,
    /// From sending the request to having read the whole body.
    pub latency: Duration,
    pub body: String,
}

impl Reply {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Api {
    /// A client for `base` with a per-request timeout and enough idle connections for
    /// `concurrency` workers. Proxies are ignored: every request goes to 127.0.0.1.
    pub fn new(base: &str, timeout: Duration, concurrency: usize) -> Result<Api> {
        // rustls without a provider of its own (see hazardloop_storage::tls).
        hazardloop_storage::tls::install_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(concurrency.max(1) * 2)
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            client,
            base: base.to_string(),
        })
    }

    /// A request builder for `path` with an optional bearer token.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends a request and reads the whole answer. `Err` means no answer (timeout, connection
    /// error), never an HTTP error status.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let mut req = self.request(method, path, token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let start = Instant::now();
        let res = req.send().await?;
        let status = res.status().as_u16();
        let body = res.text().await?;
        Ok(Reply {
            status,
            latency: start.elapsed(),
            body,
        })
    }

    /// Sends a request that must answer `expected`, for setup steps; returns the JSON body.
    pub async fn expect(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        expected: u16,
    ) -> Result<Value> {
        let reply = self
            .send(method.clone(), path, token, body)
            .await
            .with_context(|| format!("{method} {path}"))?;
        if reply.status != expected {
            bail!(
                "{method} {path} answered {} (expected {expected}): {}",
                reply.status,
                reply.body
            );
        }
        Ok(reply.json())
    }

    /// Sends a measured request: records its latency when it was answered and its outcome in
    /// `rec`. Returns the reply when the status was the one `step` expects.
    pub async fn measured(
        &self,
        rec: &mut Recorder,
        step: &Step,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Option<Reply> {
        match self
            .send(step.method.clone(), path, Some(token), Some(body))
            .await
        {
            Ok(reply) => {
                rec.latency(step.name, reply.latency);
                if reply.status == step.expected {
                    rec.tally.ok += 1;
                    Some(reply)
                } else {
                    rec.tally
                        .record_unexpected(step.name, reply.status, &reply.body);
                    None
                }
            }
            Err(e) => {
                rec.tally.record_transport(step.name, &format!("{e:#}"));
                None
            }
        }
    }

    /// Signs in and returns the access token.
    pub async fn token(&self, email: &str) -> Result<String> {
        let body = self
            .expect(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(&json!({"email": email, "password": PASSWORD})),
                200,
            )
            .await
            .with_context(|| format!("signing in as {email}"))?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .context("the login answer has no access_token")
    }
}

/// A kind of measured request: its name in tables, its method and the status that counts as
/// success.
pub struct Step {
    pub name: &'static str,
    pub method: Method,
    pub expected: u16,
}

/// A user the benchmark acts as.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub token: String,
}

/// A site tree (Company › Plant › Workshop) and one user per part of the loop: the inspector
/// reports at the plant, the supervisor (plant) assigns, the rectifier (inspector at the
/// workshop) starts and submits, and the verifier (inspector at the plant) verifies.
#[derive(Debug, Clone)]
pub struct Crew {
    pub admin: String,
    pub workshop: String,
    pub inspector: Person,
    pub supervisor: Person,
    pub rectifier: Person,
    pub verifier: Person,
}

impl Crew {
    /// Creates the sites and users over HTTP as the admin the harness created.
    pub async fn seed(api: &Api) -> Result<Crew> {
        let admin = api.token(ADMIN_EMAIL).await?;
        let site = |name: &'static str, parent: Option<String>| {
            let admin = admin.clone();
            async move {
                let body = api
                    .expect(
                        Method::POST,
                        "/v1/sites",
                        Some(&admin),
                        Some(&json!({"name": name, "kind": "plant", "parent_id": parent})),
                        201,
                    )
                    .await?;
                body["id"]
                    .as_str()
                    .map(str::to_string)
                    .context("the site answer has no id")
            }
        };
        let company = site("Company", None).await?;
        let plant = site("Plant", Some(company)).await?;
        let workshop = site("Workshop", Some(plant.clone())).await?;
        let person = |who: &'static str, role: &'static str, site: String| {
            let admin = admin.clone();
            async move {
                let email = format!("{who}@bench.example");
                let body = api
                    .expect(
                        Method::POST,
                        "/v1/users",
                        Some(&admin),
                        Some(&json!({"email": email, "name": who, "password": PASSWORD,
                                     "is_admin": false,
                                     "memberships": [{"site_id": site, "role": role}]})),
                        201,
                    )
                    .await?;
                let id = body["id"]
                    .as_str()
                    .map(str::to_string)
                    .context("the user answer has no id")?;
                let token = api.token(&email).await?;
                anyhow::Ok(Person { id, token })
            }
        };
        Ok(Crew {
            inspector: person("inspector", "inspector", plant.clone()).await?,
            supervisor: person("supervisor", "supervisor", plant.clone()).await?,
            rectifier: person("rectifier", "inspector", workshop.clone()).await?,
            verifier: person("verifier", "inspector", plant).await?,
            admin,
            workshop,
        })
    }
}

/// A hazard report body; `i` varies the text, category and risk so the ledger is not uniform,
/// and every tenth description needs CSV quoting.
pub fn report_body(site_id: &str, i: usize) -> Value {
    const CATEGORIES: [&str; 3] = ["unsafe_condition", "unsafe_act", "management_gap"];
    const RISKS: [&str; 4] = ["blue", "yellow", "orange", "red"];
    let description = if i % 10 == 0 {
        format!("Found on round {i}, near the \"north\" door, left side")
    } else {
        format!("Found on round {i}")
    };
    json!({
        "site_id": site_id,
        "title": format!("Bench hazard {i}"),
        "description": description,
        "category": CATEGORIES[i % CATEGORIES.len()],
        "grade": "general",
        "risk": RISKS[i % RISKS.len()],
        "location": "Bay 2",
        "gps": {"lat": 36.6171, "lon": 101.7782},
    })
}
