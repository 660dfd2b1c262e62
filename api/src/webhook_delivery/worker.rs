//! The delivery worker every node runs: it claims due deliveries, sends each signed, and
//! stores the outcomes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use hazardloop_storage::webhooks::{self, Attempt, Claimed};
use hazardloop_storage::{now_ms, Db};

use super::retry::RetryPolicy;
use super::signing::sign;
use super::url_guard::{check_static, AllowList, CheckedResolver};
use crate::config::Config;

/// Everything the delivery worker needs from the configuration.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Deliveries in flight at once on this node (0: no worker).
    pub concurrency: usize,
    pub poll: Duration,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub disable_after: i32,
    pub log_retention_ms: i64,
    pub allow: AllowList,
}

impl DeliverySettings {
    /// From the configuration.
    pub fn from_config(c: &Config) -> DeliverySettings {
        DeliverySettings {
            concurrency: c.webhook_concurrency,
            poll: Duration::from_millis(c.webhook_poll_interval_ms.max(10)),
            timeout: Duration::from_secs(c.webhook_timeout_secs.max(1)),
            retry: RetryPolicy {
                base_ms: c.webhook_retry_base_ms,
                max_ms: c.webhook_retry_max_ms,
                max_age_ms: c.webhook_max_age_secs.saturating_mul(1000),
            },
            disable_after: c.webhook_disable_after_failures.min(i32::MAX as u32) as i32,
            log_retention_ms: c.webhook_log_retention_secs.saturating_mul(1000),
            allow: AllowList::new(&c.webhook_allow_hosts),
        }
    }
}

/// The database handle of the delivery worker. On PostgreSQL a pool of its own (two
/// connections), so the worker never queues behind request handlers for a connection when the
/// node is saturated with writes (it would otherwise fall behind exactly when there is most to
/// send); on SQLite the shared handle, whose writer lock keeps one writer per process.
pub fn worker_db(db: &Db, config: &Config) -> Db {
    if config.webhook_concurrency == 0 || db.backend() != hazardloop_storage::Backend::Postgres {
        return db.clone();
    }
    let settings = hazardloop_storage::DbSettings {
        max_connections: 2,
        ..config.db_settings()
    };
    match Db::connect(&config.database_url(), &settings) {
        Ok(own) => own,
        Err(e) => {
            tracing::warn!(error = %e, "webhook worker shares the request pool");
            db.clone()
        }
    }
}

/// The HTTP client deliveries are sent with: no redirects, no proxies, the checking resolver.
pub fn delivery_client(s: &DeliverySettings) -> Result<reqwest::Client, String> {
    hazardloop_storage::tls::install_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(s.timeout)
        .connect_timeout(s.timeout)
        .user_agent(concat!("HazardLoop-Webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(CheckedResolver {
            allow: s.allow.clone(),
        }))
        .build()
        .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))
}

/// What one attempt came to.
#[derive(Debug)]
pub struct Sent {
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// Sends one delivery, signed; never fails (the outcome says what happened).
pub async fn send(
    client: &reqwest::Client,
    d: &Claimed,
    allow: &AllowList,
    timeout: Duration,
) -> Sent {
    let failed = |e: String| Sent {
        status_code: None,
        error: Some(e),
    };
    // The URL was checked when it was saved; check it again (the allow-list may have changed).
    // Names are checked again by the resolver as the connection is made.
    let url = match check_static(&d.url, allow) {
        Ok((url, _)) => url,
        Err(e) => return failed(format!("url not allowed: {e}")),
    };
    let timestamp = now_ms() / 1000;
    let signature = match sign(&d.secret, &d.message_id, timestamp, &d.payload) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let res = client
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &d.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    match res {
        Ok(mut res) => {
            let status = res.status().as_u16();
            if res.status().is_success() {
                return Sent {
                    status_code: Some(status),
                    error: None,
                };
            }
            // A little of the answer helps whoever reads the delivery log.
            let mut body = Vec::new();
            while body.len() < 300 {
                match res.chunk().await {
                    Ok(Some(c)) => body.extend_from_slice(&c),
                    _ => break,
                }
            }
            body.truncate(300);
            let text = String::from_utf8_lossy(&body).trim().to_string();
            let mut error = format!("HTTP {status}");
            if res.status().is_redirection() {
                error.push_str(" (redirects are not followed)");
            }
            if !text.is_empty() {
                error.push_str(": ");
                error.push_str(&text);
            }
            Sent {
                status_code: Some(status),
                error: Some(error),
            }
        }
        Err(e) if e.is_timeout() => failed(format!("timed out after {} s", timeout.as_secs())),
        Err(e) => failed(error_chain(&e)),
    }
}

/// Claims, sends and records deliveries until the process stops. Every node runs one; the
/// database leases keep two nodes off the same delivery.
///
/// Each round is one write transaction that stores the attempts finished since the last round
/// and leases as many due deliveries as there is room for, so the worker needs few turns at the
/// database (on SQLite it queues for the one writer with every request).
pub async fn delivery_loop(db: Db, s: DeliverySettings, node: String) {
    let client = match delivery_client(&s) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook deliveries are off on this node");
            return;
        }
    };
    // A lease outlives the request's timeout by a margin, so it only lapses if the node died.
    let lease_ms = (s.timeout.as_millis() as i64).saturating_add(30_000);
    let capacity = s.concurrency.max(1);
    let mut inflight = FuturesUnordered::new();
    let mut done: Vec<Result<(Claimed, Sent), tokio::task::JoinError>> = Vec::new();
    let mut last_prune: Option<Instant> = None;
    loop {
        let room = capacity.saturating_sub(inflight.len());
        let attempts = attempts_of(&s, std::mem::take(&mut done), now_ms());
        let mut saturated = room == 0;
        if room > 0 || !attempts.is_empty() {
            let holder = node.clone();
            let disable_after = s.disable_after;
            let round = db
                .write(move |c| {
                    let now = now_ms();
                    let failing = if attempts.is_empty() {
                        Vec::new()
                    } else {
                        webhooks::record(c, &holder, &attempts, disable_after, now)?
                    };
                    let claimed = if room > 0 {
                        webhooks::claim(c, &holder, now, lease_ms, room as i64)?
                    } else {
                        Vec::new()
                    };
                    Ok((failing, claimed))
                })
                .await;
            match round {
                Ok((failing, batch)) => {
                    saturated = saturated || batch.len() == room;
                    for d in batch {
                        let client = client.clone();
                        let allow = s.allow.clone();
                        let timeout = s.timeout;
                        inflight.push(tokio::spawn(async move {
                            let sent = send(&client, &d, &allow, timeout).await;
                            (d, sent)
                        }));
                    }
                    disable_failing(&db, failing, s.disable_after).await;
                }
                Err(e) => {
                    // Attempts not stored are sent again when their leases run out (same
                    // webhook-id).
                    tracing::warn!(error = %e, "webhook delivery round failed; retrying");
                    tokio::time::sleep(s.poll).await;
                    continue;
                }
            }
        }
        let first = if inflight.is_empty() {
            idle(&s).await;
            None
        } else if saturated {
            inflight.next().await
        } else {
            tokio::select! {
                r = inflight.next() => r,
                _ = idle(&s) => None,
            }
        };
        if let Some(r) = first {
            done.push(r);
            while let Some(Some(r)) = inflight.next().now_or_never() {
                done.push(r);
            }
        }
        let prune_due = match last_prune {
            None => true,
            Some(t) => t.elapsed() > Duration::from_secs(600),
        };
        if prune_due {
            last_prune = Some(Instant::now());
            let before = now_ms().saturating_sub(s.log_retention_ms);
            match db.write(move |c| webhooks::prune(c, before)).await {
                Ok(n) if n > 0 => tracing::info!(pruned = n, "webhook delivery log pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "pruning the webhook delivery log failed"),
            }
        }
    }
}

/// Waits until a local write enqueues deliveries (then a moment more, so its transaction has
/// committed and several events go out together) or the poll interval passes.
async fn idle(s: &DeliverySettings) {
    tokio::select! {
        _ = webhooks::woken() => tokio::time::sleep(Duration::from_millis(5)).await,
        _ = tokio::time::sleep(s.poll) => {}
    }
}

/// Finished sends as attempts to store, each failure with its next attempt (or none: give up).
fn attempts_of(
    s: &DeliverySettings,
    done: Vec<Result<(Claimed, Sent), tokio::task::JoinError>>,
    now: i64,
) -> Vec<Attempt> {
    done.into_iter()
        .filter_map(|r| match r {
            Ok(x) => Some(x),
            Err(e) => {
                // The lease runs out and the delivery is retried.
                tracing::error!(error = %e, "a webhook send task failed");
                None
            }
        })
        .map(|(d, sent)| {
            let retry_at = match &sent.error {
                None => None,
                Some(_) => {
                    s.retry
                        .retry_at(d.attempts + 1, d.created_at, now, rand::random::<f64>())
                }
            };
            if let Some(e) = &sent.error {
                tracing::debug!(delivery = %d.id, attempt = d.attempts + 1, error = %e,
                    "webhook delivery attempt failed");
            }
            Attempt {
                delivery_id: d.id,
                webhook_id: d.webhook_id,
                status_code: sent.status_code,
                error: sent.error,
                retry_at,
            }
        })
        .collect()
}

/// Disables the webhooks whose deliveries kept failing, each in its own transaction.
async fn disable_failing(db: &Db, failing: Vec<webhooks::FailingWebhook>, disable_after: i32) {
    for f in failing {
        let reason = format!(
            "{} consecutive deliveries failed; the last: {}",
            f.consecutive_failures, f.last_error
        );
        let id = f.webhook_id.clone();
        let result = db
            .write(move |c| {
                webhooks::disable(
                    c,
                    &f.org_id,
                    &f.webhook_id,
                    &reason,
                    None,
                    Some(disable_after),
                    now_ms(),
                )
            })
            .await;
        match result {
            Ok(true) => tracing::warn!(webhook = %id, "webhook disabled after persistent failure"),
            Ok(false) => {}
            Err(e) => tracing::warn!(webhook = %id, error = %e, "disabling a webhook failed"),
        }
    }
}
