//! Where each blob lives. Originals and renditions are named by organisation and SHA-256, so
//! the same photo uploaded twice lands on the same key: one blob.

use object_store::path::Path;

/// Folder (inside the local root) for incoming bytes.
pub const SPOOL_PREFIX: &str = "spool";

/// The original bytes of a photo.
pub fn original_key(org_id: &str, sha256: &str) -> Path {
    Path::from(format!(
        "orgs/{org_id}/photos/{}/{sha256}",
        &sha256[..2.min(sha256.len())]
    ))
}

/// A rendition (`thumbnail`, `display`) of a photo.
pub fn rendition_key(org_id: &str, sha256: &str, name: &str) -> Path {
    Path::from(format!(
        "orgs/{org_id}/renditions/{}/{sha256}/{name}.jpg",
        &sha256[..2.min(sha256.len())]
    ))
}

/// The staged bytes of a resumable upload (a file locally, the multipart object on S3).
pub fn upload_data_key(upload_id: &str) -> Path {
    Path::from(format!("uploads/{upload_id}/data"))
}

/// The bytes of a resumable upload on S3 after its last full part, as committed at `offset`.
/// A new tail gets a new key, so a crash between writing it and committing the offset never
/// damages the tail the database points at.
pub fn upload_tail_key(upload_id: &str, offset: i64) -> Path {
    Path::from(format!("uploads/{upload_id}/tail-{offset}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable() {
        let sha = "ab".repeat(32);
        assert_eq!(
            original_key("o1", &sha).as_ref(),
            format!("orgs/o1/photos/ab/{sha}")
        );
        assert_eq!(
            rendition_key("o1", &sha, "thumbnail").as_ref(),
            format!("orgs/o1/renditions/ab/{sha}/thumbnail.jpg")
        );
        assert_eq!(upload_tail_key("u", 7).as_ref(), "uploads/u/tail-7");
    }
}
