//! Resumable uploads with tus 1.0.0 at `/v1/uploads`.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use sha1::Digest as _;

use super::{fixture, noise_png, photo_app, sha, Blobs};
use crate::contract::SendChecked;
use crate::helpers::{assert_problem, TestApp};
use crate::{photo_suite, Backend};

photo_suite!(
    options_and_creation_follow_the_protocol,
    a_broken_patch_resumes_from_the_offset_head_reports,
    a_bad_chunk_checksum_is_refused_with_460,
    two_devices_uploading_the_same_photo_make_one_blob,
    uploads_larger_than_a_part_go_in_parts,
    termination_and_expiry_remove_the_bytes,
    a_finished_upload_with_the_wrong_bytes_is_refused,
);

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl TestApp {
    fn tus(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("tus-resumable", "1.0.0")
    }

    /// Creates an upload for `bytes`; returns its path.
    async fn tus_create(&self, token: &str, bytes: &[u8]) -> String {
        let res = self
            .tus(reqwest::Method::POST, "/v1/uploads", token)
            .header("upload-length", bytes.len().to_string())
            .header(
                "upload-metadata",
                format!(
                    "sha256 {},filename {},filetype {}",
                    b64(sha(bytes).as_bytes()),
                    b64(b"photo.jpg"),
                    b64(b"image/jpeg")
                ),
            )
            .send_checked()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["tus-resumable"], "1.0.0");
        assert!(res.headers().contains_key("upload-expires"));
        res.headers()["location"].to_str().unwrap().to_string()
    }

    async fn tus_patch(
        &self,
        token: &str,
        path: &str,
        offset: usize,
        chunk: &[u8],
    ) -> reqwest::Response {
        self.tus(reqwest::Method::PATCH, path, token)
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(chunk.to_vec())
            .send_checked()
            .await
            .unwrap()
    }

    async fn tus_offset(&self, token: &str, path: &str) -> Option<usize> {
        let res = self
            .tus(reqwest::Method::HEAD, path, token)
            .send_checked()
            .await
            .unwrap();
        if res.status() != 200 {
            return None;
        }
        assert_eq!(res.headers()["cache-control"], "no-store");
        res.headers()["upload-offset"].to_str().ok()?.parse().ok()
    }

    /// Sends `bytes` in chunks of `chunk` bytes from offset 0; returns the last response.
    async fn tus_upload(
        &self,
        token: &str,
        path: &str,
        bytes: &[u8],
        chunk: usize,
    ) -> reqwest::Response {
        let mut offset = 0;
        loop {
            let end = (offset + chunk).min(bytes.len());
            let res = self
                .tus_patch(token, path, offset, &bytes[offset..end])
                .await;
            if end == bytes.len() || res.status() != 204 {
                return res;
            }
            assert_eq!(res.headers()["upload-offset"], end.to_string().as_str());
            offset = end;
        }
    }
}

async fn options_and_creation_follow_the_protocol(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let res = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/uploads"))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["tus-version"], "1.0.0");
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    let ext = res.headers()["tus-extension"].to_str().unwrap().to_string();
    for e in ["creation", "termination", "checksum", "expiration"] {
        assert!(ext.contains(e), "{ext}");
    }
    assert!(res.headers()["tus-checksum-algorithm"]
        .to_str()
        .unwrap()
        .contains("sha1"));
    assert_eq!(
        res.headers()["tus-max-size"],
        (25 * 1024 * 1024).to_string().as_str()
    );

    // Another protocol version: 412 naming ours, with Tus-Resumable on the error too.
    let res = app
        .client
        .post(app.url("/v1/uploads"))
        .bearer_auth(&admin)
        .header("tus-resumable", "0.2.2")
        .header("upload-length", "10")
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    assert_problem(res, 412, "tus_version_unsupported").await;
    // The photo id is required metadata.
    let res = app
        .tus(reqwest::Method::POST, "/v1/uploads", &admin)
        .header("upload-length", "10")
        .header("upload-metadata", format!("filename {}", b64(b"a.jpg")))
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 400, "invalid_upload_metadata").await;
    let res = app
        .tus(reqwest::Method::POST, "/v1/uploads", &admin)
        .header("upload-length", (26 * 1024 * 1024).to_string())
        .header(
            "upload-metadata",
            format!("sha256 {}", b64("a".repeat(64).as_bytes())),
        )
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;
    // Without authentication: 401, still with Tus-Resumable.
    let res = app
        .client
        .post(app.url("/v1/uploads"))
        .header("tus-resumable", "1.0.0")
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    assert_problem(res, 401, "missing_token").await;

    let bytes = fixture("hazard-before.jpg");
    let path = app.tus_create(&admin, &bytes).await;
    assert_eq!(app.tus_offset(&admin, &path).await, Some(0));
    let res = app
        .tus(reqwest::Method::HEAD, &path, &admin)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["upload-length"],
        bytes.len().to_string().as_str()
    );
    assert!(res.headers()["upload-metadata"]
        .to_str()
        .unwrap()
        .starts_with("sha256 "));
    // PATCH at the wrong offset: 409; with the wrong media type: 415.
    let res = app.tus_patch(&admin, &path, 5, &bytes[5..10]).await;
    assert_problem(res, 409, "offset_mismatch").await;
    let res = app
        .tus(reqwest::Method::PATCH, &path, &admin)
        .header("upload-offset", "0")
        .header("content-type", "application/octet-stream")
        .body(bytes[..10].to_vec())
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
    // Someone else's upload does not exist for them.
    app.user(&admin, "other@example.com", "admin", None).await;
    let other = app.token("other@example.com").await;
    assert_eq!(app.tus_offset(&other, &path).await, None);
    // Going past Upload-Length is refused.
    let mut too_long = bytes.clone();
    too_long.push(0);
    assert_problem(
        app.tus_patch(&admin, &path, 0, &too_long).await,
        413,
        "upload_length_exceeded",
    )
    .await;

    let res = app.tus_upload(&admin, &path, &bytes, 64 * 1024).await;
    assert_eq!(res.status(), 204);
    let id = sha(&bytes);
    assert_eq!(res.headers()["photo-id"], id.as_str());
    assert_eq!(
        res.headers()["upload-offset"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(app.tus_offset(&admin, &path).await, Some(bytes.len()));
    let meta = app.wait_for_status(&admin, &id, "ready").await;
    assert_eq!(meta["captured_at"], "2026-06-01T09:14:33+08:00");
}

async fn a_broken_patch_resumes_from_the_offset_head_reports(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let bytes = fixture("large-12mp.jpg");
    let path = app.tus_create(&admin, &bytes).await;
    let first = 600 * 1024;
    assert_eq!(
        app.tus_patch(&admin, &path, 0, &bytes[..first])
            .await
            .status(),
        204
    );

    // The next PATCH announces the rest but the connection dies after 700 KiB.
    let sent = 700 * 1024;
    let piece = bytes[first..first + sent].to_vec();
    let stream = futures_util::stream::iter(vec![
        Ok::<Vec<u8>, std::io::Error>(piece),
        Err(std::io::Error::other("signal lost")),
    ]);
    let broken = app
        .tus(reqwest::Method::PATCH, &path, &admin)
        .header("upload-offset", first.to_string())
        .header("content-type", "application/offset+octet-stream")
        .header("content-length", (bytes.len() - first).to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    assert!(broken.is_err(), "the request was meant to break off");

    // The server keeps what arrived; HEAD says where to resume.
    let deadline = Instant::now() + Duration::from_secs(30);
    let offset = loop {
        let offset = app.tus_offset(&admin, &path).await.expect("upload exists");
        if offset > first {
            break offset;
        }
        assert!(Instant::now() < deadline, "the broken chunk was not kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(offset <= first + sent, "{offset}");
    let res = app.tus_patch(&admin, &path, offset, &bytes[offset..]).await;
    assert_eq!(res.status(), 204);
    let id = sha(&bytes);
    assert_eq!(res.headers()["photo-id"], id.as_str());
    let full = app.get(&format!("/v1/photos/{id}"), &admin).await;
    assert_eq!(full.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

async fn a_bad_chunk_checksum_is_refused_with_460(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let bytes = fixture("rectified-after.jpg");
    let path = app.tus_create(&admin, &bytes).await;
    let chunk = &bytes[..100_000];
    let send = |checksum: String| {
        app.tus(reqwest::Method::PATCH, &path, &admin)
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-checksum", checksum)
            .body(chunk.to_vec())
            .send_checked()
    };
    let wrong = format!("sha1 {}", b64(&sha1::Sha1::digest(b"something else")));
    let res = send(wrong).await.unwrap();
    assert_eq!(res.status(), 460);
    assert_eq!(res.headers()["tus-resumable"], "1.0.0");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "checksum_mismatch");
    assert_eq!(app.tus_offset(&admin, &path).await, Some(0));
    assert_problem(
        send("crc32 AAAA".into()).await.unwrap(),
        400,
        "checksum_algorithm_unsupported",
    )
    .await;

    let right = format!("sha1 {}", b64(&sha1::Sha1::digest(chunk)));
    let res = send(right).await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.tus_offset(&admin, &path).await, Some(100_000));
    let rest = &bytes[100_000..];
    let res = app
        .tus(reqwest::Method::PATCH, &path, &admin)
        .header("upload-offset", "100000")
        .header("content-type", "application/offset+octet-stream")
        .header(
            "upload-checksum",
            format!("sha256 {}", b64(&sha2::Sha256::digest(rest))),
        )
        .body(rest.to_vec())
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["photo-id"], sha(&bytes).as_str());
}

async fn two_devices_uploading_the_same_photo_make_one_blob(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let org = app.org_id(&admin).await;
    let bytes = fixture("large-12mp.jpg");
    let (a, b) = tokio::join!(
        app.tus_create(&admin, &bytes),
        app.tus_create(&admin, &bytes)
    );
    let (ra, rb) = tokio::join!(
        app.tus_upload(&admin, &a, &bytes, 256 * 1024),
        app.tus_upload(&admin, &b, &bytes, 300 * 1024)
    );
    let id = sha(&bytes);
    for res in [ra, rb] {
        assert_eq!(res.status(), 204);
        assert_eq!(res.headers()["photo-id"], id.as_str());
    }
    let originals = app.stored_files(&format!("orgs/{org}/photos"));
    assert_eq!(originals.len(), 1, "{originals:?}");
    assert!(
        app.stored_files("uploads").is_empty(),
        "staging left behind"
    );
    assert!(app.stored_files("spool").is_empty(), "spool left behind");
    let full = app.get(&format!("/v1/photos/{id}"), &admin).await;
    assert_eq!(full.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

async fn uploads_larger_than_a_part_go_in_parts(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    // About 12 MiB: two full 5 MiB parts and a last short one on S3.
    let bytes = noise_png(2000, 7);
    assert!(bytes.len() > 11 * 1024 * 1024, "{}", bytes.len());
    let path = app.tus_create(&admin, &bytes).await;
    // 3 MiB chunks: parts span chunks, so tails carry over between PATCHes.
    let res = app.tus_upload(&admin, &path, &bytes, 3 * 1024 * 1024).await;
    assert_eq!(res.status(), 204);
    let id = sha(&bytes);
    assert_eq!(res.headers()["photo-id"], id.as_str());
    let full = app.get(&format!("/v1/photos/{id}"), &admin).await;
    assert_eq!(full.bytes().await.unwrap().as_ref(), bytes.as_slice());
    assert!(
        app.stored_files("uploads").is_empty(),
        "staging left behind"
    );
}

async fn termination_and_expiry_remove_the_bytes(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |c| {
        c.upload_expiry_secs = 1;
        c.sweep_interval_secs = 1;
    })
    .await;
    let admin = app.admin_token().await;
    // Big enough that S3 stages a part and a tail.
    let bytes = noise_png(1500, 3);
    let path = app.tus_create(&admin, &bytes).await;
    let first = 6 * 1024 * 1024;
    assert_eq!(
        app.tus_patch(&admin, &path, 0, &bytes[..first])
            .await
            .status(),
        204
    );
    assert!(!app.stored_files("uploads").is_empty());
    let res = app
        .tus(reqwest::Method::DELETE, &path, &admin)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(app.tus_offset(&admin, &path).await, None);
    assert!(
        app.stored_files("uploads").is_empty(),
        "{:?}",
        app.stored_files("uploads")
    );

    // Abandoned: the sweep deletes it once it expires.
    let path = app.tus_create(&admin, &bytes).await;
    assert_eq!(
        app.tus_patch(&admin, &path, 0, &bytes[..first])
            .await
            .status(),
        204
    );
    // The row goes first, then its staged bytes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.tus_offset(&admin, &path).await.is_some() || !app.stored_files("uploads").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the expired upload was not swept: {:?}",
            app.stored_files("uploads")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_finished_upload_with_the_wrong_bytes_is_refused(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let claimed = fixture("hazard-before.jpg");
    let path = app.tus_create(&admin, &claimed).await;
    // Same length, other bytes.
    let mut other = claimed.clone();
    other[5000] ^= 0xFF;
    let res = app.tus_upload(&admin, &path, &other, 100_000).await;
    assert_problem(res, 422, "hash_mismatch").await;
    assert_eq!(app.tus_offset(&admin, &path).await, None);
    assert!(app.stored_files("orgs").is_empty());
    assert!(app.stored_files("uploads").is_empty());

    // The right hash but not an image: 415, nothing kept.
    let text = fixture("not-an-image.jpg");
    let path = app.tus_create(&admin, &text).await;
    let res = app.tus_upload(&admin, &path, &text, 1000).await;
    assert_problem(res, 415, "not_an_image").await;
    assert!(app.stored_files("orgs").is_empty());
}
