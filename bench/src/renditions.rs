//! `renditions`: what making a photo's thumbnail and display image costs, in this process (no
//! server): per photo kind, the job run at ingest (the thumbnail, and its steps: decode at the
//! DCT scale it needs, fit, encode), the display image made on its first request, and both sizes
//! at once (what every arriving photo used to cost). Photos are made here (camera-like noise and
//! gradients, encoded at quality 90), so the run needs no files.

use std::io::Cursor;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use clap::Args;
use hazardloop_media::{render, DecodeLimits};

use crate::measure::{load_average, mib, ms, table, Memory};

/// Options of `renditions`.
#[derive(Debug, Args)]
pub struct RenditionsArgs {
    /// Rounds per photo kind and step (more for small photos, see the table).
    #[arg(long, default_value_t = 20)]
    pub rounds: u32,
}

/// One kind of photo the field sends.
struct Kind {
    label: &'static str,
    width: u32,
    height: u32,
    /// EXIF orientation written into the photo (1: upright as stored).
    orientation: u16,
    /// Rounds relative to `--rounds`.
    weight: u32,
}

const KINDS: [Kind; 4] = [
    Kind {
        label: "1600x1200, upright",
        width: 1600,
        height: 1200,
        orientation: 1,
        weight: 3,
    },
    Kind {
        label: "1600x1200, rotated (EXIF 6)",
        width: 1600,
        height: 1200,
        orientation: 6,
        weight: 3,
    },
    Kind {
        label: "4000x3000 (12 MP)",
        width: 4000,
        height: 3000,
        orientation: 1,
        weight: 1,
    },
    Kind {
        label: "1024x768, upright",
        width: 1024,
        height: 768,
        orientation: 1,
        weight: 3,
    },
];

const THUMBNAIL: u32 = 320;
const DISPLAY: u32 = 1600;

/// A deterministic photo-like JPEG (smooth gradients plus sensor-like noise, so it compresses
/// like a photo and not like a flat test card), with an EXIF orientation.
fn photo(kind: &Kind) -> Result<Vec<u8>> {
    let mut seed: u32 = 0x9E37_79B9;
    let img = image::RgbImage::from_fn(kind.width, kind.height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 24) as i32 - 12;
        let base = [
            (x * 255 / kind.width) as i32,
            (y * 255 / kind.height) as i32,
            (((x + y) / 7) % 256) as i32,
        ];
        image::Rgb(base.map(|c| (c + noise).clamp(0, 255) as u8))
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img)?;
    Ok(with_orientation(&jpeg, kind.orientation))
}

/// `jpeg` with an APP1 EXIF segment holding only the orientation, right after SOI.
fn with_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    // Big-endian TIFF: header, IFD0 with one entry (0x0112 SHORT 1), no next IFD.
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01".to_vec();
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend_from_slice(&tiff);
    let len = u16::try_from(payload.len() + 2).unwrap_or(u16::MAX);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Mean time of `rounds` renders of `jpeg` into `sides`, and the bytes of the last result.
fn time(jpeg: &[u8], sides: &[u32], rounds: u32) -> Result<(Duration, usize)> {
    let mut bytes = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        let made = render(Cursor::new(jpeg), DecodeLimits::default(), sides)
            .map_err(|e| anyhow!("{e}"))?;
        bytes = made.iter().map(|r| r.jpeg.len()).sum();
    }
    Ok((started.elapsed() / rounds.max(1), bytes))
}

/// Mean time of each step of one thumbnail, `rounds` times: decode (scaled, upright), fit,
/// encode.
fn steps(jpeg: &[u8], rounds: u32) -> Result<[Duration; 3]> {
    use hazardloop_media::render::{decode_upright, encode, fit};
    let mut took = [Duration::ZERO; 3];
    let head = &jpeg[..jpeg.len().min(hazardloop_media::HEADER_WINDOW)];
    for _ in 0..rounds {
        let t = Instant::now();
        let img = decode_upright(Cursor::new(jpeg), head, DecodeLimits::default(), THUMBNAIL)
            .map_err(|e| anyhow!("{e}"))?;
        took[0] += t.elapsed();
        let t = Instant::now();
        let img = fit(img, THUMBNAIL).map_err(|e| anyhow!("{e}"))?;
        took[1] += t.elapsed();
        let t = Instant::now();
        encode(&img).map_err(|e| anyhow!("{e}"))?;
        took[2] += t.elapsed();
    }
    Ok(took.map(|d| d / rounds.max(1)))
}

/// Runs every kind and prints the table.
pub async fn run(args: RenditionsArgs) -> Result<()> {
    println!(
        "# renditions: thumbnail {THUMBNAIL} px, display {DISPLAY} px, in process; load average {}\n",
        load_average()
    );
    let mut rows = Vec::new();
    for kind in &KINDS {
        let jpeg = photo(kind)?;
        let rounds = args.rounds * kind.weight;
        let (thumb, thumb_bytes) = time(&jpeg, &[THUMBNAIL], rounds)?;
        let (display, display_bytes) = time(&jpeg, &[DISPLAY], rounds)?;
        let (both, _) = time(&jpeg, &[DISPLAY, THUMBNAIL], rounds)?;
        let [decode, fit, encode] = steps(&jpeg, rounds)?;
        rows.push(vec![
            kind.label.to_string(),
            format!("{}", jpeg.len() / 1024),
            ms(thumb),
            format!("{} / {} / {}", ms(decode), ms(fit), ms(encode)),
            format!("{:.0}", 1.0 / thumb.as_secs_f64().max(1e-9)),
            format!("{}", thumb_bytes / 1024),
            ms(display),
            format!("{}", display_bytes / 1024),
            ms(both),
        ]);
    }
    println!(
        "{}",
        table(
            &[
                "photo",
                "KiB",
                "thumbnail ms",
                "of which decode / fit / encode ms",
                "thumbnails/s (1 core)",
                "thumb KiB",
                "display ms",
                "display KiB",
                "both ms",
            ],
            &rows,
        )
    );
    let mem = Memory::of(std::process::id())?;
    println!(
        "bench process: RSS {} MiB, peak {} MiB\n",
        mib(mem.rss_kb),
        mib(mem.hwm_kb)
    );
    Ok(())
}
