//! The page shell every console page is drawn in, and the headers every answer carries.
//!
//! A page handler builds its content with `maud::html!` (escaping is the default: only
//! `PreEscaped` writes raw HTML, and the console never uses it on data) and hands it to
//! [`page`] with the visitor and a title.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

use crate::i18n::t;
use crate::visitor::Visitor;

/// No inline script or style, nothing from elsewhere, no framing, forms only to ourselves.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       object-src 'none'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'";

/// The security headers of every console answer.
pub fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The navigation entries: path, message, and the `active` key pages pass to [`page`].
const NAV: [(&str, &str); 6] = [
    ("/", "nav-work"),
    ("/hazards", "nav-hazards"),
    ("/inspections", "nav-inspections"),
    ("/conflicts", "nav-conflicts"),
    ("/events", "nav-events"),
    ("/dashboard", "nav-dashboard"),
];

/// The entries `v` sees: administration for organisation admins only.
fn nav(v: &Visitor) -> impl Iterator<Item = (&'static str, &'static str)> {
    let admin = v.session.as_ref().is_some_and(|(_, _, is_admin)| *is_admin);
    NAV.into_iter()
        .chain(admin.then_some(("/admin", "nav-admin")))
}

/// A whole page: `active` is the path of the navigation entry to mark as current.
pub fn page(v: &Visitor, title: &str, active: &str, content: Markup) -> HttpResponse {
    page_with_status(v, title, active, content, actix_web::http::StatusCode::OK)
}

/// [`page`] with another status (a refused form is drawn again with 422).
pub fn page_with_status(
    v: &Visitor,
    title: &str,
    active: &str,
    content: Markup,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let lang = v.lang;
    let markup = html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t(lang, "app-name")) }
                link rel="stylesheet" href="/static/console.css";
            }
            body {
                a class="skip" href="#main" { (t(lang, "skip-to-content")) }
                header class="top" {
                    a class="brand" href="/" { (t(lang, "app-name")) }
                    @if v.session.is_some() {
                        nav aria-label=(t(lang, "app-name")) {
                            ul {
                                @for (path, key) in nav(v) {
                                    li {
                                        @if path == active {
                                            a href=(path) aria-current="page" { (t(lang, key)) }
                                        } @else {
                                            a href=(path) { (t(lang, key)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    div class="tools" {
                        form method="post" action="/lang" class="inline" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            input type="hidden" name="to" value=(lang.other().tag());
                            input type="hidden" name="back" value=(v.here);
                            button type="submit" id="switch-language" lang=(lang.other().tag()) {
                                (t(lang, "switch-language"))
                            }
                        }
                        @if let Some((_, name, _)) = &v.session {
                            span class="who" { (crate::i18n::tr(lang, "signed-in-as", &[("name", name)])) }
                            form method="post" action="/logout" class="inline" {
                                input type="hidden" name="csrf" value=(v.csrf);
                                button type="submit" id="sign-out" { (t(lang, "sign-out")) }
                            }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    };
    let mut res = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string());
    if let Some(c) = &v.set_cookie {
        if let Ok(value) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    secure_headers(res.headers_mut());
    res
}

/// A 303 to `to` after a form (post/redirect/get), with cookies to set.
pub fn see_other(to: &str, cookies: &[String]) -> HttpResponse {
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish();
    for c in cookies {
        if let Ok(value) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    secure_headers(res.headers_mut());
    res
}

/// A local path to come back to; anything else (another host, `//host`, `/\host`) is `/`.
pub fn local_path(back: Option<&str>) -> String {
    match back {
        Some(b)
            if b.starts_with('/')
                && !b.starts_with("//")
                && !b.starts_with("/\\")
                && !b.chars().any(|c| c.is_control()) =>
        {
            b.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_come_back() {
        assert_eq!(
            local_path(Some("/hazards?state=closed")),
            "/hazards?state=closed"
        );
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(None), "/");
    }
}
