//! Connections, the pool, and the one helper through which every query runs.
//!
//! Diesel is synchronous, so every call runs on tokio's blocking pool ([`Db::read`],
//! [`Db::write`]); a connection is never held across an `.await`. SQLite allows one writer at a
//! time: writes in this process queue on a mutex instead of failing with `SQLITE_BUSY` when two
//! deferred transactions try to upgrade at once. PostgreSQL writes run concurrently.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use crate::reachability::{Reachability, Transition};
use crate::StorageError;

/// One connection to whichever backend the URL selected.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, for production and scale-out.
    Pg(PgConnection),
    /// SQLite, the zero-configuration default.
    Sqlite(SqliteConnection),
}

/// Runs the same diesel code on whichever backend `conn` holds: `db_run!(conn, |c| ...)` binds
/// `c` to the concrete connection and compiles the body once per backend. It is for statements
/// the multi-connection cannot express generically (upserts, `ON CONFLICT DO NOTHING`,
/// `RETURNING`) but that read the same on both; statements that really differ (row locks,
/// batch sizes) match on [`DbConn`]'s variants by hand, side by side, so the difference shows.
#[macro_export]
macro_rules! db_run {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Pg($c) => $body,
            $crate::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite://path`, `file:path` or a bare file path.
    Sqlite,
}

impl Backend {
    /// Chooses the backend from the URL scheme; an unknown scheme is an error naming it.
    pub fn from_url(url: &str) -> Result<Backend, StorageError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres);
        }
        if let Some((scheme, _)) = url.split_once("://") {
            if scheme != "sqlite" {
                return Err(StorageError::Config(format!(
                    "unsupported database URL scheme '{scheme}': use postgres://user@host/db, \
                     sqlite://path/to/file.db or a plain file path"
                )));
            }
        }
        Ok(Backend::Sqlite)
    }
}

/// Removes the password from a URL so it can be logged or shown in an error.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("file:"))
        .unwrap_or(url)
}

/// Opens one connection, with an error that names the real problem (the derived
/// `MultiConnection::establish` only says that no backend accepted the URL).
pub fn establish(url: &str) -> Result<DbConn, StorageError> {
    match Backend::from_url(url)? {
        Backend::Postgres => PgConnection::establish(url).map(DbConn::Pg).map_err(|e| {
            StorageError::Unavailable(format!(
                "cannot connect to PostgreSQL at {}: {}",
                redact_url(url),
                e.to_string().trim()
            ))
        }),
        Backend::Sqlite => {
            let path = sqlite_path(url);
            if path.is_empty() {
                return Err(StorageError::Config("empty SQLite path".into()));
            }
            if let Some(parent) = Path::new(path).parent() {
                if !parent.as_os_str().is_empty() && !parent.exists() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StorageError::Config(format!(
                            "cannot create folder {} for the SQLite database: {e}",
                            parent.display()
                        ))
                    })?;
                }
            }
            let mut conn = SqliteConnection::establish(path).map_err(|e| {
                StorageError::Unavailable(format!("cannot open SQLite database {path}: {e}"))
            })?;
            conn.batch_execute(
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
            )
            .map_err(|e| {
                StorageError::Unavailable(format!("cannot configure SQLite database {path}: {e}"))
            })?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

struct Manager {
    url: String,
    reachability: Arc<Reachability>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConn;
    type Error = StorageError;

    /// Opens a connection, logging an outage once: at ERROR when the first attempt fails, at
    /// WARN when the first attempt after it succeeds (r2d2's own handler, which logs every
    /// failed attempt, is switched off).
    fn connect(&self) -> Result<DbConn, StorageError> {
        let outcome = establish(&self.url);
        match &outcome {
            Ok(_) => {
                if self.reachability.succeeded() == Transition::Recovered {
                    tracing::warn!("the database answers again");
                }
            }
            Err(e) => {
                if self.reachability.failed() == Transition::Lost {
                    tracing::error!(
                        error = %e,
                        "the database is unreachable; requests answer 503 until it is back"
                    );
                }
            }
        }
        outcome
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), StorageError> {
        conn.batch_execute("SELECT 1").map_err(StorageError::from)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// Maximum open connections.
    pub max_connections: u32,
    /// How long a request waits for a free connection before answering 503.
    pub acquire_timeout: Duration,
}

impl Default for DbSettings {
    fn default() -> Self {
        DbSettings {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
        }
    }
}

/// The shared handle to the database: a pool plus the backend it talks to.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    sqlite_writer: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Connects (one connection is opened eagerly so a bad URL fails here, with its reason).
    pub fn connect(url: &str, settings: &DbSettings) -> Result<Db, StorageError> {
        let backend = Backend::from_url(url)?;
        // Fail fast with the real reason rather than a pool timeout.
        drop(establish(url)?);
        let pool = r2d2::Pool::builder()
            .max_size(settings.max_connections.max(1))
            // No idle floor: connections open when a caller asks for one, and the caller waits
            // for it. With a floor, the pool reopens connections on its own threads; a command
            // line process that exits while one of them is in libpq's TLS handshake crashes in
            // OpenSSL's exit-time cleanup (seen as SIGSEGV after `audit verify` printed its
            // report).
            .min_idle(Some(0))
            .connection_timeout(settings.acquire_timeout)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(Manager {
                url: url.to_string(),
                reachability: Arc::default(),
            })
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        Ok(Db {
            pool,
            backend,
            sqlite_writer: Arc::new(Mutex::new(())),
        })
    }

    /// The backend this handle talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool occupancy: (open connections, idle connections, maximum).
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections, self.pool.max_size())
    }

    /// Runs `f` on a pooled connection on the blocking pool, outside a transaction.
    pub async fn read<F, R>(&self, f: F) -> Result<R, StorageError>
    where
        F: FnOnce(&mut DbConn) -> Result<R, StorageError> + Send + 'static,
        R: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StorageError::Unavailable(format!("database task failed: {e}")))?
    }

    /// Runs `f` inside one transaction on the blocking pool: all of it commits or none of it.
    pub async fn write<F, R>(&self, f: F) -> Result<R, StorageError>
    where
        F: FnOnce(&mut DbConn) -> Result<R, StorageError> + Send + 'static,
        R: Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| StorageError::Unavailable(format!("database task failed: {e}")))?
    }

    /// The synchronous form of [`Db::write`], for the command line and background threads.
    pub fn write_blocking<F, R>(&self, f: F) -> Result<R, StorageError>
    where
        F: FnOnce(&mut DbConn) -> Result<R, StorageError>,
    {
        let mut conn = self.pool.get()?;
        // Poisoning only means another writer panicked; the database itself rolled back.
        let _guard = match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.lock().unwrap_or_else(|p| p.into_inner())),
            Backend::Postgres => None,
        };
        let conn: &mut DbConn = &mut conn;
        conn.transaction(f)
    }

    /// The synchronous form of [`Db::read`].
    pub fn read_blocking<F, R>(&self, f: F) -> Result<R, StorageError>
    where
        F: FnOnce(&mut DbConn) -> Result<R, StorageError>,
    {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// True when a connection comes within `wait` and a trivial query succeeds on it: a
    /// readiness probe answers sooner than a request would wait for a connection.
    pub async fn ping_within(&self, wait: Duration) -> bool {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            pool.get_timeout(wait)
                .is_ok_and(|mut c| c.batch_execute("SELECT 1").is_ok())
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_selects_backend() {
        assert_eq!(
            Backend::from_url("postgres://x@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://x@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("sqlite://data/a.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(Backend::from_url("data/a.db").ok(), Some(Backend::Sqlite));
        let err = Backend::from_url("mysql://root@h/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'mysql'"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn unreachable_postgres_names_the_problem() {
        let err = establish("postgres://nobody:pw@127.0.0.1:1/none")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("cannot connect to PostgreSQL at postgres://nobody:***@127.0.0.1:1/none"),
            "{err}"
        );
        assert!(!err.contains("pw@"), "{err}");
    }
}
