//! How far photo evidence and a report's position are trusted: the pure rules behind the
//! evidence flags.
//!
//! A camera's clock and a phone's GPS are claims, like a device time in a mutation. The server
//! keeps every claim and says when it does not believe one, with a flag from a closed
//! vocabulary ([`Flag`]); nothing is dropped and nothing is rejected for it (a photo taken by a
//! camera whose clock was never set is still evidence). The rules:
//!
//! - **Capture time in the future.** A capture time more than the allowed clock skew after
//!   the server received the bytes is clamped to the receive time and flagged
//!   `capture_time_in_future` (the same bound and the same clamp as a mutation's device time,
//!   [`crate::clamp_device_time`]). The camera's own value is kept beside it.
//! - **Captured long before the report.** A photo captured more than the configured age before
//!   the report (or start) of the entity linking it is flagged `captured_long_before_report` on
//!   that link: the same photo may be fresh evidence for one entity and stale for another.
//! - **Outside the site.** A photo's GPS, or a hazard report's GPS, further from its site's
//!   position than the site's radius is flagged `outside_site_radius` with the distance.
//!
//! A camera time without a UTC offset is a wall-clock time somewhere between UTC-12 and
//! UTC+14; the rules give it the benefit of the doubt (the earliest instant it can be for the
//! future check, the latest for the age check), so a missing offset never raises a flag alone.

use serde::{Deserialize, Serialize};

use crate::timestamp::format_rfc3339_ms;

/// The mean Earth radius of the haversine formula, in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Westmost and eastmost UTC offsets in use, in milliseconds (UTC-12, UTC+14).
const WEST_MS: i64 = 12 * 3_600_000;
const EAST_MS: i64 = 14 * 3_600_000;

/// One reason not to take a piece of evidence at face value. Serialised with its `code`
/// beside the facts that raised it, e.g.
/// `{"code": "outside_site_radius", "site_id": "...", "distance_m": 1300412, "radius_m": 800}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Flag {
    /// The camera's capture time is after the server received the photo (beyond the skew
    /// allowed to device clocks). `captured_at` was clamped to `received_at`.
    CaptureTimeInFuture {
        /// What the camera claimed (RFC 3339; for a camera time without offset, read as UTC).
        claimed_at: String,
        /// When the server received the bytes, the value `captured_at` was clamped to.
        received_at: String,
    },
    /// The photo was captured more than `max_age_secs` before the linking entity's report.
    CapturedLongBeforeReport {
        /// The (possibly clamped) capture time.
        captured_at: String,
        /// The entity's report (or start) time, by the device clock.
        reported_at: String,
        /// The configured bound.
        max_age_secs: i64,
    },
    /// The position lies outside the circle of `site_id` (the entity's site, or its nearest
    /// ancestor with a position).
    OutsideSiteRadius {
        /// The site whose circle was applied.
        site_id: String,
        /// Great-circle distance from the site's position, whole metres.
        distance_m: i64,
        /// The site's radius in metres.
        radius_m: f64,
    },
}

impl Flag {
    /// The flag's code, e.g. `outside_site_radius`.
    pub fn code(&self) -> &'static str {
        match self {
            Flag::CaptureTimeInFuture { .. } => "capture_time_in_future",
            Flag::CapturedLongBeforeReport { .. } => "captured_long_before_report",
            Flag::OutsideSiteRadius { .. } => "outside_site_radius",
        }
    }
}

/// A point in decimal degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Latitude, -90..=90.
    pub lat: f64,
    /// Longitude, -180..=180.
    pub lon: f64,
}

impl Point {
    /// True when both coordinates are finite and in range.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
    }
}

/// A site's circle: where its photos and reports are expected to come from.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteCircle {
    /// The site the circle belongs to.
    pub site_id: String,
    /// Its centre.
    pub centre: Point,
    /// Its radius in metres (positive).
    pub radius_m: f64,
}

/// The great-circle distance between two points in metres (haversine on a sphere; within
/// 0.5 % of the ellipsoid, far finer than a site radius needs).
pub fn distance_m(a: Point, b: Point) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// `outside_site_radius` when `point` lies outside `circle`; nothing for a point inside (the
/// edge included) or an invalid point.
pub fn outside_radius(point: Point, circle: &SiteCircle) -> Option<Flag> {
    if !point.is_valid() || !circle.centre.is_valid() {
        return None;
    }
    let d = distance_m(point, circle.centre);
    (d > circle.radius_m).then(|| Flag::OutsideSiteRadius {
        site_id: circle.site_id.clone(),
        distance_m: d.round() as i64,
        radius_m: circle.radius_m,
    })
}

/// What the camera claims about when a photo was taken, in unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The camera recorded its UTC offset: the instant is known.
    Instant(i64),
    /// Wall-clock time only, read as if it were UTC.
    Local(i64),
}

impl Claim {
    /// The earliest instant the claim can mean.
    pub fn earliest_ms(self) -> i64 {
        match self {
            Claim::Instant(ms) => ms,
            Claim::Local(ms) => ms.saturating_sub(EAST_MS),
        }
    }

    /// The latest instant the claim can mean.
    pub fn latest_ms(self) -> i64 {
        match self {
            Claim::Instant(ms) => ms,
            Claim::Local(ms) => ms.saturating_add(WEST_MS),
        }
    }

    fn as_utc_ms(self) -> i64 {
        match self {
            Claim::Instant(ms) | Claim::Local(ms) => ms,
        }
    }
}

/// The capture time the server accepts for a photo received at `received_ms`: the claim,
/// unless even its earliest reading is more than `max_skew_ms` after the receipt; then the
/// receipt time and `capture_time_in_future`. Returns the accepted instant (`None` for a
/// believed local time, whose instant stays unknown) and the flag.
pub fn accept_capture(
    claim: Claim,
    received_ms: i64,
    max_skew_ms: i64,
) -> (Option<i64>, Option<Flag>) {
    let (_, clamped) = crate::clamp_device_time(claim.earliest_ms(), received_ms, max_skew_ms);
    if clamped {
        let flag = Flag::CaptureTimeInFuture {
            claimed_at: format_rfc3339_ms(claim.as_utc_ms()),
            received_at: format_rfc3339_ms(received_ms),
        };
        return (Some(received_ms), Some(flag));
    }
    match claim {
        Claim::Instant(ms) => (Some(ms), None),
        Claim::Local(_) => (None, None),
    }
}

/// `captured_long_before_report` when even the latest reading of the capture time is more
/// than `max_age_ms` before `reported_ms`. A non-positive `max_age_ms` turns the check off.
pub fn capture_age(claim: Claim, reported_ms: i64, max_age_ms: i64) -> Option<Flag> {
    if max_age_ms <= 0 {
        return None;
    }
    let latest = claim.latest_ms();
    (reported_ms.saturating_sub(latest) > max_age_ms).then(|| Flag::CapturedLongBeforeReport {
        captured_at: format_rfc3339_ms(claim.as_utc_ms()),
        reported_at: format_rfc3339_ms(reported_ms),
        max_age_secs: max_age_ms / 1000,
    })
}

/// The circle that applies to a site: its own, or else its nearest ancestor's. `lineage` is
/// the circles (or `None`) of the sites from the root down to the site itself.
pub fn applicable_circle(lineage: &[Option<SiteCircle>]) -> Option<&SiteCircle> {
    lineage.iter().rev().find_map(Option::as_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn circle(lat: f64, lon: f64, r: f64) -> SiteCircle {
        SiteCircle {
            site_id: "s".into(),
            centre: Point { lat, lon },
            radius_m: r,
        }
    }

    #[test]
    fn distance_matches_known_pairs() {
        let xining = Point {
            lat: 36.6171,
            lon: 101.7782,
        };
        let lanzhou = Point {
            lat: 36.0611,
            lon: 103.8343,
        };
        let d = distance_m(xining, lanzhou);
        assert!((d - 194_000.0).abs() < 2_000.0, "{d}");
        assert_eq!(distance_m(xining, xining), 0.0);
        // A quarter of the meridian.
        let q = distance_m(
            Point { lat: 0.0, lon: 0.0 },
            Point {
                lat: 90.0,
                lon: 0.0,
            },
        );
        assert!((q - 10_007_557.0).abs() < 10.0, "{q}");
        // Antipodes do not overflow asin.
        let a = distance_m(
            Point { lat: 0.0, lon: 0.0 },
            Point {
                lat: 0.0,
                lon: 180.0,
            },
        );
        assert!((a - std::f64::consts::PI * EARTH_RADIUS_M).abs() < 1.0);
    }

    #[test]
    fn radius_edge_is_inside_and_beyond_is_flagged() {
        let c = circle(36.6171, 101.7782, 500.0);
        // About 445 m north.
        let near = Point {
            lat: 36.6211,
            lon: 101.7782,
        };
        assert_eq!(outside_radius(near, &c), None);
        let far = Point {
            lat: 39.9042,
            lon: 116.4074,
        };
        match outside_radius(far, &c) {
            Some(Flag::OutsideSiteRadius {
                site_id,
                distance_m,
                radius_m,
            }) => {
                assert_eq!(site_id, "s");
                assert!((1_300_000..1_400_000).contains(&distance_m), "{distance_m}");
                assert_eq!(radius_m, 500.0);
            }
            other => panic!("{other:?}"),
        }
        let bad = Point {
            lat: f64::NAN,
            lon: 0.0,
        };
        assert_eq!(outside_radius(bad, &c), None);
    }

    #[test]
    fn future_capture_is_clamped_to_receipt_and_flagged() {
        let received = 1_800_000_000_000;
        let skew = 300_000;
        assert_eq!(
            accept_capture(Claim::Instant(received + skew), received, skew),
            (Some(received + skew), None)
        );
        let (at, flag) = accept_capture(Claim::Instant(received + skew + 1), received, skew);
        assert_eq!(at, Some(received));
        assert_eq!(flag.map(|f| f.code()), Some("capture_time_in_future"));
        // A local time 13 h ahead may be a camera east of UTC: believed, instant unknown.
        let local = Claim::Local(received + 13 * 3_600_000);
        assert_eq!(accept_capture(local, received, skew), (None, None));
        // Year 2099 is in the future in every zone.
        let (at, flag) = accept_capture(Claim::Local(4_070_908_800_000), received, skew);
        assert_eq!(at, Some(received));
        match flag {
            Some(Flag::CaptureTimeInFuture {
                claimed_at,
                received_at,
            }) => {
                assert!(
                    claimed_at.starts_with("2099-01-01T00:00:00"),
                    "{claimed_at}"
                );
                assert_eq!(received_at, format_rfc3339_ms(received));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn capture_age_flags_only_beyond_the_bound() {
        let report = 1_800_000_000_000;
        assert_eq!(
            capture_age(Claim::Instant(report - DAY), report, 7 * DAY),
            None
        );
        assert_eq!(
            capture_age(Claim::Instant(report + DAY), report, 7 * DAY),
            None
        );
        let old = capture_age(Claim::Instant(report - 8 * DAY), report, 7 * DAY);
        match old {
            Some(Flag::CapturedLongBeforeReport { max_age_secs, .. }) => {
                assert_eq!(max_age_secs, 7 * 86_400)
            }
            other => panic!("{other:?}"),
        }
        // A local time gets up to 12 h of doubt.
        let edge = Claim::Local(report - 7 * DAY - 11 * 3_600_000);
        assert_eq!(capture_age(edge, report, 7 * DAY), None);
        // Off when the bound is not positive.
        assert_eq!(capture_age(Claim::Instant(0), report, 0), None);
    }

    #[test]
    fn nearest_ancestor_circle_applies() {
        let root = Some(circle(1.0, 1.0, 10.0));
        let mut plant = circle(2.0, 2.0, 20.0);
        plant.site_id = "plant".into();
        let lineage = vec![root.clone(), Some(plant), None];
        assert_eq!(
            applicable_circle(&lineage).map(|c| c.site_id.as_str()),
            Some("plant")
        );
        assert_eq!(applicable_circle(&[root.clone(), None]), root.as_ref());
        assert_eq!(applicable_circle(&[None, None]), None);
    }

    #[test]
    fn flags_serialise_with_their_code() {
        let f = Flag::OutsideSiteRadius {
            site_id: "s".into(),
            distance_m: 12,
            radius_m: 5.0,
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["code"], "outside_site_radius");
        assert_eq!(v["distance_m"], 12);
        let back: Flag = serde_json::from_value(v).unwrap();
        assert_eq!(back, f);
        assert_eq!(back.code(), "outside_site_radius");
    }
}
