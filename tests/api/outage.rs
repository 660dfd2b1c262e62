//! A PostgreSQL that becomes unreachable: the server answers 503 promptly (readiness within a
//! second, requests within the pool's short acquire timeout) instead of keeping clients
//! waiting, and serves again once the database is back. PostgreSQL only: a SQLite file does
//! not go away over the network.

use std::io::Read;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::spawn_app_with;
use crate::Backend;

/// A TCP proxy to PostgreSQL that the test can cut (existing connections are shut down, new
/// ones closed at once, as a database that went away) and restore.
struct PgProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

impl PgProxy {
    fn start(target: String) -> PgProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    // Read nothing, answer nothing: the connection closes at once.
                    let _ = client.read(&mut [0u8; 0]);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let clones = (client.try_clone(), server.try_clone());
                let (Ok(c2), Ok(s2)) = clones else { continue };
                let mut open = open2.lock().unwrap();
                open.push(c2.try_clone().unwrap());
                open.push(s2.try_clone().unwrap());
                pipe(client, s2);
                pipe(server, c2);
            }
        });
        PgProxy { addr, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `postgres://user@host:port/db` through the proxy; returns the real address too.
fn through(url: &str, proxy: SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (authority, path) = rest.split_once('/').expect("database name");
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h.to_string()),
        None => (String::new(), authority.to_string()),
    };
    let target = if host.contains(':') {
        host
    } else {
        format!("{host}:5432")
    };
    (target, format!("{scheme}://{userinfo}{proxy}/{path}"))
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_database_gets_a_prompt_503() {
        super::an_unreachable_database_gets_a_prompt_503(crate::Backend::Postgres).await
    }
}

async fn an_unreachable_database_gets_a_prompt_503(backend: Backend) {
    let mut proxy = None;
    let app = spawn_app_with(backend, |cfg| {
        let url = cfg.database_url();
        let (target, _) = through(&url, "127.0.0.1:1".parse().unwrap());
        let p = PgProxy::start(target);
        cfg.database_url = Some(through(&url, p.addr).1);
        proxy = Some(p);
    })
    .await;
    let proxy = proxy.expect("proxy");
    let token = app.admin_token().await;
    // Generous, and still shorter than the 10 s a request used to wait for a connection.
    let client = crate::helpers::http_client()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let get = |path: &str| client.get(app.url(path)).bearer_auth(&token).send();
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    assert_eq!(get("/v1/hazards").await.unwrap().status(), 200);

    proxy.cut();
    for path in ["/readyz", "/v1/hazards", "/readyz"] {
        let res = get(path)
            .await
            .unwrap_or_else(|e| panic!("{path} did not answer while the database is away: {e}"));
        assert_eq!(res.status(), 503, "{path}");
        assert!(res.headers().contains_key("retry-after"), "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "unavailable", "{path}");
    }

    proxy.restore();
    let mut ready = false;
    for _ in 0..40 {
        if get("/readyz").await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ready, "the server did not become ready again");
    assert_eq!(get("/v1/hazards").await.unwrap().status(), 200);
}
