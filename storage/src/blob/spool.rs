//! A spool file: incoming bytes on local disk, removed when dropped unless they were moved.

use std::path::{Path as FsPath, PathBuf};

use object_store::path::Path;
use tokio::io::AsyncWriteExt;

use super::BlobError;

/// A local file holding bytes on their way into the store.
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    /// Its key when the file lies inside the local store's root (then storing is a rename).
    key: Option<Path>,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    /// Spools made for one request go when dropped; adopted staging files stay until deleted.
    remove_on_drop: bool,
}

impl Spool {
    pub(super) async fn create(path: PathBuf, key: Option<Path>) -> Result<Spool, BlobError> {
        let file = tokio::fs::File::create(&path).await?;
        Ok(Spool {
            path,
            key,
            file: Some(tokio::io::BufWriter::with_capacity(64 * 1024, file)),
            remove_on_drop: true,
        })
    }

    pub(super) fn adopt(path: PathBuf, key: Path) -> Spool {
        Spool {
            path,
            key: Some(key),
            file: None,
            remove_on_drop: false,
        }
    }

    /// The file on disk.
    pub fn path(&self) -> &FsPath {
        &self.path
    }

    pub(super) fn key(&self) -> Option<&Path> {
        self.key.as_ref()
    }

    /// Appends bytes.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), BlobError> {
        match self.file.as_mut() {
            Some(f) => Ok(f.write_all(bytes).await?),
            None => Err(BlobError::Io(std::io::Error::other("the spool is closed"))),
        }
    }

    /// Flushes buffered bytes to the file.
    pub async fn flush(&mut self) -> Result<(), BlobError> {
        if let Some(f) = self.file.as_mut() {
            f.flush().await?;
        }
        Ok(())
    }

    /// Flushes and makes the bytes durable before they become a photo.
    pub(super) async fn sync(&mut self) -> Result<(), BlobError> {
        self.flush().await?;
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .await?;
        file.sync_data().await?;
        Ok(())
    }

    /// The size of the file.
    pub async fn size(&self) -> Result<u64, BlobError> {
        Ok(tokio::fs::metadata(&self.path).await?.len())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        // After a rename the file is gone and this fails quietly, as intended.
        if self.remove_on_drop {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
