//! `q=` on `GET /v1/hazards` (and the ledger export, which shares its filters): a needle is
//! matched literally and without regard to letter case, the same way on both backends.

use serde_json::{json, Value};

use crate::closed_loop::report;
use crate::helpers::{crew, spawn_app};
use crate::{both_backends, Backend};

both_backends!(text_search_is_literal_and_ignores_case_in_every_script);

fn query(q: &str) -> String {
    let mut s = String::new();
    for b in q.as_bytes() {
        s.push_str(&format!("%{b:02X}"));
    }
    format!("/v1/hazards?q={s}")
}

async fn text_search_is_literal_and_ignores_case_in_every_script(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let titles = [
        "Pipe under_score label",
        "Guard 100% missing",
        "Path C:\\temp exposed",
        "Loose GRATING",
        "Ärger am Tor",
        "ΟΔΟΣ blocked",
        "消防通道被堵塞",
    ];
    let mut ids = Vec::new();
    for t in titles {
        ids.push(report(&app, &c, t, "general").await);
    }
    let found = |v: &Value| -> Vec<String> {
        let mut got: Vec<String> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        got
    };
    let only = |i: usize| vec![ids[i].clone()];
    for (q, want) in [
        ("under_score", only(0)),
        ("_", only(0)),
        ("100%", only(1)),
        ("%", only(1)),
        ("\\", only(2)),
        ("c:\\TEMP", only(2)),
        ("grating", only(3)),
        ("lOOSE gRaTiNg", only(3)),
        ("ärger", only(4)),
        ("ÄRGER", only(4)),
        ("οδος", only(5)),
        ("Οδοσ", only(5)),
        ("通道", only(6)),
        ("zzz", vec![]),
    ] {
        let res = app.get_json(&query(q), &c.admin).await;
        assert_eq!(found(&res), want, "q={q}");
    }
    // An edit is searchable at once (the write path keeps the folded text current).
    let etag = app
        .get(&format!("/v1/hazards/{}", ids[3]), &c.admin)
        .await
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let res = app
        .patch(
            &format!("/v1/hazards/{}", ids[3]),
            c.token("supervisor"),
            &json!({"description": "Rusty ÖLTANK"}),
            Some(&etag),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        found(&app.get_json(&query("öltank"), &c.admin).await),
        only(3)
    );
    assert_eq!(
        found(&app.get_json(&query("grating"), &c.admin).await),
        only(3)
    );
}
