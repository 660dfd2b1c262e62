//! Every route of the server, declared once: the same table registers the handlers and lists the
//! routes for the OpenAPI coverage test and for 405 answers.

use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use actix_web::web;

pub mod auth;
pub mod clients;
pub mod conflicts;
pub mod devices;
pub mod events;
pub mod hazards;
pub mod health;
pub mod inspections;
pub mod ledger;
pub mod me;
pub mod photos;
pub mod reports;
pub mod risk;
pub mod sites;
pub mod sync;
pub mod templates;
pub mod tus;
pub mod uploads;
pub mod users;
pub mod webhooks;

macro_rules! routes {
    ($($method:ident $path:literal $(: $scope:literal)? => $handler:path),* $(,)?) => {
        /// `(METHOD, path)` of every route, in OpenAPI path syntax.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// `(METHOD, path, scope)`: what an integration client's token needs for each route.
        /// `public`: no token; `person`: people only, never clients; `any`: every token (the
        /// handler decides); otherwise the scope name.
        pub const ROUTE_SCOPES: &[(&str, &str, &str)] =
            &[$((stringify!($method), $path, routes!(@scope $($scope)?))),*];

        /// Registers every route.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::method(Method::$method).to($handler)); )*
        }
    };
    (@scope $scope:literal) => { $scope };
    (@scope) => { "any" };
}

routes! {
    GET "/healthz": "public" => health::healthz,
    GET "/readyz": "public" => health::readyz,
    GET "/metrics": "public" => health::metrics,
    POST "/v1/auth/login": "public" => auth::login,
    POST "/v1/auth/refresh": "public" => auth::refresh,
    POST "/v1/auth/logout": "person" => auth::logout,
    POST "/v1/auth/token": "public" => clients::token,
    GET "/v1/me": "any" => me::me,
    POST "/v1/users": "person" => users::create,
    GET "/v1/users": "person" => users::list,
    PUT "/v1/users/{id}/memberships": "person" => users::set_memberships,
    POST "/v1/sites": "person" => sites::create,
    GET "/v1/sites": "sites:read" => sites::list,
    GET "/v1/sites/{id}": "sites:read" => sites::get,
    PATCH "/v1/sites/{id}": "person" => sites::update,
    GET "/v1/sites/{id}/people": "person" => sites::people,
    POST "/v1/clients": "person" => clients::create,
    GET "/v1/clients": "person" => clients::list,
    DELETE "/v1/clients/{id}": "person" => clients::revoke,
    POST "/v1/templates": "templates:write" => templates::import,
    GET "/v1/templates": "inspections:read" => templates::list,
    GET "/v1/templates/{key}": "inspections:read" => templates::latest,
    GET "/v1/templates/{key}/versions/{version}": "inspections:read" => templates::version,
    POST "/v1/inspections": "inspections:write" => inspections::start,
    GET "/v1/inspections": "inspections:read" => inspections::list,
    GET "/v1/inspections/export": "inspections:read" => ledger::inspections_export,
    GET "/v1/inspections/{id}": "inspections:read" => inspections::get,
    DELETE "/v1/inspections/{id}": "inspections:write" => inspections::delete,
    PUT "/v1/inspections/{id}/answers": "inspections:write" => inspections::answer,
    POST "/v1/inspections/{id}/submit": "inspections:write" => inspections::submit,
    POST "/v1/hazards": "hazards:write" => hazards::report,
    GET "/v1/hazards": "hazards:read" => hazards::list,
    GET "/v1/hazards/export": "hazards:read" => ledger::export,
    GET "/v1/hazards/{id}": "hazards:read" => hazards::get,
    PATCH "/v1/hazards/{id}": "hazards:write" => hazards::update,
    POST "/v1/hazards/{id}/assign": "hazards:write" => hazards::command,
    POST "/v1/hazards/{id}/start": "hazards:write" => hazards::command,
    POST "/v1/hazards/{id}/rectify_on_spot": "hazards:write" => hazards::command,
    POST "/v1/hazards/{id}/submit_rectification": "hazards:write" => hazards::command,
    POST "/v1/hazards/{id}/verify": "hazards:write" => hazards::command,
    POST "/v1/hazards/{id}/reject": "hazards:write" => hazards::command,
    POST "/v1/hazards/{id}/regrade": "hazards:write" => hazards::command,
    POST "/v1/hazards/{id}/extend_deadline": "hazards:write" => hazards::command,
    POST "/v1/hazards/{id}/cancel": "hazards:write" => hazards::command,
    GET "/v1/stats/hazards": "hazards:read" => ledger::stats,
    GET "/v1/reports/period": "hazards:read" => reports::period,
    GET "/v1/reports/period.xlsx": "hazards:read" => reports::period_xlsx,
    GET "/v1/reports/period.html": "hazards:read" => reports::period_html,
    GET "/v1/reports/signoffs": "hazards:read" => reports::signoff_status,
    POST "/v1/reports/signoffs": "person" => reports::sign,
    POST "/v1/reports/signoffs/submission": "person" => reports::submit,
    GET "/v1/reports/deadlines": "hazards:read" => reports::deadlines,
    POST "/v1/risk/units": "person" => risk::register::create_unit,
    GET "/v1/risk/units": "person" => risk::register::list_units,
    GET "/v1/risk/units/{id}": "person" => risk::register::get_unit,
    PATCH "/v1/risk/units/{id}": "person" => risk::register::update_unit,
    POST "/v1/risk/units/{id}/events": "person" => risk::register::create_event,
    POST "/v1/risk/units/{id}/pauses": "person" => risk::controls::create_pause,
    GET "/v1/risk/events/{id}": "person" => risk::register::get_event,
    POST "/v1/risk/events/{id}/assess": "person" => risk::register::assess_event,
    POST "/v1/risk/events/{id}/measures": "person" => risk::controls::create_measure,
    PATCH "/v1/risk/measures/{id}": "person" => risk::edits::update_measure,
    POST "/v1/risk/measures/{id}/duties": "person" => risk::controls::create_duty,
    PATCH "/v1/risk/duties/{id}": "person" => risk::edits::update_duty,
    POST "/v1/risk/import": "person" => risk::import::import_register,
    GET "/v1/risk/tasks": "person" => risk::tasks::list,
    GET "/v1/events": "events:read" => events::feed,
    POST "/v1/devices": "person" => devices::register,
    GET "/v1/devices": "person" => devices::list,
    DELETE "/v1/devices/{id}": "person" => devices::revoke,
    POST "/v1/sync/push": "person" => sync::push,
    GET "/v1/sync/pull": "person" => sync::pull,
    GET "/v1/conflicts": "hazards:read" => conflicts::list,
    POST "/v1/conflicts/{id}/resolve": "hazards:write" => conflicts::resolve,
    POST "/v1/webhooks": "webhooks:manage" => webhooks::create,
    GET "/v1/webhooks": "webhooks:manage" => webhooks::list,
    GET "/v1/webhooks/{id}": "webhooks:manage" => webhooks::get,
    PATCH "/v1/webhooks/{id}": "webhooks:manage" => webhooks::update,
    DELETE "/v1/webhooks/{id}": "webhooks:manage" => webhooks::delete,
    GET "/v1/webhooks/{id}/deliveries": "webhooks:manage" => webhooks::deliveries,
    GET "/v1/webhooks/{id}/deliveries/{delivery_id}": "webhooks:manage" => webhooks::delivery,
    POST "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver": "webhooks:manage" => webhooks::redeliver,
    PUT "/v1/photos/{sha256}": "photos:write" => photos::put,
    HEAD "/v1/photos/{sha256}": "photos:read" => photos::head,
    GET "/v1/photos/{sha256}": "photos:read" => photos::get,
    GET "/v1/photos/{sha256}/metadata": "photos:read" => photos::metadata,
    GET "/v1/photos/{sha256}/thumbnail": "photos:read" => photos::thumbnail,
    GET "/v1/photos/{sha256}/display": "photos:read" => photos::display,
    OPTIONS "/v1/uploads": "public" => uploads::options,
    POST "/v1/uploads": "photos:write" => uploads::create,
    HEAD "/v1/uploads/{id}": "photos:write" => uploads::head,
    PATCH "/v1/uploads/{id}": "photos:write" => uploads::patch,
    DELETE "/v1/uploads/{id}": "photos:write" => uploads::delete,
}

/// The scope a client needs for `method` on the route `pattern` (as actix matched it).
pub fn scope_for(method: &str, pattern: &str) -> &'static str {
    ROUTE_SCOPES
        .iter()
        .find(|(m, p, _)| *m == method && *p == pattern)
        .map(|(_, _, s)| *s)
        .unwrap_or("person")
}

/// Every scope a client may be granted.
pub const SCOPES: &[&str] = &[
    "hazards:read",
    "hazards:write",
    "inspections:read",
    "inspections:write",
    "templates:write",
    "sites:read",
    "photos:read",
    "photos:write",
    "events:read",
    "webhooks:manage",
];

/// The methods registered for paths matching `path` (for 405 answers).
pub fn methods_for(path: &str) -> Vec<&'static str> {
    let mut methods: Vec<&'static str> = ROUTES
        .iter()
        .filter(|(_, p)| ResourceDef::new(*p).is_match(path))
        .map(|(m, _)| *m)
        .collect();
    methods.dedup();
    methods
}

/// RFC 3339 (UTC, milliseconds) for a unix-milliseconds time, the one format of every time.
pub fn rfc3339(ms: i64) -> String {
    hazardloop_sync::timestamp::format_rfc3339_ms(ms)
}

/// Parses an id from a path segment; anything that is not a UUID is simply not found.
pub fn parse_id(raw: &str) -> Result<String, crate::ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| crate::ApiError::not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_for_known_paths() {
        assert_eq!(methods_for("/v1/users"), vec!["POST", "GET"]);
        assert_eq!(methods_for("/v1/sites/abc"), vec!["GET", "PATCH"]);
        assert_eq!(
            methods_for("/v1/uploads/abc"),
            vec!["HEAD", "PATCH", "DELETE"]
        );
        assert_eq!(methods_for("/v1/uploads"), vec!["OPTIONS", "POST"]);
        assert!(methods_for("/v1/nothing").is_empty());
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.500Z");
    }
}
