//! Every photo fixture (`tests/fixtures/photos/` in the repository) judged as its README says.

use hazardloop_media::{inspect, render, DecodeLimits, Format, Rejection, Structure};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn judge(name: &str) -> Result<hazardloop_media::ImageFacts, Rejection> {
    let bytes = fixture(name);
    let mut s = Structure::new();
    for chunk in bytes.chunks(64 * 1024) {
        s.feed(chunk);
    }
    inspect(&s.verdict(), &bytes, DecodeLimits::default())
}

#[test]
fn accepted_fixtures_and_their_metadata() {
    let before = judge("hazard-before.jpg").expect("hazard-before.jpg");
    assert_eq!(
        (before.format, before.width, before.height),
        (Format::Jpeg, 1600, 1200)
    );
    let capture = before.capture.expect("capture time");
    assert_eq!(capture.local, "2026-06-01T09:14:33");
    assert_eq!(capture.offset_minutes, Some(480));
    // 2026-06-01T01:14:33Z
    assert_eq!(capture.utc_ms, Some(1_780_276_473_000));
    let gps = before.gps.expect("gps");
    assert!(
        (gps.lat - 36.6171).abs() < 1e-4 && (gps.lon - 101.7782).abs() < 1e-4,
        "{gps:?}"
    );

    let after = judge("rectified-after.jpg").expect("rectified-after.jpg");
    assert_eq!(after.capture.expect("capture").local, "2026-06-04T15:02:10");

    let large = judge("large-12mp.jpg").expect("large-12mp.jpg");
    assert_eq!((large.width, large.height), (4000, 3000));
    let gps = large.gps.expect("gps");
    assert!(
        (gps.lat - 30.5728).abs() < 1e-4 && (gps.lon - 104.0668).abs() < 1e-4,
        "{gps:?}"
    );

    let plain = judge("no-exif.jpg").expect("no-exif.jpg");
    assert_eq!(plain.capture, None);
    assert_eq!(plain.gps, None);

    assert_eq!(
        judge("diagram.png").expect("diagram.png").format,
        Format::Png
    );
    assert_eq!(
        judge("photo.webp").expect("photo.webp").format,
        Format::Webp
    );
}

#[test]
fn refused_fixtures() {
    assert_eq!(judge("empty.jpg"), Err(Rejection::Empty));
    assert_eq!(judge("not-an-image.jpg"), Err(Rejection::NotAnImage));
    assert_eq!(
        judge("truncated.jpg"),
        Err(Rejection::Truncated(Format::Jpeg))
    );
    match judge("bomb-100k-square.png") {
        Err(Rejection::TooLarge { width, height, .. }) => {
            assert_eq!((width, height), (100_000, 100_000))
        }
        other => panic!("bomb: {other:?}"),
    }
}

#[test]
fn renditions_of_a_phone_photo_carry_no_exif() {
    // A thumbnail alone: decoded DCT-scaled. Display and thumbnail: decoded at full size.
    for sides in [&[320][..], &[1600, 320][..]] {
        let r = render(
            std::io::Cursor::new(fixture("hazard-before.jpg")),
            DecodeLimits::default(),
            sides,
        )
        .expect("render");
        let thumb = r.last().expect("a thumbnail");
        assert_eq!((thumb.width, thumb.height), (320, 240));
        assert!(r.iter().all(|r| exif::Reader::new()
            .read_from_container(&mut std::io::Cursor::new(&r.jpeg))
            .is_err()));
    }
    let r = render(
        std::io::Cursor::new(fixture("large-12mp.jpg")),
        DecodeLimits::default(),
        &[1600, 320],
    )
    .expect("render");
    assert_eq!((r[0].width, r[0].height), (1600, 1200));
}

fn judge_with(
    bytes: &[u8],
    limits: DecodeLimits,
) -> Result<hazardloop_media::ImageFacts, Rejection> {
    let mut s = Structure::new();
    s.feed(bytes);
    inspect(&s.verdict(), bytes, limits)
}

fn claimed(result: Result<hazardloop_media::ImageFacts, Rejection>) -> (u64, u64) {
    match result {
        Err(Rejection::TooLarge { width, height, .. }) => (width, height),
        other => panic!("expected image_too_large, got {other:?}"),
    }
}

/// Rewrites the size in a JPEG's first start-of-frame segment.
fn jpeg_claiming(mut bytes: Vec<u8>, w: u16, h: u16) -> Vec<u8> {
    let mut at = 2;
    loop {
        let marker = bytes[at + 1];
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            bytes[at + 5..at + 7].copy_from_slice(&h.to_be_bytes());
            bytes[at + 7..at + 9].copy_from_slice(&w.to_be_bytes());
            return bytes;
        }
        at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
    }
}

/// Each format refused on the decoder's limits names the size its header claims (it once
/// said "0x0" for everything but PNG).
#[test]
fn a_refusal_names_the_size_the_header_claims_in_every_format() {
    let small = DecodeLimits {
        max_width: 100,
        max_height: 100,
        ..DecodeLimits::default()
    };
    for (name, size) in [
        ("hazard-before.jpg", (1600, 1200)),
        ("diagram.png", {
            let f = judge("diagram.png").expect("diagram.png");
            (u64::from(f.width), u64::from(f.height))
        }),
        ("photo.webp", {
            let f = judge("photo.webp").expect("photo.webp");
            (u64::from(f.width), u64::from(f.height))
        }),
    ] {
        let bytes = fixture(name);
        assert_eq!(claimed(judge_with(&bytes, small)), size, "{name}");
        let message = judge_with(&bytes, small).unwrap_err().to_string();
        assert!(
            message.contains(&format!("claims {}x{} pixels", size.0, size.1)),
            "{name}: {message}"
        );
    }
    // A JPEG bomb: a real photo whose header claims 60000x50000.
    let bomb = jpeg_claiming(fixture("hazard-before.jpg"), 60_000, 50_000);
    assert_eq!(
        claimed(judge_with(&bomb, DecodeLimits::default())),
        (60_000, 50_000)
    );
}
