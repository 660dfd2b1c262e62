//! A real S3 server for the photo suite: `s3s-fs` (it checks request signatures), one process
//! per test on a free port with its own temporary root; a bucket is a folder under the root.
//! Install it with `cargo install s3s-fs --version 0.14.1 --features binary --locked`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hazardloop_api::Config;

const ACCESS_KEY: &str = "hazardloop-test";
const SECRET_KEY: &str = "hazardloop-test-secret";
const BUCKET: &str = "photos";

/// A running s3s-fs, killed when dropped.
pub struct S3Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl S3Server {
    /// Starts s3s-fs with an empty bucket and waits until it accepts connections.
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join(BUCKET)).expect("bucket folder");
        let bin = std::env::var("HAZARDLOOP_TEST_S3S_FS").unwrap_or_else(|_| "s3s-fs".into());
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(root.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {bin} ({e}); install it with: cargo install s3s-fs \
                         --version 0.14.1 --features binary --locked"
                    )
                });
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return S3Server { child, port, root };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start");
    }

    /// Points a server configuration at this S3 server.
    pub fn configure(&self, config: &mut Config) {
        config.s3_bucket = Some(BUCKET.into());
        config.s3_endpoint = Some(format!("http://127.0.0.1:{}", self.port));
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
