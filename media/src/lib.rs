//! Facts about image bytes, and the small images made from them.
//!
//! `media` owns what the server knows about a photo's content: which format a stream is
//! (sniffed from its bytes, never from a name), whether it ends where its structure says
//! ([`structure`], a streaming walk with constant memory), its dimensions read from the header
//! under explicit limits before any pixel is decoded ([`inspect`]), its capture time and GPS
//! position from EXIF, and the JPEG renditions made from it without EXIF ([`render`]).
//! It does no I/O of its own: callers hand it bytes. It knows nothing of HTTP, SQL or blob
//! stores.

pub mod inspect;
pub mod render;
pub mod sniff;
pub mod structure;

pub use inspect::{inspect, Capture, DecodeLimits, Gps, ImageFacts, Rejection, HEADER_WINDOW};
pub use render::{render, strip_jpeg_metadata, RenderError, Rendition};
pub use sniff::{sniff, Format};
pub use structure::{Structure, Verdict};
