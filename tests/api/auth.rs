//! Sign-in, access tokens, refresh rotation and throttling.

use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

use crate::contract::SendChecked;
use crate::helpers::{assert_problem, spawn_app, spawn_app_with, TestApp, ADMIN_EMAIL, PASSWORD};
use crate::{both_backends, Backend};

both_backends!(
    login_succeeds_with_the_right_password,
    wrong_password_and_unknown_user_get_the_same_answer,
    expired_tampered_wrong_audience_and_unsigned_tokens_are_rejected,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_revokes_the_refresh_token,
    repeated_failures_lock_the_address,
);

fn signing_key(app: &TestApp) -> Vec<u8> {
    let text = std::fs::read_to_string(app.config.data_dir.join("jwt.key")).expect("key file");
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("base64 key")
}

async fn login_succeeds_with_the_right_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().len() >= 40);
    let token = body["access_token"].as_str().unwrap();
    let me: Value = app.get("/v1/me", token).await.json().await.unwrap();
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["is_admin"], true);
    assert_eq!(me["organisation"]["name"], "Acme");
    assert!(me.get("password_hash").is_none());
    // E-mail addresses are matched case-insensitively.
    assert_eq!(app.login("ADMIN@Example.com", PASSWORD).await.status(), 200);
}

async fn wrong_password_and_unknown_user_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let wrong = assert_problem(
        app.login(ADMIN_EMAIL, "not-the-password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_problem(
        app.login("nobody@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
    assert_problem(app.get("/v1/me", "").await, 401, "invalid_token").await;
    let res = app
        .client
        .get(app.url("/v1/me"))
        .send_checked()
        .await
        .unwrap();
    assert_problem(res, 401, "missing_token").await;
}

async fn expired_tampered_wrong_audience_and_unsigned_tokens_are_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    let good = app.admin_token().await;
    assert_eq!(app.get("/v1/me", &good).await.status(), 200);
    let me: Value = app.get("/v1/me", &good).await.json().await.unwrap();
    let key = signing_key(&app);
    let now = hazardloop_storage::now_ms() / 1000;
    let claims = |exp: i64, aud: &str, iss: &str| {
        json!({"sub": me["id"], "org": me["org_id"], "adm": true, "iss": iss, "aud": aud,
               "iat": now - 10, "exp": exp, "jti": "t"})
    };
    let sign = |c: &Value| encode(&Header::default(), c, &EncodingKey::from_secret(&key)).unwrap();

    // A correctly signed token of our own making is accepted: the key and claims are right.
    let ok = sign(&claims(now + 60, "hazardloop-api", "hazardloop"));
    assert_eq!(app.get("/v1/me", &ok).await.status(), 200);

    let expired = sign(&claims(now - 120, "hazardloop-api", "hazardloop"));
    assert_problem(app.get("/v1/me", &expired).await, 401, "token_expired").await;

    let wrong_aud = sign(&claims(now + 60, "someone-else", "hazardloop"));
    assert_problem(app.get("/v1/me", &wrong_aud).await, 401, "invalid_token").await;

    let wrong_iss = sign(&claims(now + 60, "hazardloop-api", "evil"));
    assert_problem(app.get("/v1/me", &wrong_iss).await, 401, "invalid_token").await;

    // Tampered payload: flip the admin claim, keep the signature.
    let parts: Vec<&str> = good.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = json!(uuid::Uuid::now_v7().to_string());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(payload.to_string()),
        parts[2]
    );
    assert_problem(app.get("/v1/me", &tampered).await, 401, "invalid_token").await;

    // alg: none, unsigned.
    let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!(
        "{}.{}.",
        header,
        b64.encode(claims(now + 60, "hazardloop-api", "hazardloop").to_string())
    );
    assert_problem(app.get("/v1/me", &unsigned).await, 401, "invalid_token").await;

    // Another algorithm with the same secret (HS512) is refused: the algorithm is pinned.
    let hs512 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &claims(now + 60, "hazardloop-api", "hazardloop"),
        &EncodingKey::from_secret(&key),
    )
    .unwrap();
    assert_problem(app.get("/v1/me", &hs512).await, 401, "invalid_token").await;
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send_checked()
        .await
        .unwrap()
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let first: Value = app.login(ADMIN_EMAIL, PASSWORD).await.json().await.unwrap();
    let r1 = first["refresh_token"].as_str().unwrap().to_string();

    let res = refresh(&app, &r1).await;
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    let r2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_eq!(
        app.get("/v1/me", second["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // r1 was rotated: presenting it again is reuse, and it revokes r2 too.
    assert_problem(refresh(&app, &r1).await, 401, "refresh_token_reused").await;
    assert_problem(refresh(&app, &r2).await, 401, "invalid_refresh_token").await;
    // A separate sign-in is a separate family and still works.
    let other: Value = app.login(ADMIN_EMAIL, PASSWORD).await.json().await.unwrap();
    assert_eq!(
        refresh(&app, other["refresh_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_problem(refresh(&app, "garbage").await, 401, "invalid_refresh_token").await;
}

async fn logout_revokes_the_refresh_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let body: Value = app.login(ADMIN_EMAIL, PASSWORD).await.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    let rt = body["refresh_token"].as_str().unwrap();
    let res = app
        .post("/v1/auth/logout", access, &json!({"refresh_token": rt}))
        .await;
    assert_eq!(res.status(), 204);
    assert_problem(refresh(&app, rt).await, 401, "invalid_refresh_token").await;
}

async fn repeated_failures_lock_the_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.login_max_failures = 3).await;
    for _ in 0..3 {
        assert_problem(
            app.login(ADMIN_EMAIL, "wrong-password").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    // Locked now, even with the right password; the lock is in the database.
    let res = app.login(ADMIN_EMAIL, PASSWORD).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_problem(res, 429, "too_many_attempts").await;
    // Unknown addresses are throttled the same way, so locks reveal nothing.
    for _ in 0..3 {
        app.login("ghost@example.com", "x-password").await;
    }
    assert_problem(
        app.login("ghost@example.com", "x-password").await,
        429,
        "too_many_attempts",
    )
    .await;
}
