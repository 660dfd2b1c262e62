//! Processes killed mid-write and concurrent writers: nothing lost, nothing applied twice, no
//! pull ever skips a change.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hazardloop_storage::engine::{self, Caller, EngineSettings};
use hazardloop_storage::{change::Change, migrate, Db, DbSettings};
use serde_json::{json, Value};

use crate::helpers::{crew, database_url_for, spawn_app, ADMIN_EMAIL, PASSWORD};
use crate::sync::{device, hlc, pull_all};
use crate::{both_backends, Backend};

both_backends!(
    sigkill_during_pushes_loses_nothing_and_doubles_nothing,
    a_pull_never_skips_a_transaction_that_commits_late,
    concurrent_writers_and_a_puller_see_every_change,
    sigkill_mid_upload_stores_nothing_and_the_retry_stores_once,
);

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(port: u16, dir: &std::path::Path, url: &str) -> Server {
    start_with(port, dir, url, &[])
}

fn start_with(port: u16, dir: &std::path::Path, url: &str, env: &[(&str, &str)]) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_hazardloop"))
        .arg("serve")
        .envs(env.iter().copied())
        .env("HAZARDLOOP_BIND", format!("127.0.0.1:{port}"))
        .env("HAZARDLOOP_DATA_DIR", dir)
        .env("DATABASE_URL", url)
        .env("HAZARDLOOP_LOG", "error")
        .env("HAZARDLOOP_WORKERS", "2")
        .env("HAZARDLOOP_OVERDUE_SCAN_INTERVAL_SECS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server binary");
    Server { child }
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became ready");
}

/// A migrated database in `dir` with the organisation Acme and its admin, a free port, and a
/// client: what a test needs before it starts the real binary.
struct Prepared {
    db: Db,
    url: String,
    port: u16,
    base: String,
    client: reqwest::Client,
}

async fn prepare(backend: Backend, dir: &std::path::Path) -> Prepared {
    let url = database_url_for(backend, dir);
    let u = url.clone();
    let db = tokio::task::spawn_blocking(move || {
        let db = Db::connect(&u, &DbSettings::default()).unwrap();
        migrate::run_pending(&db).unwrap();
        hazardloop_api::bootstrap::add_user(
            &db,
            Some("Acme"),
            ADMIN_EMAIL,
            "Ada",
            PASSWORD,
            hazardloop_sync::Role::Admin,
            None,
        )
        .unwrap();
        db
    })
    .await
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Prepared {
        db,
        url,
        port,
        base: format!("http://127.0.0.1:{port}"),
        client: crate::helpers::http_client()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    }
}

async fn sigkill_during_pushes_loses_nothing_and_doubles_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Prepared {
        db,
        url,
        port,
        base,
        client,
    } = prepare(backend, dir.path()).await;
    let d = db.clone();
    let site = tokio::task::spawn_blocking(move || {
        let site = hazardloop_api::bootstrap::add_site(
            &d,
            Some("Acme"),
            "Plant",
            "plant",
            None,
            (None, None, None),
        )
        .unwrap();
        for i in 0..3 {
            hazardloop_api::bootstrap::add_user(
                &d,
                Some("Acme"),
                &format!("i{i}@example.com"),
                "I",
                PASSWORD,
                hazardloop_sync::Role::Inspector,
                Some(&site.id),
            )
            .unwrap();
        }
        site.id
    })
    .await
    .unwrap();
    let mut server = start(port, dir.path(), &url);
    wait_ready(&client, &base).await;

    const PER_DEVICE: i64 = 150;
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    const BATCH: i64 = 5;
    let mut workers = Vec::new();
    for i in 0..3 {
        let login: Value = client
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({"email": format!("i{i}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_string();
        let dev: Value = client
            .post(format!("{base}/v1/devices"))
            .bearer_auth(&token)
            .json(&json!({"name": "p", "platform": "android", "app_version": "1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let dev = dev["id"].as_str().unwrap().to_string();
        let queue: Vec<Value> = (1..=PER_DEVICE)
            .map(|seq| json!({"seq": seq, "id": uuid::Uuid::now_v7(), "name": "hazard.report", "hlc": hlc(1_700_000_000_000 + seq, &dev),
                              "args": {"site_id": site, "title": format!("d{i}-{seq}"), "category": "unsafe_act", "grade": "general"}}))
            .collect();
        let (client, base, acked, failures) = (
            client.clone(),
            base.clone(),
            acked.clone(),
            failures.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut next = 0usize;
            let mut attempts = 0;
            while next < queue.len() {
                attempts += 1;
                assert!(attempts < 2000, "device {i} never finished");
                let batch: Vec<Value> =
                    queue[next..(next + BATCH as usize).min(queue.len())].to_vec();
                let res = client
                    .post(format!("{base}/v1/sync/push"))
                    .bearer_auth(&token)
                    .json(&json!({"device_id": dev, "mutations": batch}))
                    .send()
                    .await;
                let Ok(res) = res else {
                    failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    continue;
                };
                if res.status() != 200 {
                    failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    continue;
                }
                let Ok(body) = res.json::<Value>().await else {
                    failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    continue;
                };
                for r in body["results"].as_array().unwrap() {
                    let s = r["status"].as_str().unwrap();
                    assert!(s == "applied" || s == "duplicate", "device {i}: {r}");
                }
                next += batch.len();
                acked.fetch_add(batch.len() as i64, std::sync::atomic::Ordering::SeqCst);
            }
            dev
        }));
    }
    // Kill the server twice while the devices push, restart it on the same port each time.
    for threshold in [PER_DEVICE, 2 * PER_DEVICE] {
        for _ in 0..2000 {
            if acked.load(std::sync::atomic::Ordering::SeqCst) >= threshold {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        server = start(port, dir.path(), &url);
        wait_ready(&client, &base).await;
    }
    let mut devices = Vec::new();
    for w in workers {
        devices.push(w.await.unwrap());
    }
    drop(server);
    assert!(
        failures.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the kills interrupted pushes"
    );
    let counts = tokio::task::spawn_blocking(move || {
        use diesel::prelude::*;
        use hazardloop_storage::schema::{device_mutations, devices as dv, hazards};
        db.read_blocking(|c| {
            let total: i64 = hazards::table.count().get_result(c)?;
            let titles: Vec<String> = hazards::table.select(hazards::title).load(c)?;
            let distinct = titles
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .len() as i64;
            let recorded: i64 = device_mutations::table.count().get_result(c)?;
            let seqs: Vec<i64> = dv::table
                .filter(dv::id.eq_any(devices))
                .select(dv::last_seq)
                .load(c)?;
            Ok::<_, hazardloop_storage::StorageError>((total, distinct, recorded, seqs))
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(counts.0, 3 * PER_DEVICE, "every mutation applied");
    assert_eq!(counts.1, 3 * PER_DEVICE, "none applied twice");
    assert_eq!(counts.2, 3 * PER_DEVICE);
    assert_eq!(counts.3, vec![PER_DEVICE; 3]);
}

async fn a_pull_never_skips_a_transaction_that_commits_late(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let (_, cursor) = pull_all(&app, &c.admin, None).await;
    let me = app.get_json("/v1/me", &c.admin).await;
    let caller = Caller {
        user_id: me["id"].as_str().unwrap().into(),
        org_id: me["org_id"].as_str().unwrap().into(),
        is_admin: true,
        device_id: None,
    };
    let report = |title: &str| hazardloop_sync::Mutation {
        id: uuid::Uuid::now_v7(),
        name: "hazard.report".into(),
        args: json!({"site_id": c.plant, "title": title, "category": "unsafe_act", "grade": "general"}),
        base_version: None,
        hlc: None,
        device_time: None,
        seq: None,
        group: None,
    };
    let (a_started, a_started_rx) = std::sync::mpsc::channel();
    let (release_a, release_a_rx) = std::sync::mpsc::channel::<()>();
    let (db, ca, ma) = (app.db.clone(), caller.clone(), report("A"));
    let a = std::thread::spawn(move || {
        db.write_blocking(|conn| {
            let policy = engine::policy(conn, &ca.org_id)?;
            let mut change = Change::begin(conn, &ca.org_id, hazardloop_storage::now_ms())?;
            let out = engine::apply(
                conn,
                &mut change,
                &policy,
                &ca,
                &ma,
                EngineSettings::default(),
            )?;
            assert!(out.is_ok());
            // A takes its sequence number (and the organisation's lock) and holds the
            // transaction open, uncommitted.
            let seq = change.finish(conn)?;
            a_started.send(seq).unwrap();
            release_a_rx.recv().unwrap();
            Ok(seq)
        })
        .unwrap()
    });
    let seq_a = a_started_rx.recv().unwrap();
    // Transaction B starts later; it does its work but cannot take a sequence number until A
    // commits.
    let (b_done, b_done_rx) = std::sync::mpsc::channel();
    let (db, cb, mb) = (app.db.clone(), caller.clone(), report("B"));
    let b = std::thread::spawn(move || {
        let seq = db
            .write_blocking(|conn| {
                let policy = engine::policy(conn, &cb.org_id)?;
                let mut change = Change::begin(conn, &cb.org_id, hazardloop_storage::now_ms())?;
                engine::apply(
                    conn,
                    &mut change,
                    &policy,
                    &cb,
                    &mb,
                    EngineSettings::default(),
                )?
                .unwrap();
                change.finish(conn)
            })
            .unwrap();
        b_done.send(seq).unwrap();
    });
    assert!(
        b_done_rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "B must wait for A's lock"
    );
    // A pull between them sees neither, and its cursor does not move past A.
    let (mid, mid_cursor) = pull_all(&app, &c.admin, Some(cursor.clone())).await;
    assert!(mid.iter().all(|i| i["type"] != "hazard"), "{mid:?}");
    release_a.send(()).unwrap();
    a.join().unwrap();
    let seq_b = b_done_rx.recv_timeout(Duration::from_secs(20)).unwrap();
    b.join().unwrap();
    assert!(seq_b > seq_a, "sequence order is commit order");
    let (after, _) = pull_all(&app, &c.admin, Some(mid_cursor)).await;
    let titles: Vec<&str> = after
        .iter()
        .filter(|i| i["type"] == "hazard")
        .map(|i| i["data"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["A", "B"]);
}

async fn concurrent_writers_and_a_puller_see_every_change(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = crew(&app).await;
    let (_, start_cursor) = pull_all(&app, &c.admin, None).await;
    let app = std::sync::Arc::new(app);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let puller = {
        let (app, done, token) = (app.clone(), done.clone(), c.admin.clone());
        tokio::spawn(async move {
            let mut cursor = start_cursor;
            let mut seen = std::collections::BTreeSet::new();
            let mut last_position = 0i64;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let page = app
                    .get_json(&format!("/v1/sync/pull?limit=50&cursor={cursor}"), &token)
                    .await;
                let position: i64 = page["position"].as_str().unwrap().parse().unwrap();
                assert!(position >= last_position, "positions never go back");
                last_position = position;
                for i in page["items"].as_array().unwrap() {
                    if i["type"] == "hazard" {
                        seen.insert(i["id"].as_str().unwrap().to_string());
                    }
                }
                cursor = page["next_cursor"].as_str().unwrap().to_string();
                if finished && page["has_more"] == false {
                    return seen;
                }
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..4 {
        let (app, token, site) = (
            app.clone(),
            c.token(if w % 2 == 0 {
                "inspector"
            } else {
                "supervisor"
            })
            .to_string(),
            c.workshop.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..15 {
                let body = app.post_ok("/v1/hazards", &token, &json!({"site_id": site, "title": format!("w{w}-{i}"), "category": "unsafe_act", "grade": "general"}), 201).await;
                ids.push(body["id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut created = std::collections::BTreeSet::new();
    for w in writers {
        created.extend(w.await.unwrap());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = puller.await.unwrap();
    assert_eq!(created.len(), 60);
    let missed: Vec<_> = created.difference(&seen).collect();
    assert!(missed.is_empty(), "the puller missed {missed:?}");
    let _ = device;
}

/// Files directly in `dir` (none when it does not exist).
fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default()
}

/// Files anywhere under `dir`.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

async fn sigkill_mid_upload_stores_nothing_and_the_retry_stores_once(backend: Backend) {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let Prepared {
        url,
        port,
        base,
        client,
        ..
    } = prepare(backend, dir.path()).await;
    // A spool file untouched for 2 s can belong to no live upload.
    let env = [("HAZARDLOOP_UPLOAD_IDLE_TIMEOUT_SECS", "1")];
    let mut server = start_with(port, dir.path(), &url, &env);
    wait_ready(&client, &base).await;
    let login: Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let photo = crate::photos::fixture("large-12mp.jpg");
    let sha = hex::encode(Sha256::digest(&photo));
    let photo_url = format!("{base}/v1/photos/{sha}");

    // Half the photo arrives, then the connection stalls and the server is killed.
    let half = photo[..photo.len() / 2].to_vec();
    let body = futures_util::StreamExt::chain(
        futures_util::stream::iter(vec![Ok::<_, std::io::Error>(half)]),
        futures_util::stream::pending(),
    );
    let stalled = client
        .put(&photo_url)
        .bearer_auth(&token)
        .header("content-length", photo.len())
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let stalled = tokio::spawn(stalled);
    let spool = dir.path().join("blobs").join("spool");
    // The spool writes through a 64 KiB buffer: all but its last part is on disk.
    let arrived = (photo.len() / 2 - 64 * 1024) as u64;
    let mut spooled = 0;
    for _ in 0..3000 {
        spooled = files_in(&spool)
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .max()
            .unwrap_or(0);
        if spooled >= arrived {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        (arrived..=(photo.len() / 2) as u64).contains(&spooled),
        "half the photo reached the spool: {spooled} bytes"
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(stalled.await.unwrap().is_err(), "the upload was cut off");
    assert_eq!(
        files_in(&spool).len(),
        1,
        "the killed process left its spool file"
    );

    // Restarted: the leftover is swept, nothing was stored, and the retry stores the photo once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server = start_with(port, dir.path(), &url, &env);
    wait_ready(&client, &base).await;
    assert!(
        files_in(&spool).is_empty(),
        "the stale spool file was swept"
    );
    let head = client
        .head(&photo_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.status(),
        404,
        "nothing of the cut-off upload was stored"
    );
    for expected in [201, 200] {
        let res = client
            .put(&photo_url)
            .bearer_auth(&token)
            .body(photo.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    let got = client
        .get(&photo_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), photo.as_slice());
    let originals: Vec<_> = files_under(&dir.path().join("blobs"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&sha))
        .collect();
    assert_eq!(originals.len(), 1, "one blob: {originals:?}");
    drop(server);
}
