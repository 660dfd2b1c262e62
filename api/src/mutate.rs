//! REST writes as mutations: each request becomes a group of mutations applied by the storage
//! engine in one transaction, and a refusal becomes a problem+json answer.

use actix_web::HttpRequest;
use hazardloop_storage::engine::{self, Applied};
use hazardloop_sync::Mutation;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;

/// A REST mutation with a fresh id.
pub fn mutation(name: &str, args: Value, base_version: Option<i64>) -> Mutation {
    Mutation {
        id: uuid::Uuid::now_v7(),
        name: name.to_string(),
        args,
        base_version,
        hlc: None,
        device_time: None,
        seq: None,
        group: None,
    }
}

/// The version an `If-Match` header names (`"3"`, `W/"3"`); `*` or none: no check. A
/// malformed header is a 400.
pub fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(raw) = req.headers().get(actix_web::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_if_match",
                "If-Match must be an ETag from this API, e.g. \"3\"",
            )
        })
}

/// The `Idempotency-Key` of a REST write, if the client sent one.
#[derive(Debug, Clone, Default)]
pub struct Idempotency(pub Option<String>);

impl actix_web::FromRequest for Idempotency {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let key = match req.headers().get("idempotency-key") {
            None => Ok(Idempotency(None)),
            Some(v) => match v.to_str() {
                Ok(k)
                    if !k.is_empty()
                        && k.len() <= 255
                        && k.bytes().all(|b| b.is_ascii_graphic()) =>
                {
                    Ok(Idempotency(Some(k.to_string())))
                }
                _ => Err(ApiError::bad_request(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                )),
            },
        };
        std::future::ready(key)
    }
}

/// The header set on a response that repeats a stored answer.
pub const REPLAYED: (&str, &str) = ("idempotent-replayed", "true");

/// Applies `mutations` for the signed-in user, all or nothing, exactly once per
/// `Idempotency-Key`; returns the outcomes and whether they are a stored answer.
pub async fn run_keyed(
    state: &AppState,
    auth: &AuthedUser,
    mutations: Vec<Mutation>,
    idem: &Idempotency,
) -> Result<(Vec<Applied>, bool), ApiError> {
    use sha2::Digest;
    let crate::auth::Acting { caller, settings } = auth.acting(state);
    let key = idem.0.as_ref().map(|k| {
        let content: Vec<Value> = mutations
            .iter()
            .map(|m| json!([m.name, m.args, m.base_version]))
            .collect();
        engine::IdempotencyKey {
            key: k.clone(),
            request_hash: hex::encode(sha2::Sha256::digest(Value::Array(content).to_string())),
            ttl_ms: state.config.idempotency_ttl_secs * 1000,
        }
    });
    let answer = state
        .db
        .write(move |c| engine::run_group_once(c, &caller, &mutations, settings, key.as_ref()))
        .await
        .map_err(|e| match e {
            hazardloop_storage::StorageError::Conflict(_) => ApiError::conflict(
                "idempotency_in_progress",
                "another request with this Idempotency-Key is being processed; retry",
            ),
            other => other.into(),
        })?
        .map_err(|_| {
            ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            )
        })?;
    let replayed = answer.replayed;
    answer.outcome.map(|a| (a, replayed)).map_err(|(_, r)| {
        let mut e = ApiError::from(r);
        if replayed {
            e.headers.push(REPLAYED);
        }
        e
    })
}

/// [`run_keyed`] for one mutation.
pub async fn run_one_keyed(
    state: &AppState,
    auth: &AuthedUser,
    m: Mutation,
    idem: &Idempotency,
) -> Result<(Applied, bool), ApiError> {
    let (applied, replayed) = run_keyed(state, auth, vec![m], idem).await?;
    let first = applied
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("a mutation produced no outcome"))?;
    Ok((first, replayed))
}

/// Applies `mutations` for the signed-in user, all or nothing.
pub async fn run(
    state: &AppState,
    auth: &AuthedUser,
    mutations: Vec<Mutation>,
) -> Result<Vec<Applied>, ApiError> {
    let crate::auth::Acting { caller, settings } = auth.acting(state);
    let outcome = state
        .db
        .write(move |c| engine::run_group(c, &caller, &mutations, settings))
        .await?;
    outcome.map_err(|(_, r)| r.into())
}

/// Applies one mutation and returns what it did.
pub async fn run_one(
    state: &AppState,
    auth: &AuthedUser,
    m: Mutation,
) -> Result<Applied, ApiError> {
    run(state, auth, vec![m])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("a mutation produced no outcome"))
}

/// Merges path parameters into JSON arguments.
pub fn with_args(body: Value, extra: &[(&str, Value)]) -> Result<Value, ApiError> {
    let mut obj = match body {
        Value::Object(o) => o,
        Value::Null => serde_json::Map::new(),
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_body",
                "the body must be a JSON object",
            ))
        }
    };
    for (k, v) in extra {
        obj.insert(k.to_string(), v.clone());
    }
    Ok(Value::Object(obj))
}

/// `{"status": ..., ...}` for an applied mutation.
pub fn applied_json(a: &Applied) -> Value {
    json!({
        "status": if a.lost.is_empty() { "applied" } else { "merged" },
        "lost": a.lost,
    })
}

/// A JSON body that may be empty (commands without arguments): empty is `null`.
pub fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
    })
}

/// Marks a response that repeats a stored idempotent answer.
pub fn mark_replayed(mut res: actix_web::HttpResponse, replayed: bool) -> actix_web::HttpResponse {
    if replayed {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static(REPLAYED.0),
            actix_web::http::header::HeaderValue::from_static(REPLAYED.1),
        );
    }
    res
}
