//! `first-sync`: a phone's first pull of a large organisation. The scenario seeds `--entities`
//! hazards straight into the server's database (diesel batch inserts of the hazard rows and
//! their change-index rows with each hazard's sync form, as pushes would have left them; not
//! timed), then pulls everything
//! from an empty cursor as a site inspector, page by page, and reports the server's time per
//! page apart from the client's time to parse it, the total, entities per second, and the
//! server's resident memory during the pull.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use diesel::prelude::*;
use hazardloop_storage::hazards::Hazard;
use hazardloop_storage::schema::{entity_changes as ec, hazards, org_clocks, organisations};
use hazardloop_storage::{Db, DbConn, DbSettings};
use reqwest::Method;
use serde_json::Value;

use crate::client::{Api, Crew};
use crate::harness::{Backend, BackendChoice, Server, ServerOpts};
use crate::measure::{load_average, mib, ms, table, Latencies, Memory, Progress};

/// Options of `first-sync`.
#[derive(Debug, Args)]
pub struct FirstSyncArgs {
    /// Hazards seeded before the pull.
    #[arg(long, default_value_t = 1_000_000)]
    pub entities: usize,
    /// `limit` of each pull request (the server caps it).
    #[arg(long, default_value_t = 1000)]
    pub page: usize,
    /// Entities sharing one change sequence while seeding (one push's worth).
    #[arg(long, default_value_t = 100)]
    pub per_seq: usize,
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub server: ServerOpts,
}

/// Runs the scenario on each chosen backend and prints the table.
pub async fn run(args: FirstSyncArgs) -> Result<()> {
    println!(
        "# first-sync: {} hazards seeded, first pull with limit={} as a site inspector, {} CPU(s) shared by client and server\n",
        args.entities,
        args.page,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    for backend in args.backend.backends() {
        rows.push(one_backend(backend, &args).await?);
    }
    println!(
        "{}",
        table(
            &[
                "backend",
                "entities",
                "total told",
                "pages",
                "page size",
                "total s",
                "entities/s",
                "server ms/page p50",
                "p99",
                "first byte ms/page p50",
                "client parse ms/page p50",
                "server s (sum)",
                "client parse s (sum)",
                "RSS before MiB",
                "RSS max MiB",
                "growth MiB",
            ],
            &rows
        )
    );
    Ok(())
}

/// Seeds `n` hazards at `site` reported by `user`, with their change-index rows, `per_seq`
/// entities per change sequence after the current head; moves the head past them.
pub(crate) fn seed(
    db: &Db,
    site: &str,
    user: &str,
    n: usize,
    per_seq: usize,
    done: &AtomicUsize,
) -> Result<()> {
    let site = site.to_string();
    let user = user.to_string();
    let org: String = db
        .read_blocking(|c| Ok(organisations::table.select(organisations::id).first(c)?))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let head: i64 = db
        .read_blocking({
            let org = org.clone();
            move |c| {
                Ok(org_clocks::table
                    .find(&org)
                    .select(org_clocks::change_seq)
                    .first(c)?)
            }
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = hazardloop_storage::now_ms();
    let per_seq = per_seq.max(1);
    const STATEMENT: usize = 500;
    const TRANSACTION: usize = 10_000;
    let mut i = 0;
    while i < n {
        let end = (i + TRANSACTION).min(n);
        let (org, site, user) = (org.clone(), site.clone(), user.clone());
        let start = i;
        db.write_blocking(move |c| {
            let mut k = start;
            while k < end {
                let stop = (k + STATEMENT).min(end);
                let rows: Vec<Hazard> = (k..stop)
                    .map(|j| Hazard {
                        id: uuid::Uuid::now_v7().to_string(),
                        org_id: org.clone(),
                        site_id: site.clone(),
                        state: "reported".into(),
                        title: format!("Seeded hazard {j}"),
                        description: format!("Found on round {j}, near the north door"),
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
                        rectification_cost: None,
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
                    })
                    .collect();
                match c {
                    DbConn::Pg(c) => {
                        diesel::insert_into(hazards::table)
                            .values(&rows)
                            .execute(c)?;
                    }
                    DbConn::Sqlite(c) => {
                        diesel::insert_into(hazards::table)
                            .values(&rows)
                            .execute(c)?;
                    }
                }
                // Each entity's sync form beside its change-index row, as a push writes it.
                let keys: Vec<(String, String)> = rows
                    .iter()
                    .map(|r| ("hazard".to_string(), r.id.clone()))
                    .collect();
                let forms = hazardloop_storage::pull::sync_forms(c, &org, &keys)?;
                let changes: Vec<_> = rows
                    .iter()
                    .enumerate()
                    .map(|(o, r)| {
                        let form = forms.get(&("hazard".to_string(), r.id.clone()));
                        (
                            ec::entity_type.eq("hazard"),
                            ec::entity_id.eq(r.id.clone()),
                            ec::org_id.eq(org.clone()),
                            ec::site_id.eq(Some(site.clone())),
                            ec::seq.eq(head + 1 + ((k + o) / per_seq) as i64),
                            ec::deleted.eq(false),
                            ec::changed_at.eq(now),
                            ec::data.eq(form.map(|f| f.data.clone())),
                            ec::due_at.eq(form.and_then(|f| f.due_at)),
                        )
                    })
                    .collect();
                match c {
                    DbConn::Pg(c) => {
                        diesel::insert_into(ec::table).values(&changes).execute(c)?;
                    }
                    DbConn::Sqlite(c) => {
                        diesel::insert_into(ec::table).values(&changes).execute(c)?;
                    }
                }
                k = stop;
            }
            Ok::<_, hazardloop_storage::StorageError>(())
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        i = end;
        done.store(i, Ordering::Relaxed);
    }
    let last = head + 1 + (n.saturating_sub(1) / per_seq) as i64;
    db.write_blocking(move |c| {
        diesel::update(org_clocks::table.find(&org))
            .set(org_clocks::change_seq.eq(last))
            .execute(c)?;
        Ok::<_, hazardloop_storage::StorageError>(())
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

async fn one_backend(backend: Backend, args: &FirstSyncArgs) -> Result<Vec<String>> {
    let server = Server::start(backend, &args.server).await?;
    let api = Api::new(&server.base, Duration::from_secs(600), 2)?;
    let crew = Crew::seed(&api).await.context("seeding sites and users")?;
    let url = server
        .database_url()
        .context("the server has no DATABASE_URL")?
        .to_string();
    let done = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start(
        format!("seeding {} {}", args.entities, backend.name()),
        done.clone(),
        args.entities,
    );
    let seeded_in = Instant::now();
    {
        let (site, user, n, per_seq, done) = (
            crew.workshop.clone(),
            crew.inspector.id.clone(),
            args.entities,
            args.per_seq,
            done.clone(),
        );
        tokio::task::spawn_blocking(move || -> Result<()> {
            let db = Db::connect(
                &url,
                &DbSettings {
                    max_connections: 1,
                    ..DbSettings::default()
                },
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            seed(&db, &site, &user, n, per_seq, &done)?;
            settle(&db)
        })
        .await??;
    }
    drop(progress);
    println!(
        "{}: seeded {} hazards in {:.1} s (not timed); load average before the pull: {}",
        backend.name(),
        args.entities,
        seeded_in.elapsed().as_secs_f64(),
        load_average()
    );
    // Let the server settle after the seeding's write burst.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let before = server.memory()?;
    let pid = server.pid();
    let sampling = Arc::new(AtomicBool::new(true));
    let max_rss = Arc::new(AtomicU64::new(before.rss_kb));
    let sampler = {
        let (sampling, max_rss) = (sampling.clone(), max_rss.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Ok(m) = Memory::of(pid) {
                    max_rss.fetch_max(m.rss_kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let token = crew.inspector.token.clone();
    let (mut server_ms, mut first_byte, mut parse) = (
        Latencies::default(),
        Latencies::default(),
        Latencies::default(),
    );
    let mut seen: HashSet<u128> = HashSet::with_capacity(args.entities + 16);
    let (mut entities, mut pages, mut duplicates) = (0usize, 0usize, 0usize);
    let mut told: Option<i64> = None;
    let mut cursor: Option<String> = None;
    let started = Instant::now();
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/sync/pull?limit={}&cursor={c}", args.page),
            None => format!("/v1/sync/pull?limit={}", args.page),
        };
        let t = Instant::now();
        let res = api.request(Method::GET, &path, Some(&token)).send().await?;
        let headers = t.elapsed();
        let status = res.status().as_u16();
        let body = res.bytes().await?;
        let whole = t.elapsed();
        if status != 200 {
            bail!(
                "{}: pull answered {status}: {}",
                backend.name(),
                String::from_utf8_lossy(&body)
            );
        }
        let t = Instant::now();
        let page: Value = serde_json::from_slice(&body)?;
        parse.push(t.elapsed());
        server_ms.push(whole);
        first_byte.push(headers);
        pages += 1;
        if told.is_none() {
            told = page["total"].as_i64();
        }
        for item in page["items"].as_array().into_iter().flatten() {
            entities += 1;
            let id = item["id"]
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .map_or(0, |u| u.as_u128());
            if !seen.insert(id) {
                duplicates += 1;
            }
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if page["has_more"] != true {
            break;
        }
        if pages > 10_000_000 {
            bail!("the pull did not end");
        }
    }
    let total = started.elapsed();
    sampling.store(false, Ordering::Relaxed);
    sampler.await.ok();
    let peak = max_rss.load(Ordering::Relaxed);
    if duplicates > 0 {
        println!(
            "{}: {duplicates} entities came twice in the snapshot",
            backend.name()
        );
    }
    let sum = |l: &Latencies| -> f64 { l.sum().as_secs_f64() };
    println!(
        "{}: load average after the pull: {}\n",
        backend.name(),
        load_average()
    );
    Ok(vec![
        backend.name().to_string(),
        entities.to_string(),
        told.map_or("-".into(), |t| t.to_string()),
        pages.to_string(),
        args.page.to_string(),
        format!("{:.2}", total.as_secs_f64()),
        format!("{:.0}", entities as f64 / total.as_secs_f64()),
        ms(server_ms.percentile(50.0)),
        ms(server_ms.percentile(99.0)),
        ms(first_byte.percentile(50.0)),
        ms(parse.percentile(50.0)),
        format!("{:.2}", sum(&server_ms)),
        format!("{:.2}", sum(&parse)),
        mib(before.rss_kb),
        mib(peak),
        mib(peak.saturating_sub(before.rss_kb)),
    ])
}

/// Brings a freshly bulk-loaded PostgreSQL database to the state autovacuum leaves it in a
/// minute later (`VACUUM (ANALYZE)` of the seeded tables: statistics for the planner, hint bits
/// and the visibility map set), so that what is measured next is the server, not the first
/// reader paying for the load. SQLite needs nothing.
pub fn settle(db: &Db) -> Result<()> {
    db.read_blocking(|c| {
        if let DbConn::Pg(c) = c {
            for table in ["hazards", "entity_changes", "audit_events"] {
                diesel::sql_query(format!("VACUUM (ANALYZE) {table}")).execute(c)?;
            }
        }
        Ok::<_, hazardloop_storage::StorageError>(())
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}
