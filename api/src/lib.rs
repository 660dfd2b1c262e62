//! The HTTP edge of HazardLoop.
//!
//! `api` owns what a client meets: routes, authentication (passwords, JWT access tokens, refresh
//! tokens), authorisation extractors, configuration, problem+json errors, request ids, metrics
//! and the server's lifecycle. Handlers are thin: parse, authorise, call one storage function,
//! map the result. There is no SQL here and no workflow rule: those live in `storage` and `sync`.
//! It also starts each node's background [`worker`], which runs the jobs claimed from the
//! database queue (photo renditions, the orphan and expired-upload sweeps).

pub mod app;
pub mod audit_checkpoint;
pub mod auth;
pub mod background;
pub mod bootstrap;
pub mod config;
pub mod demo;
pub mod error;
pub mod export;
pub mod limits;
pub mod mutate;
pub mod observe;
pub mod register_sheet;
pub mod report_doc;
pub mod routes;
pub mod telemetry;
pub mod webhook_delivery;
pub mod worker;

pub use app::{AppState, Application, Mount};
pub use config::Config;
pub use error::ApiError;
