//! Cleaning up: stale spool files of this node, and photos no entity linked in time.

use super::{PhotoError, PhotoStore, RenditionKind};
use crate::blob::{original_key, rendition_key};
use crate::now_ms;

impl PhotoStore {
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
            .read(move |c| crate::photos::orphans(c, cutoff, 200))
            .await?;
        let mut deleted = 0;
        for photo in candidates {
            let (org, sha) = (photo.org_id.clone(), photo.sha256.clone());
            // A link that slipped in meanwhile fails the delete on the foreign key: keep it.
            let gone = self
                .db
                .write(move |c| crate::photos::delete_orphan(c, &org, &sha, cutoff))
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
