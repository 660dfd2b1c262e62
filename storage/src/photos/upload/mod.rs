//! Resumable uploads, the storage side of tus 1.0: creation, chunks appended at offsets (with
//! an optional per-chunk checksum), the last chunk turning the upload into a photo,
//! termination and expiry.
//!
//! Local backend: the bytes go straight into one staging file at their offsets, and the
//! finished file is renamed into place. S3: each PATCH's bytes are spooled locally, joined to
//! the upload's *tail* (the bytes after its last full part, kept as an object so any node can
//! continue), and shipped as multipart parts of `part_size`; the rest becomes the new tail.
//! The last chunk completes the multipart upload; the result is read back once to verify its
//! SHA-256 and copied to the photo's key. An upload small enough never to fill a part is
//! verified straight from the spool and stored with one PUT.

use std::time::Instant;

use bytes::Bytes;
use futures_util::stream::Stream;
use hazardloop_media::Rejection;
use object_store::path::Path;
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;

mod removal;
mod staging;

use super::store::{next_chunk, Arrival, PhotoError, PhotoStore, Uploader};
use super::Photo;
use crate::blob::{BlobError, Spool};
use crate::uploads::{self, Lease, Progress, Refused, Upload};
use crate::{new_id, now_ms};
use staging::Sink;

/// How long a PATCH holds an upload without renewing.
const LEASE_MS: i64 = 60_000;
/// How often a streaming PATCH renews its lease.
const RENEW_EVERY_MS: u128 = 20_000;

/// What a client asks for when creating an upload.
#[derive(Debug, Clone)]
pub struct NewUpload {
    /// The photo id the bytes must hash to.
    pub sha256: String,
    pub length: i64,
    /// The raw `Upload-Metadata` header, echoed back on HEAD.
    pub metadata: String,
}

/// A per-chunk checksum (tus checksum extension).
#[derive(Debug, Clone)]
pub enum ChunkChecksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

enum ChunkHasher {
    Sha1(sha1::Sha1, Vec<u8>),
    Sha256(sha2::Sha256, Vec<u8>),
}

impl ChunkHasher {
    fn new(c: ChunkChecksum) -> Self {
        match c {
            ChunkChecksum::Sha1(e) => ChunkHasher::Sha1(sha1::Sha1::new(), e),
            ChunkChecksum::Sha256(e) => ChunkHasher::Sha256(sha2::Sha256::new(), e),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            ChunkHasher::Sha1(h, _) => h.update(bytes),
            ChunkHasher::Sha256(h, _) => h.update(bytes),
        }
    }

    fn matches(self) -> bool {
        match self {
            ChunkHasher::Sha1(h, e) => h.finalize().as_slice() == e.as_slice(),
            ChunkHasher::Sha256(h, e) => h.finalize().as_slice() == e.as_slice(),
        }
    }
}

/// The state after a PATCH.
#[derive(Debug, Clone)]
pub struct AppendOutcome {
    /// The new Upload-Offset.
    pub offset: i64,
    pub expires_at: i64,
    /// Set when this chunk finished the upload.
    pub photo: Option<Photo>,
}

impl PhotoStore {
    /// Creates an upload for `who`.
    pub async fn create_upload(
        &self,
        who: &Uploader,
        new: NewUpload,
    ) -> Result<Upload, PhotoError> {
        let max = self.settings.max_bytes;
        if u64::try_from(new.length).is_ok_and(|n| n > max) {
            return Err(PhotoError::TooLarge { max });
        }
        if new.length <= 0 {
            return Err(Rejection::Empty.into());
        }
        let now = now_ms();
        let upload = Upload {
            id: new_id(),
            org_id: who.org_id.clone(),
            user_id: who.user_id.clone(),
            sha256: new.sha256,
            metadata: new.metadata,
            length: new.length,
            received: 0,
            staging: if self.blobs.is_s3() {
                uploads::STAGING_S3
            } else {
                uploads::STAGING_LOCAL
            }
            .into(),
            multipart_id: None,
            parts: "[]".into(),
            tail_key: None,
            lock_token: None,
            locked_until: None,
            completed_at: None,
            created_at: now,
            expires_at: now + self.settings.upload_ttl_ms,
        };
        let row = upload.clone();
        self.db.write(move |c| uploads::create(c, &row)).await?;
        Ok(upload)
    }

    /// The upload if it is `who`'s.
    pub async fn upload(&self, who: &Uploader, id: &str) -> Result<Upload, PhotoError> {
        let (org, user, id) = (who.org_id.clone(), who.user_id.clone(), id.to_string());
        Ok(self
            .db
            .read(move |c| uploads::get(c, &org, &user, &id))
            .await?)
    }

    /// Appends the request body at `offset`. Bytes that arrive before the body breaks off are
    /// kept (unless a checksum was sent: an unverifiable chunk is discarded). The chunk that
    /// completes the upload is verified and accepted as a photo before the offset moves, so
    /// an upload never reads as complete without its photo.
    pub async fn append<S, E>(
        &self,
        who: &Uploader,
        id: &str,
        offset: i64,
        checksum: Option<ChunkChecksum>,
        body: S,
    ) -> Result<AppendOutcome, PhotoError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let now = now_ms();
        let lease = Lease {
            token: new_id(),
            until: now + LEASE_MS,
        };
        let (org, user, uid, l) = (
            who.org_id.clone(),
            who.user_id.clone(),
            id.to_string(),
            lease.clone(),
        );
        let upload = match self
            .db
            .write(move |c| uploads::lock(c, &org, &user, &uid, offset, &l, now))
            .await?
        {
            Ok(u) => u,
            Err(Refused::NotFound) => return Err(PhotoError::NotFound),
            Err(Refused::Offset(at)) => return Err(PhotoError::OffsetMismatch { offset: at }),
            Err(Refused::Locked) => return Err(PhotoError::Locked),
        };
        let result = self.append_held(who, &upload, &lease, checksum, body).await;
        if result.is_err() {
            let (id, token) = (upload.id.clone(), lease.token.clone());
            if let Err(e) = self
                .db
                .write(move |c| uploads::unlock(c, &id, &token))
                .await
            {
                tracing::warn!(upload = %upload.id, error = %e, "could not release an upload");
            }
        }
        result
    }

    async fn append_held<S, E>(
        &self,
        who: &Uploader,
        upload: &Upload,
        lease: &Lease,
        checksum: Option<ChunkChecksum>,
        mut body: S,
    ) -> Result<AppendOutcome, PhotoError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let room = u64::try_from(upload.length - upload.received).unwrap_or(0);
        let mut sink = self.open_sink(upload).await?;
        let mut hasher = checksum.map(ChunkHasher::new);
        let mut written: u64 = 0;
        let mut broken = None;
        let mut renewed = Instant::now();
        loop {
            match next_chunk(&mut body, self.settings.body_idle_timeout).await {
                Ok(Some(chunk)) => {
                    if written + chunk.len() as u64 > room {
                        return Err(PhotoError::BeyondLength {
                            length: upload.length,
                        });
                    }
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                    sink.write(&chunk).await?;
                    written += chunk.len() as u64;
                    if renewed.elapsed().as_millis() > RENEW_EVERY_MS {
                        self.renew(upload, lease).await?;
                        renewed = Instant::now();
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        if let Some(h) = hasher {
            if let Some(e) = broken {
                return Err(e);
            }
            if !h.matches() {
                return Err(PhotoError::ChecksumMismatch);
            }
        }
        if written == 0 {
            if let Some(e) = broken {
                return Err(e);
            }
        }
        let received = upload.received + written as i64;
        if let Some(e) = &broken {
            tracing::info!(upload = %upload.id, received, error = %e, "PATCH broke off; keeping what arrived");
        }
        match sink {
            Sink::Local(mut file) => {
                file.flush().await.map_err(BlobError::from)?;
                let file = file.into_inner();
                if received == upload.length {
                    file.set_len(upload.length as u64)
                        .await
                        .map_err(BlobError::from)?;
                    drop(file);
                    return self.finish_local(upload, lease).await;
                }
                file.sync_data().await.map_err(BlobError::from)?;
                self.commit(upload, lease, received, upload.part_etags(), None)
                    .await
            }
            Sink::S3(mut spool) => {
                spool.flush().await?;
                self.ship_s3(who, upload, lease, spool, received).await
            }
        }
    }

    async fn renew(&self, upload: &Upload, lease: &Lease) -> Result<(), PhotoError> {
        let (id, token) = (upload.id.clone(), lease.token.clone());
        let until = now_ms() + LEASE_MS;
        if self
            .db
            .write(move |c| uploads::refresh(c, &id, &token, until))
            .await?
        {
            Ok(())
        } else {
            Err(PhotoError::Locked)
        }
    }

    /// Commits the offset (and parts and tail) and releases the upload.
    async fn commit(
        &self,
        upload: &Upload,
        lease: &Lease,
        received: i64,
        parts: Vec<String>,
        tail_key: Option<String>,
    ) -> Result<AppendOutcome, PhotoError> {
        let progress = Progress {
            received,
            parts,
            tail_key,
            expires_at: now_ms() + self.settings.upload_ttl_ms,
        };
        let (id, token, p) = (upload.id.clone(), lease.token.clone(), progress.clone());
        if !self
            .db
            .write(move |c| uploads::commit(c, &id, &token, &p))
            .await?
        {
            return Err(PhotoError::Locked);
        }
        Ok(AppendOutcome {
            offset: received,
            expires_at: progress.expires_at,
            photo: None,
        })
    }

    /// Verifies the finished bytes and makes them a photo, completing the upload in the same
    /// transaction. Bytes that fail verification end the upload: it is deleted.
    async fn finish(
        &self,
        upload: &Upload,
        lease: &Lease,
        who: &Uploader,
        spool: Spool,
        staged: Option<&Path>,
        digest: super::Digest,
    ) -> Result<AppendOutcome, PhotoError> {
        if digest.sha256 != upload.sha256 {
            let err = PhotoError::HashMismatch {
                claimed: upload.sha256.clone(),
                actual: digest.sha256,
            };
            drop(spool);
            self.discard(upload, false).await;
            return Err(err);
        }
        let done = Some((upload.id.clone(), lease.token.clone()));
        match self.accept(who, spool, staged, digest, done).await {
            Ok(arrival) => {
                self.remove_staging(upload, false).await;
                let photo = match arrival {
                    Arrival::Created(p) | Arrival::Existing(p) => p,
                };
                Ok(AppendOutcome {
                    offset: upload.length,
                    expires_at: upload.expires_at,
                    photo: Some(photo),
                })
            }
            Err(e @ PhotoError::Rejected(_)) => {
                self.discard(upload, false).await;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}
