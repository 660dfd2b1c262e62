//! The audit chain detects tampering; the overdue scan records once per deadline; the ledger
//! and statistics.

use diesel::RunQueryDsl;
use hazardloop_storage::audit::{verify_chain, ChainReport};
use serde_json::{json, Value};

use crate::closed_loop::{assign, deadline, report};
use crate::helpers::{crew, spawn_app, spawn_app_with, TestApp};
use crate::{both_backends, Backend};

both_backends!(
    the_audit_chain_names_the_first_row_changed_behind_the_servers_back,
    the_overdue_scan_records_one_event_per_deadline,
    the_ledger_streams_csv_and_stats_add_up,
    command_line_runs_exit_cleanly_every_time,
    deleting_the_newest_events_is_named,
    a_checkpoint_proves_the_chain_still_holds_it,
);

/// A command-line process must exit cleanly however its pool's connections stand: run
/// `audit verify` many times and accept no crash (a pool that reopened connections in the
/// background once made about one exit in ten die in OpenSSL's exit-time cleanup).
async fn command_line_runs_exit_cleanly_every_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    report(&app, &c, "Loose grating", "general").await;
    let (url, data_dir) = (app.config.database_url(), app.config.data_dir.clone());
    let outcomes = tokio::task::spawn_blocking(move || {
        (0..40)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_hazardloop"))
                    .args(["audit", "verify"])
                    .env("DATABASE_URL", &url)
                    .env("HAZARDLOOP_DATA_DIR", &data_dir)
                    .output()
                    .unwrap()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for out in outcomes {
        assert!(
            out.status.success(),
            "{:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("chain intact"));
    }
}

async fn the_audit_chain_names_the_first_row_changed_behind_the_servers_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Chain", "general").await;
    assert_eq!(assign(&app, &c, &id, "supervisor").await.status(), 200);
    app.post_ok(
        &format!("/v1/hazards/{id}/start"),
        c.token("rectifier"),
        &json!({}),
        200,
    )
    .await;
    let me = app.get_json("/v1/me", &c.admin).await;
    let org = me["org_id"].as_str().unwrap().to_string();

    let db = app.db.clone();
    let o = org.clone();
    let report_before =
        tokio::task::spawn_blocking(move || db.read_blocking(|c| verify_chain(c, &o)))
            .await
            .unwrap()
            .unwrap();
    assert!(
        matches!(report_before, ChainReport::Intact(3)),
        "{report_before:?}"
    );

    // The CLI agrees, and exits 0.
    let url = app.config.database_url();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hazardloop"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &url)
        .env("HAZARDLOOP_DATA_DIR", &app.config.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?} {} {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 audit records, chain intact"));

    // Someone edits the assignment's payload directly in the database.
    let db = app.db.clone();
    let o = org.clone();
    tokio::task::spawn_blocking(move || {
        db.read_blocking(|c| {
            diesel::sql_query(format!(
                "UPDATE audit_events SET payload = '{{\"measures\":\"nothing\"}}' WHERE org_id = '{o}' AND seq = 2"
            ))
            .execute(c)
            .map_err(hazardloop_storage::StorageError::from)
        })
    })
    .await
    .unwrap()
    .unwrap();
    let db = app.db.clone();
    let o = org.clone();
    let after = tokio::task::spawn_blocking(move || db.read_blocking(|c| verify_chain(c, &o)))
        .await
        .unwrap()
        .unwrap();
    match after {
        ChainReport::Broken(link) => assert_eq!(link.seq, 2),
        other => panic!("tampering not detected: {other:?}"),
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hazardloop"))
        .args(["audit", "verify"])
        .env("DATABASE_URL", &url)
        .env("HAZARDLOOP_DATA_DIR", &app.config.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("broken at seq 2"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn the_overdue_scan_records_one_event_per_deadline(backend: Backend) {
    // The background scan is off here; the test drives it to control time.
    let app = spawn_app_with(backend, |cfg| cfg.overdue_scan_interval_secs = 0).await;
    let c = crew(&app).await;
    let id = report(&app, &c, "Late", "general").await;
    let res = app
        .post(&format!("/v1/hazards/{id}/assign"), c.token("supervisor"),
              &json!({"owner_id": c.id("rectifier"), "verifier_id": c.id("verifier"), "deadline": deadline(-1), "measures": "m"}))
        .await;
    assert_eq!(res.status(), 200);
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(h["overdue"], true);
    let overdue = app.get_json("/v1/hazards?overdue=true", &c.admin).await;
    assert_eq!(overdue["items"].as_array().unwrap().len(), 1);

    // Two scanners at once (two nodes), then again: one event.
    let scan = |db: hazardloop_storage::Db| {
        tokio::task::spawn_blocking(move || {
            db.write_blocking(|c| {
                hazardloop_storage::overdue::scan(c, hazardloop_storage::now_ms(), 100)
            })
        })
    };
    let (a, b) = tokio::join!(scan(app.db.clone()), scan(app.db.clone()));
    let total =
        a.unwrap().unwrap() + b.unwrap().unwrap() + scan(app.db.clone()).await.unwrap().unwrap();
    assert_eq!(total, 1);
    let count = |h: &Value| {
        h["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"] == "hazard.overdue")
            .count()
    };
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(count(&h), 1);

    // A new deadline that passes too is a new overdue event.
    let res = app
        .post(&format!("/v1/hazards/{id}/extend_deadline"), c.token("supervisor"),
              &json!({"deadline": hazardloop_sync::timestamp::format_rfc3339_ms(hazardloop_storage::now_ms() - 1000), "reason": "parts late"}))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(scan(app.db.clone()).await.unwrap().unwrap(), 1);
    assert_eq!(scan(app.db.clone()).await.unwrap().unwrap(), 0);
    let h = app
        .get_json(&format!("/v1/hazards/{id}"), c.token("supervisor"))
        .await;
    assert_eq!(count(&h), 2);
}

async fn the_ledger_streams_csv_and_stats_add_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let a = report(&app, &c, "Comma, \"quoted\" title", "general").await;
    let b = report(&app, &c, "=HYPERLINK(\"x\")", "major").await;
    app.post_ok(
        &format!("/v1/hazards/{b}/cancel"),
        c.token("supervisor"),
        &json!({"reason": "duplicate"}),
        200,
    )
    .await;
    let res = app.get("/v1/hazards/export?format=csv", &c.admin).await;
    assert_eq!(res.status(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("id,site_id,state,title"));
    assert!(text.contains("\"Comma, \"\"quoted\"\" title\""), "{text}");
    assert!(
        text.contains("'=HYPERLINK"),
        "formula cells are defused: {text}"
    );
    assert!(text.contains(&a) && text.contains(&b));
    let res = app.get("/v1/hazards/export?format=ods", &c.admin).await;
    assert_eq!(res.status(), 400);
    // The outsider's ledger is empty but well-formed.
    let text = app
        .get("/v1/hazards/export", c.token("outsider"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 1);

    let stats = app.get_json("/v1/stats/hazards", &c.admin).await;
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["by_state"]["cancelled"], 1);
    assert_eq!(stats["by_grade"]["major"], 1);
    assert_eq!(stats["open"], 1);
    assert_eq!(stats["closure_rate"], 0.0);
    assert_eq!(stats["per_site"][0]["site_id"], c.workshop.as_str());
    let none = app.get_json("/v1/stats/hazards", c.token("outsider")).await;
    assert_eq!(none["total"], 0);
}

/// Runs the command line against the test app's database and data folder: (success, stdout).
async fn cli(app: &TestApp, args: &[&str]) -> (bool, String) {
    let (url, data_dir) = (app.config.database_url(), app.config.data_dir.clone());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hazardloop"))
            .args(&args)
            .env("DATABASE_URL", &url)
            .env("HAZARDLOOP_DATA_DIR", &data_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// Runs SQL behind the server's back.
async fn tamper(app: &TestApp, sql: String) {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        db.read_blocking(|c| {
            diesel::sql_query(sql)
                .execute(c)
                .map_err(hazardloop_storage::StorageError::from)
        })
    })
    .await
    .unwrap()
    .unwrap();
}

/// A few accepted writes: `n` reports. Returns the organisation id.
async fn some_events(app: &TestApp, c: &crate::helpers::Crew, n: usize) -> String {
    for i in 0..n {
        report(app, c, &format!("Hazard {i}"), "general").await;
    }
    let me = app.get_json("/v1/me", &c.admin).await;
    me["org_id"].as_str().unwrap().to_string()
}

async fn recorded_head(app: &TestApp, org: &str) -> (i64, String) {
    let db = app.db.clone();
    let org = org.to_string();
    let head = tokio::task::spawn_blocking(move || {
        db.read_blocking(|c| hazardloop_storage::audit::recorded_head(c, &org))
    })
    .await
    .unwrap()
    .unwrap();
    (head.seq, head.hash)
}

/// The newest events deleted behind the server's back (the chain still links up) are named
/// from the head the server recorded.
async fn deleting_the_newest_events_is_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let org = some_events(&app, &c, 5).await;
    let (n, head) = recorded_head(&app, &org).await;
    assert_eq!(n, 5);
    let (ok, out) = cli(&app, &["audit", "verify"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("5 audit records, chain intact"), "{out}");

    tamper(
        &app,
        format!("DELETE FROM audit_events WHERE org_id = '{org}' AND seq = 5"),
    )
    .await;
    let (ok, out) = cli(&app, &["audit", "verify"]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "event 5 missing: the chain ends at 4 but the recorded head is 5 (hash {head})"
        )),
        "{out}"
    );

    tamper(
        &app,
        format!("DELETE FROM audit_events WHERE org_id = '{org}' AND seq > 2"),
    )
    .await;
    let (ok, out) = cli(&app, &["audit", "verify"]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("events 3..5 missing: the chain ends at 2 but the recorded head is 5"),
        "{out}"
    );
    assert!(!out.contains("chain intact"), "{out}");

    // Every event gone: all of them are named.
    tamper(
        &app,
        format!("DELETE FROM audit_events WHERE org_id = '{org}'"),
    )
    .await;
    let (ok, out) = cli(&app, &["audit", "verify"]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("events 1..5 missing: the chain ends at 0"),
        "{out}"
    );
}

/// Rewrites the chain from `from` on with a changed payload, re-hashing every later event and
/// the recorded head, as someone with write access to the database could: the chain then
/// verifies on its own.
async fn rewrite_chain(app: &TestApp, org: &str, from: i64) {
    use diesel::prelude::*;
    use hazardloop_storage::schema::{audit_events as ae, org_clocks as oc};
    let db = app.db.clone();
    let org = org.to_string();
    tokio::task::spawn_blocking(move || {
        db.write_blocking(|c| {
            let rows: Vec<hazardloop_storage::audit::AuditRow> = ae::table
                .filter(ae::org_id.eq(&org))
                .order(ae::seq.asc())
                .select(hazardloop_storage::audit::AuditRow::as_select())
                .load(c)?;
            let mut prev = hazardloop_sync::GENESIS_HASH.to_string();
            for row in rows {
                let mut record = row.record()?;
                record.prev_hash = prev.clone();
                if row.seq == from {
                    record.payload = json!({"title": "nothing to see"});
                }
                let hash = hazardloop_sync::audit::hash(&record);
                diesel::update(
                    ae::table
                        .filter(ae::org_id.eq(&org))
                        .filter(ae::seq.eq(row.seq)),
                )
                .set((
                    ae::payload.eq(record.payload.to_string()),
                    ae::prev_hash.eq(&prev),
                    ae::hash.eq(&hash),
                ))
                .execute(c)?;
                prev = hash;
            }
            diesel::update(oc::table.find(&org))
                .set(oc::audit_head.eq(&prev))
                .execute(c)?;
            Ok(())
        })
    })
    .await
    .unwrap()
    .unwrap();
}

/// A checkpoint kept outside the database catches what the database alone cannot: a chain
/// truncated together with its recorded head, or rewritten and re-hashed. A checkpoint whose
/// fields or signature were forged is refused.
async fn a_checkpoint_proves_the_chain_still_holds_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let org = some_events(&app, &c, 4).await;
    let (ok, out) = cli(&app, &["audit", "checkpoint", "--org", "Acme"]).await;
    assert!(ok, "{out}");
    let line = out.lines().next().unwrap().to_string();
    let cp: Value = serde_json::from_str(&line).unwrap();
    let (seq, head) = recorded_head(&app, &org).await;
    assert_eq!(
        (
            cp["org_id"].as_str(),
            cp["seq"].as_i64(),
            cp["head"].as_str()
        ),
        (Some(org.as_str()), Some(seq), Some(head.as_str()))
    );
    assert_eq!(cp["org_name"], "Acme");
    assert!(cp["issued_at"].is_string() && cp["signature"].is_string());
    let file = app.config.data_dir.join("checkpoint.jsonl");
    let verify = |text: String| {
        let file = file.clone();
        let app = &app;
        async move {
            std::fs::write(&file, text).unwrap();
            cli(
                app,
                &["audit", "verify", "--checkpoint", file.to_str().unwrap()],
            )
            .await
        }
    };

    // Intact, and still intact after more writes (the checkpoint is a point in the past).
    let (ok, out) = verify(line.clone()).await;
    assert!(ok, "{out}");
    assert!(out.contains(&format!("at event {seq}: holds")), "{out}");
    some_events(&app, &c, 2).await;
    let (ok, out) = verify(line.clone()).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "at event {seq}: holds (the chain is intact up to event {})",
            seq + 2
        )),
        "{out}"
    );

    // Forged: a field changed under the old signature, or a made-up signature.
    let mut forged = cp.clone();
    forged["seq"] = json!(seq + 2);
    let (ok, out) = verify(forged.to_string()).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAILED: the signature does not match"),
        "{out}"
    );
    let mut forged = cp.clone();
    forged["signature"] = json!("00".repeat(32));
    let (ok, out) = verify(forged.to_string()).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAILED: the signature does not match"),
        "{out}"
    );

    // Rewritten from event 2 on and re-hashed, head included: the chain alone looks intact.
    rewrite_chain(&app, &org, 2).await;
    let (ok, out) = cli(&app, &["audit", "verify"]).await;
    assert!(ok, "the rewrite is consistent on its own: {out}");
    let (ok, out) = verify(line.clone()).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("FAILED: event {seq} has hash"))
            && out.contains(&format!(
                "but the checkpoint says {head}: the chain was rewritten"
            )),
        "{out}"
    );

    // Truncated below the checkpoint together with the recorded head.
    tamper(
        &app,
        format!("DELETE FROM audit_events WHERE org_id = '{org}' AND seq > 2"),
    )
    .await;
    tamper(
        &app,
        format!(
            "UPDATE org_clocks SET audit_seq = 2, audit_head = \
             (SELECT hash FROM audit_events WHERE org_id = '{org}' AND seq = 2) \
             WHERE org_id = '{org}'"
        ),
    )
    .await;
    let (ok, out) = cli(&app, &["audit", "verify"]).await;
    assert!(ok, "the truncation is consistent on its own: {out}");
    let (ok, out) = verify(line.clone()).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "FAILED: event {seq} of the checkpoint is missing: the chain now ends at 2"
        )),
        "{out}"
    );
}
