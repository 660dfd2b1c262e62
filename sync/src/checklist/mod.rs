//! Checklist templates in the import format (`key`, `title`, `description`, `sections[]` of
//! `items[]`), their validation and content hash, and the validation of answers given to their
//! items. A published template version is immutable; the content hash tells whether an import
//! is a new version.

mod answer;
mod template;

pub use answer::{missing_required, raises_hazard, validate_answer, MAX_TEXT_CHARS};
pub use template::{HazardDefaults, Item, ItemKind, Section, Template};
