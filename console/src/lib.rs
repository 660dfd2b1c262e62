//! The web console: server-rendered pages for supervisors, managers and admins, in zh-CN and
//! English, served at `/` by the same binary as the API.
//!
//! The console owns its pages (maud templates, checked at compile time), its message catalogs
//! (`i18n/*.ftl`) and static assets (`static/`), all embedded. It owns no rules and no SQL:
//! sign-in is the API's password check and lockout (`hazardloop_api::auth::sign_in`), every
//! write is a mutation through the API's mutation path and the one engine, and every read goes
//! through the same storage functions, visibility and filters as the API's routes. It adds one
//! thing of its own: the cookie session (`storage::console_sessions`), with its CSRF token.

pub mod assets;
pub mod charts;
pub mod error;
pub mod i18n;
pub mod layout;
pub mod pages;
pub mod visitor;

use actix_web::web;

use crate::pages::{
    admin, conflicts, dashboard, events, hazard, hazards, inspections, photos, session, work,
};

/// Every console route. Mounted by the binary through `Application::build_mounted`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(work::show))
        .route("/login", web::get().to(session::form))
        .route("/login", web::post().to(session::submit))
        .route("/logout", web::post().to(session::logout))
        .route("/lang", web::post().to(session::switch))
        .route("/hazards", web::get().to(hazards::list))
        .route("/hazards/{id}", web::get().to(hazard::show))
        .route("/hazards/{id}/{command}", web::post().to(hazard::run))
        .route("/inspections", web::get().to(inspections::list))
        .route("/inspections/{id}", web::get().to(inspections::show))
        .route("/conflicts", web::get().to(conflicts::list))
        .route(
            "/conflicts/{id}/resolve",
            web::post().to(conflicts::resolve),
        )
        .route("/events", web::get().to(events::feed))
        .route("/dashboard", web::get().to(dashboard::show))
        .route("/admin", web::get().to(admin_home))
        .route("/admin/sites", web::get().to(admin::sites::show))
        .route("/admin/sites", web::post().to(admin::sites::add))
        .route("/admin/users", web::get().to(admin::users::list))
        .route("/admin/users/{id}", web::get().to(admin::users::show))
        .route(
            "/admin/users/{id}/roles",
            web::post().to(admin::users::grant),
        )
        .route(
            "/admin/users/{id}/roles/revoke",
            web::post().to(admin::users::revoke),
        )
        .route("/admin/templates", web::get().to(admin::templates::list))
        .route("/admin/templates", web::post().to(admin::templates::import))
        .route("/admin/clients", web::get().to(admin::clients::list))
        .route("/admin/clients", web::post().to(admin::clients::create))
        .route(
            "/admin/clients/{id}/revoke",
            web::post().to(admin::clients::revoke),
        )
        .route("/admin/webhooks", web::get().to(admin::webhooks::list))
        .route("/admin/webhooks/{id}", web::get().to(admin::webhooks::show))
        .route(
            "/admin/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            web::post().to(admin::webhooks::redeliver),
        )
        .route("/admin/ledger", web::get().to(admin::ledger::show))
        .route("/ledger/{file}", web::get().to(admin::ledger::download))
        .route("/photos/{sha256}/{kind}", web::get().to(photos::rendition))
        .route("/static/{file}", web::get().to(assets::get));
}

/// `GET /admin`: the first admin page (404 for anyone but an admin, like every admin page).
async fn admin_home(ctx: visitor::Ctx) -> Result<actix_web::HttpResponse, error::ConsoleError> {
    admin::require_admin(&ctx)?;
    Ok(layout::see_other("/admin/sites", &[]))
}

/// The console as an [`hazardloop_api::Mount`].
pub const MOUNT: hazardloop_api::Mount = configure;
