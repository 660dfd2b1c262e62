//! The vocabulary of a hazard: its workflow state, category, risk colour and grade.

use std::fmt;

text_enum! {
    /// Where a hazard is in the closed loop (design section 3).
    pub enum HazardState as "hazard state" {
        /// Reported, not yet assigned.
        Reported => "reported",
        /// Owner, verifier, deadline and measures set; work not started.
        Assigned => "assigned",
        /// The owner is fixing it (also after a rejected verification).
        Rectifying => "rectifying",
        /// Rectification submitted; waiting for the verifier.
        AwaitingVerification => "awaiting_verification",
        /// Verified as fixed. Final.
        Closed => "closed",
        /// Withdrawn (duplicate, not a hazard). Final.
        Cancelled => "cancelled",
    }
}

impl HazardState {
    /// True until the hazard is closed or cancelled.
    pub fn is_open(self) -> bool {
        !matches!(self, HazardState::Closed | HazardState::Cancelled)
    }
}

text_enum! {
    /// What kind of hazard it is.
    pub enum Category as "category" {
        /// 物的不安全状态: a condition of equipment or place.
        UnsafeCondition => "unsafe_condition",
        /// 人的不安全行为: something a person does.
        UnsafeAct => "unsafe_act",
        /// 管理缺陷: a gap in permits, training, procedures.
        ManagementGap => "management_gap",
    }
}

text_enum! {
    /// Risk colour, ordered from least to most severe (`Blue < Yellow < Orange < Red`).
    pub enum Risk as "risk" {
        /// Low risk.
        Blue => "blue",
        /// General risk.
        Yellow => "yellow",
        /// Considerable risk.
        Orange => "orange",
        /// Major risk.
        Red => "red",
    }
}

/// A hazard grade. Grades are configured per organisation (see [`GradeScale`]); the one
/// name the rules know is [`Grade::MAJOR`], which needs a manager and the 五落实.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Grade(String);

impl Grade {
    /// The grade the rules treat specially.
    pub const MAJOR: &'static str = "major";
    /// The default non-major grade.
    pub const GENERAL: &'static str = "general";

    /// A grade from its name (not checked against any scale; see [`GradeScale::contains`]).
    pub fn new(name: impl Into<String>) -> Grade {
        Grade(name.into())
    }

    /// `major`.
    pub fn major() -> Grade {
        Grade::new(Grade::MAJOR)
    }

    /// `general`.
    pub fn general() -> Grade {
        Grade::new(Grade::GENERAL)
    }

    /// The grade's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `major`: assigned and verified only by a manager, needs the 五落实, and cannot
    /// be rectified on the spot.
    pub fn is_major(&self) -> bool {
        self.0 == Grade::MAJOR
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Grade {
    fn from(s: &str) -> Grade {
        Grade::new(s)
    }
}

/// An organisation's grades, ordered from least to most severe. Default `["general", "major"]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct GradeScale(pub Vec<String>);

impl Default for GradeScale {
    fn default() -> Self {
        GradeScale(vec![Grade::GENERAL.to_owned(), Grade::MAJOR.to_owned()])
    }
}

impl GradeScale {
    /// True when `grade` is one of the organisation's grades.
    pub fn contains(&self, grade: &str) -> bool {
        self.0.iter().any(|g| g == grade)
    }

    /// Position from least severe (0); `None` for a grade not in the scale.
    pub fn rank(&self, grade: &str) -> Option<usize> {
        self.0.iter().position(|g| g == grade)
    }

    /// The more severe of two grades. A grade outside the scale counts as less severe than any
    /// grade in it; on a tie (same rank) `a` is returned.
    pub fn more_severe<'g>(&self, a: &'g Grade, b: &'g Grade) -> &'g Grade {
        if self.rank(b.as_str()) > self.rank(a.as_str()) {
            b
        } else {
            a
        }
    }

    /// Checks the scale itself: at least one grade, no blanks, no duplicates.
    pub fn validate(&self) -> Result<(), String> {
        if self.0.is_empty() {
            return Err("a grade scale needs at least one grade".to_owned());
        }
        for (i, g) in self.0.iter().enumerate() {
            if g.trim().is_empty() || g.trim() != g {
                return Err(format!("grade {i} is blank or has surrounding spaces"));
            }
            if self.0[..i].contains(g) {
                return Err(format!("grade {g:?} appears twice"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_open_and_closed() {
        let open: Vec<_> = HazardState::ALL.iter().filter(|s| s.is_open()).collect();
        assert_eq!(open.len(), 4);
        assert!(!HazardState::Closed.is_open());
        assert!(!HazardState::Cancelled.is_open());
        assert_eq!(
            "awaiting_verification".parse::<HazardState>(),
            Ok(HazardState::AwaitingVerification)
        );
    }

    #[test]
    fn enums_round_trip_as_snake_case() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        for r in Risk::ALL {
            assert_eq!(r.as_str().parse::<Risk>(), Ok(*r));
        }
        assert_eq!(
            serde_json::to_value(Category::ManagementGap).unwrap(),
            "management_gap"
        );
        assert!(Risk::Blue < Risk::Yellow && Risk::Orange < Risk::Red);
    }

    #[test]
    fn grades() {
        let scale = GradeScale::default();
        let (general, major) = (Grade::general(), Grade::major());
        assert!(major.is_major() && !general.is_major());
        assert_eq!(scale.more_severe(&general, &major), &major);
        assert_eq!(scale.more_severe(&major, &general), &major);
        assert_eq!(scale.more_severe(&Grade::new("odd"), &general), &general);
        assert!(scale.contains("general") && !scale.contains("minor"));
        assert_eq!(serde_json::to_value(&major).unwrap(), "major");
        assert!(scale.validate().is_ok());
        assert!(GradeScale(vec![]).validate().is_err());
        assert!(GradeScale(vec!["a".into(), "a".into()]).validate().is_err());
        assert!(GradeScale(vec![" a".into()]).validate().is_err());
    }
}
