//! `ingest`: sustained field submissions. Each submission uploads one unique ~200 KB JPEG with
//! `PUT /v1/photos/{sha}` and then pushes one `hazard.report` linking it through
//! `POST /v1/sync/push`, at a fixed concurrency, with background jobs on (every arriving photo
//! gets its thumbnail from the job queue). Reports the rate and latency while uploading, the
//! sustained rate counted until the last thumbnail is made, and the server's CPU time per
//! submission (from `/proc/<pid>/stat`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use diesel::prelude::*;
use hazardloop_storage::photos::RENDITIONS_JOB;
use hazardloop_storage::schema::jobs;
use hazardloop_storage::{Db, DbSettings};
use reqwest::Method;
use serde_json::json;
use sha2::Digest;

use crate::client::{report_body, Api, Crew, Step};
use crate::harness::{Backend, BackendChoice, Server, ServerOpts};
use crate::measure::{load_average, mib, table, Latencies, Progress, Recorder};

/// Options of `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Submissions (photo + report) per backend.
    #[arg(long, default_value_t = 2000)]
    pub submissions: usize,
    /// Concurrent phones.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Distinct pictures generated before the run; each submission sends one of them made
    /// unique by a comment segment, so every upload is a new photo.
    #[arg(long, default_value_t = 32)]
    pub pictures: usize,
    /// The most seconds to wait for the renditions after the last upload.
    #[arg(long, default_value_t = 900)]
    pub drain_secs: u64,
    #[arg(long, value_enum, default_value_t = BackendChoice::Both)]
    pub backend: BackendChoice,
    #[command(flatten)]
    pub server: ServerOpts,
}

const PUT_PHOTO: Step = Step {
    name: "photo PUT",
    method: Method::PUT,
    expected: 201,
};
const PUSH: Step = Step {
    name: "push",
    method: Method::POST,
    expected: 200,
};

/// A photo-like 1600x1200 JPEG (gradients and sensor-like noise, quality 85: about 200 KB),
/// different for each `n`.
fn picture(n: usize) -> Result<Vec<u8>> {
    let (w, h) = (1600u32, 1200u32);
    let mut seed: u32 = 0x9E37_79B9 ^ (n as u32).wrapping_mul(0x85EB_CA6B);
    let shift = (n * 37) as u32;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 10) as i32 - 5;
        let base = [
            ((x + shift) * 255 / (w + shift)) as i32,
            (y * 255 / h) as i32,
            (((x + y + shift) / 9) % 256) as i32,
        ];
        image::Rgb(base.map(|c| (c + noise).clamp(0, 255) as u8))
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85).encode_image(&img)?;
    Ok(jpeg)
}

/// `jpeg` with a comment segment (COM) naming this submission right after SOI: a valid JPEG
/// with bytes no other submission has.
fn unique(jpeg: &[u8], tag: &str) -> Vec<u8> {
    let len = u16::try_from(tag.len() + 2).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(jpeg.len() + tag.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Rendition jobs not finished yet: (queued or running, dead).
fn renditions_left(db: &Db) -> Result<(i64, i64)> {
    db.read_blocking(|c| {
        let open: i64 = jobs::table
            .filter(jobs::kind.eq(RENDITIONS_JOB))
            .filter(jobs::state.ne(hazardloop_storage::jobs::DEAD))
            .count()
            .get_result(c)?;
        let dead: i64 = jobs::table
            .filter(jobs::kind.eq(RENDITIONS_JOB))
            .filter(jobs::state.eq(hazardloop_storage::jobs::DEAD))
            .count()
            .get_result(c)?;
        Ok((open, dead))
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs the scenario on each chosen backend and prints the table.
pub async fn run(args: IngestArgs) -> Result<()> {
    println!(
        "# ingest: {} submissions (one unique ~200 KB JPEG PUT + one hazard.report push linking it) at concurrency {}, jobs on, {} CPU(s) shared by client and server\n",
        args.submissions,
        args.concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let started = Instant::now();
    let pictures: Vec<Arc<Vec<u8>>> = (0..args.pictures.max(1))
        .map(|n| picture(n).map(Arc::new))
        .collect::<Result<_>>()?;
    let mean_kb =
        pictures.iter().map(|p| p.len()).sum::<usize>() as f64 / pictures.len() as f64 / 1024.0;
    println!(
        "{} distinct pictures of 1600x1200, mean {mean_kb:.0} KiB, made in {:.1} s (not timed)\n",
        pictures.len(),
        started.elapsed().as_secs_f64()
    );
    let mut rows = Vec::new();
    let mut cpu_rows = Vec::new();
    let mut step_rows = Vec::new();
    for backend in args.backend.backends() {
        let (row, cpu, steps) = one_backend(backend, &args, &pictures).await?;
        rows.push(row);
        cpu_rows.push(cpu);
        step_rows.extend(steps);
    }
    println!("## while uploading, and sustained (until the last thumbnail)\n");
    println!(
        "{}",
        table(
            &[
                "backend",
                "submissions ok",
                "failed",
                "upload wall s",
                "submissions/s uploading",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "thumbnails pending at end",
                "until last thumbnail s",
                "sustained submissions/s",
            ],
            &rows
        )
    );
    println!("## server CPU and memory\n");
    println!(
        "{}",
        table(
            &[
                "backend",
                "CPU-ms/submission uploading",
                "CPU-ms/submission in all",
                "server cores used uploading",
                "server cores used draining",
                "RSS before MiB",
                "peak RSS MiB",
                "RSS after MiB",
                "dead rendition jobs",
            ],
            &cpu_rows
        )
    );
    println!("## per request, while uploading\n");
    println!(
        "{}",
        table(
            &["backend", "request", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"],
            &step_rows
        )
    );
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

/// One phone: takes the next submission until none are left; returns its recorder and the
/// latency of each whole submission (photo, then report).
#[allow(clippy::too_many_arguments)]
async fn phone(
    api: Api,
    token: String,
    site: String,
    run_tag: String,
    pictures: Arc<Vec<Arc<Vec<u8>>>>,
    next: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    total: usize,
) -> (Recorder, Latencies, usize) {
    let mut rec = Recorder::default();
    let mut subs = Latencies::default();
    let mut ok = 0;
    let device = match register(&api, &token).await {
        Ok(d) => d,
        Err(e) => {
            rec.tally.record_transport("register", &format!("{e:#}"));
            return (rec, subs, 0);
        }
    };
    let mut seq = 0u64;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let jpeg = unique(
            &pictures[i % pictures.len()],
            &format!("hazardloop-bench {run_tag} submission {i}"),
        );
        let sha = hex::encode(sha2::Sha256::digest(&jpeg));
        let begun = Instant::now();
        let put = api
            .request(Method::PUT, &format!("/v1/photos/{sha}"), Some(&token))
            .header("content-type", "image/jpeg")
            .body(jpeg)
            .send()
            .await;
        let put_ok = match put {
            Ok(res) => {
                let status = res.status().as_u16();
                let body = res.text().await.unwrap_or_default();
                rec.latency(PUT_PHOTO.name, begun.elapsed());
                if status == PUT_PHOTO.expected {
                    rec.tally.ok += 1;
                    true
                } else {
                    rec.tally.record_unexpected(PUT_PHOTO.name, status, &body);
                    false
                }
            }
            Err(e) => {
                rec.tally
                    .record_transport(PUT_PHOTO.name, &format!("{e:#}"));
                false
            }
        };
        if put_ok {
            seq += 1;
            let mut args = report_body(&site, i);
            args["photos"] = json!([sha]);
            let body = json!({"device_id": device, "mutations": [{
                "seq": seq,
                "id": uuid::Uuid::now_v7(),
                "name": "hazard.report",
                "hlc": format!("{:018}-{:010}-{device}", 1_700_000_000_000u64 + seq, 0),
                "args": args,
            }]});
            if let Some(reply) = api
                .measured(&mut rec, &PUSH, "/v1/sync/push", &token, &body)
                .await
            {
                let applied = reply.json()["results"][0]["status"] == "applied";
                if applied {
                    ok += 1;
                    subs.push(begun.elapsed());
                } else {
                    rec.tally.record_unexpected("push result", 200, &reply.body);
                }
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    (rec, subs, ok)
}

async fn one_backend(
    backend: Backend,
    args: &IngestArgs,
    pictures: &[Arc<Vec<u8>>],
) -> Result<(Vec<String>, Vec<String>, Vec<Vec<String>>)> {
    let load_at_start = load_average();
    let server = Server::start(backend, &args.server).await?;
    let url = server
        .database_url()
        .context("the server has no DATABASE_URL")?
        .to_string();
    let db = tokio::task::spawn_blocking(move || {
        Db::connect(
            &url,
            &DbSettings {
                max_connections: 1,
                ..DbSettings::default()
            },
        )
    })
    .await?
    .map_err(|e| anyhow::anyhow!("watching the job queue: {e}"))?;
    let db = Arc::new(db);
    let api = Api::new(
        &server.base,
        Duration::from_secs(args.server.timeout_secs),
        args.concurrency,
    )?;
    let crew = Crew::seed(&api).await.context("seeding sites and users")?;
    let run_tag = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let pictures = Arc::new(pictures.to_vec());
    let (next, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mem_before = server.memory()?;
    let cpu0 = server.cpu_time()?;
    let progress = Progress::start(
        format!("ingest {}", backend.name()),
        done.clone(),
        args.submissions,
    );
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        handles.push(tokio::spawn(phone(
            api.clone(),
            crew.inspector.token.clone(),
            crew.workshop.clone(),
            run_tag.clone(),
            pictures.clone(),
            next.clone(),
            done.clone(),
            args.submissions,
        )));
    }
    let mut rec = Recorder::default();
    let mut subs = Latencies::default();
    let mut ok = 0;
    for h in handles {
        let (r, l, n) = h.await.context("a phone task panicked")?;
        rec.merge(r);
        subs.extend(l);
        ok += n;
    }
    let upload_wall = t0.elapsed();
    let cpu1 = server.cpu_time()?;
    drop(progress);
    let (pending_at_end, _) = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || renditions_left(&db)).await??
    };
    // Until the queue holds no unfinished rendition job.
    let deadline = Instant::now() + Duration::from_secs(args.drain_secs);
    let dead = loop {
        let db2 = db.clone();
        let (open, dead) = tokio::task::spawn_blocking(move || renditions_left(&db2)).await??;
        if open == 0 {
            break dead;
        }
        if Instant::now() > deadline {
            bail!(
                "{}: {open} renditions still pending {} s after the last upload",
                backend.name(),
                args.drain_secs
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let until_done = t0.elapsed();
    let cpu2 = server.cpu_time()?;
    let mem_after = server.memory()?;
    rec.tally
        .print_failures(&format!("{} submissions", backend.name()));
    println!(
        "{}: load average (1/5/15 min) at the start: {load_at_start}; at the end: {}\n",
        backend.name(),
        load_average()
    );
    let n = ok.max(1) as f64;
    let [p50, p95, p99, max] = subs.summary();
    let row = vec![
        backend.name().to_string(),
        format!("{ok}/{}", args.submissions),
        (args.submissions - ok).to_string(),
        format!("{:.1}", upload_wall.as_secs_f64()),
        format!("{:.1}", ok as f64 / upload_wall.as_secs_f64()),
        p50,
        p95,
        p99,
        max,
        pending_at_end.to_string(),
        format!("{:.1}", until_done.as_secs_f64()),
        format!("{:.1}", ok as f64 / until_done.as_secs_f64()),
    ];
    let uploading = cpu1.saturating_sub(cpu0);
    let draining = cpu2.saturating_sub(cpu1);
    let drain_wall = until_done.saturating_sub(upload_wall);
    let cpu = vec![
        backend.name().to_string(),
        format!("{:.1}", uploading.as_secs_f64() * 1000.0 / n),
        format!(
            "{:.1}",
            cpu2.saturating_sub(cpu0).as_secs_f64() * 1000.0 / n
        ),
        format!("{:.2}", uploading.as_secs_f64() / upload_wall.as_secs_f64()),
        if drain_wall.as_millis() < 200 {
            "-".to_string()
        } else {
            format!("{:.2}", draining.as_secs_f64() / drain_wall.as_secs_f64())
        },
        mib(mem_before.rss_kb),
        mib(mem_after.hwm_kb),
        mib(mem_after.rss_kb),
        dead.to_string(),
    ];
    let steps = rec
        .by_name
        .iter_mut()
        .map(|(name, l)| {
            let [a, b, c, d] = l.summary();
            vec![
                backend.name().to_string(),
                name.to_string(),
                l.len().to_string(),
                a,
                b,
                c,
                d,
            ]
        })
        .collect();
    drop(db);
    drop(server);
    Ok((row, cpu, steps))
}
