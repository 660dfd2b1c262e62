//! The rules of HazardLoop, as pure code. This crate owns what the server decides: roles and
//! who may do what, the hazard workflow state machine (section 3 of the design), the checklist
//! template format and answer validation, the rules of dual prevention (risk grading, check
//! cycles, task timing, levels raised by open hazards: section 8), hybrid logical clocks and the
//! per-field merge policy of offline sync, the mutation envelope and its argument parsing, the
//! sync protocol ([`protocol`]: the push and pull wire format, the push plan, the rejection
//! codes), and the tamper-evident audit hash chain. It does no I/O: no HTTP, no SQL, no files,
//! no clock reads (times come in as unix milliseconds), no randomness. `storage` loads state, asks this crate
//! what to do and writes the outcome; `api` authenticates and parses requests. Neither is known
//! here.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[macro_use]
mod text_enum;

pub mod audit;
pub mod canonical;
pub mod checklist;
pub mod command;
pub mod error;
pub mod event;
pub mod evidence;
pub mod field_edit;
pub mod hazard;
pub mod hlc;
pub mod merge;
pub mod money;
pub mod mutation;
pub mod period;
pub mod photo;
pub mod protocol;
pub mod refusal;
pub mod report;
pub mod risk;
pub mod role;
pub mod search;
pub mod timestamp;
pub mod workflow;

pub use audit::{AuditRecord, BreakReason, BrokenLink, GENESIS_HASH};
pub use checklist::{HazardDefaults, Item, ItemKind, Section, Template};
pub use command::{Command, FiveImplementations};
pub use error::ParseError;
pub use hazard::{Category, Grade, GradeScale, HazardState, Risk};
pub use hlc::{clamp_device_time, Hlc};
pub use merge::FieldMerge;
pub use money::Money;
pub use mutation::{decide_mutation, parse_command, Mutation};
pub use protocol::{MutationRejection, RejectionCode};
pub use refusal::Refusal;
pub use role::Role;
pub use workflow::{
    allowed_commands, check_gate, commands_from, decide, report_allowed, Actor, HazardFacts,
    Outcome, Policy,
};
