//! The typed arguments of `hazard.report` and `hazard.update`.
//!
//! Each field holds its own read ([`Arg`]): the engine reports a field's refusal where the
//! design's order puts it (the site's visibility and the caller's role before the title, the
//! hazard's visibility, permission and version before the edited fields), so a client sees
//! exactly the refusal it saw when the engine read the JSON object itself.

use serde_json::{json, Value};

use super::args::{read, Arg};
use super::rejection::MutationRejection;
use crate::{Category, Risk};

/// The longest title, in characters.
pub const TITLE_MAX: usize = 200;
/// The longest description (and other free text), in characters.
pub const TEXT_MAX: usize = 10_000;
/// The longest reason for lowering the risk, in characters.
pub const REASON_MAX: usize = 2_000;
/// Fields `hazard.update` may edit, each merged on its own clock.
pub const EDITABLE: &[&str] = &[
    "title",
    "description",
    "location",
    "gps",
    "measures",
    "risk",
];

/// Reads an optional choice of a text enum (blank is absent).
fn choice<T: std::str::FromStr>(
    args: &Value,
    key: &str,
    allowed: &str,
) -> Result<Option<T>, MutationRejection> {
    match read::text(args, key, 50)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s
            .parse::<T>()
            .map(Some)
            .map_err(|_| MutationRejection::invalid(key, format!("{s:?} is not one of {allowed}"))),
    }
}

const CATEGORIES: &str = "unsafe_condition, unsafe_act, management_gap";
const RISKS: &str = "blue, yellow, orange, red";

/// `hazard.report`: `{site_id, title, category, grade, risk?, id?, description?, location?,
/// gps?, photos?}`. Absent required fields are refused together (`missing_fields`) by the
/// engine once the site is decided.
#[derive(Debug, Clone, PartialEq)]
pub struct HazardReport {
    /// The site (absent: `None`; its visibility and the caller's role come first).
    pub site_id: Arg<Option<String>>,
    /// The title, trimmed; blank is absent.
    pub title: Arg<Option<String>>,
    /// The category; blank is absent.
    pub category: Arg<Option<Category>>,
    /// The grade as sent (checked against the organisation's scale); blank is absent.
    pub grade: Arg<Option<String>>,
    /// The risk colour (absent: blue).
    pub risk: Arg<Option<Risk>>,
    /// A client-chosen id.
    pub id: Arg<Option<String>>,
    /// The description (absent: empty).
    pub description: Arg<String>,
    /// The location (absent: empty).
    pub location: Arg<String>,
    /// The position, as stored JSON text.
    pub gps: Arg<Option<String>>,
    /// Photos to link as `before` evidence.
    pub photos: Arg<Vec<String>>,
    /// The object as sent (the `hazard.reported` event's payload).
    pub raw: Value,
}

impl HazardReport {
    /// Reads every field of the object.
    pub fn parse(args: &Value) -> HazardReport {
        HazardReport {
            site_id: read::opt_id(args, "site_id"),
            title: read::text(args, "title", TITLE_MAX).map(|t| t.filter(|t| !t.is_empty())),
            category: choice(args, "category", CATEGORIES),
            grade: read::text(args, "grade", 50).map(|g| g.filter(|g| !g.is_empty())),
            risk: choice(args, "risk", RISKS),
            id: read::opt_id(args, "id"),
            description: read::text(args, "description", TEXT_MAX).map(Option::unwrap_or_default),
            location: read::text(args, "location", 500).map(Option::unwrap_or_default),
            gps: read::gps(args, "gps"),
            photos: read::photos(args, "photos"),
            raw: args.clone(),
        }
    }
}

/// One edited field of `hazard.update`: its name, the value as sent and the value as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldEdit {
    /// One of [`EDITABLE`].
    pub name: &'static str,
    /// The value as sent.
    pub sent: Value,
    /// The value as stored (trimmed text, GPS JSON text, the risk's name).
    pub stored: String,
}

/// `hazard.update`: `{hazard_id, fields: {field: value, ...}, reason?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct HazardUpdate {
    /// The hazard (its visibility is decided first).
    pub hazard_id: Arg<String>,
    /// Why the risk is lowered; blank is absent.
    pub reason: Arg<Option<String>>,
    /// The edits, in the order sent (read after the permission and the version).
    pub fields: Arg<Vec<FieldEdit>>,
}

impl HazardUpdate {
    /// Reads every field of the object.
    pub fn parse(args: &Value) -> HazardUpdate {
        HazardUpdate {
            hazard_id: read::id(args, "hazard_id"),
            reason: read::text(args, "reason", REASON_MAX).map(|r| r.filter(|r| !r.is_empty())),
            fields: Self::edits(args),
        }
    }

    fn edits(args: &Value) -> Arg<Vec<FieldEdit>> {
        let fields = match args.get("fields") {
            Some(Value::Object(f)) if !f.is_empty() => f,
            Some(Value::Object(_)) | None | Some(Value::Null) => {
                return Err(MutationRejection::missing(&["fields"]))
            }
            Some(_) => {
                return Err(MutationRejection::invalid(
                    "fields",
                    "expected an object of field: value",
                ))
            }
        };
        let mut edits = Vec::new();
        for (key, value) in fields {
            let Some(name) = EDITABLE.iter().find(|f| **f == key.as_str()) else {
                return Err(MutationRejection::invalid(
                    &format!("fields.{key}"),
                    format!("not editable; editable: {}", EDITABLE.join(", ")),
                ));
            };
            let wrapped = json!({ *name: value });
            let stored = match *name {
                "title" => read::text(&wrapped, name, TITLE_MAX)?
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        MutationRejection::invalid("fields.title", "must not be blank")
                    })?,
                "gps" => read::gps(&wrapped, name)?.unwrap_or_default(),
                "risk" => choice::<Risk>(&wrapped, name, RISKS)?
                    .ok_or_else(|| MutationRejection::invalid("fields.risk", "must not be blank"))?
                    .as_str()
                    .to_string(),
                _ => read::text(&wrapped, name, TEXT_MAX)?.unwrap_or_default(),
            };
            edits.push(FieldEdit {
                name,
                sent: value.clone(),
                stored,
            });
        }
        Ok(edits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(r: &Arg<impl std::fmt::Debug>) -> Value {
        r.as_ref().unwrap_err().details.clone()
    }

    #[test]
    fn report_fields_refuse_naming_themselves() {
        let r = HazardReport::parse(&json!({
            "site_id": "x", "title": 5, "category": "fire", "grade": [], "risk": "pink",
            "id": 3, "description": {}, "location": "a".repeat(501), "gps": {"lat": 91, "lon": 0},
            "photos": ["zz"],
        }));
        for (got, name) in [
            (field(&r.site_id), "site_id"),
            (field(&r.title), "title"),
            (field(&r.category), "category"),
            (field(&r.grade), "grade"),
            (field(&r.risk), "risk"),
            (field(&r.id), "id"),
            (field(&r.description), "description"),
            (field(&r.location), "location"),
            (field(&r.gps), "gps"),
            (field(&r.photos), "photos"),
        ] {
            assert_eq!(got["field"], name, "{got}");
        }
        assert_eq!(
            r.category.unwrap_err().message,
            "category: \"fire\" is not one of unsafe_condition, unsafe_act, management_gap"
        );
        let ok =
            HazardReport::parse(&json!({"title": "  ", "category": "unsafe_act", "grade": " g "}));
        assert_eq!(ok.site_id, Ok(None));
        assert_eq!(ok.title, Ok(None));
        assert_eq!(ok.category, Ok(Some(Category::UnsafeAct)));
        assert_eq!(ok.grade, Ok(Some("g".into())));
        assert_eq!(ok.description, Ok(String::new()));
        assert_eq!(ok.photos, Ok(vec![]));
    }

    #[test]
    fn update_fields_refuse_naming_themselves() {
        let u = HazardUpdate::parse(&json!({"fields": {}}));
        assert_eq!(field(&u.hazard_id), json!({"fields": ["hazard_id"]}));
        assert_eq!(field(&u.fields), json!({"fields": ["fields"]}));
        let u = HazardUpdate::parse(&json!({"fields": [1], "reason": 1}));
        assert_eq!(field(&u.fields), json!({"field": "fields"}));
        assert_eq!(field(&u.reason), json!({"field": "reason"}));
        for (fields, name) in [
            (json!({"owner": "x"}), "fields.owner"),
            (json!({"title": " "}), "fields.title"),
            (json!({"risk": ""}), "fields.risk"),
            (json!({"risk": "pink"}), "risk"),
            (json!({"gps": 1}), "gps"),
            (json!({"description": 1}), "description"),
        ] {
            let u = HazardUpdate::parse(&json!({ "fields": fields }));
            assert_eq!(field(&u.fields)["field"], name);
        }
        let u = HazardUpdate::parse(&json!({
            "hazard_id": "00000000-0000-0000-0000-00000000000A",
            "fields": {"risk": "red", "title": " T "}, "reason": ""
        }));
        assert_eq!(
            u.hazard_id,
            Ok("00000000-0000-0000-0000-00000000000a".into())
        );
        assert_eq!(u.reason, Ok(None));
        let edits = u.fields.unwrap();
        let stored: Vec<(&str, &str)> = edits.iter().map(|e| (e.name, e.stored.as_str())).collect();
        assert_eq!(stored, [("risk", "red"), ("title", "T")]);
    }
}
