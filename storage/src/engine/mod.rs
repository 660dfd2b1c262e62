//! The one write path. Every change, whether from a phone's sync batch or a REST call, is a
//! [`Mutation`] applied here: load the state, ask `hazardloop-sync` what the rules say, write
//! the outcome, the audit event and the change sequence in the caller's transaction.
//!
//! A refused mutation is not an error of the transaction: it comes back as a
//! [`MutationRejection`]
//! (stable code, message, details and the entity's current state) and writes nothing, because
//! each mutation runs in its own savepoint.

mod arguments;
mod context;
mod groups;
mod hazard;
mod inspection;
mod outcome;
mod photo_links;
mod report;
mod template;

pub use context::Lookups;
pub use groups::{
    apply_group, apply_group_with, run_group, run_group_once, GroupAnswer, IdempotencyKey,
    KeyReused,
};
pub use hazardloop_sync::protocol::{MutationArgs, MutationName};
pub use hazardloop_sync::{MutationRejection, RejectionCode};
pub use outcome::{Applied, Outcome};
pub use template::template_view;

pub(crate) use arguments::site_named;
pub(crate) use context::Ctx;
pub(crate) use outcome::Failure;
pub(crate) use photo_links::link_photos;

use diesel::Connection;
use hazardloop_sync::{clamp_device_time, GradeScale, Hlc, Mutation, Policy};
use serde::Deserialize;

use crate::change::Change;
use crate::{orgs, DbConn, StorageError};

/// Who is applying mutations.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub org_id: String,
    pub is_admin: bool,
    /// The registered device a sync batch came from.
    pub device_id: Option<String>,
}

/// Engine settings that come from configuration.
#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// How far ahead of the server a device clock may be before it is clamped and flagged.
    pub max_clock_skew_ms: i64,
    /// A linked photo captured longer than this before the entity's report is flagged
    /// `captured_long_before_report` (0 turns the check off).
    pub max_capture_age_ms: i64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            max_clock_skew_ms: 5 * 60 * 1000,
            max_capture_age_ms: 7 * 24 * 3_600_000,
        }
    }
}

/// Organisation settings (JSON in `organisations.settings`).
#[derive(Debug, Clone, Deserialize, Default)]
struct OrgSettings {
    grades: Option<Vec<String>>,
    require_after_photo: Option<bool>,
}

/// The workflow policy of an organisation.
pub fn policy(conn: &mut DbConn, org_id: &str) -> Result<Policy, StorageError> {
    let org = orgs::get(conn, org_id)?;
    let s: OrgSettings = serde_json::from_str(&org.settings).unwrap_or_default();
    let mut p = Policy::default();
    if let Some(g) = s.grades.filter(|g| !g.is_empty()) {
        p.grade_scale = GradeScale(g);
    }
    if let Some(r) = s.require_after_photo {
        p.require_after_photo = r;
    }
    Ok(p)
}

/// Applies one mutation inside the caller's write transaction, in its own savepoint.
pub fn apply(
    conn: &mut DbConn,
    change: &mut Change,
    policy: &Policy,
    caller: &Caller,
    m: &Mutation,
    settings: EngineSettings,
) -> Result<Outcome, StorageError> {
    let mut lookups = Lookups::default();
    apply_with(conn, change, &mut lookups, policy, caller, m, settings)
}

/// [`apply`] with the [`Lookups`] of the transaction (a batch reads each site, role and
/// visibility once).
pub fn apply_with(
    conn: &mut DbConn,
    change: &mut Change,
    lookups: &mut Lookups,
    policy: &Policy,
    caller: &Caller,
    m: &Mutation,
    settings: EngineSettings,
) -> Result<Outcome, StorageError> {
    let now = change.now;
    let device = match m.device_time_ms() {
        Ok(t) => t,
        Err(r) => return Ok(Err(r.into())),
    };
    let (device_time, clock_flagged) = match device {
        Some(t) => clamp_device_time(t, now, settings.max_clock_skew_ms),
        None => (now, false),
    };
    let (hlc, clock_flagged) = match m.parse_hlc() {
        // A clock running ahead would win every merge: bound it like device time.
        Ok(Some(h)) if h.wall_ms() > now + settings.max_clock_skew_ms => {
            match Hlc::new(now, h.counter(), h.node()) {
                Ok(h) => (h, true),
                Err(e) => return Ok(Err(MutationRejection::invalid("hlc", e.to_string()))),
            }
        }
        Ok(Some(h)) => (h, clock_flagged),
        // No clock: an offline mutation is ordered by its (clamped) device time, an online one
        // by arrival.
        Ok(None) => match (&caller.device_id, device) {
            (Some(node), Some(_)) => match Hlc::new(device_time, 0, node.as_str()) {
                Ok(h) => (h, clock_flagged),
                Err(_) => (Hlc::server_tick(None, now), clock_flagged),
            },
            _ => (Hlc::server_tick(None, now), clock_flagged),
        },
        Err(r) => return Ok(Err(r.into())),
    };
    let parsed = match MutationArgs::parse(&m.name, &m.args) {
        Ok(p) => p,
        Err(r) => return Ok(Err(r)),
    };
    let saved = change.checkpoint();
    let result = conn.transaction::<Applied, Failure, _>(|conn| {
        let mut ctx = Ctx {
            caller,
            change: &mut *change,
            lookups: &mut *lookups,
            policy: policy.clone(),
            device_time,
            clock_flagged,
            hlc,
            now,
            settings,
        };
        dispatch(conn, &mut ctx, &parsed, m.base_version)
    });
    match result {
        Ok(applied) => Ok(Ok(applied)),
        Err(Failure::Rejected(r)) => {
            change.restore(saved);
            Ok(Err(r))
        }
        Err(Failure::Storage(e)) => Err(e),
    }
}

fn dispatch(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    parsed: &MutationArgs,
    base_version: Option<i64>,
) -> Result<Applied, Failure> {
    match parsed {
        MutationArgs::PhotoLink(link) => photo_links::photo_link(conn, ctx, link),
        MutationArgs::Command { command, args } => {
            hazard::command(conn, ctx, command, args, base_version)
        }
        MutationArgs::HazardReport(a) => hazard::report(conn, ctx, a),
        MutationArgs::HazardUpdate(a) => hazard::update(conn, ctx, a, base_version),
        MutationArgs::InspectionStart(a) => inspection::start(conn, ctx, a),
        MutationArgs::InspectionAnswer(a) => inspection::answer(conn, ctx, a),
        MutationArgs::InspectionSubmit(a) => inspection::submit(conn, ctx, a),
        MutationArgs::InspectionDelete(a) => inspection::delete(conn, ctx, a),
        MutationArgs::TemplateImport(a) => template::import(conn, ctx, a),
        MutationArgs::ReportSign(a) => report::sign(conn, ctx, a),
        MutationArgs::ReportSubmit(a) => report::submit(conn, ctx, a),
    }
}
