//! `POST /v1/risk/import`: a register sheet (XLSX, or CSV in UTF-8) in the layout of
//! `hazardloop_sync::risk::register`, imported whole or not at all.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_storage::now_ms;
use hazardloop_storage::risk::{import, settings};
use hazardloop_sync::risk::register::{self, RowError};
use hazardloop_sync::risk::Method;
use serde_json::json;

use super::caller;
use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::register_sheet::{self, SheetFormat};

fn row_errors(errors: &[RowError]) -> ApiError {
    ApiError::unprocessable(
        "invalid_register",
        format!(
            "{} problem(s) in the sheet; nothing was imported",
            errors.len()
        ),
    )
    .with(
        "errors",
        json!(errors
            .iter()
            .map(|e| json!({"row": e.row, "column": e.column, "reason": e.reason}))
            .collect::<Vec<_>>()),
    )
}

/// Reads the sheet, parses every row, and imports them in one transaction: 201 with what was
/// added, or 422 `invalid_register` naming every bad row (row number, column, reason).
pub async fn import_register(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = SheetFormat::from_content_type(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "send the register as text/csv (UTF-8) or {}",
                register_sheet::XLSX_TYPE
            ),
        )
    })?;
    let (header_row, rows) = register_sheet::read(format, &body)
        .map_err(|m| ApiError::unprocessable("unreadable_sheet", m))?;
    let columns = register::read_header(&header_row).map_err(|e| row_errors(&e))?;
    let who = caller(&auth);
    let now = now_ms();
    let outcome = state
        .db
        .write(move |c| {
            let lec = matches!(settings(c, &who.org_id, now)?.matrix.method, Method::Lec);
            let parsed = match register::read_rows(&columns, &rows, lec) {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            if parsed.is_empty() {
                return Ok(Err(vec![RowError {
                    row: 2,
                    column: None,
                    reason: "the sheet has no data rows".into(),
                }]));
            }
            import::import(c, &who, parsed, now)
        })
        .await?;
    match outcome {
        Ok(summary) => Ok(HttpResponse::Created().json(summary)),
        Err(errors) => Err(row_errors(&errors)),
    }
}
