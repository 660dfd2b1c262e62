//! Photo references. A photo is named by the SHA-256 of its original bytes, written as 64
//! lowercase hex digits; entities hold these names, never the bytes.

/// True for a photo id: exactly 64 lowercase hex digits.
pub fn is_photo_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Photo links grow only: the union of both lists, `current` first, in first-seen order,
/// without duplicates. No photo that reached the server is dropped by a merge.
pub fn union_photos(current: &[String], incoming: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(current.len() + incoming.len());
    for id in current.iter().chain(incoming) {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

text_enum! {
    /// Why an entity links a photo.
    pub enum PhotoRole as "photo role" {
        /// The hazard as reported.
        Before => "before",
        /// The hazard after rectification.
        After => "after",
        /// Anything else that supports a hazard or a verdict.
        Evidence => "evidence",
        /// The answer to a checklist item.
        Answer => "answer",
    }
}

text_enum! {
    /// Where a photo stands, as entity responses show it.
    pub enum PhotoStatus as "photo status" {
        /// Linked, but its bytes have not arrived yet.
        Pending => "pending",
        /// The original is kept; the renditions are being made.
        Stored => "stored",
        /// The original and its renditions are available.
        Ready => "ready",
        /// The original is kept but could not be decoded for renditions.
        Failed => "failed",
    }
}

impl PhotoStatus {
    /// True once the original bytes are on the server.
    pub fn has_bytes(self) -> bool {
        self != PhotoStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_ids() {
        assert!(is_photo_id(&"a".repeat(64)));
        assert!(is_photo_id(&"0123456789abcdef".repeat(4)));
        assert!(!is_photo_id(&"A".repeat(64)));
        assert!(!is_photo_id(&"a".repeat(63)));
        assert!(!is_photo_id(&"g".repeat(64)));
    }

    #[test]
    fn statuses_and_roles_are_text() {
        assert_eq!(
            "pending".parse::<PhotoStatus>().ok(),
            Some(PhotoStatus::Pending)
        );
        assert!(!PhotoStatus::Pending.has_bytes());
        assert!(PhotoStatus::Failed.has_bytes());
        assert_eq!(PhotoRole::After.as_str(), "after");
        assert!("sideways".parse::<PhotoRole>().is_err());
    }

    #[test]
    fn union_keeps_everything_once() {
        let a = vec!["1".to_owned(), "2".to_owned()];
        let b = vec!["2".to_owned(), "3".to_owned()];
        assert_eq!(union_photos(&a, &b), ["1", "2", "3"]);
        assert_eq!(union_photos(&[], &b), ["2", "3"]);
    }
}
