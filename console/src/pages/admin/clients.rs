//! Integration clients: the list, creating one (its secret shown once) and revoking one,
//! through the API's `POST /v1/clients` and `DELETE /v1/clients/{id}`.

use actix_web::{web, HttpResponse};
use hazardloop_api::routes::clients::{create as api_create, revoke as api_revoke, CreateClient};
use hazardloop_api::routes::SCOPES;
use hazardloop_api::ApiError;
use hazardloop_storage::{clients, sites};
use maud::html;
use serde::Deserialize;

use crate::error::ConsoleError;
use crate::layout::see_other;
use crate::pages::admin::users::Done;
use crate::pages::admin::{admin_page, body_of, refusal_or_error, require_admin};
use crate::visitor::{Command, Ctx};

/// What `POST /v1/clients` answers that the page shows once.
#[derive(Deserialize)]
struct Created {
    client_id: String,
    client_secret: String,
}

async fn render(
    ctx: &Ctx,
    notice: Option<String>,
    refused: Option<&ApiError>,
    created: Option<Created>,
) -> Result<HttpResponse, ConsoleError> {
    let org = ctx.auth.org_id.clone();
    let (rows, all_sites) = ctx
        .state
        .db
        .read(move |c| Ok((clients::list(c, &org)?, sites::list(c, &org)?)))
        .await?;
    let site_name = |id: &str| {
        all_sites
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    let content = html! {
        @if let Some(c) = &created {
            div class="card secret" role="status" id="client-secret" {
                p { (ctx.t("admin-client-secret-once")) }
                dl class="facts" {
                    dt { "client_id" } dd { code id="new-client-id" { (c.client_id) } }
                    dt { "client_secret" } dd { code id="new-client-secret" { (c.client_secret) } }
                }
            }
        }
        section aria-labelledby="h-clients" {
            h2 id="h-clients" { (ctx.t("admin-clients")) }
            @if rows.is_empty() { p class="empty" { (ctx.t("admin-none")) } }
            @else {
                div class="scroll" { table id="client-list" {
                    thead { tr {
                        th scope="col" { (ctx.t("admin-client-name")) }
                        th scope="col" { (ctx.t("admin-client-scopes")) }
                        th scope="col" { (ctx.t("admin-client-sites")) }
                        th scope="col" { (ctx.t("admin-created")) }
                        th scope="col" { (ctx.t("admin-status")) }
                    } }
                    tbody { @for c in &rows {
                        tr data-client=(c.id) {
                            td { (c.name) br; code { (c.id) } }
                            td { (c.scope_list().join(" ")) }
                            td { @match c.sites() {
                                None => { (ctx.t("admin-client-all-sites")) }
                                Some(ids) => { (ids.iter().map(|i| site_name(i)).collect::<Vec<_>>().join(", ")) }
                            } }
                            td { (ctx.time(c.created_at)) }
                            td {
                                @if let Some(at) = c.revoked_at {
                                    span class="badge" { (ctx.t("admin-revoked-at")) " " (ctx.time(at)) }
                                } @else {
                                    form method="post" action={"/admin/clients/" (c.id) "/revoke"} class="inline" {
                                        input type="hidden" name="csrf" value=(ctx.visitor.csrf);
                                        button type="submit" class="secondary" aria-label=(ctx.tr("admin-revoke-client", &[("name", &c.name)])) { (ctx.t("admin-revoke")) }
                                    }
                                }
                            }
                        }
                    } }
                } }
            }
        }
        section aria-labelledby="h-new-client" {
            h2 id="h-new-client" { (ctx.t("admin-client-new")) }
            form method="post" action="/admin/clients" class="card narrow" id="form-client" {
                input type="hidden" name="csrf" value=(ctx.visitor.csrf);
                label for="client-name" { (ctx.t("admin-client-name")) }
                input id="client-name" name="name" type="text" required maxlength="200";
                fieldset {
                    legend { (ctx.t("admin-client-scopes")) }
                    @for s in SCOPES {
                        div class="field check" {
                            input type="checkbox" name="scope" value=(s) id={"scope-" (s.replace(':', "-"))};
                            label for={"scope-" (s.replace(':', "-"))} { code { (s) } }
                        }
                    }
                }
                label for="client-site" { (ctx.t("admin-client-site")) }
                select id="client-site" name="site_id" {
                    option value="" { (ctx.t("admin-client-all-sites")) }
                    @for s in &all_sites { option value=(s.id) { (s.name) } }
                }
                button type="submit" id="create-client" { (ctx.t("admin-client-create")) }
            }
        }
    };
    Ok(admin_page(ctx, "admin-clients", notice, refused, content))
}

/// `GET /admin/clients`.
pub async fn list(ctx: Ctx, q: web::Query<Done>) -> Result<HttpResponse, ConsoleError> {
    require_admin(&ctx)?;
    let notice = (q.done.as_deref() == Some("revoke")).then(|| ctx.t("admin-client-revoked"));
    render(&ctx, notice, None, None).await
}

/// `POST /admin/clients`: answers the page itself, with the secret shown this once (never in
/// an address).
pub async fn create(cmd: Command) -> Result<HttpResponse, ConsoleError> {
    let Command { mut ctx, form } = cmd;
    require_admin(&ctx)?;
    ctx.visitor.here = "/admin/clients".into();
    let scopes: Vec<String> = form
        .0
        .iter()
        .filter(|(k, v)| k == "scope" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string())
        .collect();
    let site_ids = match form.get("site_id") {
        Some(s) => Some(vec![
            uuid::Uuid::parse_str(s).map_err(|_| ConsoleError::BadInput("site_id".into()))?
        ]),
        None => None,
    };
    let body = CreateClient {
        name: form.get("name").unwrap_or_default().to_string(),
        scopes,
        site_ids,
    };
    match api_create(ctx.state.clone(), ctx.auth.clone(), web::Json(body)).await {
        Ok(res) => {
            let created: Created = body_of(res).await?;
            render(
                &ctx,
                Some(ctx.t("admin-client-created")),
                None,
                Some(created),
            )
            .await
        }
        Err(e) => {
            let e = refusal_or_error(e)?;
            render(&ctx, None, Some(&e), None).await
        }
    }
}

/// `POST /admin/clients/{id}/revoke`.
pub async fn revoke(cmd: Command, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let Command { ctx, .. } = cmd;
    require_admin(&ctx)?;
    match api_revoke(ctx.state.clone(), ctx.auth.clone(), path).await {
        Ok(_) => Ok(see_other("/admin/clients?done=revoke", &[])),
        Err(e) => {
            let e = refusal_or_error(e)?;
            render(&ctx, None, Some(&e), None).await
        }
    }
}
