//! `console`: the web console's hazard pages over a large organisation. The scenario seeds
//! `--hazards` hazards straight into the database (as `first-sync` does; not timed), signs in to
//! the console as the plant supervisor (the sign-in form, its CSRF cookie and the session
//! cookie, as a browser does), and then, `--concurrency` requests at a time, asks for:
//!
//! - the hazard list's first page (`/hazards`),
//! - a page deep in the list (`/hazards?cursor=<a seeded id>`),
//! - the list filtered by state and risk (`/hazards?state=reported&risk=yellow&cursor=...`),
//! - a hazard's detail page (`/hazards/{id}`, a random seeded hazard),
//!
//! timing each answer from the request to its last byte on loopback (the server's render time
//! plus the loopback hop) and printing p50/p95/p99/max per page.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use diesel::prelude::*;
use hazardloop_storage::schema::hazards;
use hazardloop_storage::{Db, DbSettings};
use reqwest::header;

use crate::client::{Api, Crew};
use crate::first_sync::seed;
use crate::harness::{Backend, BackendChoice, Server, ServerOpts, PASSWORD};
use crate::measure::{load_average, table, Latencies, Progress};

/// Options of `console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Hazards seeded before the pages are asked for.
    #[arg(long, default_value_t = 100_000)]
    pub hazards: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Requests per page kind.
    #[arg(long, default_value_t = 800)]
    pub requests: usize,
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub server: ServerOpts,
}

/// Runs the scenario on each chosen backend and prints the table.
pub async fn run(args: ConsoleArgs) -> Result<()> {
    println!(
        "# console: {} hazards seeded, {} requests per page at concurrency {} as the plant \
         supervisor, {} CPU(s) shared by client and server\n",
        args.hazards,
        args.requests,
        args.concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    for backend in args.backend.backends() {
        rows.extend(one_backend(backend, &args).await?);
    }
    println!(
        "{}",
        table(
            &[
                "backend", "page", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                "bytes"
            ],
            &rows
        )
    );
    Ok(())
}

/// The path of the `i`th request of a page kind.
type PathOf = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// A browser's cookie jar of one: the session cookie after signing in.
struct Browser {
    client: reqwest::Client,
    base: String,
    session: String,
}

/// The value of `name` in the answer's `Set-Cookie` headers.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

impl Browser {
    /// Signs in through the console's form, as a browser does: the sign-in page sets the CSRF
    /// cookie, the form repeats it, the answer sets the session cookie.
    async fn sign_in(base: &str, email: &str, concurrency: usize) -> Result<Browser> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(concurrency * 2)
            .build()?;
        let page = client.get(format!("{base}/login")).send().await?;
        let csrf = set_cookie(&page, "hl_csrf").context("the sign-in page set no CSRF cookie")?;
        let form = format!(
            "csrf={csrf}&email={}&password={}",
            email.replace('@', "%40"),
            PASSWORD
        );
        let res = client
            .post(format!("{base}/login"))
            .header(header::COOKIE, format!("hl_csrf={csrf}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        if res.status().as_u16() != 303 {
            bail!("signing in to the console answered {}", res.status());
        }
        let session = set_cookie(&res, "hl_session").context("no session cookie")?;
        Ok(Browser {
            client,
            base: base.to_string(),
            session,
        })
    }

    /// GETs `path`; the time to the answer's last byte and its size.
    async fn get(&self, path: &str) -> Result<(Duration, usize)> {
        let t = Instant::now();
        let res = self
            .client
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, format!("hl_session={}", self.session))
            .send()
            .await?;
        let status = res.status().as_u16();
        let body = res.bytes().await?;
        let took = t.elapsed();
        if status != 200 {
            bail!(
                "{path} answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        Ok((took, body.len()))
    }
}

/// `requests` GETs of the paths `path_of(i)` gives, `concurrency` at a time.
async fn hammer(
    browser: &Arc<Browser>,
    requests: usize,
    concurrency: usize,
    path_of: PathOf,
) -> Result<(Latencies, Duration, usize)> {
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (browser, path_of) = (browser.clone(), path_of.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Latencies::default();
            let mut bytes = 0;
            let mut i = w;
            while i < requests {
                let (took, size) = browser.get(&path_of(i)).await?;
                lat.push(took);
                bytes = size;
                i += concurrency;
            }
            anyhow::Ok((lat, bytes))
        }));
    }
    let mut all = Latencies::default();
    let mut bytes = 0;
    for w in workers {
        let (lat, b) = w.await??;
        all.extend(lat);
        bytes = bytes.max(b);
    }
    Ok((all, started.elapsed(), bytes))
}

async fn one_backend(backend: Backend, args: &ConsoleArgs) -> Result<Vec<Vec<String>>> {
    let server = Server::start(backend, &args.server).await?;
    let api = Api::new(&server.base, Duration::from_secs(600), 2)?;
    let crew = Crew::seed(&api).await.context("seeding sites and users")?;
    let url = server
        .database_url()
        .context("the server has no DATABASE_URL")?
        .to_string();
    let done = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start(
        format!("seeding {} {}", args.hazards, backend.name()),
        done.clone(),
        args.hazards,
    );
    let seeded_in = Instant::now();
    let ids: Vec<String> = {
        let (site, user, n, done) = (
            crew.workshop.clone(),
            crew.inspector.id.clone(),
            args.hazards,
            done.clone(),
        );
        tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
            let db = Db::connect(
                &url,
                &DbSettings {
                    max_connections: 1,
                    ..DbSettings::default()
                },
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            seed(&db, &site, &user, n, 100, &done)?;
            crate::first_sync::settle(&db)?;
            db.read_blocking(|c| {
                Ok(hazards::table
                    .select(hazards::id)
                    .order(hazards::id.asc())
                    .load::<String>(c)?)
            })
            .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .await??
    };
    drop(progress);
    if ids.len() < args.hazards {
        bail!("seeded {} hazards, wanted {}", ids.len(), args.hazards);
    }
    println!(
        "{}: seeded {} hazards in {:.1} s (not timed); load average before the pages: {}",
        backend.name(),
        ids.len(),
        seeded_in.elapsed().as_secs_f64(),
        load_average()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let browser = Arc::new(
        Browser::sign_in(&server.base, "supervisor@bench.example", args.concurrency).await?,
    );
    // The ids spread over the whole list, in a fixed scattered order (no two neighbours).
    let ids = Arc::new(ids);
    let pick = {
        let ids = ids.clone();
        move |i: usize| ids[(i.wrapping_mul(7919) + 13) % ids.len()].clone()
    };
    let kinds: Vec<(&str, PathOf)> = vec![
        ("list, first page", Arc::new(|_| "/hazards".to_string())),
        ("list, deep page", {
            let pick = pick.clone();
            Arc::new(move |i| format!("/hazards?cursor={}", pick(i)))
        }),
        ("list, state + risk filter", {
            let pick = pick.clone();
            Arc::new(move |i| format!("/hazards?state=reported&risk=yellow&cursor={}", pick(i)))
        }),
        ("detail", {
            let pick = pick.clone();
            Arc::new(move |i| format!("/hazards/{}", pick(i)))
        }),
    ];
    let mut rows = Vec::new();
    for (name, path_of) in kinds {
        // A short warm-up (connections, caches), not counted.
        hammer(
            &browser,
            args.concurrency * 2,
            args.concurrency,
            path_of.clone(),
        )
        .await?;
        let (mut lat, took, bytes) =
            hammer(&browser, args.requests, args.concurrency, path_of).await?;
        let [p50, p95, p99, max] = lat.summary();
        rows.push(vec![
            backend.name().to_string(),
            name.to_string(),
            lat.len().to_string(),
            format!("{:.0}", lat.len() as f64 / took.as_secs_f64()),
            p50,
            p95,
            p99,
            max,
            bytes.to_string(),
        ]);
    }
    println!(
        "{}: load average after the pages: {}\n",
        backend.name(),
        load_average()
    );
    Ok(rows)
}
