//! The one error type at the HTTP edge. Every error body is RFC 9457 `application/problem+json`
//! with a stable snake_case `code`; the status map lives in one `impl ResponseError`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use hazardloop_media::Rejection as ImageRejection;
use hazardloop_storage::blob::BlobError;
use hazardloop_storage::photos::PhotoError;
use hazardloop_storage::StorageError;
use hazardloop_sync::{MutationRejection, RejectionCode};
use serde_json::{json, Map, Value};

/// A problem to report to the client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `invalid_credentials`.
    pub code: &'static str,
    /// Human-readable explanation of this occurrence.
    pub detail: String,
    /// Extra members merged into the problem object (e.g. `fields`, `state`).
    pub extra: Map<String, Value>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
    /// Further response headers.
    pub headers: Vec<(&'static str, &'static str)>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.detail
        )
    }
}

impl ApiError {
    /// A problem with any status and code.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
            headers: Vec::new(),
        }
    }

    /// Adds a member to the problem object.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// 400 with a code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401: no or bad credentials.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// 403: signed in, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404: absent, or another organisation's.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// 409 with a code.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422: well-formed but invalid input.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 422 naming the missing or invalid fields.
    pub fn invalid_fields(fields: &[&str], detail: impl Into<String>) -> Self {
        Self::unprocessable("validation_failed", detail).with("fields", json!(fields))
    }

    /// 503 for transient failures.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        e.retry_after = Some(1);
        e
    }

    /// 500; the detail is logged, never sent.
    pub fn internal(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server could not complete the request",
        )
    }

    /// The problem+json body.
    pub fn body(&self) -> Value {
        let mut obj = Map::new();
        obj.insert(
            "type".into(),
            json!(format!("urn:hazardloop:problem:{}", self.code)),
        );
        obj.insert(
            "title".into(),
            json!(self.status.canonical_reason().unwrap_or(
                if self.status.as_u16() == CHECKSUM_MISMATCH {
                    "Checksum Mismatch"
                } else {
                    "Error"
                }
            )),
        );
        obj.insert("status".into(), json!(self.status.as_u16()));
        obj.insert("code".into(), json!(self.code));
        obj.insert("detail".into(), json!(self.detail));
        for (k, v) in &self.extra {
            obj.insert(k.clone(), v.clone());
        }
        Value::Object(obj)
    }
}

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        for (name, value) in &self.headers {
            res.insert_header((*name, *value));
        }
        let challenged = self
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("www-authenticate"));
        if self.status == StatusCode::UNAUTHORIZED && !challenged {
            res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        res.body(self.body().to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ApiError::not_found(),
            StorageError::Conflict(m) => ApiError::conflict("conflict", m),
            StorageError::Invalid(m) => ApiError::unprocessable("validation_failed", m),
            StorageError::Unavailable(m) => {
                // Per request at DEBUG: the pool logs an outage once at ERROR when it starts and
                // again when it ends, and the 503s are counted in the metrics.
                tracing::debug!(error = %m, "database unavailable");
                ApiError::unavailable("the database is unavailable; retry shortly")
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// The HTTP status of each rejection code (the body's `code` is the rejection's own).
pub fn rejection_status(code: RejectionCode) -> StatusCode {
    match code {
        RejectionCode::Forbidden => StatusCode::FORBIDDEN,
        RejectionCode::NotFound => StatusCode::NOT_FOUND,
        RejectionCode::InvalidTransition | RejectionCode::AlreadyExists => StatusCode::CONFLICT,
        RejectionCode::VersionMismatch => StatusCode::PRECONDITION_FAILED,
        RejectionCode::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
        RejectionCode::UnknownMutation => StatusCode::BAD_REQUEST,
        RejectionCode::MissingFields
        | RejectionCode::Invalid
        | RejectionCode::GroupFailed
        | RejectionCode::SeqReused => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<MutationRejection> for ApiError {
    /// A refused mutation as a problem: its details become members (but the group `index`),
    /// and its `current` state too. `not_found` says no more than a missing resource does.
    fn from(r: MutationRejection) -> Self {
        if r.code == RejectionCode::NotFound {
            return ApiError::not_found();
        }
        let mut e = ApiError::new(rejection_status(r.code), r.code.as_str(), r.message);
        if let Value::Object(details) = r.details {
            for (k, v) in details {
                if k != "index" {
                    e = e.with(&k, v);
                }
            }
        }
        if let Some(current) = r.current {
            e = e.with("current", current);
        }
        e
    }
}

/// The tus checksum extension's status for a chunk that does not match its checksum.
pub const CHECKSUM_MISMATCH: u16 = 460;

impl From<ImageRejection> for ApiError {
    fn from(r: ImageRejection) -> Self {
        let detail = r.to_string();
        match r {
            ImageRejection::Empty => ApiError::unprocessable("empty_photo", detail),
            ImageRejection::NotAnImage => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_an_image", detail)
            }
            ImageRejection::Unsupported(format) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_image_format",
                detail,
            )
            .with("format", json!(format.name())),
            ImageRejection::Truncated(_) => ApiError::unprocessable("truncated_image", detail),
            ImageRejection::TooLarge {
                width,
                height,
                max_width,
                max_height,
                max_pixels,
            } => ApiError::unprocessable("image_too_large", detail)
                .with("width", json!(width))
                .with("height", json!(height))
                .with("max_width", json!(max_width))
                .with("max_height", json!(max_height))
                .with("max_pixels", json!(max_pixels)),
            ImageRejection::Corrupt(_) => ApiError::unprocessable("corrupt_image", detail),
        }
    }
}

impl From<PhotoError> for ApiError {
    fn from(e: PhotoError) -> Self {
        let detail = e.to_string();
        match e {
            PhotoError::Rejected(r) => r.into(),
            PhotoError::HashMismatch { actual, .. } => {
                ApiError::unprocessable("hash_mismatch", detail)
                    .with("actual_sha256", json!(actual))
            }
            PhotoError::TooLarge { max } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail)
                    .with("max_bytes", json!(max))
            }
            PhotoError::NotFound => ApiError::not_found(),
            PhotoError::Pending => ApiError::conflict("photo_pending", detail),
            PhotoError::NotReady => {
                let mut e = ApiError::conflict("rendition_not_ready", detail);
                e.retry_after = Some(2);
                e
            }
            PhotoError::Unrenderable => ApiError::conflict("rendition_failed", detail),
            PhotoError::BodyBroken(_) => ApiError::bad_request("body_incomplete", detail),
            PhotoError::OffsetMismatch { offset } => {
                ApiError::conflict("offset_mismatch", detail).with("offset", json!(offset))
            }
            PhotoError::Locked => {
                let mut e = ApiError::new(StatusCode::LOCKED, "upload_locked", detail);
                e.retry_after = Some(1);
                e
            }
            PhotoError::ChecksumMismatch => ApiError::new(
                StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
                "checksum_mismatch",
                detail,
            ),
            PhotoError::BeyondLength { length } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload_length_exceeded",
                detail,
            )
            .with("max_bytes", json!(length)),
            PhotoError::Storage(e) => e.into(),
            PhotoError::Blob(BlobError::Config(m)) => ApiError::internal(m),
            PhotoError::Blob(e) => {
                tracing::warn!(error = %e, "blob store failure");
                let mut api = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "blob_store_unavailable",
                    "photo storage is unavailable; retry shortly",
                );
                api.retry_after = Some(1);
                api
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_json_shape_is_pinned() {
        let e = ApiError::invalid_fields(&["title"], "title is required");
        assert_eq!(
            e.body(),
            json!({
                "type": "urn:hazardloop:problem:validation_failed",
                "title": "Unprocessable Entity",
                "status": 422,
                "code": "validation_failed",
                "detail": "title is required",
                "fields": ["title"]
            })
        );
        assert_eq!(ApiError::not_found().body()["code"], "not_found");
        assert_eq!(ApiError::not_found().status_code(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn photo_refusals_have_stable_codes() {
        let e: ApiError = PhotoError::Rejected(ImageRejection::NotAnImage).into();
        assert_eq!((e.status.as_u16(), e.code), (415, "not_an_image"));
        let e: ApiError = PhotoError::Rejected(ImageRejection::Empty).into();
        assert_eq!((e.status.as_u16(), e.code), (422, "empty_photo"));
        let e: ApiError =
            PhotoError::Rejected(ImageRejection::Truncated(hazardloop_media::Format::Jpeg)).into();
        assert_eq!((e.status.as_u16(), e.code), (422, "truncated_image"));
        let e: ApiError = PhotoError::ChecksumMismatch.into();
        assert_eq!((e.status.as_u16(), e.code), (460, "checksum_mismatch"));
        let e: ApiError = PhotoError::NotReady.into();
        assert_eq!(e.body()["code"], "rendition_not_ready");
        assert_eq!(e.retry_after, Some(2));
        let e: ApiError = PhotoError::TooLarge { max: 10 }.into();
        assert_eq!(e.body()["max_bytes"], 10);
    }

    #[test]
    fn rejections_map_to_statuses() {
        let cases = [
            (RejectionCode::Forbidden, 403, "forbidden"),
            (RejectionCode::NotFound, 404, "not_found"),
            (RejectionCode::InvalidTransition, 409, "invalid_transition"),
            (RejectionCode::AlreadyExists, 409, "already_exists"),
            (RejectionCode::VersionMismatch, 412, "version_mismatch"),
            (
                RejectionCode::PreconditionRequired,
                428,
                "precondition_required",
            ),
            (RejectionCode::MissingFields, 422, "missing_fields"),
            (RejectionCode::Invalid, 422, "invalid"),
            (RejectionCode::UnknownMutation, 400, "unknown_mutation"),
        ];
        for (code, status, text) in cases {
            let e: ApiError =
                MutationRejection::new(code, "m", json!({"field": "x", "index": 0})).into();
            assert_eq!((e.status.as_u16(), e.code), (status, text));
            if code != RejectionCode::NotFound {
                assert_eq!(e.body()["field"], "x");
                assert!(e.body().get("index").is_none());
            }
        }
        let e: ApiError = MutationRejection::not_found("hazard", "h").into();
        assert_eq!(e.body(), ApiError::not_found().body());
    }

    #[test]
    fn storage_errors_map_to_statuses() {
        let e: ApiError = StorageError::Unavailable("gone".into()).into();
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after, Some(1));
        let e: ApiError = StorageError::Conflict("dup".into()).into();
        assert_eq!(e.status, StatusCode::CONFLICT);
        let e: ApiError = StorageError::NotFound.into();
        assert_eq!(e.code, "not_found");
    }
}
