//! Answers to checklist items: their shape, whether they raise a hazard, and which required
//! items are still unanswered.

use std::collections::BTreeMap;

use serde_json::Value;

use super::template::{Item, ItemKind, Template};
use crate::photo::is_photo_id;

/// Longest text answer, in characters.
pub const MAX_TEXT_CHARS: usize = 10_000;

/// Checks the shape of an answer to `item`. `null` is accepted by every kind: it clears the
/// answer (and a cleared required item counts as missing). A number outside `min..=max` is
/// accepted: out of range is a finding, not an error, and may raise a hazard.
pub fn validate_answer(item: &Item, value: &Value) -> Result<(), String> {
    if value.is_null() {
        return Ok(());
    }
    match item.kind {
        ItemKind::YesNo | ItemKind::YesNoNa => {
            let accepted = item.fixed_answers().unwrap_or(&[]);
            match value.as_str() {
                Some(s) if accepted.contains(&s) => Ok(()),
                _ => Err(format!("expected one of {}", quoted(accepted))),
            }
        }
        ItemKind::Number => match value {
            Value::Number(_) => Ok(()),
            _ => Err("expected a number".to_owned()),
        },
        ItemKind::Choice => match value.as_str() {
            Some(s) if item.options.iter().any(|o| o == s) => Ok(()),
            _ => Err(format!("expected one of {}", quoted(&item.options))),
        },
        ItemKind::MultiChoice => {
            let Some(chosen) = value.as_array() else {
                return Err("expected an array of options".to_owned());
            };
            for (i, c) in chosen.iter().enumerate() {
                match c.as_str() {
                    Some(s) if item.options.iter().any(|o| o == s) => {}
                    _ => return Err(format!("expected options from {}", quoted(&item.options))),
                }
                if chosen[..i].contains(c) {
                    return Err(format!("option {c} chosen twice"));
                }
            }
            Ok(())
        }
        ItemKind::Text => match value.as_str() {
            Some(s) if s.chars().count() <= MAX_TEXT_CHARS => Ok(()),
            Some(_) => Err(format!("text longer than {MAX_TEXT_CHARS} characters")),
            None => Err("expected text".to_owned()),
        },
        ItemKind::Photo => {
            let ids: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            if ids.iter().all(|v| v.as_str().is_some_and(is_photo_id)) {
                Ok(())
            } else {
                Err("expected a photo id or an array of photo ids (64 lowercase hex)".to_owned())
            }
        }
    }
}

/// True when this answer raises a hazard: one of `raises_hazard_on` (for a multi_choice, any
/// chosen option in it), or a number outside `min..=max` when `raises_hazard_on_out_of_range`.
/// An answer that fails [`validate_answer`] raises nothing.
pub fn raises_hazard(item: &Item, value: &Value) -> bool {
    if value.is_null() || validate_answer(item, value).is_err() {
        return false;
    }
    let listed = |s: &str| item.raises_hazard_on.iter().any(|r| r == s);
    match item.kind {
        ItemKind::YesNo | ItemKind::YesNoNa | ItemKind::Choice => {
            value.as_str().is_some_and(listed)
        }
        ItemKind::MultiChoice => value
            .as_array()
            .is_some_and(|a| a.iter().filter_map(Value::as_str).any(listed)),
        ItemKind::Number => {
            item.raises_hazard_on_out_of_range
                && value.as_f64().is_some_and(|n| {
                    item.min.is_some_and(|min| n < min) || item.max.is_some_and(|max| n > max)
                })
        }
        ItemKind::Text | ItemKind::Photo => false,
    }
}

/// Keys of required items without an answer, in template order. Absent and `null` are
/// unanswered; so are blank text and a photo item with no photo. An empty multi_choice array
/// is an answer ("none of these").
pub fn missing_required(template: &Template, answers: &BTreeMap<String, Value>) -> Vec<String> {
    template
        .items()
        .filter(|item| item.required)
        .filter(|item| match answers.get(&item.key) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(Value::Array(a)) => item.kind == ItemKind::Photo && a.is_empty(),
            Some(_) => false,
        })
        .map(|item| item.key.clone())
        .collect()
}

fn quoted<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("{:?}", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}
