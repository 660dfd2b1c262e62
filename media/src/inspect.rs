//! Judging a stored stream: the refusals, the header read under limits, and EXIF metadata.

use std::io::Cursor;

use crate::sniff::Format;
use crate::structure::Verdict;

/// The most bytes from the start of a file that [`inspect`] reads. The header (and, for
/// phone JPEGs, the EXIF block) lives there; nothing past it is read, so inspecting costs the
/// same memory whatever the photo's size.
pub const HEADER_WINDOW: usize = 1024 * 1024;

/// Bounds on what the server agrees to decode, checked from the header before any pixel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Widest image accepted.
    pub max_width: u32,
    /// Tallest image accepted.
    pub max_height: u32,
    /// Most pixels (width x height) accepted.
    pub max_pixels: u64,
    /// Most bytes a decoder may allocate at once (the `image` crate's `max_alloc`).
    pub max_alloc: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_width: 20_000,
            max_height: 20_000,
            max_pixels: 100_000_000,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

impl DecodeLimits {
    /// The same bounds in the `image` crate's terms.
    pub fn to_image_limits(self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_width);
        limits.max_image_height = Some(self.max_height);
        limits.max_alloc = Some(self.max_alloc);
        limits
    }
}

/// Why a stream is not accepted as a photo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Zero bytes.
    #[error("the file is empty")]
    Empty,
    /// Not an image format at all (text, a PDF, ...).
    #[error("the content is not an image (JPEG, PNG or WebP expected)")]
    NotAnImage,
    /// A real image in a format the server does not store.
    #[error("{} images are not accepted; send JPEG, PNG or WebP", .0.name())]
    Unsupported(Format),
    /// The stream stops before the image ends (a broken transfer).
    #[error("the {} image is truncated: it stops before its end marker", .0.name())]
    Truncated(Format),
    /// The header claims more pixels than the limits allow (e.g. a decompression bomb).
    #[error("the image claims {width}x{height} pixels, more than the {max_width}x{max_height} (and {max_pixels} pixels) allowed")]
    TooLarge {
        width: u64,
        height: u64,
        max_width: u32,
        max_height: u32,
        max_pixels: u64,
    },
    /// The header or structure cannot be read.
    #[error("the image is corrupt: {0}")]
    Corrupt(String),
}

/// When the camera says the photo was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The wall-clock time as the camera wrote it, `YYYY-MM-DDTHH:MM:SS`.
    pub local: String,
    /// Minutes east of UTC, when the camera recorded its offset.
    pub offset_minutes: Option<i16>,
    /// The instant in unix milliseconds, known only with the offset.
    pub utc_ms: Option<i64>,
}

/// A position in decimal degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gps {
    pub lat: f64,
    pub lon: f64,
}

/// What an accepted photo is.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFacts {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    pub capture: Option<Capture>,
    pub gps: Option<Gps>,
}

/// Judges a whole stream from the structure walk over all of it and its first bytes
/// (`head`, at most [`HEADER_WINDOW`]). Refusals come in the order a client can act on:
/// empty, not an image, unsupported format, too many pixels or unreadable header, truncated.
pub fn inspect(
    verdict: &Verdict,
    head: &[u8],
    limits: DecodeLimits,
) -> Result<ImageFacts, Rejection> {
    let format = match verdict {
        Verdict::Empty => return Err(Rejection::Empty),
        Verdict::Unknown => return Err(Rejection::NotAnImage),
        Verdict::Found { format, .. } | Verdict::Malformed { format, .. } => *format,
    };
    if !format.is_accepted() {
        return Err(Rejection::Unsupported(format));
    }
    let head = &head[..head.len().min(HEADER_WINDOW)];
    let (width, height) = dimensions(format, head, limits)?;
    match verdict {
        Verdict::Malformed { reason, .. } => return Err(Rejection::Corrupt(reason.clone())),
        Verdict::Found {
            complete: false, ..
        } => return Err(Rejection::Truncated(format)),
        _ => {}
    }
    let exif = read_exif(head);
    Ok(ImageFacts {
        format,
        width,
        height,
        capture: exif.as_ref().and_then(capture),
        gps: exif.as_ref().and_then(gps),
    })
}

fn image_format(format: Format) -> image::ImageFormat {
    match format {
        Format::Png => image::ImageFormat::Png,
        Format::Webp => image::ImageFormat::WebP,
        _ => image::ImageFormat::Jpeg,
    }
}

/// Reads the dimensions from the header with the decoder's limits in force; nothing is decoded.
fn dimensions(format: Format, head: &[u8], limits: DecodeLimits) -> Result<(u32, u32), Rejection> {
    let mut reader = image::ImageReader::with_format(Cursor::new(head), image_format(format));
    reader.limits(limits.to_image_limits());
    let too_large = |w: u64, h: u64| Rejection::TooLarge {
        width: w,
        height: h,
        max_width: limits.max_width,
        max_height: limits.max_height,
        max_pixels: limits.max_pixels,
    };
    let (w, h) = match reader.into_dimensions() {
        Ok(d) => d,
        // The decoder stops at its limits without saying what it read: read the claimed size
        // ourselves, so the refusal names it (a bomb's size is what an operator wants to see).
        Err(image::ImageError::Limits(e)) => {
            return Err(match claimed_dimensions(format, head) {
                Some((w, h)) => too_large(w.into(), h.into()),
                None => Rejection::Corrupt(format!(
                    "the header exceeds the decoding limits ({e}) and its size cannot be read"
                )),
            });
        }
        Err(e) => return Err(Rejection::Corrupt(e.to_string())),
    };
    if w == 0 || h == 0 {
        return Err(Rejection::Corrupt(format!(
            "the header says {w}x{h} pixels"
        )));
    }
    if w > limits.max_width
        || h > limits.max_height
        || u64::from(w) * u64::from(h) > limits.max_pixels
    {
        return Err(too_large(w.into(), h.into()));
    }
    Ok((w, h))
}

/// The size the header claims, for the message when a decoder refused it on limits.
fn claimed_dimensions(format: Format, head: &[u8]) -> Option<(u32, u32)> {
    match format {
        Format::Png => png_size(head),
        Format::Jpeg => jpeg_size(head),
        Format::Webp => webp_size(head),
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn le_bytes(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let bytes = b.get(at..at + n)?;
    Some(
        bytes
            .iter()
            .rev()
            .fold(0u32, |acc, &x| (acc << 8) | u32::from(x)),
    )
}

/// PNG: width and height open the IHDR chunk, which comes first.
fn png_size(head: &[u8]) -> Option<(u32, u32)> {
    if head.get(12..16)? != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(head.get(16..20)?.try_into().ok()?);
    let h = u32::from_be_bytes(head.get(20..24)?.try_into().ok()?);
    Some((w, h))
}

/// JPEG: the first start-of-frame segment (SOF0..SOF15 but DHT, JPG and DAC) holds the
/// height and then the width; segments before it are skipped by their lengths.
fn jpeg_size(head: &[u8]) -> Option<(u32, u32)> {
    let mut at = 2;
    loop {
        if *head.get(at)? != 0xFF {
            return None;
        }
        // Fill bytes: any number of 0xFF before the marker code.
        while *head.get(at + 1)? == 0xFF {
            at += 1;
        }
        let marker = *head.get(at + 1)?;
        match marker {
            0x01 | 0xD0..=0xD7 => at += 2,
            0xD9 | 0xDA => return None,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                // FF Cn, length (2), precision (1), height (2), width (2).
                return Some((be16(head, at + 7)?, be16(head, at + 5)?));
            }
            _ => at += 2 + usize::try_from(be16(head, at + 2)?).ok()?,
        }
    }
}

/// WebP: the first chunk after `RIFF....WEBP` is `VP8 ` (lossy: 14-bit sizes after the start
/// code), `VP8L` (lossless: 14-bit sizes minus one after the signature byte) or `VP8X`
/// (extended: 24-bit canvas sizes minus one).
fn webp_size(head: &[u8]) -> Option<(u32, u32)> {
    if head.get(0..4)? != b"RIFF" || head.get(8..12)? != b"WEBP" {
        return None;
    }
    match head.get(12..16)? {
        b"VP8 " => {
            if head.get(23..26)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            Some((
                le_bytes(head, 26, 2)? & 0x3FFF,
                le_bytes(head, 28, 2)? & 0x3FFF,
            ))
        }
        b"VP8L" => {
            if *head.get(20)? != 0x2F {
                return None;
            }
            let bits = le_bytes(head, 21, 4)?;
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le_bytes(head, 24, 3)? + 1, le_bytes(head, 27, 3)? + 1)),
        _ => None,
    }
}

/// EXIF from the head, tolerating the small defects real cameras write (a stray next-IFD
/// link, an odd tag): whatever fields parse are used.
pub(crate) fn read_exif(head: &[u8]) -> Option<exif::Exif> {
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    match reader.read_from_container(&mut Cursor::new(head)) {
        Ok(exif) => Some(exif),
        Err(exif::Error::PartialResult(partial)) => Some(partial.into_inner().0),
        Err(_) => None,
    }
}

fn ascii(exif: &exif::Exif, tag: exif::Tag) -> Option<Vec<u8>> {
    match &exif.get_field(tag, exif::In::PRIMARY)?.value {
        exif::Value::Ascii(v) => v.first().cloned(),
        _ => None,
    }
}

fn capture(exif: &exif::Exif) -> Option<Capture> {
    let raw =
        ascii(exif, exif::Tag::DateTimeOriginal).or_else(|| ascii(exif, exif::Tag::DateTime))?;
    let mut dt = exif::DateTime::from_ascii(&raw).ok()?;
    if let Some(offset) =
        ascii(exif, exif::Tag::OffsetTimeOriginal).or_else(|| ascii(exif, exif::Tag::OffsetTime))
    {
        // A blank or malformed offset leaves the time local, which is what the camera meant.
        let _ = dt.parse_offset(&offset);
    }
    let date = time::Date::from_calendar_date(
        i32::from(dt.year),
        time::Month::try_from(dt.month).ok()?,
        dt.day,
    )
    .ok()?;
    let clock = time::Time::from_hms(dt.hour, dt.minute, dt.second).ok()?;
    let local = time::PrimitiveDateTime::new(date, clock);
    let offset_minutes = dt.offset.filter(|m| m.abs() <= 18 * 60);
    let utc_ms = offset_minutes.and_then(|m| {
        let offset = time::UtcOffset::from_whole_seconds(i32::from(m) * 60).ok()?;
        let t = local.assume_offset(offset);
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
    });
    Some(Capture {
        local: format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second
        ),
        offset_minutes,
        utc_ms,
    })
}

fn degrees(exif: &exif::Exif, tag: exif::Tag, reference: exif::Tag, negative: u8) -> Option<f64> {
    let dms = match &exif.get_field(tag, exif::In::PRIMARY)?.value {
        exif::Value::Rational(v) if v.len() >= 3 => v.clone(),
        _ => return None,
    };
    let parts: Vec<f64> = dms
        .iter()
        .take(3)
        .map(|r| if r.denom == 0 { f64::NAN } else { r.to_f64() })
        .collect();
    let mut value = parts[0] + parts[1] / 60.0 + parts[2] / 3600.0;
    if !value.is_finite() {
        return None;
    }
    let sign = ascii(exif, reference).and_then(|r| r.first().copied());
    if sign.map(|c| c.to_ascii_uppercase()) == Some(negative) {
        value = -value;
    }
    Some(value)
}

fn gps(exif: &exif::Exif) -> Option<Gps> {
    let lat = degrees(
        exif,
        exif::Tag::GPSLatitude,
        exif::Tag::GPSLatitudeRef,
        b'S',
    )?;
    let lon = degrees(
        exif,
        exif::Tag::GPSLongitude,
        exif::Tag::GPSLongitudeRef,
        b'W',
    )?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some(Gps { lat, lon })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(format: Format, complete: bool) -> Verdict {
        Verdict::Found { format, complete }
    }

    #[test]
    fn refusals_come_in_order() {
        let limits = DecodeLimits::default();
        assert_eq!(inspect(&Verdict::Empty, b"", limits), Err(Rejection::Empty));
        assert_eq!(
            inspect(&Verdict::Unknown, b"text", limits),
            Err(Rejection::NotAnImage)
        );
        assert_eq!(
            inspect(&found(Format::Heic, true), b"", limits),
            Err(Rejection::Unsupported(Format::Heic))
        );
        assert!(matches!(
            inspect(
                &found(Format::Jpeg, true),
                &[0xFF, 0xD8, 0xFF, 0xD9],
                limits
            ),
            Err(Rejection::Corrupt(_))
        ));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_png_header_over_the_limits_is_too_large_without_decoding() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(100_000u32.to_be_bytes());
        png.extend(100_000u32.to_be_bytes());
        png.extend([8, 2, 0, 0, 0]);
        let crc = crc32(&png[12..]);
        png.extend(crc.to_be_bytes());
        match inspect(&found(Format::Png, true), &png, DecodeLimits::default()) {
            Err(Rejection::TooLarge { width, height, .. }) => {
                assert_eq!((width, height), (100_000, 100_000))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod claimed_size {
    use super::*;

    #[test]
    fn jpeg_size_skips_segments_and_fill_bytes_to_the_frame() {
        let mut jpeg = vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB, 0xFF, 0xFF, 0xC2,
        ];
        jpeg.extend([0x00, 0x11, 0x08, 0xC3, 0x50, 0xEA, 0x60, 0x03]);
        assert_eq!(jpeg_size(&jpeg), Some((60_000, 50_000)));
        // DHT (C4) is not a frame; a scan before any frame means no size.
        assert_eq!(
            jpeg_size(&[0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x02, 0xFF, 0xDA]),
            None
        );
        assert_eq!(jpeg_size(&[0xFF, 0xD8, 0xFF]), None);
    }

    fn riff(chunk: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut b = b"RIFF\0\0\0\0WEBP".to_vec();
        b.extend(chunk);
        b.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
        b.extend(data);
        b
    }

    #[test]
    fn webp_size_reads_lossy_lossless_and_extended_headers() {
        let lossy = riff(
            b"VP8 ",
            &[0, 0, 0, 0x9D, 0x01, 0x2A, 0xFF, 0x3F, 0x10, 0x27],
        );
        assert_eq!(webp_size(&lossy), Some((16_383, 10_000)));
        // Lossless: 14 bits each of width-1 and height-1.
        let bits: u32 = (12_000 - 1) | ((9_000 - 1) << 14);
        let mut data = vec![0x2F];
        data.extend(bits.to_le_bytes());
        assert_eq!(webp_size(&riff(b"VP8L", &data)), Some((12_000, 9_000)));
        // Extended: 24-bit canvas width-1 and height-1 after four flag bytes.
        let mut data = vec![0, 0, 0, 0];
        data.extend(&(100_000u32 - 1).to_le_bytes()[..3]);
        data.extend(&(70_000u32 - 1).to_le_bytes()[..3]);
        assert_eq!(webp_size(&riff(b"VP8X", &data)), Some((100_000, 70_000)));
        assert_eq!(webp_size(b"RIFF\0\0\0\0WAVE"), None);
    }
}
