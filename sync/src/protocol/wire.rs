//! The sync protocol's wire format (section 4 of the design): what a device sends to
//! `POST /v1/sync/push`, what it gets back, and the shape of a `GET /v1/sync/pull` page.
//!
//! A push body is parsed once, here, by [`PushRequest::from_json`]: a body without a
//! `device_id` or a `mutations` array is refused as a whole ([`PushRequestError`]); a malformed
//! item is not, it becomes its own [`PushResult::Invalid`] answer and the rest of the batch
//! goes on.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::rejection::{MutationRejection, RejectionCode};
use crate::mutation::Mutation;

/// Largest sequence number accepted (JSON-safe integer range).
pub const MAX_SEQ: i64 = 9_007_199_254_740_991;

/// A push body: the device and its queued mutations, each parsed on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct PushRequest {
    /// The device the queue belongs to (checked against the signed-in user by `api`).
    pub device_id: String,
    /// The schema the app speaks, when it says so in the body.
    pub schema_version: Option<i64>,
    /// The items, in the order sent.
    pub items: Vec<ParsedItem>,
}

/// Why a push body was refused as a whole (422 `validation_failed` naming the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRequestError {
    /// `device_id` absent or not text.
    DeviceId,
    /// `mutations` absent or not an array.
    Mutations,
}

impl PushRequestError {
    /// The field at fault, as the client spells it.
    pub fn field(self) -> &'static str {
        match self {
            PushRequestError::DeviceId => "device_id",
            PushRequestError::Mutations => "mutations",
        }
    }

    /// A sentence for people.
    pub fn message(self) -> &'static str {
        match self {
            PushRequestError::DeviceId => "device_id is required",
            PushRequestError::Mutations => "mutations must be an array",
        }
    }
}

impl PushRequest {
    /// Parses a push body. Fails only for the body's own fields; each item is parsed by
    /// [`PushItem::parse`] and a bad one becomes its answer.
    pub fn from_json(body: &Value) -> Result<PushRequest, PushRequestError> {
        let device_id = body
            .get("device_id")
            .and_then(Value::as_str)
            .ok_or(PushRequestError::DeviceId)?;
        let items = body
            .get("mutations")
            .and_then(Value::as_array)
            .ok_or(PushRequestError::Mutations)?;
        Ok(PushRequest {
            device_id: device_id.to_string(),
            schema_version: body.get("schema_version").and_then(Value::as_i64),
            items: items
                .iter()
                .enumerate()
                .map(|(i, raw)| PushItem::parse(i, raw))
                .collect(),
        })
    }

    /// The body a client sends for these items.
    pub fn to_json(device_id: &str, items: &[PushItem]) -> Value {
        json!({"device_id": device_id, "mutations": items})
    }
}

/// One queued mutation with its place in the device's queue.
#[derive(Debug, Clone, PartialEq)]
pub struct PushItem {
    /// The device's sequence number, 1..=[`MAX_SEQ`].
    pub seq: i64,
    /// The mutation (its `seq` field equals [`PushItem::seq`]).
    pub mutation: Mutation,
}

/// An item that could be a push item or the answer to a malformed one.
pub type ParsedItem = Result<PushItem, InvalidItem>;

/// Why an item could not be read (`status: invalid`; it does not advance the device's seq).
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidItem {
    /// The item's position in the batch.
    pub index: usize,
    /// The `seq` as sent (`null` when absent).
    pub seq: Value,
    /// The `id` as sent (`null` when absent).
    pub id: Value,
    /// `invalid_seq` or `malformed_mutation`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl PushItem {
    /// An item of a batch from its JSON at position `index`.
    pub fn parse(index: usize, raw: &Value) -> ParsedItem {
        let bad = |code: &'static str, message: String| InvalidItem {
            index,
            seq: raw.get("seq").cloned().unwrap_or(Value::Null),
            id: raw.get("id").cloned().unwrap_or(Value::Null),
            code,
            message,
        };
        let seq = match raw.get("seq").and_then(Value::as_i64) {
            Some(s) if (1..=MAX_SEQ).contains(&s) => s,
            Some(s) => {
                return Err(bad(
                    "invalid_seq",
                    format!("seq must be between 1 and {MAX_SEQ}, not {s}"),
                ))
            }
            None => return Err(bad("invalid_seq", "seq must be a positive integer".into())),
        };
        let mutation = Mutation::deserialize(raw)
            .map_err(|e| bad("malformed_mutation", format!("not a mutation: {e}")))?;
        Ok(PushItem { seq, mutation })
    }
}

impl Serialize for PushItem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = self.mutation.clone();
        m.seq = Some(self.seq);
        m.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PushItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        PushItem::parse(0, &raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// What a mutation that took effect changed, as a push result names it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedItem {
    /// `hazard`, `inspection`, `template`, ...
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// The entity's version after the mutation.
    pub version: i64,
    /// Fields whose incoming value lost to a newer write.
    pub lost: Vec<String>,
}

/// The answer to one pushed item. Every item gets one, in the order sent.
#[derive(Debug, Clone, PartialEq)]
pub enum PushResult {
    /// Took effect as sent.
    Applied {
        /// The item's seq.
        seq: i64,
        /// The mutation id.
        id: Uuid,
        /// What changed.
        item: AppliedItem,
    },
    /// Took effect, but some fields lost to a newer write (named in `lost`).
    Merged {
        /// The item's seq.
        seq: i64,
        /// The mutation id.
        id: Uuid,
        /// What changed, and what lost.
        item: AppliedItem,
    },
    /// Already done: the answer recorded when it was first applied, as it was (its status
    /// moved to `original_status`).
    Duplicate {
        /// The recorded result (a JSON object).
        original: Value,
    },
    /// Refused by the rules; the seq still advances.
    Rejected {
        /// The item's seq.
        seq: i64,
        /// The mutation id.
        id: Uuid,
        /// Why.
        rejection: MutationRejection,
    },
    /// Not applied because another member of its group was rejected (status `rejected`,
    /// code `group_failed`).
    GroupFailed {
        /// The item's seq.
        seq: i64,
        /// The mutation id.
        id: Uuid,
        /// The group.
        group: Option<Uuid>,
        /// The seq of the member that was rejected.
        failed_seq: i64,
    },
    /// The seq was used by another mutation: NOT applied.
    SeqReused {
        /// The item's seq.
        seq: i64,
        /// The mutation id.
        id: Uuid,
        /// The seq the server expects next.
        expected_seq: i64,
    },
    /// After a gap: not applied.
    OutOfOrder {
        /// The item's seq.
        seq: i64,
        /// The mutation id.
        id: Uuid,
        /// The seq the server expects next.
        expected_seq: i64,
    },
    /// The item could not be read.
    Invalid(InvalidItem),
}

impl PushResult {
    /// `applied`, or `merged` when a field lost.
    pub fn applied(seq: i64, id: Uuid, item: AppliedItem) -> PushResult {
        if item.lost.is_empty() {
            PushResult::Applied { seq, id, item }
        } else {
            PushResult::Merged { seq, id, item }
        }
    }

    /// The `duplicate` answer for a recorded result (its JSON text; unreadable text gives an
    /// answer with no original fields).
    pub fn duplicate_of_text(recorded: &str) -> PushResult {
        PushResult::Duplicate {
            original: serde_json::from_str(recorded).unwrap_or(json!({})),
        }
    }

    /// The `status` member.
    pub fn status(&self) -> &'static str {
        match self {
            PushResult::Applied { .. } => "applied",
            PushResult::Merged { .. } => "merged",
            PushResult::Duplicate { .. } => "duplicate",
            PushResult::Rejected { .. } | PushResult::GroupFailed { .. } => "rejected",
            PushResult::SeqReused { .. } => "seq_reused",
            PushResult::OutOfOrder { .. } => "out_of_order",
            PushResult::Invalid(_) => "invalid",
        }
    }

    /// The result as JSON: what the device receives, and what is recorded for `(device, seq)`.
    pub fn to_json(&self) -> Value {
        let status = self.status();
        match self {
            PushResult::Applied { seq, id, item } | PushResult::Merged { seq, id, item } => {
                json!({
                    "seq": seq, "id": id.to_string(), "status": status,
                    "entity_type": item.entity_type, "entity_id": item.entity_id,
                    "version": item.version, "lost": item.lost,
                })
            }
            PushResult::Duplicate { original } => {
                let mut r = match original {
                    Value::Object(o) => Value::Object(o.clone()),
                    _ => Value::Object(Map::new()),
                };
                r["original_status"] = r.get("status").cloned().unwrap_or(Value::Null);
                r["status"] = json!(status);
                r
            }
            PushResult::Rejected { seq, id, rejection } => json!({
                "seq": seq, "id": id.to_string(), "status": status,
                "code": rejection.code, "message": rejection.message,
                "details": rejection.details, "current": rejection.current,
            }),
            PushResult::GroupFailed { .. } => {
                let r = self.group_failure().unwrap_or_else(|| {
                    MutationRejection::new(RejectionCode::GroupFailed, "", json!({}))
                });
                let (seq, id) = self.seq_and_id().unwrap_or((0, Uuid::nil()));
                PushResult::Rejected {
                    seq,
                    id,
                    rejection: r,
                }
                .to_json()
            }
            PushResult::SeqReused {
                seq,
                id,
                expected_seq,
            } => json!({
                "seq": seq, "id": id, "status": status, "code": RejectionCode::SeqReused,
                "message": format!("seq {seq} was already used by another mutation; this one was NOT applied. Continue from seq {expected_seq}"),
                "expected_seq": expected_seq,
            }),
            PushResult::OutOfOrder {
                seq,
                id,
                expected_seq,
            } => json!({
                "seq": seq, "id": id, "status": status, "expected_seq": expected_seq,
            }),
            PushResult::Invalid(i) => json!({
                "index": i.index, "seq": i.seq, "id": i.id, "status": status,
                "code": i.code, "message": i.message,
            }),
        }
    }

    /// The rejection a `group_failed` member carries.
    fn group_failure(&self) -> Option<MutationRejection> {
        match self {
            PushResult::GroupFailed {
                group, failed_seq, ..
            } => Some(MutationRejection::new(
                RejectionCode::GroupFailed,
                format!("not applied: mutation seq {failed_seq} of the same group was rejected"),
                json!({"group": group, "failed_seq": failed_seq}),
            )),
            _ => None,
        }
    }

    /// The item's seq and mutation id, when the result names them as parsed values.
    pub fn seq_and_id(&self) -> Option<(i64, Uuid)> {
        match self {
            PushResult::Applied { seq, id, .. }
            | PushResult::Merged { seq, id, .. }
            | PushResult::Rejected { seq, id, .. }
            | PushResult::GroupFailed { seq, id, .. }
            | PushResult::SeqReused { seq, id, .. }
            | PushResult::OutOfOrder { seq, id, .. } => Some((*seq, *id)),
            PushResult::Duplicate { .. } | PushResult::Invalid(_) => None,
        }
    }
}

impl Serialize for PushResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for PushResult {
    /// Reads a result back (a client, or a recorded result). A `duplicate` keeps the whole
    /// object as its original.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = Value::deserialize(d)?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let seq = || {
            v.get("seq")
                .and_then(Value::as_i64)
                .ok_or_else(|| D::Error::missing_field("seq"))
        };
        let id = || {
            v.get("id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or_else(|| D::Error::missing_field("id"))
        };
        let expected = || {
            v.get("expected_seq")
                .and_then(Value::as_i64)
                .ok_or_else(|| D::Error::missing_field("expected_seq"))
        };
        Ok(match text("status").as_deref() {
            Some("applied" | "merged") => PushResult::applied(
                seq()?,
                id()?,
                AppliedItem {
                    entity_type: text("entity_type").unwrap_or_default(),
                    entity_id: text("entity_id").unwrap_or_default(),
                    version: v.get("version").and_then(Value::as_i64).unwrap_or(0),
                    lost: serde_json::from_value(v.get("lost").cloned().unwrap_or(json!([])))
                        .map_err(D::Error::custom)?,
                },
            ),
            Some("duplicate") => {
                let mut original = v.clone();
                original["status"] = v.get("original_status").cloned().unwrap_or(Value::Null);
                if let Value::Object(o) = &mut original {
                    o.remove("original_status");
                }
                PushResult::Duplicate { original }
            }
            Some("rejected") => {
                let rejection: MutationRejection = serde_json::from_value(json!({
                    "code": v.get("code"), "message": v.get("message"),
                    "details": v.get("details").cloned().unwrap_or(json!({})),
                    "current": v.get("current"),
                }))
                .map_err(D::Error::custom)?;
                if rejection.code == RejectionCode::GroupFailed {
                    PushResult::GroupFailed {
                        seq: seq()?,
                        id: id()?,
                        group: rejection
                            .details
                            .get("group")
                            .and_then(Value::as_str)
                            .and_then(|g| Uuid::parse_str(g).ok()),
                        failed_seq: rejection
                            .details
                            .get("failed_seq")
                            .and_then(Value::as_i64)
                            .unwrap_or(0),
                    }
                } else {
                    PushResult::Rejected {
                        seq: seq()?,
                        id: id()?,
                        rejection,
                    }
                }
            }
            Some("seq_reused") => PushResult::SeqReused {
                seq: seq()?,
                id: id()?,
                expected_seq: expected()?,
            },
            Some("out_of_order") => PushResult::OutOfOrder {
                seq: seq()?,
                id: id()?,
                expected_seq: expected()?,
            },
            Some("invalid") => PushResult::Invalid(InvalidItem {
                index: v.get("index").and_then(Value::as_u64).unwrap_or(0) as usize,
                seq: v.get("seq").cloned().unwrap_or(Value::Null),
                id: v.get("id").cloned().unwrap_or(Value::Null),
                code: match text("code").as_deref() {
                    Some("invalid_seq") => "invalid_seq",
                    _ => "malformed_mutation",
                },
                message: text("message").unwrap_or_default(),
            }),
            other => return Err(D::Error::custom(format!("unknown push status {other:?}"))),
        })
    }
}

/// The answer to a push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    /// One result per submitted item, in order.
    pub results: Vec<PushResult>,
    /// The device's last applied (or refused) seq after this push.
    pub applied_through: i64,
    /// The change sequence of this push: a pull whose `position` reaches it includes the
    /// push's own writes.
    pub write_cursor: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Uuid {
        Uuid::from_u128(1)
    }

    #[test]
    fn every_result_has_its_pinned_json() {
        let ids = "00000000-0000-0000-0000-000000000001";
        let item = AppliedItem {
            entity_type: "hazard".into(),
            entity_id: "h".into(),
            version: 2,
            lost: vec![],
        };
        let applied = PushResult::applied(3, id(), item.clone());
        assert_eq!(
            applied.to_json(),
            json!({"seq": 3, "id": ids, "status": "applied", "entity_type": "hazard",
                   "entity_id": "h", "version": 2, "lost": []})
        );
        let merged = PushResult::applied(
            3,
            id(),
            AppliedItem {
                lost: vec!["title".into()],
                ..item
            },
        );
        assert_eq!(merged.to_json()["status"], "merged");
        assert_eq!(
            PushResult::duplicate_of_text(&applied.to_json().to_string()).to_json(),
            json!({"seq": 3, "id": ids, "status": "duplicate", "original_status": "applied",
                   "entity_type": "hazard", "entity_id": "h", "version": 2, "lost": []})
        );
        assert_eq!(
            PushResult::duplicate_of_text("not json").to_json(),
            json!({"status": "duplicate", "original_status": null})
        );
        assert_eq!(
            PushResult::Rejected {
                seq: 4,
                id: id(),
                rejection: MutationRejection::missing(&["category"]),
            }
            .to_json(),
            json!({"seq": 4, "id": ids, "status": "rejected", "code": "missing_fields",
                   "message": "missing required fields: category",
                   "details": {"fields": ["category"]}, "current": null})
        );
        assert_eq!(
            PushResult::GroupFailed {
                seq: 5,
                id: id(),
                group: Some(Uuid::from_u128(9)),
                failed_seq: 6,
            }
            .to_json(),
            json!({"seq": 5, "id": ids, "status": "rejected", "code": "group_failed",
                   "message": "not applied: mutation seq 6 of the same group was rejected",
                   "details": {"group": "00000000-0000-0000-0000-000000000009", "failed_seq": 6},
                   "current": null})
        );
        assert_eq!(
            PushResult::SeqReused {
                seq: 1,
                id: id(),
                expected_seq: 3,
            }
            .to_json(),
            json!({"seq": 1, "id": ids, "status": "seq_reused", "code": "seq_reused",
                   "message": "seq 1 was already used by another mutation; this one was NOT applied. Continue from seq 3",
                   "expected_seq": 3})
        );
        assert_eq!(
            PushResult::OutOfOrder {
                seq: 7,
                id: id(),
                expected_seq: 5,
            }
            .to_json(),
            json!({"seq": 7, "id": ids, "status": "out_of_order", "expected_seq": 5})
        );
    }

    #[test]
    fn a_body_is_read_once_and_a_bad_item_is_its_own_answer() {
        assert_eq!(
            PushRequest::from_json(&json!({"mutations": []})),
            Err(PushRequestError::DeviceId)
        );
        assert_eq!(
            PushRequest::from_json(&json!({"device_id": "d", "mutations": {}})),
            Err(PushRequestError::Mutations)
        );
        let r = PushRequest::from_json(&json!({"device_id": "d", "mutations": [
            {"seq": 1, "id": "00000000-0000-0000-0000-000000000001", "name": "hazard.start"},
            {"seq": 0, "id": "x"},
            {"seq": 2, "name": "hazard.start"},
        ]}))
        .unwrap();
        assert_eq!(r.items[0].as_ref().unwrap().seq, 1);
        let bad = PushResult::Invalid(r.items[1].clone().unwrap_err()).to_json();
        assert_eq!(
            bad,
            json!({"index": 1, "seq": 0, "id": "x", "status": "invalid", "code": "invalid_seq",
                   "message": "seq must be between 1 and 9007199254740991, not 0"})
        );
        let bad = r.items[2].clone().unwrap_err();
        assert_eq!(
            (bad.code, bad.id.clone()),
            ("malformed_mutation", Value::Null)
        );
        assert!(bad.message.starts_with("not a mutation: "));
    }
}
