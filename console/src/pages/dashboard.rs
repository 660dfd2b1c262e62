//! The dashboard: hazards by state and grade per site, overdue over time, closure rate and
//! median days to close by month (calendar months of the organisation's time zone); charts
//! drawn on the server as SVG, figures also as tables.

use actix_web::HttpResponse;
use hazardloop_storage::{access, dashboard, now_ms, stats};
use maud::html;

use crate::charts;
use crate::error::ConsoleError;
use crate::layout::page;
use crate::visitor::Ctx;

/// How many months the charts cover.
const MONTHS: u32 = 12;

const STATES: [&str; 6] = [
    "reported",
    "assigned",
    "rectifying",
    "awaiting_verification",
    "closed",
    "cancelled",
];
const GRADES: [&str; 2] = ["general", "major"];

/// `GET /dashboard`: over the sites the visitor may see, exactly as `GET /v1/stats/hazards`.
pub async fn show(ctx: Ctx) -> Result<HttpResponse, ConsoleError> {
    let now = now_ms();
    let auth = ctx.auth.clone();
    let zone = ctx.visitor.zone.clone();
    let (st, months) = ctx
        .state
        .db
        .read(move |c| {
            let paths = access::visible_paths(c, &auth.org_id, &auth.user_id, auth.is_admin)?;
            let st = stats::hazard_stats(c, &auth.org_id, paths.as_deref(), now)?;
            let m = dashboard::monthly(c, &auth.org_id, paths.as_deref(), now, &zone, MONTHS)?;
            Ok((st, m))
        })
        .await?;
    let order = |keys: &[&str], m: &std::collections::BTreeMap<String, u64>| {
        let mut parts: Vec<(String, u64)> = keys
            .iter()
            .map(|k| (k.to_string(), m.get(*k).copied().unwrap_or(0)))
            .collect();
        for (k, n) in m {
            if !keys.contains(&k.as_str()) {
                parts.push((k.clone(), *n));
            }
        }
        parts
    };
    let by_state: Vec<_> = st
        .per_site
        .iter()
        .map(|s| (s.site_name.clone(), order(&STATES, &s.counts.by_state)))
        .collect();
    let by_grade: Vec<_> = st
        .per_site
        .iter()
        .map(|s| (s.site_name.clone(), order(&GRADES, &s.counts.by_grade)))
        .collect();
    let labels: Vec<String> = months.iter().map(|m| m.month.clone()).collect();
    let overdue: Vec<f64> = months.iter().map(|m| m.overdue_at_end as f64).collect();
    let rate: Vec<f64> = months
        .iter()
        .map(|m| m.closure_rate.unwrap_or(0.0))
        .collect();
    let median: Vec<f64> = months
        .iter()
        .map(|m| m.median_days_to_close.unwrap_or(0.0))
        .collect();
    let pct = |v: Option<f64>| v.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_default();
    let days = |v: Option<f64>| v.map(|d| format!("{d:.1}")).unwrap_or_default();
    let content = html! {
        ul class="counts" {
            li id="dash-total" { span class="n" { (st.all.total) } span class="label" { (ctx.t("dash-total")) } }
            li id="dash-open" { span class="n" { (st.all.open) } span class="label" { (ctx.t("dash-open")) } }
            li id="dash-overdue" { span class="n" { (st.all.overdue) } span class="label" { (ctx.t("overdue")) } }
            li id="dash-rate" { span class="n" { (pct(st.all.closure_rate)) } span class="label" { (ctx.t("dash-closure-rate")) } }
        }
        section aria-labelledby="h-by-state" {
            h2 id="h-by-state" { (ctx.t("dash-by-state")) }
            @if by_state.is_empty() { p class="empty" { (ctx.t("dash-empty")) } }
            @else {
                (charts::stacked_bars("chart-by-state", &ctx.t("dash-by-state"), &by_state))
                ul class="legend" { @for s in STATES { li { span class={"key seg-" (s)} {} (ctx.t(&format!("state-{s}"))) } } }
            }
        }
        section aria-labelledby="h-by-grade" {
            h2 id="h-by-grade" { (ctx.t("dash-by-grade")) }
            @if !by_grade.is_empty() {
                (charts::stacked_bars("chart-by-grade", &ctx.t("dash-by-grade"), &by_grade))
                ul class="legend" { @for g in GRADES { li { span class={"key seg-" (g)} {} (ctx.t(&format!("grade-{g}"))) } } }
            }
        }
        section aria-labelledby="h-overdue" {
            h2 id="h-overdue" { (ctx.t("dash-overdue-over-time")) }
            (charts::line("chart-overdue", &ctx.t("dash-overdue-over-time"), &labels, &overdue, false))
        }
        section aria-labelledby="h-rate" {
            h2 id="h-rate" { (ctx.t("dash-closure-by-month")) }
            (charts::line("chart-rate", &ctx.t("dash-closure-by-month"), &labels, &rate, true))
        }
        section aria-labelledby="h-median" {
            h2 id="h-median" { (ctx.t("dash-median-by-month")) }
            (charts::line("chart-median", &ctx.t("dash-median-by-month"), &labels, &median, false))
        }
        section aria-labelledby="h-months" {
            h2 id="h-months" { (ctx.t("dash-table")) }
            div class="scroll" { table id="months" {
                thead { tr {
                    th scope="col" { (ctx.t("dash-month")) }
                    th scope="col" { (ctx.t("dash-reported")) }
                    th scope="col" { (ctx.t("dash-closed")) }
                    th scope="col" { (ctx.t("dash-closure-rate")) }
                    th scope="col" { (ctx.t("dash-median-days")) }
                    th scope="col" { (ctx.t("dash-overdue-at-end")) }
                } }
                tbody { @for m in &months { tr data-month=(m.month) {
                    td { (m.month) }
                    td class="reported" { (m.reported) }
                    td class="closed" { (m.closed) }
                    td class="rate" { (pct(m.closure_rate)) }
                    td class="median" { (days(m.median_days_to_close)) }
                    td class="overdue" { (m.overdue_at_end) }
                } } }
            } }
        }
    };
    Ok(page(
        &ctx.visitor,
        &ctx.t("dash-title"),
        "/dashboard",
        content,
    ))
}
