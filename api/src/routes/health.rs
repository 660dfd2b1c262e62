//! Liveness, readiness and metrics.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::observe::Metrics;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long readiness waits for a connection; the whole probe answers within
/// [`READY_DEADLINE`] even if a query hangs on a connection the network dropped silently.
const READY_ACQUIRE: Duration = Duration::from_millis(700);
const READY_DEADLINE: Duration = Duration::from_millis(900);

/// The process can serve: the database answers. Answers within a second either way, so a load
/// balancer sees 503 rather than a timeout while the database is away.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let ready = tokio::time::timeout(READY_DEADLINE, state.db.ping_within(READY_ACQUIRE))
        .await
        .unwrap_or(false);
    if ready {
        Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": "ok"})))
    } else {
        Err(ApiError::unavailable("the database is not reachable"))
    }
}

/// Prometheus text exposition.
pub async fn metrics(state: web::Data<AppState>, metrics: web::Data<Metrics>) -> HttpResponse {
    let (open, idle, max) = state.db.pool_state();
    metrics.set_pool(open, idle, max);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}
