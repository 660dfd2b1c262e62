//! One hazard: its facts, timeline, before and after photos, and the commands the caller may
//! run now as forms. A command goes through the API's own mutation path
//! (`hazardloop_api::mutate`), so it meets the same engine, permissions, audit and events; a
//! refusal is drawn again in words, with each missing field named next to its input.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use hazardloop_api::mutate::{mutation, run_one};
use hazardloop_api::ApiError;
use hazardloop_storage::audit::AuditRow;
use hazardloop_storage::hazards::Hazard;
use hazardloop_storage::photos::{EntityPhoto, Photo};
use hazardloop_storage::{access, audit, engine, hazards, now_ms, photos, users, StorageError};
use hazardloop_sync::{allowed_commands, Actor, Command as WorkflowCommand};
use maud::{html, Markup};
use serde_json::{json, Map, Value};

use crate::error::ConsoleError;
use crate::i18n::local_input_to_rfc3339;
use crate::layout::{page_with_status, see_other};
use crate::pages::words::{arg_label, invalid_field, missing_fields, refusal_words};
use crate::visitor::{Command, Ctx, FormFields};

/// Everything the page shows, read in one go.
struct Loaded {
    hazard: Hazard,
    site_name: String,
    events: Vec<AuditRow>,
    may_run: Vec<&'static str>,
    photos: Vec<(EntityPhoto, Option<Photo>)>,
    /// People at the hazard's site (assignable owners and verifiers).
    people: Vec<(String, String)>,
    /// Display names by user id.
    names: BTreeMap<String, String>,
}

async fn load(ctx: &Ctx, id: String) -> Result<Loaded, ConsoleError> {
    let auth = ctx.auth.clone();
    let loaded = ctx
        .state
        .db
        .read(move |c| {
            // Visibility before the lookup, as the API does: what the caller may not read is
            // not found.
            let visibility = access::visibility(c, &auth.org_id, &auth.user_id, auth.is_admin)?;
            let (hazard, site) = hazards::find_with_site(c, &auth.org_id, &id)?
                .filter(|(_, site)| visibility.sees(site))
                .ok_or(StorageError::NotFound)?;
            let role = users::role_at(c, &auth.user_id, auth.is_admin, &site)?;
            let events = audit::events_of(c, &auth.org_id, &hazard.id)?;
            let policy = engine::policy(c, &auth.org_id)?;
            let linked = photos::of_entity(c, &auth.org_id, "hazard", &hazard.id)?;
            let mut with_rows = Vec::new();
            for p in linked {
                let row = photos::find(c, &auth.org_id, &p.link.sha256)?;
                with_rows.push((p, row));
            }
            let people: Vec<(String, String)> = users::people_at(c, &site)?
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect();
            let mut names: BTreeMap<String, String> = people.iter().cloned().collect();
            let mut wanted: Vec<String> =
                events.iter().filter_map(|e| e.actor_id.clone()).collect();
            wanted.push(hazard.reporter_id.clone());
            wanted.extend(hazard.owner_id.clone());
            wanted.extend(hazard.verifier_id.clone());
            wanted.retain(|id| !names.contains_key(id));
            names.extend(crate::pages::names::names_of(c, &auth.org_id, wanted)?);
            let actor = Actor {
                user_id: uuid::Uuid::parse_str(&auth.user_id)
                    .map_err(|e| StorageError::Invalid(e.to_string()))?,
                role,
            };
            let may_run = allowed_commands(&hazard.facts()?, &actor, &policy);
            Ok(Loaded {
                site_name: site.name,
                hazard,
                events,
                may_run,
                photos: with_rows,
                people,
                names,
            })
        })
        .await?;
    Ok(loaded)
}

fn parse_id(raw: &str) -> Result<String, ConsoleError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ConsoleError::NotFound)
}

/// A refused command, to draw again.
struct Refused {
    command: String,
    /// The words shown on top.
    reason: String,
    /// Argument names the engine reported missing (`owner_id`, `five.funds`).
    missing: Vec<String>,
    /// The argument the engine found invalid, if one.
    invalid: Option<String>,
    /// What the person had typed.
    values: FormFields,
    status: StatusCode,
}

/// `GET /hazards/{id}`.
pub async fn show(
    ctx: Ctx,
    path: web::Path<String>,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    let id = parse_id(&path)?;
    let loaded = load(&ctx, id).await?;
    // Only a known command name is echoed, and only through the catalog.
    let done = query
        .get("done")
        .and_then(|c| WorkflowCommand::static_name(c));
    Ok(render(&ctx, &loaded, done, None))
}

fn render(ctx: &Ctx, l: &Loaded, done: Option<&str>, refused: Option<Refused>) -> HttpResponse {
    let h = &l.hazard;
    let now = now_ms();
    let name_of = |id: &Option<String>| {
        id.as_ref()
            .map(|i| l.names.get(i).cloned().unwrap_or_else(|| i.clone()))
            .unwrap_or_default()
    };
    let status = refused.as_ref().map(|r| r.status).unwrap_or(StatusCode::OK);
    let content = html! {
        @if let Some(cmd) = done {
            p class="notice" role="status" id="command-done" {
                (ctx.tr("cmd-done", &[("cmd", &ctx.t(&format!("cmd-{cmd}")))]))
            }
        }
        @if let Some(r) = &refused {
            p class="problem" role="alert" id="command-refused" {
                (ctx.tr("cmd-refused", &[("reason", &r.reason)]))
            }
        }
        dl class="facts card" {
            dt { (ctx.t("field-state")) }
            dd id="hazard-state" data-state=(h.state) {
                (ctx.t(&format!("state-{}", h.state)))
                @if h.is_overdue(now) { " " span class="badge overdue" { (ctx.t("overdue")) } }
            }
            dt { (ctx.t("field-grade")) } dd { (ctx.t(&format!("grade-{}", h.grade))) }
            dt { (ctx.t("field-risk")) } dd { span class={"risk risk-" (h.risk)} { (ctx.t(&format!("risk-{}", h.risk))) } }
            dt { (ctx.t("field-category")) } dd { (ctx.t(&format!("category-{}", h.category))) }
            dt { (ctx.t("field-site")) } dd { (l.site_name) }
            dt { (ctx.t("field-location")) } dd { (h.location) }
            dt { (ctx.t("field-description")) } dd class="text" { (h.description) }
            dt { (ctx.t("field-reporter")) } dd { (name_of(&Some(h.reporter_id.clone()))) }
            dt { (ctx.t("field-reported")) } dd { (ctx.time(h.reported_at)) }
            @if h.owner_id.is_some() {
                dt { (ctx.t("field-owner")) } dd { (name_of(&h.owner_id)) }
                dt { (ctx.t("field-verifier")) } dd { (name_of(&h.verifier_id)) }
            }
            @if let Some(d) = h.deadline { dt { (ctx.t("field-deadline")) } dd { (ctx.time(d)) } }
            @if let Some(m) = &h.measures { dt { (ctx.t("field-measures")) } dd class="text" { (m) } }
            @if let Some(insp) = &h.inspection_id {
                dt { (ctx.t("field-inspection")) }
                dd { a href={"/inspections/" (insp)} { (ctx.t("open")) } @if let Some(k) = &h.item_key { " · " (k) } }
            }
        }
        (photo_panel(ctx, l))
        section aria-labelledby="h-commands" {
            h2 id="h-commands" { (ctx.t("commands")) }
            @if l.may_run.is_empty() {
                p class="empty" id="no-commands" { (ctx.t("commands-none")) }
            }
            div class="commands" {
                @for cmd in &l.may_run {
                    (command_form(ctx, l, cmd, refused.as_ref().filter(|r| r.command == *cmd)))
                }
            }
        }
        (timeline(ctx, l))
    };
    page_with_status(&ctx.visitor, &h.title, "/hazards", content, status)
}

fn photo_panel(ctx: &Ctx, l: &Loaded) -> Markup {
    let before: Vec<_> = l
        .photos
        .iter()
        .filter(|(p, _)| p.link.role != "after")
        .collect();
    let after: Vec<_> = l
        .photos
        .iter()
        .filter(|(p, _)| p.link.role == "after")
        .collect();
    let column = |id: &str, key: &str, list: &[&(EntityPhoto, Option<Photo>)]| {
        html! {
            div class="photo-column" id=(id) {
                h3 { (ctx.t(key)) }
                @if list.is_empty() { p class="empty" { (ctx.t("photos-none")) } }
                @for (p, row) in list {
                    figure class="photo" {
                        @if p.status.has_bytes() {
                            a href={"/photos/" (p.link.sha256) "/display"} title=(ctx.t("photo-open")) {
                                img src={"/photos/" (p.link.sha256) "/thumbnail"} alt=(ctx.t(key));
                            }
                        } @else {
                            p class="pending" { (ctx.t("photo-pending")) }
                        }
                        figcaption {
                            @if let Some(r) = row {
                                @if let Some(at) = r.captured_at { span { (ctx.t("photo-captured")) ": " (ctx.time(at)) } br; }
                                @if let (Some(lat), Some(lon)) = (r.gps_lat, r.gps_lon) {
                                    span { (ctx.t("photo-gps")) ": " (format!("{lat:.5}, {lon:.5}")) } br;
                                }
                            }
                            @for f in &p.flags {
                                @if let Some(code) = f.get("code").and_then(Value::as_str) {
                                    span class="badge flag" { (flag_words(ctx, code)) } " "
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html! {
        section aria-labelledby="h-photos" {
            h2 id="h-photos" { (ctx.t("photos")) }
            div class="photos" {
                (column("photos-before", "photos-before", &before))
                (column("photos-after", "photos-after", &after))
            }
        }
    }
}

fn flag_words(ctx: &Ctx, code: &str) -> String {
    let key = format!("flag-{code}");
    let words = ctx.t(&key);
    if words == key {
        // A flag the catalog does not know yet: its name in words rather than a code.
        code.replace('_', " ")
    } else {
        words
    }
}

fn timeline(ctx: &Ctx, l: &Loaded) -> Markup {
    html! {
        section aria-labelledby="h-timeline" {
            h2 id="h-timeline" { (ctx.t("timeline")) }
            div class="scroll" {
                table id="timeline" {
                    thead { tr {
                        th scope="col" { (ctx.t("time-device")) }
                        th scope="col" { (ctx.t("time-server")) }
                        th scope="col" { (ctx.t("who")) }
                        th scope="col" { (ctx.t("what")) }
                    } }
                    tbody {
                        @for e in &l.events {
                            tr {
                                td { @if let Some(d) = e.device_time { (ctx.time(d)) } @else { "—" } }
                                td { (ctx.time(e.server_time)) }
                                td { @if let Some(a) = &e.actor_id { (l.names.get(a).cloned().unwrap_or_else(|| a.clone())) } }
                                td { (event_words(ctx, e)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn event_words(ctx: &Ctx, e: &AuditRow) -> String {
    let what = crate::i18n::event_name(ctx.lang(), &e.event);
    match (&e.from_state, &e.to_state) {
        (Some(f), Some(t)) if f != t => format!(
            "{what}: {} → {}",
            ctx.t(&format!("state-{f}")),
            ctx.t(&format!("state-{t}"))
        ),
        _ => what,
    }
}

/// The argument names each command's form has, in order (`five` stands for the 五落实 block).
fn fields_of(command: &str, major: bool) -> &'static [&'static str] {
    match (command, major) {
        ("assign", false) => &["owner_id", "verifier_id", "deadline", "measures"],
        ("assign", true) => &["owner_id", "verifier_id", "deadline", "measures", "five"],
        ("rectify_on_spot" | "submit_rectification" | "verify", _) => &["note"],
        ("reject" | "cancel", _) => &["reason"],
        ("regrade", _) => &["grade", "reason", "five"],
        ("extend_deadline", _) => &["deadline", "reason"],
        _ => &[],
    }
}

const FIVE: [&str; 5] = [
    "five.responsible_person",
    "five.measures",
    "five.funds",
    "five.deadline",
    "five.contingency_plan",
];

fn command_form(ctx: &Ctx, l: &Loaded, cmd: &str, refused: Option<&Refused>) -> Markup {
    let h = &l.hazard;
    let major = h.grade == "major";
    let value = |name: &str| {
        refused
            .and_then(|r| r.values.get(name))
            .unwrap_or_default()
            .to_string()
    };
    let input = |name: &str| -> Markup {
        let id = format!("{cmd}-{}", name.replace('.', "-"));
        let label = arg_label(ctx, name);
        let missing = refused.is_some_and(|r| r.missing.iter().any(|m| m == name));
        let invalid = refused.is_some_and(|r| r.invalid.as_deref() == Some(name));
        let err_id = format!("{id}-error");
        let people = |name: &str| {
            html! {
                select id=(id) name=(name) aria-invalid=[missing.then_some("true")] aria-describedby=[missing.then_some(err_id.as_str())] {
                    option value="" { (ctx.t("choose")) }
                    @for (pid, pname) in &l.people {
                        option value=(pid) selected[value(name) == *pid] { (pname) }
                    }
                }
            }
        };
        html! {
            div class={"field" @if missing || invalid { " has-error" }} {
                label for=(id) { (label) }
                @match name {
                    "owner_id" | "verifier_id" => { (people(name)) }
                    "deadline" | "five.deadline" => {
                        input id=(id) name=(name) type="datetime-local" value=(value(name))
                            aria-invalid=[missing.then_some("true")] aria-describedby=[missing.then_some(err_id.as_str())];
                    }
                    "grade" => {
                        select id=(id) name=(name) {
                            @for g in ["general", "major"] {
                                option value=(g) selected[value(name) == g || (value(name).is_empty() && h.grade == g)] { (ctx.t(&format!("grade-{g}"))) }
                            }
                        }
                    }
                    "measures" | "note" | "reason" | "five.measures" | "five.contingency_plan" => {
                        textarea id=(id) name=(name) rows="2"
                            aria-invalid=[missing.then_some("true")] aria-describedby=[missing.then_some(err_id.as_str())] { (value(name)) }
                    }
                    _ => {
                        input id=(id) name=(name) type="text" value=(value(name))
                            aria-invalid=[missing.then_some("true")] aria-describedby=[missing.then_some(err_id.as_str())];
                    }
                }
                @if missing {
                    p class="field-error" id=(err_id) data-field=(name) { (label) ": " (ctx.t("arg-missing")) }
                } @else if invalid {
                    p class="field-error" id=(err_id) data-field=(name) { (label) }
                }
            }
        }
    };
    html! {
        form method="post" action={"/hazards/" (h.id) "/" (cmd)} class={"command card cmd-" (cmd)} id={"form-" (cmd)} {
            h3 { (ctx.t(&format!("cmd-{cmd}"))) }
            input type="hidden" name="csrf" value=(ctx.visitor.csrf);
            input type="hidden" name="version" value=(h.version);
            @for name in fields_of(cmd, major) {
                @if *name == "five" {
                    fieldset class="five" {
                        legend { (ctx.t("field-five")) }
                        @for f in FIVE { (input(f)) }
                    }
                } @else {
                    (input(name))
                }
            }
            button type="submit" id={"run-" (cmd)} { (ctx.t(&format!("cmd-{cmd}"))) }
        }
    }
}

/// The mutation arguments a command form stands for.
fn args_of(zone: &jiff::tz::TimeZone, cmd: &str, hazard_id: &str, form: &FormFields) -> Value {
    let mut args = Map::new();
    args.insert("hazard_id".into(), json!(hazard_id));
    let mut five = Map::new();
    for name in fields_of(cmd, true) {
        let names: Vec<&str> = if *name == "five" {
            FIVE.to_vec()
        } else {
            vec![name]
        };
        for n in names {
            let Some(v) = form.get(n) else { continue };
            let v = if n.ends_with("deadline") {
                local_input_to_rfc3339(zone, v)
            } else {
                v.to_string()
            };
            match n.strip_prefix("five.") {
                Some(part) => {
                    five.insert(part.into(), json!(v));
                }
                None => {
                    args.insert(n.into(), json!(v));
                }
            }
        }
    }
    if !five.is_empty() {
        args.insert("five".into(), Value::Object(five));
    }
    Value::Object(args)
}

/// `POST /hazards/{id}/{command}`.
pub async fn run(
    cmd: Command,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let Command { mut ctx, form } = cmd;
    let (raw_id, raw_cmd) = path.into_inner();
    let id = parse_id(&raw_id)?;
    // A refusal is drawn at the POST's address; the language switch comes back to the page.
    ctx.visitor.here = format!("/hazards/{id}");
    let name = WorkflowCommand::static_name(&raw_cmd).ok_or(ConsoleError::NotFound)?;
    let base = form.get("version").and_then(|v| v.parse::<i64>().ok());
    let m = mutation(
        &format!("hazard.{name}"),
        args_of(&ctx.visitor.zone, name, &id, &form),
        base,
    );
    match run_one(&ctx.state, &ctx.auth, m).await {
        Ok(_) => Ok(see_other(&format!("/hazards/{id}?done={name}"), &[])),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            let loaded = load(&ctx, id).await?;
            let refused = refusal(&ctx, name, e, form);
            Ok(render(&ctx, &loaded, None, Some(refused)))
        }
        Err(e) => Err(e.into()),
    }
}

/// The engine's refusal to draw again: its words, and the fields to mark.
fn refusal(ctx: &Ctx, cmd: &str, e: ApiError, values: FormFields) -> Refused {
    Refused {
        command: cmd.to_string(),
        reason: refusal_words(ctx, &e),
        missing: missing_fields(&e),
        invalid: invalid_field(&e),
        values,
        status: e.status,
    }
}
