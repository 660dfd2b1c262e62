//! The template import format and its validation.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::canonical::to_canonical_json;
use crate::hazard::{Category, Grade, GradeScale, Risk};

text_enum! {
    /// What kind of answer an item takes.
    pub enum ItemKind as "item kind" {
        /// `"yes"` or `"no"`.
        YesNo => "yes_no",
        /// `"yes"`, `"no"` or `"na"` (not applicable).
        YesNoNa => "yes_no_na",
        /// A JSON number, with optional `unit`, `min`, `max`.
        Number => "number",
        /// One of `options`.
        Choice => "choice",
        /// An array of distinct `options`.
        MultiChoice => "multi_choice",
        /// Free text.
        Text => "text",
        /// One photo id or an array of them.
        Photo => "photo",
    }
}

/// A checklist template as imported. Unknown keys are refused, so a misspelt rule
/// (`raise_hazard_on`) cannot silently vanish.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Stable key, unique per organisation; importing the same key again makes a new version.
    pub key: String,
    /// Title shown to inspectors.
    pub title: String,
    /// What the checklist is for.
    #[serde(default)]
    pub description: String,
    /// Sections in display order.
    pub sections: Vec<Section>,
}

/// A titled group of items.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// Section title.
    pub title: String,
    /// Items in display order.
    pub items: Vec<Item>,
}

/// One question of a checklist.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Unique within the template; answers are keyed by it.
    pub key: String,
    /// Kind of answer.
    pub kind: ItemKind,
    /// The question.
    pub prompt: String,
    /// An inspection cannot be submitted without an answer. Default false.
    #[serde(default)]
    pub required: bool,
    /// Unit of a number, e.g. `"ppm"`.
    #[serde(default)]
    pub unit: Option<String>,
    /// Lower bound of a number (inclusive).
    #[serde(default)]
    pub min: Option<f64>,
    /// Upper bound of a number (inclusive).
    #[serde(default)]
    pub max: Option<f64>,
    /// The choices of a choice or multi_choice item.
    #[serde(default)]
    pub options: Vec<String>,
    /// Answers that raise a hazard (yes/no, yes/no/na, choice and multi_choice items).
    #[serde(default)]
    pub raises_hazard_on: Vec<String>,
    /// A number outside `min..=max` raises a hazard.
    #[serde(default)]
    pub raises_hazard_on_out_of_range: bool,
    /// Defaults of the hazard raised; required when the item can raise one.
    #[serde(default)]
    pub hazard: Option<HazardDefaults>,
}

/// Category, grade and risk of a hazard raised by an answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HazardDefaults {
    /// Category.
    pub category: Category,
    /// Grade; must be in the importing organisation's scale (see
    /// [`Template::unknown_grades`]).
    pub grade: Grade,
    /// Risk colour.
    pub risk: Risk,
}

impl Item {
    /// True when some answer to this item can raise a hazard.
    pub fn can_raise_hazard(&self) -> bool {
        !self.raises_hazard_on.is_empty() || self.raises_hazard_on_out_of_range
    }

    /// The answers a yes/no-style item accepts; `None` for other kinds.
    pub(crate) fn fixed_answers(&self) -> Option<&'static [&'static str]> {
        match self.kind {
            ItemKind::YesNo => Some(&["yes", "no"]),
            ItemKind::YesNoNa => Some(&["yes", "no", "na"]),
            _ => None,
        }
    }

    fn problems(&self, at: &str, out: &mut Vec<String>) {
        let mut bad = |msg: String| out.push(format!("{at}: {msg}"));
        if !is_key(&self.key) {
            bad("key must be 1-100 characters without spaces".into());
        }
        if self.prompt.trim().is_empty() {
            bad("prompt is empty".into());
        }
        let is_number = self.kind == ItemKind::Number;
        let is_choice = matches!(self.kind, ItemKind::Choice | ItemKind::MultiChoice);
        if !is_number && (self.unit.is_some() || self.min.is_some() || self.max.is_some()) {
            bad("unit, min and max are for number items only".into());
        }
        for (name, bound) in [("min", self.min), ("max", self.max)] {
            if bound.is_some_and(|b| !b.is_finite()) {
                bad(format!("{name} is not a finite number"));
            }
        }
        if let (Some(min), Some(max)) = (self.min, self.max) {
            if min > max {
                bad(format!("min {min} is greater than max {max}"));
            }
        }
        if is_choice {
            if self.options.is_empty() {
                bad("a choice item needs options".into());
            }
            let mut seen = BTreeSet::new();
            for o in &self.options {
                if o.trim().is_empty() {
                    bad("an option is empty".into());
                } else if !seen.insert(o.as_str()) {
                    bad(format!("option {o:?} appears twice"));
                }
            }
        } else if !self.options.is_empty() {
            bad("options are for choice and multi_choice items only".into());
        }
        let accepted: Vec<&str> = match self.fixed_answers() {
            Some(fixed) => fixed.to_vec(),
            None if is_choice => self.options.iter().map(String::as_str).collect(),
            None => Vec::new(),
        };
        for a in &self.raises_hazard_on {
            if !accepted.contains(&a.as_str()) {
                bad(format!("raises_hazard_on {a:?} is not a possible answer"));
            }
        }
        if self.raises_hazard_on_out_of_range {
            if !is_number {
                bad("raises_hazard_on_out_of_range is for number items only".into());
            } else if self.min.is_none() && self.max.is_none() {
                bad("raises_hazard_on_out_of_range needs min or max".into());
            }
        }
        match (self.can_raise_hazard(), &self.hazard) {
            (true, None) => bad("an item that raises a hazard needs hazard defaults".into()),
            (false, Some(_)) => bad("hazard defaults given but no answer raises a hazard".into()),
            (_, Some(h)) if h.grade.as_str().trim().is_empty() => {
                bad("hazard grade is empty".into())
            }
            _ => {}
        }
    }
}

impl Template {
    /// Parses the import JSON and validates it; every problem is listed.
    pub fn parse(json: &str) -> Result<Template, Vec<String>> {
        let template: Template = serde_json::from_str(json).map_err(|e| vec![e.to_string()])?;
        template.validate()?;
        Ok(template)
    }

    /// Checks the template: key, titles, at least one item, unique item keys, and each item's
    /// settings consistent with its kind (options for choices, `min <= max`, `raises_hazard_on`
    /// among the possible answers, hazard defaults exactly when something raises a hazard).
    /// Problems are described with their position, e.g. `sections[1].items[0] (oxygen): ...`.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut out = Vec::new();
        if !is_key(&self.key) {
            out.push("key must be 1-100 characters without spaces".to_owned());
        }
        if self.title.trim().is_empty() {
            out.push("title is empty".to_owned());
        }
        if self.items().next().is_none() {
            out.push("a template needs at least one item".to_owned());
        }
        let mut keys = BTreeSet::new();
        for (s, section) in self.sections.iter().enumerate() {
            if section.title.trim().is_empty() {
                out.push(format!("sections[{s}]: title is empty"));
            }
            for (i, item) in section.items.iter().enumerate() {
                let at = format!("sections[{s}].items[{i}] ({})", item.key);
                if !keys.insert(item.key.as_str()) {
                    out.push(format!("{at}: key appears more than once"));
                }
                item.problems(&at, &mut out);
            }
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(out)
        }
    }

    /// Every item, in display order.
    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    /// The item with this key.
    pub fn item(&self, key: &str) -> Option<&Item> {
        self.items().find(|i| i.key == key)
    }

    /// Hazard grades the template uses that the organisation's scale lacks (sorted, distinct).
    pub fn unknown_grades(&self, scale: &GradeScale) -> Vec<String> {
        let unknown: BTreeSet<&str> = self
            .items()
            .filter_map(|i| i.hazard.as_ref())
            .map(|h| h.grade.as_str())
            .filter(|g| !scale.contains(g))
            .collect();
        unknown.into_iter().map(str::to_owned).collect()
    }

    /// Hex SHA-256 of the template's canonical JSON (parsed form, keys sorted, defaults
    /// written out), so the same content gives the same hash however the file was formatted
    /// and whether or not it spelt out defaults such as `"required": false`.
    pub fn canonical_hash(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        hex::encode(Sha256::digest(to_canonical_json(&value)))
    }
}

fn is_key(key: &str) -> bool {
    !key.is_empty() && key.chars().count() <= 100 && !key.chars().any(char::is_whitespace)
}
