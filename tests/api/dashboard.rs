//! The console's dashboard: its figures match a hand-counted fixture and count only the sites
//! the visitor may see.

use serde_json::json;

use crate::closed_loop::{assign, report};
use crate::console::Browser;
use crate::helpers::{crew, spawn_app};
use crate::{both_backends, Backend};

both_backends!(dashboard_counts_what_the_visitor_may_see);

/// The number in the count tile with this id.
fn tile(body: &str, id: &str) -> String {
    let at = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("tile {id}"));
    let rest = &body[at..];
    let n = rest.find("class=\"n\">").unwrap() + "class=\"n\">".len();
    rest[n..n + rest[n..].find('<').unwrap()].to_string()
}

/// The cell of the current month's row (the last) with this class.
fn this_month(body: &str, class: &str) -> String {
    let at = body.rfind("<tr data-month=").expect("a month row");
    let rest = &body[at..];
    let key = format!("class=\"{class}\">");
    let n = rest.find(&key).unwrap() + key.len();
    rest[n..n + rest[n..].find('<').unwrap()].to_string()
}

async fn dashboard_counts_what_the_visitor_may_see(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    // At the workshop: two general hazards (one assigned) and one major.
    let a = report(&app, &c, "Loose rail", "general").await;
    report(&app, &c, "Wet floor", "general").await;
    report(&app, &c, "Open pit", "major").await;
    assert_eq!(assign(&app, &c, &a, "supervisor").await.status(), 200);
    // At the other plant, which the supervisor does not see.
    app.post_ok(
        "/v1/hazards",
        c.token("outsider"),
        &json!({"site_id": c.other_plant, "title": "Elsewhere", "category": "unsafe_condition",
                "grade": "general"}),
        201,
    )
    .await;

    let mut sup = Browser::signed_in(&app, "supervisor@example.com").await;
    let p = sup.get("/dashboard").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(
        p.headers["content-security-policy"],
        hazardloop_console::layout::CSP
    );
    assert_eq!(tile(&p.body, "dash-total"), "3");
    assert_eq!(tile(&p.body, "dash-open"), "3");
    assert_eq!(tile(&p.body, "dash-overdue"), "0");
    assert_eq!(tile(&p.body, "dash-rate"), "0%");
    assert_eq!(this_month(&p.body, "reported"), "3");
    assert_eq!(this_month(&p.body, "closed"), "0");
    assert_eq!(this_month(&p.body, "rate"), "0%");
    assert!(p.body.contains("id=\"chart-by-state\""));
    assert!(p.body.contains("class=\"seg seg-assigned\""));
    assert!(p.body.contains("class=\"seg seg-major\""));
    assert!(!p.body.contains("Other plant"), "another site's bars");
    assert!(!p.body.contains("style="), "no inline style under the CSP");
    // The same figures as the API's statistics for the same person.
    let api = app
        .get_json("/v1/stats/hazards", c.token("supervisor"))
        .await;
    assert_eq!(api["total"], 3);

    // The outsider sees only the other plant's one hazard.
    let mut out = Browser::signed_in(&app, "outsider@example.com").await;
    let p = out.get("/dashboard").await;
    assert_eq!(p.status, 200);
    assert_eq!(tile(&p.body, "dash-total"), "1");
    assert_eq!(this_month(&p.body, "reported"), "1");
    assert!(!p.body.contains("Workshop"));
}
