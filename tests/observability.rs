//! Issue 14 acceptance tests: every role's Prometheus metrics are in a format `promtool`
//! accepts, a real Prometheus server scrapes all of them from a `tesserad up` cluster and
//! answers PromQL with exactly what the test caused (calls, a chaos replacement), and the
//! Prometheus files under `deploy/prometheus/` pass `promtool check` and their rule unit tests.
//!
//! `promtool` and `prometheus` come from Debian's `prometheus` package (`.ci/run` installs it);
//! without them these tests fail and say so rather than pass without checking anything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;
#[path = "cluster/http.rs"]
mod http;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{Options, TestCluster};
use http::{get, http};

/// A tool from Debian's `prometheus` package, or a failure saying how to get it.
fn prometheus_tool(name: &str) -> PathBuf {
    tessera_testkit::installed(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: these tests need Debian's `prometheus` package \
             (`apt-get install prometheus`; .ci/run installs it)"
        )
    })
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Percent-encoding for a query string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server on a loopback port, killed and reaped when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `targets` (role name, `host:port`) every second, and waits
    /// until it is ready.
    fn start(targets: &[(String, String)]) -> Prometheus {
        let exe = prometheus_tool("prometheus");
        let dir = tempfile::tempdir().unwrap();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: tessera\n    static_configs:\n",
        );
        for (role, target) in targets {
            config.push_str(&format!(
                "      - targets: ['{target}']\n        labels: {{role: '{role}'}}\n"
            ));
        }
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, &config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", tessera_testkit::cluster::free_port())
            .parse()
            .unwrap();
        let child = Command::new(exe)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let server = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = TcpStream::connect(addr).is_ok()
                && http(addr, "GET", "/-/ready", "text/plain", b"").0 == 200;
            if ready {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus on {addr} not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An instant PromQL query: each series' labels and value.
    fn query(&self, promql: &str) -> Vec<(serde_json::Value, f64)> {
        let (status, body) = http(
            self.addr,
            "GET",
            &format!("/api/v1/query?query={}", encode(promql)),
            "text/plain",
            b"",
        );
        assert_eq!(status, 200, "query {promql}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("query answer is JSON");
        v["data"]["result"]
            .as_array()
            .expect("a vector result")
            .iter()
            .map(|s| {
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .expect("a sample value");
                (s["metric"].clone(), value)
            })
            .collect()
    }

    /// The single value of `promql`, once it satisfies `ok`, or a failure after `within`
    /// naming the last answer.
    async fn wait_value(&self, promql: &str, within: Duration, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + within;
        loop {
            let result = self.query(promql);
            if let [(_, v)] = result.as_slice() {
                if ok(*v) {
                    return *v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "`{promql}` not as expected within {within:?}; last answer: {result:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `promtool check metrics` on one endpoint's output: no parse errors and no lint problems
/// (names, units, `_total` suffixes, help text).
fn promtool_accepts(role: &str, text: &str) {
    let mut child = Command::new(prometheus_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool check metrics refuses {role}'s metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the first sample of `name` (any labels) in a text-format page.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let rest = match rest.strip_prefix('{') {
            Some(labelled) => &labelled[labelled.find('}')? + 1..],
            None => rest,
        };
        rest.strip_prefix(' ')?.split(' ').next()?.parse().ok()
    })
}

fn soap_call(gateway: SocketAddr, participant: &str) -> String {
    let envelope = format!(
        r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:r="urn:tessera:reservation:v1"><e:Body><r:getEventSchedule><r:participantID>{participant}</r:participantID></r:getEventSchedule></e:Body></e:Envelope>"#
    );
    let (status, body) = http(
        gateway,
        "POST",
        "/ws/reservation",
        "text/xml; charset=utf-8",
        envelope.as_bytes(),
    );
    assert_eq!(status, 200, "SOAP call answered: {body}");
    body
}

/// Every role's `GET /metrics` URL, by role name: the gateway's on its listener, then the
/// sequencer's and each replica manager's `metrics_address`.
fn metrics_urls(cluster: &TestCluster) -> Vec<(String, String)> {
    let cfg = &cluster.cfg;
    let mut urls = vec![(
        "gateway".to_owned(),
        format!("http://{}/metrics", cfg.gateway.listen),
    )];
    if let Some(a) = cfg.sequencer.metrics_address {
        urls.push(("sequencer".to_owned(), format!("http://{a}/metrics")));
    }
    for rm in &cfg.replica_manager {
        if let Some(a) = rm.metrics_address {
            urls.push((format!("rm{}", rm.id), format!("http://{a}/metrics")));
        }
    }
    urls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_role_and_sees_the_calls_and_the_replacement_the_test_caused() {
    // Fail at once, before a cluster starts, when the tools are missing.
    prometheus_tool("promtool");
    prometheus_tool("prometheus");
    // The sequencer and every manager get a metrics address of their own.
    let cluster = TestCluster::start_with(
        Options {
            supervised: true,
            chaos: true,
            recovery: harness::quick_recovery(25),
            ..Options::default()
        },
        |cfg| {
            // The calls below are reads: ordered, so that the lying replica's answers are
            // voted on (a wrong fast read only falls back, docs/protocol.md, "Fast reads").
            cfg.front_end.fast_reads = false;
            let address = || -> Option<SocketAddr> {
                Some(SocketAddr::from((
                    [127, 0, 0, 1],
                    tessera_testkit::cluster::free_port(),
                )))
            };
            cfg.sequencer.metrics_address = address();
            for rm in &mut cfg.replica_manager {
                rm.metrics_address = address();
            }
            // The gateway's scrape-only listener as well (its /metrics is the same registry as
            // the one on the main listener, so Prometheus scrapes only the latter).
            cfg.gateway.metrics_listen = address();
        },
    );
    cluster.wait_gateway(Duration::from_secs(20)).await;
    let urls = metrics_urls(&cluster);
    assert_eq!(
        urls.len(),
        6,
        "gateway, sequencer and four managers: {urls:?}"
    );
    for (role, url) in &urls {
        let up = harness::eventually(Duration::from_secs(20), || {
            let rest = url.trim_start_matches("http://");
            let host = &rest[..rest.find('/').unwrap_or(rest.len())];
            TcpStream::connect(host).is_ok() && get(url).0 == 200
        })
        .await;
        assert!(up, "{role} serves no metrics at {url}");
    }
    let targets: Vec<(String, String)> = urls
        .iter()
        .map(|(role, url)| {
            let rest = url.trim_start_matches("http://");
            (
                role.clone(),
                rest[..rest.find('/').unwrap_or(rest.len())].to_owned(),
            )
        })
        .collect();
    let prometheus = Prometheus::start(&targets);
    prometheus
        .wait_value("count(up == 1)", Duration::from_secs(30), |v| v == 6.0)
        .await;

    // Replica 2 turns Byzantine, from the dashboard's fault injection route.
    let gateway = cluster.cfg.gateway.listen;
    let (status, body) = http(
        gateway,
        "POST",
        "/dashboard/chaos",
        "application/json",
        br#"{"replica": 2, "action": "byzantine"}"#,
    );
    assert_eq!(status, 200, "chaos from the dashboard route: {body}");

    // One call first, seen by Prometheus, then the rest: a counter's rate needs two samples
    // of the series, and the series appears with the first call.
    const CALLS: u64 = 40;
    let answer = soap_call(gateway, "MTLP1000");
    assert!(answer.contains("<success>true</success>"), "{answer}");
    prometheus
        .wait_value(
            "sum(tessera_gateway_calls_total)",
            Duration::from_secs(20),
            |v| v == 1.0,
        )
        .await;
    for i in 1..CALLS {
        let answer = soap_call(gateway, &format!("MTLP{:04}", 1000 + i));
        assert!(answer.contains("<success>true</success>"), "{answer}");
    }
    let s = cluster
        .wait_replacements(2, 1, Duration::from_secs(30))
        .await;
    let replaced = s.replicas[1].replacements.expect("rm 2 answered");

    // Every endpoint's text, now that calls, faults and a replacement filled it in.
    for (role, url) in &urls {
        let (status, text) = get(url);
        assert_eq!(status, 200, "{role} at {url}");
        assert!(text.contains("# HELP tessera_"), "{role}: {text}");
        promtool_accepts(role, &text);
        // The sequencer and the managers say how full their data directory's disk is.
        if role != "gateway" {
            let available = sample(&text, "tessera_data_dir_available_bytes")
                .unwrap_or_else(|| panic!("{role}: no available bytes in\n{text}"));
            let size = sample(&text, "tessera_data_dir_size_bytes")
                .unwrap_or_else(|| panic!("{role}: no size in\n{text}"));
            assert!(
                0.0 < available && available <= size,
                "{role}: {available} bytes available of {size}"
            );
        }
    }

    // The scrape-only listener serves the same registry, and nothing else.
    let scrape_only = format!(
        "http://{}",
        cluster
            .cfg
            .gateway
            .metrics_listen
            .expect("configured above")
    );
    let (status, text) = get(&format!("{scrape_only}/metrics"));
    assert_eq!(status, 200, "{text}");
    promtool_accepts("gateway (metrics_listen)", &text);
    assert!(
        text.contains(&format!(
            "tessera_gateway_calls_total{{code=\"OK\",operation=\"getEventSchedule\"}} {CALLS}"
        )),
        "{text}"
    );
    assert_eq!(get(&format!("{scrape_only}/dashboard")).0, 404);

    // What Prometheus scraped says what the test did.
    let calls = prometheus
        .wait_value(
            "sum(tessera_gateway_calls_total)",
            Duration::from_secs(20),
            |v| v >= CALLS as f64,
        )
        .await;
    assert_eq!(calls, CALLS as f64, "exactly the calls the test made");
    prometheus
        .wait_value(
            r#"sum(tessera_gateway_calls_total{operation="getEventSchedule",code!="fault"})"#,
            Duration::from_secs(5),
            |v| v == CALLS as f64,
        )
        .await;
    let rate = prometheus
        .wait_value(
            "sum(rate(tessera_gateway_calls_total[1m]))",
            Duration::from_secs(10),
            |v| v > 0.0,
        )
        .await;
    assert!(rate > 0.0);
    prometheus
        .wait_value(
            r#"max(tessera_replica_replacements_total{role="rm2",replica="2"})"#,
            Duration::from_secs(20),
            |v| v == f64::from(replaced),
        )
        .await;
    // No other replica was replaced, and the front end reported replica 2 wrong at least the
    // three times in a row that draw a vote.
    prometheus
        .wait_value(
            r#"sum(tessera_replica_replacements_total{replica!="2"})"#,
            Duration::from_secs(5),
            |v| v == 0.0,
        )
        .await;
    prometheus
        .wait_value(
            r#"sum(tessera_front_end_verdicts_total{replica="2",verdict="wrong"})"#,
            Duration::from_secs(10),
            |v| v >= 3.0,
        )
        .await;
    // Both disk gauges of a role carry the same labels, as TesseraDataDirFilling's division
    // needs (deploy/prometheus/alerts.yml): one ratio per sequencer and manager.
    prometheus
        .wait_value(
            "count(tessera_data_dir_available_bytes / tessera_data_dir_size_bytes <= 1)",
            Duration::from_secs(10),
            |v| v == 5.0,
        )
        .await;
    prometheus
        .wait_value(
            "max(tessera_sequencer_next_seq)",
            Duration::from_secs(10),
            |v| v >= (CALLS + 1) as f64,
        )
        .await;
}

#[test]
fn deploy_prometheus_config_and_alerting_rules_pass_promtool() {
    let promtool = prometheus_tool("promtool");
    let dir = repo_root().join("deploy/prometheus");
    for args in [
        vec!["check", "config", "prometheus.yml"],
        vec!["check", "rules", "alerts.yml"],
        // The rules' own unit tests: each alert fires on the series that should raise it and
        // stays quiet on a healthy cluster.
        vec!["test", "rules", "alerts_test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A `tesserad gateway` with its log in a file, killed and reaped when dropped.
struct LoggingGateway {
    child: Child,
    listen: SocketAddr,
    log: PathBuf,
}

impl LoggingGateway {
    /// Starts a gateway for `cluster` listening on `port`, with `args` before the
    /// subcommand and `env` (no other log settings are inherited from the test's environment).
    async fn start(
        cluster: &TestCluster,
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> LoggingGateway {
        let port = tessera_testkit::cluster::free_port();
        let gw = cluster.cfg.gateway.listen;
        let text = std::fs::read_to_string(&cluster.config_path)
            .unwrap()
            .replace(&gw.to_string(), &format!("127.0.0.1:{port}"));
        let config = cluster.dir().join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let log = cluster.dir().join(format!("{name}.log"));
        let child = Command::new(harness::tesserad())
            .args(args)
            .arg("gateway")
            .arg("--config")
            .arg(&config)
            .env_remove("TESSERA_LOG")
            .env_remove("RUST_LOG")
            .env_remove("TESSERA_LOG_FORMAT")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start tesserad gateway");
        let gateway = LoggingGateway {
            child,
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            log,
        };
        let listen = gateway.listen;
        let up = harness::eventually(Duration::from_secs(20), || {
            TcpStream::connect(listen).is_ok()
        })
        .await;
        assert!(up, "gateway {name} did not listen on {listen}");
        gateway
    }

    /// One SOAP call with this `X-Request-Id`; the sequence number it took effect at.
    fn call(&self, request_id: &str) -> u64 {
        let envelope = r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:r="urn:tessera:reservation:v1"><e:Body><r:getEventSchedule><r:participantID>MTLP4242</r:participantID></r:getEventSchedule></e:Body></e:Envelope>"#;
        let mut s = TcpStream::connect(self.listen).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "POST /ws/reservation HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: text/xml\r\nX-Request-Id: {request_id}\r\nContent-Length: {}\r\n\r\n",
            self.listen,
            envelope.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(envelope.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let revision = answer
            .split("<revision>")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .and_then(|r| r.parse().ok());
        revision.unwrap_or_else(|| panic!("no revision in the answer: {answer}"))
    }

    /// The log so far, once a line satisfies `done` (or after `within`).
    async fn log_when(&self, within: Duration, done: impl Fn(&str) -> bool) -> String {
        let path = self.log.clone();
        let read = move || std::fs::read_to_string(&path).unwrap_or_default();
        harness::eventually(within, || read().lines().any(&done)).await;
        read()
    }
}

impl Drop for LoggingGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_plain_or_json_lines_and_one_call_is_followed_by_its_request_id_and_seq() {
    let cluster = TestCluster::start(Options::default());
    cluster.wait_converged(0, Duration::from_secs(20)).await;

    // JSON lines at debug: every line parses, and the per-call line carries the request id
    // and the sequence number the call took effect at.
    let json = LoggingGateway::start(
        &cluster,
        "json",
        &["--log-format", "json"],
        &[("TESSERA_LOG", "debug")],
    )
    .await;
    let seq = json.call("trace-json-1");
    let log = json
        .log_when(Duration::from_secs(10), |l| l.contains("trace-json-1"))
        .await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let call = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "trace-json-1")
        .unwrap_or_else(|| panic!("no line of call trace-json-1 in:\n{log}"));
    assert_eq!(call["level"], "DEBUG", "{call}");
    assert_eq!(call["message"], "call answered", "{call}");
    assert_eq!(call["span"]["seq"], seq, "{call}");
    assert_eq!(call["span"]["op"], "getEventSchedule", "{call}");
    drop(json);

    // Text at the default level into a file: no colour escapes, and no line per call.
    let quiet = LoggingGateway::start(&cluster, "quiet", &[], &[]).await;
    quiet.call("trace-quiet-1");
    // A call's line is written (unbuffered) before its response is sent, so the file is
    // complete for this call once the answer is here: no need to wait for what must not come.
    let log = std::fs::read_to_string(&quiet.log).unwrap();
    assert!(log.contains("INFO"), "the gateway logged its start: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log file:\n{log}"
    );
    assert!(
        !log.contains("trace-quiet-1"),
        "a per-call line at the default level:\n{log}"
    );
    drop(quiet);

    // RUST_LOG works too (TESSERA_LOG unset), and so does a per-span directive
    // (docs/observability.md): debug inside the call's span only. Each: the call's line, as
    // text, with its seq.
    for (name, env, id) in [
        (
            "rust-log",
            ("RUST_LOG", "info,tessera_gateway=debug"),
            "trace-text-1",
        ),
        (
            "span-filter",
            ("TESSERA_LOG", "info,[soap]=debug"),
            "trace-span-1",
        ),
    ] {
        let gateway = LoggingGateway::start(&cluster, name, &[], &[env]).await;
        let seq = gateway.call(id);
        let log = gateway
            .log_when(Duration::from_secs(10), |l| l.contains(id))
            .await;
        assert!(
            !log.contains('\u{1b}'),
            "ANSI escapes in a log file:\n{log}"
        );
        let line = log
            .lines()
            .find(|l| l.contains(&format!("request_id=\"{id}\"")))
            .unwrap_or_else(|| panic!("{name}: no line of call {id} in:\n{log}"));
        assert!(line.contains(&format!("seq={seq}")), "{name}: {line}");
        assert!(line.contains("call answered"), "{name}: {line}");
    }
}

/// A `tesserad up` whose printed start-up summary the test reads; stopped like Ctrl-C (and
/// killed if that does not stop it) and reaped when dropped.
struct Up {
    child: Child,
}

impl Drop for Up {
    fn drop(&mut self) {
        tessera_testkit::cluster::signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tesserad_up_gives_every_role_a_metrics_url_and_prints_them_and_the_dashboard() {
    prometheus_tool("promtool");
    let dir = tempfile::tempdir().unwrap();
    // No metrics_address anywhere: `tesserad up` picks the ports.
    let cfg = Options::default().config(dir.path());
    assert!(cfg.sequencer.metrics_address.is_none());
    let config = dir.path().join("cluster.toml");
    tessera_testkit::cluster::write_config(&config, &cfg).unwrap();
    let mut child = Command::new(harness::tesserad())
        .args(["up", "--chaos", "--config"])
        .arg(&config)
        .env("TESSERA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tesserad up");
    let stdout = child.stdout.take().expect("piped stdout");
    let _up = Up { child };
    // The summary ends with the Ctrl-C line; read it on a thread so that a silent supervisor
    // fails the test at the deadline instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        // Read to the end, after the summary too: the supervisor prints when it stops.
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !printed
        .last()
        .is_some_and(|l: &String| l.starts_with("Ctrl-C"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(_) => panic!("tesserad up printed no summary in 30 s: {printed:#?}"),
        }
    }
    let mut urls: Vec<(String, String)> = Vec::new();
    // Each role's metrics line is its name and URL, under "metrics".
    let metrics_at = printed
        .iter()
        .position(|l| l.starts_with("metrics"))
        .unwrap_or_else(|| panic!("no metrics section: {printed:#?}"));
    for line in &printed[metrics_at + 1..] {
        if !line.starts_with("  ") {
            break;
        }
        let url = line.split_whitespace().last().unwrap_or_default();
        assert!(url.ends_with("/metrics"), "{line}");
        urls.push((line.trim().to_owned(), url.to_owned()));
    }
    assert_eq!(
        urls.len(),
        6,
        "gateway, sequencer and four managers: {printed:#?}"
    );
    for (role, url) in &urls {
        let rest = url.trim_start_matches("http://");
        let host = rest[..rest.find('/').unwrap_or(rest.len())].to_owned();
        let up = harness::eventually(Duration::from_secs(20), || {
            TcpStream::connect(&host).is_ok() && get(url).0 == 200
        })
        .await;
        assert!(up, "{role}: no metrics at {url}");
        let (_, text) = get(url);
        promtool_accepts(role, &text);
    }
    // The dashboard line, with its buttons, and the page it names.
    let dashboard = printed
        .iter()
        .find(|l| l.starts_with("dashboard:"))
        .unwrap_or_else(|| panic!("no dashboard line: {printed:#?}"));
    assert!(dashboard.contains("fault injection"), "{dashboard}");
    let url = dashboard
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a dashboard URL");
    let (status, page) = get(url);
    assert_eq!(status, 200);
    assert!(page.contains("/dashboard/app.js"), "{page}");
}

/// One call followed from the gateway to the replicas: the managers' debug line for the seq
/// the call took effect at names the gateway's request id for it (`X-Request-Id`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_managers_log_the_gateways_request_id_next_to_the_seq() {
    let dir = tempfile::tempdir().unwrap();
    let cluster_log = dir.path().join("cluster.log");
    // The call is a read: ordered, so that it takes a seq for the managers to log (a fast
    // read takes none).
    let cluster = TestCluster::start_with(
        Options {
            log: Some(cluster_log.clone()),
            log_level: Some("warn,tessera_node::replica_manager=debug".into()),
            ..Options::default()
        },
        |cfg| cfg.front_end.fast_reads = false,
    );
    cluster.wait_converged(0, Duration::from_secs(20)).await;
    let gateway = LoggingGateway::start(&cluster, "traced", &[], &[]).await;
    let seq = gateway.call("trace-rm-1");
    let applies = format!("applies seq {seq} ");
    let lines = || {
        std::fs::read_to_string(&cluster_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&applies) && l.contains("trace-rm-1"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let all_four = harness::eventually(Duration::from_secs(10), || lines().len() >= 4).await;
    assert!(
        all_four,
        "every manager logs seq {seq} with request id trace-rm-1; found:\n{}\nlog:\n{}",
        lines().join("\n"),
        std::fs::read_to_string(&cluster_log).unwrap_or_default()
    );
}
