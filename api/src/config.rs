//! Layered configuration: built-in defaults, then a TOML file, then `HAZARDLOOP_*` environment
//! variables (and `DATABASE_URL`). Secrets are never printed: `Debug` redacts them.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use hazardloop_media::DecodeLimits;
use hazardloop_storage::blob::{BlobSettings, S3Settings};
use hazardloop_storage::photos::PhotoSettings;
use serde::{Deserialize, Serialize};

/// Every setting of the server. Field names are the TOML keys; the environment variable is the
/// upper-case name with the `HAZARDLOOP_` prefix (e.g. `HAZARDLOOP_BIND`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// Folder for the SQLite file, the signing key and photos.
    pub data_dir: PathBuf,
    /// `postgres://...` or a SQLite path; default `<data_dir>/hazardloop.db`.
    pub database_url: Option<String>,
    /// HMAC key for access tokens (at least 32 bytes). Default: generated once into
    /// `<data_dir>/jwt.key` with mode 0600. Several nodes must share one key.
    pub jwt_secret: Option<String>,
    /// `iss` of issued tokens, checked on every request.
    pub jwt_issuer: String,
    /// `aud` of issued tokens, checked on every request.
    pub jwt_audience: String,
    /// Access token lifetime.
    pub access_token_ttl_secs: i64,
    /// Refresh token lifetime.
    pub refresh_token_ttl_secs: i64,
    /// Failed sign-ins within `login_window_secs` that lock an address.
    pub login_max_failures: i32,
    /// The window for counting failed sign-ins.
    pub login_window_secs: i64,
    /// How long an address stays locked.
    pub login_lockout_secs: i64,
    /// A web console session ends after this long without a request.
    pub console_idle_secs: i64,
    /// A web console session ends this long after sign-in, however busy.
    pub console_absolute_secs: i64,
    /// Mark console cookies `Secure` even when the request did not arrive over HTTPS as far as
    /// the server can tell (TLS ended by a proxy that sends no `X-Forwarded-Proto`).
    pub console_secure_cookies: bool,
    /// Largest accepted JSON body.
    pub max_json_bytes: usize,
    /// Database connections per node.
    pub db_max_connections: u32,
    /// How long a request waits for a database connection before answering 503 (ms). Short,
    /// so that while the database is unreachable clients and load balancers get a quick 503
    /// rather than a timeout.
    pub db_acquire_timeout_ms: u64,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Seconds to let in-flight requests finish on SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    /// How far ahead of the server a device clock may run before it is clamped and flagged.
    pub max_clock_skew_secs: i64,
    /// How often the overdue scan runs (0 disables it on this node).
    pub overdue_scan_interval_secs: u64,
    /// Most mutations in one sync push (413 above).
    pub max_push_mutations: usize,
    /// Largest sync push body.
    pub max_push_bytes: usize,
    /// How long tombstones of deleted drafts are kept; older pull cursors get 410.
    pub tombstone_retention_secs: i64,
    /// Hosts, IP addresses or CIDR ranges webhooks may target even though they are loopback,
    /// private, link-local or otherwise internal. A list in TOML; in the environment a
    /// comma-separated string (`HAZARDLOOP_WEBHOOK_ALLOW_HOSTS=127.0.0.1,hooks.internal`) or
    /// `[a, b]`.
    #[serde(deserialize_with = "crate::webhook_delivery::string_or_list")]
    pub webhook_allow_hosts: Vec<String>,
    /// Timeout of one webhook request (connect and whole answer).
    pub webhook_timeout_secs: u64,
    /// How long a delivery is retried before it is `failed`.
    pub webhook_max_age_secs: i64,
    /// The first retry delay; each further retry doubles it (plus up to 20 % jitter).
    pub webhook_retry_base_ms: u64,
    /// The longest delay between two attempts.
    pub webhook_retry_max_ms: u64,
    /// Consecutive failed deliveries after which a webhook is disabled (0: never).
    pub webhook_disable_after_failures: u32,
    /// How often an idle delivery worker looks for due deliveries.
    pub webhook_poll_interval_ms: u64,
    /// Deliveries one node sends at once (0: this node sends none).
    pub webhook_concurrency: usize,
    /// How long delivered and failed deliveries stay in the delivery log.
    pub webhook_log_retention_secs: i64,
    /// Lifetime of an integration client's access token; a revoked client keeps working at
    /// most this long.
    pub client_token_ttl_secs: i64,
    /// Requests per minute per integration client, on each node (429 above).
    pub client_rate_limit_per_minute: u32,
    /// How long an Idempotency-Key and its stored answer are kept.
    pub idempotency_ttl_secs: i64,
    /// Folder of the local blob store; default `<data_dir>/blobs`. Unused with S3.
    pub blob_dir: Option<PathBuf>,
    /// S3 bucket; setting it selects S3-compatible object storage for photos.
    pub s3_bucket: Option<String>,
    /// S3 endpoint URL (`https://minio.example:9000`); unset for AWS.
    pub s3_endpoint: Option<String>,
    /// S3 region.
    pub s3_region: String,
    /// S3 access key id.
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key (never printed).
    pub s3_secret_access_key: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`); default: on when `s3_endpoint` is set.
    pub s3_path_style: Option<bool>,
    /// Allow an `http://` S3 endpoint.
    pub s3_allow_http: bool,
    /// Multipart part size of resumable uploads on S3 (at least 5 MiB).
    pub s3_part_bytes: usize,
    /// Largest photo accepted.
    pub photo_max_bytes: u64,
    /// Most pixels (width x height) a photo may have.
    pub photo_max_pixels: u64,
    /// Longest side (width or height) a photo may have.
    pub photo_max_side: u32,
    /// Most bytes a decoder may allocate for one photo.
    pub photo_decode_max_bytes: u64,
    /// Photos no entity links are deleted this long after they arrived.
    pub photo_orphan_ttl_secs: i64,
    /// A photo captured longer than this before the report (or start) of the entity linking
    /// it is flagged `captured_long_before_report` on the link (0 turns the check off).
    pub photo_max_capture_age_secs: i64,
    /// An unfinished resumable upload is deleted this long after its last chunk.
    pub upload_expiry_secs: i64,
    /// An upload body that sends nothing for this long is treated as broken off.
    pub upload_idle_timeout_secs: u64,
    /// Run background jobs (renditions, sweeps) on this node.
    pub jobs_enabled: bool,
    /// How often an idle worker looks for jobs enqueued by other nodes.
    pub jobs_poll_ms: u64,
    /// Jobs run at once on this node.
    pub jobs_concurrency: usize,
    /// How often the orphan-photo and expired-upload sweeps run.
    pub sweep_interval_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            jwt_secret: None,
            jwt_issuer: "hazardloop".into(),
            jwt_audience: "hazardloop-api".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            login_max_failures: 5,
            console_idle_secs: 30 * 60,
            console_absolute_secs: 12 * 3600,
            console_secure_cookies: false,
            login_window_secs: 15 * 60,
            login_lockout_secs: 15 * 60,
            max_json_bytes: 1024 * 1024,
            db_max_connections: 10,
            db_acquire_timeout_ms: 2000,
            workers: 0,
            log_format: "text".into(),
            shutdown_timeout_secs: 30,
            max_clock_skew_secs: 300,
            overdue_scan_interval_secs: 60,
            max_push_mutations: 500,
            max_push_bytes: 8 * 1024 * 1024,
            tombstone_retention_secs: 30 * 24 * 3600,
            webhook_allow_hosts: Vec::new(),
            webhook_timeout_secs: 10,
            webhook_max_age_secs: 24 * 3600,
            webhook_retry_base_ms: 5_000,
            webhook_retry_max_ms: 3_600_000,
            webhook_disable_after_failures: 5,
            webhook_poll_interval_ms: 500,
            webhook_concurrency: 32,
            webhook_log_retention_secs: 30 * 24 * 3600,
            client_token_ttl_secs: 300,
            client_rate_limit_per_minute: 600,
            idempotency_ttl_secs: 24 * 3600,
            blob_dir: None,
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_path_style: None,
            s3_allow_http: false,
            s3_part_bytes: 5 * 1024 * 1024,
            photo_max_bytes: 25 * 1024 * 1024,
            photo_max_pixels: 100_000_000,
            photo_max_side: 20_000,
            photo_decode_max_bytes: 512 * 1024 * 1024,
            photo_orphan_ttl_secs: 7 * 24 * 3600,
            photo_max_capture_age_secs: 7 * 24 * 3600,
            upload_expiry_secs: 24 * 3600,
            upload_idle_timeout_secs: 30,
            jobs_enabled: true,
            jobs_poll_ms: 1000,
            jobs_concurrency: 2,
            sweep_interval_secs: 600,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(hazardloop_storage::db::redact_url),
            )
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout_ms", &self.db_acquire_timeout_ms)
            .field("log_format", &self.log_format)
            .field("webhook_allow_hosts", &self.webhook_allow_hosts)
            .field("webhook_concurrency", &self.webhook_concurrency)
            .field("blob_dir", &self.blob_dir)
            .field("s3_bucket", &self.s3_bucket)
            .field("s3_endpoint", &self.s3_endpoint)
            .field("s3_access_key_id", &self.s3_access_key_id)
            .field(
                "s3_secret_access_key",
                &self.s3_secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("photo_max_bytes", &self.photo_max_bytes)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Loads defaults, then `file` (when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!(
                    "configuration file {} does not exist",
                    path.display()
                ));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Env::prefixed("HAZARDLOOP_"));
        fig.extract()
            .map_err(|e| format!("invalid configuration: {e}"))
    }

    /// Where photo bytes live: S3 when `s3_bucket` is set, else the local blob folder.
    pub fn blob_settings(&self) -> Result<BlobSettings, String> {
        let Some(bucket) = self.s3_bucket.as_ref().filter(|b| !b.trim().is_empty()) else {
            return Ok(BlobSettings::Local {
                root: self
                    .blob_dir
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("blobs")),
            });
        };
        let key = |v: &Option<String>, name: &str| {
            v.clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("s3_bucket is set, so {name} is needed too"))
        };
        Ok(BlobSettings::S3(S3Settings {
            endpoint: self.s3_endpoint.clone().filter(|e| !e.is_empty()),
            bucket: bucket.clone(),
            region: self.s3_region.clone(),
            access_key_id: key(&self.s3_access_key_id, "s3_access_key_id")?,
            secret_access_key: key(&self.s3_secret_access_key, "s3_secret_access_key")?,
            path_style: self.s3_path_style.unwrap_or(self.s3_endpoint.is_some()),
            allow_http: self.s3_allow_http,
            part_size: self.s3_part_bytes,
        }))
    }

    /// The write engine's settings.
    pub fn engine_settings(&self) -> hazardloop_storage::engine::EngineSettings {
        hazardloop_storage::engine::EngineSettings {
            max_clock_skew_ms: self.max_clock_skew_secs.saturating_mul(1000),
            max_capture_age_ms: self.photo_max_capture_age_secs.saturating_mul(1000),
        }
    }

    /// The photo pipeline's limits and timings.
    pub fn photo_settings(&self) -> PhotoSettings {
        PhotoSettings {
            max_bytes: self.photo_max_bytes,
            limits: DecodeLimits {
                max_width: self.photo_max_side,
                max_height: self.photo_max_side,
                max_pixels: self.photo_max_pixels,
                max_alloc: self.photo_decode_max_bytes,
            },
            orphan_ttl_ms: self.photo_orphan_ttl_secs.saturating_mul(1000),
            upload_ttl_ms: self.upload_expiry_secs.saturating_mul(1000),
            body_idle_timeout: std::time::Duration::from_secs(self.upload_idle_timeout_secs.max(1)),
            max_clock_skew_ms: self.max_clock_skew_secs.saturating_mul(1000),
            max_capture_age_ms: self.photo_max_capture_age_secs.saturating_mul(1000),
            ..PhotoSettings::default()
        }
    }

    /// The connection pool's settings.
    pub fn db_settings(&self) -> hazardloop_storage::DbSettings {
        hazardloop_storage::DbSettings {
            max_connections: self.db_max_connections,
            acquire_timeout: std::time::Duration::from_millis(self.db_acquire_timeout_ms.max(1)),
        }
    }

    /// The database URL in force: the configured one or the SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => self
                .data_dir
                .join("hazardloop.db")
                .to_string_lossy()
                .into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Config {
            jwt_secret: Some("super-secret-key-material".into()),
            database_url: Some("postgres://u:hunter2@h/db".into()),
            s3_secret_access_key: Some("s3-secret-words".into()),
            ..Config::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("super-secret"), "{s}");
        assert!(!s.contains("s3-secret-words"), "{s}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("<redacted>"), "{s}");
    }

    #[test]
    fn a_bucket_selects_s3_and_needs_keys() {
        assert!(matches!(
            Config::default().blob_settings(),
            Ok(BlobSettings::Local { root }) if root.ends_with("blobs")
        ));
        let mut c = Config {
            s3_bucket: Some("photos".into()),
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            ..Config::default()
        };
        assert!(c.blob_settings().is_err());
        c.s3_access_key_id = Some("k".into());
        c.s3_secret_access_key = Some("s".into());
        match c.blob_settings() {
            Ok(BlobSettings::S3(s3)) => {
                assert!(s3.path_style, "an endpoint implies path style");
                assert!(!format!("{s3:?}").contains("\"s\""));
            }
            _ => panic!("expected S3"),
        }
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_folder() {
        let c = Config::default();
        assert!(c.database_url().ends_with("hazardloop.db"));
        assert_eq!(c.bind, "127.0.0.1:8080");
    }
}
