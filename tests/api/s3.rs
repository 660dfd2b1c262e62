//! A real S3 server for the photo suite, inside the test process: the `s3s-fs` file-system
//! backend behind the `s3s` service (it checks request signatures), served by hyper on a free
//! loopback port with its own temporary root; a bucket is a folder under the root. Nothing has
//! to be installed first.

use std::net::SocketAddr;
use std::path::PathBuf;

use hazardloop_api::Config;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

const ACCESS_KEY: &str = "hazardloop-test";
const SECRET_KEY: &str = "hazardloop-test-secret";
const BUCKET: &str = "photos";

/// A running S3 server, stopped when dropped.
///
/// It runs on a thread of its own with its own runtime, so it outlives neither the test nor
/// depends on how the test's runtime is built, and dropping it stops every connection.
pub struct S3Server {
    addr: SocketAddr,
    root: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Starts the server with an empty bucket; it accepts connections when this returns (the
    /// listening socket is bound before the thread starts, so there is no port race).
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join(BUCKET)).expect("bucket folder");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs root");
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("s3s".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("S3 server runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let http = ConnBuilder::new(TokioExecutor::new());
                    let mut stopped = std::pin::pin!(stopped);
                    loop {
                        let socket = tokio::select! {
                            accepted = listener.accept() => match accepted {
                                Ok((socket, _)) => socket,
                                Err(_) => continue,
                            },
                            _ = stopped.as_mut() => break,
                        };
                        let conn = http
                            .serve_connection(TokioIo::new(socket), service.clone())
                            .into_owned();
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                });
                // Dropping the runtime cancels the connections still open.
                runtime.shutdown_background();
            })
            .expect("S3 server thread");
        S3Server {
            addr,
            root,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Points a server configuration at this S3 server.
    pub fn configure(&self, config: &mut Config) {
        config.s3_bucket = Some(BUCKET.into());
        config.s3_endpoint = Some(format!("http://{}", self.addr));
        config.s3_access_key_id = Some(ACCESS_KEY.into());
        config.s3_secret_access_key = Some(SECRET_KEY.into());
        config.s3_allow_http = true;
        config.s3_path_style = Some(true);
    }

    /// The folder holding the bucket's objects.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(BUCKET)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
