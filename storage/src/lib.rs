//! Persistence for HazardLoop: the one place that speaks SQL.
//!
//! `storage` owns the schema, the migrations for SQLite and PostgreSQL, the connection pool, and
//! the queries that load state, ask `hazardloop-sync` what to do, and write the outcome in one
//! transaction. It knows nothing of HTTP: it returns rows and [`StorageError`]s, never responses.
//! Backend differences (upserts, locking, sequence allocation) are confined to the few functions
//! that match on [`DbConn`]'s variants.
//!
//! It also owns the blob store ([`blob`]: photo bytes on a local folder or S3) and
//! [`photos::PhotoStore`], which moves photo bytes between clients, the blob store and the
//! database; and the database job queue ([`jobs`]) that background work is claimed from.
//! What an image *is* (format, limits, EXIF, renditions) is `hazardloop-media`'s business.

pub mod access;
pub mod audit;
pub mod blob;
pub mod change;
pub mod clients;
pub mod conflicts;
pub mod console_sessions;
pub mod dashboard;
pub mod db;
pub mod devices;
pub mod engine;
pub mod error;
pub mod hazards;
pub mod idempotency;
pub mod inspections;
pub mod jobs;
pub mod leases;
pub mod login;
pub mod migrate;
pub mod orgs;
pub mod overdue;
pub mod photos;
pub mod pull;
pub mod push;
pub mod reachability;
pub mod reports;
pub mod risk;
pub mod schema;
pub mod signoffs;
pub mod sites;
pub mod stats;
pub mod templates;
pub mod tls;
pub mod tokens;
pub mod uploads;
pub mod users;
pub mod webhooks;

pub use db::{Backend, Db, DbConn, DbSettings};
pub use error::StorageError;

/// Current server time in unix milliseconds; the only clock storage reads.
pub fn now_ms() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh UUIDv7 as text, the id format of every row.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
