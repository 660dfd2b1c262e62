//! The tus 1.0.0 protocol's headers: version negotiation, `Upload-Metadata`,
//! `Upload-Checksum`, and the `Tus-Resumable` header every upload response carries.
//! <https://tus.io/protocols/resumable-upload>

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest};
use base64::Engine;
use hazardloop_storage::photos::ChunkChecksum;

use crate::error::ApiError;

/// The only protocol version served.
pub const VERSION: &str = "1.0.0";
/// Extensions served.
pub const EXTENSIONS: &str = "creation,termination,checksum,expiration";
/// Checksum algorithms accepted in `Upload-Checksum`.
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The media type of PATCH bodies.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// The path prefix of the upload endpoints.
pub const PREFIX: &str = "/v1/uploads";

/// Middleware: every response under [`PREFIX`] carries `Tus-Resumable`, errors included.
pub async fn resumable_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let tus = req.path() == PREFIX || req.path().starts_with("/v1/uploads/");
    let mut res = next.call(req).await?;
    if tus {
        res.headers_mut().insert(
            HeaderName::from_static("tus-resumable"),
            HeaderValue::from_static(VERSION),
        );
    }
    Ok(res)
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Every request but OPTIONS must speak our version; otherwise 412 naming the one we speak.
pub fn check_version(req: &HttpRequest) -> Result<(), ApiError> {
    match header(req, "tus-resumable") {
        Some(VERSION) => Ok(()),
        other => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version_unsupported",
            format!(
                "send Tus-Resumable: {VERSION} (got {})",
                other.unwrap_or("nothing")
            ),
        )
        .with("tus_version", serde_json::json!(VERSION))),
    }
}

/// A non-negative integer header, required.
pub fn number(req: &HttpRequest, name: &'static str) -> Result<i64, ApiError> {
    let raw = header(req, name).ok_or_else(|| {
        ApiError::bad_request("missing_header", format!("the {name} header is required"))
    })?;
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_header",
                format!("{name} must be a non-negative integer"),
            )
        })
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
pub fn metadata(raw: &str) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let bad = |why: String| ApiError::bad_request("invalid_upload_metadata", why);
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ').filter(|p| !p.is_empty());
        let key = parts.next().unwrap_or_default().to_string();
        let value = match parts.next() {
            None => None,
            Some(v) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|_| bad(format!("the value of {key} is not base64")))?;
                Some(
                    String::from_utf8(bytes)
                        .map_err(|_| bad(format!("the value of {key} is not UTF-8")))?,
                )
            }
        };
        if parts.next().is_some() || out.iter().any(|(k, _)| *k == key) {
            return Err(bad(format!("malformed or repeated key {key}")));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
pub fn checksum(req: &HttpRequest) -> Result<Option<ChunkChecksum>, ApiError> {
    let Some(raw) = header(req, "upload-checksum") else {
        return Ok(None);
    };
    let (algorithm, digest) = raw.trim().split_once(' ').ok_or_else(|| {
        ApiError::bad_request(
            "invalid_header",
            "Upload-Checksum is <algorithm> <base64 digest>",
        )
    })?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| ApiError::bad_request("invalid_header", "the checksum is not base64"))?;
    match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => Ok(Some(ChunkChecksum::Sha1(digest))),
        "sha256" => Ok(Some(ChunkChecksum::Sha256(digest))),
        other => Err(ApiError::bad_request(
            "checksum_algorithm_unsupported",
            format!(
                "checksum algorithm {other} is not supported; use one of {CHECKSUM_ALGORITHMS}"
            ),
        )),
    }
}

/// An HTTP date (IMF-fixdate) for `Upload-Expires`.
pub fn http_date(unix_ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(unix_ms.max(0) as u64);
    actix_web::http::header::HttpDate::from(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs() {
        let m = metadata("sha256 YWJj,filename cGhvdG8uanBn, is_confidential").expect("parse");
        assert_eq!(
            m,
            vec![
                ("sha256".to_string(), Some("abc".to_string())),
                ("filename".to_string(), Some("photo.jpg".to_string())),
                ("is_confidential".to_string(), None),
            ]
        );
        assert!(metadata("a !!!").is_err());
        assert!(metadata("a YQ==,a YQ==").is_err());
        assert!(metadata("").expect("empty").is_empty());
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
