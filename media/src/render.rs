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

/// Makes one JPEG per size in `max_sides` from the image `original` reads under `limits`,
/// upright by its EXIF orientation and without any metadata. The original is decoded once, at
/// the smallest size the largest rendition needs: a JPEG is decoded already scaled down in the
/// DCT (by 1/2, 1/4 or 1/8) when it is at least twice that side, so a thumbnail of a 12 MP
/// photo never sees its full-size pixels. An upright JPEG that already fits a side is not
/// re-encoded: its rendition is the original with every metadata segment removed
/// ([`strip_jpeg_metadata`]), the same pixels at no cost.
pub fn render<R: BufRead + Seek>(
    mut original: R,
    limits: DecodeLimits,
    max_sides: &[u32],
) -> Result<Vec<Rendition>, RenderError> {
    let mut sides: Vec<u32> = max_sides.to_vec();
    sides.sort_unstable_by(|a, b| b.cmp(a));
    let mut head = Vec::new();
    (&mut original)
        .take(crate::HEADER_WINDOW as u64)
        .read_to_end(&mut head)
        .map_err(undecodable)?;
    original.seek(SeekFrom::Start(0)).map_err(undecodable)?;
    let format = sniff(&head);
    let mut out = Vec::with_capacity(sides.len());
    if format == Some(Format::Jpeg) {
        let (w, h) = jpeg_size(&mut original, limits)?;
        let upright = matches!(
            orientation(&head),
            None | Some(image::metadata::Orientation::NoTransforms)
        );
        // Sides the original already fits, when it is upright: the stripped original.
        let fits = |side: u32| upright && w.max(h) <= side;
        if sides.iter().any(|&s| fits(s)) {
            let mut bytes = Vec::new();
            original.read_to_end(&mut bytes).map_err(undecodable)?;
            original.seek(SeekFrom::Start(0)).map_err(undecodable)?;
            let stripped = strip_jpeg_metadata(&bytes)?;
            for &side in sides.iter().filter(|&&s| fits(s)) {
                out.push(Rendition {
                    max_side: side,
                    jpeg: stripped.clone(),
                    width: w,
                    height: h,
                });
            }
            sides.retain(|&s| !fits(s));
        }
    }
    let Some(&largest) = sides.first() else {
        return Ok(out);
    };
    let mut img = decode_upright(original, &head, limits, largest)?;
    for side in sides {
        img = fit(img, side)?;
        out.push(Rendition {
            max_side: side,
            jpeg: encode(&img)?,
            width: img.width(),
            height: img.height(),
        });
    }
    out.sort_unstable_by_key(|r| std::cmp::Reverse(r.max_side));
    Ok(out)
}

/// The image `original` reads (whose first bytes are `head`), decoded under `limits` at the
/// smallest size that still reaches `side` (JPEG: a DCT scale of 1/2, 1/4 or 1/8 when the photo
/// is at least twice `side`; PNG and WebP at full size), upright, without alpha. The first step
/// of [`render`], public so that its cost can be measured apart.
pub fn decode_upright<R: BufRead + Seek>(
    mut original: R,
    head: &[u8],
    limits: DecodeLimits,
    side: u32,
) -> Result<image::RgbImage, RenderError> {
    match sniff(head) {
        Some(Format::Jpeg) => {
            let mut img = decode_jpeg(&mut original, limits, side)?;
            if let Some(o) = orientation(head) {
                img.apply_orientation(o);
            }
            Ok(img.into_rgb8())
        }
        Some(Format::Png) => decode(original, limits, image::ImageFormat::Png),
        Some(Format::Webp) => decode(original, limits, image::ImageFormat::WebP),
        _ => Err(RenderError::Undecodable("not a JPEG, PNG or WebP".into())),
    }
}

/// `img` scaled to fit `side` on its longer side (never enlarged), with a SIMD convolution.
pub fn fit(img: image::RgbImage, side: u32) -> Result<image::RgbImage, RenderError> {
    let (w, h) = img.dimensions();
    if w.max(h) <= side {
        return Ok(img);
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let dw = ((f64::from(w) * scale).round() as u32).clamp(1, side);
    let dh = ((f64::from(h) * scale).round() as u32).clamp(1, side);
    let src = fast_image_resize::images::Image::from_vec_u8(
        w,
        h,
        img.into_raw(),
        fast_image_resize::PixelType::U8x3,
    )
    .map_err(undecodable)?;
    let mut dst = fast_image_resize::images::Image::new(dw, dh, fast_image_resize::PixelType::U8x3);
    let options = fast_image_resize::ResizeOptions::new().resize_alg(
        fast_image_resize::ResizeAlg::Convolution(fast_image_resize::FilterType::Bilinear),
    );
    fast_image_resize::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(undecodable)?;
    image::RgbImage::from_raw(dw, dh, dst.into_vec())
        .ok_or_else(|| undecodable("the resized size does not match"))
}

/// `img` as a baseline JPEG (4:2:0), with no metadata segment at all.
pub fn encode(img: &image::RgbImage) -> Result<Vec<u8>, RenderError> {
    let (w, h) = img.dimensions();
    let (Ok(w16), Ok(h16)) = (u16::try_from(w), u16::try_from(h)) else {
        return Err(RenderError::Encode(format!(
            "{w}x{h} is too large for a JPEG"
        )));
    };
    let mut jpeg = Vec::with_capacity(img.as_raw().len() / 8);
    jpeg_encoder::Encoder::new(&mut jpeg, QUALITY)
        .encode(img.as_raw(), w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(jpeg)
}

fn undecodable(e: impl std::fmt::Display) -> RenderError {
    RenderError::Undecodable(e.to_string())
}

/// A JPEG's width and height from its frame header, within `limits`; the reader is rewound.
fn jpeg_size<R: BufRead + Seek>(
    original: &mut R,
    limits: DecodeLimits,
) -> Result<(u32, u32), RenderError> {
    let mut decoder = jpeg_decoder::Decoder::new(&mut *original);
    decoder.read_info().map_err(undecodable)?;
    let info = decoder
        .info()
        .ok_or_else(|| undecodable("no JPEG header"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    drop(decoder);
    original.seek(SeekFrom::Start(0)).map_err(undecodable)?;
    within(w, h, limits)?;
    Ok((w, h))
}

fn within(w: u32, h: u32, limits: DecodeLimits) -> Result<(), RenderError> {
    if w > limits.max_width
        || h > limits.max_height
        || u64::from(w) * u64::from(h) > limits.max_pixels
    {
        return Err(undecodable(format!("{w}x{h} pixels is over the limits")));
    }
    Ok(())
}

/// Any accepted format through the `image` crate, at full size, upright, without alpha.
fn decode<R: BufRead + Seek>(
    original: R,
    limits: DecodeLimits,
    format: image::ImageFormat,
) -> Result<image::RgbImage, RenderError> {
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
    within(w, h, limits)?;
    if w.max(h) < side.saturating_mul(2) {
        // No DCT scale applies: the faster full-size decoder.
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
fn flatten(img: DynamicImage) -> image::RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u16::from(src[c]) * a + 255 * (255 - a)) / 255) as u8;
        }
    }
    rgb
}

/// The JPEG `jpeg` with every metadata segment removed and its compressed image kept byte for
/// byte: EXIF and XMP (APP1), IPTC (APP13), comments and every other APPn go; the JFIF header
/// (APP0), an ICC colour profile (APP2 `ICC_PROFILE`) and the Adobe colour transform (APP14),
/// which decoders need to show the same colours, stay, as do the segments that describe the
/// image (tables, frame, scans); reserved extension segments (JPGn) go. Anything after the image's end marker
/// (cameras append preview and depth images there, each with its own EXIF) is dropped.
pub fn strip_jpeg_metadata(jpeg: &[u8]) -> Result<Vec<u8>, RenderError> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err(undecodable("not a JPEG"));
    }
    let mut out = Vec::with_capacity(jpeg.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut at = 2;
    // In entropy-coded data (after a start of scan) markers are found by scanning.
    let mut in_scan = false;
    loop {
        if in_scan {
            let start = at;
            loop {
                let next = jpeg
                    .get(at..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
                    .ok_or_else(|| undecodable("the image has no end marker"))?;
                at += next;
                match jpeg.get(at + 1) {
                    // Stuffed zero, restart marker or fill byte: still image data.
                    Some(0x00 | 0xD0..=0xD7) => at += 2,
                    Some(0xFF) => at += 1,
                    Some(_) => break,
                    None => return Err(undecodable("the image has no end marker")),
                }
            }
            out.extend_from_slice(&jpeg[start..at]);
            in_scan = false;
        }
        let marker = *jpeg
            .get(at + 1)
            .filter(|_| jpeg.get(at) == Some(&0xFF))
            .ok_or_else(|| undecodable("a segment does not start with a marker"))?;
        if marker == 0xFF {
            at += 1;
            continue;
        }
        if marker == 0xD9 {
            out.extend_from_slice(&[0xFF, 0xD9]);
            return Ok(out);
        }
        let len = jpeg
            .get(at + 2..at + 4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            .filter(|&len| len >= 2)
            .ok_or_else(|| undecodable("a segment has no length"))?;
        let end = at + 2 + len;
        let segment = jpeg
            .get(at..end)
            .ok_or_else(|| undecodable("a segment runs past the end"))?;
        let keep = match marker {
            0xE0 | 0xEE => true,
            0xE2 => segment[4..].starts_with(b"ICC_PROFILE\0"),
            0xE1 | 0xE3..=0xED | 0xEF | 0xF0..=0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(segment);
        }
        in_scan = marker == 0xDA;
        at = end;
    }
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

    /// A photo-like JPEG of `w`x`h` with an APP1 EXIF segment holding `orientation` and a
    /// made-up GPS note, and `trailer` appended after its end marker.
    fn jpeg_with_exif(w: u32, h: u32, orientation: u16, trailer: &[u8]) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x ^ y) % 256) as u8,
            ])
        });
        let mut plain = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut plain), image::ImageFormat::Jpeg)
            .expect("encode");
        let mut tiff =
            b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01".to_vec();
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        tiff.extend_from_slice(b"GPS 31.2304N 121.4737E");
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&u16::try_from(app1.len() + 2).expect("short").to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(b"\xFF\xFE\x00\x0Bcomment!!");
        out.extend_from_slice(&plain[2..]);
        out.extend_from_slice(trailer);
        out
    }

    #[test]
    fn an_upright_jpeg_within_the_side_is_the_original_without_metadata() {
        let trailer = b"\xFF\xD8\xFF\xE1 second image's EXIF";
        let original = jpeg_with_exif(640, 480, 1, trailer);
        let r = render(
            Cursor::new(&original),
            DecodeLimits::default(),
            &[1600, 320],
        )
        .expect("render");
        assert_eq!((r[0].max_side, r[0].width, r[0].height), (1600, 640, 480));
        assert_eq!((r[1].max_side, r[1].width, r[1].height), (320, 320, 240));
        let display = &r[0].jpeg;
        for needle in [&b"Exif"[..], b"GPS", b"comment", b"second image"] {
            assert!(!display.windows(needle.len()).any(|w| w == needle));
            assert!(!r[1].jpeg.windows(needle.len()).any(|w| w == needle));
        }
        assert!(display.ends_with(&[0xFF, 0xD9]));
        // The same compressed image: exactly the original less the APP1, COM and trailer bytes.
        let app1 = 2 + usize::from(u16::from_be_bytes([original[4], original[5]]));
        assert_eq!(display.len(), original.len() - app1 - 13 - trailer.len());
        let a = image::load_from_memory(display)
            .expect("decodes")
            .into_rgb8();
        let b = image::load_from_memory(&original)
            .expect("decodes")
            .into_rgb8();
        assert_eq!(a, b);
    }

    #[test]
    fn a_rotated_jpeg_is_turned_upright_and_re_encoded() {
        let original = jpeg_with_exif(640, 480, 6, b"");
        let r = render(Cursor::new(&original), DecodeLimits::default(), &[1600]).expect("render");
        assert_eq!((r[0].width, r[0].height), (480, 640));
        assert!(!r[0].jpeg.windows(4).any(|w| w == b"Exif"));
        let shown = image::load_from_memory(&r[0].jpeg).expect("decodes");
        assert_eq!((shown.width(), shown.height()), (480, 640));
    }

    #[test]
    fn a_large_jpeg_thumbnail_comes_from_a_scaled_decode() {
        let original = jpeg_with_exif(2600, 1300, 1, b"");
        let r = render(Cursor::new(&original), DecodeLimits::default(), &[320]).expect("render");
        assert_eq!((r[0].width, r[0].height), (320, 160));
        assert!(!r[0].jpeg.windows(4).any(|w| w == b"Exif"));
    }

    #[test]
    fn stripping_refuses_what_is_not_a_whole_jpeg() {
        assert!(strip_jpeg_metadata(b"GIF89a").is_err());
        let whole = jpeg_with_exif(64, 64, 1, b"");
        assert!(strip_jpeg_metadata(&whole[..whole.len() - 2]).is_err());
        assert!(strip_jpeg_metadata(&whole[..40]).is_err());
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
