//! `tessera demo`, `tessera status` and `tessera chaos` on a real cluster: `tesserad up --chaos`
//! on loopback ports of its own, with a gateway in this process whose backend is the
//! cluster's front end (what production wires together), and the real `tessera` binary.
//! Also the clear failures when no cluster is running.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{tessera, Run};

/// The `tesserad` binary built by `cargo build --bins` (`tests/run` builds it first).
fn tesserad() -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/tesserad
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("tesserad");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --bins` first (tests/run does)",
        bin.display()
    );
    bin
}

/// A port free for UDP (the nodes) and TCP (the gateway) alike.
fn free_port() -> u16 {
    loop {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A cluster configuration on free ports, in `dir`, with small checkpoints so that recovery
/// takes seconds; with `secure`, the gateway serves HTTPS (a `tesserad dev-cert` pair in
/// `dir/pki`) and requires authentication (the user file `dir/users`).
fn write_config(dir: &Path, secure: bool) -> PathBuf {
    let pid = std::process::id();
    let p: Vec<u16> = (0..7).map(|_| free_port()).collect();
    let text = format!(
        r#"
[cluster]
name = "cli-demo-{pid}"
secret = "cli-demo-secret-{pid}"
data_dir = "{data}"
max_datagram_bytes = 8192

[network]
mode = "multicast"
group = "239.255.{g}.201:{p5}"
interface = "127.0.0.1"
ttl = 0

[sequencer]
address = "127.0.0.1:{p0}"

[[replica_manager]]
id = 1
implementation = "memory"
address = "127.0.0.1:{p1}"

[[replica_manager]]
id = 2
implementation = "sqlite"
address = "127.0.0.1:{p2}"

[[replica_manager]]
id = 3
implementation = "eventlog"
address = "127.0.0.1:{p3}"

[[replica_manager]]
id = 4
implementation = "kv"
address = "127.0.0.1:{p4}"

[front_end]
address = "127.0.0.1:0"

[gateway]
listen = "127.0.0.1:{p6}"
public_url = "{scheme}://127.0.0.1:{p6}/ws/reservation"

[timeouts]
request_timeout_ms = 10000

[recovery]
checkpoint_interval = 25
hang_threshold_ms = 700
retry_ms = 100
{secure}"#,
        data = dir.join("data").display(),
        g = pid % 250 + 1,
        p0 = p[0],
        p1 = p[1],
        p2 = p[2],
        p3 = p[3],
        p4 = p[4],
        p5 = p[5],
        p6 = p[6],
        scheme = if secure { "https" } else { "http" },
        secure = if secure {
            format!(
                "\n[gateway.tls]\ncert = \"{pki}/cert.pem\"\nkey = \"{pki}/key.pem\"\n\n\
                 [gateway.auth]\nmode = \"required\"\nusers = \"{users}\"\n",
                pki = dir.join("pki").display(),
                users = dir.join("users").display()
            )
        } else {
            String::new()
        },
    );
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `tesserad up --chaos`, stopped (with everything it started) when dropped.
struct Supervisor(Child);

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tessera_run(args: &[&str]) -> Run {
    tessera().args(args).output().unwrap().into()
}

/// A trial certificate and a service account for the secure gateway of `write_config`.
fn make_pki_and_users(dir: &Path) {
    let pki = dir.join("pki");
    let out = Command::new(tesserad())
        .args(["dev-cert", "--out", pki.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut add = Command::new(tesserad())
        .args(["user", "add", "--name", "demo", "--ids", "*", "--users"])
        .arg(dir.join("users"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    add.stdin
        .take()
        .unwrap()
        .write_all(b"demo-password\n")
        .unwrap();
    assert!(add.wait().unwrap().success());
}

/// The demo against a gateway with TLS and authentication: it takes the same options as the
/// other commands (`--cacert`, `--user`, the password from the environment, `--ws-security`).
#[test]
fn the_demo_passes_on_a_real_cluster() {
    let dir = tempfile::tempdir().unwrap();
    make_pki_and_users(dir.path());
    let config = write_config(dir.path(), true);
    let cacert = dir.path().join("pki/ca.pem");
    let secure = |args: &[&str]| -> Run {
        tessera()
            .args(["--cacert", cacert.to_str().unwrap(), "--user", "demo"])
            .args(args)
            .env("TESSERA_PASSWORD", "demo-password")
            .output()
            .unwrap()
            .into()
    };
    let config_arg = config.to_str().unwrap();
    let log = std::fs::File::create(dir.path().join("tesserad.log")).unwrap();
    let _cluster = Supervisor(
        Command::new(tesserad())
            .args(["up", "--chaos", "--config", config_arg])
            .env(
                "TESSERA_LOG",
                std::env::var("TESSERA_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // Wait until every replica is up, with `tessera status --json`.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = tessera_run(&[
            "status",
            "--json",
            "--config",
            config_arg,
            "--wait-ms",
            "500",
        ]);
        if r.code == 0 {
            let v = r.json();
            let replicas = v["replicas"].as_array().unwrap();
            if replicas.len() == 4 && replicas.iter().all(|r| r["state"] == "up") {
                for key in [
                    "id",
                    "implementation",
                    "pid",
                    "state",
                    "last_seq",
                    "consecutive_faults",
                    "replacements",
                    "digest",
                ] {
                    assert!(replicas[0].get(key).is_some(), "{key}: {v:#}");
                }
                assert!(v.get("next_seq").is_some(), "{v:#}");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not come up: {r:#?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = tessera_run(&["status", "--config", config_arg]);
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(
        r.stdout.contains("replacements") && r.stdout.contains("sqlite"),
        "{r:#?}"
    );

    let gateway = tessera_ops::config::Config::load(Some(&config))
        .unwrap()
        .gateway
        .listen;
    while TcpStream::connect(gateway).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The gateway is the one of the configuration (https://): no --url.
    let r = secure(&["demo", "--config", config_arg, "--wait", "45"]);
    let log = std::fs::read_to_string(dir.path().join("tesserad.log")).unwrap_or_default();
    // Shown with --nocapture: the demo as a user sees it, and the cluster's replacements.
    println!("{}", r.stdout);
    for line in log.lines().filter(|l| l.contains("replac")) {
        println!("cluster log: {line}");
    }
    assert_eq!(
        r.code, 0,
        "the demo failed:\n{}\n{}\ncluster log:\n{log}",
        r.stdout, r.stderr
    );
    assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
    assert!(
        r.stdout.contains("gateway  https://127.0.0.1:"),
        "{}",
        r.stdout
    );
    for expected in [
        "→  CREATED",
        "→  ALREADY_RESERVED",
        "→  SLOT_FULL",
        "→  EXCHANGED",
        "tessera chaos byzantine --replica 2  →  replica 2: byzantine",
        "replica 2 replaced: replacements 0 → ",
        "consecutive faults",
        "replica 3 replaced",
        "replica 3 caught up: all replicas at seq",
        "after both replacements: all replicas at seq",
        "failed\n",
    ] {
        assert!(
            r.stdout.contains(expected),
            "{expected:?} missing:\n{}",
            r.stdout
        );
    }
    assert!(r.stdout.contains(", 0 failed"), "{}", r.stdout);

    // `tessera status --json` is `tesserad status --json`, object for object (the cluster
    // is idle now, so both see the same state; retried in case a digest was being taken).
    let mut same = false;
    for _ in 0..5 {
        let ours = tessera_run(&["status", "--json", "--config", config_arg]).json();
        let theirs = Command::new(tesserad())
            .args(["status", "--json", "--config", config_arg])
            .output()
            .unwrap();
        let theirs: serde_json::Value = serde_json::from_slice(&theirs.stdout).unwrap();
        if ours == theirs {
            same = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        same,
        "tessera status --json differs from tesserad status --json"
    );

    // A second run on the same cluster (over SOAP 1.2, credentials in a UsernameToken) picks
    // fresh IDs and passes too: its set-up steps are CREATED again, not UPDATED.
    let r = secure(&[
        "--soap12",
        "--ws-security",
        "demo",
        "--config",
        config_arg,
        "--wait",
        "45",
    ]);
    assert_eq!(r.code, 0, "second run:\n{}\n{}", r.stdout, r.stderr);
}

#[test]
fn without_a_cluster_status_chaos_and_demo_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), false);
    let config_arg = config.to_str().unwrap();

    let r = tessera_run(&["status", "--config", config_arg, "--wait-ms", "300"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stdout.contains("down"), "the table still shows: {r:#?}");
    assert!(r.stderr.contains("no node of cluster"), "{r:#?}");
    assert!(r.stderr.contains("tesserad up"), "{r:#?}");
    let r = tessera_run(&[
        "status",
        "--json",
        "--config",
        config_arg,
        "--wait-ms",
        "300",
    ]);
    assert_eq!(r.code, 2, "{r:#?}");
    let v = r.json();
    assert_eq!(v["next_seq"], serde_json::Value::Null);
    assert_eq!(v["replicas"][3]["implementation"], "kv");
    assert_eq!(v["replicas"][3]["state"], "down");

    let r = tessera_run(&["chaos", "crash", "--replica", "2", "--config", config_arg]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("did not answer"), "{r:#?}");
    assert!(r.stderr.contains("tesserad up --chaos"), "{r:#?}");
    let r = tessera_run(&["chaos", "crash", "--replica", "5", "--config", config_arg]);
    assert_eq!(r.code, 2, "replica out of range: {r:#?}");

    let url = common::gateway().url;
    let r = tessera_run(&["demo", "--config", config_arg, "--url", &url]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stdout.contains("The demo cannot run"), "{r:#?}");
    assert!(r.stdout.contains("tesserad up --chaos"), "{r:#?}");

    let r = tessera_run(&["status", "--config", "/nonexistent/cluster.toml"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(
        r.stderr.contains("cannot load the cluster configuration"),
        "{r:#?}"
    );
}
