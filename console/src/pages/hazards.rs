//! The hazard list: the API's filters (site subtree, state, grade, risk, overdue, assignee,
//! text) and cursor paging, as a form.

use actix_web::{web, HttpResponse};
use hazardloop_api::routes::hazards::{scoped_filter, HazardQuery};
use hazardloop_storage::{hazards, now_ms, sites};
use maud::html;
use serde::Deserialize;

use crate::error::ConsoleError;
use crate::layout::page;
use crate::pages::hazard_table;
use crate::visitor::Ctx;

const PAGE: i64 = 50;
const STATES: [&str; 6] = [
    "reported",
    "assigned",
    "rectifying",
    "awaiting_verification",
    "closed",
    "cancelled",
];
const GRADES: [&str; 2] = ["general", "major"];
const RISKS: [&str; 4] = ["blue", "yellow", "orange", "red"];

/// The filter form as the browser sends it (empty fields are "any").
#[derive(Debug, Default, Deserialize, Clone)]
pub struct ListQuery {
    #[serde(default)]
    site_id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    risk: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    owner_id: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

fn some(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl ListQuery {
    fn api_query(&self) -> Result<HazardQuery, ConsoleError> {
        let uuid = |s: &str| {
            some(s)
                .map(|v| uuid::Uuid::parse_str(&v))
                .transpose()
                .map_err(|e| ConsoleError::BadInput(e.to_string()))
        };
        Ok(HazardQuery {
            site_id: uuid(&self.site_id)?,
            state: some(&self.state),
            grade: some(&self.grade),
            risk: some(&self.risk),
            overdue: (self.overdue == "true").then_some(true),
            owner_id: uuid(&self.owner_id)?,
            q: some(&self.q),
            cursor: some(&self.cursor),
            ..HazardQuery::default()
        })
    }

    /// This query with another cursor, for the next-page link.
    fn with_cursor(&self, cursor: &str) -> String {
        let mut q = self.clone();
        q.cursor = cursor.to_string();
        let pairs = [
            ("site_id", q.site_id),
            ("state", q.state),
            ("grade", q.grade),
            ("risk", q.risk),
            ("overdue", q.overdue),
            ("owner_id", q.owner_id),
            ("q", q.q),
            ("cursor", q.cursor),
        ];
        let kept: Vec<(&str, String)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        serde_urlencoded::to_string(kept).unwrap_or_default()
    }
}

/// `GET /hazards`.
pub async fn list(ctx: Ctx, query: web::Query<ListQuery>) -> Result<HttpResponse, ConsoleError> {
    let query = query.into_inner();
    let api = query.api_query()?;
    let filter = api.filter()?;
    let site = api.site_id.map(|s| s.to_string());
    let after = api.cursor.clone();
    let auth = ctx.auth.clone();
    let now = now_ms();
    let (rows, site_list, people) = ctx
        .state
        .db
        .read(move |c| {
            let f = scoped_filter(c, &auth, filter, site)?;
            let rows = hazards::list(c, &auth.org_id, &f, now, after.as_deref(), PAGE)?;
            let vis = hazardloop_storage::access::visibility(
                c,
                &auth.org_id,
                &auth.user_id,
                auth.is_admin,
            )?;
            let all = sites::list(c, &auth.org_id)?;
            let visible: Vec<_> = all.into_iter().filter(|s| vis.sees(s)).collect();
            // The people who can be assignees: those at the visible sites.
            let mut people: Vec<(String, String)> = Vec::new();
            for s in visible.iter().filter(|s| {
                s.parent_id.is_none()
                    || !visible.iter().any(|p| Some(&p.id) == s.parent_id.as_ref())
            }) {
                for p in hazardloop_storage::users::people_at(c, s)? {
                    if !people.iter().any(|(id, _)| *id == p.id) {
                        people.push((p.id, p.name));
                    }
                }
            }
            Ok((rows, visible, people))
        })
        .await?;
    let next = (rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|h| h.id.clone()))
        .flatten();
    let lang = ctx.lang();
    let select = |name: &str, label: &str, values: &[&str], prefix: &str, current: &str| {
        html! {
            div class="field" {
                label for={"f-" (name)} { (ctx.t(label)) }
                select id={"f-" (name)} name=(name) {
                    option value="" { (ctx.t("filter-any")) }
                    @for v in values {
                        option value=(v) selected[*v == current] { (ctx.t(&format!("{prefix}-{v}"))) }
                    }
                }
            }
        }
    };
    let content = html! {
        form method="get" action="/hazards" class="filters" {
            div class="field" {
                label for="f-site" { (ctx.t("filter-site")) }
                select id="f-site" name="site_id" {
                    option value="" { (ctx.t("filter-any")) }
                    @for s in &site_list {
                        option value=(s.id) selected[s.id == query.site_id] {
                            (format!("{}{}", "· ".repeat(s.path.matches('/').count().saturating_sub(2)), s.name))
                        }
                    }
                }
            }
            (select("state", "filter-state", &STATES, "state", &query.state))
            (select("grade", "filter-grade", &GRADES, "grade", &query.grade))
            (select("risk", "filter-risk", &RISKS, "risk", &query.risk))
            div class="field" {
                label for="f-owner" { (ctx.t("filter-assignee")) }
                select id="f-owner" name="owner_id" {
                    option value="" { (ctx.t("filter-any")) }
                    @for (id, name) in &people {
                        option value=(id) selected[*id == query.owner_id] { (name) }
                    }
                }
            }
            div class="field" {
                label for="f-q" { (ctx.t("filter-text")) }
                input id="f-q" name="q" type="search" value=(query.q);
            }
            div class="field check" {
                input id="f-overdue" name="overdue" type="checkbox" value="true" checked[query.overdue == "true"];
                label for="f-overdue" { (ctx.t("filter-overdue")) }
            }
            button type="submit" id="filter" { (ctx.t("filter-apply")) }
        }
        @if rows.is_empty() {
            p class="empty" { (ctx.t("hazards-none")) }
        } @else {
            (hazard_table(lang, &ctx.visitor.zone, &rows, now, "hazard-list"))
        }
        nav class="pager" {
            @if !query.cursor.is_empty() {
                a href={"/hazards?" (query.with_cursor(""))} { (ctx.t("first-page")) }
            }
            @if let Some(n) = next {
                a href={"/hazards?" (query.with_cursor(&n))} rel="next" id="next-page" { (ctx.t("next-page")) }
            }
        }
    };
    Ok(page(
        &ctx.visitor,
        &ctx.t("hazards-title"),
        "/hazards",
        content,
    ))
}
