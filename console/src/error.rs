//! The console's one error type: what a handler can fail with, and the page a person sees.
//! Error pages speak both languages (the error may come before the language is known).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use hazardloop_api::ApiError;
use hazardloop_storage::StorageError;
use maud::html;

use crate::i18n::{t, tr, Lang};
use crate::layout;

/// Why a console request failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: go to the sign-in page.
    #[error("sign in first")]
    SignIn,
    /// Unknown, or not visible to the caller (the same answer for both).
    #[error("not found")]
    NotFound,
    /// A form without the visitor's CSRF token.
    #[error("CSRF token missing or wrong")]
    Csrf,
    /// A form or query that cannot be read.
    #[error("bad input: {0}")]
    BadInput(String),
    /// The database cannot be reached.
    #[error("unavailable")]
    Unavailable,
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StorageError> for ConsoleError {
    fn from(e: StorageError) -> ConsoleError {
        match e {
            StorageError::NotFound => ConsoleError::NotFound,
            StorageError::Unavailable(_) => ConsoleError::Unavailable,
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> ConsoleError {
        match e.status.as_u16() {
            404 => ConsoleError::NotFound,
            503 => ConsoleError::Unavailable,
            400 | 422 => ConsoleError::BadInput(e.detail),
            _ => ConsoleError::Internal(format!("{}: {}", e.code, e.detail)),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::BadInput(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn = self {
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish();
            layout::secure_headers(res.headers_mut());
            return res;
        }
        if let ConsoleError::Internal(detail) = self {
            tracing::error!(%detail, "console request failed");
        }
        let say = |lang: Lang| match self {
            ConsoleError::NotFound => t(lang, "error-not-found"),
            ConsoleError::Csrf => t(lang, "error-csrf"),
            ConsoleError::BadInput(d) => tr(lang, "error-bad-input", &[("detail", d)]),
            ConsoleError::Unavailable => t(lang, "error-unavailable"),
            _ => t(lang, "error-title"),
        };
        let body = html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (t(Lang::En, "error-title")) " · " (t(Lang::ZhCn, "error-title")) }
                    link rel="stylesheet" href="/static/console.css";
                }
                body {
                    main class="error" {
                        h1 { (t(Lang::En, "error-title")) }
                        p id="error-en" { (say(Lang::En)) }
                        p lang="zh-CN" id="error-zh" { (say(Lang::ZhCn)) }
                        p { a href="/" { (t(Lang::En, "back-home")) " · " (t(Lang::ZhCn, "back-home")) } }
                    }
                }
            }
        };
        let mut res = HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(body.into_string());
        layout::secure_headers(res.headers_mut());
        res
    }
}
