//! Dual prevention: the risk register over REST (units, events with assessment history,
//! measures, duties, pauses), who may read and change it, the spreadsheet import, and the
//! check task job (once per window, catch-up, pauses, missed once).

use hazardloop_storage::risk::tasks;
use serde_json::{json, Value};

use crate::contract::SendChecked;
use crate::helpers::{assert_problem, crew, spawn_app, spawn_app_with, Crew, TestApp};
use crate::{both_backends, Backend};

both_backends!(
    the_register_keeps_assessments_and_levels,
    only_managers_change_the_register_and_outsiders_learn_nothing,
    the_sample_register_imports_from_csv_and_xlsx,
    a_sheet_with_bad_rows_is_refused_whole_naming_every_row,
    the_task_job_makes_each_window_once_and_catches_up,
    a_pause_withdraws_due_tasks_and_none_are_made_in_it,
    a_stopped_duty_makes_no_tasks_and_a_restarted_one_owes_none,
    a_phone_pulls_its_own_tasks_and_their_missed_state,
);

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// A unit at the plant with one event (3 x 4 = 12, yellow) and one measure.
async fn register(app: &TestApp, c: &Crew) -> (String, String, String) {
    let unit = app
        .post_ok(
            "/v1/risk/units",
            &c.admin,
            &json!({"site_id": c.plant, "name": "Tank farm T-101", "kind": "installation",
                    "department": "Storage", "responsible_id": c.id("inspector")}),
            201,
        )
        .await;
    let event = app
        .post_ok(
            &format!("/v1/risk/units/{}/events", id(&unit)),
            &c.admin,
            &json!({"name": "Overfill and spill", "likelihood": 3, "severity": 4}),
            201,
        )
        .await;
    let measure = app
        .post_ok(
            &format!("/v1/risk/events/{}/measures", id(&event)),
            &c.admin,
            &json!({"name": "High-level alarm", "category": "engineering",
                    "subcategory": "safety instruments", "check_content": "Alarm reaches the control room"}),
            201,
        )
        .await;
    (id(&unit), id(&event), id(&measure))
}

async fn feed_types(app: &TestApp, token: &str) -> Vec<String> {
    let feed = app.get_json("/v1/events?limit=1000", token).await;
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

async fn the_register_keeps_assessments_and_levels(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let (unit, event, measure) = register(&app, &c).await;
    let u = app
        .get_json(&format!("/v1/risk/units/{unit}"), &c.admin)
        .await;
    assert_eq!(u["inherent_level"], "yellow");
    assert_eq!(u["events"][0]["assessment"]["score"], 12);
    assert_eq!(u["events"][0]["measures"][0]["id"], measure.as_str());

    // Re-assessed: the history keeps both, old and new, with the reason.
    let ev = app
        .post_ok(
            &format!("/v1/risk/events/{event}/assess"),
            c.token("manager"),
            &json!({"likelihood": 4, "severity": 5, "reason": "two overfills last year"}),
            200,
        )
        .await;
    assert_eq!(ev["assessment"]["level"], "red");
    assert_eq!(ev["version"], 2);
    let detail = app
        .get_json(&format!("/v1/risk/events/{event}"), c.token("inspector"))
        .await;
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert!(history[0]["old"].is_null());
    assert_eq!(history[1]["old"]["score"], 12);
    assert_eq!(history[1]["new"]["score"], 20);
    assert_eq!(history[1]["reason"], "two overfills last year");
    assert_eq!(history[1]["assessed_by"], c.id("manager"));
    let u = app
        .get_json(&format!("/v1/risk/units/{unit}"), &c.admin)
        .await;
    assert_eq!(u["inherent_level"], "red", "the worst event decides");
    // A second, milder event does not lower it; re-assessing the first down does.
    app.post_ok(
        &format!("/v1/risk/units/{unit}/events"),
        &c.admin,
        &json!({"name": "Static spark", "likelihood": 1, "severity": 2}),
        201,
    )
    .await;
    app.post_ok(
        &format!("/v1/risk/events/{event}/assess"),
        &c.admin,
        &json!({"likelihood": 2, "severity": 4, "reason": "interlock installed"}),
        200,
    )
    .await;
    let listed = app
        .get_json(
            &format!("/v1/risk/units?site_id={}&level=yellow", c.plant),
            &c.admin,
        )
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0);
    let listed = app
        .get_json(
            &format!("/v1/risk/units?site_id={}&level=blue", c.plant),
            &c.admin,
        )
        .await;
    assert_eq!(listed["items"][0]["id"], unit.as_str());

    // Values outside the matrix, reasons missing, leads incomplete: 422 naming the field.
    let res = app
        .post(
            &format!("/v1/risk/events/{event}/assess"),
            &c.admin,
            &json!({"likelihood": 6, "severity": 1, "reason": "x"}),
        )
        .await;
    let p = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(p["fields"], json!(["likelihood"]));
    let res = app
        .post(
            &format!("/v1/risk/events/{event}/assess"),
            &c.admin,
            &json!({"likelihood": 2, "severity": 1, "reason": "  "}),
        )
        .await;
    assert_eq!(
        assert_problem(res, 422, "validation_failed").await["fields"],
        json!(["reason"])
    );
    let res = app
        .post(
            "/v1/risk/units",
            &c.admin,
            &json!({"site_id": c.plant, "name": "LPG sphere", "kind": "installation",
                    "department": "Storage", "responsible_id": c.id("inspector"),
                    "major_hazard": true, "principal_id": c.id("manager")}),
        )
        .await;
    assert_eq!(
        assert_problem(res, 422, "validation_failed").await["fields"],
        json!(["technical_lead_id"])
    );

    let res = app
        .post(
            &format!("/v1/risk/units/{unit}/events"),
            &c.admin,
            &json!({"name": "Spill\u{0}", "likelihood": 1, "severity": 1}),
        )
        .await;
    assert_eq!(
        assert_problem(res, 422, "validation_failed").await["fields"],
        json!(["name"])
    );

    // A major hazard installation with its leads, and a lead's own duty.
    let sphere = app
        .post_ok(
            "/v1/risk/units",
            &c.admin,
            &json!({"site_id": c.plant, "name": "LPG sphere", "kind": "installation",
                    "department": "Storage", "responsible_id": c.id("inspector"),
                    "major_hazard": true, "principal_id": c.id("manager"),
                    "technical_lead_id": c.id("supervisor"), "operations_lead_id": c.id("verifier")}),
            201,
        )
        .await;
    assert_eq!(sphere["leads"]["technical_lead_id"], c.id("supervisor"));
    let duty = app
        .post_ok(
            &format!("/v1/risk/measures/{measure}/duties"),
            &c.admin,
            &json!({"cycle": {"unit": "week", "every": 1}, "window": {"start": "08:00", "end": "17:30"},
                    "day_rule": "workdays", "anchor": "2030-01-07", "post": "Tank farm operator"}),
            201,
        )
        .await;
    assert_eq!(duty["cycle"], json!({"unit": "week", "every": 1}));
    assert_eq!(duty["window"], json!({"start": "08:00", "end": "17:30"}));
    let res = app
        .post(
            &format!("/v1/risk/measures/{measure}/duties"),
            &c.admin,
            &json!({"cycle": {"unit": "day", "every": 1}, "window": {"start": "08:00", "end": "17:30"},
                    "lead_role": "principal"}),
        )
        .await;
    assert_eq!(
        assert_problem(res, 422, "validation_failed").await["fields"],
        json!(["lead_role"]),
        "the tank farm is no major hazard installation"
    );
    let res = app
        .post(
            &format!("/v1/risk/measures/{measure}/duties"),
            &c.admin,
            &json!({"cycle": {"unit": "day", "every": 1}, "window": {"start": "18:00", "end": "08:00"},
                    "post": "Night shift"}),
        )
        .await;
    assert_eq!(
        assert_problem(res, 422, "validation_failed").await["fields"],
        json!(["window"])
    );

    // A measure's text changes; a duty stops and starts again.
    let res = app
        .patch(
            &format!("/v1/risk/measures/{measure}"),
            &c.admin,
            &json!({"check_content": "Alarm tested weekly"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let m: Value = res.json().await.unwrap();
    assert_eq!(m["check_content"], "Alarm tested weekly");
    assert_eq!(m["name"], "High-level alarm");
    let res = app
        .patch(
            &format!("/v1/risk/duties/{}", id(&duty)),
            c.token("supervisor"),
            &json!({"active": false}),
            None,
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    let res = app
        .patch(
            &format!("/v1/risk/duties/{}", id(&duty)),
            &c.admin,
            &json!({"active": false}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["active"], false);

    // PATCH keeps what is not sent and the event has old and new.
    let patched = app
        .patch(
            &format!("/v1/risk/units/{unit}"),
            &c.admin,
            &json!({"department": "Storage and transport"}),
            None,
        )
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["department"], "Storage and transport");
    assert_eq!(patched["name"], "Tank farm T-101");
    assert_eq!(patched["version"], 2);

    let types = feed_types(&app, &c.admin).await;
    for t in [
        "risk_unit.created",
        "risk_event.created",
        "risk_event.assessed",
        "control_measure.created",
        "check_duty.created",
        "check_duty.updated",
        "control_measure.updated",
        "risk_unit.updated",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} in the feed: {types:?}");
    }
    assert_eq!(
        types.iter().filter(|t| *t == "risk_event.assessed").count(),
        2
    );
}

async fn only_managers_change_the_register_and_outsiders_learn_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let (unit, event, measure) = register(&app, &c).await;
    let random = uuid::Uuid::now_v7().to_string();
    // Readers at the plant read; only the manager (at the company above it) and admins change.
    for who in ["inspector", "supervisor", "manager"] {
        let u = app
            .get_json(&format!("/v1/risk/units/{unit}"), c.token(who))
            .await;
        assert_eq!(u["id"], unit.as_str());
    }
    for who in ["inspector", "supervisor"] {
        let res = app
            .post(
                &format!("/v1/risk/units/{unit}/events"),
                c.token(who),
                &json!({"name": "Fire", "likelihood": 1, "severity": 1}),
            )
            .await;
        assert_problem(res, 403, "forbidden").await;
    }
    app.post_ok(
        &format!("/v1/risk/units/{unit}/events"),
        c.token("manager"),
        &json!({"name": "Fire", "likelihood": 1, "severity": 1}),
        201,
    )
    .await;
    // An inspector of the other plant and another organisation's admin: 404 as for a random id,
    // for reads and writes alike, and nothing of the unit in lists or the feed.
    let stranger = {
        let db = app.db.clone();
        tokio::task::spawn_blocking(move || {
            hazardloop_api::bootstrap::add_user(
                &db,
                Some("Other Co"),
                "stranger@example.com",
                "Stan Stranger",
                crate::helpers::PASSWORD,
                hazardloop_sync::Role::Admin,
                None,
            )
            .unwrap()
        })
        .await
        .unwrap();
        app.token("stranger@example.com").await
    };
    for token in [c.token("outsider").to_string(), stranger] {
        for path in [
            format!("/v1/risk/units/{unit}"),
            format!("/v1/risk/events/{event}"),
            format!("/v1/risk/units/{random}"),
            format!("/v1/risk/units?site_id={}", c.plant),
            format!("/v1/risk/tasks?site_id={}", c.plant),
        ] {
            let res = app.get(&path, &token).await;
            assert_problem(res, 404, "not_found").await;
        }
        for (path, body) in [
            (
                format!("/v1/risk/events/{event}/assess"),
                json!({"likelihood": 1, "severity": 1, "reason": "probe"}),
            ),
            (
                format!("/v1/risk/measures/{measure}/duties"),
                json!({"cycle": {"unit": "day", "every": 1},
                       "window": {"start": "08:00", "end": "17:30"}, "post": "x"}),
            ),
            (
                "/v1/risk/units".to_string(),
                json!({"site_id": c.plant, "name": "Probe", "kind": "place",
                       "department": "x", "responsible_id": c.id("outsider")}),
            ),
        ] {
            let res = app.post(&path, &token, &body).await;
            assert_problem(res, 404, "not_found").await;
        }
        let listed = app.get_json("/v1/risk/units", &token).await;
        assert_eq!(listed["items"], json!([]));
        let feed = app.get("/v1/events?limit=1000", &token).await;
        let text = feed.text().await.unwrap();
        assert!(
            !text.contains(&unit) && !text.contains("Tank farm"),
            "{text}"
        );
    }
    // A person named in a unit must belong to the organisation.
    let res = app
        .post(
            "/v1/risk/units",
            &c.admin,
            &json!({"site_id": c.plant, "name": "Pump house", "kind": "place",
                    "department": "x", "responsible_id": random}),
        )
        .await;
    assert_eq!(
        assert_problem(res, 422, "validation_failed").await["fields"],
        json!(["responsible_id"])
    );
}

async fn import(
    app: &TestApp,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    app.client
        .post(app.url("/v1/risk/import"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send_checked()
        .await
        .unwrap()
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/demo/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn count_units(app: &TestApp, token: &str) -> usize {
    app.get_json("/v1/risk/units?limit=5000", token).await["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn the_sample_register_imports_from_csv_and_xlsx(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let res = import(&app, &c.admin, XLSX, sample("risk-register-sample.xlsx")).await;
    assert_eq!(res.status(), 201);
    let summary: Value = res.json().await.unwrap();
    assert_eq!(
        summary,
        json!({"rows": 200, "units_created": 50, "events_created": 100,
               "measures_created": 200, "duties_created": 200})
    );
    assert_eq!(count_units(&app, &c.admin).await, 50);
    let red = app
        .get_json("/v1/risk/units?level=red&limit=5000", &c.admin)
        .await;
    assert!(!red["items"].as_array().unwrap().is_empty());
    // The first unit is a major hazard installation; its principal's check is the lead's duty.
    let all = app.get_json("/v1/risk/units?limit=5000", &c.admin).await;
    let tank = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "储罐区01")
        .unwrap()
        .clone();
    assert_eq!(tank["major_hazard"], true);
    assert_eq!(tank["leads"]["principal_id"], c.id("manager"));
    let detail = app
        .get_json(&format!("/v1/risk/units/{}", id(&tank)), &c.admin)
        .await;
    let duty = &detail["events"][0]["measures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "液位高高报警联锁")
        .unwrap()["duties"][0];
    assert_eq!(duty["lead_role"], "principal");
    assert_eq!(duty["assignee_id"], c.id("manager"));
    assert_eq!(duty["day_rule"], "workdays");
    assert_eq!(duty["cycle"], json!({"unit": "day", "every": 1}));

    // The same register as CSV (UTF-8, Chinese headers) for another site: all new there.
    app.site(&c.admin, "Plant B", Some(&c.plant)).await;
    let csv = String::from_utf8(sample("risk-register-sample.csv")).unwrap();
    let res = import(
        &app,
        &c.admin,
        "text/csv; charset=utf-8",
        csv.replace("\r\nPlant,", "\r\nPlant B,").into_bytes(),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(count_units(&app, &c.admin).await, 100);
    // Again at the first site: every measure is in the register already, every row is named
    // and nothing is added.
    let res = import(&app, &c.admin, "text/csv", csv.into_bytes()).await;
    let p = assert_problem(res, 422, "invalid_register").await;
    assert_eq!(p["errors"].as_array().unwrap().len(), 200);
    assert_eq!(p["errors"][0]["column"], "管控措施");
    assert_eq!(count_units(&app, &c.admin).await, 100);
    // Not a sheet at all.
    let res = import(&app, &c.admin, "application/json", b"{}".to_vec()).await;
    assert_problem(res, 415, "unsupported_media_type").await;
    let res = import(&app, &c.admin, XLSX, b"not a zip".to_vec()).await;
    assert_problem(res, 422, "unreadable_sheet").await;
}

async fn a_sheet_with_bad_rows_is_refused_whole_naming_every_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let header = "站点,风险分析单元,单元类型,责任部门,责任人,重大危险源,包保主要负责人,包保技术负责人,包保操作负责人,风险事件,可能性L,严重性S,管控措施,措施分类,二级分类,排查内容,排查周期,工作时间,仅工作日,排查岗位/人员";
    let good = "Plant,储罐区,设备设施,储运车间,inspector@example.com,否,,,,泄漏,3,4,巡回检查,操作行为,工艺控制,查看跑冒滴漏,4小时,08:00-20:00,否,巡检员";
    let rows = [
        good.to_string(),
        // 3: likelihood outside the matrix is caught later (grading); 3: a cycle that is none.
        good.replace("4小时", "每天两次"),
        // 4: a major hazard without its leads.
        good.replace(",否,,,,", ",是,,,,")
            .replace("储罐区", "液化气球罐"),
        // 5: nobody by that e-mail; a site that does not exist.
        good.replace("inspector@example.com", "nobody@example.com")
            .replace("Plant,", "Nowhere,"),
        good.replace("储罐区", "装卸站"),
    ];
    let csv = format!("{header}\n{}\n", rows.join("\n"));
    let res = import(&app, &c.admin, "text/csv", csv.into_bytes()).await;
    let p = assert_problem(res, 422, "invalid_register").await;
    let errors = p["errors"].as_array().unwrap();
    let named: Vec<(i64, Option<&str>)> = errors
        .iter()
        .map(|e| (e["row"].as_i64().unwrap(), e["column"].as_str()))
        .collect();
    assert!(named.contains(&(3, Some("排查周期"))), "{p}");
    assert!(named.contains(&(4, Some("包保主要负责人"))), "{p}");
    assert!(named.contains(&(4, Some("包保技术负责人"))), "{p}");
    assert!(
        !named.iter().any(|(r, _)| *r == 2 || *r == 6),
        "good rows are not named: {p}"
    );
    assert_eq!(count_units(&app, &c.admin).await, 0, "nothing was stored");
    // With the parse errors fixed, the rows that name what does not exist are all named.
    let rows = [
        good.to_string(),
        good.replace("inspector@example.com", "nobody@example.com"),
        good.replace("Plant,", "Nowhere,")
            .replace("储罐区", "装卸站"),
        good.replace("储罐区", "装卸站")
            .replace(",否,巡检员", ",否,ghost@example.com"),
    ];
    let csv = format!("{header}\r\n{}\r\n", rows.join("\r\n"));
    let res = import(&app, &c.admin, "text/csv", csv.into_bytes()).await;
    let p = assert_problem(res, 422, "invalid_register").await;
    let named: Vec<(i64, Option<String>)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["column"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        named,
        vec![
            (3, Some("责任人".to_string())),
            (4, Some("站点".to_string())),
            (5, Some("排查岗位/人员".to_string())),
        ],
        "{p}"
    );
    assert_eq!(count_units(&app, &c.admin).await, 0, "nothing was stored");
    // An inspector may read the plant but not change its register: every row says so.
    let csv = format!("{header}\n{good}\n");
    let res = import(
        &app,
        c.token("inspector"),
        "text/csv",
        csv.clone().into_bytes(),
    )
    .await;
    let p = assert_problem(res, 422, "invalid_register").await;
    assert_eq!(p["errors"][0]["row"], 2);
    assert_eq!(p["errors"][0]["column"], "站点");
    // English headers work too, and the good row alone imports.
    let english = "site,unit,unit_kind,department,responsible,event,likelihood,severity,measure,category,check_content,cycle,working_time,checker";
    let row = "Plant,Pump house,place,Utilities,inspector@example.com,Seal leak,2,3,Walkround,operations,Look for drips,1 day,08:00-17:30,Operator";
    let res = import(
        &app,
        &c.admin,
        "text/csv",
        format!("{english}\n{row}\n").into_bytes(),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(count_units(&app, &c.admin).await, 1);
}

/// Runs the task job as a node would, at `now`.
async fn run_job(app: &TestApp, now: i64) -> tasks::RunReport {
    app.db
        .write(move |c| tasks::run(c, now, tasks::DEFAULT_HORIZON_MS))
        .await
        .expect("task job")
}

fn at(text: &str) -> i64 {
    hazardloop_sync::timestamp::parse_rfc3339_ms(text).unwrap()
}

async fn daily_duty(app: &TestApp, c: &Crew, measure: &str) -> String {
    // 08:00-17:30 in Shanghai: 00:00-09:30 UTC, every day from 1 January 2030.
    id(&app
        .post_ok(
            &format!("/v1/risk/measures/{measure}/duties"),
            &c.admin,
            &json!({"cycle": {"unit": "day", "every": 1}, "window": {"start": "08:00", "end": "17:30"},
                    "anchor": "2030-01-01", "assignee_id": c.id("inspector")}),
            201,
        )
        .await)
}

async fn tasks_of(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    app.get_json(&format!("/v1/risk/tasks?limit=1000&{query}"), token)
        .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn missed_events(app: &TestApp, token: &str) -> usize {
    feed_types(app, token)
        .await
        .iter()
        .filter(|t| *t == "task.missed")
        .count()
}

async fn the_task_job_makes_each_window_once_and_catches_up(backend: Backend) {
    // A webhook for missed tasks whose deliveries stay queued (no delivery workers).
    let app = spawn_app_with(backend, |c| {
        c.webhook_allow_hosts = vec!["127.0.0.1".into()];
        c.webhook_concurrency = 0;
    })
    .await;
    let c = crew(&app).await;
    let hook = app
        .post_ok(
            "/v1/webhooks",
            &c.admin,
            &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["task.missed"]}),
            201,
        )
        .await;
    let (_, _, measure) = register(&app, &c).await;
    daily_duty(&app, &c, &measure).await;
    let t1 = at("2030-01-01T00:00:00Z");
    // Two nodes at once: the windows of 1 and 2 January, each made once.
    let (a, b) = tokio::join!(run_job(&app, t1), run_job(&app, t1));
    assert_eq!(a.created + b.created, 2, "{a:?} {b:?}");
    assert_eq!(run_job(&app, t1).await, tasks::RunReport::default());
    let mine = tasks_of(&app, c.token("inspector"), "assignee_id=me").await;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0]["window_start"], "2030-01-01T00:00:00.000Z");
    assert_eq!(mine[0]["window_end"], "2030-01-01T09:30:00.000Z");
    assert_eq!(mine[0]["assignee_id"], c.id("inspector"));
    assert_eq!(mine[1]["window_start"], "2030-01-02T00:00:00.000Z");

    // Ten days of downtime: every window in between once, those closed are missed once.
    let t2 = at("2030-01-11T00:00:00Z");
    let (a, b) = tokio::join!(run_job(&app, t2), run_job(&app, t2));
    assert_eq!(a.created + b.created, 10, "3 to 12 January: {a:?} {b:?}");
    assert_eq!(a.missed + b.missed, 10, "1 to 10 January: {a:?} {b:?}");
    assert_eq!(run_job(&app, t2).await, tasks::RunReport::default());
    let all = tasks_of(&app, &c.admin, "").await;
    assert_eq!(all.len(), 12);
    let mut starts: Vec<&str> = all
        .iter()
        .map(|t| t["window_start"].as_str().unwrap())
        .collect();
    starts.dedup();
    assert_eq!(starts.len(), 12, "no window twice");
    assert_eq!(tasks_of(&app, &c.admin, "state=missed").await.len(), 10);
    assert_eq!(missed_events(&app, &c.admin).await, 10);
    let missed = tasks_of(&app, &c.admin, "state=missed").await;
    assert!(missed
        .iter()
        .all(|t| t["missed_at"] == "2030-01-11T00:00:00.000Z"));
    // The inspector reads the events of their site; the outsider sees none of them.
    assert_eq!(missed_events(&app, c.token("inspector")).await, 10);
    assert_eq!(missed_events(&app, c.token("outsider")).await, 0);
    let queued = app
        .get_json(
            &format!("/v1/webhooks/{}/deliveries?limit=500", id(&hook)),
            &c.admin,
        )
        .await;
    let queued = queued["items"].as_array().unwrap();
    assert_eq!(queued.len(), 10, "one webhook delivery per missed task");
    assert!(queued.iter().all(|d| d["event_type"] == "task.missed"));
    assert!(tasks_of(&app, c.token("outsider"), "").await.is_empty());
    // Later runs add only the new windows.
    let t3 = at("2030-01-12T12:00:00Z");
    let r = run_job(&app, t3).await;
    assert_eq!(
        r,
        tasks::RunReport {
            created: 2,
            missed: 2
        },
        "13 and 14 January made, 11 and 12 January missed"
    );
}

async fn a_stopped_duty_makes_no_tasks_and_a_restarted_one_owes_none(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let (_, _, measure) = register(&app, &c).await;
    let duty = daily_duty(&app, &c, &measure).await;
    // Made ahead for 1 and 2 January; stopped "now" (real time, before 2030): both withdrawn.
    assert_eq!(run_job(&app, at("2030-01-01T00:00:00Z")).await.created, 2);
    let res = app
        .patch(
            &format!("/v1/risk/duties/{duty}"),
            &c.admin,
            &json!({"active": false}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(tasks_of(&app, &c.admin, "").await.is_empty());
    assert_eq!(
        run_job(&app, at("2030-01-05T00:00:00Z")).await,
        tasks::RunReport::default()
    );
    // Started again on 5 January (the storage call the PATCH makes, at that time): windows
    // from then on only; none of the stopped days is owed or missed.
    let t = at("2030-01-05T00:00:00Z");
    let (org, admin) = (app.db.clone(), c.id("manager").to_string());
    let duty_id = duty.clone();
    org.write(move |conn| {
        use hazardloop_storage::risk::{duties, Caller};
        let org_id: String = hazardloop_storage::users::find_active_by_id(conn, &admin)?
            .expect("manager")
            .org_id;
        let who = Caller {
            org_id: org_id.clone(),
            user_id: admin,
            is_admin: false,
        };
        let (d, _, _, _, site) = duties::readable(conn, &who, &duty_id)?;
        let mut change = hazardloop_storage::change::Change::begin(conn, &org_id, t)?;
        duties::set_active(conn, &mut change, &who, &d, &site, true)?.expect("a manager may");
        change.finish(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    let r = run_job(&app, t).await;
    assert_eq!(
        r,
        tasks::RunReport {
            created: 2,
            missed: 0
        },
        "5 and 6 January"
    );
    let starts: Vec<String> = tasks_of(&app, &c.admin, "")
        .await
        .iter()
        .map(|t| t["window_start"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        starts,
        ["2030-01-05T00:00:00.000Z", "2030-01-06T00:00:00.000Z"]
    );
}

async fn a_pause_withdraws_due_tasks_and_none_are_made_in_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let (unit, _, measure) = register(&app, &c).await;
    daily_duty(&app, &c, &measure).await;
    let t1 = at("2030-01-01T00:00:00Z");
    assert_eq!(run_job(&app, t1).await.created, 2);
    // Shut down from noon UTC on 1 January to 5 January: the 2 January task goes, the one of
    // 1 January (00:00-09:30) stays.
    let pause = app
        .post_ok(
            &format!("/v1/risk/units/{unit}/pauses"),
            c.token("manager"),
            &json!({"start_at": "2030-01-01T12:00:00Z", "end_at": "2030-01-05T00:00:00Z",
                    "reason": "停用检维修"}),
            201,
        )
        .await;
    assert_eq!(pause["reason"], "停用检维修");
    let left = tasks_of(&app, &c.admin, "").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["window_start"], "2030-01-01T00:00:00.000Z");
    // After the pause the job makes only the windows outside it: 5 to 7 January.
    let t2 = at("2030-01-06T00:00:00Z");
    let r = run_job(&app, t2).await;
    assert_eq!(r.created, 3, "{r:?}");
    assert_eq!(r.missed, 2, "1 and 5 January: {r:?}");
    let starts: Vec<String> = tasks_of(&app, &c.admin, "")
        .await
        .iter()
        .map(|t| t["window_start"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        starts,
        [
            "2030-01-01T00:00:00.000Z",
            "2030-01-05T00:00:00.000Z",
            "2030-01-06T00:00:00.000Z",
            "2030-01-07T00:00:00.000Z",
        ]
    );
    // A pause that covers part of a window cuts it back.
    app.post_ok(
        &format!("/v1/risk/units/{unit}/pauses"),
        &c.admin,
        &json!({"start_at": "2030-01-07T05:00:00Z", "end_at": "2030-01-07T12:00:00Z",
                "reason": "检维修"}),
        201,
    )
    .await;
    let last = tasks_of(&app, &c.admin, "from=2030-01-07T00:00:00Z").await;
    assert_eq!(last.len(), 1);
    assert_eq!(last[0]["window_end"], "2030-01-07T05:00:00.000Z");
    // Only managers pause; the event is in the feed.
    let res = app
        .post(
            &format!("/v1/risk/units/{unit}/pauses"),
            c.token("supervisor"),
            &json!({"start_at": "2030-02-01T00:00:00Z", "end_at": "2030-02-02T00:00:00Z",
                    "reason": "x"}),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    assert!(feed_types(&app, &c.admin)
        .await
        .iter()
        .any(|t| t == "risk_unit.paused"));
}

/// The check tasks among pulled items, by id: (state, assignee).
fn pulled_tasks(items: &[Value]) -> std::collections::BTreeMap<String, (String, String)> {
    items
        .iter()
        .filter(|i| i["type"] == "check_task")
        .map(|i| {
            assert_eq!(i["deleted"], false, "{i}");
            let d = &i["data"];
            assert_eq!(d["id"], i["id"]);
            (
                id(d),
                (
                    d["state"].as_str().unwrap().to_string(),
                    d["assignee_id"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

async fn a_phone_pulls_its_own_tasks_and_their_missed_state(backend: Backend) {
    use crate::sync::pull_all;
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let (_, _, measure) = register(&app, &c).await;
    let duty = daily_duty(&app, &c, &measure).await;
    // The verifier reads the same plant; the outsider another one.
    let (_, verifier_cursor) = pull_all(&app, c.token("verifier"), None).await;
    assert_eq!(run_job(&app, at("2030-01-01T00:00:00Z")).await.created, 2);
    let made = tasks_of(&app, &c.admin, "").await;
    let (items, cursor) = pull_all(&app, c.token("inspector"), None).await;
    let mine = pulled_tasks(&items);
    assert_eq!(mine.len(), 2, "{items:?}");
    for t in &made {
        assert_eq!(
            mine[&id(t)],
            ("open".to_string(), c.id("inspector").to_string())
        );
    }
    let first = items
        .iter()
        .find(|i| i["id"] == made[0]["id"])
        .expect("pulled");
    assert_eq!(first["data"]["window_start"], "2030-01-01T00:00:00.000Z");
    assert_eq!(first["data"]["window_end"], "2030-01-01T09:30:00.000Z");
    assert_eq!(first["data"]["unit_id"], made[0]["unit_id"]);
    // Nobody else's phone gets them: not a colleague at the site, not the admin, not an
    // outsider, neither in a snapshot nor incrementally.
    for who in [c.token("verifier"), c.token("outsider"), &c.admin] {
        let (items, _) = pull_all(&app, who, None).await;
        assert!(pulled_tasks(&items).is_empty(), "{items:?}");
    }
    let (items, verifier_cursor) = pull_all(&app, c.token("verifier"), Some(verifier_cursor)).await;
    assert!(pulled_tasks(&items).is_empty(), "{items:?}");

    // Both windows close unrecorded: the missed state arrives with the next pull, beside the
    // tasks made ahead for 3 and 4 January.
    let r = run_job(&app, at("2030-01-02T12:00:00Z")).await;
    assert_eq!((r.created, r.missed), (2, 2));
    let (items, cursor) = pull_all(&app, c.token("inspector"), Some(cursor)).await;
    let now = pulled_tasks(&items);
    assert_eq!(now.len(), 4, "{items:?}");
    for t in &made {
        assert_eq!(now[&id(t)].0, "missed");
    }
    assert_eq!(now.values().filter(|(s, _)| s == "open").count(), 2);
    let (items, verifier_cursor) = pull_all(&app, c.token("verifier"), Some(verifier_cursor)).await;
    assert!(pulled_tasks(&items).is_empty(), "{items:?}");

    // The duty stops (now, before 2030): its two open tasks are withdrawn and arrive as
    // tombstones on the assignee's phone; the missed ones stay.
    let res = app
        .patch(
            &format!("/v1/risk/duties/{duty}"),
            &c.admin,
            &json!({"active": false}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let (items, _) = pull_all(&app, c.token("inspector"), Some(cursor)).await;
    let mut gone: Vec<String> = items
        .iter()
        .filter(|i| i["type"] == "check_task")
        .map(|i| {
            assert_eq!(i["deleted"], true, "{i}");
            id(i)
        })
        .collect();
    gone.sort();
    let mut open: Vec<String> = now
        .iter()
        .filter(|(_, (s, _))| s == "open")
        .map(|(k, _)| k.clone())
        .collect();
    open.sort();
    assert_eq!(gone, open);
    let (items, _) = pull_all(&app, c.token("verifier"), Some(verifier_cursor)).await;
    assert!(items.iter().all(|i| i["type"] != "check_task"), "{items:?}");
}
