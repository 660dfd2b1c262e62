//! The hazard workflow, server-authoritative (design section 3): which command may move a
//! hazard from which state, who may run it, and what it must carry.
//!
//! [`decide`] checks in a fixed order and stops at the first failure:
//! 1. transition: the hazard's state is one the command starts from, else
//!    [`Refusal::InvalidTransition`] (so a phone that was offline learns the hazard moved on,
//!    whoever it is and whatever it sent);
//! 2. permission: the actor may run the command on this hazard, else [`Refusal::Forbidden`];
//! 3. arguments: every required argument present ([`Refusal::MissingFields`] names all that
//!    are missing), then each present argument acceptable ([`Refusal::Invalid`]).

use uuid::Uuid;

use crate::command::is_blank;
pub use crate::command::{Command, FiveImplementations};
use crate::event;
use crate::hazard::{Grade, GradeScale, HazardState};
use crate::photo::is_photo_id;
pub use crate::refusal::Refusal;
use crate::role::Role;

/// What the workflow needs to know about a hazard. [`decide`] returns the next facts whole, so
/// the caller stores them as they are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HazardFacts {
    /// Current state.
    pub state: HazardState,
    /// Current grade.
    pub grade: Grade,
    /// Who reported it.
    pub reporter_id: Uuid,
    /// The rectifier (set by assign, or the reporter after rectify_on_spot).
    pub owner_id: Option<Uuid>,
    /// The named verifier (set by assign).
    pub verifier_id: Option<Uuid>,
    /// Who submitted the latest rectification; may never verify or reject it.
    pub rectified_by: Option<Uuid>,
    /// The 五落实, required before a major hazard is assigned or started.
    pub five: Option<FiveImplementations>,
    /// Rectification deadline, unix milliseconds.
    pub deadline_ms: Option<i64>,
}

impl HazardFacts {
    /// The facts of a hazard just reported.
    pub fn reported(reporter_id: Uuid, grade: Grade) -> HazardFacts {
        HazardFacts {
            state: HazardState::Reported,
            grade,
            reporter_id,
            owner_id: None,
            verifier_id: None,
            rectified_by: None,
            five: None,
            deadline_ms: None,
        }
    }

    /// Overdue is derived, never stored: the deadline has passed and the hazard is still open.
    pub fn is_overdue(&self, now_ms: i64) -> bool {
        self.state.is_open() && self.deadline_ms.is_some_and(|d| now_ms > d)
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user.
    pub user_id: Uuid,
    /// Effective role on the hazard's site (the highest over the site and its ancestors;
    /// `Admin` for an organisation admin); `None` without a membership there. A user without a
    /// role may run nothing, not even as owner or reporter.
    pub role: Option<Role>,
}

/// Organisation settings the rules depend on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// A submitted rectification needs at least one "after" photo. Default true.
    pub require_after_photo: bool,
    /// The organisation's grades; regrade accepts only these. Default general, major.
    pub grade_scale: GradeScale,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            require_after_photo: true,
            grade_scale: GradeScale::default(),
        }
    }
}

/// An accepted command: what to store and what to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// State before.
    pub from: HazardState,
    /// State after (equal to `from` for regrade and extend_deadline).
    pub to: HazardState,
    /// The hazard's facts after the command; store these.
    pub facts: HazardFacts,
    /// Event type for the audit trail, feed and webhooks (see [`crate::event`]).
    pub event: &'static str,
    /// Names of the facts that changed: any of `state`, `grade`, `owner_id`, `verifier_id`,
    /// `rectified_by`, `five`, `deadline`.
    pub changed: Vec<&'static str>,
}

/// May a user with this effective role on a site report a hazard there? Any role (inspector+).
pub fn report_allowed(role: Option<Role>) -> bool {
    role.is_some()
}

/// The commands a hazard in `state` accepts from someone, in [`Command::ALL_NAMES`] order.
pub fn commands_from(state: HazardState) -> Vec<&'static str> {
    Command::ALL_NAMES
        .into_iter()
        .filter(|name| target(state, name).is_some())
        .collect()
}

/// The commands `actor` could run on the hazard now: the state allows them and the actor is
/// permitted. Argument completeness is not considered. Takes the policy so that a future
/// policy-dependent permission does not change the signature.
pub fn allowed_commands(facts: &HazardFacts, actor: &Actor, _policy: &Policy) -> Vec<&'static str> {
    caller_may_run(facts, actor)
}

/// The commands the state allows and `actor` is permitted to run, in [`Command::ALL_NAMES`]
/// order (the body of [`allowed_commands`], and the `caller_may_run` of a refusal).
fn caller_may_run(facts: &HazardFacts, actor: &Actor) -> Vec<&'static str> {
    Command::ALL_NAMES
        .into_iter()
        .filter(|name| target(facts.state, name).is_some() && permit(facts, actor, name).is_ok())
        .collect()
}

/// Steps 1 and 2 of [`decide`] for a command given by name: the transition, then the
/// permission. Lets a caller refuse before parsing arguments. An unknown name is
/// [`Refusal::Invalid`] on field `name`.
pub fn check_gate(facts: &HazardFacts, actor: &Actor, name: &str) -> Result<(), Refusal> {
    let Some(command) = Command::static_name(name) else {
        return Err(Refusal::invalid(
            "name",
            format!("unknown command {name:?}"),
        ));
    };
    if target(facts.state, command).is_none() {
        return Err(Refusal::InvalidTransition {
            command,
            state: facts.state,
            allowed: commands_from(facts.state),
            caller_may_run: caller_may_run(facts, actor),
        });
    }
    permit(facts, actor, command).map_err(|reason| Refusal::Forbidden { reason })
}

/// Decides a command: the outcome to store, or why not. Checks run in the order in the module
/// documentation.
pub fn decide(
    facts: &HazardFacts,
    actor: &Actor,
    cmd: &Command,
    policy: &Policy,
) -> Result<Outcome, Refusal> {
    let name = cmd.name();
    check_gate(facts, actor, name)?;
    let to = target(facts.state, name).unwrap_or(facts.state);
    let mut next = apply(facts, actor, cmd, policy)?;
    next.state = to;
    Ok(Outcome {
        from: facts.state,
        to,
        changed: changed(facts, &next),
        facts: next,
        event: event_of(name),
    })
}

/// The state `command` moves a hazard in `state` to, or `None` if it does not start there.
fn target(state: HazardState, command: &str) -> Option<HazardState> {
    use HazardState::*;
    match (command, state) {
        ("assign", Reported) => Some(Assigned),
        ("start", Assigned) => Some(Rectifying),
        ("rectify_on_spot", Reported) => Some(AwaitingVerification),
        ("submit_rectification", Rectifying) => Some(AwaitingVerification),
        ("verify", AwaitingVerification) => Some(Closed),
        ("reject", AwaitingVerification) => Some(Rectifying),
        ("regrade", s) if s.is_open() => Some(s),
        ("extend_deadline", Assigned | Rectifying) => Some(state),
        ("cancel", Reported | Assigned) => Some(Cancelled),
        _ => None,
    }
}

fn event_of(command: &str) -> &'static str {
    match command {
        "assign" => event::HAZARD_ASSIGNED,
        "start" => event::HAZARD_RECTIFICATION_STARTED,
        "rectify_on_spot" => event::HAZARD_RECTIFIED_ON_SPOT,
        "submit_rectification" => event::HAZARD_RECTIFICATION_SUBMITTED,
        "verify" => event::HAZARD_VERIFIED,
        "reject" => event::HAZARD_REJECTED,
        "regrade" => event::HAZARD_REGRADED,
        "extend_deadline" => event::HAZARD_DEADLINE_EXTENDED,
        _ => event::HAZARD_CANCELLED,
    }
}

/// Who may run `command` on this hazard. Permission depends on the hazard and the actor only,
/// never on the arguments, so [`allowed_commands`] can list it.
fn permit(facts: &HazardFacts, actor: &Actor, command: &str) -> Result<(), &'static str> {
    let Some(role) = actor.role else {
        return Err("you have no role on this hazard's site");
    };
    let me = Some(actor.user_id);
    let major = facts.grade.is_major();
    match command {
        "assign" if major && !role.at_least(Role::Manager) => {
            Err("only a manager can assign a major hazard")
        }
        "assign" if !role.at_least(Role::Supervisor) => {
            Err("only a supervisor or above can assign a hazard")
        }
        "start" | "submit_rectification" if facts.owner_id != me => {
            Err("only the hazard's owner can do this")
        }
        "rectify_on_spot" if facts.reporter_id != actor.user_id => {
            Err("only the reporter can rectify a hazard on the spot")
        }
        "rectify_on_spot" if major => {
            Err("a major hazard cannot be rectified on the spot; it must be assigned")
        }
        // Separation of duties beats every role, admin included.
        "verify" | "reject" if facts.rectified_by == me => {
            Err("the person who submitted the rectification cannot verify or reject it")
        }
        // 只有经理核验重大隐患: for a major hazard even the named verifier needs manager.
        "verify" | "reject" if major && !role.at_least(Role::Manager) => {
            Err("only a manager can verify or reject a major hazard")
        }
        "verify" | "reject" if facts.verifier_id != me && !role.at_least(Role::Supervisor) => {
            Err("only the named verifier or a supervisor or above can verify or reject")
        }
        "regrade" | "extend_deadline" | "cancel" if !role.at_least(Role::Supervisor) => {
            Err("only a supervisor or above can do this")
        }
        _ => Ok(()),
    }
}

/// Step 3: the arguments. Returns the next facts, state not yet set.
fn apply(
    facts: &HazardFacts,
    actor: &Actor,
    cmd: &Command,
    policy: &Policy,
) -> Result<HazardFacts, Refusal> {
    let mut next = facts.clone();
    let mut missing: Vec<&'static str> = Vec::new();
    match cmd {
        Command::Assign {
            owner_id,
            verifier_id,
            deadline_ms,
            measures,
            five,
        } => {
            if owner_id.is_none() {
                missing.push("owner_id");
            }
            if verifier_id.is_none() {
                missing.push("verifier_id");
            }
            if deadline_ms.is_none() {
                missing.push("deadline");
            }
            if is_blank(measures) {
                missing.push("measures");
            }
            let five = five.clone().or_else(|| facts.five.clone());
            if facts.grade.is_major() {
                missing.extend(five_missing(five.as_ref()));
            }
            refuse_missing(missing)?;
            if owner_id == verifier_id {
                return Err(Refusal::invalid(
                    "verifier_id",
                    "the verifier must be someone other than the owner",
                ));
            }
            next.owner_id = *owner_id;
            next.verifier_id = *verifier_id;
            next.deadline_ms = *deadline_ms;
            next.five = five;
        }
        Command::Start => {
            if facts.grade.is_major() {
                refuse_missing(five_missing(facts.five.as_ref()))?;
            }
        }
        Command::RectifyOnSpot {
            note, after_photos, ..
        } => {
            need_text(&mut missing, note, "note");
            if after_photos.is_empty() {
                missing.push("after_photos");
            }
            refuse_missing(missing)?;
            check_photos(after_photos)?;
            next.owner_id = Some(actor.user_id);
            next.rectified_by = Some(actor.user_id);
        }
        Command::SubmitRectification {
            note, after_photos, ..
        } => {
            need_text(&mut missing, note, "note");
            if policy.require_after_photo && after_photos.is_empty() {
                missing.push("after_photos");
            }
            refuse_missing(missing)?;
            check_photos(after_photos)?;
            next.rectified_by = Some(actor.user_id);
        }
        Command::Verify { note } => {
            need_text(&mut missing, note, "note");
            refuse_missing(missing)?;
        }
        Command::Reject { reason } | Command::Cancel { reason } => {
            need_text(&mut missing, reason, "reason");
            refuse_missing(missing)?;
        }
        Command::Regrade {
            grade,
            reason,
            five,
        } => {
            let blank_grade = match grade {
                Some(g) => is_blank(g.as_str()),
                None => true,
            };
            if blank_grade {
                missing.push("grade");
            }
            if is_blank(reason) {
                missing.push("reason");
            }
            let five = five.clone().or_else(|| facts.five.clone());
            // Past reported, a major hazard must already have its 五落实 in place.
            let started = facts.state != HazardState::Reported;
            if started && grade.as_ref().is_some_and(Grade::is_major) {
                missing.extend(five_missing(five.as_ref()));
            }
            refuse_missing(missing)?;
            let Some(grade) = grade else {
                return Err(Refusal::MissingFields(vec!["grade".to_owned()]));
            };
            if !policy.grade_scale.contains(grade.as_str()) {
                return Err(Refusal::invalid(
                    "grade",
                    format!(
                        "{grade:?} is not one of the organisation's grades ({})",
                        policy.grade_scale.0.join(", ")
                    ),
                ));
            }
            next.grade = grade.clone();
            next.five = five;
        }
        Command::ExtendDeadline {
            deadline_ms,
            reason,
        } => {
            if deadline_ms.is_none() {
                missing.push("deadline");
            }
            need_text(&mut missing, reason, "reason");
            refuse_missing(missing)?;
            if let (Some(new), Some(old)) = (deadline_ms, facts.deadline_ms) {
                if *new <= old {
                    return Err(Refusal::invalid(
                        "deadline",
                        "the new deadline must be later than the current one",
                    ));
                }
            }
            next.deadline_ms = *deadline_ms;
        }
    }
    Ok(next)
}

fn need_text(missing: &mut Vec<&'static str>, value: &str, field: &'static str) {
    if is_blank(value) {
        missing.push(field);
    }
}

fn five_missing(five: Option<&FiveImplementations>) -> Vec<&'static str> {
    match five {
        Some(f) => f.missing(),
        None => FiveImplementations::FIELDS.to_vec(),
    }
}

fn refuse_missing(missing: Vec<&'static str>) -> Result<(), Refusal> {
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Refusal::MissingFields(
            missing.into_iter().map(str::to_owned).collect(),
        ))
    }
}

fn check_photos(ids: &[String]) -> Result<(), Refusal> {
    match ids.iter().find(|id| !is_photo_id(id)) {
        Some(bad) => Err(Refusal::invalid(
            "after_photos",
            format!("{bad:?} is not a photo id (64 lowercase hex digits of SHA-256)"),
        )),
        None => Ok(()),
    }
}

fn changed(before: &HazardFacts, after: &HazardFacts) -> Vec<&'static str> {
    let mut out = Vec::new();
    if before.state != after.state {
        out.push("state");
    }
    if before.grade != after.grade {
        out.push("grade");
    }
    if before.owner_id != after.owner_id {
        out.push("owner_id");
    }
    if before.verifier_id != after.verifier_id {
        out.push("verifier_id");
    }
    if before.rectified_by != after.rectified_by {
        out.push("rectified_by");
    }
    if before.five != after.five {
        out.push("five");
    }
    if before.deadline_ms != after.deadline_ms {
        out.push("deadline");
    }
    out
}
