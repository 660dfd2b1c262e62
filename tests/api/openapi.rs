//! `openapi.yaml` and the server's route table describe the same routes.

use std::collections::BTreeSet;

#[test]
fn openapi_lists_exactly_the_routes_the_server_serves() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("openapi.yaml parses");
    assert!(doc["openapi"]
        .as_str()
        .unwrap_or_default()
        .starts_with("3.1"));
    let mut spec = BTreeSet::new();
    for (p, item) in doc["paths"].as_mapping().expect("paths") {
        for (m, _) in item.as_mapping().expect("path item") {
            let m = m.as_str().unwrap().to_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&m.as_str()) {
                spec.insert((m, p.as_str().unwrap().to_string()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = hazardloop_api::routes::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&spec).collect();
    let extra: Vec<_> = spec.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "served but not in openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "in openapi.yaml but not served: {extra:?}"
    );
}

fn spec() -> serde_yaml::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("openapi.yaml");
    serde_yaml::from_str(&text).expect("openapi.yaml parses")
}

/// An operation's `security` in the words of `ROUTE_SCOPES`: `public` (no token), `person`
/// (a person's bearer token only), `any` (also any client token), or the one scope a client
/// token needs.
fn scope_of(security: &serde_yaml::Value) -> Result<String, String> {
    let reqs = security.as_sequence().ok_or("security is not a list")?;
    let mut anonymous = reqs.is_empty();
    let (mut bearer, mut oauth2) = (false, None);
    for req in reqs {
        let map = req.as_mapping().ok_or("a requirement is not a mapping")?;
        if map.is_empty() {
            anonymous = true;
        }
        for (name, scopes) in map {
            let scopes: Vec<String> = scopes
                .as_sequence()
                .ok_or("scopes are not a list")?
                .iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect();
            match name.as_str().unwrap_or_default() {
                // Client credentials as HTTP Basic, at the token endpoint.
                "clientBasic" => {}
                "bearer" if map.len() == 1 && scopes.is_empty() => bearer = true,
                "oauth2" if map.len() == 1 && oauth2.is_none() => oauth2 = Some(scopes),
                other => return Err(format!("unexpected requirement {other} {scopes:?}")),
            }
        }
    }
    match (anonymous, bearer, oauth2) {
        (true, false, None) => Ok("public".into()),
        (false, true, None) => Ok("person".into()),
        (false, true, Some(s)) if s.is_empty() => Ok("any".into()),
        (false, true, Some(s)) if s.len() == 1 => Ok(s[0].clone()),
        (a, b, o) => Err(format!(
            "not one of: [] (public), [bearer] (person), [bearer, oauth2: []] (any), \
             [bearer, oauth2: [scope]] (anonymous {a}, bearer {b}, oauth2 {o:?})"
        )),
    }
}

/// Every operation's security requirement in openapi.yaml says what `ROUTE_SCOPES` enforces, so
/// integrators can read off the scope each route needs; and the errors that go with it are listed.
#[test]
fn openapi_security_matches_the_scope_of_every_route() {
    let doc = spec();
    let declared: BTreeSet<String> = doc["components"]["securitySchemes"]["oauth2"]["flows"]
        ["clientCredentials"]["scopes"]
        .as_mapping()
        .expect("components.securitySchemes.oauth2.flows.clientCredentials.scopes")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let scopes: BTreeSet<String> = hazardloop_api::routes::SCOPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        declared, scopes,
        "the oauth2 scheme's scopes differ from routes::SCOPES"
    );
    let mut problems = Vec::new();
    for (method, path, scope) in hazardloop_api::routes::ROUTE_SCOPES {
        let op = &doc["paths"][*path][method.to_lowercase()];
        let Some(security) = op.get("security") else {
            problems.push(format!(
                "{method} {path}: no `security` (needs the one for {scope})"
            ));
            continue;
        };
        match scope_of(security) {
            Ok(s) if s == *scope => {}
            Ok(s) => problems.push(format!(
                "{method} {path}: openapi.yaml says {s}, the server enforces {scope}"
            )),
            Err(e) => problems.push(format!("{method} {path}: {e}")),
        }
        let has = |status: &str| op["responses"].get(status).is_some();
        if !matches!(*scope, "public" | "any") && !has("403") {
            problems.push(format!(
                "{method} {path}: no 403 (insufficient_scope for client tokens)"
            ));
        }
        if !matches!(*scope, "public" | "person") && !has("429") {
            problems.push(format!(
                "{method} {path}: no 429 (rate_limited for clients)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "openapi.yaml security disagrees with routes::ROUTE_SCOPES:\n{}",
        problems.join("\n")
    );
}
