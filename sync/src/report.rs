//! The statutory period report's figures, from one fact per hazard: what was found in the
//! period (by grade, category, source and site), how its rectification stands at the period's
//! end (on time, late, still open, overdue), the rectification rate, the major hazards one by
//! one, the money spent, and the comparison with the previous period. Also the difference
//! between a signed (frozen) report and the same report computed again.
//!
//! The rules, in one place:
//! - A hazard belongs to the period in which it was found: its report time on the device
//!   (bounded by server time when it arrived), within `[start, end)`.
//! - Its rectification is judged as it stood at `at`, the period's end (or now, while the
//!   period runs), so a finished period's figures do not move when work continues afterwards:
//!   closed by `at` and by its deadline (or without one) is *on time*, closed by `at` after its
//!   deadline is *late*, not closed by `at` is *still open*, and of those, the ones whose deadline
//!   passed before `at` are *overdue*. Cancelled hazards are counted apart and left out of rates.
//! - Rectification rate = (on time + late) / (found − cancelled); on-time rate = on time /
//!   (found − cancelled); null when nothing counts. Rates are rounded to four decimals.
//! - Source: found by an inspection (raised from a checklist answer) or reported ad hoc.
//!   `check_task` is the bucket of routine check tasks and stays 0 until they exist.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::command::FiveImplementations;
use crate::money::Money;
use crate::timestamp::format_rfc3339_ms;

/// Where a hazard came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A routine check task (none exist yet).
    CheckTask,
    /// Raised from an inspection's checklist answer.
    Inspection,
    /// Reported on its own.
    AdHoc,
}

impl Source {
    /// The bucket's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::CheckTask => "check_task",
            Source::Inspection => "inspection",
            Source::AdHoc => "ad_hoc",
        }
    }
}

/// How a hazard's rectification stood at the period's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Closed by its deadline (or it had none).
    OnTime,
    /// Closed after its deadline.
    Late,
    /// Not closed, deadline not passed (or none).
    Open,
    /// Not closed, deadline passed.
    Overdue,
    /// Cancelled (duplicate, not a hazard).
    Cancelled,
}

/// The outcome at `at` of a hazard in `state` with `deadline` and `closed_at` (unix ms).
pub fn classify(state: &str, deadline: Option<i64>, closed_at: Option<i64>, at: i64) -> Outcome {
    if state == "cancelled" {
        return Outcome::Cancelled;
    }
    match closed_at.filter(|c| state == "closed" && *c <= at) {
        Some(closed) if deadline.is_some_and(|d| closed > d) => Outcome::Late,
        Some(_) => Outcome::OnTime,
        None if deadline.is_some_and(|d| d < at) => Outcome::Overdue,
        None => Outcome::Open,
    }
}

/// `part / whole` rounded to four decimals; `None` when `whole` is 0.
pub fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// What the report needs of one hazard.
#[derive(Debug, Clone)]
pub struct HazardFact {
    /// Hazard id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Its own site.
    pub site_id: String,
    /// That site's name.
    pub site_name: String,
    /// Workflow state now.
    pub state: String,
    /// Grade (`general`, `major`, ...).
    pub grade: String,
    /// Category.
    pub category: String,
    /// Where it came from.
    pub source: Source,
    /// When it was found (device report time, bounded by server time), unix ms.
    pub found_at: i64,
    /// Rectification deadline, unix ms.
    pub deadline: Option<i64>,
    /// When it was closed, unix ms.
    pub closed_at: Option<i64>,
    /// The cost of the rectification, when given.
    pub cost: Option<Money>,
    /// The 五落实, for a major hazard.
    pub five: Option<FiveImplementations>,
}

/// Counts of rectification outcomes, with the rates.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rectification {
    /// Closed by the deadline.
    pub on_time: u64,
    /// Closed after the deadline.
    pub late: u64,
    /// Not closed at the period's end (`open` + `overdue`).
    pub still_open: u64,
    /// Not closed, deadline not yet passed.
    pub open: u64,
    /// Not closed, deadline passed.
    pub overdue: u64,
    /// Cancelled; not in the rates.
    pub cancelled: u64,
    /// (on time + late) / (found − cancelled).
    pub rectification_rate: Option<f64>,
    /// on time / (found − cancelled).
    pub on_time_rate: Option<f64>,
}

impl Rectification {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::OnTime => self.on_time += 1,
            Outcome::Late => self.late += 1,
            Outcome::Open => self.open += 1,
            Outcome::Overdue => self.overdue += 1,
            Outcome::Cancelled => self.cancelled += 1,
        }
    }

    fn finish(&mut self) {
        self.still_open = self.open + self.overdue;
        let base = self.on_time + self.late + self.still_open;
        self.rectification_rate = rate(self.on_time + self.late, base);
        self.on_time_rate = rate(self.on_time, base);
    }
}

/// One site's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteFigures {
    /// Site id.
    pub site_id: String,
    /// Site name.
    pub site_name: String,
    /// Hazards found there in the period.
    pub found: u64,
    /// How their rectification stands.
    pub rectification: Rectification,
}

/// A sum per currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Amount {
    /// ISO 4217 code.
    pub currency: String,
    /// Sum in currency units.
    pub amount: f64,
    /// How many hazards contributed.
    pub hazards: u64,
}

/// Money behind the period's hazards.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Funds {
    /// Rectification costs recorded with the rectifications of the period's hazards, per
    /// currency.
    pub rectification: Vec<Amount>,
    /// The 五落实 funds amounts of the major hazards listed, per currency.
    pub major_hazard_funds: Vec<Amount>,
}

/// One major hazard, as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MajorHazard {
    /// Hazard id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Site id.
    pub site_id: String,
    /// Site name.
    pub site_name: String,
    /// Workflow state now.
    pub state: String,
    /// Outcome at the period's end.
    pub outcome: Outcome,
    /// Found before the period and still open at its start.
    pub carried_over: bool,
    /// RFC 3339.
    pub found_at: String,
    /// RFC 3339.
    pub deadline: Option<String>,
    /// RFC 3339.
    pub closed_at: Option<String>,
    /// The 五落实 (responsible person, measures, funds, deadline, contingency plan).
    pub five: Option<Value>,
    /// The rectification cost.
    pub cost: Option<Money>,
}

/// The figures of one period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Hazards found in the period.
    pub found: u64,
    /// By grade.
    pub by_grade: BTreeMap<String, u64>,
    /// By category.
    pub by_category: BTreeMap<String, u64>,
    /// By source: `check_task`, `inspection`, `ad_hoc` (always all three).
    pub by_source: BTreeMap<String, u64>,
    /// Rectification outcomes at the period's end.
    pub rectification: Rectification,
    /// Per site, by site name then id.
    pub by_site: Vec<SiteFigures>,
    /// Major hazards found in the period or carried over into it, by found time.
    pub major_hazards: Vec<MajorHazard>,
    /// Money spent and budgeted.
    pub funds: Funds,
}

/// Collects [`Figures`] for `[start, end)` judged at `at`, one hazard at a time (so a caller
/// can stream hazards from storage in pages).
#[derive(Debug)]
pub struct FiguresBuilder {
    start: i64,
    end: i64,
    at: i64,
    figures: Figures,
    sites: BTreeMap<String, SiteFigures>,
    rect_funds: BTreeMap<String, (i64, u64)>,
    major_funds: BTreeMap<String, (i64, u64)>,
}

impl FiguresBuilder {
    /// A builder for the period `[start, end)`; outcomes judged at `min(end, now)`.
    pub fn new(start: i64, end: i64, now: i64) -> FiguresBuilder {
        let mut figures = Figures::default();
        for s in [Source::CheckTask, Source::Inspection, Source::AdHoc] {
            figures.by_source.insert(s.as_str().into(), 0);
        }
        FiguresBuilder {
            start,
            end,
            at: end.min(now),
            figures,
            sites: BTreeMap::new(),
            rect_funds: BTreeMap::new(),
            major_funds: BTreeMap::new(),
        }
    }

    /// Counts one hazard (ignored when it neither belongs to the period nor is a major hazard
    /// still open at its start).
    pub fn add(&mut self, h: &HazardFact) {
        let inside = h.found_at >= self.start && h.found_at < self.end;
        let major = h.grade == crate::Grade::MAJOR;
        let carried = !inside
            && major
            && h.found_at < self.start
            && h.state != "cancelled"
            && !matches!(h.closed_at, Some(c) if c < self.start);
        if !inside && !carried {
            return;
        }
        let outcome = classify(&h.state, h.deadline, h.closed_at, self.at);
        if inside {
            let f = &mut self.figures;
            f.found += 1;
            *f.by_grade.entry(h.grade.clone()).or_default() += 1;
            *f.by_category.entry(h.category.clone()).or_default() += 1;
            *f.by_source.entry(h.source.as_str().into()).or_default() += 1;
            f.rectification.add(outcome);
            let site = self
                .sites
                .entry(h.site_id.clone())
                .or_insert_with(|| SiteFigures {
                    site_id: h.site_id.clone(),
                    site_name: h.site_name.clone(),
                    found: 0,
                    rectification: Rectification::default(),
                });
            site.found += 1;
            site.rectification.add(outcome);
            if let Some(cost) = &h.cost {
                let e = self.rect_funds.entry(cost.currency.clone()).or_default();
                e.0 += cost.minor;
                e.1 += 1;
            }
        }
        if major {
            if let Some(m) = h.five.as_ref().and_then(|f| f.funds_amount.as_ref()) {
                let e = self.major_funds.entry(m.currency.clone()).or_default();
                e.0 += m.minor;
                e.1 += 1;
            }
            self.figures.major_hazards.push(MajorHazard {
                id: h.id.clone(),
                title: h.title.clone(),
                site_id: h.site_id.clone(),
                site_name: h.site_name.clone(),
                state: h.state.clone(),
                outcome,
                carried_over: carried,
                found_at: format_rfc3339_ms(h.found_at),
                deadline: h.deadline.map(format_rfc3339_ms),
                closed_at: h.closed_at.map(format_rfc3339_ms),
                five: h.five.as_ref().map(five_json),
                cost: h.cost.clone(),
            });
        }
    }

    /// The figures.
    pub fn finish(mut self) -> Figures {
        let amounts = |m: BTreeMap<String, (i64, u64)>| {
            m.into_iter()
                .map(|(currency, (minor, hazards))| Amount {
                    currency,
                    amount: minor as f64 / 100.0,
                    hazards,
                })
                .collect()
        };
        self.figures.funds = Funds {
            rectification: amounts(self.rect_funds),
            major_hazard_funds: amounts(self.major_funds),
        };
        self.figures.rectification.finish();
        let mut sites: Vec<SiteFigures> = self.sites.into_values().collect();
        for s in &mut sites {
            s.rectification.finish();
        }
        sites.sort_by(|a, b| (&a.site_name, &a.site_id).cmp(&(&b.site_name, &b.site_id)));
        self.figures.by_site = sites;
        self.figures
            .major_hazards
            .sort_by(|a, b| (&a.found_at, &a.id).cmp(&(&b.found_at, &b.id)));
        self.figures
    }
}

fn five_json(f: &FiveImplementations) -> Value {
    json!({
        "responsible_person": f.responsible_person,
        "measures": f.measures,
        "funds": f.funds,
        "funds_amount": f.funds_amount,
        "deadline": f.deadline_ms.map(format_rfc3339_ms),
        "contingency_plan": f.contingency_plan,
    })
}

/// The headline numbers of a period, for comparisons.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    /// Found.
    pub found: u64,
    /// Rectified (on time + late).
    pub rectified: u64,
    /// Rectified on time.
    pub on_time: u64,
    /// Still open at the end.
    pub still_open: u64,
    /// Overdue at the end.
    pub overdue: u64,
    /// Major hazards found.
    pub major_found: u64,
    /// The rectification rate.
    pub rectification_rate: Option<f64>,
}

impl Headline {
    /// The headline of `f`.
    pub fn of(f: &Figures) -> Headline {
        Headline {
            found: f.found,
            rectified: f.rectification.on_time + f.rectification.late,
            on_time: f.rectification.on_time,
            still_open: f.rectification.still_open,
            overdue: f.rectification.overdue,
            major_found: f.by_grade.get(crate::Grade::MAJOR).copied().unwrap_or(0),
            rectification_rate: f.rectification.rectification_rate,
        }
    }
}

/// This period's headline against the previous one's: the changes (this − previous); a rate's
/// change is null when either side has none.
pub fn change(now: &Headline, before: &Headline) -> Value {
    let d = |a: u64, b: u64| a as i64 - b as i64;
    json!({
        "found": d(now.found, before.found),
        "rectified": d(now.rectified, before.rectified),
        "on_time": d(now.on_time, before.on_time),
        "still_open": d(now.still_open, before.still_open),
        "overdue": d(now.overdue, before.overdue),
        "major_found": d(now.major_found, before.major_found),
        "rectification_rate": match (now.rectification_rate, before.rectification_rate) {
            (Some(a), Some(b)) => json!(((a - b) * 10_000.0).round() / 10_000.0),
            _ => Value::Null,
        },
    })
}

/// One figure that differs between a frozen report and the same report computed again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Where, as a path: `figures.rectification.on_time`, `figures.by_site[<site id>].found`.
    pub path: String,
    /// The frozen value (null: absent).
    pub signed: Value,
    /// The value now (null: absent).
    pub now: Value,
}

/// The differences between `signed` and `now`, depth first. Arrays of objects that carry an
/// `id` or `site_id` are matched by it (so one more hazard is one difference, not a shift of
/// all that follow); other arrays by position.
pub fn diff(signed: &Value, now: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_into("", signed, now, &mut out);
    out
}

fn key_of(v: &Value) -> Option<String> {
    ["id", "site_id", "currency"]
        .iter()
        .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_owned))
}

fn diff_into(path: &str, a: &Value, b: &Value, out: &mut Vec<Difference>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff_into(
                    &join(k),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            let keyed = |v: &Vec<Value>| -> Option<BTreeMap<String, Value>> {
                v.iter().map(|e| Some((key_of(e)?, e.clone()))).collect()
            };
            match (keyed(x), keyed(y)) {
                (Some(kx), Some(ky)) if !(x.is_empty() && y.is_empty()) => {
                    let mut keys: Vec<&String> = kx.keys().chain(ky.keys()).collect();
                    keys.sort();
                    keys.dedup();
                    for k in keys {
                        diff_into(
                            &format!("{path}[{k}]"),
                            kx.get(k).unwrap_or(&Value::Null),
                            ky.get(k).unwrap_or(&Value::Null),
                            out,
                        );
                    }
                }
                _ => {
                    for i in 0..x.len().max(y.len()) {
                        diff_into(
                            &format!("{path}[{i}]"),
                            x.get(i).unwrap_or(&Value::Null),
                            y.get(i).unwrap_or(&Value::Null),
                            out,
                        );
                    }
                }
            }
        }
        _ if a == b => {}
        _ => out.push(Difference {
            path: path.to_owned(),
            signed: a.clone(),
            now: b.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn fact(id: &str, found_at: i64) -> HazardFact {
        HazardFact {
            id: id.into(),
            title: format!("hazard {id}"),
            site_id: "s1".into(),
            site_name: "Plant".into(),
            state: "reported".into(),
            grade: "general".into(),
            category: "electrical".into(),
            source: Source::AdHoc,
            found_at,
            deadline: None,
            closed_at: None,
            cost: None,
            five: None,
        }
    }

    #[test]
    fn outcomes_at_the_period_end() {
        let at = 100 * H;
        assert_eq!(
            classify("closed", Some(50 * H), Some(40 * H), at),
            Outcome::OnTime
        );
        assert_eq!(
            classify("closed", Some(50 * H), Some(50 * H), at),
            Outcome::OnTime
        );
        assert_eq!(classify("closed", None, Some(40 * H), at), Outcome::OnTime);
        assert_eq!(
            classify("closed", Some(50 * H), Some(60 * H), at),
            Outcome::Late
        );
        // Closed after the period's end: still open (or overdue) as the period ended.
        assert_eq!(
            classify("closed", Some(200 * H), Some(150 * H), at),
            Outcome::Open
        );
        assert_eq!(
            classify("closed", Some(90 * H), Some(150 * H), at),
            Outcome::Overdue
        );
        assert_eq!(
            classify("rectifying", Some(90 * H), None, at),
            Outcome::Overdue
        );
        assert_eq!(
            classify("rectifying", Some(100 * H), None, at),
            Outcome::Open
        );
        assert_eq!(classify("reported", None, None, at), Outcome::Open);
        assert_eq!(classify("cancelled", Some(1), None, at), Outcome::Cancelled);
    }

    #[test]
    fn rates_round_and_need_a_base() {
        assert_eq!(rate(2, 3), Some(0.6667));
        assert_eq!(rate(0, 5), Some(0.0));
        assert_eq!(rate(0, 0), None);
    }

    #[test]
    fn figures_count_by_hand() {
        let (start, end) = (0, 100 * H);
        let mut b = FiguresBuilder::new(start, end, 1000 * H);
        let mut on_time = fact("a", 10 * H);
        on_time.state = "closed".into();
        on_time.deadline = Some(20 * H);
        on_time.closed_at = Some(15 * H);
        on_time.cost = Money::from_json(&json!({"amount": 100.5, "currency": "CNY"})).ok();
        let mut late = fact("b", 20 * H);
        late.state = "closed".into();
        late.deadline = Some(30 * H);
        late.closed_at = Some(40 * H);
        late.source = Source::Inspection;
        late.cost = Money::from_json(&json!({"amount": 9.5, "currency": "CNY"})).ok();
        let mut overdue = fact("c", 30 * H);
        overdue.grade = "major".into();
        overdue.state = "rectifying".into();
        overdue.deadline = Some(50 * H);
        overdue.site_id = "s2".into();
        overdue.site_name = "Annex".into();
        overdue.five = Some(FiveImplementations {
            funds_amount: Money::from_json(&json!({"amount": 5000, "currency": "CNY"})).ok(),
            ..FiveImplementations::default()
        });
        let mut cancelled = fact("d", 40 * H);
        cancelled.state = "cancelled".into();
        let before = fact("e", -H);
        let after = fact("f", 100 * H);
        let mut carried = fact("g", -10 * H);
        carried.grade = "major".into();
        carried.state = "assigned".into();
        for h in [
            &on_time, &late, &overdue, &cancelled, &before, &after, &carried,
        ] {
            b.add(h);
        }
        let f = b.finish();
        assert_eq!(f.found, 4);
        assert_eq!(
            f.by_grade,
            BTreeMap::from([("general".into(), 3), ("major".into(), 1)])
        );
        assert_eq!(
            f.by_source,
            BTreeMap::from([
                ("ad_hoc".into(), 3),
                ("check_task".into(), 0),
                ("inspection".into(), 1)
            ])
        );
        let r = &f.rectification;
        assert_eq!(
            (
                r.on_time,
                r.late,
                r.open,
                r.overdue,
                r.still_open,
                r.cancelled
            ),
            (1, 1, 0, 1, 1, 1)
        );
        assert_eq!(r.rectification_rate, Some(0.6667));
        assert_eq!(r.on_time_rate, Some(0.3333));
        assert_eq!(f.by_site.len(), 2);
        assert_eq!(
            (f.by_site[0].site_name.as_str(), f.by_site[0].found),
            ("Annex", 1)
        );
        assert_eq!(f.by_site[1].found, 3);
        let ids: Vec<(&str, bool)> = f
            .major_hazards
            .iter()
            .map(|m| (m.id.as_str(), m.carried_over))
            .collect();
        assert_eq!(ids, [("g", true), ("c", false)]);
        assert_eq!(f.funds.rectification.len(), 1);
        assert_eq!(f.funds.rectification[0].amount, 110.0);
        assert_eq!(f.funds.rectification[0].hazards, 2);
        assert_eq!(f.funds.major_hazard_funds[0].amount, 5000.0);
    }

    #[test]
    fn a_running_period_is_judged_now() {
        let mut b = FiguresBuilder::new(0, 100 * H, 50 * H);
        let mut h = fact("a", 10 * H);
        h.deadline = Some(60 * H);
        b.add(&h);
        assert_eq!(b.finish().rectification.open, 1);
    }

    #[test]
    fn changes_against_the_previous_period() {
        let now = Headline {
            found: 5,
            rectified: 4,
            on_time: 3,
            still_open: 1,
            overdue: 0,
            major_found: 1,
            rectification_rate: Some(0.8),
        };
        let before = Headline {
            found: 2,
            rectified: 1,
            on_time: 1,
            still_open: 1,
            overdue: 1,
            major_found: 0,
            rectification_rate: Some(0.5),
        };
        let c = change(&now, &before);
        assert_eq!(c["found"], 3);
        assert_eq!(c["overdue"], -1);
        assert_eq!(c["rectification_rate"], 0.3);
        let none = Headline {
            rectification_rate: None,
            ..before
        };
        assert_eq!(change(&now, &none)["rectification_rate"], Value::Null);
    }

    #[test]
    fn diffs_name_what_changed() {
        let a = json!({"found": 3, "by_site": [{"site_id": "s1", "found": 3}], "rate": 0.5, "list": [1, 2]});
        let b = json!({"found": 4, "by_site": [{"site_id": "s1", "found": 3}, {"site_id": "s2", "found": 1}], "rate": 0.5, "list": [1, 3]});
        let d = diff(&a, &b);
        let paths: Vec<&str> = d.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, ["by_site[s2]", "found", "list[1]"]);
        assert_eq!(d[1].signed, json!(3));
        assert_eq!(d[1].now, json!(4));
        assert!(diff(&a, &a).is_empty());
    }
}
