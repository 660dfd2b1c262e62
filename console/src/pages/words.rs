//! A refusal from the API's code in the person's words: one catalog message per stable code,
//! the fields it names as their labels. Never a raw code.

use hazardloop_api::ApiError;
use serde_json::Value;

use crate::visitor::Ctx;

/// The label of an argument (`five.funds` → the 五落实 funds label).
pub fn arg_label(ctx: &Ctx, field: &str) -> String {
    let key = format!("arg-{}", field.replace('.', "-"));
    let words = ctx.t(&key);
    if words == key {
        field.replace(['.', '_'], " ")
    } else {
        words
    }
}

/// The argument names an error reports missing (`fields`).
pub fn missing_fields(e: &ApiError) -> Vec<String> {
    e.extra
        .get("fields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The argument an error reports invalid (`field`).
pub fn invalid_field(e: &ApiError) -> Option<String> {
    e.extra
        .get("field")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Why it was refused, in words.
pub fn refusal_words(ctx: &Ctx, e: &ApiError) -> String {
    match e.code {
        "missing_fields" => {
            let names: Vec<String> = missing_fields(e)
                .iter()
                .map(|f| arg_label(ctx, f))
                .collect();
            format!("{} ({})", ctx.t("rej-missing_fields"), names.join(", "))
        }
        "invalid" | "invalid_fields" => {
            let detail = match invalid_field(e) {
                Some(f) => format!("{} — {}", arg_label(ctx, &f), e.detail),
                None => e.detail.clone(),
            };
            ctx.tr("rej-invalid", &[("detail", &detail)])
        }
        "already_resolved" => ctx.t("conflict-already-resolved"),
        "not_found" => ctx.t("rej-not_found"),
        code @ ("forbidden"
        | "invalid_transition"
        | "version_mismatch"
        | "precondition_required"
        | "already_exists") => ctx.t(&format!("rej-{code}")),
        _ => ctx.tr("rej-unknown", &[("detail", &e.detail)]),
    }
}
