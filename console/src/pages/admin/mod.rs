//! Administration, for organisation admins: the site tree, people and their roles per site,
//! checklist templates, integration clients, webhooks with their delivery log, and the ledger
//! exports. Anyone else gets the same 404 page as for an address that does not exist.
//!
//! Every write calls the API's own handler for the same write (`hazardloop_api::routes::*`)
//! with the console visitor as the API caller: the same validation, permission checks,
//! storage functions, audit trail, events and webhooks as its `/v1` twin. A refusal comes back
//! as the API's problem and is shown in words.

pub mod clients;
pub mod ledger;
pub mod sites;
pub mod templates;
pub mod users;
pub mod webhooks;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use hazardloop_api::ApiError;
use maud::{html, Markup};
use serde::de::DeserializeOwned;

use crate::error::ConsoleError;
use crate::layout::page_with_status;
use crate::pages::words::refusal_words;
use crate::visitor::Ctx;

/// The admin pages: path and message.
const SECTIONS: [(&str, &str); 6] = [
    ("/admin/sites", "admin-sites"),
    ("/admin/users", "admin-users"),
    ("/admin/templates", "admin-templates"),
    ("/admin/clients", "admin-clients"),
    ("/admin/webhooks", "admin-webhooks"),
    ("/admin/ledger", "admin-ledger"),
];

/// Only organisation admins see administration; for anyone else it does not exist.
pub fn require_admin(ctx: &Ctx) -> Result<(), ConsoleError> {
    if ctx.auth.is_admin {
        Ok(())
    } else {
        Err(ConsoleError::NotFound)
    }
}

/// An admin page: the section menu above `content`, with an optional notice or refusal.
pub fn admin_page(
    ctx: &Ctx,
    section: &str,
    notice: Option<String>,
    refused: Option<&ApiError>,
    content: Markup,
) -> HttpResponse {
    let title = ctx.t(section);
    let status = refused.map(|e| e.status).unwrap_or(StatusCode::OK);
    let body = html! {
        nav class="subnav" aria-label=(ctx.t("nav-admin")) {
            ul {
                @for (path, key) in SECTIONS {
                    li {
                        @if key == section {
                            a href=(path) aria-current="page" { (ctx.t(key)) }
                        } @else {
                            a href=(path) { (ctx.t(key)) }
                        }
                    }
                }
            }
        }
        @if let Some(n) = notice {
            p class="notice" role="status" id="admin-done" { (n) }
        }
        @if let Some(e) = refused {
            p class="problem" role="alert" id="admin-refused" {
                (ctx.tr("cmd-refused", &[("reason", &refusal_words(ctx, e))]))
            }
        }
        (content)
    };
    page_with_status(&ctx.visitor, &title, "/admin", body, status)
}

/// Runs an API handler's write; `Ok(Err(problem))` is a refusal to show (4xx other than 404),
/// anything else that failed is the console's error.
pub fn refusal_or_error(e: ApiError) -> Result<ApiError, ConsoleError> {
    if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND {
        Ok(e)
    } else {
        Err(e.into())
    }
}

/// The JSON body of an API handler's answer.
pub async fn body_of<T: DeserializeOwned>(res: HttpResponse) -> Result<T, ConsoleError> {
    let bytes = actix_web::body::to_bytes(res.into_body())
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| ConsoleError::Internal(e.to_string()))
}
