//! Why a mutation was not applied, as clients see it: one stable code per reason
//! ([`RejectionCode`]) and the rejection a push result or a REST problem carries
//! ([`MutationRejection`]). The HTTP status of each code is chosen once, in `api`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::refusal::Refusal;

text_enum! {
    /// Every stable code a refused mutation can carry. Clients switch on these strings; they
    /// never change.
    pub enum RejectionCode as "rejection code" {
        /// The caller may not run this mutation (REST 403).
        Forbidden => "forbidden",
        /// The entity is not in a state the command starts from (REST 409).
        InvalidTransition => "invalid_transition",
        /// Required arguments absent or blank (REST 422).
        MissingFields => "missing_fields",
        /// An argument is present but not acceptable (REST 422).
        Invalid => "invalid",
        /// The entity does not exist for this caller (REST 404).
        NotFound => "not_found",
        /// The named version is not the entity's (REST 412).
        VersionMismatch => "version_mismatch",
        /// Lowering a risk needs a named version (REST 428).
        PreconditionRequired => "precondition_required",
        /// A client-chosen id is taken (REST 409).
        AlreadyExists => "already_exists",
        /// The mutation name is not one the engine knows (REST 400).
        UnknownMutation => "unknown_mutation",
        /// Another mutation of the same group was rejected (sync only).
        GroupFailed => "group_failed",
        /// The seq was used by another mutation (sync only).
        SeqReused => "seq_reused",
    }
}

impl RejectionCode {
    /// The code of a rule's refusal.
    pub fn of(r: &Refusal) -> RejectionCode {
        match r {
            Refusal::Forbidden { .. } => RejectionCode::Forbidden,
            Refusal::InvalidTransition { .. } => RejectionCode::InvalidTransition,
            Refusal::MissingFields(_) => RejectionCode::MissingFields,
            Refusal::Invalid { .. } => RejectionCode::Invalid,
        }
    }
}

/// A mutation the server refused; nothing of it was written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MutationRejection {
    /// The stable code.
    pub code: RejectionCode,
    /// A sentence for people; not for parsing.
    pub message: String,
    /// Machine-readable details (`fields`, `field`, `state`, `allowed`, ...).
    pub details: Value,
    /// The entity's current state on the server, for a caller who may read it.
    pub current: Option<Value>,
}

impl MutationRejection {
    /// A rejection with no entity state.
    pub fn new(code: RejectionCode, message: impl Into<String>, details: Value) -> Self {
        MutationRejection {
            code,
            message: message.into(),
            details,
            current: None,
        }
    }

    /// Adds the entity's current state.
    pub fn with_current(mut self, current: Value) -> Self {
        self.current = Some(current);
        self
    }

    /// Missing or blank arguments, by their JSON names.
    pub fn missing(fields: &[&str]) -> Self {
        Refusal::MissingFields(fields.iter().map(|s| s.to_string()).collect()).into()
    }

    /// One bad argument.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Refusal::invalid(field, message).into()
    }

    /// The entity does not exist (or the caller may not read it: the same words).
    pub fn not_found(what: &str, id: &str) -> Self {
        MutationRejection::new(
            RejectionCode::NotFound,
            format!("{what} {id} does not exist"),
            json!({"id": id}),
        )
    }

    /// Not allowed.
    pub fn forbidden(message: &str) -> Self {
        MutationRejection::new(RejectionCode::Forbidden, message, json!({}))
    }
}

impl From<Refusal> for MutationRejection {
    fn from(r: Refusal) -> Self {
        MutationRejection::new(RejectionCode::of(&r), r.message(), r.details())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_stable_strings() {
        let texts: Vec<&str> = RejectionCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            texts,
            [
                "forbidden",
                "invalid_transition",
                "missing_fields",
                "invalid",
                "not_found",
                "version_mismatch",
                "precondition_required",
                "already_exists",
                "unknown_mutation",
                "group_failed",
                "seq_reused"
            ]
        );
        for r in Refusal::CODES {
            let code: RejectionCode = r.parse().unwrap();
            assert_eq!(code.as_str(), r);
        }
    }

    #[test]
    fn a_rejection_serialises_as_before() {
        let r = MutationRejection::not_found("hazard", "h1").with_current(json!({"state": "x"}));
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"code": "not_found", "message": "hazard h1 does not exist",
                   "details": {"id": "h1"}, "current": {"state": "x"}})
        );
        let back: MutationRejection =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let m = MutationRejection::missing(&["title"]);
        assert_eq!(m.code, RejectionCode::MissingFields);
        assert_eq!(m.details, json!({"fields": ["title"]}));
    }
}
