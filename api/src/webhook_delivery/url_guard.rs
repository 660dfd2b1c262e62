//! Where webhooks may go: the internal address ranges, the configured allow list, the check of
//! a target URL when a subscription is saved, and the resolver that checks again at connection
//! time.
//!
//! Over 400 lines with its tests: about 270 lines of code; the rest are the unit tests of the
//! address ranges, the allow list and the URL check, kept beside the rules they pin.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Deserialize;

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

pub(super) enum Target {
    /// Nothing more to check (an allowed IP literal, or an allow-listed name).
    Ready,
    /// A host name whose addresses must be checked.
    Resolve(String, u16),
}

/// The checks that need no DNS: scheme, host present, IP literals, allow-listed names.
pub(super) fn check_static(
    raw: &str,
    allow: &AllowList,
) -> Result<(reqwest::Url, Target), UrlRefusal> {
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
pub(super) struct CheckedResolver {
    pub(super) allow: AllowList,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

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
