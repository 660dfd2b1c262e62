//! Renditions: small JPEGs made from an original, upright and without EXIF.

use std::io::{BufRead, Read, Seek, SeekFrom};

use image::{DynamicImage, ImageDecoder, ImageReader};

use crate::inspect::DecodeLimits;
use crate::sniff::{sniff, Format};

/// One made image.
#[derive(Debug, Clone)]
pub struct Rendition {
    /// The longest side asked for; the image fits within it (never enlarged).
    pub max_side: u32,
    /// JPEG bytes, without any metadata.
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Why renditions could not be made. Every case is permanent for these bytes.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The original does not decode (corrupt data behind a sound header) or breaks a limit.
    #[error("the original cannot be decoded: {0}")]
    Undecodable(String),
    /// Encoding the JPEG failed.
    #[error("the rendition cannot be encoded: {0}")]
    Encode(String),
}

/// JPEG quality of renditions.
const QUALITY: u8 = 82;

/// Decodes the image `original` reads under `limits`, turns it upright by its EXIF
/// orientation, and makes one JPEG per size in `max_sides` (largest first is cheapest: each is
/// scaled from the previous). The original is read from the reader as the decoder needs it,
/// never copied whole into memory. A JPEG at least twice the largest rendition is decoded
/// already scaled down (by 1/2, 1/4 or 1/8 in the DCT), so a 12 MP photo never exists at full
/// size in memory; smaller ones go through the faster full-size decoder.
pub fn render<R: BufRead + Seek>(
    mut original: R,
    limits: DecodeLimits,
    max_sides: &[u32],
) -> Result<Vec<Rendition>, RenderError> {
    let mut sides: Vec<u32> = max_sides.to_vec();
    sides.sort_unstable_by(|a, b| b.cmp(a));
    let largest = sides.first().copied().unwrap_or(0);
    let mut head = Vec::new();
    (&mut original)
        .take(crate::HEADER_WINDOW as u64)
        .read_to_end(&mut head)
        .map_err(undecodable)?;
    original.seek(SeekFrom::Start(0)).map_err(undecodable)?;
    let mut img = match sniff(&head) {
        Some(Format::Jpeg) => {
            let mut img = decode_jpeg(&mut original, limits, largest)?;
            if let Some(o) = orientation(&head) {
                img.apply_orientation(o);
            }
            img
        }
        Some(Format::Png) => decode(original, limits, image::ImageFormat::Png)?,
        Some(Format::Webp) => decode(original, limits, image::ImageFormat::WebP)?,
        _ => return Err(RenderError::Undecodable("not a JPEG, PNG or WebP".into())),
    };
    let mut out = Vec::with_capacity(sides.len());
    for side in sides {
        if img.width().max(img.height()) > side {
            img = img.resize(side, side, image::imageops::FilterType::Triangle);
        }
        let mut jpeg = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, QUALITY);
        img.write_with_encoder(encoder)
            .map_err(|e| RenderError::Encode(e.to_string()))?;
        out.push(Rendition {
            max_side: side,
            jpeg,
            width: img.width(),
            height: img.height(),
        });
    }
    Ok(out)
}

fn undecodable(e: impl std::fmt::Display) -> RenderError {
    RenderError::Undecodable(e.to_string())
}

/// Any accepted format through the `image` crate, at full size, upright, without alpha.
fn decode<R: BufRead + Seek>(
    original: R,
    limits: DecodeLimits,
    format: image::ImageFormat,
) -> Result<DynamicImage, RenderError> {
    let mut reader = ImageReader::with_format(original, format);
    reader.limits(limits.to_image_limits());
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(flatten(img))
}

/// A JPEG, decoded at the smallest DCT scale whose longer side still reaches `side` when the
/// photo is at least twice that; otherwise at full size (not yet turned upright).
fn decode_jpeg<R: BufRead + Seek>(
    original: &mut R,
    limits: DecodeLimits,
    side: u32,
) -> Result<DynamicImage, RenderError> {
    let mut decoder = jpeg_decoder::Decoder::new(&mut *original);
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc).unwrap_or(usize::MAX));
    decoder.read_info().map_err(undecodable)?;
    let info = decoder
        .info()
        .ok_or_else(|| undecodable("no JPEG header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if w > limits.max_width
        || h > limits.max_height
        || u64::from(w) * u64::from(h) > limits.max_pixels
    {
        return Err(undecodable(format!("{w}x{h} pixels is over the limits")));
    }
    if w.max(h) < side.saturating_mul(2) {
        drop(decoder);
        original.seek(SeekFrom::Start(0)).map_err(undecodable)?;
        let mut reader = ImageReader::with_format(original, image::ImageFormat::Jpeg);
        reader.limits(limits.to_image_limits());
        let img = reader.decode().map_err(undecodable)?;
        return Ok(DynamicImage::ImageRgb8(img.into_rgb8()));
    }
    let want = u16::try_from(side.min(u32::from(u16::MAX))).unwrap_or(u16::MAX);
    let (sw, sh) = decoder.scale(want, want).map_err(undecodable)?;
    let pixels = decoder.decode().map_err(undecodable)?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let img = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            image::RgbImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(sw, sh, pixels).map(DynamicImage::ImageLuma8)
        }
        jpeg_decoder::PixelFormat::L16 => {
            // Big-endian 16-bit samples; the high byte is enough for a preview.
            let high: Vec<u8> = pixels.chunks_exact(2).map(|p| p[0]).collect();
            image::GrayImage::from_raw(sw, sh, high).map(DynamicImage::ImageLuma8)
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            let rgb: Vec<u8> = pixels
                .chunks_exact(4)
                .flat_map(|p| {
                    let k = u16::from(p[3]);
                    [p[0], p[1], p[2]].map(|c| ((u16::from(c) * k) / 255) as u8)
                })
                .collect();
            image::RgbImage::from_raw(sw, sh, rgb).map(DynamicImage::ImageRgb8)
        }
    }
    .ok_or_else(|| undecodable("the decoded size does not match the header"))?;
    Ok(DynamicImage::ImageRgb8(img.into_rgb8()))
}

/// The EXIF orientation in a JPEG's first bytes.
fn orientation(head: &[u8]) -> Option<image::metadata::Orientation> {
    let exif = crate::inspect::read_exif(head)?;
    let value = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)?
        .value
        .get_uint(0)?;
    image::metadata::Orientation::from_exif(u8::try_from(value).ok()?)
}

/// JPEG has no alpha: transparent pixels (diagrams, screenshots) go onto white, not black.
fn flatten(img: DynamicImage) -> DynamicImage {
    if !img.color().has_alpha() {
        return DynamicImage::ImageRgb8(img.into_rgb8());
    }
    let rgba = img.into_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u16::from(src[c]) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    DynamicImage::ImageRgb8(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            image::Rgba([
                (x % 256) as u8,
                (y % 256) as u8,
                0,
                if x < w / 2 { 0 } else { 255 },
            ])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .expect("encode");
        out
    }

    #[test]
    fn renditions_fit_their_sides_and_are_never_enlarged() {
        let r = render(
            Cursor::new(png(800, 400)),
            DecodeLimits::default(),
            &[320, 1600],
        )
        .expect("render");
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].max_side, r[0].width, r[0].height), (1600, 800, 400));
        assert_eq!((r[1].max_side, r[1].width, r[1].height), (320, 320, 160));
        assert!(r[1].jpeg.starts_with(&[0xFF, 0xD8]));
        // Transparent pixels became white.
        let thumb = image::load_from_memory(&r[1].jpeg)
            .expect("decode")
            .into_rgb8();
        assert!(thumb.get_pixel(5, 80)[2] > 200);
    }

    #[test]
    fn jpegs_are_decoded_scaled_within_the_limits() {
        let img = image::RgbImage::from_fn(400, 200, |x, _| {
            image::Rgb([if x < 200 { 255 } else { 0 }, 0, 0])
        });
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .expect("encode");
        let r = render(Cursor::new(&jpeg), DecodeLimits::default(), &[100]).expect("render");
        assert_eq!((r[0].width, r[0].height), (100, 50));
        let small = DecodeLimits {
            max_pixels: 1_000,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            render(Cursor::new(&jpeg), small, &[100]),
            Err(RenderError::Undecodable(_))
        ));
    }

    #[test]
    fn limits_hold_at_decode_time() {
        let limits = DecodeLimits {
            max_width: 100,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            render(Cursor::new(png(200, 10)), limits, &[50]),
            Err(RenderError::Undecodable(_))
        ));
    }
}
