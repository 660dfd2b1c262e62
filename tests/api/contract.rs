//! The responses the suite receives are checked against `openapi.yaml`: the status must be one
//! the operation lists, the content type one the spec declares for that status, and a JSON body
//! must match the declared schema (OpenAPI 3.1 schemas are JSON Schema 2020-12; the whole spec
//! is one resource, so `#/components/...` references resolve). The request helpers in
//! `helpers.rs` pass every response through [`checked`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// The spec's URI as a JSON Schema resource.
const SPEC_URI: &str = "urn:hazardloop:openapi";

struct Contract {
    doc: Value,
    registry: jsonschema::Registry<'static>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("openapi.yaml");
        let doc: Value = serde_yaml::from_str(&text).expect("openapi.yaml parses");
        let registry = jsonschema::Registry::new()
            .add(
                SPEC_URI,
                jsonschema::Draft::Draft202012.create_resource(doc.clone()),
            )
            .and_then(|b| b.prepare())
            .expect("openapi.yaml as a JSON Schema resource");
        Contract {
            doc,
            registry,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// A JSON pointer token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer as a URI fragment.
fn fragment(pointer: &str) -> String {
    let mut out = String::new();
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn validator(pointer: &str) -> Arc<jsonschema::Validator> {
    let c = contract();
    let mut cache = c.validators.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pointer.to_string())
        .or_insert_with(|| {
            let schema = serde_json::json!({"$ref": format!("{SPEC_URI}#{}", fragment(pointer))});
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .with_registry(&c.registry)
                .should_validate_formats(true)
                .build(&schema)
                .unwrap_or_else(|e| {
                    panic!("openapi.yaml: schema at {pointer} does not compile: {e}")
                });
            Arc::new(v)
        })
        .clone()
}

/// The route template (`/v1/hazards/{id}`) of `method` and a concrete path, the first in the
/// server's route table as actix tries them; `None` when no route of that method matches.
pub fn template_of(method: &str, path: &str) -> Option<&'static str> {
    let matches = |template: &str| {
        let (t, p): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        t.len() == p.len()
            && t.iter().zip(&p).all(|(t, p)| {
                if t.starts_with('{') && t.ends_with('}') {
                    !p.is_empty()
                } else {
                    t == p
                }
            })
    };
    hazardloop_api::routes::ROUTES
        .iter()
        .find(|(m, t)| *m == method && matches(t))
        .map(|(_, t)| *t)
        .or_else(|| {
            // Another method on a known path (405), or an unknown path (404): no operation.
            hazardloop_api::routes::ROUTES
                .iter()
                .any(|(_, t)| matches(t))
                .then_some("")
        })
}

/// Follows a `$ref` to `#/components/...`; returns the pointer and the object.
fn deref<'a>(doc: &'a Value, pointer: String, v: &'a Value) -> (String, &'a Value) {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("openapi.yaml: external $ref {r}"));
            let found = doc
                .pointer(target)
                .unwrap_or_else(|| panic!("openapi.yaml: dangling $ref {r}"));
            deref(doc, target.to_string(), found)
        }
        None => (pointer, v),
    }
}

/// Checks one response against the spec; `Err` explains the mismatch.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let c = contract();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let what = format!("{method} {path} answered {status}");
    let shown = || {
        let text = String::from_utf8_lossy(body);
        let mut t: String = text.chars().take(2000).collect();
        if text.chars().count() > 2000 {
            t.push('…');
        }
        t
    };
    let ct = content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|ct| !ct.is_empty());
    // No operation: an unknown path (404 `route_not_found`) or another method (405); both are
    // problem+json.
    let (schema_pointer, ct) = match template_of(method, path) {
        None | Some("") => {
            let expected = if template_of(method, path).is_none() {
                404
            } else {
                405
            };
            if status != expected {
                return Err(format!(
                    "{what}, but openapi.yaml has no operation {method} for this path (expected {expected})"
                ));
            }
            if ct.as_deref() != Some("application/problem+json") {
                return Err(format!(
                    "{what} with content type {ct:?}, not application/problem+json"
                ));
            }
            if method == "HEAD" {
                // A HEAD answer carries the headers of the GET answer and no body.
                return Ok(());
            }
            (
                "/components/schemas/Problem".to_string(),
                ct.unwrap_or_default(),
            )
        }
        Some(template) => {
            let op_pointer = format!("/paths/{}/{}", escape(template), method.to_lowercase());
            let op = c.doc.pointer(&op_pointer).ok_or_else(|| {
                format!("{what}: openapi.yaml has no operation {method} {template}")
            })?;
            let code = status.to_string();
            let range = format!("{}XX", status / 100);
            let Some(key) = [code.as_str(), range.as_str(), "default"]
                .into_iter()
                .find(|k| op["responses"].get(*k).is_some())
            else {
                let listed: Vec<&String> = op["responses"]
                    .as_object()
                    .map(|o| o.keys().collect())
                    .unwrap_or_default();
                return Err(format!(
                    "{what}: openapi.yaml does not list {status} for {method} {template} (it lists {listed:?}); body: {}",
                    shown()
                ));
            };
            if method == "HEAD" {
                // A HEAD answer carries the headers of the GET answer and no body.
                return Ok(());
            }
            let (resp_pointer, resp) = deref(
                &c.doc,
                format!("{op_pointer}/responses/{key}"),
                &op["responses"][key],
            );
            let Some(content) = resp.get("content").and_then(Value::as_object) else {
                if body.is_empty() {
                    return Ok(());
                }
                return Err(format!(
                    "{what}: openapi.yaml declares no body for {method} {template} {key}, but one came ({ct:?}): {}",
                    shown()
                ));
            };
            let Some(ct) = ct else {
                return Err(format!(
                    "{what} without a content type; openapi.yaml declares {:?}",
                    content.keys().collect::<Vec<_>>()
                ));
            };
            if !content.contains_key(&ct) {
                return Err(format!(
                    "{what} as {ct}; openapi.yaml declares {:?} for {method} {template} {key}: {}",
                    content.keys().collect::<Vec<_>>(),
                    shown()
                ));
            }
            if content[&ct].get("schema").is_none() {
                return Ok(());
            }
            (format!("{resp_pointer}/content/{}/schema", escape(&ct)), ct)
        }
    };
    if !(ct == "application/json" || ct.ends_with("+json")) {
        return Ok(());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "{what} as {ct}, but the body is not JSON ({e}): {}",
            shown()
        )
    })?;
    let v = validator(&schema_pointer);
    let errors: Vec<String> = v
        .iter_errors(&value)
        .take(20)
        .map(|e| format!("  at {:?}: {e}", e.instance_path().to_string()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{what}: the body breaks openapi.yaml's schema at {schema_pointer}:\n{}\nbody: {}",
            errors.join("\n"),
            shown()
        ))
    }
}

/// Reads the response, checks it against the spec (panicking with the mismatch), and hands
/// back an equivalent response for the test to use.
pub async fn checked(method: &str, path: &str, res: reqwest::Response) -> reqwest::Response {
    let status = res.status();
    let version = res.version();
    let headers = res.headers().clone();
    let body = res.bytes().await.expect("response body");
    let ct = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Err(e) = check(method, path, status.as_u16(), ct, &body) {
        panic!("response does not match openapi.yaml: {e}");
    }
    let mut rebuilt = http::Response::builder().status(status).version(version);
    if let Some(h) = rebuilt.headers_mut() {
        *h = headers;
    }
    reqwest::Response::from(rebuilt.body(body.to_vec()).expect("rebuilt response"))
}

/// `.send_checked()` in place of `.send()` for requests the helpers do not make: the response
/// is checked against the spec in the same way.
pub trait SendChecked {
    fn send_checked(
        self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send>,
    >;
}

impl SendChecked for reqwest::RequestBuilder {
    fn send_checked(
        self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send>,
    > {
        Box::pin(async move {
            let (client, req) = self.build_split();
            let req = req?;
            let method = req.method().as_str().to_string();
            let path = req.url().path().to_string();
            let res = client.execute(req).await?;
            Ok(checked(&method, &path, res).await)
        })
    }
}

#[test]
fn route_templates_follow_the_route_table() {
    assert_eq!(
        template_of("GET", "/v1/hazards/export"),
        Some("/v1/hazards/export")
    );
    assert_eq!(
        template_of("GET", "/v1/hazards/abc"),
        Some("/v1/hazards/{id}")
    );
    assert_eq!(
        template_of("POST", "/v1/hazards/abc/verify"),
        Some("/v1/hazards/{id}/verify")
    );
    assert_eq!(template_of("PUT", "/v1/hazards"), Some(""));
    assert_eq!(template_of("GET", "/v1/nothing"), None);
}

#[test]
fn a_body_that_breaks_its_schema_is_reported() {
    let ok = br#"{"status":"ok"}"#;
    assert!(check("GET", "/healthz", 200, Some("application/json"), ok).is_ok());
    let err = check(
        "GET",
        "/healthz",
        200,
        Some("application/json"),
        br#"{"status":1}"#,
    )
    .unwrap_err();
    assert!(err.contains("/status"), "{err}");
    let err = check("GET", "/healthz", 418, Some("application/json"), ok).unwrap_err();
    assert!(err.contains("does not list 418"), "{err}");
    let err = check("GET", "/healthz", 200, Some("text/html"), ok).unwrap_err();
    assert!(err.contains("text/html"), "{err}");
    // Formats are checked, and `$ref`s into components resolve.
    let site = |id: &str| {
        serde_json::json!({"id": id, "org_id": "0190f5a2-7c1e-7d3a-9f00-1a2b3c4d5e6f",
            "parent_id": null, "name": "Plant", "kind": "plant", "ancestors": [],
            "latitude": null, "longitude": null, "radius_m": null,
            "created_at": "2026-06-01T01:00:00.000Z", "subtree": []})
        .to_string()
    };
    let good = site("0190f5a2-7c1e-7d3a-9f00-1a2b3c4d5e6f");
    let path = "/v1/sites/0190f5a2-7c1e-7d3a-9f00-1a2b3c4d5e6f";
    assert!(check("GET", path, 200, Some("application/json"), good.as_bytes()).is_ok());
    let bad = site("not-a-uuid");
    let err = check("GET", path, 200, Some("application/json"), bad.as_bytes()).unwrap_err();
    assert!(err.contains("/id") && err.contains("uuid"), "{err}");
    // No operation for the method: only 405 fits.
    let problem = br#"{"type":"urn:hazardloop:problem:method_not_allowed","title":"Method Not Allowed","status":405,"code":"method_not_allowed","detail":"no"}"#;
    let ct = Some("application/problem+json");
    assert!(check("PUT", "/v1/hazards", 405, ct, problem).is_ok());
    assert!(check("PUT", "/v1/hazards", 200, ct, problem).is_err());
}
