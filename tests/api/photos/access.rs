//! Links and who may read a photo: pending-then-arrived, arrived-then-linked, authorisation
//! across sites and organisations, orphans.

use std::time::{Duration, Instant};

use hazardloop_api::bootstrap;
use hazardloop_sync::Role;
use serde_json::Value;

use super::{fixture, photo_app, sha, Blobs};
use crate::helpers::{assert_problem, PASSWORD};
use crate::{photo_suite, Backend};

photo_suite!(
    a_photo_linked_before_it_arrives_is_pending_then_completes,
    a_photo_that_arrived_first_is_linked_later,
    only_users_who_may_see_a_linking_entity_read_a_photo,
    photos_never_linked_are_deleted_and_linked_ones_never,
);

async fn a_photo_linked_before_it_arrives_is_pending_then_completes(
    backend: Backend,
    blobs: Blobs,
) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let org = app.org_id(&admin).await;
    let site = app.site(&admin, "Plant 1", None).await;
    let bytes = fixture("hazard-before.jpg");
    let id = sha(&bytes);
    let hazard = uuid::Uuid::now_v7().to_string();

    assert_eq!(
        app.link(&org, &hazard, &site, &id, "before").await,
        "pending"
    );
    assert_eq!(app.status_of(&org, &id).await, "pending");
    // Linking again changes nothing: links only grow, once.
    assert_eq!(
        app.link(&org, &hazard, &site, &id, "before").await,
        "pending"
    );
    // The phone asks whether to upload: not yet here.
    assert_eq!(app.head_photo(&admin, &id).await.status(), 409);
    assert_problem(
        app.get(&format!("/v1/photos/{id}"), &admin).await,
        409,
        "photo_pending",
    )
    .await;
    let meta: Value = app
        .get(&format!("/v1/photos/{id}/metadata"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["status"], "pending");
    assert_eq!(meta["links"][0]["entity_id"], hazard.as_str());
    assert_eq!(meta["links"].as_array().unwrap().len(), 1);

    assert_eq!(app.put_photo(&admin, &id, bytes).await.status(), 201);
    assert!(["stored", "ready"].contains(&app.status_of(&org, &id).await.as_str()));
    app.wait_for_status(&admin, &id, "ready").await;
    assert_eq!(app.status_of(&org, &id).await, "ready");
    // Ids nobody has sent are pending too.
    assert_eq!(app.status_of(&org, &"e".repeat(64)).await, "pending");
}

async fn a_photo_that_arrived_first_is_linked_later(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let org = app.org_id(&admin).await;
    let site = app.site(&admin, "Plant 1", None).await;
    let bytes = fixture("rectified-after.jpg");
    let id = sha(&bytes);
    assert_eq!(app.put_photo(&admin, &id, bytes).await.status(), 201);
    let status = app
        .link(&org, &uuid::Uuid::now_v7().to_string(), &site, &id, "after")
        .await;
    assert!(["stored", "ready"].contains(&status.as_str()), "{status}");
    app.wait_for_status(&admin, &id, "ready").await;
    // Bad links are refused by storage.
    let (o, s, i) = (org.clone(), site.clone(), id.clone());
    let err = app
        .db
        .write(move |c| hazardloop_storage::photos::link(c, &o, "hazard", "h1", &s, &i, "sideways"))
        .await;
    assert!(err.is_err());
    let (o, i) = (org.clone(), id.clone());
    let err = app
        .db
        .write(move |c| {
            hazardloop_storage::photos::link(c, &o, "hazard", "h1", "no-such-site", &i, "after")
        })
        .await;
    assert!(err.is_err());
}

async fn only_users_who_may_see_a_linking_entity_read_a_photo(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let admin = app.admin_token().await;
    let org = app.org_id(&admin).await;
    let company = app.site(&admin, "Acme", None).await;
    let plant_a = app.site(&admin, "Plant A", Some(&company)).await;
    let plant_b = app.site(&admin, "Plant B", Some(&company)).await;
    app.user(&admin, "uploader@example.com", "inspector", Some(&plant_a))
        .await;
    app.user(&admin, "colleague@example.com", "inspector", Some(&plant_a))
        .await;
    app.user(&admin, "elsewhere@example.com", "inspector", Some(&plant_b))
        .await;
    app.user(&admin, "boss@example.com", "manager", Some(&company))
        .await;
    let uploader = app.token("uploader@example.com").await;
    let colleague = app.token("colleague@example.com").await;
    let elsewhere = app.token("elsewhere@example.com").await;
    let boss = app.token("boss@example.com").await;
    let other_org_admin = {
        let db = app.db.clone();
        tokio::task::spawn_blocking(move || {
            bootstrap::add_user(
                &db,
                Some("Other Org"),
                "stranger@example.com",
                "Stranger",
                PASSWORD,
                Role::Admin,
                None,
            )
        })
        .await
        .unwrap()
        .expect("other org admin");
        app.token("stranger@example.com").await
    };

    let bytes = fixture("hazard-before.jpg");
    let id = sha(&bytes);
    let photo = format!("/v1/photos/{id}");
    assert_eq!(
        app.put_photo(&uploader, &id, bytes.clone()).await.status(),
        201
    );

    // Not linked yet: the uploader and admins only.
    let can_read = |token: String| {
        let url = photo.clone();
        let app = &app;
        async move { app.get(&url, &token).await.status().as_u16() }
    };
    assert_eq!(can_read(uploader.clone()).await, 200);
    assert_eq!(can_read(admin.clone()).await, 200);
    assert_eq!(can_read(colleague.clone()).await, 404);
    assert_eq!(can_read(boss.clone()).await, 404);
    assert_eq!(can_read(elsewhere.clone()).await, 404);
    assert_eq!(can_read(other_org_admin.clone()).await, 404);
    assert_eq!(app.head_photo(&elsewhere, &id).await.status(), 404);
    for suffix in ["metadata", "thumbnail", "display"] {
        assert_problem(
            app.get(&format!("{photo}/{suffix}"), &elsewhere).await,
            404,
            "not_found",
        )
        .await;
    }

    // Linked to a hazard at plant A: anyone with a role there (or above) reads it.
    app.link(
        &org,
        &uuid::Uuid::now_v7().to_string(),
        &plant_a,
        &id,
        "before",
    )
    .await;
    assert_eq!(can_read(colleague.clone()).await, 200);
    assert_eq!(can_read(boss.clone()).await, 200);
    assert_eq!(can_read(uploader.clone()).await, 200);
    assert_eq!(can_read(elsewhere.clone()).await, 404);
    assert_eq!(can_read(other_org_admin.clone()).await, 404);
    // Holding the bytes does not open a linked photo: the entity decides.
    assert_eq!(
        app.put_photo(&elsewhere, &id, bytes.clone()).await.status(),
        200
    );
    assert_eq!(can_read(elsewhere.clone()).await, 404);

    // Another organisation's upload of the same bytes is its own photo.
    assert_eq!(
        app.put_photo(&other_org_admin, &id, bytes).await.status(),
        201
    );
    assert_eq!(can_read(other_org_admin).await, 200);
}

async fn photos_never_linked_are_deleted_and_linked_ones_never(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |c| {
        c.photo_orphan_ttl_secs = 0;
        c.sweep_interval_secs = 1;
    })
    .await;
    let admin = app.admin_token().await;
    let org = app.org_id(&admin).await;
    let site = app.site(&admin, "Plant 1", None).await;
    let linked = fixture("hazard-before.jpg");
    let linked_id = sha(&linked);
    let orphan = fixture("no-exif.jpg");
    let orphan_id = sha(&orphan);
    app.link(
        &org,
        &uuid::Uuid::now_v7().to_string(),
        &site,
        &linked_id,
        "evidence",
    )
    .await;
    assert_eq!(
        app.put_photo(&admin, &linked_id, linked).await.status(),
        201
    );
    assert_eq!(
        app.put_photo(&admin, &orphan_id, orphan).await.status(),
        201
    );

    // The row goes first, then the blobs; a renditions job that was running for the orphan
    // removes what it made when it finds the row gone.
    let orphan_blobs = || {
        let mut files = app.stored_files(&format!("orgs/{org}"));
        files.retain(|f| f.contains(&orphan_id));
        files
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.head_photo(&admin, &orphan_id).await.status() != 404 || !orphan_blobs().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the orphan was never deleted: {:?}",
            orphan_blobs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let originals = app.stored_files(&format!("orgs/{org}/photos"));
    assert_eq!(originals.len(), 1, "{originals:?}");
    assert!(originals[0].ends_with(&linked_id));
    assert_eq!(app.head_photo(&admin, &linked_id).await.status(), 200);
    app.wait_for_status(&admin, &linked_id, "ready").await;
}
