//! Photos: the simple upload, the original with Range and ETag, metadata and renditions.
//! Readers see a photo only through an entity they may see (or as its uploader before it is
//! linked); everyone else gets 404.

mod range;

use actix_web::body::SizedStream;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_storage::photos::store::RenditionKind;
use hazardloop_storage::photos::{self, Arrival, Photo, PhotoLink, Uploader};
use serde_json::{json, Value};

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::routes::rfc3339;
use range::Wanted;

/// The photo id from the path, for uploads: a malformed id is the client's mistake (400).
fn upload_id(raw: &str) -> Result<String, ApiError> {
    photos::parse_sha256(raw).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_photo_id",
            "a photo id is the SHA-256 of its bytes: 64 hexadecimal digits",
        )
    })
}

/// The photo id from the path, for reads: anything malformed is simply not found.
fn read_id(raw: &str) -> Result<String, ApiError> {
    photos::parse_sha256(raw).ok_or_else(ApiError::not_found)
}

/// The public JSON of a photo. `captured_at` is the capture time the server accepts;
/// `captured_at_claimed` what the camera wrote (with its offset when it recorded one). They
/// differ when the claim was in the future: then `captured_at` is the receipt time and
/// `flags` holds `capture_time_in_future`.
pub fn photo_json(p: &Photo) -> Value {
    let base = format!("/v1/photos/{}", p.sha256);
    let claimed = match (&p.captured_local, p.captured_offset_minutes) {
        (Some(local), Some(m)) => Some(format!(
            "{local}{}{:02}:{:02}",
            if m < 0 { '-' } else { '+' },
            m.abs() / 60,
            m.abs() % 60
        )),
        (Some(local), None) => Some(local.clone()),
        _ => None,
    };
    let flags = photos::evidence::decode(&p.flags);
    let clamped = flags.iter().any(|f| f["code"] == "capture_time_in_future");
    let captured_at = if clamped {
        p.captured_at.map(rfc3339)
    } else if p.captured_offset_minutes.is_some() {
        claimed.clone()
    } else {
        None
    };
    let ready = p.status() == hazardloop_sync::photo::PhotoStatus::Ready;
    json!({
        "id": p.sha256,
        "sha256": p.sha256,
        "status": p.status(),
        "size": p.size,
        "content_type": p.content_type,
        "width": p.width,
        "height": p.height,
        "captured_at": captured_at,
        "captured_at_claimed": claimed,
        "captured_local": p.captured_local,
        "gps": match (p.gps_lat, p.gps_lon) {
            (Some(lat), Some(lon)) => json!({"lat": lat, "lon": lon}),
            _ => Value::Null,
        },
        "received_at": p.received_at.map(rfc3339),
        "uploaded_by": p.uploaded_by,
        "original_url": base,
        "thumbnail_url": ready.then(|| format!("{base}/thumbnail")),
        "display_url": ready.then(|| format!("{base}/display")),
        "flags": flags,
    })
}

fn link_json(l: &PhotoLink) -> Value {
    json!({
        "entity_type": l.entity_type,
        "entity_id": l.entity_id,
        "site_id": l.site_id,
        "role": l.role,
        "created_at": rfc3339(l.created_at),
        "flags": photos::evidence::decode(&l.flags),
    })
}

fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `PUT /v1/photos/{sha256}`: the body is the original; 201 when stored now, 200 when the
/// photo was already stored.
pub async fn put(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let sha = upload_id(&path)?;
    let (auth_org, auth_user) = (auth.org_id.clone(), auth.user_id.clone());
    let who = Uploader {
        org_id: auth.org_id,
        user_id: auth.user_id,
    };
    let arrival = state
        .photos
        .put(&who, &sha, declared_length(&req), body)
        .await?;
    Ok(match arrival {
        Arrival::Created(p) => HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/v1/photos/{}", p.sha256)))
            .json(photo_json(&p)),
        Arrival::Existing(p) => {
            // Sending the bytes proves the caller holds them, not that they may read the
            // photo's record: who uploaded it first and when stay with its readers.
            let readable = state
                .photos
                .readable(&auth_org, &auth_user, &p.sha256)
                .await
                .is_ok();
            let mut body = photo_json(&p);
            if !readable {
                for member in ["uploaded_by", "received_at", "thumbnail_url", "display_url"] {
                    body[member] = Value::Null;
                }
            }
            HttpResponse::Ok().json(body)
        }
    })
}

async fn readable(state: &AppState, auth: &AuthedUser, raw: &str) -> Result<Photo, ApiError> {
    let sha = read_id(raw)?;
    Ok(state
        .photos
        .readable(&auth.org_id, &auth.user_id, &sha)
        .await?)
}

fn etag(p: &Photo) -> String {
    format!("\"{}\"", p.sha256)
}

fn matches_etag(req: &HttpRequest, name: header::HeaderName, tag: &str) -> bool {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

/// Headers every answer about the original carries.
fn original_headers(res: &mut actix_web::HttpResponseBuilder, p: &Photo) {
    res.insert_header((header::ETAG, etag(p)))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("photo-status", p.status().as_str()));
}

/// `HEAD /v1/photos/{sha256}`: 200 when the server has the bytes (a phone need not upload),
/// 409 when the photo is linked but its bytes are missing, 404 when unknown or not visible.
pub async fn head(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let photo = readable(&state, &auth, &path).await?;
    if !photo.status().has_bytes() {
        return Err(hazardloop_storage::photos::PhotoError::Pending.into());
    }
    let size = u64::try_from(photo.size.unwrap_or(0)).unwrap_or(0);
    let mut res = HttpResponse::Ok();
    original_headers(&mut res, &photo);
    res.content_type(
        photo
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    );
    let empty = futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
    Ok(res.body(SizedStream::new(size, empty)))
}

/// `GET /v1/photos/{sha256}`: the original, byte for byte; `Range` and `If-None-Match`
/// honoured.
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let photo = readable(&state, &auth, &path).await?;
    if !photo.status().has_bytes() {
        return Err(hazardloop_storage::photos::PhotoError::Pending.into());
    }
    let tag = etag(&photo);
    if matches_etag(&req, header::IF_NONE_MATCH, &tag) {
        let mut res = HttpResponse::NotModified();
        original_headers(&mut res, &photo);
        return Ok(res.finish());
    }
    let size = u64::try_from(photo.size.unwrap_or(0)).unwrap_or(0);
    let if_range_ok = req
        .headers()
        .get(header::IF_RANGE)
        .map(|v| v.to_str().map(|v| v.trim() == tag).unwrap_or(false))
        .unwrap_or(true);
    let range_header = req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_ok);
    let wanted = range::parse(range_header, size);
    let (status, range) = match wanted {
        Wanted::Whole => (StatusCode::OK, None),
        Wanted::Part(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        Wanted::Unsatisfiable => {
            let mut res = actix_web::ResponseError::error_response(&ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the photo has {size} bytes"),
            ));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(res);
        }
    };
    let stream = state.photos.original(&photo, range.clone()).await?;
    let mut res = HttpResponse::build(status);
    original_headers(&mut res, &photo);
    res.content_type(
        photo
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    );
    let len = match &range {
        Some(r) => {
            res.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            ));
            r.end - r.start
        }
        None => size,
    };
    Ok(res.body(SizedStream::new(len, stream)))
}

/// `GET /v1/photos/{sha256}/metadata`: what the server knows, with the entities linking it.
pub async fn metadata(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let photo = readable(&state, &auth, &path).await?;
    let sha = photo.sha256.clone();
    // Only the links of entities the caller may read themselves.
    let links = state
        .db
        .read(move |c| photos::visible_links(c, &auth.org_id, &auth.user_id, auth.is_admin, &sha))
        .await?;
    let mut body = photo_json(&photo);
    body["links"] = json!(links.iter().map(link_json).collect::<Vec<_>>());
    Ok(HttpResponse::Ok().json(body))
}

/// A thumbnail or display-size JPEG of a photo the caller may read (shared with the console).
pub async fn rendition(
    state: web::Data<AppState>,
    auth: AuthedUser,
    raw: &str,
    kind: RenditionKind,
) -> Result<HttpResponse, ApiError> {
    let photo = readable(&state, &auth, raw).await?;
    let jpeg = state.photos.rendition(&photo, kind).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header((
            header::ETAG,
            format!("\"{}-{}\"", photo.sha256, kind.name()),
        ))
        .insert_header((
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(jpeg))
}

/// `GET /v1/photos/{sha256}/thumbnail`: a small JPEG without EXIF, or 409 until made.
pub async fn thumbnail(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rendition(state, auth, &path, RenditionKind::Thumbnail).await
}

/// `GET /v1/photos/{sha256}/display`: a screen-size JPEG without EXIF, or 409 until made.
pub async fn display(
    state: web::Data<AppState>,
    auth: AuthedUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rendition(state, auth, &path, RenditionKind::Display).await
}
