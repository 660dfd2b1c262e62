//! Webhooks: the subscriptions, each one's delivery log, and redelivering a delivery through
//! the API's `POST /v1/webhooks/{id}/deliveries/{delivery_id}/redeliver`.

use actix_web::{web, HttpResponse};
use hazardloop_api::routes::webhooks::redeliver as api_redeliver;
use hazardloop_api::ApiError;
use hazardloop_storage::webhooks;
use maud::html;
use serde::Deserialize;

use crate::error::ConsoleError;
use crate::layout::see_other;
use crate::pages::admin::{admin_page, refusal_or_error, require_admin};
use crate::visitor::{Command, Ctx};

const PAGE: i64 = 50;

/// `GET /admin/webhooks`.
pub async fn list(ctx: Ctx) -> Result<HttpResponse, ConsoleError> {
    require_admin(&ctx)?;
    let org = ctx.auth.org_id.clone();
    let rows = ctx.state.db.read(move |c| webhooks::list(c, &org)).await?;
    let content = html! {
        @if rows.is_empty() { p class="empty" { (ctx.t("admin-none")) } }
        @else {
            div class="scroll" { table id="webhook-list" {
                thead { tr {
                    th scope="col" { (ctx.t("admin-webhook-url")) }
                    th scope="col" { (ctx.t("admin-webhook-events")) }
                    th scope="col" { (ctx.t("admin-status")) }
                } }
                tbody { @for w in &rows {
                    tr data-webhook=(w.id) {
                        td { a href={"/admin/webhooks/" (w.id)} { (w.url) } @if !w.description.is_empty() { br; (w.description) } }
                        td { (w.types().join(", ")) }
                        td { (ctx.t(if w.active { "admin-webhook-active" } else { "admin-webhook-disabled" })) }
                    }
                } }
            } }
        }
    };
    Ok(admin_page(&ctx, "admin-webhooks", None, None, content))
}

/// `GET /admin/webhooks/{id}` query: the delivery log's paging and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    cursor: Option<String>,
    done: Option<String>,
}

fn parse_id(raw: &str) -> Result<String, ConsoleError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ConsoleError::NotFound)
}

async fn render(
    ctx: &Ctx,
    id: String,
    cursor: Option<String>,
    notice: Option<String>,
    refused: Option<&ApiError>,
) -> Result<HttpResponse, ConsoleError> {
    let org = ctx.auth.org_id.clone();
    let after = cursor.clone();
    let (hook, log) = ctx
        .state
        .db
        .read(move |c| {
            let hook = webhooks::get(c, &org, &id)?;
            let log = webhooks::deliveries(c, &org, &hook.id, None, after.as_deref(), PAGE)?;
            Ok((hook, log))
        })
        .await?;
    let next = (log.len() as i64 == PAGE)
        .then(|| log.last().map(|d| d.id.clone()))
        .flatten();
    let content = html! {
        dl class="facts card" {
            dt { (ctx.t("admin-webhook-url")) } dd id="webhook-url" { (hook.url) }
            dt { (ctx.t("admin-webhook-events")) } dd { (hook.types().join(", ")) }
            dt { (ctx.t("admin-status")) } dd {
                (ctx.t(if hook.active { "admin-webhook-active" } else { "admin-webhook-disabled" }))
                @if let Some(r) = &hook.disabled_reason { " — " (r) }
            }
        }
        section aria-labelledby="h-deliveries" {
            h2 id="h-deliveries" { (ctx.t("admin-webhook-deliveries")) }
            @if log.is_empty() { p class="empty" { (ctx.t("admin-none")) } }
            @else {
                div class="scroll" { table id="delivery-log" {
                    thead { tr {
                        th scope="col" { (ctx.t("admin-delivery-event")) }
                        th scope="col" { (ctx.t("admin-status")) }
                        th scope="col" { (ctx.t("admin-delivery-attempts")) }
                        th scope="col" { (ctx.t("admin-delivery-last")) }
                        th scope="col" { (ctx.t("admin-created")) }
                        th scope="col" { span class="visually-hidden" { (ctx.t("admin-redeliver")) } }
                    } }
                    tbody { @for d in &log {
                        tr data-delivery=(d.id) data-status=(d.status) {
                            td { (crate::i18n::event_name(ctx.lang(), &d.event_type))
                                @if d.redelivery_of.is_some() { " " span class="badge" { (ctx.t("admin-redelivery")) } } }
                            td { (ctx.t(&format!("delivery-{}", d.status))) }
                            td { (d.attempts) }
                            td {
                                @if let Some(code) = d.last_status_code { "HTTP " (code) " " }
                                @if let Some(e) = &d.last_error { (e) }
                            }
                            td { (ctx.time(d.created_at)) }
                            td {
                                form method="post" action={"/admin/webhooks/" (hook.id) "/deliveries/" (d.id) "/redeliver"} class="inline" {
                                    input type="hidden" name="csrf" value=(ctx.visitor.csrf);
                                    button type="submit" class="secondary" { (ctx.t("admin-redeliver")) }
                                }
                            }
                        }
                    } }
                } }
            }
            nav class="pager" {
                @if cursor.is_some() { a href={"/admin/webhooks/" (hook.id)} { (ctx.t("first-page")) } }
                @if let Some(n) = next { a href={"/admin/webhooks/" (hook.id) "?cursor=" (n)} rel="next" { (ctx.t("next-page")) } }
            }
        }
    };
    Ok(admin_page(ctx, "admin-webhooks", notice, refused, content))
}

/// `GET /admin/webhooks/{id}`.
pub async fn show(
    ctx: Ctx,
    path: web::Path<String>,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, ConsoleError> {
    require_admin(&ctx)?;
    let id = parse_id(&path)?;
    let cursor = q.cursor.as_deref().map(parse_id).transpose()?;
    let notice = (q.done.as_deref() == Some("redeliver")).then(|| ctx.t("admin-redelivered"));
    render(&ctx, id, cursor, notice, None).await
}

/// `POST /admin/webhooks/{id}/deliveries/{delivery_id}/redeliver`.
pub async fn redeliver(
    cmd: Command,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let Command { mut ctx, .. } = cmd;
    require_admin(&ctx)?;
    let (id, delivery) = path.into_inner();
    let id = parse_id(&id)?;
    let delivery = parse_id(&delivery)?;
    ctx.visitor.here = format!("/admin/webhooks/{id}");
    match api_redeliver(
        ctx.state.clone(),
        ctx.auth.clone(),
        web::Path::from((id.clone(), delivery)),
    )
    .await
    {
        Ok(_) => Ok(see_other(
            &format!("/admin/webhooks/{id}?done=redeliver"),
            &[],
        )),
        Err(e) => {
            let e = refusal_or_error(e)?;
            render(&ctx, id, None, None, Some(&e)).await
        }
    }
}
