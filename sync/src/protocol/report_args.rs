//! The typed arguments of `report.sign` and `report.submit`.
//!
//! As in [`super::hazard_args`], each field holds its own read ([`Arg`]); the engine reports
//! them in order (the period, the site and its visibility, the reference) before the caller's
//! standing as the principal.

use serde_json::Value;

use super::args::{read, Arg};
use super::rejection::MutationRejection;
use crate::period::Period;

/// The report a signature or a submission is about: `period` (or `from`/`to`) and an
/// optional `site_id` (absent: the whole organisation).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportScope {
    /// The period (refused as `invalid` naming `period`, whichever form was wrong).
    pub period: Arg<Period>,
    /// The site (its visibility is decided by the engine).
    pub site_id: Arg<Option<String>>,
}

impl ReportScope {
    /// Reads the period and the site.
    pub fn parse(args: &Value) -> ReportScope {
        let text = |k: &str| args.get(k).and_then(Value::as_str);
        ReportScope {
            period: Period::parse(text("period"), text("from"), text("to"))
                .map_err(|m| MutationRejection::invalid("period", m)),
            site_id: read::opt_id(args, "site_id"),
        }
    }
}

/// `report.submit`: the report's scope and an optional `reference` (receipt number, how it
/// was sent); blank is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSubmit {
    /// Which report.
    pub scope: ReportScope,
    /// The reference.
    pub reference: Arg<Option<String>>,
}

impl ReportSubmit {
    /// Reads every field of the object.
    pub fn parse(args: &Value) -> ReportSubmit {
        ReportSubmit {
            scope: ReportScope::parse(args),
            reference: read::text(args, "reference", 500).map(|r| r.filter(|r| !r.is_empty())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn scope_and_reference_name_their_fields() {
        let s = ReportSubmit::parse(&json!({"period": "2026-13", "site_id": 4, "reference": 1}));
        assert_eq!(
            s.scope.period.unwrap_err().details,
            json!({"field": "period"})
        );
        assert_eq!(
            s.scope.site_id.unwrap_err().details,
            json!({"field": "site_id"})
        );
        assert_eq!(
            s.reference.unwrap_err().details,
            json!({"field": "reference"})
        );
        let s = ReportSubmit::parse(
            &json!({"from": "2026-01-01", "to": "2026-01-31", "reference": " "}),
        );
        assert!(s.scope.period.is_ok());
        assert_eq!(s.scope.site_id, Ok(None));
        assert_eq!(s.reference, Ok(None));
        let s = ReportScope::parse(&json!({}));
        assert!(s.period.is_err());
    }
}
