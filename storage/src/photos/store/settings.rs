//! The photo pipeline's limits and timings.

use std::time::Duration;

use hazardloop_media::DecodeLimits;

/// Limits and timings of the photo pipeline.
#[derive(Debug, Clone)]
pub struct PhotoSettings {
    /// Largest original accepted, in bytes.
    pub max_bytes: u64,
    /// Decoder bounds, checked from the header at upload and again when decoding.
    pub limits: DecodeLimits,
    /// Photos never linked are deleted this long after they arrived.
    pub orphan_ttl_ms: i64,
    /// An unfinished resumable upload is deleted this long after its last chunk.
    pub upload_ttl_ms: i64,
    /// Longest side of the thumbnail.
    pub thumbnail_side: u32,
    /// Longest side of the display-size image.
    pub display_side: u32,
    /// A request body that sends nothing for this long is treated as broken off.
    pub body_idle_timeout: Duration,
    /// A capture time further than this ahead of the receipt is clamped and flagged (the
    /// device clock skew allowed to mutations).
    pub max_clock_skew_ms: i64,
    /// A photo captured longer than this before the linking entity's report is flagged on the
    /// link (0 turns the check off).
    pub max_capture_age_ms: i64,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        PhotoSettings {
            max_bytes: 25 * 1024 * 1024,
            limits: DecodeLimits::default(),
            orphan_ttl_ms: 7 * 24 * 3_600_000,
            upload_ttl_ms: 24 * 3_600_000,
            thumbnail_side: 320,
            display_side: 1600,
            body_idle_timeout: Duration::from_secs(30),
            max_clock_skew_ms: 5 * 60 * 1000,
            max_capture_age_ms: 7 * 24 * 3_600_000,
        }
    }
}
