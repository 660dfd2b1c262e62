//! The offline sync protocol's one home: the wire format of push and pull ([`wire`]), the
//! push plan ([`plan`]) that decides from the batch alone what happens to each item, the
//! rejection vocabulary every refused mutation carries ([`rejection`]), and the mutation
//! names and argument readers ([`args`]).
//!
//! A push goes: `api` reads the body into a [`PushRequest`] (here), `storage` looks up the
//! device's last seq and the recorded results the batch repeats, asks [`plan()`] what to do,
//! runs the plan's `Apply`/`ApplyGroup` steps through the engine in one transaction and turns
//! each outcome into a [`PushResult`] (here), which is both the answer and the record kept for
//! `(device, seq)`.

pub mod args;
pub mod hazard_args;
pub mod inspection_args;
pub mod plan;
pub mod pull;
pub mod rejection;
pub mod report_args;
pub mod wire;

pub use args::{Arg, MutationArgs, MutationName, PhotoLink};
pub use hazard_args::{FieldEdit, HazardReport, HazardUpdate};
pub use inspection_args::{
    InspectionAnswer, InspectionDelete, InspectionStart, InspectionSubmit, TemplateImport,
    TemplateRef,
};
pub use plan::{plan, recorded_seqs_needed, PushPlan, RecordedResult, Step};
pub use pull::{PullItem, PullPage};
pub use rejection::{MutationRejection, RejectionCode};
pub use report_args::{ReportScope, ReportSubmit};
pub use wire::{
    AppliedItem, InvalidItem, ParsedItem, PushItem, PushRequest, PushRequestError, PushResponse,
    PushResult, MAX_SEQ,
};
