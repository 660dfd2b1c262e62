//! Ending uploads: tus termination, the expiry sweep, and removing an upload's staged bytes.

use object_store::path::Path;

use crate::blob::upload_data_key;
use crate::now_ms;
use crate::photos::store::{PhotoError, PhotoStore, Uploader};
use crate::uploads::{self, Upload};

impl PhotoStore {
    /// tus termination: deletes the upload and its staged bytes. 423 while a PATCH holds it.
    pub async fn terminate(&self, who: &Uploader, id: &str) -> Result<(), PhotoError> {
        let upload = self.upload(who, id).await?;
        let uid = upload.id.clone();
        let now = now_ms();
        let Some(upload) = self
            .db
            .write(move |c| uploads::delete_if_free(c, &uid, now, None))
            .await?
        else {
            return Err(PhotoError::Locked);
        };
        if upload.completed_at.is_none() {
            self.remove_staging(&upload, true).await;
        }
        Ok(())
    }

    /// Job handler: deletes uploads past their expiry and their staged bytes; returns how many.
    pub async fn sweep_expired_uploads(&self) -> Result<usize, PhotoError> {
        let now = now_ms();
        let expired = self.db.read(move |c| uploads::expired(c, now, 200)).await?;
        let mut n = 0;
        for upload in expired {
            let uid = upload.id.clone();
            let gone = self
                .db
                .write(move |c| uploads::delete_if_free(c, &uid, now, Some(now)))
                .await?;
            if let Some(upload) = gone {
                if upload.completed_at.is_none() {
                    self.remove_staging(&upload, true).await;
                }
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes the upload's row and staged bytes (best effort on the bytes).
    pub(super) async fn discard(&self, upload: &Upload, multipart_open: bool) {
        let uid = upload.id.clone();
        if let Err(e) = self.db.write(move |c| uploads::delete(c, &uid)).await {
            tracing::warn!(upload = %upload.id, error = %e, "could not delete an upload");
        }
        self.remove_staging(upload, multipart_open).await;
    }

    /// Deletes staged bytes; `multipart_open` aborts an S3 multipart upload not completed.
    pub(super) async fn remove_staging(&self, upload: &Upload, multipart_open: bool) {
        let data_key = upload_data_key(&upload.id);
        let mut keys = vec![data_key.clone()];
        if let Some(t) = &upload.tail_key {
            keys.push(Path::from(t.as_str()));
        }
        if let Some(mp) = &upload.multipart_id {
            if multipart_open {
                if let Err(e) = self.blobs.abort_multipart(&data_key, mp).await {
                    tracing::warn!(upload = %upload.id, error = %e, "could not abort a multipart upload");
                }
            }
        }
        for key in keys {
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(key = %key, error = %e, "could not delete staged bytes");
            }
        }
    }
}
