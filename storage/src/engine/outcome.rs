//! What applying a mutation leads to: [`Applied`] when it took effect, a
//! [`MutationRejection`] (the rules or the arguments refused it; nothing written) otherwise,
//! and inside the engine the [`Failure`] that tells a refusal (roll the savepoint back) from a
//! storage error (fail the transaction).

use hazardloop_sync::{MutationRejection, Refusal};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::StorageError;

/// A mutation that took effect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// `hazard`, `inspection` or `template`.
    pub entity_type: String,
    pub entity_id: String,
    /// The entity's version after the mutation.
    pub version: i64,
    /// Fields whose incoming value lost to a newer write (status `merged`); empty: `applied`.
    pub lost: Vec<String>,
    /// The entity after the mutation.
    pub entity: Value,
    /// True when the mutation created the entity.
    pub created: bool,
}

/// What applying one mutation led to.
pub type Outcome = Result<Applied, MutationRejection>;

/// Internal: either a refusal (roll the savepoint back) or a real failure.
#[derive(Debug)]
pub(crate) enum Failure {
    Rejected(MutationRejection),
    Storage(StorageError),
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure::Storage(e.into())
    }
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Failure::Storage(e)
    }
}

impl From<MutationRejection> for Failure {
    fn from(r: MutationRejection) -> Self {
        Failure::Rejected(r)
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Rejected(r.into())
    }
}
