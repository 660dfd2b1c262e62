//! Where a PATCH's bytes go: straight into the local staging file, or (S3) into a spool that
//! is shipped as multipart parts plus a tail object; and the finishing of each.

use futures_util::stream::StreamExt;
use object_store::path::Path;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::super::store::{digest_file, PhotoError, PhotoStore, Uploader};
use super::AppendOutcome;
use crate::blob::{read_payload, upload_data_key, upload_tail_key, BlobError, Spool};
use crate::uploads::{self, Lease, Upload};

/// Where a PATCH writes its bytes.
pub(super) enum Sink {
    Local(tokio::io::BufWriter<tokio::fs::File>),
    S3(Spool),
}

impl Sink {
    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), PhotoError> {
        match self {
            Sink::Local(f) => f.write_all(bytes).await.map_err(BlobError::from)?,
            Sink::S3(s) => s.write(bytes).await?,
        }
        Ok(())
    }
}

impl PhotoStore {
    pub(super) async fn open_sink(&self, upload: &Upload) -> Result<Sink, PhotoError> {
        let key = upload_data_key(&upload.id);
        if let Some(path) = self.blobs.local_path(&key) {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(BlobError::from)?;
            }
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(&path)
                .await
                .map_err(BlobError::from)?;
            file.seek(std::io::SeekFrom::Start(upload.received as u64))
                .await
                .map_err(BlobError::from)?;
            return Ok(Sink::Local(tokio::io::BufWriter::with_capacity(
                64 * 1024,
                file,
            )));
        }
        let mut spool = self.blobs.spool().await?;
        if let Some(tail) = &upload.tail_key {
            let mut stream = self.blobs.stream(&Path::from(tail.as_str()), None).await?;
            while let Some(chunk) = stream.next().await {
                spool.write(&chunk.map_err(BlobError::from)?).await?;
            }
        }
        Ok(Sink::S3(spool))
    }

    pub(super) async fn finish_local(
        &self,
        upload: &Upload,
        lease: &Lease,
    ) -> Result<AppendOutcome, PhotoError> {
        let key = upload_data_key(&upload.id);
        let spool = self
            .blobs
            .adopt_local(&key)
            .ok_or_else(|| BlobError::Config("no local staging".into()))?;
        let digest = digest_file(spool.path()).await?;
        let owner = Uploader {
            org_id: upload.org_id.clone(),
            user_id: upload.user_id.clone(),
        };
        self.finish(upload, lease, &owner, spool, None, digest)
            .await
    }

    /// Ships a PATCH's bytes (after the previous tail) to S3 as full parts; the rest becomes
    /// the new tail, or, on the last chunk, the last part.
    pub(super) async fn ship_s3(
        &self,
        who: &Uploader,
        upload: &Upload,
        lease: &Lease,
        spool: Spool,
        received: i64,
    ) -> Result<AppendOutcome, PhotoError> {
        let part_size = self.blobs.part_size() as u64;
        let mut parts = upload.part_etags();
        let total = spool.size().await?;
        let expected_tail = received as u64 - parts.len() as u64 * part_size;
        if total != expected_tail {
            return Err(PhotoError::Blob(BlobError::Store(format!(
                "upload {} has {total} staged bytes, expected {expected_tail}",
                upload.id
            ))));
        }
        let last = received == upload.length;
        if last && parts.is_empty() && total <= part_size {
            // Never filled a part: the spool is the whole photo.
            let digest = digest_file(spool.path()).await?;
            return self.finish(upload, lease, who, spool, None, digest).await;
        }
        let data_key = upload_data_key(&upload.id);
        let mut file = tokio::fs::File::open(spool.path())
            .await
            .map_err(BlobError::from)?;
        let mut left = total;
        let mut multipart_id = upload.multipart_id.clone();
        while left >= part_size || (last && left > 0) {
            let mp = match &multipart_id {
                Some(id) => id.clone(),
                None => {
                    let id = self.blobs.create_multipart(&data_key).await?;
                    let (uid, token, mid) = (upload.id.clone(), lease.token.clone(), id.clone());
                    self.db
                        .write(move |c| uploads::set_multipart(c, &uid, &token, &mid))
                        .await?;
                    multipart_id = Some(id.clone());
                    id
                }
            };
            let n = left.min(part_size);
            let _room = self.blobs.reserve(n as usize).await?;
            let payload = read_payload(&mut file, n as usize).await?;
            let etag = self
                .blobs
                .put_part(&data_key, &mp, parts.len(), payload)
                .await?;
            parts.push(etag);
            left -= n;
        }
        if last {
            let mp = multipart_id.unwrap_or_default();
            self.blobs
                .complete_multipart(&data_key, &mp, &parts)
                .await?;
            drop(spool);
            let whole = self.blobs.download(&data_key).await?;
            let digest = digest_file(whole.path()).await?;
            let outcome = self
                .finish(upload, lease, who, whole, Some(&data_key), digest)
                .await;
            self.blobs.delete(&data_key).await.ok();
            return outcome;
        }
        let tail_key = if left > 0 {
            let key = upload_tail_key(&upload.id, received);
            let _room = self.blobs.reserve(left as usize).await?;
            let payload = read_payload(&mut file, left as usize).await?;
            self.blobs.put(&key, payload).await?;
            Some(key.to_string())
        } else {
            None
        };
        let outcome = self
            .commit(upload, lease, received, parts, tail_key.clone())
            .await?;
        if let Some(old) = upload
            .tail_key
            .as_deref()
            .filter(|o| Some(*o) != tail_key.as_deref())
        {
            self.blobs.delete(&Path::from(old)).await.ok();
        }
        Ok(outcome)
    }
}
