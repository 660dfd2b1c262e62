//! `Range: bytes=...` for photo originals (RFC 9110 section 14): one range per request; a
//! header asking for several ranges is ignored and the whole photo is sent, as the RFC allows.

use std::ops::Range;

/// What a `Range` header asks of a representation of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// No usable range: send everything (200).
    Whole,
    /// One satisfiable range (206).
    Part(Range<u64>),
    /// A well-formed range outside the representation (416).
    Unsatisfiable,
}

/// Interprets a `Range` header value for a representation of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.is_empty(), end.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match end.parse::<u64>() {
            Ok(0) => return Wanted::Unsatisfiable,
            Ok(n) => size.saturating_sub(n)..size,
            Err(_) => return Wanted::Whole,
        },
        // bytes=A-: from A to the end.
        (false, true) => match start.parse::<u64>() {
            Ok(a) => a..size,
            Err(_) => return Wanted::Whole,
        },
        // bytes=A-B: inclusive.
        (false, false) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(a), Ok(b)) if a <= b => a..b.saturating_add(1).min(size),
            _ => return Wanted::Whole,
        },
        (true, true) => return Wanted::Whole,
    };
    if range.start >= size || range.is_empty() {
        return Wanted::Unsatisfiable;
    }
    Wanted::Part(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse(None, 10), Wanted::Whole);
        assert_eq!(parse(Some("bytes=0-3"), 10), Wanted::Part(0..4));
        assert_eq!(parse(Some("bytes=4-"), 10), Wanted::Part(4..10));
        assert_eq!(parse(Some("bytes=-3"), 10), Wanted::Part(7..10));
        assert_eq!(parse(Some("bytes=-30"), 10), Wanted::Part(0..10));
        assert_eq!(parse(Some("bytes=5-100"), 10), Wanted::Part(5..10));
        assert_eq!(parse(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-1,4-5"), 10), Wanted::Whole);
        assert_eq!(parse(Some("bytes=3-1"), 10), Wanted::Whole);
        assert_eq!(parse(Some("items=0-1"), 10), Wanted::Whole);
        assert_eq!(parse(Some("bytes=x-1"), 10), Wanted::Whole);
    }
}
