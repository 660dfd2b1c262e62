//! Why a command was not applied. Each refusal has a stable snake_case code that clients
//! switch on; the HTTP status for each code is chosen in `api` (forbidden 403,
//! invalid_transition 409, missing_fields and invalid 422).

use serde_json::{json, Value};

use crate::hazard::HazardState;

/// A command the rules refuse. See [`crate::decide`] for the order the checks run in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor may not run this command on this hazard (code `forbidden`).
    #[error("{reason}")]
    Forbidden {
        /// A sentence saying who may, e.g. "only the owner can start the rectification".
        reason: &'static str,
    },
    /// The hazard is not in a state the command starts from (code `invalid_transition`),
    /// typically because it moved on while the phone was offline.
    #[error("cannot {command} a hazard that is {state}")]
    InvalidTransition {
        /// The command refused.
        command: &'static str,
        /// The hazard's current state.
        state: HazardState,
        /// The commands that state allows (for anyone with the right role), in
        /// [`crate::Command::ALL_NAMES`] order. In the response body as `state_allows` (and,
        /// for older clients, `allowed`).
        allowed: Vec<&'static str>,
        /// Of those, the ones this actor may run now (`caller_may_run` in the body; the same
        /// list as a hazard's `caller_may_run`).
        caller_may_run: Vec<&'static str>,
    },
    /// Required arguments absent or blank, named by their JSON argument names (code
    /// `missing_fields`).
    #[error("missing required fields: {}", .0.join(", "))]
    MissingFields(Vec<String>),
    /// An argument is present but not acceptable (code `invalid`).
    #[error("{field}: {message}")]
    Invalid {
        /// The JSON argument name.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Refusal {
    /// Every code, for documentation and tests.
    pub const CODES: [&'static str; 4] = [
        "forbidden",
        "invalid_transition",
        "missing_fields",
        "invalid",
    ];

    /// The stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Forbidden { .. } => "forbidden",
            Refusal::InvalidTransition { .. } => "invalid_transition",
            Refusal::MissingFields(_) => "missing_fields",
            Refusal::Invalid { .. } => "invalid",
        }
    }

    /// A sentence for people; not for parsing.
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// Machine-readable details for the response body: `{}` for `forbidden`,
    /// `{"state", "state_allows", "caller_may_run", "allowed"}` (`allowed`: the same as
    /// `state_allows`, kept for older clients) for `invalid_transition`, `{"fields"}` for `missing_fields`,
    /// `{"field"}` for `invalid`.
    pub fn details(&self) -> Value {
        match self {
            Refusal::Forbidden { .. } => json!({}),
            Refusal::InvalidTransition {
                state,
                allowed,
                caller_may_run,
                ..
            } => json!({
                "state": state.as_str(),
                "state_allows": allowed,
                "caller_may_run": caller_may_run,
                "allowed": allowed,
            }),
            Refusal::MissingFields(fields) => json!({ "fields": fields }),
            Refusal::Invalid { field, .. } => json!({ "field": field }),
        }
    }

    /// Shorthand for [`Refusal::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Refusal {
        Refusal::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_messages_and_details_are_pinned() {
        let r = Refusal::InvalidTransition {
            command: "verify",
            state: HazardState::Closed,
            allowed: vec![],
            caller_may_run: vec![],
        };
        assert_eq!(r.code(), "invalid_transition");
        assert_eq!(r.message(), "cannot verify a hazard that is closed");
        assert_eq!(
            r.details(),
            json!({"state": "closed", "state_allows": [], "caller_may_run": [], "allowed": []})
        );
        let r = Refusal::InvalidTransition {
            command: "verify",
            state: HazardState::Reported,
            allowed: vec!["assign", "cancel"],
            caller_may_run: vec!["cancel"],
        };
        assert_eq!(
            r.details(),
            json!({"state": "reported", "state_allows": ["assign", "cancel"],
                   "caller_may_run": ["cancel"], "allowed": ["assign", "cancel"]})
        );

        let r = Refusal::MissingFields(vec!["note".into(), "after_photos".into()]);
        assert_eq!(r.code(), "missing_fields");
        assert_eq!(r.message(), "missing required fields: note, after_photos");
        assert_eq!(r.details(), json!({"fields": ["note", "after_photos"]}));

        let r = Refusal::invalid("deadline", "must be later than the current deadline");
        assert_eq!(r.code(), "invalid");
        assert_eq!(
            r.message(),
            "deadline: must be later than the current deadline"
        );
        assert_eq!(r.details(), json!({"field": "deadline"}));

        let r = Refusal::Forbidden {
            reason: "only the owner can start the rectification",
        };
        assert_eq!(r.code(), "forbidden");
        assert_eq!(r.message(), "only the owner can start the rectification");
        assert_eq!(r.details(), json!({}));
        assert_eq!(Refusal::CODES.len(), 4);
    }
}
