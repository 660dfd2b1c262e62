//! Errors that storage reports: database results, never HTTP.

use thiserror::Error;

/// Everything that can go wrong below the HTTP edge.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The row does not exist (or belongs to another organisation).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated, e.g. an e-mail address already in use.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input is well-formed but refers to something that cannot be used.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database cannot be reached or the pool is exhausted: a transient condition.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Configuration of the database is wrong (bad URL, unsupported scheme).
    #[error("{0}")]
    Config(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(diesel::result::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<diesel::result::Error> for StorageError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StorageError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StorageError::Conflict(info.message().to_string())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StorageError::Unavailable(info.message().to_string())
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                StorageError::Unavailable(info.message().to_string())
            }
            other => StorageError::Database(other),
        }
    }
}

impl From<r2d2::Error> for StorageError {
    fn from(e: r2d2::Error) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}

impl StorageError {
    /// True when retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }
}
