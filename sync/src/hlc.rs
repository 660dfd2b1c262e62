//! Hybrid logical clocks: the order of writes across devices that were offline, without
//! trusting any one device's wall clock. Also the guard that keeps a device clock set far in the
//! future from being believed.

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// Largest wall time an [`Hlc`] can carry: the text form has 18 digits of milliseconds
/// (about 31 million years), so every clock fits and sorts as text.
pub const MAX_WALL_MS: i64 = 999_999_999_999_999_999;

/// The node name the server uses in its own readings.
pub const SERVER_NODE: &str = "server";

/// A hybrid logical clock reading: wall time in unix milliseconds, a counter that orders events
/// within the same millisecond, and the node that produced it (a device id, or `"server"`).
///
/// Readings are totally ordered by `(wall_ms, counter, node)`, and the text form sorts the same
/// way as the values: `WWWWWWWWWWWWWWWWWW-CCCCCCCCCC-node`, i.e. the wall time as 18 zero-padded
/// decimal digits, a dash, the counter as 10 zero-padded digits, a dash, then the node verbatim
/// (it may itself contain dashes, as a UUID does). Example:
/// `000001732000000000-0000000001-server`. Serde uses the same text.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Hlc {
    wall_ms: i64,
    counter: u32,
    node: String,
}

impl Hlc {
    /// A reading from its parts. Fails when the wall time is outside `0..=MAX_WALL_MS` or the
    /// node is empty or contains whitespace or control characters.
    pub fn new(wall_ms: i64, counter: u32, node: impl Into<String>) -> Result<Hlc, ParseError> {
        let node = node.into();
        let malformed = |reason: &str| ParseError::Malformed {
            kind: "hlc",
            value: format!("{wall_ms}-{counter}-{node}"),
            reason: reason.to_owned(),
        };
        if !(0..=MAX_WALL_MS).contains(&wall_ms) {
            return Err(malformed("wall time out of range"));
        }
        if node.is_empty() || node.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(malformed("node must be non-empty text without spaces"));
        }
        Ok(Hlc {
            wall_ms,
            counter,
            node,
        })
    }

    /// Wall time, unix milliseconds.
    pub fn wall_ms(&self) -> i64 {
        self.wall_ms
    }

    /// Orders readings within one millisecond.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The device id or `"server"` that produced the reading.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The next reading for a local event (or a send) on `node`: later than `prev` and than
    /// `now_ms`. `now_ms` is clamped into the representable range. Fails only for a bad `node`.
    pub fn tick(prev: Option<&Hlc>, now_ms: i64, node: &str) -> Result<Hlc, ParseError> {
        let now = now_ms.clamp(0, MAX_WALL_MS);
        let (wall, counter) = match prev {
            Some(p) if p.wall_ms >= now => bump(p.wall_ms, p.counter),
            _ => (now, 0),
        };
        Hlc::new(wall, counter, node)
    }

    /// [`Hlc::tick`] on the server's own node, [`SERVER_NODE`]; infallible.
    pub fn server_tick(prev: Option<&Hlc>, now_ms: i64) -> Hlc {
        let now = now_ms.clamp(0, MAX_WALL_MS);
        let (wall_ms, counter) = match prev {
            Some(p) if p.wall_ms >= now => bump(p.wall_ms, p.counter),
            _ => (now, 0),
        };
        Hlc {
            wall_ms,
            counter,
            node: SERVER_NODE.to_owned(),
        }
    }

    /// The next reading on `local`'s node after receiving `remote`: later than both and than
    /// `now_ms`. The server should bound a device's wall time (see [`clamp_device_time`]) before
    /// taking it in, or one device clock set in the future drags every later reading with it.
    pub fn receive(local: &Hlc, remote: &Hlc, now_ms: i64) -> Hlc {
        let now = now_ms.clamp(0, MAX_WALL_MS);
        let wall = now.max(local.wall_ms).max(remote.wall_ms);
        let (wall, counter) = if wall == local.wall_ms && wall == remote.wall_ms {
            bump(wall, local.counter.max(remote.counter))
        } else if wall == local.wall_ms {
            bump(wall, local.counter)
        } else if wall == remote.wall_ms {
            bump(wall, remote.counter)
        } else {
            (wall, 0)
        };
        Hlc {
            wall_ms: wall,
            counter,
            node: local.node.clone(),
        }
    }
}

/// The reading after `(wall, counter)` in the same millisecond, spilling into the next
/// millisecond if the counter is exhausted so the clock never goes backwards.
fn bump(wall: i64, counter: u32) -> (i64, u32) {
    match counter.checked_add(1) {
        Some(c) => (wall, c),
        None => ((wall + 1).min(MAX_WALL_MS), 0),
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:018}-{:010}-{}", self.wall_ms, self.counter, self.node)
    }
}

impl FromStr for Hlc {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = |reason: &str| ParseError::Malformed {
            kind: "hlc",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = s.splitn(3, '-');
        let (wall, counter, node) = match (parts.next(), parts.next(), parts.next()) {
            (Some(w), Some(c), Some(n)) => (w, c, n),
            _ => return Err(malformed("expected WALL-COUNTER-NODE")),
        };
        let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(wall, 18) {
            return Err(malformed("wall time must be 18 digits"));
        }
        if !digits(counter, 10) {
            return Err(malformed("counter must be 10 digits"));
        }
        let wall_ms = wall
            .parse::<i64>()
            .map_err(|_| malformed("wall time is not a number"))?;
        let counter = counter
            .parse::<u32>()
            .map_err(|_| malformed("counter out of range"))?;
        Hlc::new(wall_ms, counter, node).map_err(|_| malformed("bad node"))
    }
}

impl TryFrom<String> for Hlc {
    type Error = ParseError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Hlc> for String {
    fn from(h: Hlc) -> String {
        h.to_string()
    }
}

/// Bounds a device's clock by the server's: a device time more than `max_skew_ms` ahead of
/// `server_ms` is replaced by `server_ms` and flagged (`true`). Device times in the past are
/// kept: a phone offline for hours legitimately reports old times.
pub fn clamp_device_time(device_ms: i64, server_ms: i64, max_skew_ms: i64) -> (i64, bool) {
    if device_ms > server_ms.saturating_add(max_skew_ms.max(0)) {
        (server_ms, true)
    } else {
        (device_ms, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(wall: i64, counter: u32, node: &str) -> Hlc {
        Hlc::new(wall, counter, node).unwrap()
    }

    #[test]
    fn text_form_is_fixed_width_and_round_trips() {
        let c = h(1_732_000_000_000, 1, "server");
        assert_eq!(c.to_string(), "000001732000000000-0000000001-server");
        assert_eq!(c.to_string().parse::<Hlc>().unwrap(), c);
        let dev = h(5, u32::MAX, "0190b1a2-7c3d-7e4f-8a5b-6c7d8e9f0a1b");
        assert_eq!(dev.to_string().parse::<Hlc>().unwrap(), dev);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"000001732000000000-0000000001-server\"");
        assert_eq!(serde_json::from_str::<Hlc>(&json).unwrap(), c);
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            "",
            "1-2-x",
            "000001732000000000-0000000001-",
            "000001732000000000-0000000001",
            "00000173200000000a-0000000001-n",
            "000001732000000000-9999999999-n",
            "-00001732000000000-0000000001-n",
            "000001732000000000-0000000001-a b",
        ] {
            assert!(bad.parse::<Hlc>().is_err(), "{bad:?} parsed");
        }
        assert!(serde_json::from_str::<Hlc>("\"nope\"").is_err());
    }

    #[test]
    fn text_order_matches_value_order() {
        let mut clocks = [
            h(10, 0, "b"),
            h(9, 5, "z"),
            h(10, 0, "a"),
            h(10, 1, "a"),
            h(100_000, 0, "a"),
        ];
        let mut texts: Vec<String> = clocks.iter().map(Hlc::to_string).collect();
        clocks.sort();
        texts.sort();
        assert_eq!(texts, clocks.iter().map(Hlc::to_string).collect::<Vec<_>>());
    }

    #[test]
    fn tick_is_monotonic_even_when_the_wall_clock_goes_back() {
        let a = Hlc::tick(None, 1000, "d").unwrap();
        assert_eq!((a.wall_ms(), a.counter()), (1000, 0));
        let b = Hlc::tick(Some(&a), 999, "d").unwrap();
        assert!(b > a);
        assert_eq!((b.wall_ms(), b.counter()), (1000, 1));
        let c = Hlc::tick(Some(&b), 2000, "d").unwrap();
        assert_eq!((c.wall_ms(), c.counter()), (2000, 0));
        let full = h(50, u32::MAX, "d");
        let next = Hlc::tick(Some(&full), 10, "d").unwrap();
        assert!(next > full);
        assert!(Hlc::tick(None, 1, "").is_err());
        let s = Hlc::server_tick(Some(&next), 0);
        assert!(s > next);
        assert_eq!(s.node(), SERVER_NODE);
        assert_eq!(Hlc::tick(None, -5, "d").unwrap().wall_ms(), 0);
    }

    #[test]
    fn receive_is_after_both_readings() {
        let local = h(1000, 3, "server");
        let remote = h(1000, 7, "phone");
        let r = Hlc::receive(&local, &remote, 900);
        assert_eq!((r.wall_ms(), r.counter(), r.node()), (1000, 8, "server"));
        let r = Hlc::receive(&local, &h(2000, 4, "phone"), 1500);
        assert_eq!((r.wall_ms(), r.counter()), (2000, 5));
        let r = Hlc::receive(&local, &h(500, 4, "phone"), 900);
        assert_eq!((r.wall_ms(), r.counter()), (1000, 4));
        let r = Hlc::receive(&local, &remote, 3000);
        assert_eq!((r.wall_ms(), r.counter()), (3000, 0));
    }

    #[test]
    fn device_time_far_ahead_is_clamped_and_flagged() {
        assert_eq!(clamp_device_time(1_000, 2_000, 500), (1_000, false));
        assert_eq!(clamp_device_time(2_500, 2_000, 500), (2_500, false));
        assert_eq!(clamp_device_time(2_501, 2_000, 500), (2_000, true));
        assert_eq!(
            clamp_device_time(i64::MAX, i64::MAX - 1, 10),
            (i64::MAX, false)
        );
        assert_eq!(clamp_device_time(-10, 2_000, 0), (-10, false));
    }
}
