//! Event type names: what the audit trail, the change feed and webhook subscriptions call
//! each thing that happened. They are part of the public contract; never rename one.

/// A hazard was reported.
pub const HAZARD_REPORTED: &str = "hazard.reported";
/// Owner, verifier, deadline and measures were set.
pub const HAZARD_ASSIGNED: &str = "hazard.assigned";
/// The owner started the rectification.
pub const HAZARD_RECTIFICATION_STARTED: &str = "hazard.rectification_started";
/// The reporter fixed a general hazard on the spot; it now awaits verification.
pub const HAZARD_RECTIFIED_ON_SPOT: &str = "hazard.rectified_on_spot";
/// The owner submitted the rectification; it now awaits verification.
pub const HAZARD_RECTIFICATION_SUBMITTED: &str = "hazard.rectification_submitted";
/// The rectification was verified; the hazard is closed.
pub const HAZARD_VERIFIED: &str = "hazard.verified";
/// The rectification was rejected; the hazard is back to rectifying.
pub const HAZARD_REJECTED: &str = "hazard.rejected";
/// The grade changed.
pub const HAZARD_REGRADED: &str = "hazard.regraded";
/// The deadline moved later.
pub const HAZARD_DEADLINE_EXTENDED: &str = "hazard.deadline_extended";
/// The hazard was cancelled (duplicate, not a hazard).
pub const HAZARD_CANCELLED: &str = "hazard.cancelled";
/// The deadline passed while the hazard was open (found by a scan, not by a command).
pub const HAZARD_OVERDUE: &str = "hazard.overdue";
/// Descriptive fields (title, description, location...) were edited.
pub const HAZARD_UPDATED: &str = "hazard.updated";
/// An inspection was submitted.
pub const INSPECTION_SUBMITTED: &str = "inspection.submitted";

/// A photo linked to an entity carries evidence flags (a capture time in the future, a
/// capture long before the report, a position outside the site); raised when the link and the
/// photo's bytes are both known, whichever came last.
pub const PHOTO_FLAGGED: &str = "photo.flagged";

/// The principal signed a period's report (figures frozen with their hash).
pub const REPORT_SIGNED: &str = "report.signed";

/// A signed report's submission to the authority was recorded.
pub const REPORT_SUBMITTED: &str = "report.submitted";

/// A statutory report deadline (quarter: the 15th of the next month; year: 31 January) passes
/// within a week and the report is not submitted; raised once per period.
pub const REPORT_DEADLINE_UPCOMING: &str = "report.deadline_upcoming";

/// A statutory report deadline passed without a submission; raised once per period.
pub const REPORT_DEADLINE_MISSED: &str = "report.deadline_missed";

/// A risk analysis unit was added to the register.
pub const RISK_UNIT_CREATED: &str = "risk_unit.created";

/// A risk analysis unit's details (name, department, people, major hazard) changed.
pub const RISK_UNIT_UPDATED: &str = "risk_unit.updated";

/// A risk analysis unit was paused for shutdown or maintenance (停用检维修) for a period.
pub const RISK_UNIT_PAUSED: &str = "risk_unit.paused";

/// A risk event was added to a unit, with its first assessment.
pub const RISK_EVENT_CREATED: &str = "risk_event.created";

/// A risk event was assessed again (old and new values and the reason in the payload).
pub const RISK_EVENT_ASSESSED: &str = "risk_event.assessed";

/// A control measure was added to a risk event.
pub const CONTROL_MEASURE_CREATED: &str = "control_measure.created";

/// A control measure's name, classification or what to check changed.
pub const CONTROL_MEASURE_UPDATED: &str = "control_measure.updated";

/// A check duty was given to a control measure.
pub const CHECK_DUTY_CREATED: &str = "check_duty.created";

/// A check duty was stopped or started again.
pub const CHECK_DUTY_UPDATED: &str = "check_duty.updated";

/// A check task's window closed without a record; raised once per task.
pub const TASK_MISSED: &str = "task.missed";

/// Every event type, for validating webhook subscriptions.
pub const ALL: &[&str] = &[
    HAZARD_REPORTED,
    HAZARD_ASSIGNED,
    HAZARD_RECTIFICATION_STARTED,
    HAZARD_RECTIFIED_ON_SPOT,
    HAZARD_RECTIFICATION_SUBMITTED,
    HAZARD_VERIFIED,
    HAZARD_REJECTED,
    HAZARD_REGRADED,
    HAZARD_DEADLINE_EXTENDED,
    HAZARD_CANCELLED,
    HAZARD_OVERDUE,
    HAZARD_UPDATED,
    INSPECTION_SUBMITTED,
    PHOTO_FLAGGED,
    REPORT_SIGNED,
    REPORT_SUBMITTED,
    REPORT_DEADLINE_UPCOMING,
    REPORT_DEADLINE_MISSED,
    RISK_UNIT_CREATED,
    RISK_UNIT_UPDATED,
    RISK_UNIT_PAUSED,
    RISK_EVENT_CREATED,
    RISK_EVENT_ASSESSED,
    CONTROL_MEASURE_CREATED,
    CONTROL_MEASURE_UPDATED,
    CHECK_DUTY_CREATED,
    CHECK_DUTY_UPDATED,
    TASK_MISSED,
];

/// True for a known event type.
pub fn is_known(name: &str) -> bool {
    ALL.contains(&name)
}
