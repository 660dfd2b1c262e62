//! Reading photos: the readability check, originals, and renditions (the thumbnail made on
//! arrival, the display image on its first request).

use bytes::Bytes;
use futures_util::stream::BoxStream;
use hazardloop_sync::photo::PhotoStatus;

use super::{PhotoError, PhotoStore, RenditionKind};
use crate::blob::{original_key, rendition_key, BlobError};
use crate::photos::{find, Photo};
use crate::StorageError;

impl PhotoStore {
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
            .read(move |c| crate::photos::readable(c, &org, &user, &sha))
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
            .write(move |c| crate::photos::set_display(c, &org, &sha, &k))
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
                    .write(move |c| crate::photos::mark_failed(c, &org, &sha))
                    .await?;
                return Ok(());
            }
        };
        let key = rendition_key(org_id, sha256, RenditionKind::Thumbnail.name());
        self.blobs.put(&key, thumbnail.jpeg).await?;
        let k = key.to_string();
        let recorded = self
            .db
            .write(move |c| crate::photos::set_renditions(c, &org, &sha, &k))
            .await?;
        if !recorded {
            // The photo went (an orphan sweep) while it was made: do not leave it.
            self.blobs.delete(&key).await?;
        }
        Ok(())
    }
}
