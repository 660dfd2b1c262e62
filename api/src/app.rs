//! Building and running the server: state, middleware, framework error handling.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{from_fn, ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hazardloop_storage::blob::BlobStore;
use hazardloop_storage::photos::{PhotoStore, Renderers};
use hazardloop_storage::Db;
use tokio::sync::Notify;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::error::{ApiError, PROBLEM_JSON};
use crate::observe::{observe, Metrics};
use crate::routes;
use crate::worker::{self, Worker};

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub jwt: JwtKeys,
    pub config: Arc<Config>,
    /// Per-client request limits (per node).
    pub limiter: crate::limits::ClientLimiter,
    /// Photo bytes and their records.
    pub photos: PhotoStore,
}

/// Routes of another surface served by the same server (see [`Application::build_mounted`]).
pub type Mount = fn(&mut web::ServiceConfig);

/// A bound, not yet running server; `port()` is known before it runs (tests bind port 0).
pub struct Application {
    port: u16,
    server: Server,
    db: Db,
    overdue_interval: u64,
    retention_ms: i64,
    webhooks: crate::webhook_delivery::DeliverySettings,
    webhook_db: Db,
    /// Started with the server; `None` when `jobs_enabled` is off.
    worker: Option<Worker>,
}

impl Application {
    /// Connects to the database, runs pending migrations, loads keys and binds the port.
    pub fn build(config: Config) -> Result<Application, String> {
        let url = config.database_url();
        let db = Db::connect(&url, &config.db_settings()).map_err(|e| e.to_string())?;
        hazardloop_storage::migrate::run_pending(&db).map_err(|e| e.to_string())?;
        Application::build_with_db(config, db)
    }

    /// Like [`Application::build`], on an already migrated database.
    pub fn build_with_db(config: Config, db: Db) -> Result<Application, String> {
        Application::build_mounted(config, db, None)
    }

    /// Like [`Application::build_with_db`], with another surface's routes (the web console)
    /// mounted beside the API's. The hook keeps `api` free of a dependency on the console,
    /// which depends on `api` for its state, sign-in and authorisation.
    pub fn build_mounted(
        config: Config,
        db: Db,
        mount: Option<Mount>,
    ) -> Result<Application, String> {
        let jwt = JwtKeys::from_config(&config)?;
        let listener = TcpListener::bind(&config.bind)
            .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?
            .port();
        let metrics = Metrics::new().map_err(|e| format!("metrics: {e}"))?;
        let blobs = BlobStore::open(&config.blob_settings()?, config.data_dir.join("spool"))
            .map_err(|e| e.to_string())?;
        let wake = Arc::new(Notify::new());
        let renderers = Renderers::start(config.jobs_concurrency)
            .map_err(|e| format!("cannot start the rendition threads: {e}"))?;
        let photos = PhotoStore::new(
            db.clone(),
            blobs,
            config.photo_settings(),
            wake.clone(),
            renderers,
        );
        // What a killed process left in the spool; safe with other nodes on the same folder,
        // since only files no live upload can be writing go.
        let spooled = photos.sweep_spool();
        if spooled > 0 {
            tracing::info!(
                files = spooled,
                "removed spool files left by an earlier process"
            );
        }
        let worker = config.jobs_enabled.then(|| {
            let w = Worker::new(
                db.clone(),
                Duration::from_millis(config.jobs_poll_ms.max(10)),
                config.jobs_concurrency,
                wake,
            );
            worker::with_photo_jobs(
                w,
                photos.clone(),
                config.sweep_interval_secs.saturating_mul(1000),
            )
        });
        let workers = config.workers;
        let shutdown = config.shutdown_timeout_secs;
        let overdue_interval = config.overdue_scan_interval_secs;
        let retention_ms = config.tombstone_retention_secs.saturating_mul(1000);
        let background_db = db.clone();
        let webhooks = crate::webhook_delivery::DeliverySettings::from_config(&config);
        let webhook_db = crate::webhook_delivery::worker_db(&db, &config);
        let limiter = crate::limits::ClientLimiter::new(config.client_rate_limit_per_minute);
        let state = web::Data::new(AppState {
            db,
            jwt,
            config: Arc::new(config),
            limiter,
            photos,
        });
        let metrics = web::Data::new(metrics);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(metrics.clone())
                .app_data(json_config(state.config.max_json_bytes))
                .app_data(web::PayloadConfig::new(state.config.max_push_bytes))
                .app_data(web::PathConfig::default().error_handler(|e, _| {
                    ApiError::bad_request("invalid_path", e.to_string()).into()
                }))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::bad_request("invalid_query", e.to_string()).into()
                }))
                .configure(routes::configure)
                .configure(|cfg| {
                    if let Some(mount) = mount {
                        mount(cfg);
                    }
                })
                .default_service(web::to(unknown_route))
                .wrap(ErrorHandlers::new().default_handler(problem_for_framework_errors))
                .wrap(from_fn(routes::tus::resumable_header))
                .wrap(from_fn(observe))
        })
        .listen(listener)
        .map_err(|e| format!("cannot start the server: {e}"))?
        .shutdown_timeout(shutdown)
        .client_request_timeout(Duration::from_secs(30));
        if workers > 0 {
            server = server.workers(workers);
        }
        Ok(Application {
            port,
            server: server.run(),
            db: background_db,
            overdue_interval,
            retention_ms,
            webhooks,
            webhook_db,
            worker,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until SIGINT/SIGTERM; in-flight requests get `shutdown_timeout_secs` to finish.
    /// The background worker runs alongside and stops with the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut tasks = Vec::new();
        if self.overdue_interval > 0 {
            let node = uuid::Uuid::now_v7().to_string();
            tasks.push(tokio::spawn(crate::background::maintenance_loop(
                self.db.clone(),
                Duration::from_secs(self.overdue_interval),
                self.retention_ms,
                node,
            )));
        }
        if self.webhooks.concurrency > 0 {
            tasks.push(tokio::spawn(crate::webhook_delivery::delivery_loop(
                self.webhook_db.clone(),
                self.webhooks.clone(),
                uuid::Uuid::now_v7().to_string(),
            )));
        }
        if let Some(worker) = self.worker {
            tasks.push(tokio::spawn(worker.run()));
        }
        let result = self.server.await;
        for t in tasks {
            t.abort();
        }
        result
    }
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            use actix_web::error::JsonPayloadError as E;
            let api = match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::new(
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the JSON body is larger than the {limit} bytes allowed"),
                )
                .with("max_bytes", serde_json::json!(limit)),
                E::ContentType => ApiError::new(
                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ),
                E::Deserialize(e) if e.is_data() => ApiError::unprocessable(
                    "invalid_body",
                    format!("the body does not match the expected shape: {e}"),
                ),
                E::Deserialize(e) => ApiError::bad_request(
                    "malformed_json",
                    format!("the body is not valid JSON: {e}"),
                ),
                other => ApiError::bad_request("invalid_body", other.to_string()),
            };
            api.into()
        })
}

/// Unknown path: 404; a known path with another method: 405 naming the allowed ones.
async fn unknown_route(req: HttpRequest) -> HttpResponse {
    let allowed = routes::methods_for(req.path());
    if allowed.is_empty() {
        return actix_web::ResponseError::error_response(&ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "route_not_found",
            format!("no route {} {}", req.method(), req.path()),
        ));
    }
    let mut res = actix_web::ResponseError::error_response(&ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; use {}",
            req.method(),
            req.path(),
            allowed.join(", ")
        ),
    ));
    if let Ok(v) = header::HeaderValue::from_str(&allowed.join(", ")) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// Any error response that is not problem+json yet (the framework's own) becomes one. The
/// console's HTML error pages are meant for people and stay as they are.
fn problem_for_framework_errors<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let keep = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("text/html"));
    if keep {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let detail = res
        .response()
        .error()
        .map(|e| e.to_string())
        .filter(|_| status.is_client_error())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        431 => "headers_too_large",
        503 => "unavailable",
        s if s >= 500 => "internal_error",
        _ => "http_error",
    };
    let problem = ApiError::new(status, code, detail);
    let (req, _) = res.into_parts();
    let response: HttpResponse<BoxBody> = actix_web::ResponseError::error_response(&problem);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}
