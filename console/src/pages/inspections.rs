//! Inspections and their answers, read through the API's own visibility (`list_for`,
//! `get_for`).

use actix_web::{web, HttpResponse};
use hazardloop_api::routes::inspections::{get_for, list_for};
use hazardloop_storage::inspections::InspectionFilter;
use hazardloop_storage::{sites, templates};
use maud::html;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ConsoleError;
use crate::layout::page;
use crate::pages::names::names_of;
use crate::visitor::Ctx;

const PAGE: i64 = 50;

/// `GET /inspections` query.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    cursor: String,
}

/// `GET /inspections`.
pub async fn list(ctx: Ctx, q: web::Query<ListQuery>) -> Result<HttpResponse, ConsoleError> {
    let auth = ctx.auth.clone();
    let after = Some(q.cursor.clone()).filter(|c| !c.is_empty());
    let (rows, names, titles, site_names) = ctx
        .state
        .db
        .read(move |c| {
            let rows = list_for(
                c,
                &auth,
                InspectionFilter::default(),
                after.as_deref(),
                PAGE,
            )?;
            let names = names_of(
                c,
                &auth.org_id,
                rows.iter().map(|(r, _)| r.inspector_id.clone()),
            )?;
            let mut titles = std::collections::BTreeMap::new();
            for (r, _) in &rows {
                if let Ok(t) = templates::get(c, &auth.org_id, &r.template_id) {
                    titles.insert(r.template_id.clone(), t.title);
                }
            }
            let site_names: std::collections::BTreeMap<String, String> =
                sites::list(c, &auth.org_id)?
                    .into_iter()
                    .map(|s| (s.id, s.name))
                    .collect();
            Ok((rows, names, titles, site_names))
        })
        .await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|(r, _)| r.id.clone()))
        .flatten();
    let content = html! {
        @if rows.is_empty() { p class="empty" { (ctx.t("inspections-none")) } }
        @else {
            div class="scroll" { table id="inspection-list" {
                thead { tr {
                    th scope="col" { (ctx.t("field-template")) }
                    th scope="col" { (ctx.t("field-site")) }
                    th scope="col" { (ctx.t("field-inspector")) }
                    th scope="col" { (ctx.t("field-status")) }
                    th scope="col" { (ctx.t("field-started")) }
                } }
                tbody { @for (r, _) in &rows { tr {
                    td { a href={"/inspections/" (r.id)} { (titles.get(&r.template_id).cloned().unwrap_or_else(|| ctx.t("inspection-title"))) } }
                    td { (site_names.get(&r.site_id).cloned().unwrap_or_default()) }
                    td { (names.get(&r.inspector_id).cloned().unwrap_or_default()) }
                    td { (ctx.t(&format!("inspection-{}", r.status))) }
                    td { @if let Some(t) = r.started_at_device { (ctx.time(t)) } }
                } } }
            } }
        }
        nav class="pager" {
            @if let Some(n) = next { a href={"/inspections?cursor=" (n)} rel="next" { (ctx.t("next-page")) } }
        }
    };
    Ok(page(
        &ctx.visitor,
        &ctx.t("inspections-title"),
        "/inspections",
        content,
    ))
}

fn answer_text(raw: &str) -> String {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::String(s)) => s,
        Ok(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(other) => other.to_string(),
        Err(_) => raw.to_string(),
    }
}

/// `GET /inspections/{id}`.
pub async fn show(ctx: Ctx, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let id = uuid::Uuid::parse_str(&path)
        .map_err(|_| ConsoleError::NotFound)?
        .to_string();
    let auth = ctx.auth.clone();
    let (row, answers, template, names, site) = ctx
        .state
        .db
        .read(move |c| {
            let (row, answers) = get_for(c, &auth, &id)?;
            let template = templates::get(c, &auth.org_id, &row.template_id)?
                .template()
                .ok();
            let mut ids: Vec<String> = answers.iter().map(|a| a.answered_by.clone()).collect();
            ids.push(row.inspector_id.clone());
            let names = names_of(c, &auth.org_id, ids)?;
            let site = sites::get(c, &auth.org_id, &row.site_id)?.name;
            Ok((row, answers, template, names, site))
        })
        .await?;
    let prompts: Vec<(String, String)> = template
        .as_ref()
        .map(|t| {
            t.sections
                .iter()
                .flat_map(|s| s.items.iter().map(|i| (i.key.clone(), i.prompt.clone())))
                .collect()
        })
        .unwrap_or_default();
    let title = template
        .as_ref()
        .map(|t| t.title.clone())
        .unwrap_or_else(|| ctx.t("inspection-title"));
    let content = html! {
        dl class="facts card" {
            dt { (ctx.t("field-site")) } dd { (site) }
            dt { (ctx.t("field-inspector")) } dd { (names.get(&row.inspector_id).cloned().unwrap_or_default()) }
            dt { (ctx.t("field-status")) } dd id="inspection-status" { (ctx.t(&format!("inspection-{}", row.status))) }
            dt { (ctx.t("field-started")) } dd { @if let Some(t) = row.started_at_device { (ctx.time(t)) } }
            dt { (ctx.t("field-finished")) } dd { @if let Some(t) = row.finished_at_device { (ctx.time(t)) } }
        }
        h2 { (ctx.t("answers")) }
        div class="scroll" { table id="answers" {
            thead { tr {
                th scope="col" { (ctx.t("field-item")) }
                th scope="col" { (ctx.t("field-answer")) }
                th scope="col" { (ctx.t("who")) }
                th scope="col" { (ctx.t("time-device")) }
                th scope="col" { (ctx.t("time-server")) }
            } }
            tbody { @for a in &answers { tr {
                td { (prompts.iter().find(|(k, _)| *k == a.item_key).map(|(_, p)| p.clone()).unwrap_or_else(|| a.item_key.clone())) }
                td { (answer_text(&a.value)) }
                td { (names.get(&a.answered_by).cloned().unwrap_or_default()) }
                td { @if let Some(t) = a.device_time { (ctx.time(t)) } @else { "—" } }
                td { (ctx.time(a.updated_at)) }
            } } }
        } }
    };
    Ok(page(&ctx.visitor, &title, "/inspections", content))
}
