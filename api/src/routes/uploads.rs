//! Resumable uploads with tus 1.0.0 (core, creation, checksum, termination, expiration) at
//! `/v1/uploads`, for phones on weak networks: an upload that breaks at 90% resumes at 90%.
//! The upload's state lives in the database, so any node can take the next chunk.
//! `Upload-Metadata` must carry `sha256` (the photo id, hex); `filename` and `filetype` are
//! kept as sent. The PATCH that completes an upload answers with the photo id in `Photo-Id`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_storage::photos::{self, NewUpload, Uploader};
use hazardloop_storage::uploads::Upload;

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::parse_id;
use crate::routes::tus::{self, check_version};

fn uploader(auth: AuthedUser) -> Uploader {
    Uploader {
        org_id: auth.org_id,
        user_id: auth.user_id,
    }
}

fn upload_url(id: &str) -> String {
    format!("{}/{id}", tus::PREFIX)
}

/// `OPTIONS /v1/uploads`: what this server speaks.
pub async fn options(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("tus-version", tus::VERSION))
        .insert_header(("tus-extension", tus::EXTENSIONS))
        .insert_header(("tus-checksum-algorithm", tus::CHECKSUM_ALGORITHMS))
        .insert_header((
            "tus-max-size",
            state.photos.settings().max_bytes.to_string(),
        ))
        .finish()
}

/// `POST /v1/uploads`: creates an upload of `Upload-Length` bytes for the photo named by the
/// `sha256` metadata.
pub async fn create(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    if req.headers().contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            "defer_length_unsupported",
            "send Upload-Length: the length of a photo is known before it is sent",
        ));
    }
    let length = tus::number(&req, "upload-length")?;
    let raw_metadata = req
        .headers()
        .get("upload-metadata")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if raw_metadata.len() > 4096 {
        return Err(ApiError::bad_request(
            "invalid_upload_metadata",
            "Upload-Metadata is limited to 4096 bytes",
        ));
    }
    let metadata = tus::metadata(&raw_metadata)?;
    let sha256 = metadata
        .iter()
        .find(|(k, _)| k == "sha256")
        .and_then(|(_, v)| v.as_deref())
        .and_then(photos::parse_sha256)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_upload_metadata",
                "Upload-Metadata must carry sha256: the photo's SHA-256 in hex, base64-encoded as tus requires",
            )
        })?;
    let upload = state
        .photos
        .create_upload(
            &uploader(auth),
            NewUpload {
                sha256,
                length,
                metadata: raw_metadata,
            },
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, upload_url(&upload.id)))
        .insert_header(("upload-expires", tus::http_date(upload.expires_at)))
        .finish())
}

fn photo_headers(res: &mut actix_web::HttpResponseBuilder, sha256: &str) {
    res.insert_header(("photo-id", sha256.to_string()))
        .insert_header((header::CONTENT_LOCATION, format!("/v1/photos/{sha256}")));
}

/// `HEAD /v1/uploads/{id}`: the offset to resume from.
pub async fn head(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    let id = parse_id(&path)?;
    let upload: Upload = state.photos.upload(&uploader(auth), &id).await?;
    let mut res = HttpResponse::Ok();
    res.insert_header(("upload-offset", upload.received.to_string()))
        .insert_header(("upload-length", upload.length.to_string()))
        .insert_header(("upload-expires", tus::http_date(upload.expires_at)))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if !upload.metadata.is_empty() {
        res.insert_header(("upload-metadata", upload.metadata.clone()));
    }
    if upload.completed_at.is_some() {
        photo_headers(&mut res, &upload.sha256);
    }
    Ok(res.finish())
}

/// `PATCH /v1/uploads/{id}`: appends the body at `Upload-Offset`.
pub async fn patch(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    let id = parse_id(&path)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != tus::OFFSET_OCTET_STREAM {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("a PATCH body is sent as {}", tus::OFFSET_OCTET_STREAM),
        ));
    }
    let offset = tus::number(&req, "upload-offset")?;
    let checksum = tus::checksum(&req)?;
    let outcome = state
        .photos
        .append(&uploader(auth), &id, offset, checksum, body)
        .await?;
    let mut res = HttpResponse::NoContent();
    res.insert_header(("upload-offset", outcome.offset.to_string()))
        .insert_header(("upload-expires", tus::http_date(outcome.expires_at)));
    if let Some(photo) = &outcome.photo {
        photo_headers(&mut res, &photo.sha256);
    }
    Ok(res.finish())
}

/// `DELETE /v1/uploads/{id}`: abandons the upload and its bytes.
pub async fn delete(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_version(&req)?;
    let id = parse_id(&path)?;
    state.photos.terminate(&uploader(auth), &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
