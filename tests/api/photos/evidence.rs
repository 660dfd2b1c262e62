//! Evidence is not taken at face value: a capture time in the future is clamped and flagged, a
//! photo captured long before the report is flagged on its link, and a photo's or a report's
//! GPS outside its site's circle is flagged with the distance. The flags show on the photo's
//! metadata, on the hazard, and in events; sane evidence carries none.

use serde_json::{json, Value};

use super::exif::{jpeg_with_exif, ExifSpec};
use super::{photo_app, sha, Blobs};
use crate::helpers::{assert_problem, crew, TestApp};
use crate::Backend;

crate::photo_suite!(
    far_and_future_evidence_is_flagged_on_metadata_hazard_and_events,
    sane_evidence_inside_the_site_carries_no_flags,
);

crate::both_backends!(
    site_positions_are_set_cleared_and_validated,
    site_add_takes_a_position_on_the_command_line,
);

/// The plant's gate, with a 2 km circle (the workshop below has no position of its own).
const PLANT: (f64, f64) = (36.6171, 101.7782);
/// Beijing: about 1,340 km from the plant.
const FAR: (f64, f64) = (39.9042, 116.4074);
/// About 110 m from the plant's gate.
const NEAR: (f64, f64) = (36.6181, 101.7782);

fn codes(flags: &Value) -> Vec<String> {
    flags
        .as_array()
        .unwrap_or_else(|| panic!("flags must be an array: {flags}"))
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect()
}

/// Gives the plant its circle.
async fn place_plant(app: &TestApp, admin: &str, plant: &str) {
    let res = app
        .patch(
            &format!("/v1/sites/{plant}"),
            admin,
            &json!({"latitude": PLANT.0, "longitude": PLANT.1, "radius_m": 2000}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["radius_m"], 2000.0);
}

/// Server time now as a camera writes it (`YYYY:MM:DD HH:MM:SS`, UTC).
fn camera_now_utc() -> String {
    let ms = hazardloop_storage::now_ms() - 60_000;
    let text = hazardloop_sync::timestamp::format_rfc3339_ms(ms);
    text[..19].replace('-', ":").replace('T', " ")
}

async fn report(app: &TestApp, token: &str, site: &str, gps: (f64, f64), photos: &[&str]) -> Value {
    app.post_ok(
        "/v1/hazards",
        token,
        &json!({"site_id": site, "title": "Oil on the floor", "category": "unsafe_condition",
                "grade": "general", "gps": {"lat": gps.0, "lon": gps.1}, "photos": photos}),
        201,
    )
    .await
}

fn timeline_events<'a>(detail: &'a Value, name: &str) -> Vec<&'a Value> {
    detail["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["event"] == name)
        .collect()
}

async fn far_and_future_evidence_is_flagged_on_metadata_hazard_and_events(
    backend: Backend,
    blobs: Blobs,
) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let c = crew(&app).await;
    place_plant(&app, &c.admin, &c.plant).await;
    let inspector = c.token("inspector");

    // A photo from a camera whose clock says 2099, taken in Beijing; uploaded before any link.
    let future = jpeg_with_exif(&ExifSpec {
        taken: "2099:01:01 12:00:00",
        offset: Some("+08:00"),
        gps: Some(FAR),
        seed: 1,
    });
    let future_id = sha(&future);
    let res = app.put_photo(inspector, &future_id, future).await;
    assert_eq!(res.status(), 201);
    let photo: Value = res.json().await.expect("json");
    assert_eq!(codes(&photo["flags"]), vec!["capture_time_in_future"]);
    // The camera's value is kept beside the clamped one, which is the receipt time.
    assert_eq!(photo["captured_at_claimed"], "2099-01-01T12:00:00+08:00");
    assert_eq!(photo["captured_at"], photo["received_at"], "{photo}");
    assert_eq!(photo["captured_local"], "2099-01-01T12:00:00");
    assert!(photo["flags"][0]["claimed_at"]
        .as_str()
        .unwrap()
        .starts_with("2099-01-01T04:00:00"));

    // Reported at the workshop (no circle of its own: the plant's applies) with Beijing GPS.
    let h = report(&app, inspector, &c.workshop, FAR, &[&future_id]).await;
    let id = h["id"].as_str().unwrap().to_string();
    assert_eq!(codes(&h["flags"]), vec!["outside_site_radius"]);
    assert_eq!(h["flags"][0]["site_id"], c.plant.as_str());
    let distance = h["flags"][0]["distance_m"].as_i64().unwrap();
    assert!((1_250_000..1_450_000).contains(&distance), "{distance}");

    let detail = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(codes(&detail["flags"]), vec!["outside_site_radius"]);
    assert_eq!(
        codes(&detail["photos"][0]["flags"]),
        vec!["capture_time_in_future", "outside_site_radius"],
        "{detail}"
    );
    // In events: the report carries its flags, and the link a photo.flagged event.
    let reported = timeline_events(&detail, "hazard.reported");
    assert_eq!(
        codes(&reported[0]["payload"]["flags"]),
        vec!["outside_site_radius"]
    );
    let flagged = timeline_events(&detail, "photo.flagged");
    assert_eq!(flagged.len(), 1, "{detail}");
    assert_eq!(flagged[0]["payload"]["sha256"], future_id.as_str());
    assert_eq!(
        codes(&flagged[0]["payload"]["flags"]),
        vec!["capture_time_in_future", "outside_site_radius"]
    );

    // The photo's metadata: its own flag, and the link's.
    let meta = app
        .get_json(
            &format!("/v1/photos/{future_id}/metadata"),
            c.token("supervisor"),
        )
        .await;
    assert_eq!(codes(&meta["flags"]), vec!["capture_time_in_future"]);
    assert_eq!(
        codes(&meta["links"][0]["flags"]),
        vec!["outside_site_radius"]
    );

    // Linked first, bytes later: an old photo (half a year before the report) from Beijing.
    let old = jpeg_with_exif(&ExifSpec {
        taken: "2026:06:01 09:14:33",
        offset: None,
        gps: Some(FAR),
        seed: 2,
    });
    let old_id = sha(&old);
    let h2 = report(&app, inspector, &c.workshop, NEAR, &[&old_id]).await;
    let id2 = h2["id"].as_str().unwrap().to_string();
    assert_eq!(
        h2["flags"],
        json!([]),
        "a report inside the circle is not flagged"
    );
    let detail = app
        .get_json(&format!("/v1/hazards/{id2}"), c.token("supervisor"))
        .await;
    assert_eq!(detail["photos"][0]["status"], "pending");
    assert_eq!(detail["photos"][0]["flags"], json!([]));
    assert!(timeline_events(&detail, "photo.flagged").is_empty());
    let res = app.put_photo(c.token("rectifier"), &old_id, old).await;
    assert_eq!(res.status(), 201);
    let detail = app
        .get_json(&format!("/v1/hazards/{id2}"), c.token("supervisor"))
        .await;
    assert_eq!(
        codes(&detail["photos"][0]["flags"]),
        vec!["captured_long_before_report", "outside_site_radius"],
        "{detail}"
    );
    let flagged = timeline_events(&detail, "photo.flagged");
    assert_eq!(flagged.len(), 1, "{detail}");
    assert_eq!(flagged[0]["actor_id"], c.id("rectifier"));
    assert_eq!(
        flagged[0]["payload"]["flags"][0]["max_age_secs"],
        7 * 86_400
    );

    // Linked later by a phone (`photo.link` over sync): judged at once; the event names the device.
    let device = crate::sync::device(&app, inspector).await;
    let res = crate::sync::push(
        &app,
        inspector,
        &device,
        json!([{"seq": 1, "id": uuid::Uuid::now_v7(), "name": "photo.link",
                "args": {"entity_type": "hazard", "entity_id": id2, "sha256": future_id, "role": "evidence"}}]),
    )
    .await;
    assert_eq!(res["results"][0]["status"], "applied", "{res}");
    let detail = app
        .get_json(&format!("/v1/hazards/{id2}"), c.token("supervisor"))
        .await;
    let flagged = timeline_events(&detail, "photo.flagged");
    assert_eq!(flagged.len(), 2, "{detail}");
    assert_eq!(flagged[1]["device_id"], device.as_str());
    assert_eq!(flagged[1]["payload"]["role"], "evidence");
    assert_eq!(
        codes(&flagged[1]["payload"]["flags"]),
        vec!["capture_time_in_future", "outside_site_radius"]
    );
    assert_eq!(
        codes(&detail["photos"][1]["flags"]),
        vec!["capture_time_in_future", "outside_site_radius"]
    );

    // The event feed (and so webhooks) carries every photo.flagged event.
    let feed = app
        .get_json("/v1/events?types=photo.flagged", &c.admin)
        .await;
    let ids: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str(), id2.as_str(), id2.as_str()], "{feed}");
}

async fn sane_evidence_inside_the_site_carries_no_flags(backend: Backend, blobs: Blobs) {
    let app = photo_app(backend, blobs, |_| {}).await;
    let c = crew(&app).await;
    place_plant(&app, &c.admin, &c.plant).await;
    let inspector = c.token("inspector");
    let taken = camera_now_utc();
    let good = jpeg_with_exif(&ExifSpec {
        taken: &taken,
        offset: Some("+00:00"),
        gps: Some(NEAR),
        seed: 3,
    });
    let good_id = sha(&good);
    let res = app.put_photo(inspector, &good_id, good).await;
    assert_eq!(res.status(), 201);
    let photo: Value = res.json().await.expect("json");
    assert_eq!(photo["flags"], json!([]));
    assert_eq!(photo["captured_at"], photo["captured_at_claimed"]);
    let h = report(&app, inspector, &c.workshop, NEAR, &[&good_id]).await;
    assert_eq!(h["flags"], json!([]));
    let id = h["id"].as_str().unwrap();
    let detail = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(detail["flags"], json!([]));
    assert_eq!(detail["photos"][0]["flags"], json!([]), "{detail}");
    assert!(timeline_events(&detail, "photo.flagged").is_empty());
    assert!(timeline_events(&detail, "hazard.reported")[0]["payload"]
        .get("flags")
        .is_none());
    let meta = app
        .get_json(&format!("/v1/photos/{good_id}/metadata"), inspector)
        .await;
    assert_eq!(meta["flags"], json!([]));
    assert_eq!(meta["links"][0]["flags"], json!([]));
    // Moving the hazard's GPS out of the circle later is judged too, and back in clears it.
    let res = app
        .patch(
            &format!("/v1/hazards/{id}"),
            inspector,
            &json!({"gps": {"lat": FAR.0, "lon": FAR.1}}),
            Some("\"1\""),
        )
        .await;
    assert_eq!(res.status(), 200);
    let moved: Value = res.json().await.expect("json");
    assert_eq!(codes(&moved["flags"]), vec!["outside_site_radius"]);
    let detail = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    let updated = timeline_events(&detail, "hazard.updated");
    assert_eq!(
        codes(&updated[0]["payload"]["flags"]),
        vec!["outside_site_radius"]
    );
    let res = app
        .patch(
            &format!("/v1/hazards/{id}"),
            inspector,
            &json!({"gps": {"lat": NEAR.0, "lon": NEAR.1}}),
            Some("\"2\""),
        )
        .await;
    assert_eq!(res.status(), 200);
    let back: Value = res.json().await.expect("json");
    assert_eq!(back["flags"], json!([]));
    // At the other plant, which has no circle anywhere above it, nothing is judged by distance.
    let far_h = report(&app, c.token("outsider"), &c.other_plant, FAR, &[]).await;
    assert_eq!(far_h["flags"], json!([]));
}

async fn site_positions_are_set_cleared_and_validated(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let res = app
        .post(
            "/v1/sites",
            &admin,
            &json!({"name": "Plant", "kind": "plant", "latitude": 36.6, "longitude": 101.7, "radius_m": 500}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let site: Value = res.json().await.expect("json");
    assert_eq!(
        (site["latitude"].as_f64(), site["radius_m"].as_f64()),
        (Some(36.6), Some(500.0))
    );
    let id = site["id"].as_str().unwrap().to_string();
    let path = format!("/v1/sites/{id}");
    // All three or none.
    let res = app
        .post(
            "/v1/sites",
            &admin,
            &json!({"name": "Half", "latitude": 36.6}),
        )
        .await;
    let p = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(p["fields"], json!(["longitude", "radius_m"]));
    for (body, field) in [
        (
            json!({"latitude": 91, "longitude": 0, "radius_m": 5}),
            "latitude",
        ),
        (
            json!({"latitude": 0, "longitude": 181, "radius_m": 5}),
            "longitude",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "radius_m": 0}),
            "radius_m",
        ),
        (json!({"latitude": 0, "longitude": 0}), "radius_m"),
        (
            json!({"latitude": "x", "longitude": 0, "radius_m": 5}),
            "latitude",
        ),
        (
            json!({"latitude": 0, "longitude": 0, "radius_m": 5, "name": "x"}),
            "name",
        ),
    ] {
        let res = app.patch(&path, &admin, &body, None).await;
        let p = assert_problem(res, 422, "validation_failed").await;
        assert_eq!(p["fields"], json!([field]), "{body}");
    }
    // Nothing was changed by the refusals.
    let got = app.get_json(&path, &admin).await;
    assert_eq!(got["latitude"], 36.6);
    // Phones get the circle with the site.
    crate::sync::device(&app, &admin).await;
    let (items, _) = crate::sync::pull_all(&app, &admin, None).await;
    let pulled = items
        .iter()
        .find(|i| i["type"] == "site" && i["id"] == id.as_str())
        .expect("site pulled");
    assert_eq!(pulled["data"]["radius_m"], 500.0, "{pulled}");
    // Only an admin sets a position; an unknown site is 404.
    let email = "worker@example.com";
    app.user(&admin, email, "manager", Some(&id)).await;
    let manager = app.token(email).await;
    let body = json!({"latitude": 1, "longitude": 1, "radius_m": 1});
    assert_eq!(app.patch(&path, &manager, &body, None).await.status(), 403);
    let missing = format!("/v1/sites/{}", uuid::Uuid::now_v7());
    assert_eq!(app.patch(&missing, &admin, &body, None).await.status(), 404);
    // Cleared with three nulls.
    let res = app
        .patch(
            &path,
            &admin,
            &json!({"latitude": null, "longitude": null, "radius_m": null}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.expect("json");
    assert_eq!(
        (&got["latitude"], &got["longitude"], &got["radius_m"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
}

async fn site_add_takes_a_position_on_the_command_line(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (url, data_dir) = (app.config.database_url(), app.config.data_dir.clone());
    let run = move |args: &'static [&'static str]| {
        let (url, data_dir) = (url.clone(), data_dir.clone());
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_hazardloop"))
                .args(args)
                .env("DATABASE_URL", &url)
                .env("HAZARDLOOP_DATA_DIR", &data_dir)
                .output()
                .expect("run hazardloop")
        }
    };
    let out = tokio::task::spawn_blocking(run(&[
        "site", "add", "--name", "Plant", "--lat", "-36.6", "--lon", "101.7", "--radius", "800",
    ]))
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let site = app.get_json(&format!("/v1/sites/{id}"), &admin).await;
    assert_eq!(
        (&site["latitude"], &site["longitude"], &site["radius_m"]),
        (&json!(-36.6), &json!(101.7), &json!(800.0))
    );
    // Half a position is refused, and no site is created.
    let out = tokio::task::spawn_blocking(run(&["site", "add", "--name", "Half", "--lat", "36.6"]))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give all three or none"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sites = app.get_json("/v1/sites", &admin).await;
    assert_eq!(sites["items"].as_array().unwrap().len(), 1, "{sites}");
}
