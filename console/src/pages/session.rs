//! Sign-in, sign-out and the language switch.

use actix_web::{web, HttpResponse};
use hazardloop_api::auth::random_token;
use hazardloop_api::auth::sign_in::{check_password, SignInRefusal};
use hazardloop_storage::{console_sessions, now_ms};
use maud::html;

use crate::error::ConsoleError;
use crate::i18n::{t, tr, Lang, LANG_COOKIE};
use crate::layout::{local_path, page, page_with_status, see_other};
use crate::visitor::{cookie, set_cookie, Submitted, Visitor, CSRF_COOKIE, SESSION_COOKIE};

fn sign_in_form(v: &Visitor, email: &str, problem: Option<String>) -> maud::Markup {
    let lang = v.lang;
    html! {
        @if let Some(p) = problem {
            p class="problem" role="alert" id="sign-in-problem" { (p) }
        }
        form method="post" action="/login" class="card narrow" {
            input type="hidden" name="csrf" value=(v.csrf);
            label for="email" { (t(lang, "email")) }
            input id="email" name="email" type="email" autocomplete="username" required value=(email);
            label for="password" { (t(lang, "password")) }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            button type="submit" id="sign-in" { (t(lang, "sign-in")) }
        }
    }
}

/// `GET /login`.
pub async fn form(v: Visitor) -> Result<HttpResponse, ConsoleError> {
    if v.session.is_some() {
        return Ok(see_other("/", &[]));
    }
    let title = t(v.lang, "sign-in-title");
    Ok(page(&v, &title, "", sign_in_form(&v, "", None)))
}

/// `POST /login`: the same password check and lockout as `POST /v1/auth/login`; a new
/// server-side session on success.
pub async fn submit(
    state: web::Data<hazardloop_api::AppState>,
    sub: Submitted,
) -> Result<HttpResponse, ConsoleError> {
    let Submitted {
        visitor: mut v,
        form,
    } = sub;
    v.here = "/login".into();
    let email = form.get("email").unwrap_or_default().to_string();
    let password = form
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, p)| p.clone())
        .unwrap_or_default();
    let lang = v.lang;
    match check_password(&state, email.clone(), password).await? {
        Ok(user) => {
            let token = random_token();
            let csrf = random_token();
            let absolute = state.config.console_absolute_secs;
            let (uid, org, stored) = (user.id.clone(), user.org_id.clone(), token.clone());
            let now = now_ms();
            state
                .db
                .write(move |c| {
                    console_sessions::create(c, &stored, &uid, &org, &csrf, now, absolute * 1000)
                })
                .await?;
            tracing::info!(user_id = %user.id, "console sign-in");
            Ok(see_other(
                "/",
                &[
                    set_cookie(SESSION_COOKIE, &token, "Lax", Some(absolute), v.secure),
                    set_cookie(CSRF_COOKIE, "", "Strict", Some(0), v.secure),
                ],
            ))
        }
        Err(refusal) => {
            let problem = match refusal {
                SignInRefusal::InvalidCredentials => t(lang, "sign-in-failed"),
                SignInRefusal::Locked { retry_after_secs } => tr(
                    lang,
                    "sign-in-locked",
                    &[("secs", &retry_after_secs.to_string())],
                ),
            };
            let title = t(lang, "sign-in-title");
            Ok(page_with_status(
                &v,
                &title,
                "",
                sign_in_form(&v, &email, Some(problem)),
                actix_web::http::StatusCode::UNAUTHORIZED,
            ))
        }
    }
}

/// `POST /logout`: the session is revoked in the database, whatever the browser keeps.
pub async fn logout(
    state: web::Data<hazardloop_api::AppState>,
    req: actix_web::HttpRequest,
    sub: Submitted,
) -> Result<HttpResponse, ConsoleError> {
    if let Some(token) = cookie(&req, SESSION_COOKIE) {
        let now = now_ms();
        state
            .db
            .write(move |c| console_sessions::revoke(c, &token, now))
            .await?;
    }
    Ok(see_other(
        "/login",
        &[set_cookie(
            SESSION_COOKIE,
            "",
            "Lax",
            Some(0),
            sub.visitor.secure,
        )],
    ))
}

/// `POST /lang`: remember the chosen language for a year and go back.
pub async fn switch(sub: Submitted) -> Result<HttpResponse, ConsoleError> {
    let lang = sub
        .form
        .get("to")
        .and_then(Lang::from_tag)
        .unwrap_or(sub.visitor.lang);
    let back = local_path(sub.form.get("back"));
    Ok(see_other(
        &back,
        &[set_cookie(
            LANG_COOKIE,
            lang.tag(),
            "Lax",
            Some(365 * 86_400),
            sub.visitor.secure,
        )],
    ))
}
