//! Bad input and the framework's own errors all answer problem+json 4xx.

use serde_json::json;

use crate::contract::SendChecked;
use crate::helpers::{assert_problem, spawn_app, spawn_app_with};
use crate::{both_backends, Backend};

both_backends!(
    malformed_json_and_wrong_types_are_problems,
    oversized_bodies_unknown_routes_and_wrong_methods_are_problems,
    health_readiness_metrics_and_request_ids,
);

async fn malformed_json_and_wrong_types_are_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let raw = |body: &'static str| {
        app.client
            .post(app.url("/v1/sites"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send_checked()
    };
    assert_problem(raw("{\"name\": ").await.unwrap(), 400, "malformed_json").await;
    assert_problem(raw("{\"name\": 42}").await.unwrap(), 422, "invalid_body").await;
    assert_problem(raw("{}").await.unwrap(), 422, "invalid_body").await;
    assert_problem(
        raw("{\"name\": \"x\", \"surprise\": 1}").await.unwrap(),
        422,
        "invalid_body",
    )
    .await;
    let res = app
        .client
        .post(app.url("/v1/sites"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("name=x")
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = app
        .post(
            "/v1/auth/login",
            "",
            &json!({"email": ["x"], "password": 1}),
        )
        .await;
    assert_problem(res, 422, "invalid_body").await;
    // Not a UUID in the path: simply not found.
    assert_problem(
        app.get("/v1/sites/not-a-uuid", &admin).await,
        404,
        "not_found",
    )
    .await;
    // Nothing was created by any of that.
    let sites: serde_json::Value = app.get("/v1/sites", &admin).await.json().await.unwrap();
    assert_eq!(sites["items"], json!([]));
}

async fn oversized_bodies_unknown_routes_and_wrong_methods_are_problems(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.max_json_bytes = 4096).await;
    let admin = app.admin_token().await;
    let big = json!({"name": "x".repeat(10_000)});
    let body = assert_problem(
        app.post("/v1/sites", &admin, &big).await,
        413,
        "payload_too_large",
    )
    .await;
    assert_eq!(body["max_bytes"], 4096);
    assert_problem(app.get("/v1/nowhere", &admin).await, 404, "route_not_found").await;
    // `/` is the web console now; a path neither the API nor the console serves is still a
    // problem.
    assert_problem(app.get("/nowhere", &admin).await, 404, "route_not_found").await;
    let res = app
        .client
        .delete(app.url("/v1/users"))
        .bearer_auth(&admin)
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.headers().get("allow").unwrap(), "POST, GET");
    assert_problem(res, 405, "method_not_allowed").await;
}

async fn health_readiness_metrics_and_request_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-123")
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("x-request-id").unwrap(), "trace-123");
    let res = app
        .client
        .get(app.url("/readyz"))
        .send_checked()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("x-request-id")
        .is_some_and(|v| v.len() >= 32));
    let text = app
        .client
        .get(app.url("/metrics"))
        .send_checked()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "hazardloop_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("hazardloop_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("hazardloop_db_pool_connections{state=\"max\"} 4"),
        "{text}"
    );
}
