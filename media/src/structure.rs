//! A streaming check that a JPEG, PNG or WebP ends where its own structure says it ends.
//!
//! The walk keeps a few bytes of state whatever the size of the stream, so it runs on the bytes
//! of an upload as they arrive. It is what tells a truncated photo (a broken transfer that was
//! never resumed) from a whole one without decoding a single pixel: a JPEG must reach its EOI
//! marker, a PNG its IEND chunk, a WebP the length its RIFF header declares.

use crate::sniff::{sniff, Format, SNIFF_LEN};

/// What the walk concluded once the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No bytes at all.
    Empty,
    /// Not a format the server recognises.
    Unknown,
    /// A recognised format; `complete` is false when the stream stopped before its end.
    Found { format: Format, complete: bool },
    /// A recognised format whose structure is broken (e.g. a bad chunk length).
    Malformed { format: Format, reason: String },
}

#[derive(Debug, Clone, Copy)]
enum Jpeg {
    /// Expecting the 0xFF that starts a marker.
    MarkerStart,
    /// Seen 0xFF; expecting the marker code (fill bytes 0xFF are skipped).
    MarkerCode,
    /// Reading a segment's two-byte length.
    Length { marker: u8, hi: Option<u8> },
    /// Skipping a segment's payload; entropy-coded data follows when `scan` is set.
    Skip { remaining: u64, scan: bool },
    /// Inside entropy-coded data, looking for the next marker.
    Entropy { saw_ff: bool },
}

#[derive(Debug, Clone, Copy)]
enum Png {
    /// Skipping the 8-byte signature.
    Signature { remaining: u8 },
    /// Reading a chunk's length and type.
    ChunkHeader { buf: [u8; 8], have: u8 },
    /// Skipping a chunk's data and CRC; the stream is complete after IEND's.
    Skip { remaining: u64, last: bool },
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Collecting the first bytes to recognise the format.
    Sniffing,
    Jpeg(Jpeg),
    Png(Png),
    /// A WebP is complete at `8 + RIFF size` bytes.
    Webp {
        expected: u64,
    },
    /// A format that is refused anyway: nothing to walk.
    Other(Format),
    Unknown,
    /// The end marker was seen; anything after it is ignored.
    Done(Format),
    Malformed(Format),
}

/// Feed it every byte of a stream in order with [`Structure::feed`], then ask
/// [`Structure::verdict`].
#[derive(Debug, Clone)]
pub struct Structure {
    state: State,
    head: [u8; SNIFF_LEN],
    head_len: usize,
    total: u64,
    reason: String,
}

impl Default for Structure {
    fn default() -> Self {
        Structure::new()
    }
}

impl Structure {
    /// A walk at the start of a stream.
    pub fn new() -> Structure {
        Structure {
            state: State::Sniffing,
            head: [0; SNIFF_LEN],
            head_len: 0,
            total: 0,
            reason: String::new(),
        }
    }

    /// Walks the next bytes of the stream.
    pub fn feed(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if let State::Sniffing = self.state {
            let take = (SNIFF_LEN - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
            self.head_len += take;
            if self.head_len < SNIFF_LEN {
                return;
            }
            self.start();
            let head = self.head;
            self.walk(&head);
            self.walk(&data[take..]);
            return;
        }
        self.walk(data);
    }

    /// The conclusion for the bytes fed so far, taken as the whole stream.
    pub fn verdict(&self) -> Verdict {
        let mut this = self.clone();
        if let State::Sniffing = this.state {
            if this.head_len == 0 {
                return Verdict::Empty;
            }
            this.start();
            let head = this.head;
            this.walk(&head[..this.head_len]);
        }
        match this.state {
            State::Sniffing | State::Unknown => Verdict::Unknown,
            State::Malformed(format) => Verdict::Malformed {
                format,
                reason: this.reason,
            },
            State::Done(format) | State::Other(format) => Verdict::Found {
                format,
                complete: true,
            },
            State::Webp { expected } => Verdict::Found {
                format: Format::Webp,
                complete: this.total >= expected,
            },
            State::Jpeg(_) => Verdict::Found {
                format: Format::Jpeg,
                complete: false,
            },
            State::Png(_) => Verdict::Found {
                format: Format::Png,
                complete: false,
            },
        }
    }

    fn start(&mut self) {
        let head = &self.head[..self.head_len];
        self.state = match sniff(head) {
            // The SOI marker (FF D8) is consumed here; the walk starts at the next marker.
            Some(Format::Jpeg) => State::Jpeg(Jpeg::MarkerStart),
            Some(Format::Png) => State::Png(Png::Signature { remaining: 8 }),
            Some(Format::Webp) => {
                let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
                State::Webp {
                    expected: u64::from(size) + 8,
                }
            }
            Some(other) => State::Other(other),
            None => State::Unknown,
        };
        if let State::Jpeg(_) = self.state {
            // Skip the two SOI bytes in what `walk` will see.
            self.state = State::Jpeg(Jpeg::Skip {
                remaining: 2,
                scan: false,
            });
        }
    }

    fn malformed(&mut self, format: Format, reason: impl Into<String>) {
        self.reason = reason.into();
        self.state = State::Malformed(format);
    }

    fn walk(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Jpeg(j) => data = self.walk_jpeg(j, data),
                State::Png(p) => data = self.walk_png(p, data),
                _ => return,
            }
        }
    }

    fn walk_jpeg<'a>(&mut self, state: Jpeg, data: &'a [u8]) -> &'a [u8] {
        match state {
            Jpeg::Skip { remaining, scan } => {
                let n = remaining.min(data.len() as u64) as usize;
                let left = remaining - n as u64;
                self.state = State::Jpeg(match (left, scan) {
                    (0, true) => Jpeg::Entropy { saw_ff: false },
                    (0, false) => Jpeg::MarkerStart,
                    _ => Jpeg::Skip {
                        remaining: left,
                        scan,
                    },
                });
                &data[n..]
            }
            Jpeg::MarkerStart => {
                // Decoders skip stray bytes between segments; so does the walk.
                match data.iter().position(|&b| b == 0xFF) {
                    Some(i) => {
                        self.state = State::Jpeg(Jpeg::MarkerCode);
                        &data[i + 1..]
                    }
                    None => &[],
                }
            }
            Jpeg::MarkerCode => {
                self.marker(data[0]);
                &data[1..]
            }
            Jpeg::Length { marker, hi: None } => {
                self.state = State::Jpeg(Jpeg::Length {
                    marker,
                    hi: Some(data[0]),
                });
                &data[1..]
            }
            Jpeg::Length {
                marker,
                hi: Some(hi),
            } => {
                let len = u16::from_be_bytes([hi, data[0]]);
                if len < 2 {
                    self.malformed(Format::Jpeg, format!("segment length {len} is below 2"));
                } else {
                    self.state = State::Jpeg(Jpeg::Skip {
                        remaining: u64::from(len - 2),
                        scan: marker == 0xDA,
                    });
                    if len == 2 && marker == 0xDA {
                        self.state = State::Jpeg(Jpeg::Entropy { saw_ff: false });
                    }
                }
                &data[1..]
            }
            Jpeg::Entropy { saw_ff: false } => match data.iter().position(|&b| b == 0xFF) {
                Some(i) => {
                    self.state = State::Jpeg(Jpeg::Entropy { saw_ff: true });
                    &data[i + 1..]
                }
                None => &[],
            },
            Jpeg::Entropy { saw_ff: true } => {
                match data[0] {
                    // Stuffed zero, restart markers and fill bytes stay inside the scan.
                    0x00 | 0xD0..=0xD7 => self.state = State::Jpeg(Jpeg::Entropy { saw_ff: false }),
                    0xFF => {}
                    code => self.marker(code),
                }
                &data[1..]
            }
        }
    }

    fn marker(&mut self, code: u8) {
        self.state = match code {
            0xD9 => State::Done(Format::Jpeg),
            0xFF => State::Jpeg(Jpeg::MarkerCode),
            0x01 | 0xD0..=0xD8 => State::Jpeg(Jpeg::MarkerStart),
            marker => State::Jpeg(Jpeg::Length { marker, hi: None }),
        };
    }

    fn walk_png<'a>(&mut self, state: Png, data: &'a [u8]) -> &'a [u8] {
        match state {
            Png::Signature { remaining } => {
                let n = usize::from(remaining).min(data.len());
                let left = remaining - n as u8;
                self.state = State::Png(if left == 0 {
                    Png::ChunkHeader {
                        buf: [0; 8],
                        have: 0,
                    }
                } else {
                    Png::Signature { remaining: left }
                });
                &data[n..]
            }
            Png::ChunkHeader { mut buf, have } => {
                let n = (8 - usize::from(have)).min(data.len());
                buf[usize::from(have)..usize::from(have) + n].copy_from_slice(&data[..n]);
                let have = have + n as u8;
                if have < 8 {
                    self.state = State::Png(Png::ChunkHeader { buf, have });
                    return &data[n..];
                }
                let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                if len > 0x7FFF_FFFF {
                    self.malformed(Format::Png, format!("chunk length {len} is out of range"));
                    return &[];
                }
                if !buf[4..8].iter().all(u8::is_ascii_alphabetic) {
                    self.malformed(Format::Png, "a chunk type is not four letters");
                    return &[];
                }
                self.state = State::Png(Png::Skip {
                    remaining: u64::from(len) + 4,
                    last: &buf[4..8] == b"IEND",
                });
                &data[n..]
            }
            Png::Skip { remaining, last } => {
                let n = remaining.min(data.len() as u64) as usize;
                let left = remaining - n as u64;
                self.state = match (left, last) {
                    (0, true) => State::Done(Format::Png),
                    (0, false) => State::Png(Png::ChunkHeader {
                        buf: [0; 8],
                        have: 0,
                    }),
                    _ => State::Png(Png::Skip {
                        remaining: left,
                        last,
                    }),
                };
                &data[n..]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal JPEG-shaped stream: SOI, APP0, an EXIF-like segment holding a fake EOI, SOS,
    /// entropy data with stuffing and a restart marker, EOI.
    fn jpeg() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.extend([0xFF, 0xE0, 0x00, 0x06, b'J', b'F', b'I', b'F']);
        v.extend([0xFF, 0xE1, 0x00, 0x06, 0xFF, 0xD9, 0x00, 0x00]);
        v.extend([0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        v.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF]);
        v.extend([0xFF, 0xD9]);
        v
    }

    fn png() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        v.extend([0, 0, 0, 13]);
        v.extend(b"IHDR");
        v.extend([0u8; 13 + 4]);
        v.extend([0, 0, 0, 0]);
        v.extend(b"IEND");
        v.extend([0xAE, 0x42, 0x60, 0x82]);
        v
    }

    fn verdict_in_pieces(bytes: &[u8], piece: usize) -> Verdict {
        let mut s = Structure::new();
        for chunk in bytes.chunks(piece) {
            s.feed(chunk);
        }
        s.verdict()
    }

    #[test]
    fn whole_streams_are_complete_however_they_are_cut() {
        for piece in [1, 2, 3, 7, 1000] {
            for bytes in [jpeg(), png()] {
                match verdict_in_pieces(&bytes, piece) {
                    Verdict::Found { complete, .. } => assert!(complete, "piece {piece}"),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn every_proper_prefix_is_incomplete() {
        for bytes in [jpeg(), png()] {
            for cut in SNIFF_LEN..bytes.len() {
                match verdict_in_pieces(&bytes[..cut], 3) {
                    Verdict::Found { complete, .. } => assert!(!complete, "cut at {cut}"),
                    other => panic!("cut at {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn bytes_after_the_end_marker_are_ignored() {
        let mut bytes = jpeg();
        bytes.extend(b"trailer written by some cameras");
        assert_eq!(
            verdict_in_pieces(&bytes, 5),
            Verdict::Found {
                format: Format::Jpeg,
                complete: true
            }
        );
    }

    #[test]
    fn webp_is_complete_at_its_riff_length() {
        let mut bytes = b"RIFF\x08\0\0\0WEBPVP8 ".to_vec();
        bytes.extend([0u8; 4]);
        assert_eq!(
            verdict_in_pieces(&bytes[..16], 4),
            Verdict::Found {
                format: Format::Webp,
                complete: true
            }
        );
        bytes[4] = 0x20;
        assert_eq!(
            verdict_in_pieces(&bytes, 4),
            Verdict::Found {
                format: Format::Webp,
                complete: false
            }
        );
    }

    #[test]
    fn empty_short_and_unknown_streams() {
        assert_eq!(Structure::new().verdict(), Verdict::Empty);
        assert_eq!(verdict_in_pieces(b"hello", 2), Verdict::Unknown);
        assert_eq!(
            verdict_in_pieces(b"plain text that is long enough", 4),
            Verdict::Unknown
        );
        // A JPEG start shorter than the sniffing window is still recognised, incomplete.
        assert_eq!(
            verdict_in_pieces(&[0xFF, 0xD8, 0xFF, 0xE0], 1),
            Verdict::Found {
                format: Format::Jpeg,
                complete: false
            }
        );
    }

    #[test]
    fn a_bad_png_chunk_length_is_malformed() {
        let mut bytes = png();
        bytes[8] = 0xFF;
        assert!(matches!(
            verdict_in_pieces(&bytes, 4),
            Verdict::Malformed {
                format: Format::Png,
                ..
            }
        ));
    }
}
