//! `PhotoStore`: the database and the blob store together, for everything that moves photo
//! bytes: simple uploads, the acceptance of finished resumable uploads, reads, renditions and
//! the orphan sweep.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use hazardloop_media::{DecodeLimits, Rejection, HEADER_WINDOW};
use hazardloop_sync::photo::PhotoStatus;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

use super::intake::{Digest, Intake};
use super::renderers::Renderers;
use super::{add_uploader, find, record_arrival, Photo, Received, RENDITIONS_JOB};
use crate::blob::{original_key, rendition_key, BlobError, BlobStore, Spool};
use crate::{jobs, now_ms, uploads, Db, StorageError};

/// Limits and timings of the photo pipeline.
#[derive(Debug, Clone)]
pub struct PhotoSettings {
    /// Largest original accepted, in bytes.
    pub max_bytes: u64,
    /// Decoder bounds, checked from the header at upload and again when decoding.
    pub limits: DecodeLimits,
    /// Photos never linked are deleted this long after they arrived.
    pub orphan_ttl_ms: i64,
    /// An unfinished resumable upload is deleted this long after its last chunk.
    pub upload_ttl_ms: i64,
    /// Longest side of the thumbnail.
    pub thumbnail_side: u32,
    /// Longest side of the display-size image.
    pub display_side: u32,
    /// A request body that sends nothing for this long is treated as broken off.
    pub body_idle_timeout: Duration,
    /// A capture time further than this ahead of the receipt is clamped and flagged (the
    /// device clock skew allowed to mutations).
    pub max_clock_skew_ms: i64,
    /// A photo captured longer than this before the linking entity's report is flagged on the
    /// link (0 turns the check off).
    pub max_capture_age_ms: i64,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        PhotoSettings {
            max_bytes: 25 * 1024 * 1024,
            limits: DecodeLimits::default(),
            orphan_ttl_ms: 7 * 24 * 3_600_000,
            upload_ttl_ms: 24 * 3_600_000,
            thumbnail_side: 320,
            display_side: 1600,
            body_idle_timeout: Duration::from_secs(30),
            max_clock_skew_ms: 5 * 60 * 1000,
            max_capture_age_ms: 7 * 24 * 3_600_000,
        }
    }
}

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

    /// The photo if the user may read it; `NotFound` otherwise.
    pub async fn readable(
        &self,
        org_id: &str,
        user_id: &str,
        sha256: &str,
    ) -> Result<Photo, PhotoError> {
        let (org, user, sha) = (org_id.to_string(), user_id.to_string(), sha256.to_string());
        Ok(self
            .db
            .read(move |c| super::readable(c, &org, &user, &sha))
            .await?)
    }

    /// Streams the original (or `range` of it).
    pub async fn original(
        &self,
        photo: &Photo,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, std::io::Error>>, PhotoError> {
        if !photo.status().has_bytes() {
            return Err(PhotoError::Pending);
        }
        let key = original_key(&photo.org_id, &photo.sha256);
        match self.blobs.stream(&key, range).await {
            Err(BlobError::NotFound(k)) => {
                tracing::error!(key = %k, "a stored photo's original is missing");
                Err(PhotoError::NotFound)
            }
            other => Ok(other?),
        }
    }

    /// A rendition's JPEG bytes, or why there is none yet. The display image is made on its
    /// first request (most photos are only ever seen as thumbnails) and kept.
    pub async fn rendition(&self, photo: &Photo, kind: RenditionKind) -> Result<Bytes, PhotoError> {
        let key = match (photo.status(), kind) {
            (PhotoStatus::Pending, _) => return Err(PhotoError::Pending),
            (PhotoStatus::Stored, _) => return Err(PhotoError::NotReady),
            (PhotoStatus::Failed, _) => return Err(PhotoError::Unrenderable),
            (PhotoStatus::Ready, RenditionKind::Thumbnail) => photo.thumbnail_key.clone(),
            (PhotoStatus::Ready, RenditionKind::Display) => match &photo.display_key {
                Some(key) => Some(key.clone()),
                None => return self.make_display(photo).await,
            },
        }
        .ok_or(PhotoError::NotReady)?;
        Ok(self
            .blobs
            .read(&object_store::path::Path::from(key))
            .await?)
    }

    /// Renders the original into JPEGs of `sides` on a renderer thread. The original is read
    /// from a file as the decoder needs it (the local blob itself, or a spooled copy of the S3
    /// object), never held whole in memory. `Ok(Err(_))`: the bytes cannot be rendered.
    async fn render(
        &self,
        org_id: &str,
        sha256: &str,
        sides: Vec<u32>,
    ) -> Result<Result<Vec<hazardloop_media::Rendition>, hazardloop_media::RenderError>, PhotoError>
    {
        let key = original_key(org_id, sha256);
        let (path, _copy) = match self.blobs.local_path(&key) {
            Some(path) => (path, None),
            None => {
                let copy = self.blobs.download(&key).await?;
                (copy.path().to_path_buf(), Some(copy))
            }
        };
        let limits = self.settings.limits;
        Ok(self
            .renderers
            .run(move || {
                let file = std::fs::File::open(&path)?;
                let reader = std::io::BufReader::with_capacity(64 * 1024, file);
                Ok::<_, std::io::Error>(hazardloop_media::render(reader, limits, &sides))
            })
            .await
            .ok_or_else(|| {
                PhotoError::Storage(StorageError::Unavailable("the renderers stopped".into()))
            })?
            .map_err(BlobError::from)?)
    }

    /// Makes, stores and records a ready photo's display image. Two first requests at once
    /// both render it and write the same bytes to the same key; either record stands.
    async fn make_display(&self, photo: &Photo) -> Result<Bytes, PhotoError> {
        let (org_id, sha256) = (photo.org_id.as_str(), photo.sha256.as_str());
        let made = match self
            .render(org_id, sha256, vec![self.settings.display_side])
            .await?
        {
            Ok(made) => made,
            Err(e) => {
                tracing::warn!(org_id, sha256, error = %e, "no display image for this photo");
                return Err(PhotoError::Unrenderable);
            }
        };
        let jpeg = made
            .into_iter()
            .next()
            .map(|r| Bytes::from(r.jpeg))
            .ok_or(PhotoError::Unrenderable)?;
        let key = rendition_key(org_id, sha256, RenditionKind::Display.name());
        self.blobs.put(&key, jpeg.to_vec()).await?;
        let (org, sha, k) = (org_id.to_string(), sha256.to_string(), key.to_string());
        let recorded = self
            .db
            .write(move |c| super::set_display(c, &org, &sha, &k))
            .await?;
        if !recorded {
            // The photo went (an orphan sweep) while it was made: do not leave it.
            self.blobs.delete(&key).await?;
            return Err(PhotoError::NotFound);
        }
        Ok(jpeg)
    }

    /// Job handler: makes a stored photo's thumbnail; the photo becomes ready. An original
    /// that cannot be decoded marks the photo failed (no retry); blob or database trouble is
    /// an error to retry.
    pub async fn make_renditions(&self, org_id: &str, sha256: &str) -> Result<(), PhotoError> {
        let (org, sha) = (org_id.to_string(), sha256.to_string());
        let photo = self.db.read(move |c| find(c, &org, &sha)).await?;
        if !matches!(&photo, Some(p) if p.status() == PhotoStatus::Stored) {
            return Ok(());
        }
        let made = self
            .render(org_id, sha256, vec![self.settings.thumbnail_side])
            .await?;
        let (org, sha) = (org_id.to_string(), sha256.to_string());
        let thumbnail = match made {
            Ok(mut made) if !made.is_empty() => made.swap_remove(0),
            other => {
                let why = other
                    .err()
                    .map_or_else(|| "nothing made".into(), |e| e.to_string());
                tracing::warn!(org_id, sha256, error = %why, "no renditions for this photo");
                self.db
                    .write(move |c| super::mark_failed(c, &org, &sha))
                    .await?;
                return Ok(());
            }
        };
        let key = rendition_key(org_id, sha256, RenditionKind::Thumbnail.name());
        self.blobs.put(&key, thumbnail.jpeg).await?;
        let k = key.to_string();
        let recorded = self
            .db
            .write(move |c| super::set_renditions(c, &org, &sha, &k))
            .await?;
        if !recorded {
            // The photo went (an orphan sweep) while it was made: do not leave it.
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }

    /// Deletes this node's spool files that no upload can still be writing (untouched for
    /// twice the body idle timeout): the leftovers of a process killed mid-upload.
    pub fn sweep_spool(&self) -> usize {
        match self.blobs.sweep_spool(self.settings.body_idle_timeout * 2) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not sweep the spool folder");
                0
            }
        }
    }

    /// Job handler: deletes photos no entity linked within the orphan time, and this node's
    /// stale spool files; returns how many photos went.
    pub async fn sweep_orphans(&self) -> Result<usize, PhotoError> {
        let spooled = self.sweep_spool();
        if spooled > 0 {
            tracing::info!(files = spooled, "removed stale spool files");
        }
        let cutoff = now_ms() - self.settings.orphan_ttl_ms;
        let candidates = self
            .db
            .read(move |c| super::orphans(c, cutoff, 200))
            .await?;
        let mut deleted = 0;
        for photo in candidates {
            let (org, sha) = (photo.org_id.clone(), photo.sha256.clone());
            // A link that slipped in meanwhile fails the delete on the foreign key: keep it.
            let gone = self
                .db
                .write(move |c| super::delete_orphan(c, &org, &sha, cutoff))
                .await
                .unwrap_or(false);
            if !gone {
                continue;
            }
            // Every rendition key, recorded or not: a display image made while the sweep ran
            // may not be recorded yet.
            let mut keys = vec![original_key(&photo.org_id, &photo.sha256)];
            for kind in [RenditionKind::Thumbnail, RenditionKind::Display] {
                keys.push(rendition_key(&photo.org_id, &photo.sha256, kind.name()));
            }
            for key in keys {
                if let Err(e) = self.blobs.delete(&key).await {
                    tracing::warn!(key = %key, error = %e, "could not delete an orphan's blob");
                }
            }
            deleted += 1;
        }
        Ok(deleted)
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
