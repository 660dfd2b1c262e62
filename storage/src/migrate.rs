//! Embedded migrations for both backends; `migrations/sqlite` and `migrations/postgres` carry the
//! same version names (a test in this module keeps them in step).

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{Db, DbConn, StorageError};

const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Applies every pending migration; returns the versions applied now.
pub fn run_pending(db: &Db) -> Result<Vec<String>, StorageError> {
    db.read_blocking(|conn| {
        let applied: Vec<String> = match conn {
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE),
            DbConn::Pg(c) => c.run_pending_migrations(POSTGRES),
        }
        .map_err(|e| StorageError::Migration(e.to_string()))?
        .into_iter()
        .map(|v| v.to_string())
        .collect();
        // Search text is folded in Rust (the same on both backends), so rows written before
        // the column existed are filled here rather than in SQL.
        crate::hazards::fill_search_text(conn)?;
        Ok(applied)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    fn versions(backend: &str) -> BTreeSet<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../migrations")
            .join(backend);
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn both_backends_have_the_same_migration_versions() {
        let sqlite = versions("sqlite");
        let postgres = versions("postgres");
        assert!(!sqlite.is_empty());
        assert_eq!(
            sqlite, postgres,
            "migrations/sqlite and migrations/postgres differ"
        );
        for v in &sqlite {
            for f in ["up.sql", "down.sql"] {
                for b in ["sqlite", "postgres"] {
                    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../migrations")
                        .join(b)
                        .join(v)
                        .join(f);
                    assert!(p.exists(), "{} is missing", p.display());
                }
            }
        }
    }
}
