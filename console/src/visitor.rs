//! Who is asking: the extractors every console handler starts from.
//!
//! - [`Visitor`]: anyone; the language, the console session if the browser has a live one, and
//!   the CSRF token its forms must carry (the session's, else a random token kept in a
//!   `SameSite=Strict` cookie and repeated in the form, for the sign-in and language forms).
//! - [`Ctx`]: a signed-in person (else a redirect to the sign-in page), with the API's
//!   [`AuthedUser`] so that the console authorises through the same code as the API.
//! - [`Submitted`]: a POSTed form whose CSRF token matched; a form with a missing or wrong
//!   token is refused before its handler runs.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use hazardloop_api::auth::AuthedUser;
use hazardloop_api::AppState;
use hazardloop_storage::console_sessions::{self, ConsoleSession};
use hazardloop_storage::{now_ms, orgs, users};

use crate::error::ConsoleError;
use crate::i18n::{Lang, LANG_COOKIE};

/// The session cookie.
pub const SESSION_COOKIE: &str = "hl_session";
/// The CSRF cookie of visitors without a session.
pub const CSRF_COOKIE: &str = "hl_csrf";

/// A browser's request, signed in or not.
#[derive(Clone)]
pub struct Visitor {
    pub lang: Lang,
    /// The live session and its person's display name.
    pub session: Option<(ConsoleSession, String, bool)>,
    /// The token this visitor's forms carry.
    pub csrf: String,
    /// A `Set-Cookie` the answer must carry (a new CSRF cookie).
    pub set_cookie: Option<String>,
    /// Whether cookies set for this request get `Secure`.
    pub secure: bool,
    /// The request's path and query (where the language switch comes back to).
    pub here: String,
    /// The time zone times are shown in: the organisation's (`time_zone` setting) when
    /// signed in.
    pub zone: jiff::tz::TimeZone,
}

/// The value of cookie `name` in the request.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// A `Set-Cookie` value: `HttpOnly` always, `Secure` when asked, `Max-Age` when given (0
/// removes the cookie).
pub fn set_cookie(
    name: &str,
    value: &str,
    same_site: &str,
    max_age: Option<i64>,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ConsoleError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or(ConsoleError::Internal("application state missing".into()))
}

/// Cookie values we set are base64url; anything else is not ours.
fn plausible_token(t: &str) -> bool {
    (20..=100).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Visitor {
    async fn load(req: HttpRequest) -> Result<Visitor, ConsoleError> {
        let state = state(&req)?;
        let lang = cookie(&req, LANG_COOKIE)
            .and_then(|v| Lang::from_tag(&v))
            .unwrap_or_else(|| {
                Lang::negotiate(
                    req.headers()
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok()),
                )
            });
        let secure =
            state.config.console_secure_cookies || req.connection_info().scheme() == "https";
        let here = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let mut session = None;
        let mut zone = crate::i18n::default_zone();
        if let Some(token) = cookie(&req, SESSION_COOKIE).filter(|t| plausible_token(t)) {
            let idle_ms = state.config.console_idle_secs * 1000;
            let now = now_ms();
            let found = state
                .db
                .read(move |c| {
                    let Some(s) = console_sessions::find_live(c, &token, now, idle_ms)? else {
                        return Ok(None);
                    };
                    // A deactivated person's session ends with the account.
                    match users::find_active_by_id(c, &s.user_id)? {
                        Some(u) if u.org_id == s.org_id => {
                            let tz = orgs::get(c, &s.org_id)?.time_zone();
                            Ok(Some(((s, u.name, u.is_admin), tz)))
                        }
                        _ => Ok(None),
                    }
                })
                .await?;
            if let Some((s, tz)) = found {
                zone = crate::i18n::zone_named(&tz);
                session = Some(s);
            }
            if let Some((s, _, _)) = &session {
                if now - s.last_seen_at > console_sessions::TOUCH_EVERY_MS {
                    let hash = s.token_hash.clone();
                    state
                        .db
                        .write(move |c| console_sessions::touch(c, &hash, now))
                        .await?;
                }
            }
        }
        let (csrf, set) = match &session {
            Some((s, _, _)) => (s.csrf_token.clone(), None),
            None => match cookie(&req, CSRF_COOKIE).filter(|t| plausible_token(t)) {
                Some(t) => (t, None),
                None => {
                    let t = hazardloop_api::auth::random_token();
                    let c = set_cookie(CSRF_COOKIE, &t, "Strict", None, secure);
                    (t, Some(c))
                }
            },
        };
        Ok(Visitor {
            lang,
            session,
            csrf,
            set_cookie: set,
            secure,
            here,
            zone,
        })
    }
}

impl Visitor {
    /// The visitor of `req`, for handlers that read the body themselves (file uploads).
    pub async fn from_request_ref(req: &HttpRequest) -> Result<Visitor, ConsoleError> {
        Visitor::load(req.clone()).await
    }
}

/// Refuses a form whose CSRF token `sent` is not the visitor's.
pub fn require_csrf(visitor: &Visitor, sent: &str) -> Result<(), ConsoleError> {
    // A visitor whose CSRF cookie was only just made cannot have sent a matching token.
    if visitor.set_cookie.is_some() || !same_token(sent, &visitor.csrf) {
        return Err(ConsoleError::Csrf);
    }
    Ok(())
}

impl FromRequest for Visitor {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Visitor, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(Visitor::load(req.clone()))
    }
}

/// A signed-in person's request.
#[derive(Clone)]
pub struct Ctx {
    pub visitor: Visitor,
    /// The caller as the API's authorisation code knows it.
    pub auth: AuthedUser,
    /// The person's display name.
    pub name: String,
    pub state: web::Data<AppState>,
}

impl Ctx {
    /// The language of the answer.
    pub fn lang(&self) -> Lang {
        self.visitor.lang
    }

    /// A message in the visitor's language.
    pub fn t(&self, key: &str) -> String {
        crate::i18n::t(self.visitor.lang, key)
    }

    /// A time on the organisation's wall clocks (`2026-06-30 18:00`).
    pub fn time(&self, ms: i64) -> String {
        crate::i18n::show_time(&self.visitor.zone, ms)
    }

    /// A message with arguments in the visitor's language.
    pub fn tr(&self, key: &str, args: &[(&str, &str)]) -> String {
        crate::i18n::tr(self.visitor.lang, key, args)
    }
}

async fn signed_in(req: HttpRequest) -> Result<Ctx, ConsoleError> {
    let visitor = Visitor::load(req.clone()).await?;
    ctx_of(visitor, &req)
}

/// The signed-in person behind `visitor` (else a redirect to the sign-in page).
pub fn ctx_of(visitor: Visitor, req: &HttpRequest) -> Result<Ctx, ConsoleError> {
    let Some((session, name, is_admin)) = visitor.session.clone() else {
        return Err(ConsoleError::SignIn);
    };
    let auth = AuthedUser {
        user_id: session.user_id.clone(),
        org_id: session.org_id.clone(),
        is_admin,
        scopes: None,
        device_id: None,
    };
    Ok(Ctx {
        visitor,
        auth,
        name,
        state: state(req)?,
    })
}

impl FromRequest for Ctx {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Ctx, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(signed_in(req.clone()))
    }
}

/// A form's fields in the order sent (repeated names kept).
#[derive(Debug, Default, Clone)]
pub struct FormFields(pub Vec<(String, String)>);

impl FormFields {
    /// The first value of `name`, trimmed; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// Largest accepted console form body.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Compares without an early exit, so timing says nothing about how much matched.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A POSTed form whose CSRF token (`csrf` field) is the visitor's.
pub struct Submitted {
    pub visitor: Visitor,
    pub form: FormFields,
}

async fn submitted(req: HttpRequest, body: web::Bytes) -> Result<Submitted, ConsoleError> {
    let visitor = Visitor::load(req).await?;
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|e| ConsoleError::BadInput(e.to_string()))?;
    let form = FormFields(fields);
    let sent = form.get("csrf").unwrap_or_default();
    require_csrf(&visitor, sent)?;
    Ok(Submitted { visitor, form })
}

impl FromRequest for Submitted {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Submitted, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|e| ConsoleError::BadInput(e.to_string()))?;
            if body.len() > MAX_FORM_BYTES {
                return Err(ConsoleError::BadInput("the form is too large".into()));
            }
            submitted(req, body).await
        })
    }
}

/// A signed-in person's POSTed form with a matching CSRF token.
pub struct Command {
    pub ctx: Ctx,
    pub form: FormFields,
}

impl FromRequest for Command {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Command, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let sub = Submitted::from_request(&req, payload);
        Box::pin(async move {
            let Submitted { visitor, form } = sub.await?;
            let ctx = ctx_of(visitor, &req)?;
            Ok(Command { ctx, form })
        })
    }
}
