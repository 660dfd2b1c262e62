//! `sync`: simulated phones pushing their offline queues concurrently (mutations/s and push
//! latency), the first pull of a large snapshot (seconds and server memory), and the floor: the
//! same hazard rows inserted directly with diesel, with no HTTP, rules, audit or change index.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use diesel::prelude::*;
use hazardloop_storage::hazards::Hazard;
use hazardloop_storage::schema::hazards;
use hazardloop_storage::{migrate, Db, DbConn, DbSettings};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{report_body, Api, Crew, Step};
use crate::harness::{Backend, BackendChoice, Server, ServerOpts};
use crate::measure::{mib, table, Progress, Recorder};

/// Options of `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Simulated devices pushing at once.
    #[arg(long, default_value_t = 50)]
    pub devices: usize,
    /// Mutations queued on each device.
    #[arg(long, default_value_t = 200)]
    pub mutations: usize,
    /// Mutations per push.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Entities in the snapshot for the first-pull measurement (0: skip it).
    #[arg(long, default_value_t = 100_000)]
    pub pull_entities: usize,
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub server: ServerOpts,
}

const PUSH: Step = Step {
    name: "push",
    method: Method::POST,
    expected: 200,
};

/// Runs the scenario on each chosen backend and prints the tables.
pub async fn run(args: SyncArgs) -> Result<()> {
    println!(
        "# sync: {} devices × {} mutations in batches of {}, first pull of {} entities, {} CPU(s) shared by client and server\n",
        args.devices,
        args.mutations,
        args.batch,
        args.pull_entities,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut push_rows = Vec::new();
    let mut pull_rows = Vec::new();
    for backend in args.backend.backends() {
        let (push, pull) = one_backend(backend, &args).await?;
        push_rows.push(push);
        if let Some(p) = pull {
            pull_rows.push(p);
        }
    }
    println!("## push\n");
    println!(
        "{}",
        table(
            &[
                "backend",
                "mutations",
                "applied",
                "not applied",
                "wall s",
                "mutations/s",
                "push p50 ms",
                "push p95 ms",
                "push p99 ms",
                "push max ms",
                "floor mutations/s",
                "floor / push"
            ],
            &push_rows
        )
    );
    if !pull_rows.is_empty() {
        println!("## first pull (snapshot)\n");
        println!(
            "{}",
            table(
                &[
                    "backend",
                    "entities pulled",
                    "pages",
                    "seconds",
                    "RSS before MiB",
                    "RSS max during MiB",
                    "growth MiB"
                ],
                &pull_rows
            )
        );
    }
    Ok(())
}

async fn register(api: &Api, token: &str) -> Result<String> {
    let d = api
        .expect(
            Method::POST,
            "/v1/devices",
            Some(token),
            Some(&json!({"name": "bench phone", "platform": "android", "app_version": "1.0"})),
            201,
        )
        .await?;
    d["id"].as_str().map(str::to_string).context("device id")
}

fn queue(device: &str, site: &str, n: usize, offset: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "seq": i + 1,
                "id": uuid::Uuid::now_v7(),
                "name": "hazard.report",
                "hlc": format!("{:018}-{:010}-{device}", 1_700_000_000_000u64 + i as u64, 0),
                "args": report_body(site, offset + i),
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
/// Pushes every device's queue with `concurrency` devices at a time; returns applied and
/// not-applied counts.
async fn push_all(
    api: &Api,
    token: &str,
    site: &str,
    devices: usize,
    per_device: usize,
    batch: usize,
    rec: &mut Recorder,
    done: Arc<AtomicUsize>,
) -> Result<(u64, u64)> {
    let mut handles = Vec::new();
    for d in 0..devices {
        let (api, token, site, done) = (
            api.clone(),
            token.to_string(),
            site.to_string(),
            done.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut rec = Recorder::default();
            let (mut applied, mut other) = (0u64, 0u64);
            let device = match register(&api, &token).await {
                Ok(d) => d,
                Err(e) => {
                    rec.tally.record_transport("register", &format!("{e:#}"));
                    return (rec, 0, per_device as u64);
                }
            };
            let q = queue(&device, &site, per_device, d * per_device);
            for chunk in q.chunks(batch.max(1)) {
                let body = json!({"device_id": device, "mutations": chunk});
                match api
                    .measured(&mut rec, &PUSH, "/v1/sync/push", &token, &body)
                    .await
                {
                    Some(reply) => {
                        for r in reply.json()["results"].as_array().into_iter().flatten() {
                            if r["status"] == "applied" {
                                applied += 1;
                            } else {
                                other += 1;
                            }
                        }
                    }
                    None => other += chunk.len() as u64,
                }
                done.fetch_add(chunk.len(), Ordering::Relaxed);
            }
            (rec, applied, other)
        }));
    }
    let (mut applied, mut other) = (0, 0);
    for h in handles {
        let (r, a, o) = h.await.context("a device task panicked")?;
        rec.merge(r);
        applied += a;
        other += o;
    }
    Ok((applied, other))
}

async fn one_backend(
    backend: Backend,
    args: &SyncArgs,
) -> Result<(Vec<String>, Option<Vec<String>>)> {
    let server = Server::start(backend, &args.server).await?;
    let api = Api::new(
        &server.base,
        Duration::from_secs(args.server.timeout_secs),
        args.devices,
    )?;
    let crew = Crew::seed(&api).await.context("seeding sites and users")?;
    let total = args.devices * args.mutations;
    let done = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start(format!("sync push {}", backend.name()), done.clone(), total);
    let mut rec = Recorder::default();
    let start = Instant::now();
    let (applied, other) = push_all(
        &api,
        &crew.inspector.token,
        &crew.workshop,
        args.devices,
        args.mutations,
        args.batch,
        &mut rec,
        done,
    )
    .await?;
    let wall = start.elapsed();
    drop(progress);
    rec.tally
        .print_failures(&format!("{} pushes", backend.name()));

    let floor = raw_insert_floor(backend, &args.server.pg_admin_url, total, args.batch).await?;
    let rate = applied as f64 / wall.as_secs_f64();
    let [p50, p95, p99, max] = rec.all.summary();
    let push_row = vec![
        backend.name().to_string(),
        total.to_string(),
        applied.to_string(),
        other.to_string(),
        format!("{:.2}", wall.as_secs_f64()),
        format!("{rate:.0}"),
        p50,
        p95,
        p99,
        max,
        format!("{floor:.0}"),
        // How many times the floor's rate the push path reaches (lower is better; the
        // target is 3 or less).
        format!("{:.2}", floor / rate.max(1.0)),
    ];

    let pull_row = if args.pull_entities > 0 {
        // Top the snapshot up to the requested size with more pushes (not timed).
        let have = applied as usize + 3; // plus the sites the inspector sees
        if args.pull_entities > have {
            let extra = args.pull_entities - have;
            let devices = extra.div_ceil(5000).max(1);
            let per = extra.div_ceil(devices);
            let fill = Arc::new(AtomicUsize::new(0));
            let progress = Progress::start(
                format!("loading {} {}", extra, backend.name()),
                fill.clone(),
                devices * per,
            );
            let mut r = Recorder::default();
            push_all(
                &api,
                &crew.inspector.token,
                &crew.workshop,
                devices,
                per,
                500,
                &mut r,
                fill,
            )
            .await?;
            drop(progress);
            r.tally.print_failures("loading pushes");
        }
        Some(first_pull(&api, &server, &crew.inspector.token, backend).await?)
    } else {
        None
    };
    drop(server);
    Ok((push_row, pull_row))
}

async fn first_pull(
    api: &Api,
    server: &Server,
    token: &str,
    backend: Backend,
) -> Result<Vec<String>> {
    let before = server.memory()?;
    let pid = server.pid();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let max_rss = Arc::new(std::sync::atomic::AtomicU64::new(before.rss_kb));
    let sampler = {
        let (sampling, max_rss) = (sampling.clone(), max_rss.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(m) = crate::measure::Memory::of(pid) {
                    max_rss.fetch_max(m.rss_kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let start = Instant::now();
    let mut cursor: Option<String> = None;
    let (mut entities, mut pages) = (0usize, 0usize);
    for _ in 0..100_000 {
        let path = match &cursor {
            Some(c) => format!("/v1/sync/pull?limit=1000&cursor={c}"),
            None => "/v1/sync/pull?limit=1000".to_string(),
        };
        let page = api
            .expect(Method::GET, &path, Some(token), None, 200)
            .await?;
        pages += 1;
        entities += page["items"].as_array().map_or(0, Vec::len);
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if page["has_more"] != true {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    sampler.await.ok();
    let peak = max_rss.load(Ordering::Relaxed);
    if cursor.is_none() {
        bail!("{}: the pull never gave a cursor", backend.name());
    }
    Ok(vec![
        backend.name().to_string(),
        entities.to_string(),
        pages.to_string(),
        format!("{secs:.2}"),
        mib(before.rss_kb),
        mib(peak),
        mib(peak.saturating_sub(before.rss_kb)),
    ])
}

/// Mutations per second for the same rows a pushed report persists (the hazard, its audit
/// event, its change-index row and the device's exactly-once record), inserted directly with
/// diesel, `batch` mutations per transaction, into a fresh migrated database of the same
/// backend: no HTTP, no rules, no hashing, no locks.
async fn raw_insert_floor(
    backend: Backend,
    pg_admin: &str,
    rows: usize,
    batch: usize,
) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let (url, pg_name) = match backend {
        Backend::Sqlite => (
            dir.path().join("floor.db").to_string_lossy().into_owned(),
            None,
        ),
        Backend::Postgres => {
            let name = format!("hl_floor_{}", std::process::id());
            let mut c = PgConnection::establish(pg_admin)?;
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {name}")).execute(&mut c)?;
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut c)?;
            let base = pg_admin.rsplit_once('/').map_or(pg_admin, |(b, _)| b);
            (format!("{base}/{name}"), Some(name))
        }
    };
    let result = tokio::task::spawn_blocking(move || -> Result<f64> {
        let db = Db::connect(&url, &DbSettings::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
        migrate::run_pending(&db).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (org, site, user, device) = db
            .write_blocking(|c| {
                let org = hazardloop_storage::orgs::create(c, "Floor")?;
                let site =
                    hazardloop_storage::sites::create(c, &org.id, "Site", "plant", None, None)?;
                let user = hazardloop_storage::users::create(
                    c,
                    hazardloop_storage::users::NewUser {
                        org_id: &org.id,
                        email: "floor@bench.example",
                        name: "Floor",
                        password_hash: "!",
                        is_admin: true,
                        kind: "person",
                    },
                )?;
                let device = hazardloop_storage::devices::register(
                    c, &org.id, &user.id, "floor", "bench", "1",
                )?;
                Ok((org.id, site.id, user.id, device.id))
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let start = Instant::now();
        let now = hazardloop_storage::now_ms();
        for chunk in 0..rows.div_ceil(batch.max(1)) {
            let n = batch.min(rows - chunk * batch);
            let rows_now: Vec<Hazard> = (0..n)
                .map(|i| Hazard {
                    id: uuid::Uuid::now_v7().to_string(),
                    org_id: org.clone(),
                    site_id: site.clone(),
                    state: "reported".into(),
                    title: format!("Bench hazard {}", chunk * batch + i),
                    description: "Found on round".into(),
                    location: "Bay 2".into(),
                    gps: Some("{\"lat\":36.6171,\"lon\":101.7782}".into()),
                    category: "unsafe_act".into(),
                    grade: "general".into(),
                    risk: "yellow".into(),
                    reporter_id: user.clone(),
                    owner_id: None,
                    verifier_id: None,
                    rectified_by: None,
                    measures: None,
                    deadline: None,
                    five: None,
                    inspection_id: None,
                    item_key: None,
                    reported_at_device: now,
                    reported_at: now,
                    closed_at: None,
                    overdue_notified_deadline: None,
                    field_clocks: "{}".into(),
                    version: 1,
                    updated_at: now,
                    flags: "[]".into(),
                    rectification_cost: None,
                })
                .collect();
            db.write_blocking(|c| {
                use hazardloop_storage::schema::{device_mutations as dm, entity_changes as ec};
                // One multi-row statement per table and transaction: the fastest way diesel
                // writes these rows.
                let events: Vec<_> = rows_now
                    .iter()
                    .enumerate()
                    .map(|(k, r)| hazardloop_storage::audit::AuditRow {
                        org_id: org.clone(),
                        seq: (chunk * batch + k + 1) as i64,
                        id: uuid::Uuid::now_v7().to_string(),
                        change_seq: chunk as i64 + 1,
                        entity_type: "hazard".into(),
                        entity_id: r.id.clone(),
                        hazard_id: Some(r.id.clone()),
                        site_id: Some(site.clone()),
                        actor_id: Some(user.clone()),
                        device_id: Some(device.clone()),
                        device_time: Some(now),
                        server_time: now,
                        event: "hazard.reported".into(),
                        from_state: None,
                        to_state: Some("reported".into()),
                        payload: "{}".into(),
                        prev_hash: "0".repeat(64),
                        hash: "0".repeat(64),
                    })
                    .collect();
                let changes: Vec<_> = rows_now
                    .iter()
                    .map(|r| {
                        (
                            ec::entity_type.eq("hazard"),
                            ec::entity_id.eq(r.id.clone()),
                            ec::org_id.eq(org.clone()),
                            ec::site_id.eq(Some(site.clone())),
                            ec::seq.eq(chunk as i64 + 1),
                            ec::deleted.eq(false),
                            ec::changed_at.eq(now),
                        )
                    })
                    .collect();
                let records: Vec<_> = (0..rows_now.len())
                    .map(|k| {
                        (
                            dm::device_id.eq(device.clone()),
                            dm::seq.eq((chunk * batch + k + 1) as i64),
                            dm::mutation_id.eq(uuid::Uuid::now_v7().to_string()),
                            dm::result.eq("{\"status\":\"applied\"}"),
                            dm::created_at.eq(now),
                        )
                    })
                    .collect();
                // Batch inserts need the concrete connection (diesel's multi-backend
                // connection has no batch insert): the same statements on either.
                macro_rules! insert_all {
                    ($c:expr) => {{
                        diesel::insert_into(hazards::table)
                            .values(&rows_now)
                            .execute($c)?;
                        diesel::insert_into(hazardloop_storage::schema::audit_events::table)
                            .values(&events)
                            .execute($c)?;
                        diesel::insert_into(ec::table)
                            .values(&changes)
                            .execute($c)?;
                        diesel::insert_into(dm::table)
                            .values(&records)
                            .execute($c)?;
                    }};
                }
                match c {
                    DbConn::Pg(c) => insert_all!(c),
                    DbConn::Sqlite(c) => insert_all!(c),
                }
                Ok::<_, hazardloop_storage::StorageError>(())
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(rows as f64 / start.elapsed().as_secs_f64())
    })
    .await
    .context("floor task")?;
    if let Some(name) = pg_name {
        let mut c = PgConnection::establish(pg_admin)?;
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)?;
    }
    result
}
