//! The ledgers (台账): hazards as CSV (streamed page by page) or XLSX, inspections as XLSX;
//! and hazard statistics.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::stream;
use hazardloop_storage::hazards::{self, Hazard, HazardFilter};
use hazardloop_storage::inspections::InspectionFilter;
use hazardloop_storage::{access, now_ms, sites, stats, StorageError};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::AuthedUser;
use crate::error::ApiError;
use crate::export::{self, Lang};
use crate::routes::hazards::{scoped_filter, HazardQuery};
use crate::routes::rfc3339;

mod workbook;

use workbook::{hazard_workbook, inspection_workbook};

const PAGE: i64 = 1000;

const HEADER: &str = "id,site_id,state,title,category,grade,risk,reporter_id,owner_id,verifier_id,deadline,overdue,reported_at_device,reported_at,closed_at,location,description\r\n";

fn csv_field(s: &str) -> String {
    // Cells that start like a formula are prefixed so spreadsheets do not execute them.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_row(h: &Hazard, now: i64) -> String {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let cells = [
        h.id.clone(),
        h.site_id.clone(),
        h.state.clone(),
        h.title.clone(),
        h.category.clone(),
        h.grade.clone(),
        h.risk.clone(),
        h.reporter_id.clone(),
        opt(&h.owner_id),
        opt(&h.verifier_id),
        h.deadline.map(rfc3339).unwrap_or_default(),
        h.is_overdue(now).to_string(),
        rfc3339(h.reported_at_device),
        rfc3339(h.reported_at),
        h.closed_at.map(rfc3339).unwrap_or_default(),
        h.location.clone(),
        h.description.clone(),
    ];
    let mut line = cells
        .iter()
        .map(|c| csv_field(c))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// `GET /v1/hazards/export?format=csv|xlsx`: the ledger with the same filters as the list, in
/// pages so memory stays flat for any size. CSV starts with a byte-order mark when `bom=true`,
/// or, without `bom`, when the client's preferred `Accept-Language` is Chinese (Excel reads
/// UTF-8 CSV without one as the local code page).
pub async fn export(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    query: web::Query<HazardQuery>,
    format: web::Query<ExportFormat>,
) -> Result<HttpResponse, ApiError> {
    let xlsx = match format.format.as_deref().unwrap_or("csv") {
        "csv" => false,
        "xlsx" => true,
        _ => {
            return Err(ApiError::bad_request(
                "unsupported_format",
                "format must be csv or xlsx",
            ))
        }
    };
    let lang = Lang::pick(&req, format.lang.as_deref())?;
    let bom = format.bom.unwrap_or_else(|| export::prefers_zh(&req));
    let base = query.filter()?;
    let site = query.site_id.map(|s| s.to_string());
    let a = auth.clone();
    let filter: HazardFilter = state
        .db
        .read(move |c| scoped_filter(c, &a, base, site))
        .await?;
    let now = now_ms();
    let db = state.db.clone();
    let org = auth.org_id.clone();
    if xlsx {
        let file =
            tokio::task::spawn_blocking(move || hazard_workbook(&db, &org, &filter, now, lang))
                .await
                .map_err(|_| ApiError::internal("the workbook could not be written"))??;
        return Ok(export::download(file, export::XLSX, "hazard-ledger.xlsx"));
    }
    struct Cursor {
        after: Option<String>,
        first: bool,
        done: bool,
    }
    let start = Cursor {
        after: None,
        first: true,
        done: false,
    };
    let body = stream::unfold(start, move |cur| {
        let db = db.clone();
        let org = org.clone();
        let filter = filter.clone();
        async move {
            if cur.done {
                return None;
            }
            let after = cur.after.clone();
            let page = db
                .read(move |c| hazards::list(c, &org, &filter, now, after.as_deref(), PAGE))
                .await;
            match page {
                Ok(rows) => {
                    let mut chunk = String::with_capacity(rows.len() * 200 + HEADER.len());
                    if cur.first {
                        if bom {
                            chunk.push('\u{feff}');
                        }
                        chunk.push_str(HEADER);
                    }
                    for h in &rows {
                        chunk.push_str(&csv_row(h, now));
                    }
                    let next = Cursor {
                        after: rows.last().map(|h| h.id.clone()),
                        first: false,
                        done: (rows.len() as i64) < PAGE,
                    };
                    Some((Ok::<_, actix_web::Error>(web::Bytes::from(chunk)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "ledger export failed mid-stream");
                    Some((
                        Err(actix_web::error::ErrorServiceUnavailable(
                            "export interrupted",
                        )),
                        Cursor {
                            after: None,
                            first: false,
                            done: true,
                        },
                    ))
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"hazard-ledger.csv\"",
        ))
        .streaming(body))
}

/// `format` of the export, and how to write it.
#[derive(Deserialize)]
pub struct ExportFormat {
    pub format: Option<String>,
    /// CSV: start with a UTF-8 byte-order mark (default: when Chinese is preferred).
    pub bom: Option<bool>,
    /// XLSX: `zh` or `en` headers (default: from `Accept-Language`).
    pub lang: Option<String>,
}

/// `GET /v1/inspections/export` query.
#[derive(Deserialize)]
pub struct InspectionExportQuery {
    pub format: Option<String>,
    pub site_id: Option<uuid::Uuid>,
    pub status: Option<String>,
    pub lang: Option<String>,
}

/// `GET /v1/inspections/export?format=xlsx`: the inspection ledger as a workbook, over what
/// the caller may see (with `site_id`, that site's subtree; a site the caller cannot see is
/// 404).
pub async fn inspections_export(
    state: web::Data<AppState>,
    auth: AuthedUser,
    req: HttpRequest,
    q: web::Query<InspectionExportQuery>,
) -> Result<HttpResponse, ApiError> {
    if q.format.as_deref().unwrap_or("xlsx") != "xlsx" {
        return Err(ApiError::bad_request(
            "unsupported_format",
            "format must be xlsx",
        ));
    }
    let lang = Lang::pick(&req, q.lang.as_deref())?;
    let site = q.site_id.map(|s| s.to_string());
    let status = q.status.clone();
    let db = state.db.clone();
    let file = tokio::task::spawn_blocking(move || {
        let filter = db.read_blocking(|c| {
            let visible = access::visible_site_ids(c, &auth.org_id, &auth.user_id, auth.is_admin)?;
            let site_ids = match site {
                Some(s) => {
                    let site =
                        access::visible_site(c, &auth.org_id, &auth.user_id, auth.is_admin, &s)?;
                    Some(
                        sites::subtree(c, &site)?
                            .into_iter()
                            .map(|s| s.id)
                            .collect(),
                    )
                }
                None => None,
            };
            Ok::<_, StorageError>(InspectionFilter {
                visible_sites: visible,
                site_ids,
                status,
                inspector_id: None,
            })
        })?;
        inspection_workbook(&db, &auth.org_id, &filter, lang)
    })
    .await
    .map_err(|_| ApiError::internal("the workbook could not be written"))??;
    Ok(export::download(
        file,
        export::XLSX,
        "inspection-ledger.xlsx",
    ))
}

/// `GET /v1/stats/hazards` query.
#[derive(Deserialize)]
pub struct StatsQuery {
    pub site_id: Option<uuid::Uuid>,
}

/// `GET /v1/stats/hazards`: counts by state and grade, overdue, closure rate, median days to
/// close; overall and per site, over what the caller may see.
pub async fn stats(
    state: web::Data<AppState>,
    auth: AuthedUser,
    q: web::Query<StatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let site = q.site_id.map(|s| s.to_string());
    let now = now_ms();
    let result = state
        .db
        .read(move |c| {
            let visible = access::visible_paths(c, &auth.org_id, &auth.user_id, auth.is_admin)?;
            let paths = match site {
                Some(s) => {
                    let site =
                        access::visible_site(c, &auth.org_id, &auth.user_id, auth.is_admin, &s)?;
                    Some(vec![site.path])
                }
                None => visible,
            };
            stats::hazard_stats(c, &auth.org_id, paths.as_deref(), now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}
