//! The pull page: its typed shape ([`PullPage`], [`PullItem`]) and the byte writer the server
//! uses to send it, side by side so the two cannot drift apart.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Appends `value` as JSON (`null` in the impossible case that it does not serialise).
pub fn push_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mark = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
}

/// One item of a pull page: an entity's current state, or a tombstone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullItem {
    /// `hazard`, `inspection`, `template`, ...
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The entity's id.
    pub id: String,
    /// The change sequence of its latest write.
    pub seq: i64,
    /// A tombstone.
    pub deleted: bool,
    /// `not_visible` for a tombstone of an entity that left the caller's view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The entity as it stands (absent on tombstones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A page of `GET /v1/sync/pull`. The server writes pages as bytes, with the stored sync forms
/// of the entities copied in as they are (`storage::pull::PullPage::to_json`, for speed),
/// through [`PullItem::write_open`], [`PullItem::DATA_KEY`], [`PullItem::write_close`],
/// [`PullPage::OPEN`] and [`PullPage::write_close`]; a unit test pins that what they write
/// reads back into this type and equals its serde form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullPage {
    /// Changed entities and tombstones after the cursor.
    pub items: Vec<PullItem>,
    /// The opaque cursor to send next.
    pub next_cursor: String,
    /// More pages wait.
    pub has_more: bool,
    /// The change sequence this page reaches (compare with a push's `write_cursor`).
    pub position: String,
    /// While the first snapshot is delivered: how many entities it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

impl PullItem {
    /// What comes between an item's fixed fields and its entity's JSON.
    pub const DATA_KEY: &'static [u8] = b",\"data\":";

    /// Writes an item's fixed fields (`{"type":…,"id":…,"seq":…,"deleted":…[,"reason":…]`);
    /// then comes [`Self::DATA_KEY`] and the entity's JSON, if any, and [`Self::write_close`].
    pub fn write_open(
        out: &mut Vec<u8>,
        entity_type: &str,
        id: &str,
        seq: i64,
        deleted: bool,
        reason: Option<&str>,
    ) {
        out.extend_from_slice(b"{\"type\":");
        push_json(out, entity_type);
        out.extend_from_slice(b",\"id\":");
        push_json(out, id);
        out.extend_from_slice(format!(",\"seq\":{seq},\"deleted\":{deleted}").as_bytes());
        if let Some(reason) = reason {
            out.extend_from_slice(b",\"reason\":");
            push_json(out, reason);
        }
    }

    /// Ends an item.
    pub fn write_close(out: &mut Vec<u8>) {
        out.push(b'}');
    }
}

impl PullPage {
    /// A page's opening; items follow, separated by `,`, then [`Self::write_close`].
    pub const OPEN: &'static [u8] = b"{\"items\":[";

    /// Ends a page after its items.
    pub fn write_close(
        out: &mut Vec<u8>,
        next_cursor: &str,
        has_more: bool,
        position: &str,
        total: Option<i64>,
    ) {
        out.extend_from_slice(b"],\"next_cursor\":");
        push_json(out, next_cursor);
        out.extend_from_slice(format!(",\"has_more\":{has_more},\"position\":").as_bytes());
        push_json(out, position);
        if let Some(total) = total {
            out.extend_from_slice(format!(",\"total\":{total}").as_bytes());
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Writes `page` with the byte writer, as the server does.
    fn written(page: &PullPage) -> Vec<u8> {
        let mut out = PullPage::OPEN.to_vec();
        for (n, item) in page.items.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            PullItem::write_open(
                &mut out,
                &item.entity_type,
                &item.id,
                item.seq,
                item.deleted,
                item.reason.as_deref(),
            );
            if let Some(data) = &item.data {
                out.extend_from_slice(PullItem::DATA_KEY);
                push_json(&mut out, data);
            }
            PullItem::write_close(&mut out);
        }
        PullPage::write_close(
            &mut out,
            &page.next_cursor,
            page.has_more,
            &page.position,
            page.total,
        );
        out
    }

    fn item(t: &str, id: &str, seq: i64, reason: Option<&str>, data: Option<Value>) -> PullItem {
        PullItem {
            entity_type: t.into(),
            id: id.into(),
            seq,
            deleted: data.is_none(),
            reason: reason.map(str::to_string),
            data,
        }
    }

    #[test]
    fn the_written_page_is_the_typed_page() {
        let full = PullPage {
            items: vec![
                item(
                    "hazard",
                    "a\"b\\\u{1}é",
                    7,
                    None,
                    Some(json!({"id": "a", "n": [1, null]})),
                ),
                item("site", "s", 8, Some("not_visible"), None),
                item("inspection", "i", -1, None, None),
            ],
            next_cursor: "c.d\"".into(),
            has_more: true,
            position: "8".into(),
            total: Some(3),
        };
        let empty = PullPage {
            items: vec![],
            next_cursor: String::new(),
            has_more: false,
            position: "0".into(),
            total: None,
        };
        for page in [full, empty] {
            let bytes = written(&page);
            let back: PullPage = serde_json::from_slice(&bytes).expect("a pull page");
            assert_eq!(back, page);
            let as_value: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(as_value, serde_json::to_value(&page).unwrap());
        }
    }
}
