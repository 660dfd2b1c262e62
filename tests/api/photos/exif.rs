//! A small EXIF writer for tests: a real JPEG with the capture time and GPS a test chooses, so
//! evidence rules are tested on photos made for them (nothing read from outside the repository).

/// What to write into a test photo's EXIF.
pub struct ExifSpec<'a> {
    /// `YYYY:MM:DD HH:MM:SS`, as a camera writes DateTimeOriginal.
    pub taken: &'a str,
    /// `+08:00`, as OffsetTimeOriginal; `None` for a camera that records no offset.
    pub offset: Option<&'a str>,
    /// Latitude and longitude in decimal degrees.
    pub gps: Option<(f64, f64)>,
    /// Varies the pixels, so that two photos never share an id.
    pub seed: u8,
}

/// A small JPEG (16x16) carrying an APP1 EXIF segment built from `spec`.
pub fn jpeg_with_exif(spec: &ExifSpec<'_>) -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 16, |x, y| {
        image::Rgb([spec.seed, (x * 16) as u8, (y * 16) as u8])
    });
    let mut plain = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(
            &mut std::io::Cursor::new(&mut plain),
            image::ImageFormat::Jpeg,
        )
        .expect("encode jpeg");
    let tiff = tiff(spec);
    let mut out = Vec::with_capacity(plain.len() + tiff.len() + 10);
    out.extend_from_slice(&plain[..2]); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(
        &u16::try_from(2 + 6 + tiff.len())
            .expect("small")
            .to_be_bytes(),
    );
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    out.extend_from_slice(&plain[2..]);
    out
}

const ASCII: u16 = 2;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;

/// One IFD entry: tag, type, count, value bytes (little-endian).
type Entry = (u16, u16, u32, Vec<u8>);

fn ascii(s: &str) -> (u32, Vec<u8>) {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    (b.len() as u32, b)
}

fn rationals(values: &[(u32, u32)]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes()))
        .collect()
}

/// Degrees as the three rationals of a GPS coordinate (degrees, minutes, 1/1000 seconds).
fn dms(value: f64) -> Vec<u8> {
    let v = value.abs();
    let deg = v.floor();
    let min = ((v - deg) * 60.0).floor();
    let sec = ((v - deg) * 60.0 - min) * 60.0;
    rationals(&[
        (deg as u32, 1),
        (min as u32, 1),
        ((sec * 1000.0).round() as u32, 1000),
    ])
}

/// An IFD at offset `at`, its entries sorted by tag, with values longer than four bytes
/// placed after it. Returns the IFD followed by its data.
fn ifd(mut entries: Vec<Entry>, at: u32) -> Vec<u8> {
    entries.sort_by_key(|e| e.0);
    let size = 2 + 12 * entries.len() as u32 + 4;
    let mut head = (entries.len() as u16).to_le_bytes().to_vec();
    let mut data = Vec::new();
    for (tag, kind, count, value) in entries {
        head.extend_from_slice(&tag.to_le_bytes());
        head.extend_from_slice(&kind.to_le_bytes());
        head.extend_from_slice(&count.to_le_bytes());
        if value.len() <= 4 {
            let mut v = value.clone();
            v.resize(4, 0);
            head.extend_from_slice(&v);
        } else {
            let offset = at + size + data.len() as u32;
            head.extend_from_slice(&offset.to_le_bytes());
            data.extend_from_slice(&value);
            if data.len() % 2 == 1 {
                data.push(0);
            }
        }
    }
    head.extend_from_slice(&0u32.to_le_bytes());
    head.extend_from_slice(&data);
    head
}

fn tiff(spec: &ExifSpec<'_>) -> Vec<u8> {
    let ifd0_entries = if spec.gps.is_some() { 2 } else { 1 };
    let ifd0_len = 2 + 12 * ifd0_entries + 4;
    let exif_at = 8 + ifd0_len;
    let mut exif_entries = Vec::new();
    let (n, v) = ascii(spec.taken);
    exif_entries.push((0x9003, ASCII, n, v));
    if let Some(off) = spec.offset {
        let (n, v) = ascii(off);
        exif_entries.push((0x9011, ASCII, n, v));
    }
    let exif = ifd(exif_entries, exif_at);
    let gps_at = exif_at + exif.len() as u32;
    let mut ifd0 = vec![(0x8769, LONG, 1, exif_at.to_le_bytes().to_vec())];
    let gps = spec.gps.map(|(lat, lon)| {
        let (n1, r1) = ascii(if lat < 0.0 { "S" } else { "N" });
        let (n3, r3) = ascii(if lon < 0.0 { "W" } else { "E" });
        ifd(
            vec![
                (0x0001, ASCII, n1, r1),
                (0x0002, RATIONAL, 3, dms(lat)),
                (0x0003, ASCII, n3, r3),
                (0x0004, RATIONAL, 3, dms(lon)),
            ],
            gps_at,
        )
    });
    if gps.is_some() {
        ifd0.push((0x8825, LONG, 1, gps_at.to_le_bytes().to_vec()));
    }
    let mut out = b"II\x2A\x00".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&ifd(ifd0, 8));
    assert_eq!(out.len() as u32, exif_at);
    out.extend_from_slice(&exif);
    if let Some(g) = gps {
        out.extend_from_slice(&g);
    }
    out
}
