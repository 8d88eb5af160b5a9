//! Helpers for running the real `tessera` binary: an in-process gateway over the gateway's
//! `LocalBackend` (or a backend that always fails) on an ephemeral loopback port, a canned
//! HTTP server, and a closed port.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use tessera_gateway::{router, serve, Answer, Backend, BackendError, Config};
use tessera_testkit::LocalBackend;

/// A gateway served on its own thread for the rest of the test process.
pub struct TestGateway {
    pub url: String,
    pub addr: SocketAddr,
    pub backend: Arc<LocalBackend>,
}

/// Serves `backend` on 127.0.0.1:0 from a thread with its own runtime; returns the address.
fn spawn_gateway<B: Backend>(backend: B) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            serve(listener, router(backend, Config::default()))
                .await
                .unwrap();
        });
    });
    rx.recv().unwrap()
}

fn endpoint(addr: SocketAddr) -> String {
    format!("http://{addr}/ws/reservation")
}

/// A gateway over a fresh in-memory backend.
pub fn gateway() -> TestGateway {
    let backend = Arc::new(LocalBackend::new());
    let addr = spawn_gateway(backend.clone());
    TestGateway {
        url: endpoint(addr),
        addr,
        backend,
    }
}

/// A backend whose cluster never answers: every valid call gets a Server / Receiver fault.
struct DownBackend;

impl Backend for DownBackend {
    async fn submit(&self, _call: tessera_types::Call) -> Result<Answer, BackendError> {
        Err(BackendError::Unavailable(
            "test: the cluster is down".into(),
        ))
    }

    async fn status(&self) -> serde_json::Value {
        serde_json::json!({ "backend": "down" })
    }
}

/// A gateway whose cluster is down.
pub fn gateway_without_cluster() -> String {
    endpoint(spawn_gateway(DownBackend))
}

/// Reads one HTTP message (head and the body its Content-Length declares) from `stream`.
pub fn read_message(stream: &mut impl Read) -> Vec<u8> {
    let mut message = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        message.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&message).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if message.len() >= end + 4 + length {
                break;
            }
        }
    }
    message
}

/// A proxy to `upstream` that forwards every request, but for the first `lose` ones hangs up
/// on the client instead of passing the answer back (the call took effect; its answer was
/// lost). Returns its URL and the requests it saw.
pub fn lossy_proxy(
    upstream: SocketAddr,
    lose: usize,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut client) = stream else { continue };
            let request = read_message(&mut client);
            let n = {
                let mut seen = log.lock().unwrap();
                seen.push(String::from_utf8_lossy(&request).into_owned());
                seen.len()
            };
            let Ok(mut server) = std::net::TcpStream::connect(upstream) else {
                continue;
            };
            let _ = server.write_all(&request);
            let response = read_message(&mut server);
            if n > lose {
                let _ = client.write_all(&response);
            }
        }
    });
    (endpoint(addr), seen)
}

/// A server that answers every request with `status` and `body`, whatever was asked.
pub fn canned(status: &'static str, content_type: &'static str, body: String) -> String {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = read_message(&mut stream);
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    endpoint(addr)
}

/// A URL on which nothing listens.
pub fn closed_port_url() -> String {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    endpoint(addr)
}

/// `tessera` with a clean environment: no TESSERA_URL, no history file.
pub fn tessera() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.env_remove("TESSERA_URL")
        .env("TESSERA_HISTORY", "")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// What one run printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `tessera --url URL ARGS...`.
pub fn run(url: &str, args: &[&str]) -> Run {
    tessera()
        .arg("--url")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
        .into()
}

/// Runs `tessera ARGS...` with `stdin` as input.
pub fn run_with_input(args: &[&str], stdin: &str) -> Run {
    let mut child = tessera()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().into()
}

/// A golden envelope of the gateway's tests.
pub fn golden(path: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/tests/golden");
    std::fs::read_to_string(dir.join(path)).unwrap()
}
