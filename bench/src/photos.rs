//! `photos`: photo upload throughput (200 KB and 12 MP photos, `PUT /v1/photos/{sha}`) beside a
//! raw write + fsync of the same bytes to the same disk; the server's peak RSS while 20 clients
//! upload 25 MB photos at once; renditions per second; and the field-submission workload (start
//! an inspection, ten answers, one 200 KB photo, submit). On SQLite + the local blob folder and
//! on PostgreSQL + s3s-fs.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Digest;

use crate::client::{Api, Crew};
use crate::harness::{Backend, Server, ServerOpts, ADMIN_EMAIL};
use crate::measure::{mib, ms, table, Latencies, Memory};

/// Options of `photos`.
#[derive(Debug, Args)]
pub struct PhotosArgs {
    /// 200 KB photos uploaded per setup.
    #[arg(long, default_value_t = 400)]
    pub small: usize,
    /// 12 MP (2 MB) photos uploaded per setup.
    #[arg(long, default_value_t = 96)]
    pub large: usize,
    /// Field submissions per setup.
    #[arg(long, default_value_t = 400)]
    pub submissions: usize,
    /// Concurrent clients for throughput and submissions.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// The photo fixtures (`tests/fixtures/photos` in the repository).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/photos"))]
    pub fixtures: PathBuf,
    #[command(flatten)]
    pub server: ServerOpts,
}

/// Database and blob store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    SqliteLocal,
    PostgresS3,
}

impl Setup {
    fn label(self) -> &'static str {
        match self {
            Setup::SqliteLocal => "SQLite + local folder",
            Setup::PostgresS3 => "PostgreSQL + s3s-fs",
        }
    }
}

/// An s3s-fs process with an empty bucket, killed on drop.
struct S3Server {
    child: Child,
    _root: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts the server on `setup` (with s3s-fs for S3) and `env` added.
async fn start(
    setup: Setup,
    opts: &ServerOpts,
    env: &[(&str, &str)],
) -> Result<(Server, Option<S3Server>)> {
    let mut opts = opts.clone();
    for (k, v) in env {
        opts.server_env.push((k.to_string(), v.to_string()));
    }
    let (backend, s3) = match setup {
        Setup::SqliteLocal => (Backend::Sqlite, None),
        Setup::PostgresS3 => {
            let root = tempfile::tempdir()?;
            std::fs::create_dir_all(root.path().join("photos"))?;
            let port = free_port()?;
            let child = Command::new("s3s-fs")
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", "bench", "--secret-key", "bench-secret"])
                .arg(root.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting s3s-fs (cargo install s3s-fs --version 0.14.1 --features binary --locked)")?;
            let s3 = S3Server { child, _root: root };
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if Instant::now() > deadline {
                    bail!("s3s-fs did not start");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            for (k, v) in [
                ("HAZARDLOOP_S3_BUCKET", "photos".to_string()),
                ("HAZARDLOOP_S3_ENDPOINT", format!("http://127.0.0.1:{port}")),
                ("HAZARDLOOP_S3_ACCESS_KEY_ID", "bench".into()),
                ("HAZARDLOOP_S3_SECRET_ACCESS_KEY", "bench-secret".into()),
                ("HAZARDLOOP_S3_ALLOW_HTTP", "true".into()),
            ] {
                opts.server_env.push((k.to_string(), v));
            }
            (Backend::Postgres, Some(s3))
        }
    };
    Ok((Server::start(backend, &opts).await?, s3))
}

/// `n` copies of a photo made distinct by a counter after its end marker (decoders ignore
/// it), padded with noise to `pad_to` bytes when given: each upload is a new photo.
fn variants(base: &[u8], n: usize, pad_to: Option<usize>) -> Vec<Arc<Vec<u8>>> {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    (0..n)
        .map(|i| {
            let mut v = base.to_vec();
            v.extend_from_slice(format!("bench-{run}-{i}").as_bytes());
            let mut x = i as u64 + 1;
            while pad_to.is_some_and(|size| v.len() < size) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            Arc::new(v)
        })
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn put_photo(api: &Api, token: &str, bytes: &Arc<Vec<u8>>) -> Result<()> {
    let res = api
        .request(
            Method::PUT,
            &format!("/v1/photos/{}", sha(bytes)),
            Some(token),
        )
        .body(bytes.as_ref().clone())
        .send()
        .await?;
    match res.status().as_u16() {
        201 => Ok(()),
        s => bail!(
            "PUT photo answered {s}: {}",
            res.text().await.unwrap_or_default()
        ),
    }
}

/// Uploads all photos, `concurrency` at a time; the wall time.
async fn upload_all(
    api: &Api,
    token: &str,
    photos: &[Arc<Vec<u8>>],
    concurrency: usize,
) -> Result<Duration> {
    let started = Instant::now();
    let results: Vec<Result<()>> = stream::iter(photos)
        .map(|p| put_photo(api, token, p))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(started.elapsed())
}

/// Writes and fsyncs each photo to its own file in `dir`, `concurrency` at a time.
async fn raw_write_all(
    dir: &Path,
    photos: &[Arc<Vec<u8>>],
    concurrency: usize,
) -> Result<Duration> {
    let started = Instant::now();
    let results: Vec<Result<()>> = stream::iter(photos.iter().cloned().enumerate())
        .map(|(i, bytes)| {
            let path = dir.join(format!("raw-{i}"));
            async move {
                tokio::task::spawn_blocking(move || -> Result<()> {
                    use std::io::Write;
                    let mut f = std::fs::File::create(&path)?;
                    f.write_all(&bytes)?;
                    f.sync_data()?;
                    Ok(())
                })
                .await?
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    Ok(started.elapsed())
}

fn mb_per_s(photos: &[Arc<Vec<u8>>], took: Duration) -> String {
    let bytes: usize = photos.iter().map(|p| p.len()).sum();
    format!("{:.1}", bytes as f64 / 1e6 / took.as_secs_f64())
}

async fn throughput(args: &PhotosArgs, setup: Setup, rows: &mut Vec<Vec<String>>) -> Result<()> {
    // Renditions off: this measures the upload path alone.
    let (server, _s3) = start(setup, &args.server, &[("HAZARDLOOP_JOBS_ENABLED", "false")]).await?;
    let api = Api::new(&server.base, Duration::from_secs(120), args.concurrency)?;
    let token = api.token(ADMIN_EMAIL).await?;
    let scratch = tempfile::tempdir()?;
    for (label, name, n) in [
        ("200 KB", "hazard-before.jpg", args.small),
        ("12 MP (2 MB)", "large-12mp.jpg", args.large),
    ] {
        let photos = variants(&std::fs::read(args.fixtures.join(name))?, n, None);
        let took = upload_all(&api, &token, &photos, args.concurrency).await?;
        let raw = raw_write_all(scratch.path(), &photos, args.concurrency).await?;
        rows.push(vec![
            setup.label().into(),
            format!("{label} x {n}"),
            args.concurrency.to_string(),
            mb_per_s(&photos, took),
            format!("{:.0}", n as f64 / took.as_secs_f64()),
            mb_per_s(&photos, raw),
        ]);
    }
    Ok(())
}

async fn memory(
    args: &PhotosArgs,
    setup: Setup,
    jobs: bool,
    rows: &mut Vec<Vec<String>>,
) -> Result<()> {
    let enabled = if jobs { "true" } else { "false" };
    let (server, _s3) = start(setup, &args.server, &[("HAZARDLOOP_JOBS_ENABLED", enabled)]).await?;
    let api = Api::new(&server.base, Duration::from_secs(300), 20)?;
    let token = api.token(ADMIN_EMAIL).await?;
    // One small upload first, so the baseline is a server that has served a photo.
    let warm = variants(&std::fs::read(args.fixtures.join("no-exif.jpg"))?, 1, None);
    upload_all(&api, &token, &warm, 1).await?;
    let before = server.memory()?;
    let photos = variants(
        &std::fs::read(args.fixtures.join("large-12mp.jpg"))?,
        20,
        Some(25_000_000),
    );
    let took = upload_all(&api, &token, &photos, 20).await?;
    if jobs {
        // Until the 20 renditions are made.
        for p in &photos {
            let path = format!("/v1/photos/{}/thumbnail", sha(p));
            let deadline = Instant::now() + Duration::from_secs(300);
            while api
                .send(Method::GET, &path, Some(&token), None)
                .await?
                .status
                != 200
            {
                if Instant::now() > deadline {
                    bail!("renditions never came");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let after: Memory = server.memory()?;
    // Idle again: what the burst left resident, once the blocking pool's idle threads (kept
    // 10 s) have ended.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let idle: Memory = server.memory()?;
    rows.push(vec![
        setup.label().into(),
        if jobs {
            "uploads, then their renditions"
        } else {
            "uploads (renditions off)"
        }
        .into(),
        format!("{:.1}", took.as_secs_f64()),
        mib(before.rss_kb),
        mib(after.hwm_kb),
        mib(after.hwm_kb.saturating_sub(before.rss_kb)),
        mib(idle.rss_kb),
    ]);
    Ok(())
}

/// A template of ten yes/no items, the tenth a photo.
fn template() -> Value {
    let mut items: Vec<Value> = (1..=9)
        .map(|i| json!({"key": format!("check-{i}"), "kind": "yes_no", "prompt": format!("Check {i} in order?"), "required": true}))
        .collect();
    items.push(
        json!({"key": "photo", "kind": "photo", "prompt": "A photo of the area", "required": true}),
    );
    json!({"key": "bench-round", "title": "Bench round", "description": "Ten answers and a photo",
           "sections": [{"title": "Round", "items": items}]})
}

/// One submission: start, ten answers (one of them the photo id), the photo, submit.
async fn submit_one(api: &Api, token: &str, site: &str, photo: &Arc<Vec<u8>>) -> Result<Duration> {
    let started = Instant::now();
    let insp = api
        .expect(
            Method::POST,
            "/v1/inspections",
            Some(token),
            Some(&json!({"site_id": site, "template_key": "bench-round"})),
            201,
        )
        .await?;
    let id = insp["id"].as_str().context("no inspection id")?;
    let mut answers = serde_json::Map::new();
    for i in 1..=9 {
        answers.insert(format!("check-{i}"), json!("yes"));
    }
    answers.insert("photo".into(), json!([sha(photo)]));
    api.expect(
        Method::PUT,
        &format!("/v1/inspections/{id}/answers"),
        Some(token),
        Some(&Value::Object(answers)),
        200,
    )
    .await?;
    put_photo(api, token, photo).await?;
    api.expect(
        Method::POST,
        &format!("/v1/inspections/{id}/submit"),
        Some(token),
        Some(&json!({})),
        200,
    )
    .await?;
    Ok(started.elapsed())
}

async fn submissions(args: &PhotosArgs, setup: Setup, rows: &mut Vec<Vec<String>>) -> Result<()> {
    let (server, _s3) = start(setup, &args.server, &[]).await?;
    let api = Api::new(&server.base, Duration::from_secs(120), args.concurrency)?;
    let crew = Crew::seed(&api).await?;
    api.expect(
        Method::POST,
        "/v1/templates",
        Some(&crew.admin),
        Some(&template()),
        201,
    )
    .await?;
    let photos = variants(
        &std::fs::read(args.fixtures.join("hazard-before.jpg"))?,
        args.submissions,
        None,
    );
    let token = crew.inspector.token.clone();
    let started = Instant::now();
    let results: Vec<Result<Duration>> = stream::iter(&photos)
        .map(|p| submit_one(&api, &token, &crew.workshop, p))
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    let mut latencies = Latencies::default();
    for r in results {
        latencies.push(r?);
    }
    rows.push(vec![
        setup.label().into(),
        args.submissions.to_string(),
        args.concurrency.to_string(),
        format!("{:.1}", args.submissions as f64 / wall.as_secs_f64()),
        ms(latencies.percentile(50.0)),
        ms(latencies.percentile(95.0)),
        ms(latencies.percentile(99.0)),
    ]);
    Ok(())
}

fn renditions(args: &PhotosArgs, rows: &mut Vec<Vec<String>>) -> Result<()> {
    let limits = hazardloop_media::DecodeLimits::default();
    for (label, name, n) in [
        ("200 KB, 1600x1200", "hazard-before.jpg", 60),
        ("12 MP, 4000x3000", "large-12mp.jpg", 20),
    ] {
        let photo = std::fs::read(args.fixtures.join(name))?;
        let started = Instant::now();
        for _ in 0..n {
            hazardloop_media::render(std::io::Cursor::new(&photo), limits, &[1600, 320])
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let took = started.elapsed();
        rows.push(vec![
            label.into(),
            format!("{:.1}", n as f64 / took.as_secs_f64()),
            ms(took / n),
        ]);
    }
    Ok(())
}

/// Runs every measurement and prints the tables.
pub async fn run(args: PhotosArgs) -> Result<()> {
    let setups = [Setup::SqliteLocal, Setup::PostgresS3];
    let mut up = Vec::new();
    for setup in setups {
        throughput(&args, setup, &mut up).await?;
    }
    println!("### Photo upload throughput (PUT, renditions off)\n");
    println!(
        "{}",
        table(
            &[
                "setup",
                "photos",
                "concurrency",
                "MB/s",
                "photos/s",
                "raw write+fsync MB/s"
            ],
            &up
        )
    );

    let mut mem = Vec::new();
    for setup in setups {
        memory(&args, setup, false, &mut mem).await?;
    }
    memory(&args, Setup::SqliteLocal, true, &mut mem).await?;
    println!("### Server memory while 20 clients upload 25 MB photos at once\n");
    println!(
        "{}",
        table(
            &[
                "setup",
                "what ran",
                "upload wall s",
                "RSS before MiB",
                "peak RSS (VmHWM) MiB",
                "growth MiB",
                "RSS 12 s after MiB"
            ],
            &mem
        )
    );

    let mut thumbs = Vec::new();
    renditions(&args, &mut thumbs)?;
    println!("### Renditions (display 1600 px + thumbnail 320 px), one core, in process\n");
    println!("{}", table(&["photo", "photos/s", "ms each"], &thumbs));

    let mut subs = Vec::new();
    for setup in setups {
        submissions(&args, setup, &mut subs).await?;
    }
    println!("### Field submission: start inspection, ten answers, one 200 KB photo, submit\n");
    println!(
        "{}",
        table(
            &[
                "setup",
                "submissions",
                "concurrency",
                "submissions/s",
                "p50 ms",
                "p95 ms",
                "p99 ms"
            ],
            &subs
        )
    );
    Ok(())
}
