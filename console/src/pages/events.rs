//! The event feed as a page: the API's `events::page_for` (same visibility and order), newest
//! pages by cursor.

use actix_web::{web, HttpResponse};
use hazardloop_api::routes::events::page_for;
use maud::html;
use serde::Deserialize;

use crate::error::ConsoleError;
use crate::i18n::event_name;
use crate::layout::page;
use crate::pages::names::names_of;
use crate::visitor::Ctx;

const PAGE: i64 = 100;

/// `GET /events` query.
#[derive(Debug, Default, Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    cursor: String,
}

/// `GET /events`.
pub async fn feed(ctx: Ctx, q: web::Query<FeedQuery>) -> Result<HttpResponse, ConsoleError> {
    let after: i64 = if q.cursor.is_empty() {
        0
    } else {
        q.cursor
            .parse()
            .ok()
            .filter(|n: &i64| *n >= 0)
            .ok_or_else(|| ConsoleError::BadInput("cursor".into()))?
    };
    let auth = ctx.auth.clone();
    let (rows, names) = ctx
        .state
        .db
        .read(move |c| {
            let (rows, _) = page_for(c, &auth, after, None, None, PAGE)?;
            let names = names_of(
                c,
                &auth.org_id,
                rows.iter().filter_map(|e| e.actor_id.clone()),
            )?;
            Ok((rows, names))
        })
        .await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|e| e.seq))
        .flatten();
    let lang = ctx.lang();
    let content = html! {
        @if rows.is_empty() { p class="empty" { (ctx.t("events-none")) } }
        @else {
            div class="scroll" { table id="events" {
                thead { tr {
                    th scope="col" { "#" }
                    th scope="col" { (ctx.t("field-event")) }
                    th scope="col" { (ctx.t("who")) }
                    th scope="col" { (ctx.t("time-device")) }
                    th scope="col" { (ctx.t("time-server")) }
                } }
                tbody { @for e in &rows { tr {
                    td { (e.seq) }
                    td {
                        @match e.entity_type.as_str() {
                            "hazard" => { a href={"/hazards/" (e.entity_id)} { (event_name(lang, &e.event)) } }
                            "inspection" => { a href={"/inspections/" (e.entity_id)} { (event_name(lang, &e.event)) } }
                            _ => { (event_name(lang, &e.event)) }
                        }
                        @if let Some(t) = &e.to_state {
                            @if e.entity_type == "hazard" { " → " (ctx.t(&format!("state-{t}"))) }
                        }
                    }
                    td { @if let Some(a) = &e.actor_id { (names.get(a).cloned().unwrap_or_default()) } }
                    td { @if let Some(t) = e.device_time { (ctx.time(t)) } @else { "—" } }
                    td { (ctx.time(e.server_time)) }
                } } }
            } }
        }
        nav class="pager" {
            @if after > 0 { a href="/events" { (ctx.t("first-page")) } }
            @if let Some(n) = next { a href={"/events?cursor=" (n)} rel="next" id="next-page" { (ctx.t("next-page")) } }
        }
    };
    Ok(page(
        &ctx.visitor,
        &ctx.t("events-title"),
        "/events",
        content,
    ))
}
