//! The site tree, and adding a site under another (`POST /v1/sites`).

use actix_web::{web, HttpResponse};
use hazardloop_api::auth::RequireAdmin;
use hazardloop_api::routes::sites::{create, CreateSite};
use hazardloop_api::ApiError;
use hazardloop_storage::sites::{self, Site};
use maud::{html, Markup};

use crate::error::ConsoleError;
use crate::layout::see_other;
use crate::pages::admin::{admin_page, refusal_or_error, require_admin};
use crate::visitor::{Command, Ctx};

/// The sites below `parent` (roots for `None`), each with its own subtree, as nested lists.
fn tree(all: &[Site], parent: Option<&str>) -> Markup {
    let children: Vec<&Site> = all
        .iter()
        .filter(|s| s.parent_id.as_deref() == parent)
        .collect();
    html! {
        @if !children.is_empty() {
            ul {
                @for s in children {
                    li data-site=(s.id) {
                        span class="site-name" { (s.name) } " "
                        span class="badge" { (s.kind) }
                        (tree(all, Some(&s.id)))
                    }
                }
            }
        }
    }
}

async fn render(
    ctx: &Ctx,
    notice: Option<String>,
    refused: Option<ApiError>,
) -> Result<HttpResponse, ConsoleError> {
    let org = ctx.auth.org_id.clone();
    let all = ctx.state.db.read(move |c| sites::list(c, &org)).await?;
    let content = html! {
        section aria-labelledby="h-tree" {
            h2 id="h-tree" { (ctx.t("admin-site-tree")) }
            @if all.is_empty() { p class="empty" { (ctx.t("admin-none")) } }
            div class="tree card" id="site-tree" { (tree(&all, None)) }
        }
        section aria-labelledby="h-new-site" {
            h2 id="h-new-site" { (ctx.t("admin-site-new")) }
            form method="post" action="/admin/sites" class="card narrow" id="form-site" {
                input type="hidden" name="csrf" value=(ctx.visitor.csrf);
                label for="site-name" { (ctx.t("admin-site-name")) }
                input id="site-name" name="name" type="text" required maxlength="200";
                label for="site-kind" { (ctx.t("admin-site-kind")) }
                select id="site-kind" name="kind" {
                    @for k in ["company", "plant", "workshop", "area"] {
                        option value=(k) { (ctx.t(&format!("site-kind-{k}"))) }
                    }
                }
                label for="site-parent" { (ctx.t("admin-site-parent")) }
                select id="site-parent" name="parent_id" {
                    option value="" { (ctx.t("admin-site-root")) }
                    @for s in &all { option value=(s.id) { (s.name) } }
                }
                button type="submit" id="add-site" { (ctx.t("admin-site-add")) }
            }
        }
    };
    Ok(admin_page(
        ctx,
        "admin-sites",
        notice,
        refused.as_ref(),
        content,
    ))
}

/// `GET /admin/sites`.
pub async fn show(
    ctx: Ctx,
    q: web::Query<super::users::Done>,
) -> Result<HttpResponse, ConsoleError> {
    require_admin(&ctx)?;
    let notice = q
        .done
        .as_deref()
        .filter(|d| *d == "site")
        .map(|_| ctx.t("admin-site-added"));
    render(&ctx, notice, None).await
}

/// `POST /admin/sites`: the API's `POST /v1/sites`.
pub async fn add(cmd: Command) -> Result<HttpResponse, ConsoleError> {
    let Command { ctx, form } = cmd;
    require_admin(&ctx)?;
    let parent_id = match form.get("parent_id") {
        Some(p) => {
            Some(uuid::Uuid::parse_str(p).map_err(|_| ConsoleError::BadInput("parent_id".into()))?)
        }
        None => None,
    };
    let body = CreateSite {
        name: form.get("name").unwrap_or_default().to_string(),
        kind: form.get("kind").map(str::to_string),
        parent_id,
        latitude: None,
        longitude: None,
        radius_m: None,
    };
    match create(
        ctx.state.clone(),
        RequireAdmin(ctx.auth.clone()),
        web::Json(body),
    )
    .await
    {
        Ok(_) => Ok(see_other("/admin/sites?done=site", &[])),
        Err(e) => render(&ctx, None, Some(refusal_or_error(e)?)).await,
    }
}
