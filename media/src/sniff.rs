//! What a byte stream is, judged by its first bytes (never by a file name or a client's
//! Content-Type).

/// Formats the server recognises. Only [`Format::is_accepted`] ones are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JPEG (JFIF or EXIF), what phone cameras write.
    Jpeg,
    /// PNG, screenshots and diagrams.
    Png,
    /// WebP (lossy or lossless).
    Webp,
    /// HEIC/HEIF (recent iPhones). Recognised so the refusal can say what to do.
    Heic,
    /// GIF.
    Gif,
    /// TIFF (and raw formats built on it).
    Tiff,
}

impl Format {
    /// The media type served with the original.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Heic => "image/heic",
            Format::Gif => "image/gif",
            Format::Tiff => "image/tiff",
        }
    }

    /// True for the formats stored as photos: JPEG, PNG and WebP.
    pub fn is_accepted(self) -> bool {
        matches!(self, Format::Jpeg | Format::Png | Format::Webp)
    }

    /// Short lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Heic => "heic",
            Format::Gif => "gif",
            Format::Tiff => "tiff",
        }
    }
}

/// Bytes needed to recognise any format ([`sniff`] may answer `None` with fewer).
pub const SNIFF_LEN: usize = 16;

/// The format of a stream starting with `head`, or `None` for anything else.
pub fn sniff(head: &[u8]) -> Option<Format> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Format::Jpeg);
    }
    if head.starts_with(PNG) {
        return Some(Format::Png);
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some(Format::Webp);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some(Format::Gif);
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return Some(Format::Tiff);
    }
    // ISO base media: [size:4]["ftyp"][brand:4]
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        if [
            b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif",
        ]
        .iter()
        .any(|b| brand == *b)
        {
            return Some(Format::Heic);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_magic_numbers() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE1, 0, 0]), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(Format::Png));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some(Format::Heic));
        assert_eq!(sniff(b"hello, I am text"), None);
        assert_eq!(sniff(b""), None);
        assert!(!Format::Heic.is_accepted());
        assert!(Format::Webp.is_accepted());
    }
}
