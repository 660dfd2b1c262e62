//! `closed-loop`: N hazards, each driven by one of C concurrent workers through the five
//! commands of the loop (report → assign → start → submit_rectification → verify), every
//! request timed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use reqwest::Method;
use serde_json::json;

use crate::client::{report_body, Api, Crew, Step};
use crate::harness::{Backend, BackendChoice, Server, ServerOpts};
use crate::measure::{load_average, mib, table, Progress, Recorder};

/// Options of `closed-loop`.
#[derive(Debug, Args)]
pub struct ClosedLoopArgs {
    /// Hazards to drive round the whole loop.
    #[arg(long, default_value_t = 2000)]
    pub hazards: usize,
    /// Concurrent workers, each taking the next hazard when it has closed its last.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
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
const ASSIGN: Step = Step {
    name: "assign",
    method: Method::POST,
    expected: 200,
};
const START: Step = Step {
    name: "start",
    method: Method::POST,
    expected: 200,
};
const SUBMIT: Step = Step {
    name: "submit_rectification",
    method: Method::POST,
    expected: 200,
};
const VERIFY: Step = Step {
    name: "verify",
    method: Method::POST,
    expected: 200,
};
const STEPS: [&Step; 5] = [&REPORT, &ASSIGN, &START, &SUBMIT, &VERIFY];

const SUMMARY_HEADERS: [&str; 13] = [
    "backend",
    "hazards closed",
    "commands",
    "non-2xx",
    "no answer",
    "wall s",
    "commands/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "server RSS after setup MB",
    "server peak RSS MB",
];

/// Runs the scenario on each chosen backend and prints the tables.
pub async fn run(args: ClosedLoopArgs) -> Result<()> {
    let concurrency = args.concurrency.max(1);
    println!(
        "# closed-loop: {} hazards × 5 commands, {} concurrent workers, {} CPU(s) shared by client and server\n",
        args.hazards,
        concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut summary = Vec::new();
    for backend in args.backend.backends() {
        summary.push(one_backend(backend, &args, concurrency).await?);
    }
    if summary.len() > 1 {
        println!("## closed-loop, all backends\n");
        println!("{}", table(&SUMMARY_HEADERS, &summary));
    }
    Ok(())
}

async fn one_backend(
    backend: Backend,
    args: &ClosedLoopArgs,
    concurrency: usize,
) -> Result<Vec<String>> {
    let load_at_start = load_average();
    let server = Server::start(backend, &args.server).await?;
    let api = Api::new(
        &server.base,
        Duration::from_secs(args.server.timeout_secs),
        concurrency,
    )?;
    let crew = Arc::new(Crew::seed(&api).await.context("seeding sites and users")?);

    let setup_mem = server.memory()?;
    let next = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start(
        format!("closed-loop {}", backend.name()),
        next.clone(),
        args.hazards,
    );
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            tokio::spawn(worker(
                api.clone(),
                crew.clone(),
                next.clone(),
                args.hazards,
            ))
        })
        .collect();
    let mut rec = Recorder::default();
    let mut closed = 0u64;
    for w in workers {
        let (r, c) = w.await.context("a worker panicked")?;
        rec.merge(r);
        closed += c;
    }
    let wall = start.elapsed();
    drop(progress);
    let mem = server.memory()?;

    let stats = api
        .expect(
            Method::GET,
            "/v1/stats/hazards",
            Some(&crew.admin),
            None,
            200,
        )
        .await
        .context("reading stats after the run")?;
    let (audit_ok, audit_time, audit_out) = server.audit_verify().await?;
    let log = server.log_lines();
    drop(server);

    let name = backend.name();
    let [p50, p95, p99, max] = rec.all.summary();
    let row = vec![
        name.to_string(),
        format!("{closed}/{}", args.hazards),
        (rec.all.len() as u64 + rec.tally.transport_total()).to_string(),
        rec.tally.unexpected_total().to_string(),
        rec.tally.transport_total().to_string(),
        format!("{:.2}", wall.as_secs_f64()),
        format!("{:.0}", rec.tally.ok as f64 / wall.as_secs_f64()),
        p50,
        p95,
        p99,
        max,
        mib(setup_mem.rss_kb),
        mib(mem.hwm_kb),
    ];
    println!("## closed-loop on {name}\n");
    println!("Machine load average (1/5/15 min) at the start of this backend: {load_at_start}\n");
    println!("{}", table(&SUMMARY_HEADERS, std::slice::from_ref(&row)));
    let per_command: Vec<Vec<String>> = STEPS
        .iter()
        .map(|s| {
            let mut l = rec.by_name.remove(s.name).unwrap_or_default();
            let [p50, p95, p99, max] = l.summary();
            vec![s.name.to_string(), l.len().to_string(), p50, p95, p99, max]
        })
        .collect();
    println!(
        "{}",
        table(
            &["command", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"],
            &per_command
        )
    );
    rec.tally.print_failures(&format!("{name} requests"));
    let stats_closed = stats["by_state"]["closed"].as_u64().unwrap_or(0);
    println!(
        "Checks on {name}: stats after the run: closed = {stats_closed}, total = {}; `hazardloop audit verify`: {} in {:.2} s; server log lines (warn and above): {}",
        stats["total"],
        if audit_ok { "intact" } else { "BROKEN" },
        audit_time.as_secs_f64(),
        log.len()
    );
    if stats_closed != closed {
        println!("MISMATCH: the server counts {stats_closed} closed hazards, the workers closed {closed}");
    }
    if !audit_ok {
        println!("audit verify said:\n{audit_out}");
    }
    for line in log.iter().take(10) {
        println!("    server: {line}");
    }
    println!();
    Ok(row)
}

/// Takes hazards from `next` until `total` have been taken, driving each round the loop. A
/// hazard whose step fails is abandoned (the failure is counted). Returns what it measured and
/// how many hazards it closed.
async fn worker(
    api: Api,
    crew: Arc<Crew>,
    next: Arc<AtomicUsize>,
    total: usize,
) -> (Recorder, u64) {
    let mut rec = Recorder::default();
    let mut closed = 0;
    let deadline = deadline_in_days(7);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        if drive_one(&api, &crew, &mut rec, i, &deadline).await {
            closed += 1;
        }
    }
    (rec, closed)
}

async fn drive_one(api: &Api, crew: &Crew, rec: &mut Recorder, i: usize, deadline: &str) -> bool {
    let Some(reply) = api
        .measured(
            rec,
            &REPORT,
            "/v1/hazards",
            &crew.inspector.token,
            &report_body(&crew.workshop, i),
        )
        .await
    else {
        return false;
    };
    let Some(id) = reply.json()["id"].as_str().map(str::to_string) else {
        rec.tally
            .record_unexpected("report (no id in answer)", reply.status, &reply.body);
        return false;
    };
    let path = |cmd: &str| format!("/v1/hazards/{id}/{cmd}");
    let photo = format!("{:064x}", i + 1);
    let steps = [
        (
            &ASSIGN,
            &crew.supervisor,
            json!({"owner_id": crew.rectifier.id, "verifier_id": crew.verifier.id,
                   "deadline": deadline, "measures": "Replace the guard"}),
        ),
        (&START, &crew.rectifier, json!({})),
        (
            &SUBMIT,
            &crew.rectifier,
            json!({"note": "Guard replaced", "after_photos": [photo]}),
        ),
        (&VERIFY, &crew.verifier, json!({"note": "Checked"})),
    ];
    for (step, who, body) in steps {
        if api
            .measured(rec, step, &path(step.name), &who.token, &body)
            .await
            .is_none()
        {
            return false;
        }
    }
    true
}

fn deadline_in_days(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
