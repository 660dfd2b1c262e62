//! Request ids, request logs and Prometheus metrics, applied to every request by one middleware.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use tracing::Instrument;

/// The header that carries the request id in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// The id of the current request, available to handlers through request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The server's Prometheus registry and the series it keeps.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
}

impl Metrics {
    /// Registers the series.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("hazardloop".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["method", "route"],
        )?;
        let pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            pool,
        })
    }

    /// Records the pool's occupancy (called at scrape time).
    pub fn set_pool(&self, open: u32, idle: u32, max: u32) {
        self.pool.with_label_values(&["open"]).set(open.into());
        self.pool.with_label_values(&["idle"]).set(idle.into());
        self.pool
            .with_label_values(&["in_use"])
            .set(i64::from(open.saturating_sub(idle)));
        self.pool.with_label_values(&["max"]).set(max.into());
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if encoder.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

fn accept_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| s.to_string())
}

/// The middleware: assigns the request id, opens the request span, logs and counts.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(accept_request_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    match result {
        Ok(mut res) => {
            let route = res
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_string());
            let status = res.status().as_u16();
            if let Some(m) = &metrics {
                m.requests
                    .with_label_values(&[method.as_str(), route.as_str(), &status.to_string()])
                    .inc();
                m.latency
                    .with_label_values(&[method.as_str(), route.as_str()])
                    .observe(elapsed.as_secs_f64());
            }
            span.in_scope(|| {
                tracing::info!(status, route = %route, latency_ms = elapsed.as_secs_f64() * 1e3, "request");
            });
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID), v);
            }
            Ok(res)
        }
        Err(e) => {
            span.in_scope(|| tracing::warn!(error = %e, "request failed"));
            Err(e)
        }
    }
}
