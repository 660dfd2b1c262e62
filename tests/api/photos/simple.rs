//! The simple upload (`PUT /v1/photos/{sha}`), every fixture's outcome, reads with Range and
//! ETag, renditions.

use serde_json::Value;

use super::{fixture, photo_app, sha, Blobs};
use crate::contract::SendChecked;
use crate::helpers::assert_problem;
use crate::{photo_suite, Backend};

photo_suite!(
    every_fixture_gets_its_outcome,
    a_hash_mismatch_stores_nothing,
    the_same_photo_is_stored_once_even_at_once,
    originals_are_served_with_range_and_etag,
    the_size_limit_is_enforced,
    renditions_answer_not_ready_until_made,
    a_refused_image_names_the_size_its_header_claims,
    the_display_image_is_made_once_on_first_request,
);

const ACCEPTED: [&str; 6] = [
    "hazard-before.jpg",
    "rectified-after.jpg",
    "large-12mp.jpg",
    "no-exif.jpg",
    "diagram.png",
    "photo.webp",
];

async fn every_fixture_gets_its_outcome(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let org = app.org_id(&admin).await;

    for (name, status, code) in [
        ("empty.jpg", 422, "empty_photo"),
        ("not-an-image.jpg", 415, "not_an_image"),
        ("truncated.jpg", 422, "truncated_image"),
        ("bomb-100k-square.png", 422, "image_too_large"),
    ] {
        let bytes = fixture(name);
        let id = sha(&bytes);
        let body = assert_problem(app.put_photo(&admin, &id, bytes).await, status, code).await;
        if name.starts_with("bomb") {
            assert_eq!(
                (body["width"].as_u64(), body["height"].as_u64()),
                (Some(100_000), Some(100_000))
            );
        }
        assert_eq!(app.head_photo(&admin, &id).await.status(), 404, "{name}");
    }
    assert!(
        app.stored_files("orgs").is_empty(),
        "a refused photo was stored"
    );

    let mut created = Vec::new();
    for name in ACCEPTED {
        let bytes = fixture(name);
        let id = sha(&bytes);
        let res = app.put_photo(&admin, &id, bytes.clone()).await;
        assert_eq!(res.status(), 201, "{name}");
        assert_eq!(
            res.headers()["location"].to_str().unwrap(),
            format!("/v1/photos/{id}")
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["id"], id.as_str(), "{name}");
        assert_eq!(body["size"], bytes.len(), "{name}");
        assert!(body["received_at"].is_string(), "{name}");
        created.push((name, id, body));
    }
    let by_name = |n: &str| &created.iter().find(|(name, ..)| *name == n).unwrap().2;

    let before = by_name("hazard-before.jpg");
    assert_eq!(before["content_type"], "image/jpeg");
    assert_eq!(
        (before["width"].as_u64(), before["height"].as_u64()),
        (Some(1600), Some(1200))
    );
    assert_eq!(before["captured_at"], "2026-06-01T09:14:33+08:00");
    assert_eq!(before["captured_local"], "2026-06-01T09:14:33");
    assert!((before["gps"]["lat"].as_f64().unwrap() - 36.6171).abs() < 1e-4);
    assert!((before["gps"]["lon"].as_f64().unwrap() - 101.7782).abs() < 1e-4);
    assert_eq!(
        by_name("rectified-after.jpg")["captured_at"],
        "2026-06-04T15:02:10+08:00"
    );
    let large = by_name("large-12mp.jpg");
    assert_eq!(
        (large["width"].as_u64(), large["height"].as_u64()),
        (Some(4000), Some(3000))
    );
    assert!((large["gps"]["lat"].as_f64().unwrap() - 30.5728).abs() < 1e-4);
    assert!((large["gps"]["lon"].as_f64().unwrap() - 104.0668).abs() < 1e-4);
    let plain = by_name("no-exif.jpg");
    assert!(plain["captured_at"].is_null() && plain["captured_local"].is_null());
    assert!(plain["gps"].is_null());
    assert_eq!(by_name("diagram.png")["content_type"], "image/png");
    assert_eq!(by_name("photo.webp")["content_type"], "image/webp");

    let originals = app.stored_files(&format!("orgs/{org}/photos"));
    assert_eq!(originals.len(), ACCEPTED.len(), "{originals:?}");
    assert!(
        app.stored_files("spool").is_empty(),
        "spool files left behind"
    );

    // Thumbnails come from the background worker; all fixtures get both renditions.
    for (name, id, _) in &created {
        let meta = app.wait_for_status(&admin, id, "ready").await;
        assert_eq!(
            meta["thumbnail_url"],
            format!("/v1/photos/{id}/thumbnail"),
            "{name}"
        );
        for (kind, side) in [("thumbnail", 320), ("display", 1600)] {
            let res = app.get(&format!("/v1/photos/{id}/{kind}"), &admin).await;
            assert_eq!(res.status(), 200, "{name} {kind}");
            assert_eq!(res.headers()["content-type"], "image/jpeg");
            let jpeg = res.bytes().await.unwrap();
            let img = image::load_from_memory(&jpeg).expect("a rendition decodes");
            assert!(img.width().max(img.height()) <= side, "{name} {kind}");
            assert!(
                !jpeg.windows(6).any(|w| w == b"Exif\0\0"),
                "{name} {kind} carries EXIF"
            );
        }
    }
    let thumb = app
        .get(
            &format!(
                "/v1/photos/{}/thumbnail",
                by_name("large-12mp.jpg")["id"].as_str().unwrap()
            ),
            &admin,
        )
        .await
        .bytes()
        .await
        .unwrap();
    let img = image::load_from_memory(&thumb).unwrap();
    assert_eq!((img.width(), img.height()), (320, 240));
}

async fn a_hash_mismatch_stores_nothing(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let claimed = sha(&fixture("rectified-after.jpg"));
    let body = assert_problem(
        app.put_photo(&admin, &claimed, fixture("hazard-before.jpg"))
            .await,
        422,
        "hash_mismatch",
    )
    .await;
    assert_eq!(body["actual_sha256"], sha(&fixture("hazard-before.jpg")));
    assert_eq!(app.head_photo(&admin, &claimed).await.status(), 404);
    assert!(app.stored_files("orgs").is_empty());
    assert!(app.stored_files("spool").is_empty());
    // A malformed id is the client's mistake.
    assert_problem(
        app.put_photo(&admin, "not-a-hash", fixture("no-exif.jpg"))
            .await,
        400,
        "invalid_photo_id",
    )
    .await;
}

async fn the_same_photo_is_stored_once_even_at_once(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let org = app.org_id(&admin).await;
    let bytes = fixture("hazard-before.jpg");
    let id = sha(&bytes);
    assert_eq!(
        app.put_photo(&admin, &id, bytes.clone()).await.status(),
        201
    );
    let again = app.put_photo(&admin, &id, bytes.clone()).await;
    assert_eq!(again.status(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["id"], id.as_str());
    // Answering 200 still needs the right bytes.
    assert_problem(
        app.put_photo(&admin, &id, fixture("no-exif.jpg")).await,
        422,
        "hash_mismatch",
    )
    .await;

    // Two devices at once.
    let large = fixture("large-12mp.jpg");
    let large_id = sha(&large);
    let (a, b) = tokio::join!(
        app.put_photo(&admin, &large_id, large.clone()),
        app.put_photo(&admin, &large_id, large.clone())
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 201]);
    let originals = app.stored_files(&format!("orgs/{org}/photos"));
    assert_eq!(originals.len(), 2, "{originals:?}");
    assert!(app.stored_files("spool").is_empty());
    let res = app.get(&format!("/v1/photos/{large_id}"), &admin).await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), large.as_slice());
}

async fn originals_are_served_with_range_and_etag(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let bytes = fixture("large-12mp.jpg");
    let id = sha(&bytes);
    assert_eq!(
        app.put_photo(&admin, &id, bytes.clone()).await.status(),
        201
    );
    let url = app.url(&format!("/v1/photos/{id}"));

    let head = app.head_photo(&admin, &id).await;
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(head.headers()["etag"], format!("\"{id}\"").as_str());

    let full = app.get(&format!("/v1/photos/{id}"), &admin).await;
    assert_eq!(full.status(), 200);
    assert_eq!(full.headers()["content-type"], "image/jpeg");
    assert_eq!(full.headers()["accept-ranges"], "bytes");
    assert_eq!(full.bytes().await.unwrap().as_ref(), bytes.as_slice());

    let get = |range: &'static str| {
        app.client
            .get(&url)
            .bearer_auth(&admin)
            .header("range", range)
            .send_checked()
    };
    let part = get("bytes=100-1099").await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-1099/{}", bytes.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[100..1100]);
    let tail = get("bytes=-10").await.unwrap();
    assert_eq!(tail.status(), 206);
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &bytes[bytes.len() - 10..]
    );
    let beyond = get("bytes=99999999-").await.unwrap();
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", bytes.len()).as_str()
    );
    assert_problem(beyond, 416, "range_not_satisfiable").await;

    let cached = app
        .client
        .get(&url)
        .bearer_auth(&admin)
        .header("if-none-match", format!("\"{id}\""))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    // An unknown or malformed id is simply not found.
    assert_eq!(app.head_photo(&admin, &"0".repeat(64)).await.status(), 404);
    assert_problem(app.get("/v1/photos/xyz", &admin).await, 404, "not_found").await;
}

async fn the_size_limit_is_enforced(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |c| c.photo_max_bytes = 150_000).await;
    let admin = app.admin_token().await;
    let bytes = fixture("hazard-before.jpg");
    let body = assert_problem(
        app.put_photo(&admin, &sha(&bytes), bytes).await,
        413,
        "payload_too_large",
    )
    .await;
    assert_eq!(body["max_bytes"], 150_000);
    // The same without a Content-Length: the stream is cut at the limit.
    let bytes = fixture("hazard-before.jpg");
    let id = sha(&bytes);
    let stream = futures_util::stream::iter(
        bytes
            .chunks(16 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let res = app
        .client
        .put(app.url(&format!("/v1/photos/{id}")))
        .bearer_auth(&admin)
        .body(reqwest::Body::wrap_stream(stream))
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;
    let small = fixture("no-exif.jpg");
    assert_eq!(
        app.put_photo(&admin, &sha(&small), small).await.status(),
        201
    );
}

async fn renditions_answer_not_ready_until_made(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |c| c.jobs_enabled = false).await;
    let admin = app.admin_token().await;
    let bytes = fixture("no-exif.jpg");
    let id = sha(&bytes);
    assert_eq!(app.put_photo(&admin, &id, bytes).await.status(), 201);
    let res = app.get(&format!("/v1/photos/{id}/thumbnail"), &admin).await;
    assert_eq!(res.headers()["retry-after"], "2");
    assert_problem(res, 409, "rendition_not_ready").await;
    assert_problem(
        app.get(&format!("/v1/photos/{id}/display"), &admin).await,
        409,
        "rendition_not_ready",
    )
    .await;
    let meta: Value = app
        .get(&format!("/v1/photos/{id}/metadata"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["status"], "stored");
    assert!(meta["thumbnail_url"].is_null());
}

/// Rewrites the size in a JPEG's first start-of-frame segment (a crafted bomb).
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

/// A refusal on size names the width and height the header claims, whatever the format (a
/// JPEG bomb was once refused as "the image claims 0x0 pixels").
async fn a_refused_image_names_the_size_its_header_claims(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |c| c.photo_max_side = 1000).await;
    let admin = app.admin_token().await;
    let webp = image::ImageReader::with_format(
        std::io::Cursor::new(fixture("photo.webp")),
        image::ImageFormat::WebP,
    )
    .into_dimensions()
    .expect("photo.webp");
    for (bytes, (w, h)) in [
        (
            jpeg_claiming(fixture("hazard-before.jpg"), 60_000, 50_000),
            (60_000, 50_000),
        ),
        (fixture("hazard-before.jpg"), (1600, 1200)),
        (fixture("bomb-100k-square.png"), (100_000, 100_000)),
        (fixture("photo.webp"), webp),
    ] {
        let id = sha(&bytes);
        let body = assert_problem(
            app.put_photo(&admin, &id, bytes).await,
            422,
            "image_too_large",
        )
        .await;
        assert_eq!(
            (body["width"].as_u64(), body["height"].as_u64()),
            (Some(u64::from(w)), Some(u64::from(h))),
            "{body}"
        );
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&format!("claims {w}x{h} pixels")),
            "{detail}"
        );
    }
    assert!(
        app.stored_files("orgs").is_empty(),
        "a refused photo was stored"
    );
}

async fn the_display_image_is_made_once_on_first_request(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    // Upright, 1600x1200 with EXIF and GPS: its display image is the original, stripped.
    let upright = fixture("hazard-before.jpg");
    // 4000x3000: its display image is decoded at half scale and fitted.
    let large = fixture("large-12mp.jpg");
    let mut ids = Vec::new();
    for bytes in [&upright, &large] {
        let id = sha(bytes);
        assert_eq!(
            app.put_photo(&admin, &id, bytes.clone()).await.status(),
            201
        );
        app.wait_for_status(&admin, &id, "ready").await;
        ids.push(id);
    }
    let displays = || {
        app.stored_files("orgs")
            .into_iter()
            .filter(|f| f.ends_with("/display.jpg"))
            .count()
    };
    // The background job makes thumbnails only.
    assert_eq!(displays(), 0, "{:?}", app.stored_files("orgs"));
    let mut first = Vec::new();
    for id in &ids {
        let res = app.get(&format!("/v1/photos/{id}/display"), &admin).await;
        assert_eq!(res.status(), 200);
        first.push(res.bytes().await.unwrap());
    }
    assert_eq!(displays(), 2);
    // Asked again: the same bytes, from the store.
    for (id, bytes) in ids.iter().zip(&first) {
        let again = app.get(&format!("/v1/photos/{id}/display"), &admin).await;
        assert_eq!(&again.bytes().await.unwrap(), bytes);
    }
    assert_eq!(displays(), 2);

    let stripped = &first[0];
    for needle in [&b"Exif"[..], b"FieldCam", b"HazardLoop Test"] {
        assert!(!stripped.windows(needle.len()).any(|w| w == needle));
        assert!(upright.windows(needle.len()).any(|w| w == needle));
    }
    assert!(stripped.len() < upright.len());
    let shown = image::load_from_memory(stripped).unwrap().into_rgb8();
    let original = image::load_from_memory(&upright).unwrap().into_rgb8();
    assert!(
        shown == original,
        "the stripped display image has other pixels"
    );

    let fitted = image::load_from_memory(&first[1]).unwrap();
    assert_eq!((fitted.width(), fitted.height()), (1600, 1200));
    assert!(!first[1].windows(4).any(|w| w == b"Exif"));
}
