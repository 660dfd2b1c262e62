//! One pass over incoming bytes: the SHA-256 that names the photo, the size, and the
//! structure walk that tells a whole image from a truncated one.

use hazardloop_media::{Structure, Verdict};
use sha2::{Digest as _, Sha256};

/// Fed every byte of an upload in order.
#[derive(Debug, Clone, Default)]
pub struct Intake {
    hasher: Sha256,
    structure: Structure,
    size: u64,
}

/// What one pass learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// Lower-case hex SHA-256 of all the bytes.
    pub sha256: String,
    pub size: u64,
    pub verdict: Verdict,
}

impl Intake {
    /// A pass at the first byte.
    pub fn new() -> Intake {
        Intake::default()
    }

    /// Takes the next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.structure.feed(bytes);
        self.size += bytes.len() as u64;
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The conclusion over everything fed.
    pub fn finish(self) -> Digest {
        Digest {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            verdict: self.structure.verdict(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_sha256sum() {
        let mut i = Intake::new();
        i.feed(b"ab");
        i.feed(b"c");
        let d = i.finish();
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.size, 3);
        assert_eq!(d.verdict, Verdict::Unknown);
        assert_eq!(Intake::new().finish().verdict, Verdict::Empty);
    }
}
