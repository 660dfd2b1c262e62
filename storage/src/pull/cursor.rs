//! The pull cursor: opaque, signed base64 JSON of where a client is in its stream.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Where a client is in its stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cursor {
    /// Change sequence reached.
    pub s: i64,
    /// Last entity key (`type/id`) delivered at sequence `s`.
    pub k: String,
    /// Visible roots when the cursor was made (`*` for an admin).
    pub r: Vec<String>,
    /// A visibility change being reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bf: Option<Backfill>,
    /// Total entities of the first snapshot, while it is being delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// The page's `position`: every entity of every sequence up to it was sent. Behind `s`
    /// while a page has ended among the entities of sequence `s` (one push shares one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<i64>,
}

/// Reconciling a change of visible sites.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Backfill {
    /// Roots before the change.
    pub from: Vec<String>,
    /// Backfill entities changed up to this sequence (later ones come incrementally).
    pub upto: i64,
    /// 0: tombstones for what left the view; 1: data for what entered it.
    pub phase: u8,
    /// Last key delivered in this phase.
    pub k: String,
}

/// What a cursor is signed for: the server's cursor key and the user it was made for. The
/// cursor carries the roots of the view it was made under, and the tombstones of a backfill
/// are computed from them; unsigned, a forged cursor claiming an admin's roots would list the
/// ids of every entity the caller may not read.
#[derive(Clone, Copy)]
pub struct CursorSeal<'a> {
    /// A secret shared by the nodes (derived from the token signing key).
    pub key: &'a [u8],
    pub org_id: &'a str,
    pub user_id: &'a str,
}

impl std::fmt::Debug for CursorSeal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorSeal")
            .field("org_id", &self.org_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl CursorSeal<'_> {
    fn mac(&self, body: &str) -> Vec<u8> {
        use hmac::Mac;
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key) else {
            return Vec::new();
        };
        for part in [self.org_id, "\n", self.user_id, "\n", body] {
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }
}

/// A cursor text that is not a valid cursor for this caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorError {
    /// Not a cursor, or signed for someone else, or altered.
    Invalid,
    /// A well-formed cursor without a signature (made before cursors were signed): the client
    /// snapshots again.
    Unsigned,
}

impl Cursor {
    /// The opaque text form: the JSON in base64, a dot, and its signature.
    pub fn encode(&self, seal: CursorSeal<'_>) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = b64.encode(serde_json::to_vec(self).unwrap_or_default());
        let mac = b64.encode(seal.mac(&body));
        format!("{body}.{mac}")
    }

    /// The sequence the client has all of (see [`Cursor::p`]). A cursor without `p` (made
    /// before it existed) counts its last sequence as complete only when no key is pending.
    pub fn position(&self) -> i64 {
        self.p.unwrap_or(if self.k.is_empty() {
            self.s
        } else {
            self.s - 1
        })
    }

    /// Parses the opaque text form and checks its signature.
    pub fn decode(text: &str, seal: CursorSeal<'_>) -> Result<Cursor, CursorError> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parse =
            |body: &str| -> Option<Cursor> { serde_json::from_slice(&b64.decode(body).ok()?).ok() };
        let Some((body, mac)) = text.split_once('.') else {
            return match parse(text) {
                Some(_) => Err(CursorError::Unsigned),
                None => Err(CursorError::Invalid),
            };
        };
        let given = b64.decode(mac).map_err(|_| CursorError::Invalid)?;
        let expected = seal.mac(body);
        // Constant time: the comparison must not tell how much of a guess was right.
        let same = given.len() == expected.len()
            && given
                .iter()
                .zip(&expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same || expected.is_empty() {
            return Err(CursorError::Invalid);
        }
        parse(body).ok_or(CursorError::Invalid)
    }
}
