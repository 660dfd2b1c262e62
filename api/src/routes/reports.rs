//! The statutory period report (`GET /v1/reports/period`): an organisation's or a site
//! subtree's figures for a month, quarter, year or range of days, counted in the organisation's
//! time zone. The rules are `hazardloop_sync::report`'s; storage loads; this file parses and
//! authorises.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_storage::reports::{self, PeriodReport, Scope};
use hazardloop_storage::{access, now_ms, orgs, DbConn, StorageError};
use hazardloop_sync::period::Period;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::export::{self, Lang};
use crate::mutate::{mark_replayed, mutation, run_one_keyed, with_args, Idempotency};
use crate::report_doc;

/// Which report: `period=2026-Q1` (or `2026`, `2026-03`) or `from`/`to` days, and optionally
/// a site whose subtree it covers.
#[derive(Debug, Deserialize)]
pub struct PeriodQuery {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub site_id: Option<uuid::Uuid>,
    /// `zh` or `en` for the XLSX and HTML forms (default: from `Accept-Language`).
    pub lang: Option<String>,
}

impl PeriodQuery {
    /// The period asked for; a malformed one is a 400 `invalid_period`.
    pub fn period(&self) -> Result<Period, ApiError> {
        Period::parse(
            self.period.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
        )
        .map_err(|m| ApiError::bad_request("invalid_period", m))
    }
}

/// The scope the caller asked for, limited to what they may see: a site they cannot see is
/// 404 like a site that does not exist.
pub fn scope(
    conn: &mut DbConn,
    auth: &AuthedUser,
    site_id: Option<uuid::Uuid>,
) -> Result<Scope, StorageError> {
    let visible = access::visible_paths(conn, &auth.org_id, &auth.user_id, auth.is_admin)?;
    let site = site_id
        .map(|s| {
            access::visible_site(
                conn,
                &auth.org_id,
                &auth.user_id,
                auth.is_admin,
                &s.to_string(),
            )
        })
        .transpose()?;
    Ok(Scope { site, visible })
}

/// Computes the report the query names for the caller.
pub async fn compute(
    state: &AppState,
    auth: &AuthedUser,
    q: &PeriodQuery,
) -> Result<PeriodReport, ApiError> {
    let period = q.period()?;
    let site = q.site_id;
    let auth = auth.clone();
    let now = now_ms();
    Ok(state
        .db
        .read(move |c| {
            let scope = scope(c, &auth, site)?;
            reports::period_report(c, &auth.org_id, &scope, &period, now)
        })
        .await?)
}

/// `GET /v1/reports/period`: the report as JSON.
pub async fn period(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let report = compute(&state, &auth, &q).await?;
    Ok(HttpResponse::Ok().json(report))
}

fn zone(report: &PeriodReport) -> Result<jiff::tz::TimeZone, ApiError> {
    hazardloop_sync::period::time_zone(&report.time_zone)
        .map_err(|m| ApiError::unprocessable("validation_failed", m))
}

fn file_stem(report: &PeriodReport) -> String {
    // ASCII only: the label is digits, dashes, dots and Q.
    format!("hazard-report-{}", report.period.label.replace("..", "_"))
}

/// `GET /v1/reports/period.xlsx`: the report as a workbook (summary, sites, major hazards).
pub async fn period_xlsx(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::pick(&req, q.lang.as_deref())?;
    let report = compute(&state, &auth, &q).await?;
    let tz = zone(&report)?;
    let name = format!("{}.xlsx", file_stem(&report));
    let file = tokio::task::spawn_blocking(move || {
        let wb = report_doc::workbook(&report, lang, &tz).map_err(export::xlsx_error)?;
        export::save(wb)
    })
    .await
    .map_err(|_| ApiError::internal("the workbook could not be written"))??;
    Ok(export::download(file, export::XLSX, &name))
}

/// `GET /v1/reports/period.html`: the report as a printable A4 page, self-contained.
pub async fn period_html(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let lang = Lang::pick(&req, q.lang.as_deref())?;
    let report = compute(&state, &auth, &q).await?;
    let tz = zone(&report)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        // The page loads nothing from anywhere and runs no script.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(report_doc::html(&report, lang, &tz)))
}

/// The scope of a sign-off's status: a site's subtree (a site the caller cannot see is 404),
/// or the whole organisation, which only its admins and its principal read (others: 404).
fn signoff_scope(
    conn: &mut DbConn,
    auth: &AuthedUser,
    site_id: Option<uuid::Uuid>,
) -> Result<Scope, StorageError> {
    let mut scope = scope(conn, auth, site_id)?;
    if scope.site.is_none() {
        let principal = orgs::get(conn, &auth.org_id)?.principal_id();
        if !auth.is_admin && principal.as_deref() != Some(auth.user_id.as_str()) {
            return Err(StorageError::NotFound);
        }
        scope.visible = None;
    }
    Ok(scope)
}

/// `GET /v1/reports/signoffs`: the sign-off of a period (if any) and whether the figures
/// changed since, with what differs.
pub async fn signoff_status(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let period = q.period()?;
    let site = q.site_id;
    let now = now_ms();
    let status = state
        .db
        .read(move |c| {
            let scope = signoff_scope(c, &auth, site)?;
            reports::signoff_status(c, &auth.org_id, &scope, &period, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(status))
}

/// `POST /v1/reports/signoffs`: the principal signs a finished period's report (`report.sign`).
pub async fn sign(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let args = with_args(body.into_inner(), &[])?;
    let (applied, replayed) =
        run_one_keyed(&state, &auth, mutation("report.sign", args, None), &idem).await?;
    Ok(mark_replayed(
        HttpResponse::Created().json(applied.entity),
        replayed,
    ))
}

/// `POST /v1/reports/signoffs/submission`: records that the signed report went to the
/// authority (`report.submit`).
pub async fn submit(
    state: web::Data<AppState>,
    auth: AuthedUser,
    idem: Idempotency,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let args = with_args(body.into_inner(), &[])?;
    let (applied, replayed) =
        run_one_keyed(&state, &auth, mutation("report.submit", args, None), &idem).await?;
    Ok(mark_replayed(
        HttpResponse::Ok().json(applied.entity),
        replayed,
    ))
}

/// `GET /v1/reports/deadlines`: the statutory deadlines of the organisation, about a year
/// back to a quarter ahead, with their state.
pub async fn deadlines(
    state: web::Data<AppState>,
    auth: AuthedUser,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let items = state
        .db
        .read(move |c| reports::deadlines(c, &auth.org_id, now))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}
