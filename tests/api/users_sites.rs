//! Users, memberships and sites: roles and tenancy.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app};
use crate::{both_backends, Backend};

both_backends!(
    admin_builds_a_site_tree_and_users,
    an_inspector_cannot_create_users_or_sites,
    another_organisations_ids_answer_404,
    memberships_are_replaced_and_validated,
    users_list_pages_with_a_cursor,
);

async fn admin_builds_a_site_tree_and_users(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let company = app.site(&admin, "Acme Chemicals", None).await;
    let plant = app.site(&admin, "Plant 1", Some(&company)).await;
    let workshop = app.site(&admin, "Workshop A", Some(&plant)).await;
    let other_plant = app.site(&admin, "Plant 2", Some(&company)).await;

    let tree: Value = app
        .get(&format!("/v1/sites/{plant}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = tree["subtree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![plant.as_str(), workshop.as_str()]);
    assert_eq!(tree["ancestors"], json!([company]));

    app.user(&admin, "insp@example.com", "inspector", Some(&plant))
        .await;
    let insp = app.token("insp@example.com").await;
    let me: Value = app.get("/v1/me", &insp).await.json().await.unwrap();
    assert_eq!(
        me["memberships"],
        json!([{"site_id": plant, "role": "inspector"}])
    );
    // An inspector sees the subtree of their membership, not the sibling plant.
    let visible: Value = app.get("/v1/sites", &insp).await.json().await.unwrap();
    let mut names: Vec<&str> = visible["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["Plant 1", "Workshop A"]);
    assert_problem(
        app.get(&format!("/v1/sites/{other_plant}"), &insp).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.get(&format!("/v1/sites/{workshop}"), &insp)
            .await
            .status(),
        200
    );

    // The same e-mail twice is a conflict.
    let res = app
        .post(
            "/v1/users",
            &admin,
            &json!({"email": "insp@example.com", "name": "x", "password": "long-enough-pw"}),
        )
        .await;
    assert_problem(res, 409, "email_taken").await;
    // Validation names the field.
    let res = app
        .post(
            "/v1/users",
            &admin,
            &json!({"email": "a@b.c", "name": "x", "password": "short"}),
        )
        .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["fields"], json!(["password"]));
}

async fn an_inspector_cannot_create_users_or_sites(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let plant = app.site(&admin, "Plant", None).await;
    app.user(&admin, "insp@example.com", "inspector", Some(&plant))
        .await;
    app.user(&admin, "mgr@example.com", "manager", Some(&plant))
        .await;
    for email in ["insp@example.com", "mgr@example.com"] {
        let t = app.token(email).await;
        let res = app.post("/v1/sites", &t, &json!({"name": "Rogue"})).await;
        assert_problem(res, 403, "forbidden").await;
        let res = app
            .post(
                "/v1/users",
                &t,
                &json!({"email": "x@example.com", "name": "x", "password": "long-enough-pw"}),
            )
            .await;
        assert_problem(res, 403, "forbidden").await;
        assert_problem(app.get("/v1/users", &t).await, 403, "forbidden").await;
    }
    // Nothing was created.
    let users: Value = app.get("/v1/users", &admin).await.json().await.unwrap();
    assert_eq!(users["items"].as_array().unwrap().len(), 3);
}

async fn another_organisations_ids_answer_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let acme_site = app.site(&admin, "Acme plant", None).await;
    let acme_user = app
        .user(&admin, "worker@acme.example", "inspector", Some(&acme_site))
        .await;
    // A second organisation with its own admin, created like the CLI does.
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        hazardloop_api::bootstrap::add_user(
            &db,
            Some("Globex"),
            "boss@globex.example",
            "Boss",
            crate::helpers::PASSWORD,
            hazardloop_sync::Role::Admin,
            None,
        )
    })
    .await
    .unwrap()
    .unwrap();
    let globex = app.token("boss@globex.example").await;
    assert_problem(
        app.get(&format!("/v1/sites/{acme_site}"), &globex).await,
        404,
        "not_found",
    )
    .await;
    let res = app
        .put(
            &format!("/v1/users/{acme_user}/memberships"),
            &globex,
            &json!([]),
        )
        .await;
    assert_problem(res, 404, "not_found").await;
    // Nor can Globex attach its users to Acme's sites or hang sites under them.
    let res = app
        .post(
            "/v1/sites",
            &globex,
            &json!({"name": "Sneaky", "parent_id": acme_site}),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    let list: Value = app.get("/v1/users", &globex).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let sites: Value = app.get("/v1/sites", &globex).await.json().await.unwrap();
    assert_eq!(sites["items"], json!([]));
    // The Acme membership is untouched.
    let acme_users: Value = app.get("/v1/users", &admin).await.json().await.unwrap();
    let worker = acme_users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == acme_user.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        worker["memberships"],
        json!([{"site_id": acme_site, "role": "inspector"}])
    );
}

async fn memberships_are_replaced_and_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let a = app.site(&admin, "A", None).await;
    let b = app.site(&admin, "B", None).await;
    let user = app
        .user(&admin, "sup@example.com", "inspector", Some(&a))
        .await;
    let path = format!("/v1/users/{user}/memberships");
    let res = app
        .put(
            &path,
            &admin,
            &json!([{"site_id": b, "role": "supervisor"}]),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["memberships"],
        json!([{"site_id": b, "role": "supervisor"}])
    );
    let res = app
        .put(&path, &admin, &json!([{"site_id": b, "role": "overlord"}]))
        .await;
    assert_problem(res, 422, "invalid_body").await;
    let missing = uuid::Uuid::now_v7();
    let res = app
        .put(
            &path,
            &admin,
            &json!([{"site_id": missing, "role": "inspector"}]),
        )
        .await;
    assert_problem(res, 422, "validation_failed").await;
    // The failed replacement left the previous memberships in place.
    let me: Value = app
        .get("/v1/me", &app.token("sup@example.com").await)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["memberships"],
        json!([{"site_id": b, "role": "supervisor"}])
    );
}

async fn users_list_pages_with_a_cursor(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let site = app.site(&admin, "S", None).await;
    for i in 0..4 {
        app.user(
            &admin,
            &format!("u{i}@example.com"),
            "inspector",
            Some(&site),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/users?limit=2&cursor={c}"),
            None => "/v1/users?limit=2".to_string(),
        };
        let page: Value = app.get(&path, &admin).await.json().await.unwrap();
        for u in page["items"].as_array().unwrap() {
            seen.push(u["email"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
}
