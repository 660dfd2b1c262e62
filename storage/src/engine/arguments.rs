//! Reading a mutation's JSON arguments: ids, text, times, GPS, photo ids, and a site the
//! caller may see. Each reader names the argument it refuses (`missing_fields` or `invalid`
//! with `field`), so a client learns exactly which one to fix.

use hazardloop_sync::MutationRejection;
use serde_json::{json, Value};

use super::{Ctx, Failure};
use crate::{sites, DbConn, StorageError};

/// Reads a required id argument.
pub(crate) fn id_arg(args: &Value, key: &str) -> Result<String, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Err(MutationRejection::missing(&[key]).into()),
        Some(Value::String(s)) => uuid::Uuid::parse_str(s)
            .map(|u| u.to_string())
            .map_err(|_| MutationRejection::invalid(key, "expected a UUID").into()),
        Some(_) => Err(MutationRejection::invalid(key, "expected a UUID as text").into()),
    }
}

/// Reads an optional id argument.
pub(crate) fn opt_id_arg(args: &Value, key: &str) -> Result<Option<String>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        _ => id_arg(args, key).map(Some),
    }
}

/// Reads an optional text argument (trimmed; over `max` characters is invalid).
pub(crate) fn text_arg(args: &Value, key: &str, max: usize) -> Result<Option<String>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(MutationRejection::invalid(key, format!("longer than {max} characters")).into())
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(MutationRejection::invalid(key, "expected text").into()),
    }
}

/// Reads an optional GPS argument `{lat, lon, accuracy_m?}`.
pub(crate) fn gps_arg(args: &Value, key: &str) -> Result<Option<String>, Failure> {
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
                _ => Err(MutationRejection::invalid(key, "expected {lat, lon} in degrees").into()),
            }
        }
        Some(_) => Err(MutationRejection::invalid(key, "expected {lat, lon}").into()),
    }
}

/// Reads an optional RFC 3339 time argument as unix ms.
pub(crate) fn time_arg(args: &Value, key: &str) -> Result<Option<i64>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => hazardloop_sync::timestamp::parse_rfc3339_ms(s)
            .map(Some)
            .map_err(|_| MutationRejection::invalid(key, "expected an RFC 3339 time").into()),
        Some(_) => Err(MutationRejection::invalid(key, "expected an RFC 3339 time as text").into()),
    }
}

/// Loads a site of the caller's organisation as a rejection-aware lookup; a site the caller may
/// not read is answered like one that does not exist.
pub(crate) fn site_arg(
    conn: &mut DbConn,
    ctx: &mut Ctx<'_>,
    args: &Value,
) -> Result<sites::Site, Failure> {
    let id = id_arg(args, "site_id")?;
    let visibility = ctx.visibility(conn)?;
    match ctx.site(conn, &id) {
        // A site the caller sees nothing of does not exist for them.
        Ok(s) if visibility.sees(&s) => Ok(s),
        Ok(_) | Err(StorageError::NotFound) => {
            Err(MutationRejection::invalid("site_id", format!("site {id} does not exist")).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads an optional array of photo ids.
pub(crate) fn photos_arg(args: &Value, key: &str) -> Result<Vec<String>, Failure> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_ascii_lowercase)
                    .filter(|s| hazardloop_sync::photo::is_photo_id(s))
                    .ok_or_else(|| {
                        MutationRejection::invalid(
                            key,
                            format!("{v} is not a photo id (64 hex digits of SHA-256)"),
                        )
                        .into()
                    })
            })
            .collect(),
        Some(_) => Err(MutationRejection::invalid(key, "expected an array of photo ids").into()),
    }
}
