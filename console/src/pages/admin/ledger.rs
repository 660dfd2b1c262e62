//! The ledger exports: the admin page that links them, and the downloads, which are the API's
//! own `GET /v1/hazards/export` and `GET /v1/inspections/export` answered to the console
//! session (the same visibility: anyone signed in gets the ledger of what they may see).

use actix_web::{web, HttpRequest, HttpResponse};
use hazardloop_api::routes::hazards::HazardQuery;
use hazardloop_api::routes::ledger::{
    export, inspections_export, ExportFormat, InspectionExportQuery,
};
use maud::html;

use crate::error::ConsoleError;
use crate::layout::secure_headers;
use crate::pages::admin::{admin_page, require_admin};
use crate::visitor::Ctx;

/// The downloads: path, message.
const LINKS: [(&str, &str); 3] = [
    ("/ledger/hazards.csv", "admin-ledger-hazards-csv"),
    ("/ledger/hazards.xlsx", "admin-ledger-hazards-xlsx"),
    ("/ledger/inspections.xlsx", "admin-ledger-inspections-xlsx"),
];

/// `GET /admin/ledger`.
pub async fn show(ctx: Ctx) -> Result<HttpResponse, ConsoleError> {
    require_admin(&ctx)?;
    let content = html! {
        p { (ctx.t("admin-ledger-hint")) }
        ul class="downloads" id="ledger-links" {
            @for (path, key) in LINKS {
                li { a href=(path) download { (ctx.t(key)) } }
            }
        }
    };
    Ok(admin_page(&ctx, "admin-ledger", None, None, content))
}

/// `GET /ledger/{file}`: `hazards.csv`, `hazards.xlsx` or `inspections.xlsx`, with headers
/// in the visitor's language.
pub async fn download(
    ctx: Ctx,
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let lang = match ctx.lang() {
        crate::i18n::Lang::ZhCn => "zh",
        crate::i18n::Lang::En => "en",
    };
    let state = ctx.state.clone();
    let auth = ctx.auth.clone();
    let res = match file.as_str() {
        "hazards.csv" | "hazards.xlsx" => {
            let format = ExportFormat {
                format: Some(file.trim_start_matches("hazards.").to_string()),
                bom: Some(lang == "zh"),
                lang: Some(lang.to_string()),
            };
            export(
                state,
                auth,
                req,
                web::Query(HazardQuery::default()),
                web::Query(format),
            )
            .await
        }
        "inspections.xlsx" => {
            let q = InspectionExportQuery {
                format: Some("xlsx".into()),
                site_id: None,
                status: None,
                lang: Some(lang.to_string()),
            };
            inspections_export(state, auth, req, web::Query(q)).await
        }
        _ => return Err(ConsoleError::NotFound),
    };
    let mut res = res?;
    secure_headers(res.headers_mut());
    Ok(res)
}
