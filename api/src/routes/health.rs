//! Liveness, readiness and metrics.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::observe::Metrics;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The process can serve: the database answers.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.db.ping().await {
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
