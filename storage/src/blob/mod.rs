//! The blob store: photo originals, renditions and resumable-upload staging, kept in a local
//! folder (the default) or in any S3-compatible service, through `object_store`.
//!
//! Bytes arriving from a client are first written to a *spool* file on local disk while they
//! are hashed and checked; nothing reaches a photo's key before it is verified. On the local
//! backend the spool folder sits inside the store's root, so accepting a photo is one rename;
//! on S3 the spool file is shipped in parts. Either way memory stays flat: no photo is ever
//! held whole in memory on its way in, and the bytes read into memory to be sent to S3 (whole
//! small photos, multipart parts, upload tails) share one budget of [`SEND_BUDGET`] bytes per
//! node, read in [`SEND_CHUNK`] pieces.

mod keys;
mod multipart;
mod spool;

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

pub use keys::{original_key, rendition_key, upload_data_key, upload_tail_key};
pub use spool::Spool;

/// The smallest part S3 accepts, except for the last part of an upload.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// Bytes a node holds in memory at once on their way to S3; senders wait for room.
pub const SEND_BUDGET: usize = 10 * 1024 * 1024;

/// The piece size bytes are read from a spool in before they are sent.
pub const SEND_CHUNK: usize = 256 * 1024;

/// Room in the send budget, returned when dropped.
pub type SendPermit<'a> = tokio::sync::SemaphorePermit<'a>;

/// Where blobs live.
#[derive(Clone)]
pub enum BlobSettings {
    /// A folder on local disk.
    Local {
        /// The folder; created when missing.
        root: PathBuf,
    },
    /// An S3-compatible bucket.
    S3(S3Settings),
}

/// An S3-compatible service. `Debug` leaves the secret out.
#[derive(Clone)]
pub struct S3Settings {
    /// `https://host[:port]`; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO, Ceph and s3s need.
    pub path_style: bool,
    /// Allow `http://` endpoints (tests, private networks).
    pub allow_http: bool,
    /// Multipart part size for resumable uploads; at least [`MIN_PART_SIZE`].
    pub part_size: usize,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("part_size", &self.part_size)
            .finish()
    }
}

/// What can go wrong with blobs.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No blob under that key.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The store is misconfigured.
    #[error("blob store configuration: {0}")]
    Config(String),
    /// The store failed (network, permissions, a full disk...).
    #[error("blob store: {0}")]
    Store(String),
    /// A local spool or staging file failed.
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
}

impl From<object_store::Error> for BlobError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => BlobError::NotFound(path),
            other => BlobError::Store(other.to_string()),
        }
    }
}

/// The shared handle to the blob store.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    /// The same store, for the multipart calls of resumable uploads (S3 only).
    s3: Option<Arc<AmazonS3>>,
    /// The root folder (local backend only).
    local_root: Option<PathBuf>,
    spool_dir: PathBuf,
    part_size: usize,
    /// The send budget, in KiB.
    send_budget: Arc<Semaphore>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("store", &self.store.to_string())
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

/// Reads the next `n` bytes of `file` as a payload of [`SEND_CHUNK`] pieces (no one large
/// allocation, which the allocator would keep around after it is freed).
pub async fn read_payload(file: &mut tokio::fs::File, n: usize) -> Result<PutPayload, BlobError> {
    let mut pieces = Vec::with_capacity(n.div_ceil(SEND_CHUNK));
    let mut left = n;
    while left > 0 {
        let mut piece = vec![0u8; left.min(SEND_CHUNK)];
        file.read_exact(&mut piece).await?;
        left -= piece.len();
        pieces.push(Bytes::from(piece));
    }
    Ok(pieces.into_iter().collect())
}

fn create_dir(dir: &std::path::Path) -> Result<(), BlobError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BlobError::Config(format!("cannot create folder {}: {e}", dir.display())))
}

impl BlobStore {
    /// Opens the store. `spool_dir` is used for incoming bytes on the S3 backend; the local
    /// backend spools inside its root so that accepting a photo is a rename.
    pub fn open(settings: &BlobSettings, spool_dir: PathBuf) -> Result<BlobStore, BlobError> {
        match settings {
            BlobSettings::Local { root } => {
                let spool_dir = root.join(keys::SPOOL_PREFIX);
                create_dir(&spool_dir)?;
                let store = LocalFileSystem::new_with_prefix(root)
                    .map_err(|e| BlobError::Config(e.to_string()))?
                    .with_fsync(true)
                    .with_automatic_cleanup(true);
                Ok(BlobStore {
                    store: Arc::new(store),
                    s3: None,
                    local_root: Some(root.clone()),
                    spool_dir,
                    part_size: MIN_PART_SIZE,
                    send_budget: Arc::new(Semaphore::new(SEND_BUDGET / 1024)),
                })
            }
            BlobSettings::S3(s3) => {
                create_dir(&spool_dir)?;
                if s3.part_size < MIN_PART_SIZE {
                    return Err(BlobError::Config(format!(
                        "the S3 part size must be at least {MIN_PART_SIZE} bytes"
                    )));
                }
                crate::tls::install_provider();
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_access_key_id(&s3.access_key_id)
                    .with_secret_access_key(&s3.secret_access_key)
                    .with_virtual_hosted_style_request(!s3.path_style)
                    .with_allow_http(s3.allow_http);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                let store = Arc::new(
                    builder
                        .build()
                        .map_err(|e| BlobError::Config(e.to_string()))?,
                );
                Ok(BlobStore {
                    store: store.clone(),
                    s3: Some(store),
                    local_root: None,
                    spool_dir,
                    part_size: s3.part_size,
                    send_budget: Arc::new(Semaphore::new(SEND_BUDGET / 1024)),
                })
            }
        }
    }

    /// True on the S3 backend.
    pub fn is_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// The multipart part size of resumable uploads on S3.
    pub fn part_size(&self) -> usize {
        self.part_size
    }

    /// Deletes spool files untouched for `idle` or longer: what a process killed mid-upload
    /// left behind (a live upload writes to its spool at least once per body idle timeout,
    /// and a finished one removes it). Returns how many went.
    pub fn sweep_spool(&self, idle: std::time::Duration) -> Result<usize, BlobError> {
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.spool_dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age >= idle);
            if meta.is_file() && stale && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A new, empty spool file for incoming bytes.
    pub async fn spool(&self) -> Result<Spool, BlobError> {
        let name = uuid::Uuid::now_v7().to_string();
        let key = self
            .local_root
            .as_ref()
            .map(|_| Path::from(format!("{}/{name}", keys::SPOOL_PREFIX)));
        Spool::create(self.spool_dir.join(name), key).await
    }

    /// The file holding the blob `key` (local backend only): originals are read from it
    /// directly, and resumable uploads stage into it.
    pub fn local_path(&self, key: &Path) -> Option<PathBuf> {
        let root = self.local_root.as_ref()?;
        Some(root.join(key.as_ref()))
    }

    /// Takes over a local staging file as a spool (local backend only).
    pub fn adopt_local(&self, key: &Path) -> Option<Spool> {
        let path = self.local_path(key)?;
        Some(Spool::adopt(path, key.clone()))
    }

    /// Makes the verified bytes of `spool` the blob `key`: a rename on the local backend, an
    /// upload in parts on S3. The spool is consumed either way.
    pub async fn store_spool(&self, mut spool: Spool, key: &Path) -> Result<(), BlobError> {
        if let Some(from) = spool.key().cloned() {
            spool.sync().await?;
            self.store.rename(&from, key).await?;
            return Ok(());
        }
        spool.flush().await?;
        self.upload_file(&spool, key).await
    }

    async fn upload_file(&self, spool: &Spool, key: &Path) -> Result<(), BlobError> {
        let size = spool.size().await?;
        let mut file = tokio::fs::File::open(spool.path()).await?;
        if size <= self.part_size as u64 {
            let n = size as usize;
            let _room = self.reserve(n).await?;
            let payload = read_payload(&mut file, n).await?;
            self.store.put(key, payload).await?;
            return Ok(());
        }
        let mut upload = self.store.put_multipart(key).await?;
        let mut left = size;
        while left > 0 {
            let n = left.min(self.part_size as u64) as usize;
            let room = self.reserve(n).await?;
            let sent = match read_payload(&mut file, n).await {
                Ok(payload) => upload.put_part(payload).await.map_err(BlobError::from),
                Err(e) => Err(e),
            };
            drop(room);
            if let Err(e) = sent {
                let _ = upload.abort().await;
                return Err(e);
            }
            left -= n as u64;
        }
        upload.complete().await?;
        Ok(())
    }

    /// Waits for room for `bytes` in the node's send budget (a request larger than the whole
    /// budget waits for all of it).
    pub async fn reserve(&self, bytes: usize) -> Result<SendPermit<'_>, BlobError> {
        let kib = bytes.div_ceil(1024).clamp(1, SEND_BUDGET / 1024);
        self.send_budget
            .acquire_many(u32::try_from(kib).unwrap_or(u32::MAX))
            .await
            .map_err(|_| BlobError::Store("the send budget is closed".into()))
    }

    /// Copies the blob `from` to `to` inside the store (server-side on S3).
    pub async fn copy(&self, from: &Path, to: &Path) -> Result<(), BlobError> {
        Ok(self.store.copy(from, to).await?)
    }

    /// Writes a small blob whole (renditions, upload tails).
    pub async fn put(&self, key: &Path, payload: impl Into<PutPayload>) -> Result<(), BlobError> {
        self.store.put(key, payload.into()).await?;
        Ok(())
    }

    /// Reads a blob whole. Callers bound the size (originals are at most the upload limit).
    pub async fn read(&self, key: &Path) -> Result<Bytes, BlobError> {
        Ok(self.store.get(key).await?.bytes().await?)
    }

    /// Streams `range` (or all) of a blob.
    pub async fn stream(
        &self,
        key: &Path,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, std::io::Error>>, BlobError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(key, options).await?;
        Ok(result
            .into_stream()
            .map(|r| r.map_err(std::io::Error::other))
            .boxed())
    }

    /// Copies a blob into a new spool file, a bounded buffer at a time.
    pub async fn download(&self, key: &Path) -> Result<Spool, BlobError> {
        let mut spool = self.spool().await?;
        let mut stream = self.store.get(key).await?.into_stream();
        while let Some(chunk) = stream.next().await {
            spool.write(&chunk?).await?;
        }
        spool.flush().await?;
        Ok(spool)
    }

    /// Deletes a blob; a missing one is not an error.
    pub async fn delete(&self, key: &Path) -> Result<(), BlobError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn the_spool_sweep_takes_only_what_no_upload_can_be_writing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = BlobStore::open(
            &BlobSettings::Local { root: root.clone() },
            dir.path().join("unused"),
        )
        .unwrap();
        let spool = root.join(keys::SPOOL_PREFIX);
        let stale = spool.join("left-by-a-killed-process");
        let live = spool.join("an-upload-in-progress");
        std::fs::write(&stale, b"half a photo").unwrap();
        std::fs::write(&live, b"the first chunks").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        assert_eq!(store.sweep_spool(Duration::from_secs(60)).unwrap(), 1);
        assert!(!stale.exists());
        assert!(live.exists());
        assert_eq!(store.sweep_spool(Duration::from_secs(60)).unwrap(), 0);
    }
}
