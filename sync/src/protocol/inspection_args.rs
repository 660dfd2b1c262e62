//! The typed arguments of the inspection mutations and of `template.import`.
//!
//! As in [`super::hazard_args`], each field holds its own read ([`Arg`]) and the engine reports
//! it in the design's order: a site's or an inspection's visibility, then the caller's role
//! (for `template.import`: admin) and the entity's state, then the other arguments.

use serde_json::Value;

use super::args::{read, Arg};
use super::rejection::MutationRejection;
use crate::checklist::Template;

/// Which template version an inspection follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRef {
    /// `template_id`: one version by its id.
    Id(String),
    /// `template_key` and `template_version` (absent, or not an integer: the latest).
    Key {
        /// The template's key.
        key: String,
        /// The version asked for.
        version: Option<i64>,
    },
}

/// `inspection.start`: `{site_id, template_id | template_key + template_version?, id?,
/// started_at?, gps?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionStart {
    /// The site (its visibility and the caller's role come first).
    pub site_id: Arg<String>,
    /// The template version (absent: `missing_fields` naming `template_id`).
    pub template: Arg<TemplateRef>,
    /// A client-chosen id.
    pub id: Arg<Option<String>>,
    /// When the inspection started on the device (unix ms).
    pub started_at: Arg<Option<i64>>,
    /// The position, as stored JSON text.
    pub gps: Arg<Option<String>>,
}

impl InspectionStart {
    /// Reads every field of the object.
    pub fn parse(args: &Value) -> InspectionStart {
        InspectionStart {
            site_id: read::id(args, "site_id"),
            template: Self::template(args),
            id: read::opt_id(args, "id"),
            started_at: read::time(args, "started_at"),
            gps: read::gps(args, "gps"),
        }
    }

    fn template(args: &Value) -> Arg<TemplateRef> {
        let id = read::opt_id(args, "template_id")?;
        let key = read::text(args, "template_key", 200)?;
        match (id, key) {
            (Some(id), _) => Ok(TemplateRef::Id(id)),
            (None, Some(key)) => Ok(TemplateRef::Key {
                key,
                version: args.get("template_version").and_then(Value::as_i64),
            }),
            (None, None) => Err(MutationRejection::missing(&["template_id"])),
        }
    }
}

/// `inspection.answer`: `{inspection_id, item_key, value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionAnswer {
    /// The inspection (its visibility is decided first).
    pub inspection_id: Arg<String>,
    /// The item answered (blank: `missing_fields`), read once the inspection is a draft.
    pub item_key: Arg<String>,
    /// The answer as sent (absent: `null`), checked against the item's kind.
    pub value: Value,
}

impl InspectionAnswer {
    /// Reads every field of the object.
    pub fn parse(args: &Value) -> InspectionAnswer {
        InspectionAnswer {
            inspection_id: read::id(args, "inspection_id"),
            item_key: read::text(args, "item_key", 200).and_then(|k| {
                k.filter(|k| !k.is_empty())
                    .ok_or_else(|| MutationRejection::missing(&["item_key"]))
            }),
            value: args.get("value").cloned().unwrap_or(Value::Null),
        }
    }
}

/// `inspection.submit`: `{inspection_id, finished_at?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionSubmit {
    /// The inspection (its visibility is decided first).
    pub inspection_id: Arg<String>,
    /// When it finished on the device (unix ms), read once its answers are complete.
    pub finished_at: Arg<Option<i64>>,
}

impl InspectionSubmit {
    /// Reads every field of the object.
    pub fn parse(args: &Value) -> InspectionSubmit {
        InspectionSubmit {
            inspection_id: read::id(args, "inspection_id"),
            finished_at: read::time(args, "finished_at"),
        }
    }
}

/// `inspection.delete`: `{inspection_id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct InspectionDelete {
    /// The inspection.
    pub inspection_id: Arg<String>,
}

impl InspectionDelete {
    /// Reads every field of the object.
    pub fn parse(args: &Value) -> InspectionDelete {
        InspectionDelete {
            inspection_id: read::id(args, "inspection_id"),
        }
    }
}

/// `template.import`: `{template}`, read after the admin check (its structure is checked by
/// the engine with `Template::validate` and the organisation's grades).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateImport {
    /// The template as deserialised (absent: `missing_fields`; bad JSON shape: `invalid`).
    pub template: Arg<Template>,
}

impl TemplateImport {
    /// Reads every field of the object.
    pub fn parse(args: &Value) -> TemplateImport {
        let template = match args.get("template").filter(|v| !v.is_null()) {
            None => Err(MutationRejection::missing(&["template"])),
            Some(raw) => serde_json::from_value(raw.clone())
                .map_err(|e| MutationRejection::invalid("template", e.to_string())),
        };
        TemplateImport { template }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "00000000-0000-0000-0000-00000000000A";

    fn details<T: std::fmt::Debug>(r: &Arg<T>) -> Value {
        r.as_ref().unwrap_err().details.clone()
    }

    #[test]
    fn start_reads_each_field_naming_it() {
        let s = InspectionStart::parse(&json!({}));
        assert_eq!(details(&s.site_id), json!({"fields": ["site_id"]}));
        assert_eq!(details(&s.template), json!({"fields": ["template_id"]}));
        let s = InspectionStart::parse(&json!({
            "site_id": 1, "template_id": "x", "id": "y", "started_at": "noon", "gps": [],
        }));
        for (got, name) in [
            (details(&s.site_id), "site_id"),
            (details(&s.template), "template_id"),
            (details(&s.id), "id"),
            (details(&s.started_at), "started_at"),
            (details(&s.gps), "gps"),
        ] {
            assert_eq!(got, json!({ "field": name }));
        }
        let s = InspectionStart::parse(&json!({"template_key": 7}));
        assert_eq!(details(&s.template), json!({"field": "template_key"}));
        let s = InspectionStart::parse(&json!({"template_key": " k ", "template_version": 2}));
        assert_eq!(
            s.template,
            Ok(TemplateRef::Key {
                key: "k".into(),
                version: Some(2)
            })
        );
        let s = InspectionStart::parse(&json!({"template_id": ID, "template_key": "k"}));
        assert_eq!(s.template, Ok(TemplateRef::Id(ID.to_ascii_lowercase())));
    }

    #[test]
    fn answer_submit_delete_and_import_name_their_fields() {
        let a = InspectionAnswer::parse(&json!({"item_key": " "}));
        assert_eq!(
            details(&a.inspection_id),
            json!({"fields": ["inspection_id"]})
        );
        assert_eq!(details(&a.item_key), json!({"fields": ["item_key"]}));
        assert_eq!(a.value, Value::Null);
        let a =
            InspectionAnswer::parse(&json!({"inspection_id": ID, "item_key": 3, "value": true}));
        assert_eq!(details(&a.item_key), json!({"field": "item_key"}));
        assert_eq!(a.value, json!(true));
        let s = InspectionSubmit::parse(&json!({"inspection_id": ID, "finished_at": 5}));
        assert_eq!(details(&s.finished_at), json!({"field": "finished_at"}));
        assert_eq!(s.inspection_id, Ok(ID.to_ascii_lowercase()));
        let d = InspectionDelete::parse(&json!({"inspection_id": "nope"}));
        assert_eq!(details(&d.inspection_id), json!({"field": "inspection_id"}));
        let t = TemplateImport::parse(&json!({"template": null}));
        assert_eq!(details(&t.template), json!({"fields": ["template"]}));
        let t = TemplateImport::parse(&json!({"template": {"key": 1}}));
        assert_eq!(details(&t.template), json!({"field": "template"}));
    }
}
