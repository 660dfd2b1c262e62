//! `ledger`: load N hazards as fast as concurrent `POST /v1/hazards` allows, then time
//! `GET /v1/stats/hazards`, the streamed CSV ledger `GET /v1/hazards/export?format=csv` and the
//! XLSX ledger `GET /v1/hazards/export?format=xlsx` (written in constant-memory mode to a
//! temporary file, then streamed), watching the server's resident memory while each runs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use reqwest::Method;

use crate::client::{report_body, Api, Crew, Step};
use crate::harness::{Backend, BackendChoice, Server, ServerOpts};
use crate::measure::{load_average, mib, ms, table, Memory, Progress, Recorder};

/// Options of `ledger`.
#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// Hazards to load before the export.
    #[arg(long, default_value_t = 100_000)]
    pub hazards: usize,
    /// Concurrent loaders.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    /// Time limit of the export request, in seconds.
    #[arg(long, default_value_t = 600)]
    pub export_timeout_secs: u64,
    #[command(flatten)]
    pub server: ServerOpts,
}

const REPORT: Step = Step {
    name: "report",
    method: Method::POST,
    expected: 201,
};

const LOAD_HEADERS: [&str; 12] = [
    "backend",
    "hazards loaded",
    "requests",
    "non-2xx",
    "no answer",
    "wall s",
    "hazards/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "server peak RSS after load MB",
];

const READ_HEADERS: [&str; 13] = [
    "backend",
    "rows",
    "stats ms",
    "export s",
    "headers ms",
    "export MB",
    "MB/s",
    "rows/s",
    "VmHWM before export MB",
    "VmHWM after export MB",
    "VmRSS at export start MB",
    "max VmRSS during export MB",
    "max RSS growth MB",
];

const XLSX_HEADERS: [&str; 9] = [
    "backend",
    "rows",
    "xlsx export s",
    "first byte s",
    "xlsx MB",
    "rows/s",
    "VmRSS at export start MB",
    "max VmRSS during export MB",
    "max RSS growth MB",
];

/// Runs the scenario on each chosen backend and prints the tables.
pub async fn run(args: LedgerArgs) -> Result<()> {
    let concurrency = args.concurrency.max(1);
    println!(
        "# ledger: {} hazards loaded by {} concurrent clients, then stats and the CSV export; {} CPU(s) shared by client and server\n",
        args.hazards,
        concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut loads = Vec::new();
    let mut reads = Vec::new();
    let mut workbooks = Vec::new();
    for backend in args.backend.backends() {
        let (load, read, xlsx) = one_backend(backend, &args, concurrency).await?;
        loads.push(load);
        reads.push(read);
        workbooks.push(xlsx);
    }
    if loads.len() > 1 {
        println!("## ledger, all backends\n");
        println!("{}", table(&LOAD_HEADERS, &loads));
        println!("{}", table(&READ_HEADERS, &reads));
        println!("{}", table(&XLSX_HEADERS, &workbooks));
    }
    Ok(())
}

async fn one_backend(
    backend: Backend,
    args: &LedgerArgs,
    concurrency: usize,
) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let name = backend.name();
    let load_at_start = load_average();
    let server = Server::start(backend, &args.server).await?;
    let api = Api::new(
        &server.base,
        Duration::from_secs(args.server.timeout_secs),
        concurrency,
    )?;
    let crew = Arc::new(Crew::seed(&api).await.context("seeding sites and users")?);

    // Load.
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start(format!("ledger load {name}"), next.clone(), args.hazards);
    let start = Instant::now();
    let loaders: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(loader(
                api.clone(),
                crew.clone(),
                next.clone(),
                args.hazards,
            ))
        })
        .collect();
    let mut rec = Recorder::default();
    for l in loaders {
        rec.merge(l.await.context("a loader panicked")?);
    }
    let load_wall = start.elapsed();
    drop(progress);
    let after_load = server.memory()?;
    let loaded = rec.tally.ok;
    let [p50, p95, p99, max] = rec.all.summary();
    let load_row = vec![
        name.to_string(),
        format!("{loaded}/{}", args.hazards),
        (rec.all.len() as u64 + rec.tally.transport_total()).to_string(),
        rec.tally.unexpected_total().to_string(),
        rec.tally.transport_total().to_string(),
        format!("{:.2}", load_wall.as_secs_f64()),
        format!("{:.0}", loaded as f64 / load_wall.as_secs_f64()),
        p50,
        p95,
        p99,
        max,
        mib(after_load.hwm_kb),
    ];

    // Stats.
    let stats = api
        .send(Method::GET, "/v1/stats/hazards", Some(&crew.admin), None)
        .await
        .context("GET /v1/stats/hazards")?;
    if stats.status != 200 {
        bail!(
            "GET /v1/stats/hazards answered {}: {}",
            stats.status,
            stats.body
        );
    }
    let stats_total = stats.json()["total"].as_u64();

    // Export.
    let export = export_once(
        &api,
        "/v1/hazards/export?format=csv",
        &crew.admin,
        server.pid(),
        Duration::from_secs(args.export_timeout_secs),
    )
    .await?;
    let workbook = export_once(
        &api,
        "/v1/hazards/export?format=xlsx",
        &crew.admin,
        server.pid(),
        Duration::from_secs(args.export_timeout_secs),
    )
    .await?;
    let (audit_ok, audit_time, audit_out) = server.audit_verify().await?;
    let log = server.log_lines();
    drop(server);

    let rows = export.lines.saturating_sub(1);
    let secs = export.elapsed.as_secs_f64();
    let mb = export.bytes as f64 / 1_048_576.0;
    let read_row = vec![
        name.to_string(),
        rows.to_string(),
        ms(stats.latency),
        format!("{secs:.2}"),
        ms(export.first_byte),
        format!("{mb:.1}"),
        format!("{:.1}", mb / secs),
        format!("{:.0}", rows as f64 / secs),
        mib(export.before.hwm_kb),
        mib(export.after.hwm_kb),
        mib(export.before.rss_kb),
        mib(export.max_rss_kb),
        mib(export.max_rss_kb.saturating_sub(export.before.rss_kb)),
    ];

    let xsecs = workbook.elapsed.as_secs_f64();
    let xlsx_row = vec![
        name.to_string(),
        loaded.to_string(),
        format!("{xsecs:.2}"),
        format!("{:.2}", workbook.first_byte.as_secs_f64()),
        format!("{:.1}", workbook.bytes as f64 / 1_048_576.0),
        format!("{:.0}", loaded as f64 / xsecs),
        mib(workbook.before.rss_kb),
        mib(workbook.max_rss_kb),
        mib(workbook.max_rss_kb.saturating_sub(workbook.before.rss_kb)),
    ];

    println!("## ledger on {name}\n");
    println!("Machine load average (1/5/15 min) at the start of this backend: {load_at_start}\n");
    println!("Load:\n");
    println!("{}", table(&LOAD_HEADERS, std::slice::from_ref(&load_row)));
    rec.tally.print_failures(&format!("{name} load requests"));
    println!("Stats and export:\n");
    println!("{}", table(&READ_HEADERS, std::slice::from_ref(&read_row)));
    println!("XLSX export:\n");
    println!("{}", table(&XLSX_HEADERS, std::slice::from_ref(&xlsx_row)));
    let mut problems = Vec::new();
    if rows != loaded {
        problems.push(format!(
            "the export has {rows} rows but {loaded} hazards were loaded"
        ));
    }
    if stats_total != Some(loaded) {
        problems.push(format!(
            "stats total is {stats_total:?} but {loaded} hazards were loaded"
        ));
    }
    println!(
        "Checks on {name}: export rows = {rows}, stats total = {}, loaded = {loaded}; {} RSS samples every 50 ms during the export; `hazardloop audit verify`: {} in {:.2} s; server log lines (warn and above): {}",
        stats_total.map_or("?".to_string(), |t| t.to_string()),
        export.samples,
        if audit_ok { "intact" } else { "BROKEN" },
        audit_time.as_secs_f64(),
        log.len()
    );
    for p in &problems {
        println!("MISMATCH: {p}");
    }
    if !audit_ok {
        println!("audit verify said:\n{audit_out}");
    }
    for line in log.iter().take(10) {
        println!("    server: {line}");
    }
    println!();
    Ok((load_row, read_row, xlsx_row))
}

/// Reports hazards until `total` have been taken from `next`.
async fn loader(api: Api, crew: Arc<Crew>, next: Arc<AtomicUsize>, total: usize) -> Recorder {
    let mut rec = Recorder::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let body = report_body(&crew.workshop, i);
        api.measured(
            &mut rec,
            &REPORT,
            "/v1/hazards",
            &crew.inspector.token,
            &body,
        )
        .await;
    }
    rec
}

/// One streamed export and the server's memory around it.
struct Export {
    bytes: u64,
    lines: u64,
    first_byte: Duration,
    elapsed: Duration,
    before: Memory,
    after: Memory,
    max_rss_kb: u64,
    samples: u64,
}

/// One export of `path`, its size, its lines and the server's memory while it runs.
async fn export_once(
    api: &Api,
    path: &str,
    token: &str,
    pid: u32,
    limit: Duration,
) -> Result<Export> {
    const EVERY: Duration = Duration::from_millis(50);
    let before = Memory::of(pid)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Bounded by the stop flag, and by the export's own limit in case the flag never comes.
    let max_ticks = limit.as_millis() / EVERY.as_millis() + 100;
    let sampler = tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (mut max, mut samples) = (0u64, 0u64);
        for _ in 0..max_ticks {
            tick.tick().await;
            if flag.load(Ordering::Relaxed) {
                break;
            }
            if let Ok(m) = Memory::of(pid) {
                max = max.max(m.rss_kb);
                samples += 1;
            }
        }
        (max, samples)
    });

    let start = Instant::now();
    let streamed = async {
        let mut res = api
            .request(Method::GET, path, Some(token))
            .timeout(limit)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let first_byte = start.elapsed();
        if res.status() != 200 {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            bail!("the export answered {status}: {body}");
        }
        let (mut bytes, mut lines) = (0u64, 0u64);
        while let Some(chunk) = res.chunk().await.context("reading the export stream")? {
            bytes += chunk.len() as u64;
            lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        Ok((bytes, lines, first_byte))
    }
    .await;
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (max_rss_kb, samples) = sampler.await.context("the memory sampler panicked")?;
    let after = Memory::of(pid)?;
    let (bytes, lines, first_byte) = streamed?;
    Ok(Export {
        bytes,
        lines,
        first_byte,
        elapsed,
        before,
        after,
        max_rss_kb: max_rss_kb.max(after.rss_kb),
        samples,
    })
}
