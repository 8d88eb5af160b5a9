//! `tessera demo`, `tessera status` and `tessera chaos` on a real cluster: `tesserad up --chaos`
//! on loopback ports of its own, with a gateway in this process whose backend is the
//! cluster's front end (what production wires together), and the real `tessera` binary.
//! Also the clear failures when no cluster is running.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{tessera, Run};
use tessera_ops::config::{Config, RecoverySection};
use tessera_testkit::cluster::{self, tesserad, Launch, LocalCluster};

/// A loopback cluster's configuration with small checkpoints, so that recovery takes
/// seconds.
fn demo_config(dir: &Path) -> Config {
    let mut cfg = cluster::loopback(dir);
    cfg.cluster.max_datagram_bytes = Some(8192);
    cfg.recovery = RecoverySection {
        checkpoint_interval: 25,
        hang_threshold_ms: 700,
        retry_ms: 100,
    };
    cfg
}

fn tessera_run(args: &[&str]) -> Run {
    tessera().args(args).output().unwrap().into()
}

/// The demo against a gateway with TLS and authentication: it takes the same options as the
/// other commands (`--cacert`, `--user`, the password from the environment, `--ws-security`).
#[test]
fn the_demo_passes_on_a_real_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = demo_config(dir.path());
    cluster::make_pki_and_user(&tesserad(), dir.path(), "demo", "*", "demo-password")
        .unwrap()
        .secure(&mut cfg);
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
    let log_path = dir.path().join("tesserad.log");
    let launch = Launch {
        supervised: true,
        chaos: true,
        log: Some(log_path.clone()),
        ..Launch::default()
    };
    let cluster = LocalCluster::start(cfg, dir, launch).unwrap();
    let config = cluster.config_path.clone();
    let config_arg = config.to_str().unwrap();
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

    let gateway = cluster.cfg.gateway.listen;
    while TcpStream::connect(gateway).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The gateway is the one of the configuration (https://): no --url.
    let r = secure(&["demo", "--config", config_arg, "--wait", "45"]);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
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
    // Free space is compared apart: other tests write to the same disk meanwhile.
    let mut same = false;
    for _ in 0..5 {
        let ours = tessera_run(&["status", "--json", "--config", config_arg]).json();
        let theirs = Command::new(tesserad())
            .args(["status", "--json", "--config", config_arg])
            .output()
            .unwrap();
        let theirs: serde_json::Value = serde_json::from_slice(&theirs.stdout).unwrap();
        let (ours, theirs) = (without_disk(ours), without_disk(theirs));
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

/// `status --json` less its free-space fields, after checking that every node that answered
/// has them and that they make sense.
fn without_disk(mut status: serde_json::Value) -> serde_json::Value {
    for list in ["replicas", "sequencers"] {
        let nodes = status[list].as_array_mut().unwrap();
        assert!(!nodes.is_empty(), "no {list}");
        for node in nodes {
            let node = node.as_object_mut().unwrap();
            let available = node.remove("disk_available_bytes").unwrap();
            let size = node.remove("disk_size_bytes").unwrap();
            let (Some(available), Some(size)) = (available.as_u64(), size.as_u64()) else {
                panic!("{list}: no free space in {node:?}");
            };
            assert!(
                size > 0 && available <= size,
                "{list}: {available} of {size}"
            );
        }
    }
    status
}

#[test]
fn without_a_cluster_status_chaos_and_demo_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cluster.toml");
    let cfg = cluster::write_config(&config, &demo_config(dir.path())).unwrap();
    // The operator key exists (as after a first `tesserad up`); the cluster does not run.
    tessera_ops::keys::ensure_all(&cfg, &cfg.key_dir()).unwrap();
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
