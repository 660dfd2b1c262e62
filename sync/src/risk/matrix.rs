//! Risk assessment: likelihood x severity (LS, a configurable matrix, 5x5 by default) or
//! likelihood x exposure x consequence (LEC), and the thresholds that turn the score into one of
//! the four colours of China's risk grading: red (重大), orange (较大), yellow (一般), blue (低).

use serde::{Deserialize, Serialize};

use super::{invalid, RiskError};

text_enum! {
    /// A risk level. Declared from lowest to highest, so `Ord` says which is worse.
    pub enum Colour as "risk colour" {
        /// 低风险.
        Blue => "blue",
        /// 一般风险.
        Yellow => "yellow",
        /// 较大风险.
        Orange => "orange",
        /// 重大风险.
        Red => "red",
    }
}

impl Colour {
    /// The colour `steps` levels higher, stopping at red.
    pub fn raised(self, steps: u8) -> Colour {
        let index = Colour::ALL.iter().position(|c| *c == self).unwrap_or(0);
        let top = Colour::ALL.len() - 1;
        Colour::ALL[(index + usize::from(steps)).min(top)]
    }
}

/// How an event's risk is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Method {
    /// Score = likelihood x severity, each from 1 to its maximum.
    Ls {
        /// The highest likelihood grade (5 in the usual 5x5 matrix).
        max_likelihood: u8,
        /// The highest severity grade.
        max_severity: u8,
    },
    /// Score = L x E x C with the factor values of the LEC (Graham-Kinney) method.
    Lec,
}

/// The lowest score of each colour above blue; a score at or above `red` is red, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Lowest red score.
    pub red: u32,
    /// Lowest orange score.
    pub orange: u32,
    /// Lowest yellow score.
    pub yellow: u32,
}

/// An organisation's risk matrix: the method and its colour thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskMatrix {
    /// How scores are computed.
    #[serde(flatten)]
    pub method: Method,
    /// Where the colours begin.
    pub thresholds: Thresholds,
}

/// One assessment's inputs. LS uses `likelihood` and `severity`; LEC uses `likelihood`,
/// `exposure` and `consequence` as their tabulated values (L: 0.1, 0.2, 0.5, 1, 3, 6, 10;
/// E: 0.5, 1, 2, 3, 6, 10; C: 1, 3, 7, 15, 40, 100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// L.
    pub likelihood: f64,
    /// S (LS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<f64>,
    /// E (LEC only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<f64>,
    /// C (LEC only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consequence: Option<f64>,
}

/// LEC factor values in tenths, so scores stay integers.
const LEC_L: [u32; 7] = [1, 2, 5, 10, 30, 60, 100];
const LEC_E: [u32; 6] = [5, 10, 20, 30, 60, 100];
const LEC_C: [u32; 6] = [10, 30, 70, 150, 400, 1000];

impl Default for RiskMatrix {
    /// The 5x5 LS matrix most Chinese enterprises use: 20-25 red, 15-16 orange, 9-12 yellow,
    /// 1-8 blue.
    fn default() -> Self {
        RiskMatrix {
            method: Method::Ls {
                max_likelihood: 5,
                max_severity: 5,
            },
            thresholds: Thresholds {
                red: 20,
                orange: 15,
                yellow: 9,
            },
        }
    }
}

impl RiskMatrix {
    /// The LEC method with its customary grading: D >= 320 red, 160 <= D < 320 orange,
    /// 70 <= D < 160 yellow, below 70 blue.
    pub fn lec() -> RiskMatrix {
        RiskMatrix {
            method: Method::Lec,
            thresholds: Thresholds {
                red: 320,
                orange: 160,
                yellow: 70,
            },
        }
    }

    /// Checks that the matrix can grade: grades of at least 1 and at most 10, thresholds
    /// strictly decreasing from red to yellow and above zero.
    pub fn validate(&self) -> Result<(), RiskError> {
        if let Method::Ls {
            max_likelihood,
            max_severity,
        } = self.method
        {
            for (field, max) in [
                ("max_likelihood", max_likelihood),
                ("max_severity", max_severity),
            ] {
                if !(1..=10).contains(&max) {
                    return Err(invalid(field, format!("must be 1 to 10, not {max}")));
                }
            }
        }
        let t = self.thresholds;
        if t.yellow == 0 {
            return Err(invalid("thresholds.yellow", "must be above 0"));
        }
        if !(t.red > t.orange && t.orange > t.yellow) {
            return Err(invalid(
                "thresholds",
                format!(
                    "must rise from yellow to red (yellow {} < orange {} < red {})",
                    t.yellow, t.orange, t.red
                ),
            ));
        }
        Ok(())
    }

    /// The assessment's score (LEC's D rounded down to a whole number) and its colour.
    pub fn assess(&self, a: &Assessment) -> Result<(u32, Colour), RiskError> {
        let score = match self.method {
            Method::Ls {
                max_likelihood,
                max_severity,
            } => {
                let l = grade("likelihood", a.likelihood, max_likelihood)?;
                let s = grade(
                    "severity",
                    a.severity
                        .ok_or_else(|| invalid("severity", "is required for LS"))?,
                    max_severity,
                )?;
                l * s
            }
            Method::Lec => {
                let l = factor("likelihood", a.likelihood, &LEC_L)?;
                let e = factor(
                    "exposure",
                    a.exposure
                        .ok_or_else(|| invalid("exposure", "is required for LEC"))?,
                    &LEC_E,
                )?;
                let c = factor(
                    "consequence",
                    a.consequence
                        .ok_or_else(|| invalid("consequence", "is required for LEC"))?,
                    &LEC_C,
                )?;
                // Each factor is in tenths: the product is D x 1000.
                l * e * c / 1000
            }
        };
        Ok((score, self.colour(score)))
    }

    /// The colour of a score.
    pub fn colour(&self, score: u32) -> Colour {
        let t = self.thresholds;
        if score >= t.red {
            Colour::Red
        } else if score >= t.orange {
            Colour::Orange
        } else if score >= t.yellow {
            Colour::Yellow
        } else {
            Colour::Blue
        }
    }
}

fn grade(field: &'static str, value: f64, max: u8) -> Result<u32, RiskError> {
    if value.fract() == 0.0 && value >= 1.0 && value <= f64::from(max) {
        // A whole number between 1 and at most 10.
        Ok(value as u32)
    } else {
        Err(invalid(
            field,
            format!("must be a whole number from 1 to {max}, not {value}"),
        ))
    }
}

fn factor(field: &'static str, value: f64, allowed: &[u32]) -> Result<u32, RiskError> {
    allowed
        .iter()
        .copied()
        .find(|t| (f64::from(*t) / 10.0 - value).abs() < 1e-9)
        .ok_or_else(|| {
            let list: Vec<String> = allowed
                .iter()
                .map(|t| (f64::from(*t) / 10.0).to_string())
                .collect();
            invalid(
                field,
                format!("must be one of {}, not {value}", list.join(", ")),
            )
        })
}

/// A unit's inherent level: the worst colour among its events' latest assessments, `None` for a
/// unit with no assessed event.
pub fn inherent_level(events: impl IntoIterator<Item = Colour>) -> Option<Colour> {
    events.into_iter().max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(l: f64, s: f64) -> Assessment {
        Assessment {
            likelihood: l,
            severity: Some(s),
            exposure: None,
            consequence: None,
        }
    }

    #[test]
    fn default_ls_grades_every_cell() {
        let m = RiskMatrix::default();
        m.validate().unwrap();
        let mut counts = [0; 4];
        for l in 1..=5 {
            for s in 1..=5 {
                let (score, colour) = m.assess(&ls(f64::from(l), f64::from(s))).unwrap();
                assert_eq!(score, l * s);
                counts[Colour::ALL.iter().position(|c| *c == colour).unwrap()] += 1;
            }
        }
        // Blue: products 1-8 (14 cells); yellow 9-12 (5); orange 15-16 (3); red 20-25 (3).
        assert_eq!(counts, [14, 5, 3, 3]);
        assert_eq!(m.assess(&ls(4.0, 5.0)).unwrap(), (20, Colour::Red));
        assert_eq!(m.assess(&ls(3.0, 3.0)).unwrap(), (9, Colour::Yellow));
        assert_eq!(m.assess(&ls(2.0, 4.0)).unwrap(), (8, Colour::Blue));
    }

    #[test]
    fn ls_refuses_grades_outside_the_matrix() {
        let m = RiskMatrix::default();
        for (l, s, field) in [
            (0.0, 3.0, "likelihood"),
            (6.0, 3.0, "likelihood"),
            (2.5, 3.0, "likelihood"),
            (3.0, 6.0, "severity"),
        ] {
            match m.assess(&ls(l, s)) {
                Err(RiskError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{l}x{s}: {other:?}"),
            }
        }
        let missing = Assessment {
            severity: None,
            ..ls(1.0, 1.0)
        };
        assert!(m.assess(&missing).is_err());
    }

    #[test]
    fn lec_scores_and_colours() {
        let m = RiskMatrix::lec();
        m.validate().unwrap();
        let a = |l, e, c| Assessment {
            likelihood: l,
            severity: None,
            exposure: Some(e),
            consequence: Some(c),
        };
        assert_eq!(m.assess(&a(3.0, 6.0, 7.0)).unwrap(), (126, Colour::Yellow));
        assert_eq!(m.assess(&a(6.0, 6.0, 15.0)).unwrap(), (540, Colour::Red));
        assert_eq!(m.assess(&a(0.5, 6.0, 40.0)).unwrap(), (120, Colour::Yellow));
        assert_eq!(m.assess(&a(1.0, 2.0, 1.0)).unwrap(), (2, Colour::Blue));
        assert_eq!(
            m.assess(&a(10.0, 2.0, 15.0)).unwrap(),
            (300, Colour::Orange)
        );
        // 0.1 x 0.5 x 1 = 0.05 rounds down to 0: still blue, not an error.
        assert_eq!(m.assess(&a(0.1, 0.5, 1.0)).unwrap(), (0, Colour::Blue));
        assert!(m.assess(&a(4.0, 6.0, 7.0)).is_err());
        assert!(m.assess(&a(3.0, 6.0, 8.0)).is_err());
    }

    #[test]
    fn thresholds_must_rise() {
        let mut m = RiskMatrix::default();
        m.thresholds.orange = 20;
        assert!(m.validate().is_err());
        m.thresholds = Thresholds {
            red: 3,
            orange: 2,
            yellow: 0,
        };
        assert!(m.validate().is_err());
        m.method = Method::Ls {
            max_likelihood: 11,
            max_severity: 5,
        };
        m.thresholds = RiskMatrix::default().thresholds;
        assert!(m.validate().is_err());
    }

    #[test]
    fn raising_stops_at_red_and_inherent_is_the_worst() {
        assert_eq!(Colour::Blue.raised(1), Colour::Yellow);
        assert_eq!(Colour::Orange.raised(3), Colour::Red);
        assert_eq!(Colour::Yellow.raised(0), Colour::Yellow);
        assert_eq!(
            inherent_level([Colour::Yellow, Colour::Orange, Colour::Blue]),
            Some(Colour::Orange)
        );
        assert_eq!(inherent_level([]), None);
    }

    #[test]
    fn matrix_json_round_trips() {
        let json = serde_json::to_value(RiskMatrix::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"method": "ls", "max_likelihood": 5, "max_severity": 5,
                "thresholds": {"red": 20, "orange": 15, "yellow": 9}})
        );
        let back: RiskMatrix = serde_json::from_value(json).unwrap();
        assert_eq!(back, RiskMatrix::default());
        let lec: RiskMatrix = serde_json::from_value(
            serde_json::json!({"method": "lec", "thresholds": {"red": 320, "orange": 160, "yellow": 70}}),
        )
        .unwrap();
        assert_eq!(lec, RiskMatrix::lec());
    }
}
