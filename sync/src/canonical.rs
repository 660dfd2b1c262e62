//! Canonical JSON: one byte string per JSON value, whatever order its keys were built in.
//! Used wherever content is hashed (audit chain, template versions), so it must never depend
//! on how `serde_json` happens to order maps in a given build.

use serde_json::Value;

/// The value as compact JSON with every object's keys sorted by their UTF-8 bytes,
/// recursively, and no whitespace. Strings and numbers are written as `serde_json` writes them.
pub fn to_canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(v, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // serde_json's escaping of a plain string is deterministic and cannot fail.
    match serde_json::to_string(s) {
        Ok(quoted) => out.extend_from_slice(quoted.as_bytes()),
        Err(_) => out.extend_from_slice(b"\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_recursively_without_whitespace() {
        let v = json!({"b": 1, "a": {"z": [1, {"y": null, "x": true}], "c": "é\n\""}});
        assert_eq!(
            String::from_utf8(to_canonical_json(&v)).unwrap(),
            r#"{"a":{"c":"é\n\"","z":[1,{"x":true,"y":null}]},"b":1}"#
        );
    }

    #[test]
    fn same_content_same_bytes() {
        let a: Value = serde_json::from_str(r#"{"x": 1.5, "y": [ "a" ], "n": -3}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"n":-3,"y":["a"],"x":1.5}"#).unwrap();
        assert_eq!(to_canonical_json(&a), to_canonical_json(&b));
    }
}
