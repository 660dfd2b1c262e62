//! The `hazardloop` command: serve, migrate, and administer users and sites.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use hazardloop_api::demo::{self, DemoUser, Seeded};
use hazardloop_api::{bootstrap, telemetry, Application, Config};
use hazardloop_storage::{migrate, orgs, users, Db};
use hazardloop_sync::Role;

#[derive(Parser)]
#[command(
    name = "hazardloop",
    version,
    about = "Field hazard inspection server with offline sync"
)]
struct Cli {
    /// TOML configuration file (settings there are overridden by HAZARDLOOP_* variables).
    #[arg(long, global = true, env = "HAZARDLOOP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (migrates the database first).
    Serve {
        /// Try the product: on an empty database, create the demo organisation (as `seed demo`)
        /// first; then print where the server listens and the demo accounts. A database with
        /// data is kept as it is.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage sites.
    Site {
        #[command(subcommand)]
        action: SiteAction,
    },
    /// Check the tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Organisation settings.
    Org {
        #[command(subcommand)]
        action: OrgAction,
    },
    /// Create demo data.
    Seed {
        #[command(subcommand)]
        action: SeedAction,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walk every organisation's hash chain, compare its end with the head the server recorded,
    /// and name the first broken link or the missing events (exit code 1).
    Verify {
        /// Also prove the chain still holds the checkpoints in this file (one JSON object a
        /// line, as `audit checkpoint` prints them).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print a signed checkpoint of the chain's head (one JSON line per organisation) to keep
    /// outside the database; refused for a chain that does not hold.
    Checkpoint {
        /// Organisation name or id. Default: every organisation.
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum OrgAction {
    /// Set the IANA time zone (e.g. Asia/Shanghai) the organisation's reporting periods are
    /// counted in.
    TimeZone {
        /// IANA zone name.
        zone: String,
        /// Organisation name. Default: the only organisation.
        #[arg(long)]
        org: Option<String>,
    },
    /// Name the principal (主要负责人) who signs the organisation's period reports (the user
    /// with this e-mail). Until one is named, the organisation's admins sign.
    Principal {
        /// The user's e-mail.
        email: String,
    },
}

#[derive(Subcommand)]
enum SeedAction {
    /// An organisation with a site tree, one user per role, the fixture templates and a hazard
    /// in every state; prints the accounts.
    Demo {
        /// Organisation name.
        #[arg(long, default_value = "Demo Chemicals")]
        org: String,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user. The password is read from a prompt, or from standard input when piped.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin (organisation-wide), manager, supervisor or inspector.
        #[arg(long, default_value = "admin")]
        role: String,
        /// The site for a manager, supervisor or inspector.
        #[arg(long)]
        site: Option<String>,
        /// Organisation name; created when missing. Default: the only organisation.
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum SiteAction {
    /// Create a site and print its id.
    Add {
        #[arg(long)]
        name: String,
        /// company, plant, workshop or area.
        #[arg(long, default_value = "plant")]
        kind: String,
        /// Parent site id.
        #[arg(long)]
        parent: Option<String>,
        /// Organisation name. Default: the only organisation.
        #[arg(long)]
        org: Option<String>,
        /// Latitude of the site's position (WGS 84 degrees), with --lon and --radius.
        #[arg(long, allow_hyphen_values = true)]
        lat: Option<f64>,
        /// Longitude of the site's position (WGS 84 degrees), with --lat and --radius.
        #[arg(long, allow_hyphen_values = true)]
        lon: Option<f64>,
        /// Radius in metres around the position: photos and reports from further away are
        /// flagged `outside_site_radius`.
        #[arg(long)]
        radius: Option<f64>,
    },
}

fn open_db(config: &Config) -> Result<Db> {
    let db =
        Db::connect(&config.database_url(), &config.db_settings()).map_err(|e| anyhow!("{e}"))?;
    migrate::run_pending(&db).map_err(|e| anyhow!("{e}"))?;
    Ok(db)
}

fn read_password() -> Result<String> {
    let pw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Repeat password: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.lines().next().unwrap_or_default().to_string()
    };
    Ok(pw)
}

/// glibc gives every thread that allocates its own heap arena, up to eight per core, and each
/// keeps what it freed. A server whose blocking pool runs dozens of threads (file and database
/// work for many uploads at once) then holds tens of MiB it no longer uses. One arena per core
/// keeps resident memory near what is live. `MALLOC_ARENA_MAX` in the environment still wins.
///
/// Decoded photos are large short-lived buffers (a 1600 x 1200 image is 5.5 MiB). glibc serves
/// such a buffer with its own mapping, but after the first one is freed it raises that
/// threshold (up to 32 MiB) and later ones come from the heap, where a burst of renditions
/// leaves tens of MiB resident for good. A fixed threshold keeps every buffer of 256 KiB or
/// more a mapping of its own, returned to the system when it is freed; `MALLOC_MMAP_THRESHOLD_`
/// in the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets an allocator parameter; it is called before any other
        // thread exists, and an unaccepted value leaves the default in place.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores);
        }
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: as above.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

fn main() -> Result<()> {
    tune_malloc();
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref()).map_err(|e| anyhow!(e))?;
    telemetry::init(&config.log_format);
    match cli.command {
        Command::Serve { demo } => serve(config, demo),
        Command::Migrate => {
            let db = Db::connect(&config.database_url(), &config.db_settings())
                .map_err(|e| anyhow!("{e}"))?;
            let applied = migrate::run_pending(&db).map_err(|e| anyhow!("{e}"))?;
            println!("{} migration(s) applied", applied.len());
            Ok(())
        }
        Command::User {
            action:
                UserAction::Add {
                    email,
                    name,
                    role,
                    site,
                    org,
                },
        } => {
            let role: Role = role.parse().map_err(|_| {
                anyhow!("unknown role '{role}': admin, manager, supervisor or inspector")
            })?;
            let db = open_db(&config)?;
            let pw = read_password()?;
            let before = db.read_blocking(orgs::list).map_err(|e| anyhow!("{e}"))?;
            let user = bootstrap::add_user(
                &db,
                org.as_deref(),
                &email,
                &name,
                &pw,
                role,
                site.as_deref(),
            )
            .map_err(|e| anyhow!(e))?;
            let org = db
                .read_blocking(|c| orgs::get(c, &user.org_id))
                .map_err(|e| anyhow!("{e}"))?;
            let how = if before.iter().any(|o| o.id == org.id) {
                "in the organisation"
            } else {
                "in the new organisation"
            };
            println!(
                "created user {} <{}> with id {} {how} {:?} ({})",
                user.name, user.email, user.id, org.name, org.id
            );
            Ok(())
        }
        Command::Audit {
            action: AuditAction::Verify { checkpoint },
        } => audit_verify(&config, checkpoint.as_deref()),
        Command::Audit {
            action: AuditAction::Checkpoint { org },
        } => audit_checkpoint(&config, org.as_deref()),
        Command::Org {
            action: OrgAction::TimeZone { zone, org },
        } => {
            let db = open_db(&config)?;
            let org = db
                .write_blocking(|c| {
                    let org = match org.as_deref() {
                        Some(name) => orgs::find_by_name(c, name)?.ok_or_else(|| {
                            hazardloop_storage::StorageError::Invalid(format!(
                                "no organisation is called {name:?}"
                            ))
                        })?,
                        None => orgs::default_org(c, None)?,
                    };
                    orgs::set_time_zone(c, &org.id, &zone)?;
                    Ok(org)
                })
                .map_err(|e| anyhow!("{e}"))?;
            println!(
                "organisation {:?} counts reporting periods in {zone}",
                org.name
            );
            Ok(())
        }
        Command::Org {
            action: OrgAction::Principal { email },
        } => {
            let db = open_db(&config)?;
            let user = db
                .write_blocking(|c| {
                    let user = users::find_active_by_email(c, &email)?.ok_or_else(|| {
                        hazardloop_storage::StorageError::Invalid(format!(
                            "no active user has the e-mail {email}"
                        ))
                    })?;
                    orgs::set_principal(c, &user.org_id, &user.id)?;
                    Ok(user)
                })
                .map_err(|e| anyhow!("{e}"))?;
            println!(
                "{} <{}> signs the organisation's reports",
                user.name, user.email
            );
            Ok(())
        }
        Command::Seed {
            action: SeedAction::Demo { org },
        } => {
            let db = open_db(&config)?;
            match demo::seed(&db, &org).map_err(|e| anyhow!(e))? {
                Seeded::Created(people) => {
                    println!("demo organisation {org:?} created; sign in with:");
                    print_accounts(&people);
                }
                Seeded::Exists(people) => {
                    println!(
                        "demo organisation {org:?} exists already, left as it is; sign in with:"
                    );
                    print_accounts(&people);
                }
            }
            Ok(())
        }
        Command::Site {
            action:
                SiteAction::Add {
                    name,
                    kind,
                    parent,
                    org,
                    lat,
                    lon,
                    radius,
                },
        } => {
            let db = open_db(&config)?;
            let site = bootstrap::add_site(
                &db,
                org.as_deref(),
                &name,
                &kind,
                parent.as_deref(),
                (lat, lon, radius),
            )
            .map_err(|e| anyhow!(e))?;
            println!("{}", site.id);
            Ok(())
        }
    }
}

fn audit_verify(config: &Config, checkpoints: Option<&std::path::Path>) -> Result<()> {
    use hazardloop_api::audit_checkpoint as checkpoint;
    use hazardloop_storage::audit::verify_chain;
    // Read the checkpoints and the key first: a bad file or a missing key fails before the walk.
    let checkpoints = match checkpoints {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let key = checkpoint::key(config).map_err(|e| anyhow!(e))?;
            Some((key, text))
        }
        None => None,
    };
    let db = open_db(config)?;
    let orgs = db
        .read_blocking(hazardloop_storage::orgs::list)
        .map_err(|e| anyhow!("{e}"))?;
    let mut broken = false;
    for org in orgs {
        let report = db
            .read_blocking(|c| verify_chain(c, &org.id))
            .map_err(|e| anyhow!("{e}"))?;
        broken |= !report.is_intact();
        println!("{} ({}): {report}", org.name, org.id);
    }
    if let Some((key, text)) = checkpoints {
        let mut seen = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            seen += 1;
            match checkpoint::parse(line).and_then(|cp| {
                checkpoint::check(&db, &key, &cp).map(|head| (cp, head))
            }) {
                Ok((cp, head)) => println!(
                    "checkpoint {} ({}) at event {}: holds (the chain is intact up to event {head})",
                    cp.org_name, cp.org_id, cp.seq
                ),
                Err(why) => {
                    broken = true;
                    println!("checkpoint {seen} FAILED: {why}");
                }
            }
        }
        if seen == 0 {
            bail!("the checkpoint file holds no checkpoint");
        }
    }
    if broken {
        bail!("the audit trail has been altered");
    }
    Ok(())
}

fn audit_checkpoint(config: &Config, org: Option<&str>) -> Result<()> {
    use hazardloop_api::audit_checkpoint as checkpoint;
    let key = checkpoint::key(config).map_err(|e| anyhow!(e))?;
    let db = open_db(config)?;
    let orgs: Vec<_> = db
        .read_blocking(hazardloop_storage::orgs::list)
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .filter(|o| match org {
            Some(want) => o.name == want || o.id == want,
            None => true,
        })
        .collect();
    if orgs.is_empty() {
        bail!("no organisation {}", org.unwrap_or_default());
    }
    for o in orgs {
        let cp = checkpoint::issue(&db, &key, &o.id).map_err(|e| anyhow!(e))?;
        println!("{}", serde_json::to_string(&cp)?);
    }
    Ok(())
}

/// One line per demo account: role, address, password (scripts read these columns).
fn print_accounts(people: &[DemoUser]) {
    for p in people {
        println!("  {:<11} {:<32} {}", p.role, p.email, p.password);
    }
}

/// The demo organisation `serve --demo` creates on an empty database.
const DEMO_ORG: &str = "Demo Chemicals";

/// `serve --demo` before the server starts: the demo organisation on an empty database, and
/// its accounts when it is there. `None` when the database holds other data only.
fn prepare_demo(db: &Db) -> Result<Option<(bool, Vec<DemoUser>)>> {
    if demo::database_is_empty(db).map_err(|e| anyhow!(e))? {
        return match demo::seed(db, DEMO_ORG).map_err(|e| anyhow!(e))? {
            Seeded::Created(people) => Ok(Some((true, people))),
            Seeded::Exists(people) => Ok(Some((false, people))),
        };
    }
    let exists = db
        .read_blocking(|c| orgs::find_by_name(c, DEMO_ORG))
        .map_err(|e| anyhow!("{e}"))?
        .is_some();
    Ok(exists.then(|| (false, demo::accounts(DEMO_ORG))))
}

fn serve(config: Config, demo: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let db = open_db(&config)?;
        let demo_accounts = if demo {
            let db = db.clone();
            tokio::task::spawn_blocking(move || prepare_demo(&db))
                .await
                .context("demo seed")??
        } else {
            None
        };
        let has_admin = db
            .read(users::any_admin)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        if !has_admin {
            tracing::warn!(
                "no admin yet; create one with: cargo run --release -- user add --email you@example.com --name \"Your Name\" --role admin"
            );
        }
        let bind = config.bind.clone();
        let app = Application::build_mounted(config, db, Some(hazardloop_console::MOUNT))
            .map_err(|e| anyhow!(e))?;
        if demo {
            // Printed once, on standard output, before the first request can arrive: where to
            // go and who to be. The server itself logs through tracing only.
            let host = match bind.rsplit_once(':').map(|(h, _)| h) {
                Some("0.0.0.0" | "[::]" | "") | None => "127.0.0.1",
                Some(h) => h,
            };
            println!(
                "HazardLoop is running at http://{host}:{} (the API is under /v1, described in openapi.yaml)",
                app.port()
            );
            match &demo_accounts {
                Some((created, people)) => {
                    let how = if *created { "created" } else { "kept as it is" };
                    println!("demo organisation {DEMO_ORG:?} {how}; sign in with:");
                    print_accounts(people);
                }
                None => println!(
                    "the database already holds other organisations, so no demo was created \
                     (hazardloop seed demo adds it)"
                ),
            }
        }
        tracing::info!(address = %bind, port = app.port(), "listening");
        app.run_until_stopped().await.context("server error")
    })
}
