//! The server under test: the release `hazardloop` binary run as a child process on a fresh
//! SQLite file or a fresh PostgreSQL database, always killed (and its database dropped) when the
//! [`Server`] guard goes away, whether the scenario finished, failed or was interrupted.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::io::AsyncWriteExt;

use crate::measure::Memory;

/// The password of every user the harness creates.
pub const PASSWORD: &str = "bench-password-0123456789";
/// The organisation admin created with the command line before the server starts.
pub const ADMIN_EMAIL: &str = "admin@bench.example";

/// One database backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Lower-case name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// `--backend`: one database or both, one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Sqlite,
    Postgres,
    Both,
}

impl BackendChoice {
    /// The backends to run, in order.
    pub fn backends(self) -> Vec<Backend> {
        match self {
            BackendChoice::Sqlite => vec![Backend::Sqlite],
            BackendChoice::Postgres => vec![Backend::Postgres],
            BackendChoice::Both => vec![Backend::Sqlite, Backend::Postgres],
        }
    }
}

/// How to run the server; shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct ServerOpts {
    /// The server binary (build it first with `cargo build --release`).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/hazardloop"))]
    pub server_bin: PathBuf,
    /// A PostgreSQL database to connect to for CREATE/DROP DATABASE (loopback only).
    #[arg(
        long,
        env = "HAZARDLOOP_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub pg_admin_url: String,
    /// Extra server environment, KEY=VALUE (repeatable), e.g. HAZARDLOOP_DB_MAX_CONNECTIONS=20.
    #[arg(long = "server-env", value_parser = parse_key_value)]
    pub server_env: Vec<(String, String)>,
    /// Per-request timeout of the benchmark client, in seconds (the export has its own).
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// How long to wait for /readyz after starting the server, in seconds.
    #[arg(long, default_value_t = 60)]
    pub ready_timeout_secs: u64,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

/// A fresh PostgreSQL database, dropped on drop.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    fn create(admin_url: &str) -> Result<(PgDatabase, String)> {
        let (base, _) = admin_url
            .rsplit_once('/')
            .context("the PostgreSQL admin URL has no database part")?;
        let host = base.rsplit_once('@').map_or(base, |(_, h)| h);
        let host = host
            .trim_start_matches("postgres://")
            .trim_start_matches("postgresql://");
        if !(host.starts_with("127.0.0.1") || host.starts_with("localhost")) {
            bail!("the benchmark only talks to 127.0.0.1; PostgreSQL URL host is {host:?}");
        }
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let name = format!("hl_bench_{millis}_{}", std::process::id());
        let mut conn = PgConnection::establish(admin_url)
            .with_context(|| format!("connecting to PostgreSQL at {base}/…"))?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let url = format!("{base}/{name}");
        Ok((
            PgDatabase {
                admin_url: admin_url.to_string(),
                name,
            },
            url,
        ))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.admin_url)
            .map_err(anyhow::Error::from)
            .and_then(|mut conn| {
                diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .execute(&mut conn)
                .map_err(anyhow::Error::from)
            });
        if let Err(e) = dropped {
            eprintln!("warning: could not drop database {}: {e:#}", self.name);
        }
    }
}

/// A running server. Dropping it kills the process, then drops its database and folder.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    bin: PathBuf,
    env: Vec<(String, String)>,
    child: Child,
    log_path: PathBuf,
    // Field order matters: the database is dropped after the process is killed (in `drop`),
    // and the folder last.
    _pg: Option<PgDatabase>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Creates a fresh database, its first admin (with the command line), starts `serve` and
    /// waits for /readyz.
    pub async fn start(backend: Backend, opts: &ServerOpts) -> Result<Server> {
        let bin = opts.server_bin.clone();
        if !bin.is_file() {
            bail!(
                "server binary {} not found; run `cargo build --release` first or pass --server-bin",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("hazardloop-bench-")
            .tempdir()
            .context("creating a temporary folder")?;
        let (pg, database_url) = match backend {
            Backend::Sqlite => (None, dir.path().join("bench.db").display().to_string()),
            Backend::Postgres => {
                let admin = opts.pg_admin_url.clone();
                let (db, url) = tokio::task::spawn_blocking(move || PgDatabase::create(&admin))
                    .await
                    .context("creating the PostgreSQL database")??;
                (Some(db), url)
            }
        };
        let port = free_port()?;
        let mut env = vec![
            ("HAZARDLOOP_BIND".to_string(), format!("127.0.0.1:{port}")),
            (
                "HAZARDLOOP_DATA_DIR".to_string(),
                dir.path().display().to_string(),
            ),
            ("DATABASE_URL".to_string(), database_url),
            ("HAZARDLOOP_LOG".to_string(), "warn".to_string()),
            // Long enough that no token expires during a 100k-hazard load.
            (
                "HAZARDLOOP_ACCESS_TOKEN_TTL_SECS".to_string(),
                "14400".to_string(),
            ),
        ];
        env.extend(opts.server_env.iter().cloned());

        run_cli(
            &bin,
            &env,
            &[
                "user",
                "add",
                "--email",
                ADMIN_EMAIL,
                "--name",
                "Bench Admin",
                "--role",
                "admin",
            ],
            Some(PASSWORD),
            Duration::from_secs(120),
        )
        .await
        .context("creating the admin with `hazardloop user add`")?;

        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).context("creating the server log")?;
        let log_err = log.try_clone().context("cloning the server log handle")?;
        let child = command(&bin, &env)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("starting {} serve", bin.display()))?;
        let mut server = Server {
            base: format!("http://127.0.0.1:{port}"),
            bin,
            env,
            child,
            log_path,
            _pg: pg,
            _dir: dir,
        };
        server
            .wait_ready(Duration::from_secs(opts.ready_timeout_secs))
            .await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        // rustls without a provider of its own (see hazardloop_storage::tls).
        hazardloop_storage::tls::install_provider();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .context("building the readiness client")?;
        let url = format!("{}/readyz", self.base);
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().context("polling the server")? {
                bail!(
                    "the server exited ({status}) before it was ready; log:\n{}",
                    self.log_tail(30)
                );
            }
            if let Ok(res) = client.get(&url).send().await {
                if res.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the server was not ready within {limit:?}; log:\n{}",
            self.log_tail(30)
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's `DATABASE_URL` (a SQLite file path or a PostgreSQL URL), for scenarios
    /// that watch the database directly (e.g. the job queue).
    pub fn database_url(&self) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == "DATABASE_URL")
            .map(|(_, v)| v.as_str())
    }

    /// The server's CPU time so far (user + system), from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Result<Duration> {
        cpu_time_of(self.pid())
    }

    /// Current and peak resident memory of the server process.
    pub fn memory(&self) -> Result<Memory> {
        Memory::of(self.pid())
    }

    /// Runs `hazardloop audit verify` against this server's database; returns whether the chain
    /// is intact, the time it took and the command's output.
    pub async fn audit_verify(&self) -> Result<(bool, Duration, String)> {
        let start = Instant::now();
        let out = run_cli_raw(
            &self.bin,
            &self.env,
            &["audit", "verify"],
            None,
            Duration::from_secs(600),
        )
        .await?;
        Ok((out.0, start.elapsed(), out.1))
    }

    /// The last `n` lines the server wrote.
    pub fn log_tail(&self, n: usize) -> String {
        let text = read_to_string_lossy(&self.log_path);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Every line the server logged (at `warn` and above, plus anything on stdout/stderr).
    pub fn log_lines(&self) -> Vec<String> {
        read_to_string_lossy(&self.log_path)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Killing an already exited process fails harmlessly; wait reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU time of a process, from fields 14 and 15 of `/proc/<pid>/stat` (clock
/// ticks of 1/100 s, the Linux default `CLK_TCK`).
pub fn cpu_time_of(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after it follow its `)`.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let tick = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .context("unexpected /proc/<pid>/stat")
    };
    let ticks = tick(11)? + tick(12)?;
    Ok(Duration::from_millis(ticks * 10))
}

fn read_to_string_lossy(path: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A port that was free a moment ago (the server binds it right after).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener
        .local_addr()
        .context("reading the bound port")?
        .port())
}

/// The server command with a clean `HAZARDLOOP_*` environment plus `env`.
fn command(bin: &Path, env: &[(String, String)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("HAZARDLOOP_") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// Runs a command-line subcommand to completion within `limit`; fails on a non-zero exit.
async fn run_cli(
    bin: &Path,
    env: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
    limit: Duration,
) -> Result<String> {
    let (ok, output) = run_cli_raw(bin, env, args, stdin, limit).await?;
    if !ok {
        bail!("`hazardloop {}` failed:\n{output}", args.join(" "));
    }
    Ok(output)
}

/// Runs a subcommand; returns whether it exited 0 and its combined output.
async fn run_cli_raw(
    bin: &Path,
    env: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
    limit: Duration,
) -> Result<(bool, String)> {
    let mut cmd = tokio::process::Command::from(command(bin, env));
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting `hazardloop {}`", args.join(" ")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(format!("{input}\n").as_bytes())
            .await
            .context("writing to the command's standard input")?;
    }
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .with_context(|| format!("`hazardloop {}` took longer than {limit:?}", args.join(" ")))?
        .context("waiting for the command")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}
