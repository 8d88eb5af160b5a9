//! Issue 14 acceptance test of the dashboard, in Debian's headless Chromium driven through
//! `chromedriver` (the `chromium-driver` package; nothing is downloaded at test time): the
//! page shows the four replicas; after replica 2 turns Byzantine and clients call, it shows
//! replica 2's replacement and the timeline entry within seconds; a fault button on the page
//! works; the layout fits a narrow and a wide window. Screenshots of both go to
//! `target/dashboard/` (the README links a copy).
//!
//! Without `chromium` or `chromedriver` the test fails and says what to install (`.ci/run`
//! installs both).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;
#[path = "cluster/http.rs"]
mod http;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use harness::{Options, TestCluster};
use serde_json::{json, Value};
use tessera_protocol::wire::ChaosAction;

fn installed(name: &str) -> PathBuf {
    tessera_testkit::installed(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: the dashboard test needs Debian's `chromium` and \
             `chromium-driver` packages (`apt-get install chromium chromium-driver`; .ci/run \
             installs them)"
        )
    })
}

/// `target/`, from where cargo put the `tesserad` binary (`target/<profile>/tesserad`).
fn target_dir() -> PathBuf {
    let bin = harness::tesserad();
    bin.parent()
        .and_then(|p| p.parent())
        .expect("tesserad lives in target/<profile>/")
        .to_path_buf()
}

/// A chromedriver with one headless Chromium session; both end when it is dropped.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(width: u32, height: u32) -> Browser {
        let chromium = installed("chromium");
        let chromedriver = installed("chromedriver");
        let port = tessera_testkit::cluster::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // Its own process group, so that dropping the browser ends Chromium as well even
        // when no session was made to quit.
        let driver = Command::new(chromedriver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                    "--disable-crash-reporter", "--disable-breakpad",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        }}});
        let created = browser.send("POST", "/session", Some(caps));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; its `value`.
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) =
            http::http(self.addr, method, path, "application/json", body.as_bytes());
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert_eq!(status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn command(&self, method: &str, what: &str, body: Option<Value>) -> Value {
        self.send(method, &format!("/session/{}/{what}", self.session), body)
    }

    fn open(&self, url: &str) {
        self.command("POST", "url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    fn eval(&self, script: &str) -> Value {
        self.command(
            "POST",
            "execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Waits until `script` returns `true` in the page; fails after `within`, showing what
    /// `explain` returns then.
    async fn wait_for(&self, within: Duration, script: &str, explain: &str) {
        let deadline = Instant::now() + within;
        loop {
            if self.eval(script) == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page did not get to `{script}` within {within:?}; it shows: {}",
                self.eval(explain)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn click(&self, css: &str) {
        let found = self.command(
            "POST",
            "element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned();
        self.command("POST", &format!("element/{id}/click"), Some(json!({})));
    }

    fn resize(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.command("GET", "screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a base64 screenshot"))
            .expect("valid base64");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = target_dir().join("dashboard");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session quits Chromium; then the driver goes.
        if !self.session.is_empty() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                http::http(
                    self.addr,
                    "DELETE",
                    &format!("/session/{}", self.session),
                    "application/json",
                    b"",
                )
            }));
        }
        // The whole group: chromedriver and any Chromium process still running.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// What the page shows of every replica, for failure messages.
const SHOWN: &str = "return Array.from(document.querySelectorAll('#replicas article.card')).map(c => \
    c.dataset.replica + ':' + c.dataset.state + ':r' + \
    c.querySelector('[data-field=replacements]').textContent).join(' ') + ' | ' + \
    Array.from(document.querySelectorAll('#timeline li')).slice(0, 6).map(l => l.textContent).join(' / ')";

fn replaced_on_page(replica: u8, n: u32) -> String {
    format!(
        "const c = document.querySelector('#replicas article[data-replica=\"{replica}\"]'); \
         return !!c && c.querySelector('[data-field=replacements]').textContent === '{n}' && \
         !!document.querySelector('#timeline li[data-kind=\"replaced\"][data-replica=\"{replica}\"]')"
    )
}

fn soap_call(gateway: SocketAddr, participant: &str) {
    let envelope = format!(
        r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:r="urn:tessera:reservation:v1"><e:Body><r:getEventSchedule><r:participantID>{participant}</r:participantID></r:getEventSchedule></e:Body></e:Envelope>"#
    );
    let (status, body) = http::http(
        gateway,
        "POST",
        "/ws/reservation",
        "text/xml; charset=utf-8",
        envelope.as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_byzantine_replica_replaced_and_drives_fault_injection() {
    // Fail before starting anything when the browser is missing.
    installed("chromium");
    installed("chromedriver");
    // The calls below are reads: ordered, so that the lying replica's answers are voted on
    // (a wrong fast read only falls back to ordering, docs/protocol.md, "Fast reads").
    let cluster = TestCluster::start_with(
        Options {
            supervised: true,
            chaos: true,
            recovery: harness::quick_recovery(25),
            ..Options::default()
        },
        |cfg| cfg.front_end.fast_reads = false,
    );
    cluster.wait_gateway(Duration::from_secs(20)).await;
    let gateway = cluster.cfg.gateway.listen;
    let browser = Browser::start(1400, 1000);
    browser.open(&format!("http://{gateway}/dashboard"));

    // Four replicas, live, with fault buttons (the gateway runs with --chaos).
    browser
        .wait_for(
            Duration::from_secs(15),
            "return document.querySelectorAll('#replicas article.card[data-state=\"up\"]').length === 4 \
             && document.getElementById('live').dataset.live === 'live'",
            SHOWN,
        )
        .await;
    assert_eq!(
        browser.eval(
            "return Array.from(document.querySelectorAll('#replicas .chaos')).filter(c => !c.hidden).length"
        ),
        json!(4),
        "fault buttons on every card"
    );
    // Free space on every card and for the sequencer, as the nodes read it ("41% · 3.2 GiB").
    browser
        .wait_for(
            Duration::from_secs(5),
            "const free = /^\\d+% · \\d+(\\.\\d)? (B|KiB|MiB|GiB|TiB)$/; \
             return Array.from(document.querySelectorAll('#replicas [data-field=disk]')) \
             .filter(d => free.test(d.textContent)).length === 4 && \
             free.test(document.getElementById('sequencer-disk').textContent)",
            "return Array.from(document.querySelectorAll('#replicas [data-field=disk], #sequencer-disk')) \
             .map(d => d.textContent)",
        )
        .await;

    // Replica 2 turns Byzantine and clients call: it is outvoted and replaced, and the page
    // says so within seconds.
    cluster.chaos(2, ChaosAction::Byzantine).await;
    for i in 0..20 {
        soap_call(gateway, &format!("MTLP{:04}", 2000 + i));
    }
    cluster
        .wait_replacements(2, 1, Duration::from_secs(20))
        .await;
    browser
        .wait_for(Duration::from_secs(5), &replaced_on_page(2, 1), SHOWN)
        .await;
    assert_eq!(
        browser.eval(
            "return !!document.querySelector('#timeline li[data-kind=\"vote\"][data-replica=\"2\"]')"
        ),
        json!(true),
        "the vote is on the timeline: {}",
        browser.eval(SHOWN)
    );
    let wide = browser.screenshot("wide.png");

    // A button on the page: crash replica 3, which is then replaced.
    browser.click("#replicas article[data-replica=\"3\"] button[data-action=\"crash\"]");
    cluster
        .wait_replacements(3, 1, Duration::from_secs(20))
        .await;
    browser
        .wait_for(Duration::from_secs(5), &replaced_on_page(3, 1), SHOWN)
        .await;
    browser
        .wait_for(
            Duration::from_secs(5),
            "return !!document.querySelector('#timeline li[data-kind=\"chaos\"][data-replica=\"3\"]')",
            SHOWN,
        )
        .await;

    // A narrow window: everything still fits across, nothing scrolls sideways.
    browser.resize(420, 1400);
    browser
        .wait_for(
            Duration::from_secs(5),
            "return window.innerWidth <= 420 && \
             document.documentElement.scrollWidth <= document.documentElement.clientWidth",
            "return [window.innerWidth, document.documentElement.scrollWidth, \
             document.documentElement.clientWidth]",
        )
        .await;
    let narrow = browser.screenshot("narrow.png");
    for shot in [&wide, &narrow] {
        assert!(
            std::fs::metadata(shot).is_ok_and(|m| m.len() > 10_000),
            "{shot:?}"
        );
    }
}
