//! The conflict log for supervisors, with resolve: the API's own `list_for` and
//! `resolve_conflict`, so a choice is the same `hazard.update` mutation with its audit event.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use hazardloop_api::routes::conflicts::{list_for, resolve_conflict, Resolve};
use hazardloop_storage::conflicts::Conflict;
use maud::html;
use serde::Deserialize;

use crate::error::ConsoleError;
use crate::layout::{page_with_status, see_other};
use crate::pages::words::refusal_words;
use crate::visitor::{Command, Ctx};

const PAGE: i64 = 50;

/// `GET /conflicts` query.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    done: String,
}

async fn load(ctx: &Ctx, cursor: Option<String>) -> Result<Vec<Conflict>, ConsoleError> {
    let auth = ctx.auth.clone();
    Ok(ctx
        .state
        .db
        .read(move |c| {
            list_for(
                c,
                &auth,
                None,
                None,
                Some("open".into()),
                cursor.as_deref(),
                PAGE,
            )
        })
        .await?)
}

fn value_text(raw: &Option<String>) -> String {
    raw.as_deref()
        .map(|v| match serde_json::from_str::<serde_json::Value>(v) {
            Ok(serde_json::Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => v.to_string(),
        })
        .unwrap_or_default()
}

fn render(
    ctx: &Ctx,
    rows: &[Conflict],
    notice: Option<String>,
    problem: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    let content = html! {
        @if let Some(n) = notice { p class="notice" role="status" id="conflict-done" { (n) } }
        @if let Some(p) = problem { p class="problem" role="alert" id="conflict-refused" { (p) } }
        @if rows.is_empty() { p class="empty" { (ctx.t("conflicts-none")) } }
        @for r in rows {
            article class="card conflict" id={"conflict-" (r.id)} {
                h2 {
                    @if r.kind == "field" { (ctx.t("conflict-field-kind")) } @else { (ctx.t("conflict-rejected_command")) }
                }
                dl class="facts" {
                    dt { (ctx.t("conflict-entity")) }
                    dd { @if r.entity_type == "hazard" { a href={"/hazards/" (r.entity_id)} { (ctx.t("open")) } } @else { (r.entity_type) } }
                    @if let Some(f) = &r.field { dt { (ctx.t("conflict-field")) } dd { (f) } }
                    dt { (ctx.t("conflict-winning")) } dd { (value_text(&r.winning_value)) }
                    dt { (ctx.t("conflict-losing")) } dd { (value_text(&r.losing_value)) }
                    dt { (ctx.t("field-time")) } dd { (ctx.time(r.created_at)) }
                }
                form method="post" action={"/conflicts/" (r.id) "/resolve"} class="command" {
                    input type="hidden" name="csrf" value=(ctx.visitor.csrf);
                    @if r.kind == "field" {
                        fieldset {
                            legend { (ctx.t("conflict-resolve")) }
                            div class="field check" {
                                input type="radio" id={"keep-" (r.id)} name="choose" value="winning" checked;
                                label for={"keep-" (r.id)} { (ctx.t("conflict-keep-winning")) }
                            }
                            div class="field check" {
                                input type="radio" id={"lose-" (r.id)} name="choose" value="losing";
                                label for={"lose-" (r.id)} { (ctx.t("conflict-keep-losing")) }
                            }
                        }
                    }
                    label for={"note-" (r.id)} { (ctx.t("arg-note")) }
                    input type="text" id={"note-" (r.id)} name="note";
                    button type="submit" { (ctx.t("conflict-resolve")) }
                }
            }
        }
        nav class="pager" {
            @if let Some(n) = next { a href={"/conflicts?cursor=" (n)} rel="next" { (ctx.t("next-page")) } }
        }
    };
    page_with_status(
        &ctx.visitor,
        &ctx.t("conflicts-title"),
        "/conflicts",
        content,
        status,
    )
}

/// `GET /conflicts`: the open conflicts at sites where the caller is supervisor or above.
pub async fn list(ctx: Ctx, q: web::Query<ListQuery>) -> Result<HttpResponse, ConsoleError> {
    let rows = load(&ctx, Some(q.cursor.clone()).filter(|c| !c.is_empty())).await?;
    let notice = (q.done == "1").then(|| ctx.t("conflict-resolved"));
    Ok(render(&ctx, &rows, notice, None, StatusCode::OK))
}

/// `POST /conflicts/{id}/resolve`.
pub async fn resolve(cmd: Command, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let Command { mut ctx, form } = cmd;
    ctx.visitor.here = "/conflicts".into();
    let id = uuid::Uuid::parse_str(&path)
        .map_err(|_| ConsoleError::NotFound)?
        .to_string();
    let body = Resolve {
        value: None,
        choose: form.get("choose").map(str::to_string),
        note: form.get("note").map(str::to_string),
    };
    match resolve_conflict(&ctx.state, &ctx.auth, id, body).await {
        Ok(_) => Ok(see_other("/conflicts?done=1", &[])),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            let rows = load(&ctx, None).await?;
            let words = refusal_words(&ctx, &e);
            Ok(render(&ctx, &rows, None, Some(words), e.status))
        }
        Err(e) => Err(e.into()),
    }
}
