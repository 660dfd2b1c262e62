//! A mutation's name and arguments, read once where the engine takes the mutation in.
//!
//! [`MutationArgs::parse`] turns the name into a [`MutationName`] (an unknown name is
//! `unknown_mutation`) and reads the arguments into one typed struct per mutation
//! ([`PhotoLink`] here; the hazard, inspection, template and report ones in their files).
//! Refusals follow the design's order, which puts an entity's or a site's visibility and the
//! caller's permission before most arguments, so a struct whose mutation checks something
//! stored first holds each field's read as an [`Arg`] (the value, or the refusal naming the
//! field) and the engine reports it where it did when it read the JSON itself. A workflow
//! command keeps its JSON object: `crate::decide_mutation` reads it into a `Command` after the
//! transition and the permission. The readers are the functions of [`read`], the same for
//! every mutation, each naming the argument it refuses.

use serde_json::{json, Value};

use super::hazard_args::{HazardReport, HazardUpdate};
use super::inspection_args::{
    InspectionAnswer, InspectionDelete, InspectionStart, InspectionSubmit, TemplateImport,
};
use super::rejection::{MutationRejection, RejectionCode};
use super::report_args::{ReportScope, ReportSubmit};
use crate::command::Command;

/// One argument as read: its value, or the refusal naming it, reported by the engine in the
/// design's order.
pub type Arg<T> = Result<T, MutationRejection>;

text_enum! {
    /// Every mutation the engine applies.
    pub enum MutationName as "mutation name" {
        /// Import a checklist template version.
        TemplateImport => "template.import",
        /// Start an inspection (a draft).
        InspectionStart => "inspection.start",
        /// Answer an item of a draft inspection.
        InspectionAnswer => "inspection.answer",
        /// Submit an inspection.
        InspectionSubmit => "inspection.submit",
        /// Delete a draft inspection.
        InspectionDelete => "inspection.delete",
        /// Report a hazard.
        HazardReport => "hazard.report",
        /// Edit a hazard's descriptive fields.
        HazardUpdate => "hazard.update",
        /// Workflow command `assign`.
        HazardAssign => "hazard.assign",
        /// Workflow command `start`.
        HazardStart => "hazard.start",
        /// Workflow command `rectify_on_spot`.
        HazardRectifyOnSpot => "hazard.rectify_on_spot",
        /// Workflow command `submit_rectification`.
        HazardSubmitRectification => "hazard.submit_rectification",
        /// Workflow command `verify`.
        HazardVerify => "hazard.verify",
        /// Workflow command `reject`.
        HazardReject => "hazard.reject",
        /// Workflow command `regrade`.
        HazardRegrade => "hazard.regrade",
        /// Workflow command `extend_deadline`.
        HazardExtendDeadline => "hazard.extend_deadline",
        /// Workflow command `cancel`.
        HazardCancel => "hazard.cancel",
        /// Link a photo to a hazard or an inspection.
        PhotoLink => "photo.link",
        /// Sign off a period report.
        ReportSign => "report.sign",
        /// Record a report's submission to the regulator.
        ReportSubmit => "report.submit",
    }
}

impl MutationName {
    /// The workflow command a `hazard.<command>` mutation runs (`None` for other mutations).
    pub fn command(self) -> Option<&'static str> {
        self.as_str()
            .strip_prefix("hazard.")
            .filter(|c| Command::is_name(c))
    }
}

/// `photo.link`: `{entity_type, entity_id, role?, sha256}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoLink {
    /// `hazard` or `inspection` (anything else is refused once the caller's view is known).
    pub entity_type: String,
    /// The entity's id.
    pub entity_id: String,
    /// The link's role, `evidence` when absent.
    pub role: String,
    /// The photo's SHA-256 as sent (checked when linked).
    pub sha256: String,
}

impl PhotoLink {
    /// Reads the arguments, in the order they are refused.
    pub fn parse(args: &Value) -> Result<PhotoLink, MutationRejection> {
        Ok(PhotoLink {
            entity_type: read::text(args, "entity_type", 40)?.unwrap_or_default(),
            entity_id: read::id(args, "entity_id")?,
            role: read::text(args, "role", 20)?.unwrap_or_else(|| "evidence".into()),
            sha256: read::text(args, "sha256", 64)?.unwrap_or_default(),
        })
    }
}

/// A mutation's arguments, read once.
#[derive(Debug, Clone, PartialEq)]
pub enum MutationArgs {
    /// `photo.link`, typed.
    PhotoLink(PhotoLink),
    /// A workflow command (`hazard.<command>`): `args` is read by `crate::decide_mutation`
    /// after the transition and the permission.
    Command {
        /// The command's name (`assign`, `verify`, ...).
        command: &'static str,
        /// The JSON object.
        args: Value,
    },
    /// `hazard.report`.
    HazardReport(Box<HazardReport>),
    /// `hazard.update`.
    HazardUpdate(HazardUpdate),
    /// `inspection.start`.
    InspectionStart(Box<InspectionStart>),
    /// `inspection.answer`.
    InspectionAnswer(InspectionAnswer),
    /// `inspection.submit`.
    InspectionSubmit(InspectionSubmit),
    /// `inspection.delete`.
    InspectionDelete(InspectionDelete),
    /// `template.import`.
    TemplateImport(TemplateImport),
    /// `report.sign`.
    ReportSign(ReportScope),
    /// `report.submit`.
    ReportSubmit(ReportSubmit),
}

impl MutationArgs {
    /// Reads a mutation's name and arguments: `args` must be an object (or absent: empty), the
    /// name one the engine knows (`unknown_mutation`, with the `known` names).
    pub fn parse(name: &str, args: &Value) -> Result<MutationArgs, MutationRejection> {
        let args = match args {
            Value::Object(_) => args.clone(),
            Value::Null => json!({}),
            _ => return Err(MutationRejection::invalid("args", "expected a JSON object")),
        };
        let Ok(name) = name.parse::<MutationName>() else {
            let known: Vec<&str> = MutationName::ALL.iter().map(|n| n.as_str()).collect();
            return Err(MutationRejection::new(
                RejectionCode::UnknownMutation,
                format!("unknown mutation {name:?}"),
                json!({ "known": known }),
            ));
        };
        use MutationName as N;
        if let Some(command) = name.command() {
            return Ok(MutationArgs::Command { command, args });
        }
        Ok(match name {
            N::PhotoLink => MutationArgs::PhotoLink(PhotoLink::parse(&args)?),
            N::HazardReport => MutationArgs::HazardReport(Box::new(HazardReport::parse(&args))),
            N::HazardUpdate => MutationArgs::HazardUpdate(HazardUpdate::parse(&args)),
            N::InspectionStart => {
                MutationArgs::InspectionStart(Box::new(InspectionStart::parse(&args)))
            }
            N::InspectionAnswer => MutationArgs::InspectionAnswer(InspectionAnswer::parse(&args)),
            N::InspectionSubmit => MutationArgs::InspectionSubmit(InspectionSubmit::parse(&args)),
            N::InspectionDelete => MutationArgs::InspectionDelete(InspectionDelete::parse(&args)),
            N::TemplateImport => MutationArgs::TemplateImport(TemplateImport::parse(&args)),
            N::ReportSign => MutationArgs::ReportSign(ReportScope::parse(&args)),
            N::ReportSubmit => MutationArgs::ReportSubmit(ReportSubmit::parse(&args)),
            // Every `hazard.<command>` returned above.
            N::HazardAssign
            | N::HazardStart
            | N::HazardRectifyOnSpot
            | N::HazardSubmitRectification
            | N::HazardVerify
            | N::HazardReject
            | N::HazardRegrade
            | N::HazardExtendDeadline
            | N::HazardCancel => MutationArgs::Command {
                command: name.as_str().trim_start_matches("hazard."),
                args,
            },
        })
    }
}

/// The argument readers: each reads one key of a JSON object, treats `null` as absent, and
/// refuses a bad value as `invalid` naming the key (a required one that is absent:
/// `missing_fields`).
pub mod read {
    use serde_json::{json, Value};

    use super::MutationRejection;

    /// Reads a required id argument.
    pub fn id(args: &Value, key: &str) -> Result<String, MutationRejection> {
        match args.get(key) {
            None | Some(Value::Null) => Err(MutationRejection::missing(&[key])),
            Some(Value::String(s)) => uuid::Uuid::parse_str(s)
                .map(|u| u.to_string())
                .map_err(|_| MutationRejection::invalid(key, "expected a UUID")),
            Some(_) => Err(MutationRejection::invalid(key, "expected a UUID as text")),
        }
    }

    /// Reads an optional id argument.
    pub fn opt_id(args: &Value, key: &str) -> Result<Option<String>, MutationRejection> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            _ => id(args, key).map(Some),
        }
    }

    /// Reads an optional text argument (trimmed; over `max` characters is invalid).
    pub fn text(args: &Value, key: &str, max: usize) -> Result<Option<String>, MutationRejection> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() > max => Err(MutationRejection::invalid(
                key,
                format!("longer than {max} characters"),
            )),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(MutationRejection::invalid(key, "expected text")),
        }
    }

    /// Reads an optional GPS argument `{lat, lon, accuracy_m?}`.
    pub fn gps(args: &Value, key: &str) -> Result<Option<String>, MutationRejection> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => {
                let lat = o.get("lat").and_then(Value::as_f64);
                let lon = o.get("lon").and_then(Value::as_f64);
                match (lat, lon) {
                    (Some(lat), Some(lon))
                        if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
                    {
                        let mut g = json!({"lat": lat, "lon": lon});
                        if let Some(a) = o.get("accuracy_m").and_then(Value::as_f64) {
                            g["accuracy_m"] = json!(a);
                        }
                        Ok(Some(g.to_string()))
                    }
                    _ => Err(MutationRejection::invalid(
                        key,
                        "expected {lat, lon} in degrees",
                    )),
                }
            }
            Some(_) => Err(MutationRejection::invalid(key, "expected {lat, lon}")),
        }
    }

    /// Reads an optional RFC 3339 time argument as unix ms.
    pub fn time(args: &Value, key: &str) -> Result<Option<i64>, MutationRejection> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => crate::timestamp::parse_rfc3339_ms(s)
                .map(Some)
                .map_err(|_| MutationRejection::invalid(key, "expected an RFC 3339 time")),
            Some(_) => Err(MutationRejection::invalid(
                key,
                "expected an RFC 3339 time as text",
            )),
        }
    }

    /// Reads an optional array of photo ids.
    pub fn photos(args: &Value, key: &str) -> Result<Vec<String>, MutationRejection> {
        match args.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_ascii_lowercase)
                        .filter(|s| crate::photo::is_photo_id(s))
                        .ok_or_else(|| {
                            MutationRejection::invalid(
                                key,
                                format!("{v} is not a photo id (64 hex digits of SHA-256)"),
                            )
                        })
                })
                .collect(),
            Some(_) => Err(MutationRejection::invalid(
                key,
                "expected an array of photo ids",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_commands_and_refusals() {
        assert_eq!(MutationName::ALL.len(), 19);
        assert_eq!(MutationName::HazardVerify.command(), Some("verify"));
        assert_eq!(MutationName::HazardUpdate.command(), None);
        assert_eq!(MutationName::HazardReport.command(), None);
        let r = MutationArgs::parse("hazard.fly", &json!({})).unwrap_err();
        assert_eq!(r.code, RejectionCode::UnknownMutation);
        assert_eq!(r.details["known"][0], "template.import");
        // A non-object is refused before the name is looked at.
        let r = MutationArgs::parse("hazard.fly", &json!([1])).unwrap_err();
        assert_eq!(r.details, json!({"field": "args"}));
        let r = MutationArgs::parse("photo.link", &json!({"entity_type": "hazard"})).unwrap_err();
        assert_eq!(r.details, json!({"fields": ["entity_id"]}));
        let ok = MutationArgs::parse(
            "photo.link",
            &json!({"entity_type": " hazard ", "entity_id": "00000000-0000-0000-0000-00000000000A", "sha256": "ab"}),
        )
        .unwrap();
        assert_eq!(
            ok,
            MutationArgs::PhotoLink(PhotoLink {
                entity_type: "hazard".into(),
                entity_id: "00000000-0000-0000-0000-00000000000a".into(),
                role: "evidence".into(),
                sha256: "ab".into(),
            })
        );
        assert_eq!(
            MutationArgs::parse("hazard.verify", &Value::Null).unwrap(),
            MutationArgs::Command {
                command: "verify",
                args: json!({})
            }
        );
    }
}
