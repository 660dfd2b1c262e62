//! `webhooks`: webhook deliveries per second to a receiver in this process, and the outbox lag
//! (from the event's server time, taken in the writing transaction, to the receiver reading the
//! request) while hazards are reported at a fixed rate.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{report_body, Api, Crew, Step};
use crate::harness::{Backend, BackendChoice, Server, ServerOpts};
use crate::measure::{ms, table, Latencies, Recorder};

/// Options of `webhooks`.
#[derive(Debug, Args)]
pub struct WebhooksArgs {
    /// Hazard reports per second to aim for (each is one mutation and one event).
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// How long to write, in seconds.
    #[arg(long, default_value_t = 20)]
    pub duration_secs: u64,
    /// Concurrent writers sharing the rate.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Webhooks subscribed to every event, all pointing at the receiver (each event is
    /// delivered once per webhook; 0 measures the writes alone).
    #[arg(long, default_value_t = 1)]
    pub webhooks: usize,
    /// After the writers stop, how long to wait for the outstanding deliveries, in seconds.
    #[arg(long, default_value_t = 60)]
    pub drain_secs: u64,
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub server: ServerOpts,
}

const REPORT: Step = Step {
    name: "report",
    method: Method::POST,
    expected: 201,
};

const HEADERS: [&str; 16] = [
    "backend",
    "target mut/s",
    "reports ok",
    "mut/s achieved",
    "write p50 ms",
    "write p99 ms",
    "deliveries expected",
    "delivered in load",
    "delivered total",
    "deliveries/s in load",
    "best 1 s",
    "lag p50 ms",
    "lag p99 ms",
    "lag max ms",
    "dupl.",
    "drain s",
];

/// One request the receiver read.
struct Hit {
    at_ms: i64,
    recorded_ms: Option<i64>,
    id: String,
}

/// A keep-alive HTTP/1.1 receiver on 127.0.0.1 that answers 204 to everything and notes when
/// each request arrived.
struct Receiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    count: Arc<AtomicUsize>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

impl Receiver {
    async fn start() -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the webhook receiver")?;
        let addr = listener.local_addr()?;
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let count = Arc::new(AtomicUsize::new(0));
        let (h, c) = (hits.clone(), count.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, h.clone(), c.clone()));
            }
        });
        Ok(Receiver { addr, hits, count })
    }
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    hits: Arc<Mutex<Vec<Hit>>>,
    count: Arc<AtomicUsize>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 16384];
    loop {
        // Headers.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut len = 0usize;
        let mut id = String::new();
        for line in head.split("\r\n").skip(1) {
            if let Some((k, v)) = line.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "webhook-id" => id = v.trim().to_string(),
                    _ => {}
                }
            }
        }
        while buf.len() < head_end + len {
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let at_ms = now_ms();
        let body: Value =
            serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or_default();
        buf.drain(..head_end + len);
        let recorded_ms = body["data"]["recorded_at"].as_str().and_then(rfc3339_ms);
        hits.lock().unwrap().push(Hit {
            at_ms,
            recorded_ms,
            id,
        });
        count.fetch_add(1, Ordering::Relaxed);
        if sock
            .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Runs the scenario on each chosen backend and prints the table.
pub async fn run(args: WebhooksArgs) -> Result<()> {
    println!(
        "# webhooks: hazard reports at {}/s for {} s by {} writers, {} webhook(s) on every event, receiver in the benchmark process; {} CPU(s) shared by client, receiver and server\n",
        args.rate,
        args.duration_secs,
        args.concurrency,
        args.webhooks,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    for backend in args.backend.backends() {
        rows.push(one_backend(backend, &args).await?);
    }
    println!("## webhooks, all backends\n");
    println!("{}", table(&HEADERS, &rows));
    println!(
        "Lag: receiver's clock when it has read the request minus the event's `recorded_at` (server \
         time taken in the writing transaction, same machine). \"delivered in load\": received \
         before the writers stopped. \"best 1 s\": most deliveries received in one wall-clock second.\n"
    );
    Ok(())
}

async fn one_backend(backend: Backend, args: &WebhooksArgs) -> Result<Vec<String>> {
    let name = backend.name();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let rx = Receiver::start().await?;
    let mut opts = args.server.clone();
    opts.server_env.push((
        "HAZARDLOOP_WEBHOOK_ALLOW_HOSTS".into(),
        rx.addr.ip().to_string(),
    ));
    let server = Server::start(backend, &opts).await?;
    let concurrency = args.concurrency.max(1);
    let api = Api::new(
        &server.base,
        Duration::from_secs(args.server.timeout_secs),
        concurrency,
    )?;
    let crew = Arc::new(Crew::seed(&api).await.context("seeding sites and users")?);
    for i in 0..args.webhooks {
        api.expect(
            Method::POST,
            "/v1/webhooks",
            Some(&crew.admin),
            Some(&json!({"url": format!("http://{}/hook/{i}", rx.addr), "event_types": ["*"]})),
            201,
        )
        .await
        .context("creating the webhook")?;
    }

    // Writers: each sends one report per period (a missed tick is skipped, so a server slower
    // than the rate shows as a lower achieved rate, not as a queue in the client).
    let period = Duration::from_secs_f64(concurrency as f64 / f64::from(args.rate.max(1)));
    let stop_at = Instant::now() + Duration::from_secs(args.duration_secs);
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let writers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (api, crew, counter) = (api.clone(), crew.clone(), counter.clone());
            tokio::spawn(async move {
                let mut rec = Recorder::default();
                // Spread the writers' first ticks over one period.
                tokio::time::sleep(period.mul_f64(w as f64 / concurrency as f64)).await;
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                while Instant::now() < stop_at {
                    tick.tick().await;
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    api.measured(
                        &mut rec,
                        &REPORT,
                        "/v1/hazards",
                        &crew.inspector.token,
                        &report_body(&crew.workshop, i),
                    )
                    .await;
                }
                rec
            })
        })
        .collect();
    let mut rec = Recorder::default();
    for w in writers {
        rec.merge(w.await.context("a writer panicked")?);
    }
    let write_wall = start.elapsed();
    let load_end_ms = now_ms();
    let delivered_in_load = rx.count.load(Ordering::Relaxed);

    // Drain.
    let expected = rec.tally.ok as usize * args.webhooks;
    let drain_start = Instant::now();
    while rx.count.load(Ordering::Relaxed) < expected
        && drain_start.elapsed() < Duration::from_secs(args.drain_secs)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A moment more, to catch duplicates.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let drain = drain_start
        .elapsed()
        .saturating_sub(Duration::from_millis(500));
    let log = server.log_lines();
    drop(server);

    let hits = std::mem::take(&mut *rx.hits.lock().unwrap());
    let mut lag = Latencies::default();
    let mut ids = HashSet::new();
    let mut dupl = 0usize;
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    for h in &hits {
        if let Some(r) = h.recorded_ms {
            lag.push(Duration::from_millis((h.at_ms - r).max(0) as u64));
        }
        if !ids.insert(h.id.clone()) {
            dupl += 1;
        }
        *per_second.entry(h.at_ms / 1000).or_default() += 1;
    }
    let first = hits.iter().map(|h| h.at_ms).min().unwrap_or(load_end_ms);
    let in_load_secs = ((load_end_ms - first) as f64 / 1000.0).max(0.001);
    let best = per_second.values().copied().max().unwrap_or(0);
    let [w50, _, w99, _] = rec.all.summary();
    let row = vec![
        name.to_string(),
        args.rate.to_string(),
        rec.tally.ok.to_string(),
        format!("{:.0}", rec.tally.ok as f64 / write_wall.as_secs_f64()),
        w50,
        w99,
        expected.to_string(),
        delivered_in_load.to_string(),
        hits.len().to_string(),
        format!("{:.0}", delivered_in_load as f64 / in_load_secs),
        best.to_string(),
        ms(lag.percentile(50.0)),
        ms(lag.percentile(99.0)),
        ms(lag.percentile(100.0)),
        dupl.to_string(),
        format!("{:.2}", drain.as_secs_f64()),
    ];
    println!("## webhooks on {name}\n");
    println!(
        "Machine load average (1/5/15 min) at the start of this backend: {}\n",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{}", table(&HEADERS, std::slice::from_ref(&row)));
    rec.tally.print_failures(&format!("{name} reports"));
    let distinct = ids.len();
    if distinct < expected {
        println!(
            "MISSING: {} of {expected} deliveries had not arrived {} s after the writers stopped",
            expected - distinct,
            args.drain_secs
        );
    }
    println!("Server log lines (warn and above): {}", log.len());
    for line in log.iter().take(10) {
        println!("    server: {line}");
    }
    println!();
    Ok(row)
}
