//! RFC 3339 text <-> unix milliseconds, the two forms a time takes: text at the edges (JSON),
//! milliseconds inside. Parsing and formatting only; nothing here reads the clock.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::ParseError;

/// Unix milliseconds from RFC 3339 text such as `2026-06-04T15:02:10+08:00` or
/// `2026-06-04T07:02:10.250Z`. Sub-millisecond digits are truncated.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, ParseError> {
    let malformed = |reason: String| ParseError::Malformed {
        kind: "RFC 3339 time",
        value: text.to_owned(),
        reason,
    };
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| malformed(e.to_string()))?;
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000))
        .map_err(|_| malformed("out of range".to_owned()))
}

/// RFC 3339 text in UTC with millisecond precision, e.g. `2026-06-04T07:02:10.250Z`.
/// Times beyond what RFC 3339 can write (before year 0, after 9999) are clamped to its range.
pub fn format_rfc3339_ms(unix_ms: i64) -> String {
    // Year 0000-01-01 and 9999-12-31T23:59:59.999, the range a four-digit year can write.
    const MIN_MS: i64 = -62_167_219_200_000;
    const MAX_MS: i64 = 253_402_300_799_999;
    let ms = unix_ms.clamp(MIN_MS, MAX_MS);
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_rfc3339_ms("2026-06-04T15:02:10+08:00").unwrap(),
            parse_rfc3339_ms("2026-06-04T07:02:10Z").unwrap()
        );
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T00:00:01.2509Z").unwrap(),
            1_250
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z").unwrap(), -1);
        // RFC 3339 allows a space for the "T".
        assert!(parse_rfc3339_ms("2026-06-04 07:02:10Z").is_ok());
        for bad in [
            "",
            "2026-06-04",
            "2026-06-04T07:02:10",
            "yesterday",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339_ms(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_utc_millis_and_round_trips() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        let ms = parse_rfc3339_ms("2026-06-04T15:02:10.25+08:00").unwrap();
        assert_eq!(format_rfc3339_ms(ms), "2026-06-04T07:02:10.250Z");
        for ms in [-1, 1, 1_780_000_000_123, 253_402_300_799_999] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)).unwrap(), ms);
        }
        assert_eq!(format_rfc3339_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
    }
}
