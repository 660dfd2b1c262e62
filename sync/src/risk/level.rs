//! The loop back from hazards to risk: a unit's current level is its inherent level raised while
//! it has open hazards that show its controls are failing.

use serde::{Deserialize, Serialize};

use super::matrix::Colour;

/// How open hazards raise a unit's level. The default raises one colour for an open major hazard
/// or for any open hazard past its deadline, one colour in all however many apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelRules {
    /// Colours added while the unit has at least one open major hazard.
    pub open_major: u8,
    /// Colours added while the unit has at least one open hazard past its deadline.
    pub overdue: u8,
    /// Whether the raises add up (`true`) or the largest one applies (`false`).
    pub cumulative: bool,
}

impl Default for LevelRules {
    fn default() -> Self {
        LevelRules {
            open_major: 1,
            overdue: 1,
            cumulative: false,
        }
    }
}

/// What is open at a unit now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenHazards {
    /// Open (not closed, not cancelled) hazards graded major.
    pub major: u32,
    /// Open hazards past their deadline.
    pub overdue: u32,
}

/// Why a level is above the inherent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Raise {
    /// `count` open major hazards raise the level by `steps`.
    OpenMajorHazard {
        /// Open major hazards at the unit.
        count: u32,
        /// Colours this rule adds.
        steps: u8,
    },
    /// `count` overdue hazards raise the level by `steps`.
    OverdueHazard {
        /// Overdue hazards at the unit.
        count: u32,
        /// Colours this rule adds.
        steps: u8,
    },
}

/// The unit's current level and the raises that explain it (empty when it equals the inherent
/// level).
pub fn current_level(
    inherent: Colour,
    open: OpenHazards,
    rules: &LevelRules,
) -> (Colour, Vec<Raise>) {
    let mut raises = Vec::new();
    if open.major > 0 && rules.open_major > 0 {
        raises.push(Raise::OpenMajorHazard {
            count: open.major,
            steps: rules.open_major,
        });
    }
    if open.overdue > 0 && rules.overdue > 0 {
        raises.push(Raise::OverdueHazard {
            count: open.overdue,
            steps: rules.overdue,
        });
    }
    let steps = raises.iter().map(|r| match r {
        Raise::OpenMajorHazard { steps, .. } | Raise::OverdueHazard { steps, .. } => *steps,
    });
    let total = if rules.cumulative {
        steps.fold(0u8, u8::saturating_add)
    } else {
        steps.max().unwrap_or(0)
    };
    (inherent.raised(total), raises)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_raise_one_colour_at_most() {
        let rules = LevelRules::default();
        let none = OpenHazards::default();
        assert_eq!(
            current_level(Colour::Blue, none, &rules),
            (Colour::Blue, vec![])
        );
        let major = OpenHazards {
            major: 1,
            overdue: 0,
        };
        let (level, why) = current_level(Colour::Blue, major, &rules);
        assert_eq!(level, Colour::Yellow);
        assert_eq!(why, vec![Raise::OpenMajorHazard { count: 1, steps: 1 }]);
        let both = OpenHazards {
            major: 2,
            overdue: 3,
        };
        let (level, why) = current_level(Colour::Yellow, both, &rules);
        assert_eq!(level, Colour::Orange);
        assert_eq!(why.len(), 2);
        assert_eq!(current_level(Colour::Red, both, &rules).0, Colour::Red);
    }

    #[test]
    fn configured_rules_add_up_or_stay_silent() {
        let both = OpenHazards {
            major: 1,
            overdue: 1,
        };
        let cumulative = LevelRules {
            open_major: 2,
            overdue: 1,
            cumulative: true,
        };
        assert_eq!(
            current_level(Colour::Blue, both, &cumulative).0,
            Colour::Red
        );
        let largest = LevelRules {
            cumulative: false,
            ..cumulative
        };
        assert_eq!(
            current_level(Colour::Blue, both, &largest).0,
            Colour::Orange
        );
        let off = LevelRules {
            open_major: 0,
            overdue: 0,
            cumulative: false,
        };
        assert_eq!(
            current_level(Colour::Blue, both, &off),
            (Colour::Blue, vec![])
        );
    }
}
