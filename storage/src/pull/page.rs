//! A page of a pull as it goes out: its items and their JSON, written from stored sync forms
//! so a page is a concatenation of texts, not a JSON tree. The page's shape and its byte
//! writer are `hazardloop_sync::protocol::PullPage`'s (`sync/src/protocol/pull.rs`); here
//! only the entities' data is written.

use hazardloop_sync::protocol::pull::{self as wire, push_json};
use serde_json::Value;

use crate::{hazards, inspections};

/// An entity's current state in a page.
#[derive(Debug, Clone)]
pub enum EntityData {
    Hazard(Box<hazards::HazardView>),
    Inspection(Box<inspections::InspectionView>),
    Other(Value),
    /// The stored sync form (see [`SyncForm`]), JSON text sent as it is.
    Stored(String),
}

impl EntityData {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            EntityData::Hazard(v) => push_json(out, v),
            EntityData::Inspection(v) => push_json(out, v),
            EntityData::Other(v) => push_json(out, v),
            EntityData::Stored(text) => out.extend_from_slice(text.as_bytes()),
        }
    }

    pub(super) fn to_text(&self) -> String {
        let mut out = Vec::new();
        self.write_json(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// One item of a page: an entity's current state, or a tombstone.
#[derive(Debug, Clone)]
pub struct PullItem {
    pub entity_type: String,
    pub id: String,
    pub seq: i64,
    pub deleted: bool,
    /// `not_visible` for a tombstone of an entity that left the caller's view.
    pub reason: Option<&'static str>,
    pub data: Option<EntityData>,
}

impl PullItem {
    fn write_json(&self, out: &mut Vec<u8>) {
        wire::PullItem::write_open(
            out,
            &self.entity_type,
            &self.id,
            self.seq,
            self.deleted,
            self.reason,
        );
        if let Some(data) = &self.data {
            out.extend_from_slice(wire::PullItem::DATA_KEY);
            data.write_json(out);
        }
        wire::PullItem::write_close(out);
    }

    /// The item as a JSON value (tests and tools; the answer is written with
    /// [`PullPage::to_json`]).
    pub fn to_value(&self) -> Value {
        let mut out = Vec::new();
        self.write_json(&mut out);
        serde_json::from_slice(&out).unwrap_or(Value::Null)
    }
}

/// One page.
#[derive(Debug, Clone)]
pub struct PullPage {
    pub items: Vec<PullItem>,
    pub next_cursor: String,
    pub has_more: bool,
    /// The change sequence this page reaches (compare with a push's `write_cursor`).
    pub position: String,
    /// While the first snapshot is delivered: how many entities it holds.
    pub total: Option<i64>,
}

impl PullPage {
    /// The answer's JSON body: the items' stored sync forms are copied in as they are, so a
    /// page of the first snapshot is a range scan and a concatenation.
    pub fn to_json(&self) -> Vec<u8> {
        let guess: usize = self
            .items
            .iter()
            .map(|i| match &i.data {
                Some(EntityData::Stored(t)) => t.len() + 128,
                _ => 1024,
            })
            .sum();
        let mut out = Vec::with_capacity(guess + 512);
        out.extend_from_slice(wire::PullPage::OPEN);
        for (n, item) in self.items.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            item.write_json(&mut out);
        }
        wire::PullPage::write_close(
            &mut out,
            &self.next_cursor,
            self.has_more,
            &self.position,
            self.total,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_is_written_as_the_json_it_always_was() {
        let page = PullPage {
            items: vec![
                PullItem {
                    entity_type: "hazard".into(),
                    id: "a\"b".into(),
                    seq: 7,
                    deleted: false,
                    reason: None,
                    data: Some(EntityData::Stored(r#"{"id":"a\"b","n":1}"#.into())),
                },
                PullItem {
                    entity_type: "site".into(),
                    id: "s".into(),
                    seq: 8,
                    deleted: true,
                    reason: Some("not_visible"),
                    data: None,
                },
                PullItem {
                    entity_type: "template".into(),
                    id: "t".into(),
                    seq: 9,
                    deleted: false,
                    reason: None,
                    data: Some(EntityData::Other(json!({"k": [1, 2]}))),
                },
            ],
            next_cursor: "c.d".into(),
            has_more: true,
            position: "8".into(),
            total: Some(3),
        };
        let v: Value = serde_json::from_slice(&page.to_json()).expect("JSON");
        assert_eq!(
            v,
            json!({
                "items": [
                    {"type": "hazard", "id": "a\"b", "seq": 7, "deleted": false, "data": {"id": "a\"b", "n": 1}},
                    {"type": "site", "id": "s", "seq": 8, "deleted": true, "reason": "not_visible"},
                    {"type": "template", "id": "t", "seq": 9, "deleted": false, "data": {"k": [1, 2]}},
                ],
                "next_cursor": "c.d",
                "has_more": true,
                "position": "8",
                "total": 3,
            })
        );
        assert_eq!(page.items[1].to_value()["reason"], "not_visible");
        let typed: wire::PullPage = serde_json::from_slice(&page.to_json()).expect("a pull page");
        assert_eq!(typed.items.len(), 3);
        assert_eq!(typed.total, Some(3));
        let last = PullPage {
            total: None,
            has_more: false,
            ..page
        };
        let v: Value = serde_json::from_slice(&last.to_json()).expect("JSON");
        assert!(v.get("total").is_none());
    }
}
