//! The integration suite: the real server on a real port, a fresh SQLite file or a fresh
//! PostgreSQL database per test (in a throwaway cluster of this process, see `pg_cluster`). Every test in `both_backends!` runs once on each backend, as
//! `sqlite::<name>` and `postgres::<name>`.

mod contract;
mod helpers;
mod pg_cluster;
mod s3;

mod audit;
mod auth;
mod closed_loop;
mod console;
mod console_admin;
mod console_browser;
mod crash;
mod dashboard;
mod errors;
mod inspections;
mod integration;
mod isolation;
mod jobs;
mod newcomer;
mod openapi;
mod outage;
mod people;
mod photos;
mod reports;
mod risk;
mod search;
mod sync;
mod sync_contract;
mod users_sites;
mod webhooks;

pub use helpers::{spawn_app, Backend, TestApp};

/// Declares `sqlite::name` and `postgres::name` tests for each `async fn name(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}
