//! The statutory period report: hand-counted figures of a fixture organisation, period
//! boundaries in Asia/Shanghai, the organisation's time zone, scopes and visibility.

use diesel::RunQueryDsl;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, crew, spawn_app, Crew, TestApp};
use crate::sync::{device, push};
use crate::{both_backends, Backend};

both_backends!(
    the_period_report_matches_hand_counted_figures,
    inspection_hazards_count_as_inspection_and_bad_periods_are_refused,
);

const PHOTO: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// Unix ms of an RFC 3339 time.
pub fn ms(t: &str) -> i64 {
    hazardloop_sync::timestamp::parse_rfc3339_ms(t).unwrap()
}

/// Runs SQL against the test database (fixture times the API cannot set: closing dates in the
/// past).
pub async fn sql(app: &TestApp, statement: String) {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        db.write_blocking(|c| {
            diesel::sql_query(statement)
                .execute(c)
                .map_err(hazardloop_storage::StorageError::from)
        })
    })
    .await
    .unwrap()
    .unwrap();
}

/// Reports a hazard from the inspector's phone: `(site, title, grade, found)`, found at that
/// time by the device clock.
pub async fn found(
    app: &TestApp,
    c: &Crew,
    dev: &str,
    seq: i64,
    (site, title, grade, found): (&str, &str, &str, &str),
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let out = push(
        app,
        c.token("inspector"),
        dev,
        json!([{"seq": seq, "id": uuid::Uuid::now_v7(), "name": "hazard.report",
                "device_time": found,
                "args": {"id": id, "site_id": site, "title": title, "category": "unsafe_condition",
                         "grade": grade}}]),
    )
    .await;
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    id
}

/// Takes a general hazard through the loop to closed, rectified by `owner` with a cost; then
/// dates its closing as given.
pub async fn close(
    app: &TestApp,
    c: &Crew,
    (id, owner): (&str, &str),
    cost: Value,
    deadline: &str,
    closed: &str,
) {
    let path = |cmd: &str| format!("/v1/hazards/{id}/{cmd}");
    app.post_ok(
        &path("assign"),
        c.token("supervisor"),
        &json!({"owner_id": c.id(owner), "verifier_id": c.id("verifier"),
                "deadline": deadline, "measures": "Fix it"}),
        200,
    )
    .await;
    app.post_ok(&path("start"), c.token(owner), &json!({}), 200)
        .await;
    let h = app
        .post_ok(
            &path("submit_rectification"),
            c.token(owner),
            &json!({"note": "Fixed", "after_photos": [PHOTO], "cost": cost}),
            200,
        )
        .await;
    assert_eq!(h["rectification_cost"]["currency"], "CNY");
    app.post_ok(
        &path("verify"),
        c.token("verifier"),
        &json!({"note": "Good"}),
        200,
    )
    .await;
    sql(
        app,
        format!(
            "UPDATE hazards SET closed_at = {} WHERE id = '{id}'",
            ms(closed)
        ),
    )
    .await;
}

/// The fixture: seven hazards around the first quarter of 2026 in Beijing time.
pub struct Fixture {
    pub c: Crew,
    /// Found 23:30 on 31 March local: the first quarter.
    pub late_march: String,
    /// Found 00:30 on 1 April local: the second quarter.
    pub early_april: String,
    /// Major, overdue at the quarter's end.
    pub major: String,
}

pub async fn fixture(app: &TestApp) -> Fixture {
    let c = crew(app).await;
    let dev = device(app, c.token("inspector")).await;
    let (ws, plant) = (c.workshop.clone(), c.plant.clone());
    let late_march = found(
        app,
        &c,
        &dev,
        1,
        (
            &ws,
            "Cable across the aisle",
            "general",
            "2026-03-31T23:30:00+08:00",
        ),
    )
    .await;
    let early_april = found(
        app,
        &c,
        &dev,
        2,
        (&ws, "Blocked exit", "general", "2026-04-01T00:30:00+08:00"),
    )
    .await;
    let on_time = found(
        app,
        &c,
        &dev,
        3,
        (&ws, "Guard missing", "general", "2026-01-15T10:00:00+08:00"),
    )
    .await;
    let late = found(
        app,
        &c,
        &dev,
        4,
        (
            &plant,
            "Leaking valve",
            "general",
            "2026-02-01T09:00:00+08:00",
        ),
    )
    .await;
    let major = found(
        app,
        &c,
        &dev,
        5,
        (&plant, "主管道腐蚀", "major", "2026-03-01T09:00:00+08:00"),
    )
    .await;
    let cancelled = found(
        app,
        &c,
        &dev,
        6,
        (&ws, "Duplicate", "general", "2026-02-15T09:00:00+08:00"),
    )
    .await;
    found(
        app,
        &c,
        &dev,
        7,
        (&ws, "Old ladder", "general", "2025-12-31T23:30:00+08:00"),
    )
    .await;

    close(
        app,
        &c,
        (&on_time, "rectifier"),
        json!({"amount": 1200.5, "currency": "CNY"}),
        "2026-02-01T00:00:00+08:00",
        "2026-01-20T10:00:00+08:00",
    )
    .await;
    close(
        app,
        &c,
        (&late, "inspector"),
        json!({"amount": 99.5, "currency": "cny"}),
        "2026-02-10T00:00:00+08:00",
        "2026-02-20T10:00:00+08:00",
    )
    .await;
    app.post_ok(
        &format!("/v1/hazards/{major}/assign"),
        c.token("manager"),
        &json!({"owner_id": c.id("inspector"), "verifier_id": c.id("verifier"),
                "deadline": "2026-03-15T00:00:00+08:00", "measures": "Replace the pipe",
                "five": {"responsible_person": "Li Wei", "measures": "Replace the pipe",
                         "funds": "20,000 CNY maintenance budget",
                         "funds_amount": {"amount": 20000, "currency": "CNY"},
                         "deadline": "2026-03-15T00:00:00+08:00",
                         "contingency_plan": "Isolate the line"}}),
        200,
    )
    .await;
    app.post_ok(
        &format!("/v1/hazards/{cancelled}/cancel"),
        c.token("supervisor"),
        &json!({"reason": "duplicate"}),
        200,
    )
    .await;
    Fixture {
        c,
        late_march,
        early_april,
        major,
    }
}

async fn the_period_report_matches_hand_counted_figures(backend: Backend) {
    let app = spawn_app(backend).await;
    let fx = fixture(&app).await;
    let c = &fx.c;
    let r = app
        .get_json("/v1/reports/period?period=2026-Q1", &c.admin)
        .await;
    assert_eq!(r["time_zone"], "Asia/Shanghai");
    assert_eq!(r["period"]["label"], "2026-Q1");
    assert_eq!(r["period"]["start"], "2025-12-31T16:00:00.000Z");
    assert_eq!(r["period"]["end"], "2026-03-31T16:00:00.000Z");
    assert_eq!(r["period"]["statutory_deadline"], "2026-04-15");
    assert_eq!(r["complete"], true);
    let f = &r["figures"];
    // Five found in the quarter: 31 March 23:30 is in, 1 April 00:30 and 31 December are not.
    assert_eq!(f["found"], 5);
    assert_eq!(f["by_grade"], json!({"general": 4, "major": 1}));
    assert_eq!(f["by_category"], json!({"unsafe_condition": 5}));
    assert_eq!(
        f["by_source"],
        json!({"ad_hoc": 5, "check_task": 0, "inspection": 0})
    );
    assert_eq!(
        f["rectification"],
        json!({"on_time": 1, "late": 1, "still_open": 2, "open": 1, "overdue": 1,
               "cancelled": 1, "rectification_rate": 0.5, "on_time_rate": 0.25})
    );
    let sites: Vec<(&str, u64)> = f["by_site"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["site_name"].as_str().unwrap(),
                s["found"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sites, [("Plant", 2), ("Workshop", 3)]);
    let majors = f["major_hazards"].as_array().unwrap();
    assert_eq!(majors.len(), 1);
    assert_eq!(majors[0]["id"], fx.major.as_str());
    assert_eq!(majors[0]["title"], "主管道腐蚀");
    assert_eq!(majors[0]["outcome"], "overdue");
    assert_eq!(majors[0]["carried_over"], false);
    assert_eq!(majors[0]["five"]["responsible_person"], "Li Wei");
    assert_eq!(
        majors[0]["five"]["funds_amount"],
        json!({"amount": 20000.0, "currency": "CNY"})
    );
    assert_eq!(
        f["funds"],
        json!({"rectification": [{"currency": "CNY", "amount": 1300.0, "hazards": 2}],
               "major_hazard_funds": [{"currency": "CNY", "amount": 20000.0, "hazards": 1}]})
    );
    // The previous quarter: the old ladder only.
    assert_eq!(r["previous"]["period"]["label"], "2025-Q4");
    assert_eq!(r["previous"]["found"], 1);
    assert_eq!(r["previous"]["still_open"], 1);
    assert_eq!(r["previous"]["rectification_rate"], 0.0);
    assert_eq!(r["change"]["found"], 4);
    assert_eq!(r["change"]["rectification_rate"], 0.5);

    // The second quarter has the hazard found at 00:30 on 1 April, and carries the major one.
    let q2 = app
        .get_json("/v1/reports/period?period=2026-Q2", &c.admin)
        .await;
    assert_eq!(q2["figures"]["found"], 1);
    assert_eq!(q2["figures"]["by_site"][0]["site_name"], "Workshop");
    let carried = &q2["figures"]["major_hazards"][0];
    assert_eq!(carried["id"], fx.major.as_str());
    assert_eq!(carried["carried_over"], true);
    // A range of two local days around the boundary holds both.
    let both = app
        .get_json("/v1/reports/period?from=2026-03-31&to=2026-04-01", &c.admin)
        .await;
    assert_eq!(both["figures"]["found"], 2);
    assert_eq!(
        both["previous"]["period"]["label"],
        "2026-03-29..2026-03-30"
    );
    let _ = (&fx.late_march, &fx.early_april);

    // A site's subtree: the workshop's three.
    let ws = app
        .get_json(
            &format!("/v1/reports/period?period=2026-Q1&site_id={}", c.workshop),
            &c.admin,
        )
        .await;
    assert_eq!(ws["figures"]["found"], 3);
    assert_eq!(ws["scope"]["site_name"], "Workshop");
    // Someone of another plant sees none of it.
    let other = app
        .get_json("/v1/reports/period?period=2026-Q1", c.token("outsider"))
        .await;
    assert_eq!(other["figures"]["found"], 0);
    assert_eq!(
        other["figures"]["rectification"]["rectification_rate"],
        Value::Null
    );

    // Counted in UTC, 1 April 00:30 Beijing time (31 March 16:30 UTC) is in the first quarter.
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        db.write_blocking(|conn| {
            let org = hazardloop_storage::orgs::list(conn)?.remove(0);
            hazardloop_storage::orgs::set_time_zone(conn, &org.id, "UTC")
        })
    })
    .await
    .unwrap()
    .unwrap();
    let utc = app
        .get_json("/v1/reports/period?period=2026-Q1", &c.admin)
        .await;
    assert_eq!(utc["time_zone"], "UTC");
    assert_eq!(utc["figures"]["found"], 6);
}

async fn inspection_hazards_count_as_inspection_and_bad_periods_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    crate::inspections::raise_three_hazards(&app, &c).await;
    // Today in Beijing time, as a one-day range.
    let tz = hazardloop_sync::period::time_zone("Asia/Shanghai").unwrap();
    let today =
        hazardloop_sync::period::Day::of_instant(hazardloop_storage::now_ms(), &tz).unwrap();
    let r = app
        .get_json(
            &format!("/v1/reports/period?from={today}&to={today}"),
            &c.admin,
        )
        .await;
    assert_eq!(r["period"]["kind"], "range");
    assert_eq!(r["complete"], false);
    assert_eq!(r["figures"]["found"], 3);
    assert_eq!(
        r["figures"]["by_source"],
        json!({"ad_hoc": 0, "check_task": 0, "inspection": 3})
    );

    for bad in [
        "period=2026-Q5",
        "period=2026-13",
        "from=2026-02-01&to=2026-01-01",
        "from=2026-02-01",
        "period=2026&from=2026-01-01&to=2026-01-02",
        "",
    ] {
        let res = app
            .get(&format!("/v1/reports/period?{bad}"), &c.admin)
            .await;
        assert_problem(res, 400, "invalid_period").await;
    }
    let res = app
        .get(
            &format!(
                "/v1/reports/period?period=2026&site_id={}",
                uuid::Uuid::now_v7()
            ),
            &c.admin,
        )
        .await;
    assert_problem(res, 404, "not_found").await;
}
