//! The photo suite. Every test runs on both databases and both blob stores: the local folder
//! and a real S3 server (s3s-fs), as `<db>_<blobs>::<name>`.

mod access;
mod entities;
mod evidence;
mod exif;
mod resumable;
mod simple;

use std::path::Path;
use std::time::{Duration, Instant};

use hazardloop_api::Config;
use hazardloop_storage::photos;
use serde_json::Value;
use sha2::Digest;

use crate::contract::SendChecked;
use crate::helpers::{spawn_app_on, TestApp};
use crate::s3::S3Server;
use crate::Backend;

/// Where photo bytes go in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blobs {
    Local,
    S3,
}

/// Declares `<db>_<blobs>::name` for each `async fn name(Backend, Blobs)`.
#[macro_export]
macro_rules! photo_suite {
    ($($name:ident),* $(,)?) => {
        $crate::photo_suite!(@one sqlite_local, Sqlite, Local; $($name),*);
        $crate::photo_suite!(@one sqlite_s3, Sqlite, S3; $($name),*);
        $crate::photo_suite!(@one postgres_local, Postgres, Local; $($name),*);
        $crate::photo_suite!(@one postgres_s3, Postgres, S3; $($name),*);
    };
    (@one $module:ident, $db:ident, $blobs:ident; $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(
                        $crate::Backend::$db,
                        $crate::photos::Blobs::$blobs,
                    )
                    .await
                }
            )*
        }
    };
}

/// A server for photo tests on `backend` and `blobs`.
pub async fn photo_app(
    backend: Backend,
    blobs: Blobs,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let s3 = (blobs == Blobs::S3).then(S3Server::start);
    spawn_app_on(backend, s3, adjust).await
}

/// A fixture's bytes (`tests/fixtures/photos/`).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The photo id of some bytes.
pub fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A valid PNG of noise, `side` x `side` pixels (it does not compress: about 3 bytes a pixel).
pub fn noise_png(side: u32, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let img = image::RgbImage::from_fn(side, side, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode png");
    out
}

impl TestApp {
    /// `PUT /v1/photos/{sha}` with the bytes.
    pub async fn put_photo(&self, token: &str, id: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.client
            .put(self.url(&format!("/v1/photos/{id}")))
            .bearer_auth(token)
            .body(bytes)
            .send_checked()
            .await
            .expect("PUT photo")
    }

    /// `HEAD /v1/photos/{sha}`.
    pub async fn head_photo(&self, token: &str, id: &str) -> reqwest::Response {
        self.client
            .head(self.url(&format!("/v1/photos/{id}")))
            .bearer_auth(token)
            .send_checked()
            .await
            .expect("HEAD photo")
    }

    /// The organisation of the signed-in user.
    pub async fn org_id(&self, token: &str) -> String {
        let me: Value = self.get("/v1/me", token).await.json().await.expect("me");
        me["organisation"]["id"]
            .as_str()
            .expect("org id")
            .to_string()
    }

    /// Links a photo to an entity as the hazard engine does, through storage.
    pub async fn link(&self, org: &str, entity: &str, site: &str, id: &str, role: &str) -> String {
        let (org, entity, site, id, role) = (
            org.to_string(),
            entity.to_string(),
            site.to_string(),
            id.to_string(),
            role.to_string(),
        );
        let status = self
            .db
            .write(move |c| photos::link(c, &org, "hazard", &entity, &site, &id, &role))
            .await
            .expect("link");
        status.as_str().to_string()
    }

    /// The status entity responses would show.
    pub async fn status_of(&self, org: &str, id: &str) -> String {
        let (org, ids) = (org.to_string(), vec![id.to_string()]);
        let map = self
            .db
            .read(move |c| photos::statuses(c, &org, &ids))
            .await
            .expect("statuses");
        map[id].as_str().to_string()
    }

    /// Waits until the photo reaches `status` (the worker runs in the background).
    pub async fn wait_for_status(&self, token: &str, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let res = self.get(&format!("/v1/photos/{id}/metadata"), token).await;
            let body: Value = res.json().await.expect("metadata");
            if body["status"] == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "photo {id} never reached {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Files stored under a folder of the blob store, relative to its root.
    pub fn stored_files(&self, prefix: &str) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.blob_root.join(prefix), &self.blob_root, &mut out);
        out.sort();
        out
    }
}
