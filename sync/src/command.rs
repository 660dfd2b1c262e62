//! Workflow commands: the only way a hazard changes state. Arguments a client may leave out are
//! optional or may be blank here, so that [`crate::decide`] can check the transition and the
//! permission first and then name every missing field at once.

use uuid::Uuid;

use crate::hazard::Grade;
use crate::money::Money;

/// The 五落实 of a major hazard: responsible person, measures, funds, deadline and contingency
/// plan. All five must be present (text non-blank) before a major hazard is assigned or its
/// rectification starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FiveImplementations {
    /// Who answers for the rectification (a name or a user id as text).
    pub responsible_person: String,
    /// Rectification measures.
    pub measures: String,
    /// Where the money comes from and how much.
    pub funds: String,
    /// The funds as a number with its currency, when given (optional; `funds` stays the text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funds_amount: Option<Money>,
    /// Rectification deadline, unix milliseconds.
    pub deadline_ms: Option<i64>,
    /// What to do if it goes wrong before it is fixed.
    pub contingency_plan: String,
}

impl FiveImplementations {
    /// The argument names of the parts that are missing or blank, e.g. `"five.funds"`.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if is_blank(&self.responsible_person) {
            out.push("five.responsible_person");
        }
        if is_blank(&self.measures) {
            out.push("five.measures");
        }
        if is_blank(&self.funds) {
            out.push("five.funds");
        }
        if self.deadline_ms.is_none() {
            out.push("five.deadline");
        }
        if is_blank(&self.contingency_plan) {
            out.push("five.contingency_plan");
        }
        out
    }

    /// True when all five parts are present.
    pub fn is_complete(&self) -> bool {
        self.missing().is_empty()
    }

    /// The argument names of every part, for when the 五落实 is absent altogether.
    pub const FIELDS: [&'static str; 5] = [
        "five.responsible_person",
        "five.measures",
        "five.funds",
        "five.deadline",
        "five.contingency_plan",
    ];
}

/// True for text that is empty or only whitespace; such text counts as missing.
pub(crate) fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// A workflow command against one hazard (design section 3). Argument names in refusals are
/// the JSON argument names (`deadline` for `deadline_ms`, `five.funds`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// reported -> assigned: the 五定 (owner, verifier, deadline, measures), plus the 五落实 for
    /// a major hazard (supplied here or already on the hazard).
    Assign {
        /// The rectifier.
        owner_id: Option<Uuid>,
        /// Who checks the rectification; must differ from the owner.
        verifier_id: Option<Uuid>,
        /// Unix milliseconds.
        deadline_ms: Option<i64>,
        /// Rectification measures.
        measures: String,
        /// The 五落实; replaces any already on the hazard when given.
        five: Option<FiveImplementations>,
    },
    /// assigned -> rectifying, by the owner.
    Start,
    /// reported -> awaiting_verification: the reporter fixed a general hazard at once.
    RectifyOnSpot {
        /// What was done.
        note: String,
        /// Photo ids of the fixed state; at least one.
        after_photos: Vec<String>,
        /// What the rectification cost, when given.
        cost: Option<Money>,
    },
    /// rectifying -> awaiting_verification, by the owner.
    SubmitRectification {
        /// What was done.
        note: String,
        /// Photo ids of the fixed state; at least one when the organisation requires it.
        after_photos: Vec<String>,
        /// What the rectification cost, when given.
        cost: Option<Money>,
    },
    /// awaiting_verification -> closed.
    Verify {
        /// The verdict.
        note: String,
    },
    /// awaiting_verification -> rectifying.
    Reject {
        /// Why the rectification is not good enough.
        reason: String,
    },
    /// Any open state, unchanged: a new grade.
    Regrade {
        /// One of the organisation's grades.
        grade: Option<Grade>,
        /// Why.
        reason: String,
        /// The 五落实 when regrading to major; replaces any already on the hazard when given.
        five: Option<FiveImplementations>,
    },
    /// assigned or rectifying, unchanged: a later deadline.
    ExtendDeadline {
        /// New deadline, unix milliseconds; later than the current one.
        deadline_ms: Option<i64>,
        /// Why.
        reason: String,
    },
    /// reported or assigned -> cancelled.
    Cancel {
        /// Why (duplicate, not a hazard...).
        reason: String,
    },
}

impl Command {
    /// Every command name, in a fixed order (the order lists of commands are given in).
    pub const ALL_NAMES: [&'static str; 9] = [
        "assign",
        "start",
        "rectify_on_spot",
        "submit_rectification",
        "verify",
        "reject",
        "regrade",
        "extend_deadline",
        "cancel",
    ];

    /// The command's snake_case name, as it appears in mutations and URLs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Assign { .. } => "assign",
            Command::Start => "start",
            Command::RectifyOnSpot { .. } => "rectify_on_spot",
            Command::SubmitRectification { .. } => "submit_rectification",
            Command::Verify { .. } => "verify",
            Command::Reject { .. } => "reject",
            Command::Regrade { .. } => "regrade",
            Command::ExtendDeadline { .. } => "extend_deadline",
            Command::Cancel { .. } => "cancel",
        }
    }

    /// True when `name` is a workflow command name.
    pub fn is_name(name: &str) -> bool {
        Command::ALL_NAMES.contains(&name)
    }

    /// The canonical spelling of `name` if it is a workflow command (for `&'static` use).
    pub fn static_name(name: &str) -> Option<&'static str> {
        Command::ALL_NAMES.iter().copied().find(|n| *n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_implementations_name_missing_parts() {
        assert_eq!(
            FiveImplementations::default().missing(),
            FiveImplementations::FIELDS
        );
        let five = FiveImplementations {
            responsible_person: "Li Wei".into(),
            measures: "replace valve".into(),
            funds: " ".into(),
            deadline_ms: Some(1),
            contingency_plan: "isolate line".into(),
            funds_amount: None,
        };
        assert_eq!(five.missing(), ["five.funds"]);
        assert!(!five.is_complete());
    }

    #[test]
    fn names_are_unique_and_static() {
        for (i, n) in Command::ALL_NAMES.iter().enumerate() {
            assert!(!Command::ALL_NAMES[..i].contains(n));
            assert_eq!(Command::static_name(n), Some(*n));
        }
        assert_eq!(Command::Start.name(), "start");
        assert!(!Command::is_name("report"));
    }
}
