//! The PostgreSQL the suite runs on: `HAZARDLOOP_TEST_PG_URL` when it is set, else a throwaway
//! cluster of this test process, made with the installed PostgreSQL's `initdb` and `pg_ctl`
//! under the target folder on a free loopback port, and stopped when the process exits. Each
//! test still gets a database of its own in it (see `helpers::database_url_for`).
//!
//! Root may not run PostgreSQL, and CI runs as root: then the cluster belongs to the
//! `postgres` account (or `nobody`) and every PostgreSQL command runs through `runuser`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What a fresh machine needs for the PostgreSQL tests; the one line they fail with.
const MISSING: &str = "the PostgreSQL tests need PostgreSQL's server programs (initdb, pg_ctl): \
     install the `postgresql` package (Debian/Ubuntu: apt-get install postgresql), or point \
     HAZARDLOOP_TEST_PG_URL at a server";

/// Prefix of the cluster folders under the target folder; the rest is the owning process id.
const DIR_PREFIX: &str = "hazardloop-pg-";

/// The URL of a maintenance database (`postgres`) the tests may create databases through.
pub fn admin_url() -> String {
    if let Ok(url) = std::env::var("HAZARDLOOP_TEST_PG_URL") {
        return url;
    }
    static CLUSTER: OnceLock<Result<String, String>> = OnceLock::new();
    match CLUSTER.get_or_init(start) {
        Ok(url) => url.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// The folder holding `initdb` and `pg_ctl`: on the `PATH`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (where Debian puts them, off the `PATH`).
fn bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                // Through symlinks, so that pg_ctl finds `postgres` beside itself.
                let initdb = std::fs::canonicalize(dir.join("initdb")).ok()?;
                return initdb.parent().map(Path::to_path_buf);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, d)| has_both(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// The account PostgreSQL runs as when we are root (it refuses root).
fn run_as() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let exists = |u: &str| {
        Command::new("id")
            .arg("-u")
            .arg(u)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    Some(
        if exists("postgres") {
            "postgres"
        } else {
            "nobody"
        }
        .to_string(),
    )
}

/// A PostgreSQL program, run as `user` when given.
fn pg_command(bin: &Path, program: &str, user: Option<&str>) -> Command {
    match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin.join(program));
            c
        }
        None => Command::new(bin.join(program)),
    }
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Clusters of earlier test processes that were killed before they could stop theirs: stopped
/// and removed, so they hold neither memory nor a port.
fn sweep_stale(root: &Path, bin: &Path, user: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue; // ours, or a test process still running
        }
        let data = e.path().join("data");
        if data.join("postmaster.pid").exists() {
            let mut stop = pg_command(bin, "pg_ctl", user);
            stop.arg("stop")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w"]);
            let _ = run(stop, "pg_ctl stop (stale cluster)");
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// Where the cluster lives: `target/tmp/hazardloop-pg-<pid>`.
fn cluster_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{DIR_PREFIX}{}", std::process::id()))
}

static STOP: OnceLock<(PathBuf, PathBuf, Option<String>)> = OnceLock::new();

/// Runs at process exit (the test harness returns from main, or exits with 101 on failure):
/// stops the cluster and removes its folder.
extern "C" fn stop_cluster() {
    if let Some((bin, dir, user)) = STOP.get() {
        let mut stop = pg_command(bin, "pg_ctl", user.as_deref());
        stop.arg("stop")
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-m", "immediate", "-w"]);
        let _ = run(stop, "pg_ctl stop");
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn start() -> Result<String, String> {
    let bin = bin_dir().ok_or_else(|| MISSING.to_string())?;
    let user = run_as();
    let user = user.as_deref();
    let dir = cluster_dir();
    if let Some(root) = dir.parent() {
        std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
        sweep_stale(root, &bin, user);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if let Some(user) = user {
        let mut chown = Command::new("chown");
        chown.arg(user).arg(&dir);
        run(chown, "chown of the cluster folder")?;
    }
    let data = dir.join("data");
    let mut initdb = pg_command(&bin, "initdb", user);
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "-N",
    ]);
    run(initdb, "initdb")?;
    STOP.set((bin.clone(), dir.clone(), user.map(str::to_string)))
        .map_err(|_| "the cluster was started twice".to_string())?;
    // SAFETY: registers a plain function without arguments; called once.
    unsafe {
        libc::atexit(stop_cluster);
    }
    // A port taken between choosing and binding fails the start: try another.
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            dir.display()
        );
        let mut start = pg_command(&bin, "pg_ctl", user);
        start
            .arg("start")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "-t", "60", "-o", &options]);
        match run(start, "pg_ctl start") {
            Ok(()) => return Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres")),
            Err(e) => last = e,
        }
    }
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    Err(format!("{last}; server log: {}", log.trim()))
}
