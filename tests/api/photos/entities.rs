//! Photos through the write path: a report's `photos`, a rectification's `after_photos` and a
//! photo answer link their photos; the hazard shows each one pending until its bytes arrive.

use serde_json::{json, Value};

use super::{fixture, photo_app, sha, Blobs};
use crate::closed_loop::assign;
use crate::helpers::crew;
use crate::Backend;

crate::photo_suite!(hazard_photos_link_through_the_workflow_and_complete_on_arrival);

async fn hazard_photos_link_through_the_workflow_and_complete_on_arrival(
    backend: Backend,
    blobs: Blobs,
) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let c = crew(&app).await;
    let before = fixture("hazard-before.jpg");
    let after = fixture("rectified-after.jpg");
    let (before_id, after_id) = (sha(&before), sha(&after));
    // Reported offline with a photo whose bytes have not arrived yet.
    let h = app
        .post_ok(
            "/v1/hazards",
            c.token("inspector"),
            &json!({"site_id": c.workshop, "title": "Loose cable", "category": "unsafe_condition",
                         "grade": "general", "photos": [before_id]}),
            201,
        )
        .await;
    let id = h["id"].as_str().unwrap().to_string();
    let detail = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(
        detail["photos"],
        json!([{"sha256": before_id, "role": "before", "status": "pending", "flags": []}])
    );
    // The bytes arrive: the link completes.
    assert!(app
        .put_photo(c.token("inspector"), &before_id, before)
        .await
        .status()
        .is_success());
    let detail = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_ne!(detail["photos"][0]["status"], "pending", "{detail}");
    // Arrived first, linked later: the after photo is uploaded, then named by the rectification.
    assert!(app
        .put_photo(c.token("rectifier"), &after_id, after)
        .await
        .status()
        .is_success());
    assert_eq!(assign(&app, &c, &id, "supervisor").await.status(), 200);
    app.post_ok(
        &format!("/v1/hazards/{id}/start"),
        c.token("rectifier"),
        &json!({}),
        200,
    )
    .await;
    app.post_ok(
        &format!("/v1/hazards/{id}/submit_rectification"),
        c.token("rectifier"),
        &json!({"note": "Clipped to the tray", "after_photos": [after_id]}),
        200,
    )
    .await;
    let detail = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("verifier"))
        .await;
    let roles: Vec<(&str, &str)> = detail["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p: &Value| (p["sha256"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        vec![(before_id.as_str(), "before"), (after_id.as_str(), "after")]
    );
    assert_ne!(detail["photos"][1]["status"], "pending");
    // The verifier may read both originals: they see the hazard that links them.
    assert_eq!(
        app.get(&format!("/v1/photos/{before_id}"), c.token("verifier"))
            .await
            .status(),
        200
    );
    // Someone at another plant may not.
    assert_eq!(
        app.get(&format!("/v1/photos/{after_id}"), c.token("outsider"))
            .await
            .status(),
        404
    );
    // A malformed photo id in a report is refused and nothing is created.
    let res = app
        .post("/v1/hazards", c.token("inspector"),
              &json!({"site_id": c.workshop, "title": "x", "category": "unsafe_act", "grade": "general", "photos": ["nope"]}))
        .await;
    assert_eq!(res.status(), 422);
}
