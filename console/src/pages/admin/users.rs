//! People and their role per site: grant and revoke through the API's
//! `PUT /v1/users/{id}/memberships` (the whole list, with one role added, changed or removed).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use hazardloop_api::auth::RequireAdmin;
use hazardloop_api::routes::users::{set_memberships, MembershipInput};
use hazardloop_api::ApiError;
use hazardloop_storage::sites::{self, Site};
use hazardloop_storage::users::{self, Membership, User};
use hazardloop_sync::Role;
use maud::html;
use serde::Deserialize;

use crate::error::ConsoleError;
use crate::layout::see_other;
use crate::pages::admin::{admin_page, refusal_or_error, require_admin};
use crate::visitor::{Command, Ctx};

/// The site roles a membership may carry (admin is organisation-wide, set on the user).
const ROLES: [&str; 3] = ["inspector", "supervisor", "manager"];

/// `?done=` after a write (post/redirect/get).
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// `GET /admin/users` query.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
}

const PAGE: i64 = 100;

fn site_names(all: &[Site]) -> BTreeMap<String, String> {
    all.iter().map(|s| (s.id.clone(), s.name.clone())).collect()
}

/// `GET /admin/users`.
pub async fn list(ctx: Ctx, q: web::Query<ListQuery>) -> Result<HttpResponse, ConsoleError> {
    require_admin(&ctx)?;
    let org = ctx.auth.org_id.clone();
    let after = q
        .cursor
        .as_deref()
        .map(|c| uuid::Uuid::parse_str(c).map(|u| u.to_string()))
        .transpose()
        .map_err(|e| ConsoleError::BadInput(e.to_string()))?;
    let (rows, names) = ctx
        .state
        .db
        .read(move |c| {
            let people = users::list(c, &org, after.as_deref(), PAGE)?;
            let mut rows = Vec::with_capacity(people.len());
            for u in people {
                let m = users::memberships(c, &u.id)?;
                rows.push((u, m));
            }
            Ok((rows, site_names(&sites::list(c, &org)?)))
        })
        .await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|(u, _)| u.id.clone()))
        .flatten();
    let content = html! {
        div class="scroll" {
            table id="user-list" {
                thead { tr {
                    th scope="col" { (ctx.t("admin-user-name")) }
                    th scope="col" { (ctx.t("email")) }
                    th scope="col" { (ctx.t("admin-roles")) }
                } }
                tbody {
                    @for (u, m) in &rows {
                        tr data-user=(u.id) {
                            td { a href={"/admin/users/" (u.id)} { (u.name) } }
                            td { (u.email) }
                            td {
                                @if u.is_admin { span class="badge" { (ctx.t("role-admin")) } " " }
                                @if !u.active { span class="badge" { (ctx.t("admin-inactive")) } " " }
                                @for r in m {
                                    span class="role" { (names.get(&r.site_id).cloned().unwrap_or_default()) ": " (ctx.t(&format!("role-{}", r.role))) } " "
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(n) = next {
            nav class="pager" { a href={"/admin/users?cursor=" (n)} rel="next" { (ctx.t("next-page")) } }
        }
    };
    Ok(admin_page(&ctx, "admin-users", None, None, content))
}

struct Loaded {
    user: User,
    memberships: Vec<Membership>,
    sites: Vec<Site>,
}

async fn load(ctx: &Ctx, id: String) -> Result<Loaded, ConsoleError> {
    let org = ctx.auth.org_id.clone();
    Ok(ctx
        .state
        .db
        .read(move |c| {
            let user = users::get(c, &org, &id)?;
            if user.kind != "person" {
                return Err(hazardloop_storage::StorageError::NotFound);
            }
            let memberships = users::memberships(c, &user.id)?;
            Ok(Loaded {
                user,
                memberships,
                sites: sites::list(c, &org)?,
            })
        })
        .await?)
}

fn parse_id(raw: &str) -> Result<String, ConsoleError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ConsoleError::NotFound)
}

fn render(
    ctx: &Ctx,
    l: &Loaded,
    notice: Option<String>,
    refused: Option<&ApiError>,
) -> HttpResponse {
    let names = site_names(&l.sites);
    let u = &l.user;
    let content = html! {
        dl class="facts card" {
            dt { (ctx.t("admin-user-name")) } dd id="user-name" { (u.name) }
            dt { (ctx.t("email")) } dd { (u.email) }
            dt { (ctx.t("admin-org-admin")) } dd { (ctx.t(if u.is_admin { "yes" } else { "no" })) }
        }
        section aria-labelledby="h-roles" {
            h2 id="h-roles" { (ctx.t("admin-roles")) }
            @if l.memberships.is_empty() { p class="empty" id="no-roles" { (ctx.t("admin-no-roles")) } }
            @else {
                div class="scroll" { table id="roles" {
                    thead { tr {
                        th scope="col" { (ctx.t("field-site")) }
                        th scope="col" { (ctx.t("admin-role")) }
                        th scope="col" { span class="visually-hidden" { (ctx.t("admin-revoke")) } }
                    } }
                    tbody { @for m in &l.memberships {
                        tr data-site=(m.site_id) data-role=(m.role) {
                            td { (names.get(&m.site_id).cloned().unwrap_or_default()) }
                            td { (ctx.t(&format!("role-{}", m.role))) }
                            td {
                                form method="post" action={"/admin/users/" (u.id) "/roles/revoke"} class="inline" {
                                    input type="hidden" name="csrf" value=(ctx.visitor.csrf);
                                    input type="hidden" name="site_id" value=(m.site_id);
                                    button type="submit" class="secondary" aria-label=(ctx.tr("admin-revoke-at", &[("site", &names.get(&m.site_id).cloned().unwrap_or_default())])) { (ctx.t("admin-revoke")) }
                                }
                            }
                        }
                    } }
                } }
            }
        }
        section aria-labelledby="h-grant" {
            h2 id="h-grant" { (ctx.t("admin-grant")) }
            form method="post" action={"/admin/users/" (u.id) "/roles"} class="card narrow" id="form-grant" {
                input type="hidden" name="csrf" value=(ctx.visitor.csrf);
                label for="grant-site" { (ctx.t("field-site")) }
                select id="grant-site" name="site_id" required {
                    option value="" { (ctx.t("choose")) }
                    @for s in &l.sites { option value=(s.id) { (s.name) } }
                }
                label for="grant-role" { (ctx.t("admin-role")) }
                select id="grant-role" name="role" {
                    @for r in ROLES { option value=(r) { (ctx.t(&format!("role-{r}"))) } }
                }
                button type="submit" id="grant" { (ctx.t("admin-grant")) }
            }
        }
    };
    admin_page(ctx, "admin-users", notice, refused, content)
}

/// `GET /admin/users/{id}`.
pub async fn show(
    ctx: Ctx,
    path: web::Path<String>,
    q: web::Query<Done>,
) -> Result<HttpResponse, ConsoleError> {
    require_admin(&ctx)?;
    let l = load(&ctx, parse_id(&path)?).await?;
    let notice = match q.done.as_deref() {
        Some("grant") => Some(ctx.t("admin-granted")),
        Some("revoke") => Some(ctx.t("admin-revoked")),
        _ => None,
    };
    Ok(render(&ctx, &l, notice, None))
}

/// The memberships as the API takes them.
fn inputs(list: &[(String, String)]) -> Result<Vec<MembershipInput>, ConsoleError> {
    list.iter()
        .map(|(site, role)| {
            let site_id = uuid::Uuid::parse_str(site)
                .map_err(|_| ConsoleError::BadInput(format!("site {site:?}")))?;
            let role: Role = serde_json::from_value(serde_json::Value::String(role.clone()))
                .map_err(|_| ConsoleError::BadInput(format!("role {role:?}")))?;
            Ok(MembershipInput { site_id, role })
        })
        .collect()
}

/// Replaces the person's memberships with `wanted` through the API's handler.
async fn replace(
    ctx: &Ctx,
    l: &Loaded,
    wanted: Vec<(String, String)>,
    done: &str,
) -> Result<HttpResponse, ConsoleError> {
    let id = l.user.id.clone();
    match set_memberships(
        ctx.state.clone(),
        RequireAdmin(ctx.auth.clone()),
        web::Path::from(id.clone()),
        web::Json(inputs(&wanted)?),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/users/{id}?done={done}"), &[])),
        Err(e) => {
            let e = refusal_or_error(e)?;
            Ok(render(ctx, l, None, Some(&e)))
        }
    }
}

/// `POST /admin/users/{id}/roles`: grants `role` at `site_id` (replacing the role held there).
pub async fn grant(cmd: Command, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let Command { mut ctx, form } = cmd;
    require_admin(&ctx)?;
    let l = load(&ctx, parse_id(&path)?).await?;
    ctx.visitor.here = format!("/admin/users/{}", l.user.id);
    let site = form.get("site_id").unwrap_or_default().to_string();
    let role = form.get("role").unwrap_or_default().to_string();
    let mut wanted: Vec<(String, String)> = l
        .memberships
        .iter()
        .filter(|m| m.site_id != site)
        .map(|m| (m.site_id.clone(), m.role.clone()))
        .collect();
    wanted.push((site, role));
    replace(&ctx, &l, wanted, "grant").await
}

/// `POST /admin/users/{id}/roles/revoke`: removes the role held at `site_id`.
pub async fn revoke(cmd: Command, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let Command { mut ctx, form } = cmd;
    require_admin(&ctx)?;
    let l = load(&ctx, parse_id(&path)?).await?;
    ctx.visitor.here = format!("/admin/users/{}", l.user.id);
    let site = form.get("site_id").unwrap_or_default().to_string();
    let wanted: Vec<(String, String)> = l
        .memberships
        .iter()
        .filter(|m| m.site_id != site)
        .map(|m| (m.site_id.clone(), m.role.clone()))
        .collect();
    replace(&ctx, &l, wanted, "revoke").await
}
