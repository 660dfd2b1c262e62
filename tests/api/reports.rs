//! The statutory period report: hand-counted figures of a fixture organisation, period
//! boundaries in Asia/Shanghai, the organisation's time zone, scopes and visibility.

use calamine::{Data, Reader};
use diesel::RunQueryDsl;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, crew, spawn_app, Crew, TestApp};
use crate::sync::{device, push};
use crate::{both_backends, Backend};

both_backends!(
    the_period_report_matches_hand_counted_figures,
    inspection_hazards_count_as_inspection_and_bad_periods_are_refused,
    workbooks_csv_and_the_printable_page_match_the_report,
    signing_freezes_the_figures_and_a_later_edit_shows_what_changed,
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
    let inspection = crate::inspections::raise_three_hazards(&app, &c).await;
    // The inspection ledger as a workbook.
    let (status, _, xlsx) = download(&app, "/v1/inspections/export", &c.admin, Some("zh-CN")).await;
    assert_eq!(status, 200);
    let rows = sheet(&xlsx, "检查台账");
    assert_eq!(text(&rows[0][0]), "编号");
    assert_eq!(rows.len(), 2);
    assert_eq!(text(&rows[1][0]), inspection);
    assert_eq!(text(&rows[1][5]), "submitted");
    assert!(!text(&rows[1][2]).is_empty());
    assert!(matches!(rows[1][8], Data::DateTime(_)), "{:?}", rows[1][8]);
    let (_, _, en) = download(&app, "/v1/inspections/export?lang=en", &c.admin, None).await;
    assert_eq!(text(&sheet(&en, "Inspections")[0][0]), "ID");
    let res = app
        .get(
            &format!("/v1/inspections/export?site_id={}", uuid::Uuid::now_v7()),
            &c.admin,
        )
        .await;
    assert_problem(res, 404, "not_found").await;
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

/// GET with extra headers; returns status, content type and body bytes.
async fn download(
    app: &TestApp,
    path: &str,
    token: &str,
    lang: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(l) = lang {
        req = req.header("accept-language", l);
    }
    let res = crate::contract::checked(
        "GET",
        path.split('?').next().unwrap(),
        req.send().await.unwrap(),
    )
    .await;
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, res.bytes().await.unwrap().to_vec())
}

fn sheet(bytes: &[u8], name: &str) -> Vec<Vec<Data>> {
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let range = wb.worksheet_range(name).unwrap();
    range.rows().map(|r| r.to_vec()).collect()
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn number(d: &Data) -> f64 {
    match d {
        Data::Float(f) => *f,
        Data::Int(i) => *i as f64,
        Data::DateTime(t) => t.as_f64(),
        other => panic!("not a number: {other:?}"),
    }
}

async fn workbooks_csv_and_the_printable_page_match_the_report(backend: Backend) {
    let app = spawn_app(backend).await;
    let fx = fixture(&app).await;
    let admin = fx.c.admin.clone();
    let json = app
        .get_json("/v1/reports/period?period=2026-Q1", &admin)
        .await;
    let f = &json["figures"];

    // The report's workbook, in Chinese from Accept-Language.
    let (status, ct, xlsx) = download(
        &app,
        "/v1/reports/period.xlsx?period=2026-Q1",
        &admin,
        Some("zh-CN,zh;q=0.9,en;q=0.5"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("application/vnd.openxmlformats"), "{ct}");
    let summary = sheet(&xlsx, "汇总");
    assert_eq!(text(&summary[0][0]), "项目");
    let value = |label: &str| {
        summary
            .iter()
            .find(|r| text(&r[0]) == label)
            .map(|r| number(&r[1]))
            .unwrap_or_else(|| panic!("no row {label}"))
    };
    assert_eq!(value("排查隐患数"), f["found"].as_f64().unwrap());
    assert_eq!(
        value("按期整改"),
        f["rectification"]["on_time"].as_f64().unwrap()
    );
    assert_eq!(
        value("整改率"),
        f["rectification"]["rectification_rate"].as_f64().unwrap()
    );
    assert_eq!(value("整改资金 (CNY)"), 1300.0);
    let sites = sheet(&xlsx, "各场所");
    let from_xlsx: Vec<(String, f64)> = sites[1..]
        .iter()
        .map(|r| (text(&r[0]), number(&r[1])))
        .collect();
    let from_json: Vec<(String, f64)> = f["by_site"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["site_name"].as_str().unwrap().to_string(),
                s["found"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(from_xlsx, from_json);
    let majors = sheet(&xlsx, "重大隐患");
    assert_eq!(majors.len(), 2);
    assert_eq!(text(&majors[1][0]), "主管道腐蚀");
    assert_eq!(text(&majors[1][7]), "Li Wei");
    // Found 09:00 on 1 March Beijing time: a real Excel date showing that local time.
    let local = ms("2026-03-01T09:00:00+08:00") + 8 * 3_600_000;
    let serial = local as f64 / 86_400_000.0 + 25_569.0;
    assert!(
        matches!(majors[1][4], Data::DateTime(_)),
        "{:?}",
        majors[1][4]
    );
    assert!((number(&majors[1][4]) - serial).abs() < 1e-6);

    // The hazard ledger: Chinese headers, every hazard, Chinese text intact; English on request.
    let (status, _, ledger) = download(
        &app,
        "/v1/hazards/export?format=xlsx",
        &admin,
        Some("zh-CN"),
    )
    .await;
    assert_eq!(status, 200);
    let rows = sheet(&ledger, "隐患台账");
    assert_eq!(text(&rows[0][0]), "编号");
    assert_eq!(rows.len(), 1 + 7);
    let major = rows.iter().find(|r| text(&r[0]) == fx.major).unwrap();
    assert_eq!(text(&major[3]), "主管道腐蚀");
    let costs: f64 = rows[1..]
        .iter()
        .filter(|r| !matches!(r[17], Data::Empty))
        .map(|r| number(&r[17]))
        .sum();
    assert_eq!(costs, 1300.0);
    let (_, _, en) = download(
        &app,
        "/v1/hazards/export?format=xlsx&lang=en",
        &admin,
        Some("zh-CN"),
    )
    .await;
    assert_eq!(text(&sheet(&en, "Hazards")[0][0]), "ID");

    // CSV: a byte-order mark for a Chinese client or on request, none otherwise.
    let bom = [0xEF, 0xBB, 0xBF];
    let (_, _, zh) = download(&app, "/v1/hazards/export", &admin, Some("zh-CN,zh;q=0.9")).await;
    assert_eq!(zh[..3], bom);
    assert!(String::from_utf8(zh[3..].to_vec())
        .unwrap()
        .contains("主管道腐蚀"));
    let (_, _, plain) = download(&app, "/v1/hazards/export", &admin, Some("en-US,zh;q=0.5")).await;
    assert_eq!(&plain[..3], b"id,");
    let (_, _, asked) = download(&app, "/v1/hazards/export?bom=true", &admin, None).await;
    assert_eq!(asked[..3], bom);
    let (_, _, refused) = download(&app, "/v1/hazards/export?bom=false", &admin, Some("zh")).await;
    assert_eq!(&refused[..3], b"id,");
    let res = app.get("/v1/hazards/export?format=pdf", &admin).await;
    assert_problem(res, 400, "unsupported_format").await;

    // The printable page: self-contained, escaped.
    app.patch(
        &format!("/v1/hazards/{}", fx.major),
        &admin,
        &json!({"title": "<script>alert(1)</script> 主管道"}),
        None,
    )
    .await;
    let (status, ct, page) = download(
        &app,
        "/v1/reports/period.html?period=2026-Q1&lang=zh",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/html"), "{ct}");
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("@page{size:A4"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; 主管道"));
    assert!(!page.contains("<script"));
    assert!(!page.contains("src=") && !page.contains("href=") && !page.contains("url("));
    assert!(page.contains("主要负责人（签字）"));
}

async fn signing_freezes_the_figures_and_a_later_edit_shows_what_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let fx = fixture(&app).await;
    let c = &fx.c;
    // The manager is named principal: the admin no longer signs.
    let db = app.db.clone();
    let manager = c.id("manager").to_string();
    let org = tokio::task::spawn_blocking(move || {
        db.write_blocking(|conn| {
            let org = hazardloop_storage::orgs::list(conn)?.remove(0);
            hazardloop_storage::orgs::set_principal(conn, &org.id, &manager)?;
            Ok(org.id)
        })
    })
    .await
    .unwrap()
    .unwrap();
    let q1 = json!({"period": "2026-Q1"});
    let res = app.post("/v1/reports/signoffs", &c.admin, &q1).await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .post(
            "/v1/reports/signoffs",
            c.token("manager"),
            &json!({"period": "2099-Q1"}),
        )
        .await;
    assert_problem(res, 409, "invalid_transition").await;
    let signed = app
        .post_ok("/v1/reports/signoffs", c.token("manager"), &q1, 201)
        .await;
    assert_eq!(signed["period"], "2026-Q1");
    assert_eq!(signed["signed_by"], c.id("manager"));
    let hash = signed["snapshot_hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);
    let res = app
        .post("/v1/reports/signoffs", c.token("manager"), &q1)
        .await;
    assert_problem(res, 409, "already_exists").await;

    // Frozen: the status shows the signed figures, unchanged.
    let status = app
        .get_json("/v1/reports/signoffs?period=2026-Q1", c.token("manager"))
        .await;
    assert_eq!(status["changed_since_signed"], false);
    assert_eq!(status["current_hash"], hash.as_str());
    assert_eq!(status["snapshot"]["figures"]["found"], 5);
    assert_eq!(status["differences"], json!([]));
    // The organisation's sign-off is not for someone of one plant.
    let res = app
        .get("/v1/reports/signoffs?period=2026-Q1", c.token("outsider"))
        .await;
    assert_problem(res, 404, "not_found").await;

    // A later edit: the hazard found at 23:30 on 31 March is cancelled.
    app.post_ok(
        &format!("/v1/hazards/{}/cancel", fx.late_march),
        c.token("supervisor"),
        &json!({"reason": "not a hazard after all"}),
        200,
    )
    .await;
    let status = app
        .get_json("/v1/reports/signoffs?period=2026-Q1", &c.admin)
        .await;
    assert_eq!(status["changed_since_signed"], true);
    assert_ne!(status["current_hash"], hash.as_str());
    assert_eq!(status["signoff"]["snapshot_hash"], hash.as_str());
    let diffs: Vec<(String, Value, Value)> = status["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_string(),
                d["signed"].clone(),
                d["now"].clone(),
            )
        })
        .collect();
    assert!(
        diffs.contains(&("figures.rectification.cancelled".into(), json!(1), json!(2))),
        "{diffs:?}"
    );
    assert!(
        diffs.contains(&("figures.rectification.open".into(), json!(1), json!(0))),
        "{diffs:?}"
    );
    assert!(
        diffs.contains(&(
            "figures.rectification.rectification_rate".into(),
            json!(0.5),
            json!(0.6667)
        )),
        "{diffs:?}"
    );
    // The frozen snapshot itself did not move.
    assert_eq!(
        status["snapshot"]["figures"]["rectification"]["cancelled"],
        1
    );

    // Submission to the authority: when and by whom.
    let res = app
        .post("/v1/reports/signoffs/submission", c.token("inspector"), &q1)
        .await;
    assert_problem(res, 403, "forbidden").await;
    let sub = app
        .post_ok(
            "/v1/reports/signoffs/submission",
            &c.admin,
            &json!({"period": "2026-Q1", "reference": "县应急管理局 2026-041"}),
            200,
        )
        .await;
    assert_eq!(sub["submitted_by"], app_admin_id(&app, &c.admin).await);
    assert_eq!(sub["submission_reference"], "县应急管理局 2026-041");
    assert!(sub["submitted_at"].is_string());

    // The signature and the submission are in the audit chain, which still holds.
    let events = app.get_json("/v1/events?limit=500", &c.admin).await;
    let signed_ev = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "report.signed")
        .expect("report.signed in the feed");
    assert_eq!(signed_ev["payload"]["snapshot_hash"], hash.as_str());
    assert_eq!(signed_ev["actor_id"], c.id("manager"));
    assert!(events["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "report.submitted"));
    let db = app.db.clone();
    let o = org.clone();
    let chain = tokio::task::spawn_blocking(move || {
        db.read_blocking(|conn| hazardloop_storage::audit::verify_chain(conn, &o))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(chain.is_intact(), "{chain}");

    // Deadlines: with the organisation dated back, past quarters are missed and announced once.
    sql(&app, "UPDATE organisations SET created_at = 0".into()).await;
    let deadlines = app.get_json("/v1/reports/deadlines", &c.admin).await;
    let items = deadlines["items"].as_array().unwrap();
    let now = hazardloop_storage::now_ms();
    for d in items {
        let due = ms(d["due_at"].as_str().unwrap());
        if d["period"] == "2026-Q1" {
            assert_eq!(d["status"], "submitted");
            assert_eq!(d["signed"], true);
        } else if due < now {
            assert_eq!(d["status"], "missed", "{d}");
        }
    }
    let missed = items.iter().filter(|d| d["status"] == "missed").count();
    assert!(missed > 0, "{items:?}");
    let announce = |db: hazardloop_storage::Db| async move {
        tokio::task::spawn_blocking(move || {
            db.write_blocking(|conn| {
                hazardloop_storage::reports::announce_deadlines(conn, hazardloop_storage::now_ms())
            })
        })
        .await
        .unwrap()
        .unwrap()
    };
    announce(app.db.clone()).await;
    assert_eq!(announce(app.db.clone()).await, 0, "announced twice");
    let events = app
        .get_json(
            "/v1/events?limit=500&types=report.deadline_missed",
            &c.admin,
        )
        .await;
    assert_eq!(events["items"].as_array().unwrap().len(), missed);
}

async fn app_admin_id(app: &TestApp, token: &str) -> String {
    app.get_json("/v1/me", token).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}
