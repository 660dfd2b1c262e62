//! `GET /v1/sites/{id}/people`: whom a supervisor can assign, and nothing more, to nobody else.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, crew, spawn_app, TestApp, PASSWORD};
use crate::{both_backends, Backend};

both_backends!(
    supervisors_and_managers_list_the_people_whose_role_applies_at_a_site,
    inspectors_other_sites_and_other_organisations_learn_nothing,
);

/// `(name, role)` of each listed person, in the order given, after checking each item carries
/// exactly an id, a name and a role (no e-mail address, no other membership).
fn names_and_roles(body: &Value) -> Vec<(String, String)> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            let keys: Vec<&String> = p.as_object().expect("object").keys().collect();
            assert_eq!(keys.len(), 3, "only id, name and role: {p}");
            assert!(p["id"].is_string(), "{p}");
            (
                p["name"].as_str().expect("name").to_string(),
                p["role"].as_str().expect("role").to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, r)| (n.to_string(), r.to_string()))
        .collect()
}

async fn supervisors_and_managers_list_the_people_whose_role_applies_at_a_site(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    // The workshop lies below the plant below the company: roles held above apply there.
    let at_workshop = pairs(&[
        ("Ada Admin", "admin"),
        ("inspector@example.com", "inspector"),
        ("manager@example.com", "manager"),
        ("rectifier@example.com", "inspector"),
        ("supervisor@example.com", "supervisor"),
        ("verifier@example.com", "inspector"),
    ]);
    let path = format!("/v1/sites/{}/people", c.workshop);
    for who in ["supervisor", "manager"] {
        let body = app.get_json(&path, c.token(who)).await;
        assert_eq!(names_and_roles(&body), at_workshop, "as {who}");
    }
    let body = app.get_json(&path, &c.admin).await;
    assert_eq!(names_and_roles(&body), at_workshop, "as admin");
    // The ids are the ones an assign needs.
    let body = app.get_json(&path, c.token("supervisor")).await;
    let rectifier = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "rectifier@example.com")
        .unwrap();
    assert_eq!(rectifier["id"], c.id("rectifier"));
    // At the plant, the rectifier (a role at the workshop below only) is not listed, and the
    // outsider at the other plant never is.
    let body = app
        .get_json(
            &format!("/v1/sites/{}/people", c.plant),
            c.token("supervisor"),
        )
        .await;
    let at_plant = pairs(&[
        ("Ada Admin", "admin"),
        ("inspector@example.com", "inspector"),
        ("manager@example.com", "manager"),
        ("supervisor@example.com", "supervisor"),
        ("verifier@example.com", "inspector"),
    ]);
    assert_eq!(names_and_roles(&body), at_plant);
    // Someone with two roles on the way down is listed once, with the higher.
    let res = app
        .put(
            &format!("/v1/users/{}/memberships", c.id("inspector")),
            &c.admin,
            &json!([{"site_id": c.plant, "role": "inspector"},
                    {"site_id": c.workshop, "role": "supervisor"}]),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = app.get_json(&path, c.token("manager")).await;
    let listed = names_and_roles(&body);
    assert_eq!(
        listed
            .iter()
            .filter(|(n, _)| n == "inspector@example.com")
            .collect::<Vec<_>>(),
        vec![&(
            "inspector@example.com".to_string(),
            "supervisor".to_string()
        )]
    );
}

/// A second organisation with its admin, a site and a supervisor there; returns the site id
/// and the supervisor's token.
async fn other_org(app: &TestApp) -> (String, String) {
    let db = app.db.clone();
    let site = tokio::task::spawn_blocking(move || {
        use hazardloop_api::bootstrap;
        use hazardloop_sync::Role;
        bootstrap::add_user(
            &db,
            Some("Globex"),
            "admin@globex.example",
            "Gloria",
            PASSWORD,
            Role::Admin,
            None,
        )
        .expect("admin");
        let site = bootstrap::add_site(
            &db,
            Some("Globex"),
            "Globex plant",
            "plant",
            None,
            (None, None, None),
        )
        .expect("site");
        bootstrap::add_user(
            &db,
            Some("Globex"),
            "sup@globex.example",
            "Gus",
            PASSWORD,
            Role::Supervisor,
            Some(&site.id),
        )
        .expect("supervisor");
        site.id
    })
    .await
    .expect("other org");
    (site, app.token("sup@globex.example").await)
}

async fn inspectors_other_sites_and_other_organisations_learn_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let plant = format!("/v1/sites/{}/people", c.plant);
    // An inspector at the site may see the site, not its people.
    assert_problem(
        app.get(&plant, c.token("inspector")).await,
        403,
        "forbidden",
    )
    .await;
    // A supervisor of another plant has no role here: as for a site that does not exist.
    let admin = c.admin.clone();
    app.user(
        &admin,
        "sup2@example.com",
        "supervisor",
        Some(&c.other_plant),
    )
    .await;
    let other_sup = app.token("sup2@example.com").await;
    let missing = format!("/v1/sites/{}/people", uuid::Uuid::now_v7());
    let unknown = assert_problem(app.get(&missing, &other_sup).await, 404, "not_found").await;
    let hidden = assert_problem(app.get(&plant, &other_sup).await, 404, "not_found").await;
    assert_eq!(hidden["detail"], unknown["detail"]);
    assert_problem(app.get(&plant, c.token("outsider")).await, 404, "not_found").await;
    // Their own plant lists them and the company's manager, and none of this plant's people.
    let body = app
        .get_json(&format!("/v1/sites/{}/people", c.other_plant), &other_sup)
        .await;
    let names: Vec<String> = names_and_roles(&body).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        vec![
            "Ada Admin",
            "manager@example.com",
            "outsider@example.com",
            "sup2@example.com"
        ]
    );
    // Another organisation: 404 both ways, even for its admin and ours.
    let (globex_site, globex_sup) = other_org(&app).await;
    assert_problem(app.get(&plant, &globex_sup).await, 404, "not_found").await;
    let theirs = format!("/v1/sites/{globex_site}/people");
    assert_problem(app.get(&theirs, c.token("manager")).await, 404, "not_found").await;
    assert_problem(app.get(&theirs, &c.admin).await, 404, "not_found").await;
    let body = app.get_json(&theirs, &globex_sup).await;
    assert_eq!(
        names_and_roles(&body),
        pairs(&[("Gloria", "admin"), ("Gus", "supervisor")])
    );
    // Without a token: 401.
    let res = app.client.get(app.url(&plant)).send().await.unwrap();
    assert_eq!(res.status(), 401);
}
