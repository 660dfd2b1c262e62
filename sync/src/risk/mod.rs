//! The rules of dual prevention (双重预防, section 8 of the design), as pure code: how a risk
//! assessment maps to a colour ([`matrix`]), how a check duty's cycle produces the windows in which
//! a check task is due ([`cycle`]), when a check record counts as on time, late or missed
//! ([`timing`]), how open hazards raise a risk unit's level ([`level`]), and the register's
//! spreadsheet layout ([`register`]).
//!
//! Times come in as unix milliseconds and local calendar rules use a fixed UTC offset: the
//! organisation's zone is resolved to an offset by the caller (the zones this product is used in,
//! Asia/Shanghai first, have no daylight saving time).

pub mod cycle;
pub mod level;
pub mod matrix;
pub mod register;
pub mod timing;

pub use cycle::{Cycle, DayRule, Pause, Schedule, WorkWindow};
pub use level::{current_level, LevelRules, OpenHazards, Raise};
pub use matrix::{Assessment, Colour, Method, RiskMatrix, Thresholds};
pub use timing::{record_timing, task_state, TaskState, Timing, Window};

/// A register value that breaks a rule of dual prevention (a matrix, cycle or window that cannot
/// be).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RiskError {
    /// A field whose value is outside what the rule allows.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, as named in the API (e.g. `likelihood`, `window.start`).
        field: &'static str,
        /// Why, in words.
        reason: String,
    },
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> RiskError {
    RiskError::Invalid {
        field,
        reason: reason.into(),
    }
}
