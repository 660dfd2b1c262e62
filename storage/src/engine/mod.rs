//! The one write path. Every change, whether from a phone's sync batch or a REST call, is a
//! [`Mutation`] applied here: load the state, ask `hazardloop-sync` what the rules say, write
//! the outcome, the audit event and the change sequence in the caller's transaction.
//!
//! A refused mutation is not an error of the transaction: it comes back as a [`Rejection`]
//! (stable code, message, details and the entity's current state) and writes nothing, because
//! each mutation runs in its own savepoint.

mod hazard;
mod inspection;
mod report;
mod template;

pub use template::template_view;

use diesel::Connection;
use hazardloop_sync::photo::PhotoStatus;
use hazardloop_sync::{clamp_device_time, GradeScale, Hlc, Mutation, Policy, Refusal};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::change::Change;
use crate::{orgs, sites, DbConn, StorageError};

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

/// A mutation the rules refused; nothing was written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rejection {
    /// Stable code: `forbidden`, `invalid_transition`, `missing_fields`, `invalid`,
    /// `not_found`, `version_mismatch`, `already_exists`, `unknown_mutation`.
    pub code: String,
    pub message: String,
    /// Machine-readable details (`fields`, `field`, `state`, `allowed`, ...).
    pub details: Value,
    /// The entity's current state on the server, when there is one.
    pub current: Option<Value>,
}

impl Rejection {
    /// A rejection with no entity state.
    pub fn new(code: &str, message: impl Into<String>, details: Value) -> Rejection {
        Rejection {
            code: code.into(),
            message: message.into(),
            details,
            current: None,
        }
    }

    /// Adds the entity's current state.
    pub fn with_current(mut self, current: Value) -> Rejection {
        self.current = Some(current);
        self
    }

    /// Missing or blank arguments.
    pub fn missing(fields: &[&str]) -> Rejection {
        Rejection::from(Refusal::MissingFields(
            fields.iter().map(|s| s.to_string()).collect(),
        ))
    }

    /// One bad argument.
    pub fn invalid(field: &str, message: impl Into<String>) -> Rejection {
        Rejection::from(Refusal::invalid(field, message))
    }

    /// The entity does not exist (or belongs to another organisation).
    pub fn not_found(what: &str, id: &str) -> Rejection {
        Rejection::new(
            "not_found",
            format!("{what} {id} does not exist"),
            json!({"id": id}),
        )
    }

    /// Not allowed.
    pub fn forbidden(message: &str) -> Rejection {
        Rejection::new("forbidden", message, json!({}))
    }
}

impl From<Refusal> for Rejection {
    fn from(r: Refusal) -> Rejection {
        Rejection::new(r.code(), r.message(), r.details())
    }
}

/// What applying one mutation led to.
pub type Outcome = Result<Applied, Rejection>;

/// Internal: either a refusal (roll the savepoint back) or a real failure.
#[derive(Debug)]
pub(crate) enum Failure {
    Rejected(Rejection),
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

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Self {
        Failure::Rejected(r)
    }
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Rejected(r.into())
    }
}

/// Everything a mutation handler needs besides the connection.
pub(crate) struct Ctx<'a> {
    pub caller: &'a Caller,
    pub change: &'a mut Change,
    pub policy: Policy,
    /// Device time of the mutation (clamped), or server time when none was sent.
    pub device_time: i64,
    /// True when the device clock was clamped.
    pub clock_flagged: bool,
    /// The mutation's clock, or a server clock when none was sent.
    pub hlc: Hlc,
    pub now: i64,
    pub settings: EngineSettings,
}

impl Ctx<'_> {
    /// The caller's effective role at a site (cached for the transaction).
    pub fn role_at(
        &mut self,
        conn: &mut DbConn,
        site: &sites::Site,
    ) -> Result<Option<hazardloop_sync::Role>, StorageError> {
        self.change
            .role_at(conn, &self.caller.user_id, self.caller.is_admin, site)
    }

    /// What the caller may read (decided once per transaction). A mutation asks this *before*
    /// it looks its entity up, and answers an entity the caller may not read exactly as an id
    /// that does not exist: `not_found`, no current state, no other check first.
    pub fn visibility(
        &mut self,
        conn: &mut DbConn,
    ) -> Result<crate::access::Visibility, StorageError> {
        self.change
            .visibility(conn, &self.caller.user_id, self.caller.is_admin)
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
                Err(e) => return Ok(Err(Rejection::invalid("hlc", e.to_string()))),
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
    let args = match &m.args {
        Value::Object(_) => m.args.clone(),
        Value::Null => json!({}),
        _ => return Ok(Err(Rejection::invalid("args", "expected a JSON object"))),
    };
    let saved = change.checkpoint();
    let result = conn.transaction::<Applied, Failure, _>(|conn| {
        let mut ctx = Ctx {
            caller,
            change: &mut *change,
            policy: policy.clone(),
            device_time,
            clock_flagged,
            hlc,
            now,
            settings,
        };
        dispatch(conn, &mut ctx, &m.name, &args, m.base_version)
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

/// Every mutation name the engine knows.
pub const MUTATION_NAMES: &[&str] = &[
    "template.import",
    "inspection.start",
    "inspection.answer",
    "inspection.submit",
    "inspection.delete",
    "hazard.report",
    "hazard.update",
    "hazard.assign",
    "hazard.start",
    "hazard.rectify_on_spot",
    "hazard.submit_rectification",
    "hazard.verify",
    "hazard.reject",
    "hazard.regrade",
    "hazard.extend_deadline",
    "hazard.cancel",
    "photo.link",
    "report.sign",
    "report.submit",
];

fn dispatch(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    name: &str,
    args: &Value,
    base_version: Option<i64>,
) -> Result<Applied, Failure> {
    match name {
        "template.import" => template::import(conn, ctx, args),
        "inspection.start" => inspection::start(conn, ctx, args),
        "inspection.answer" => inspection::answer(conn, ctx, args),
        "inspection.submit" => inspection::submit(conn, ctx, args),
        "inspection.delete" => inspection::delete(conn, ctx, args),
        "hazard.report" => hazard::report(conn, ctx, args),
        "hazard.update" => hazard::update(conn, ctx, args, base_version),
        "photo.link" => photo_link(conn, ctx, args),
        "report.sign" => report::sign(conn, ctx, args),
        "report.submit" => report::submit(conn, ctx, args),
        other => match other.strip_prefix("hazard.") {
            Some(cmd) if hazardloop_sync::Command::is_name(cmd) => {
                hazard::command(conn, ctx, cmd, args, base_version)
            }
            _ => Err(Rejection::new(
                "unknown_mutation",
                format!("unknown mutation {other:?}"),
                json!({"known": MUTATION_NAMES}),
            )
            .into()),
        },
    }
}

/// Reads a required id argument.
pub(crate) fn id_arg(args: &Value, key: &str) -> Result<String, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Err(Rejection::missing(&[key]).into()),
        Some(Value::String(s)) => uuid::Uuid::parse_str(s)
            .map(|u| u.to_string())
            .map_err(|_| Rejection::invalid(key, "expected a UUID").into()),
        Some(_) => Err(Rejection::invalid(key, "expected a UUID as text").into()),
    }
}

/// Reads an optional id argument.
pub(crate) fn opt_id_arg(args: &Value, key: &str) -> Result<Option<String>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        _ => id_arg(args, key).map(Some),
    }
}

/// Reads an optional text argument (trimmed; over `max` characters is invalid).
pub(crate) fn text_arg(args: &Value, key: &str, max: usize) -> Result<Option<String>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(Rejection::invalid(key, format!("longer than {max} characters")).into())
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(Rejection::invalid(key, "expected text").into()),
    }
}

/// Reads an optional GPS argument `{lat, lon, accuracy_m?}`.
pub(crate) fn gps_arg(args: &Value, key: &str) -> Result<Option<String>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => {
            let lat = o.get("lat").and_then(Value::as_f64);
            let lon = o.get("lon").and_then(Value::as_f64);
            match (lat, lon) {
                (Some(lat), Some(lon))
                    if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
                {
                    let mut g = json!({"lat": lat, "lon": lon});
                    if let Some(a) = o.get("accuracy_m").and_then(Value::as_f64) {
                        g["accuracy_m"] = json!(a);
                    }
                    Ok(Some(g.to_string()))
                }
                _ => Err(Rejection::invalid(key, "expected {lat, lon} in degrees").into()),
            }
        }
        Some(_) => Err(Rejection::invalid(key, "expected {lat, lon}").into()),
    }
}

/// Reads an optional RFC 3339 time argument as unix ms.
pub(crate) fn time_arg(args: &Value, key: &str) -> Result<Option<i64>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => hazardloop_sync::timestamp::parse_rfc3339_ms(s)
            .map(Some)
            .map_err(|_| Rejection::invalid(key, "expected an RFC 3339 time").into()),
        Some(_) => Err(Rejection::invalid(key, "expected an RFC 3339 time as text").into()),
    }
}

/// Loads a site of the caller's organisation as a rejection-aware lookup; a site the caller may
/// not read is answered like one that does not exist.
pub(crate) fn site_arg(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &Value,
) -> Result<sites::Site, Failure> {
    let id = id_arg(args, "site_id")?;
    let visibility = ctx.visibility(conn)?;
    match ctx.change.site(conn, &id) {
        // A site the caller sees nothing of does not exist for them.
        Ok(s) if visibility.sees(&s) => Ok(s),
        Ok(_) | Err(StorageError::NotFound) => {
            Err(Rejection::invalid("site_id", format!("site {id} does not exist")).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Applies mutations that stand or fall together: all take effect, or none does and the first
/// rejection is returned (index in the group and the rejection).
pub fn apply_group(
    conn: &mut DbConn,
    change: &mut Change,
    policy: &Policy,
    caller: &Caller,
    group: &[Mutation],
    settings: EngineSettings,
) -> Result<Result<Vec<Applied>, (usize, Rejection)>, StorageError> {
    let saved = change.checkpoint();
    let result = conn.transaction::<Vec<Applied>, Failure, _>(|conn| {
        let mut out = Vec::with_capacity(group.len());
        for (i, m) in group.iter().enumerate() {
            match apply(conn, change, policy, caller, m, settings)? {
                Ok(a) => out.push(a),
                Err(mut r) => {
                    r.details["index"] = json!(i);
                    return Err(Failure::Rejected(r));
                }
            }
        }
        Ok(out)
    });
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(Failure::Rejected(r)) => {
            change.restore(saved);
            let i = r.details.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
            Ok(Err((i, r)))
        }
        Err(Failure::Storage(e)) => Err(e),
    }
}

/// Runs `mutations` as one all-or-nothing group in a new write of the caller's organisation
/// (the REST path: one request, one transaction).
pub fn run_group(
    conn: &mut DbConn,
    caller: &Caller,
    mutations: &[Mutation],
    settings: EngineSettings,
) -> Result<Result<Vec<Applied>, (usize, Rejection)>, StorageError> {
    let policy = policy(conn, &caller.org_id)?;
    let mut change = Change::begin(conn, &caller.org_id, crate::now_ms())?;
    let out = apply_group(conn, &mut change, &policy, caller, mutations, settings)?;
    change.finish(conn)?;
    Ok(out)
}

/// An `Idempotency-Key` with the hash of the request content it arrived with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
    pub ttl_ms: i64,
}

/// The outcome of a group, and whether it is a stored answer to an earlier identical request.
#[derive(Debug, Clone)]
pub struct GroupAnswer {
    pub outcome: Result<Vec<Applied>, (usize, Rejection)>,
    pub replayed: bool,
}

/// The key was used before with different request content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReused;

/// [`run_group`] under an optional idempotency key: the outcome is stored in the same
/// transaction as the effects, and the same key with the same content returns it again.
pub fn run_group_once(
    conn: &mut DbConn,
    caller: &Caller,
    mutations: &[Mutation],
    settings: EngineSettings,
    key: Option<&IdempotencyKey>,
) -> Result<Result<GroupAnswer, KeyReused>, StorageError> {
    let now = crate::now_ms();
    if let Some(k) = key {
        if let Some(stored) = crate::idempotency::lookup(conn, &caller.user_id, &k.key, now)? {
            if stored.request_hash != k.request_hash {
                return Ok(Err(KeyReused));
            }
            let outcome = serde_json::from_str(&stored.outcome)
                .map_err(|e| StorageError::Invalid(format!("stored idempotent outcome: {e}")))?;
            return Ok(Ok(GroupAnswer {
                outcome,
                replayed: true,
            }));
        }
    }
    let outcome = run_group(conn, caller, mutations, settings)?;
    if let Some(k) = key {
        let text = serde_json::to_string(&outcome)
            .map_err(|e| StorageError::Invalid(format!("outcome not serialisable: {e}")))?;
        crate::idempotency::store(
            conn,
            &caller.user_id,
            &k.key,
            &caller.org_id,
            &k.request_hash,
            &text,
            now,
            k.ttl_ms,
        )?;
    }
    Ok(Ok(GroupAnswer {
        outcome,
        replayed: false,
    }))
}

/// Links photos to an entity (grow-only; a photo not uploaded yet is pending until its bytes
/// arrive). A malformed photo id is a rejection naming `field`. A new link to a photo whose
/// bytes are here is judged at once (`photos::evidence`); any flag becomes a `photo.flagged`
/// event in this transaction.
pub(crate) fn link_photos(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    target: &crate::photos::LinkTarget<'_>,
    shas: &[String],
    role: &str,
    field: &str,
) -> Result<(), Failure> {
    let visibility = ctx.visibility(conn)?;
    for sha in shas {
        link_one(conn, ctx, target, sha, role, &visibility).map_err(|e| match e {
            Failure::Storage(StorageError::Invalid(m)) => Rejection::invalid(field, m).into(),
            other => other,
        })?;
    }
    Ok(())
}

/// Links one photo on the caller's behalf (`visibility`: what they may read, which decides
/// whether the link is vouched) and records the `photo.flagged` event of a new, flagged link.
fn link_one(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    target: &crate::photos::LinkTarget<'_>,
    sha: &str,
    role: &str,
    visibility: &crate::access::Visibility,
) -> Result<PhotoStatus, Failure> {
    let user_id = ctx.caller.user_id.clone();
    let linked = crate::photos::link_evidence(
        conn,
        &ctx.caller.org_id,
        target,
        sha,
        role,
        ctx.settings.max_capture_age_ms,
        crate::photos::LinkedBy::Caller {
            user_id: &user_id,
            visibility,
        },
    )?;
    if !linked.flags.is_empty() {
        if let Some(mut ev) =
            crate::photos::evidence::flagged_event(&linked.link, linked.flags, &ctx.caller.user_id)
        {
            ev.device_id = ctx.caller.device_id.clone();
            ev.device_time = Some(ctx.device_time);
            ctx.change.audit(conn, ev)?;
        }
    }
    Ok(linked.status)
}

/// Reads an optional array of photo ids.
pub(crate) fn photos_arg(args: &Value, key: &str) -> Result<Vec<String>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_ascii_lowercase)
                    .filter(|s| hazardloop_sync::photo::is_photo_id(s))
                    .ok_or_else(|| {
                        Rejection::invalid(
                            key,
                            format!("{v} is not a photo id (64 hex digits of SHA-256)"),
                        )
                        .into()
                    })
            })
            .collect(),
        Some(_) => Err(Rejection::invalid(key, "expected an array of photo ids").into()),
    }
}

/// Mutation `photo.link`: `{entity_type: hazard|inspection, entity_id, sha256, role}`, by anyone
/// who may see the entity.
pub(crate) fn photo_link(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &Value,
) -> Result<Applied, Failure> {
    let entity_type = text_arg(args, "entity_type", 40)?.unwrap_or_default();
    let entity_id = id_arg(args, "entity_id")?;
    let role = text_arg(args, "role", 20)?.unwrap_or_else(|| "evidence".into());
    let sha = text_arg(args, "sha256", 64)?.unwrap_or_default();
    let visibility = ctx.visibility(conn)?;
    // The entity's site, and its report (or start) time against which the capture is judged.
    let found = match entity_type.as_str() {
        "hazard" => crate::hazards::find_with_site(conn, &ctx.caller.org_id, &entity_id)?
            .map(|(h, site)| (site, Some(h.reported_at_device))),
        "inspection" => crate::inspections::find_with_site(conn, &ctx.caller.org_id, &entity_id)?
            .map(|(i, site)| (site, Some(i.started_at_device.unwrap_or(i.created_at)))),
        _ => return Err(Rejection::invalid("entity_type", "hazard or inspection").into()),
    };
    // Anyone who may read the entity may link a photo to it; to anyone else it does not exist.
    let Some((site, reported_at)) = found.filter(|(s, _)| visibility.sees(s)) else {
        return Err(Rejection::not_found(&entity_type, &entity_id).into());
    };
    let target = crate::photos::LinkTarget {
        entity_type: &entity_type,
        entity_id: &entity_id,
        site_id: &site.id,
        reported_at,
    };
    match link_one(conn, ctx, &target, &sha, &role, &visibility) {
        Ok(status) => Ok(Applied {
            entity_type,
            entity_id,
            version: 0,
            lost: vec![],
            entity: json!({"sha256": sha.to_ascii_lowercase(), "role": role, "status": status.as_str()}),
            created: false,
        }),
        Err(Failure::Storage(StorageError::Invalid(m))) => {
            Err(Rejection::invalid("sha256", m).into())
        }
        Err(e) => Err(e),
    }
}
