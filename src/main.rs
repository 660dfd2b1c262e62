//! The `hazardloop` command: serve, migrate, and administer users and sites.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use hazardloop_api::demo::{self, DemoUser, Seeded};
use hazardloop_api::{bootstrap, telemetry, Application, Config};
use hazardloop_storage::{migrate, orgs, users, Db, DbSettings};
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
    /// Create demo data.
    Seed {
        #[command(subcommand)]
        action: SeedAction,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walk every organisation's hash chain and name the first broken link (exit code 1).
    Verify,
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
    },
}

fn open_db(config: &Config) -> Result<Db> {
    let db = Db::connect(
        &config.database_url(),
        &DbSettings {
            max_connections: config.db_max_connections,
            ..DbSettings::default()
        },
    )
    .map_err(|e| anyhow!("{e}"))?;
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
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread
    // exists, and an unaccepted value leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, cores);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> Result<()> {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref()).map_err(|e| anyhow!(e))?;
    telemetry::init(&config.log_format);
    match cli.command {
        Command::Serve { demo } => serve(config, demo),
        Command::Migrate => {
            let db = Db::connect(&config.database_url(), &DbSettings::default())
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
            action: AuditAction::Verify,
        } => audit_verify(&config),
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
                },
        } => {
            let db = open_db(&config)?;
            let site = bootstrap::add_site(&db, org.as_deref(), &name, &kind, parent.as_deref())
                .map_err(|e| anyhow!(e))?;
            println!("{}", site.id);
            Ok(())
        }
    }
}

fn audit_verify(config: &Config) -> Result<()> {
    use hazardloop_storage::change::{verify_chain, ChainReport};
    let db = open_db(config)?;
    let orgs = db
        .read_blocking(hazardloop_storage::orgs::list)
        .map_err(|e| anyhow!("{e}"))?;
    let mut broken = false;
    for org in orgs {
        match db
            .read_blocking(|c| verify_chain(c, &org.id))
            .map_err(|e| anyhow!("{e}"))?
        {
            ChainReport::Intact(n) => {
                println!("{} ({}): {n} audit records, chain intact", org.name, org.id)
            }
            ChainReport::Broken(link) => {
                broken = true;
                println!("{} ({}): {link}", org.name, org.id);
            }
        }
    }
    if broken {
        bail!("the audit trail has been altered");
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
        let app = Application::build_with_db(config, db).map_err(|e| anyhow!(e))?;
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
