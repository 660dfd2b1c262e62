//! Sending webhooks: which target URLs are allowed, Standard Webhooks signatures, the retry
//! schedule, and the delivery worker every node runs.
//!
//! The worker claims due deliveries from the database outbox (`storage::webhooks::claim`: a
//! lease per row, `FOR UPDATE SKIP LOCKED` on PostgreSQL, so nodes share the work and each
//! delivery is in one node's hands at a time), sends each in its own task with a timeout, and
//! stores the outcomes in batches (`storage::webhooks::record`). It never holds a database
//! connection while a request is in flight.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use hazardloop_storage::webhooks::{self, Attempt, Claimed};
use hazardloop_storage::{now_ms, Db};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::config::Config;

/// Accepts a list, or one string of entries separated by commas or whitespace (how a list
/// arrives from an environment variable).
pub fn string_or_list<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(str::to_string)
            .collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Where webhooks may go.

/// True for an address a webhook must not reach unless allow-listed: loopback, private
/// (RFC 1918, fc00::/7), link-local, unspecified, broadcast, CGNAT (100.64.0.0/10), multicast,
/// reserved and benchmarking ranges, and IPv6 forms that embed such an IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || o[0] >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    // NAT64 (64:ff9b::/96) and the deprecated IPv4-compatible form (::a.b.c.d).
    if (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0]) || s[0..6] == [0; 6] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return ip.is_unspecified() || ip.is_loopback() || internal_v4(v4);
    }
    // 6to4 (2002::/16) carries an IPv4 address in the next 32 bits.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return internal_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AllowEntry {
    Host(String),
    Net(IpAddr, u8),
}

/// The configured exceptions (`webhook_allow_hosts`): host names, IP addresses and CIDR ranges
/// that webhooks may reach although they are internal.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<AllowEntry>);

fn prefix_match(a: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = bits.min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            (u32::from(a) & mask) == (u32::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = bits.min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            (u128::from(a) & mask) == (u128::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| prefix_match(IpAddr::V4(a), net, bits)),
        _ => false,
    }
}

impl AllowList {
    /// Parses entries: `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`, `[::1]`, `hooks.internal`.
    pub fn new(entries: &[String]) -> AllowList {
        let parsed = entries
            .iter()
            .filter_map(|raw| {
                let e = raw
                    .trim()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase();
                if e.is_empty() {
                    return None;
                }
                if let Some((ip, bits)) = e.split_once('/') {
                    let ip: IpAddr = ip.trim_end_matches(']').parse().ok()?;
                    let bits: u8 = bits.parse().ok()?;
                    return Some(AllowEntry::Net(ip, bits));
                }
                if let Ok(ip) = e.parse::<IpAddr>() {
                    let bits = if ip.is_ipv4() { 32 } else { 128 };
                    return Some(AllowEntry::Net(ip, bits));
                }
                Some(AllowEntry::Host(e.trim_end_matches('.').to_string()))
            })
            .collect();
        AllowList(parsed)
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.0
            .iter()
            .any(|e| matches!(e, AllowEntry::Host(h) if *h == host))
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|e| matches!(e, AllowEntry::Net(n, bits) if prefix_match(ip, *n, *bits)))
    }

    /// True when `ip` may be reached: not internal, or allow-listed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allows_ip(ip)
    }
}

/// Why a target URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not a URL at all (422 `validation_failed`).
    Malformed(String),
    /// A URL this server will not call (422 `url_not_allowed`).
    NotAllowed(String),
}

impl std::fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlRefusal::Malformed(m) | UrlRefusal::NotAllowed(m) => f.write_str(m),
        }
    }
}

enum Target {
    /// Nothing more to check (an allowed IP literal, or an allow-listed name).
    Ready,
    /// A host name whose addresses must be checked.
    Resolve(String, u16),
}

/// The checks that need no DNS: scheme, host present, IP literals, allow-listed names.
fn check_static(raw: &str, allow: &AllowList) -> Result<(reqwest::Url, Target), UrlRefusal> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| UrlRefusal::Malformed(format!("url is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefusal::NotAllowed(format!(
            "only http and https URLs are allowed, not {}:",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // They would show in the webhook's JSON and in error messages; the signature is how a
        // receiver knows the request is ours.
        return Err(UrlRefusal::Malformed(
            "url must not carry credentials (user:password@); receivers authenticate requests \
             by their signature"
                .into(),
        ));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let target = match url.host() {
        None => return Err(UrlRefusal::Malformed("url has no host".into())),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), allow).map(|_| Target::Ready)?,
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), allow).map(|_| Target::Ready)?,
        Some(url::Host::Domain(d)) if allow.allows_host(d) => Target::Ready,
        Some(url::Host::Domain(d)) => Target::Resolve(d.to_string(), port),
    };
    Ok((url, target))
}

fn check_ip(ip: IpAddr, allow: &AllowList) -> Result<(), UrlRefusal> {
    if allow.permits(ip) {
        Ok(())
    } else {
        Err(UrlRefusal::NotAllowed(format!(
            "{ip} is a loopback, private, link-local or otherwise internal address; \
             add it to webhook_allow_hosts to allow it"
        )))
    }
}

async fn resolve_checked(
    host: &str,
    port: u16,
    allow: &AllowList,
) -> Result<Vec<SocketAddr>, UrlRefusal> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| UrlRefusal::NotAllowed(format!("cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(UrlRefusal::NotAllowed(format!("{host} has no address")));
    }
    if let Some(bad) = addrs.iter().find(|a| !allow.permits(a.ip())) {
        return Err(UrlRefusal::NotAllowed(format!(
            "{host} resolves to {}, a loopback, private, link-local or otherwise internal \
             address; add the host or address to webhook_allow_hosts to allow it",
            bad.ip()
        )));
    }
    Ok(addrs)
}

/// Checks a target URL as a subscription is created or changed: http(s), and neither its IP
/// nor any address its host resolves to is internal, unless allow-listed.
pub async fn check_url(raw: &str, allow: &AllowList) -> Result<reqwest::Url, UrlRefusal> {
    if raw.len() > 2048 {
        return Err(UrlRefusal::Malformed(
            "url is longer than 2048 characters".into(),
        ));
    }
    let (url, target) = check_static(raw, allow)?;
    if let Target::Resolve(host, port) = target {
        resolve_checked(&host, port, allow).await?;
    }
    Ok(url)
}

/// The DNS resolver of the delivery client: it refuses names that resolve to internal
/// addresses at connection time, so a name that changed its answer since the subscription was
/// checked (DNS rebinding) still cannot reach the inside.
struct CheckedResolver {
    allow: AllowList,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = if allow.allows_host(&host) {
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect()
            } else {
                resolve_checked(&host, 0, &allow)
                    .await
                    .map_err(|e| Box::new(std::io::Error::other(e.to_string())))?
            };
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures.

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> String {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The `webhook-signature` value for a message: `v1,` and the base64 HMAC-SHA256, keyed with
/// the base64-decoded part of the secret after `whsec_`, of `{id}.{timestamp}.{body}`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| format!("the webhook secret is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!("v1,{}", b64.encode(mac.finalize().into_bytes())))
}

// ---------------------------------------------------------------------------------------------
// Retries.

/// The retry schedule.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt.
    pub base_ms: u64,
    /// Longest delay.
    pub max_ms: u64,
    /// A delivery older than this is not retried.
    pub max_age_ms: i64,
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts (1 for the first failure), with
    /// `jitter` in 0..1 adding up to 20 % to the delay; `None` once the next attempt would fall
    /// after the delivery's `created_at + max_age`. Delays double: base, 2 base, 4 base, ...
    /// up to `max_ms`.
    pub fn retry_at(&self, attempts: i32, created_at: i64, now: i64, jitter: f64) -> Option<i64> {
        let doublings = (attempts.max(1) - 1).min(40) as u32;
        let delay = self
            .base_ms
            .max(1)
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms.max(1));
        let delay = (delay as f64 * (1.0 + 0.2 * jitter.clamp(0.0, 1.0))) as i64;
        let at = now.saturating_add(delay);
        (at <= created_at.saturating_add(self.max_age_ms)).then_some(at)
    }
}

// ---------------------------------------------------------------------------------------------
// The worker.

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
        ] {
            assert!(is_internal(ip(s)), "{s} should be internal");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn allow_list_entries() {
        let a = AllowList::new(&[
            "127.0.0.1".into(),
            "10.0.0.0/8".into(),
            "[::1]".into(),
            "Hooks.Internal.".into(),
        ]);
        assert!(a.permits(ip("127.0.0.1")));
        assert!(!a.permits(ip("127.0.0.2")));
        assert!(a.permits(ip("10.200.1.1")));
        assert!(a.permits(ip("::1")));
        assert!(a.permits(ip("::ffff:10.0.0.1")));
        assert!(!a.permits(ip("192.168.0.1")));
        assert!(a.allows_host("hooks.internal"));
        assert!(!a.allows_host("other.internal"));
    }

    #[tokio::test]
    async fn urls_are_checked() {
        let none = AllowList::default();
        for u in [
            "http://127.0.0.1:9000/hook",
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://localhost/",
            "ftp://example.com/",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(check_url(u, &none).await, Err(UrlRefusal::NotAllowed(_))),
                "{u} should be refused"
            );
        }
        for u in ["not a url", "https://user:secret@8.8.8.8/hook"] {
            assert!(
                matches!(check_url(u, &none).await, Err(UrlRefusal::Malformed(_))),
                "{u} should be malformed"
            );
        }
        assert!(check_url("https://8.8.8.8/hook", &none).await.is_ok());
        let local = AllowList::new(&["127.0.0.1".into()]);
        assert!(check_url("http://127.0.0.1:9000/hook", &local)
            .await
            .is_ok());
        assert!(check_url("http://10.0.0.1/", &local).await.is_err());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_look_right() {
        let s = generate_secret();
        assert!(s.starts_with("whsec_"));
        let key = base64::engine::general_purpose::STANDARD
            .decode(&s[6..])
            .unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(s, generate_secret());
    }

    #[test]
    fn retries_back_off_and_stop() {
        let p = RetryPolicy {
            base_ms: 1000,
            max_ms: 10_000,
            max_age_ms: 60_000,
        };
        assert_eq!(p.retry_at(1, 0, 0, 0.0), Some(1000));
        assert_eq!(p.retry_at(2, 0, 0, 0.0), Some(2000));
        assert_eq!(p.retry_at(3, 0, 0, 0.0), Some(4000));
        assert_eq!(p.retry_at(3, 0, 0, 1.0), Some(4800));
        assert_eq!(p.retry_at(10, 0, 0, 0.0), Some(10_000));
        assert_eq!(p.retry_at(100, 0, 0, 0.0), Some(10_000));
        assert_eq!(p.retry_at(1, 0, 59_500, 0.0), None);
    }

    #[test]
    fn allow_hosts_from_the_environment() {
        use figment::providers::{Env, Serialized};
        for (value, expected) in [
            (
                "127.0.0.1,hooks.internal",
                vec!["127.0.0.1", "hooks.internal"],
            ),
            ("[127.0.0.1, 10.0.0.0/8]", vec!["127.0.0.1", "10.0.0.0/8"]),
            ("127.0.0.1", vec!["127.0.0.1"]),
        ] {
            std::env::set_var("HLWHTEST_WEBHOOK_ALLOW_HOSTS", value);
            let c: Config = figment::Figment::from(Serialized::defaults(Config::default()))
                .merge(Env::prefixed("HLWHTEST_"))
                .extract()
                .unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(c.webhook_allow_hosts, expected, "{value}");
        }
        std::env::remove_var("HLWHTEST_WEBHOOK_ALLOW_HOSTS");
    }

    #[test]
    fn allow_hosts_from_a_string_or_a_list() {
        #[derive(Deserialize)]
        struct C {
            #[serde(deserialize_with = "string_or_list")]
            hosts: Vec<String>,
        }
        let c: C = serde_json::from_str(r#"{"hosts": "127.0.0.1, hooks.internal"}"#).unwrap();
        assert_eq!(c.hosts, ["127.0.0.1", "hooks.internal"]);
        let c: C = serde_json::from_str(r#"{"hosts": ["10.0.0.0/8"]}"#).unwrap();
        assert_eq!(c.hosts, ["10.0.0.0/8"]);
    }
}
