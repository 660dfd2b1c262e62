//! "My work": what waits on the signed-in person, counts on top.

use actix_web::HttpResponse;
use hazardloop_api::routes::hazards::scoped_filter;
use hazardloop_storage::hazards::{self, Hazard, HazardFilter};
use hazardloop_storage::now_ms;
use maud::html;

use crate::error::ConsoleError;
use crate::layout::page;
use crate::pages::hazard_table;
use crate::visitor::Ctx;

/// How many of each list the page shows (the count says when there are more).
const SHOWN: i64 = 50;

/// `GET /`.
pub async fn show(ctx: Ctx) -> Result<HttpResponse, ConsoleError> {
    let now = now_ms();
    let auth = ctx.auth.clone();
    let me = auth.user_id.clone();
    let lists: Vec<Vec<Hazard>> = ctx
        .state
        .db
        .read(move |c| {
            let filters = [
                HazardFilter {
                    states: vec!["awaiting_verification".into()],
                    verifier_id: Some(me.clone()),
                    ..HazardFilter::default()
                },
                HazardFilter {
                    states: vec!["reported".into()],
                    ..HazardFilter::default()
                },
                HazardFilter {
                    states: vec!["assigned".into(), "rectifying".into()],
                    owner_id: Some(me.clone()),
                    ..HazardFilter::default()
                },
                HazardFilter {
                    overdue: Some(true),
                    ..HazardFilter::default()
                },
            ];
            let mut out = Vec::new();
            for f in filters {
                let f = scoped_filter(c, &auth, f, None)?;
                out.push(hazards::list(c, &auth.org_id, &f, now, None, SHOWN + 1)?);
            }
            Ok(out)
        })
        .await?;
    let sections = [
        (
            "to-verify",
            "work-to-verify",
            "/hazards?state=awaiting_verification",
        ),
        ("to-assign", "work-to-assign", "/hazards?state=reported"),
        (
            "to-rectify",
            "work-to-rectify",
            "/hazards?state=assigned,rectifying",
        ),
        ("overdue", "work-overdue", "/hazards?overdue=true"),
    ];
    let lang = ctx.lang();
    let count = |n: usize| {
        if n as i64 > SHOWN {
            format!("{SHOWN}+")
        } else {
            n.to_string()
        }
    };
    let content = html! {
        ul class="counts" {
            @for ((id, key, href), rows) in sections.iter().zip(&lists) {
                li { a href=(href) id={"count-" (id)} {
                    span class="n" { (count(rows.len())) }
                    span class="label" { (ctx.t(key)) }
                } }
            }
        }
        @for ((id, key, _), rows) in sections.iter().zip(&lists) {
            section aria-labelledby={"h-" (id)} {
                h2 id={"h-" (id)} { (ctx.t(key)) }
                @if rows.is_empty() {
                    p class="empty" { (ctx.t("work-empty")) }
                } @else {
                    (hazard_table(lang, &ctx.visitor.zone, &rows[..rows.len().min(SHOWN as usize)], now, &format!("list-{id}")))
                }
            }
        }
    };
    Ok(page(&ctx.visitor, &ctx.t("work-title"), "/", content))
}
