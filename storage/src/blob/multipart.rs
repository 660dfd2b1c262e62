//! S3 multipart uploads, how resumable uploads ship their parts (the local backend has none).

use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::PutPayload;

use super::{BlobError, BlobStore};

impl BlobStore {
    fn multipart(&self) -> Result<&AmazonS3, BlobError> {
        self.s3
            .as_deref()
            .ok_or_else(|| BlobError::Config("multipart uploads need the S3 backend".into()))
    }

    /// Starts a multipart upload to `key` (S3); returns its id.
    pub async fn create_multipart(&self, key: &Path) -> Result<String, BlobError> {
        Ok(self.multipart()?.create_multipart(key).await?)
    }

    /// Uploads part `index` (from 0) of a multipart upload; returns its e-tag. The caller
    /// holds room in the send budget for the payload ([`BlobStore::reserve`]).
    pub async fn put_part(
        &self,
        key: &Path,
        upload_id: &str,
        index: usize,
        payload: PutPayload,
    ) -> Result<String, BlobError> {
        let part = self
            .multipart()?
            .put_part(key, &upload_id.to_string(), index, payload)
            .await?;
        Ok(part.content_id)
    }

    /// Completes a multipart upload from its parts' e-tags, in order.
    pub async fn complete_multipart(
        &self,
        key: &Path,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), BlobError> {
        let parts = etags
            .iter()
            .map(|e| PartId {
                content_id: e.clone(),
            })
            .collect();
        self.multipart()?
            .complete_multipart(key, &upload_id.to_string(), parts)
            .await?;
        Ok(())
    }

    /// Abandons a multipart upload; its parts are discarded.
    pub async fn abort_multipart(&self, key: &Path, upload_id: &str) -> Result<(), BlobError> {
        match self
            .multipart()?
            .abort_multipart(key, &upload_id.to_string())
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
