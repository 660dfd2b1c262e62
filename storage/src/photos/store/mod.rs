//! `PhotoStore`: the database and the blob store together, for everything that moves photo
//! bytes: simple uploads, the acceptance of finished resumable uploads, reads, renditions and
//! the orphan sweep.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{Stream, StreamExt};
use hazardloop_media::{Rejection, HEADER_WINDOW};
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

use super::intake::{Digest, Intake};
use super::renderers::Renderers;
use super::{add_uploader, find, record_arrival, Photo, Received, RENDITIONS_JOB};
use crate::blob::{original_key, BlobError, BlobStore, Spool};
use crate::{jobs, now_ms, uploads, Db, StorageError};

mod renditions;
mod settings;
mod sweep;

pub use settings::PhotoSettings;

/// The signed-in user an upload belongs to.
#[derive(Debug, Clone)]
pub struct Uploader {
    pub org_id: String,
    pub user_id: String,
}

/// How an upload ended.
#[derive(Debug, Clone)]
pub enum Arrival {
    /// These bytes made the photo (or completed a pending one).
    Created(Photo),
    /// The photo was already stored; nothing was written twice.
    Existing(Photo),
}

/// Everything that can stop a photo operation.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// The bytes are not an acceptable image.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The bytes do not hash to the id they were sent under; nothing was stored.
    #[error("the bytes hash to {actual}, not to {claimed}")]
    HashMismatch { claimed: String, actual: String },
    /// Larger than the configured limit.
    #[error("the photo is larger than the {max} bytes allowed")]
    TooLarge { max: u64 },
    /// Unknown, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// Linked, but the bytes have not arrived.
    #[error("the photo's bytes have not arrived yet")]
    Pending,
    /// The renditions are still being made.
    #[error("the renditions are not made yet")]
    NotReady,
    /// The original cannot be decoded, so there are no renditions.
    #[error("the original cannot be decoded, so it has no renditions")]
    Unrenderable,
    /// The client stopped sending (disconnect, idle timeout, bad framing).
    #[error("the request body broke off: {0}")]
    BodyBroken(String),
    /// tus: the PATCH's Upload-Offset is not the upload's offset.
    #[error("the upload is at offset {offset}")]
    OffsetMismatch { offset: i64 },
    /// tus: another PATCH holds the upload.
    #[error("another request is writing to this upload")]
    Locked,
    /// tus: the chunk does not match its Upload-Checksum; it was discarded.
    #[error("the chunk does not match its checksum; it was discarded")]
    ChecksumMismatch,
    /// tus: the chunk goes past Upload-Length.
    #[error("the chunk goes past the upload's length of {length} bytes")]
    BeyondLength { length: i64 },
    #[error(transparent)]
    Storage(StorageError),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl From<StorageError> for PhotoError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => PhotoError::NotFound,
            other => PhotoError::Storage(other),
        }
    }
}

/// Which rendition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenditionKind {
    Thumbnail,
    Display,
}

impl RenditionKind {
    /// The name in keys and URLs.
    pub fn name(self) -> &'static str {
        match self {
            RenditionKind::Thumbnail => "thumbnail",
            RenditionKind::Display => "display",
        }
    }
}

/// Photos in the database and their bytes in the blob store.
#[derive(Clone)]
pub struct PhotoStore {
    pub(super) db: Db,
    pub(super) blobs: BlobStore,
    pub(super) settings: Arc<PhotoSettings>,
    wake: Arc<Notify>,
    renderers: Renderers,
    /// Photos whose header is being read and judged at once: each holds up to
    /// [`HEADER_WINDOW`] bytes, so many simultaneous uploads wait here instead of each
    /// holding a window.
    inspecting: Arc<tokio::sync::Semaphore>,
}

/// Headers read and judged at once per node.
const CONCURRENT_INSPECTIONS: usize = 4;

/// Reads the next chunk of a request body, treating silence and errors as a broken body.
pub(super) async fn next_chunk<S, E>(
    body: &mut S,
    idle: Duration,
) -> Result<Option<Bytes>, PhotoError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    match tokio::time::timeout(idle, body.next()).await {
        Err(_) => Err(PhotoError::BodyBroken(format!(
            "nothing arrived for {} s",
            idle.as_secs()
        ))),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(PhotoError::BodyBroken(e.to_string())),
        Ok(Some(Ok(b))) => Ok(Some(b)),
    }
}

/// Hashes and walks a local file in one pass, a bounded buffer at a time.
pub(super) async fn digest_file(path: &std::path::Path) -> Result<Digest, PhotoError> {
    let mut file = tokio::fs::File::open(path).await.map_err(BlobError::from)?;
    let mut intake = Intake::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await.map_err(BlobError::from)?;
        if n == 0 {
            return Ok(intake.finish());
        }
        intake.feed(&buf[..n]);
    }
}

impl PhotoStore {
    /// Puts the pieces together. `wake` is notified whenever a job is enqueued; `renderers`
    /// decode originals for renditions.
    pub fn new(
        db: Db,
        blobs: BlobStore,
        settings: PhotoSettings,
        wake: Arc<Notify>,
        renderers: Renderers,
    ) -> Self {
        PhotoStore {
            db,
            blobs,
            settings: Arc::new(settings),
            wake,
            renderers,
            inspecting: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_INSPECTIONS)),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &PhotoSettings {
        &self.settings
    }

    /// A simple upload: streams `body` to a spool file while hashing and walking it, then
    /// accepts it as photo `sha256` if the bytes hash to that name and are an acceptable
    /// image. An already stored photo is not written again (the body is still hashed: only
    /// someone holding the bytes becomes one of its uploaders).
    pub async fn put<S, E>(
        &self,
        who: &Uploader,
        sha256: &str,
        declared_len: Option<u64>,
        mut body: S,
    ) -> Result<Arrival, PhotoError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let max = self.settings.max_bytes;
        if declared_len.is_some_and(|n| n > max) {
            return Err(PhotoError::TooLarge { max });
        }
        let (org, sha) = (who.org_id.clone(), sha256.to_string());
        let existing = self.db.read(move |c| find(c, &org, &sha)).await?;
        let mut spool = match &existing {
            Some(p) if p.status().has_bytes() => None,
            _ => Some(self.blobs.spool().await?),
        };
        let mut intake = Intake::new();
        while let Some(chunk) = next_chunk(&mut body, self.settings.body_idle_timeout).await? {
            if intake.size() + chunk.len() as u64 > max {
                return Err(PhotoError::TooLarge { max });
            }
            intake.feed(&chunk);
            if let Some(s) = spool.as_mut() {
                s.write(&chunk).await?;
            }
        }
        let digest = intake.finish();
        if digest.sha256 != sha256 {
            return Err(PhotoError::HashMismatch {
                claimed: sha256.to_string(),
                actual: digest.sha256,
            });
        }
        match spool {
            Some(spool) => self.accept(who, spool, None, digest, None).await,
            None => self.join_existing(who, sha256).await,
        }
    }

    /// Makes `who` an uploader of an already stored photo.
    async fn join_existing(&self, who: &Uploader, sha256: &str) -> Result<Arrival, PhotoError> {
        let (org, user, sha) = (who.org_id.clone(), who.user_id.clone(), sha256.to_string());
        let photo = self
            .db
            .write(move |c| {
                add_uploader(c, &org, &sha, &user)?;
                find(c, &org, &sha)?.ok_or(StorageError::NotFound)
            })
            .await?;
        Ok(Arrival::Existing(photo))
    }

    /// Accepts verified bytes (`digest` is over all of `spool`) as a photo: judges them, puts
    /// them under the photo's key unless it is already stored (from `staged` when given,
    /// else from the spool), and records the arrival. `finish_upload` (upload id, lock token)
    /// marks a resumable upload complete in the same transaction.
    pub(super) async fn accept(
        &self,
        who: &Uploader,
        mut spool: Spool,
        staged: Option<&object_store::path::Path>,
        digest: Digest,
        finish_upload: Option<(String, String)>,
    ) -> Result<Arrival, PhotoError> {
        spool.flush().await?;
        let facts = {
            let _turn = self
                .inspecting
                .acquire()
                .await
                .map_err(|e| PhotoError::Storage(StorageError::Unavailable(e.to_string())))?;
            let head = read_head(spool.path(), digest.size).await?;
            let limits = self.settings.limits;
            let verdict = digest.verdict.clone();
            tokio::task::spawn_blocking(move || hazardloop_media::inspect(&verdict, &head, limits))
                .await
                .map_err(|e| PhotoError::Storage(StorageError::Unavailable(e.to_string())))??
        };
        let sha = digest.sha256.clone();
        let key = original_key(&who.org_id, &sha);
        let (org, s) = (who.org_id.clone(), sha.clone());
        let stored = self
            .db
            .read(move |c| find(c, &org, &s))
            .await?
            .is_some_and(|p| p.status().has_bytes());
        // Skip writing bytes the store already has (a concurrent or earlier upload won).
        let mut unwritten = Some(spool);
        if !stored {
            self.put_original(&mut unwritten, staged, &key).await?;
        }
        let received = now_ms();
        let (org, user) = (who.org_id.clone(), who.user_id.clone());
        let size = i64::try_from(digest.size).unwrap_or(i64::MAX);
        let (skew, max_age) = (
            self.settings.max_clock_skew_ms,
            self.settings.max_capture_age_ms,
        );
        let (fresh, photo) = self
            .db
            .write(move |c| {
                let r = Received {
                    size,
                    facts: &facts,
                    uploaded_by: &user,
                    received_at: received,
                    max_clock_skew_ms: skew,
                };
                let fresh = record_arrival(c, &org, &sha, &r)?;
                add_uploader(c, &org, &sha, &user)?;
                if fresh {
                    jobs::enqueue(
                        c,
                        jobs::NewJob {
                            kind: RENDITIONS_JOB,
                            org_id: Some(&org),
                            payload: serde_json::json!({ "sha256": sha }),
                            dedupe_key: Some(format!("{RENDITIONS_JOB}:{org}:{sha}")),
                            run_at: received,
                            max_attempts: 5,
                        },
                    )?;
                }
                if let Some((id, token)) = &finish_upload {
                    uploads::complete(c, id, token, received)?;
                }
                let photo = find(c, &org, &sha)?.ok_or(StorageError::NotFound)?;
                if fresh {
                    // Links made while the photo was pending are judged now.
                    super::evidence::judge_links(c, &photo, &user, received, max_age)?;
                }
                Ok((fresh, photo))
            })
            .await?;
        if fresh && unwritten.is_some() {
            // The photo we saw was deleted (an orphan sweep) before this arrival was recorded.
            self.put_original(&mut unwritten, staged, &key).await?;
        }
        if fresh {
            self.wake.notify_one();
            Ok(Arrival::Created(photo))
        } else {
            Ok(Arrival::Existing(photo))
        }
    }

    /// Writes the verified bytes under the photo's key, from `staged` when given (S3
    /// server-side copy), else from the spool (taken).
    async fn put_original(
        &self,
        spool: &mut Option<Spool>,
        staged: Option<&object_store::path::Path>,
        key: &object_store::path::Path,
    ) -> Result<(), PhotoError> {
        match (staged, spool.take()) {
            (Some(from), _) => self.blobs.copy(from, key).await?,
            (None, Some(spool)) => self.blobs.store_spool(spool, key).await?,
            (None, None) => {}
        }
        Ok(())
    }
}

/// The first [`HEADER_WINDOW`] bytes of a file of `size` bytes, in one allocation.
async fn read_head(path: &std::path::Path, size: u64) -> Result<Vec<u8>, PhotoError> {
    let file = tokio::fs::File::open(path).await.map_err(BlobError::from)?;
    let mut head =
        Vec::with_capacity(usize::try_from(size).map_or(HEADER_WINDOW, |n| n.min(HEADER_WINDOW)));
    file.take(HEADER_WINDOW as u64)
        .read_to_end(&mut head)
        .await
        .map_err(BlobError::from)?;
    Ok(head)
}
