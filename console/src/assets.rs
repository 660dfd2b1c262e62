//! Static assets, embedded in the binary: one stylesheet, no script (the console works
//! without JavaScript; the CSP allows only our own files anyway).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::ConsoleError;

const CSS: &str = include_str!("../static/console.css");

/// `GET /static/{file}`.
pub async fn get(path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let (body, kind) = match path.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        _ => return Err(ConsoleError::NotFound),
    };
    let mut res = HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body);
    crate::layout::secure_headers(res.headers_mut());
    Ok(res)
}
