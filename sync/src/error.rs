//! The crate's error for text that does not parse into one of its types. Business refusals
//! (permission, validation, invalid transition) are not errors here: see [`crate::Refusal`].

/// Text that is not a valid value of one of this crate's types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A name outside a closed vocabulary (role, state, category...).
    #[error("unknown {kind} {value:?}; expected one of: {expected}")]
    UnknownValue {
        /// What was being parsed, e.g. "role".
        kind: &'static str,
        /// The text received.
        value: String,
        /// The accepted names, comma separated.
        expected: String,
    },
    /// Text with the wrong shape (a clock, a timestamp...).
    #[error("malformed {kind} {value:?}: {reason}")]
    Malformed {
        /// What was being parsed, e.g. "hlc".
        kind: &'static str,
        /// The text received.
        value: String,
        /// Why it was refused.
        reason: String,
    },
}
