//! The `tesserad` binary before any cluster runs: what it prints and what it refuses. (Being
//! an integration test of this crate, this file also makes plain `cargo test --workspace`
//! build `tesserad`, which the CLI's and the cluster suites' tests start.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `tesserad ARGS`, killing it if it has not exited within 20 s (a role that started
/// instead of refusing would otherwise run forever).
fn tesserad(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tesserad"))
        .args(args)
        .env("TESSERA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[test]
fn default_config_prints_the_embedded_file() {
    let out = tesserad(&["default-config"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        include_str!("../../../deploy/local.toml")
    );
}

/// A misspelt key must stop every role before it binds anything, naming the key: a typo
/// silently falling back to a default (another port, another data directory) is worse.
#[test]
fn a_typo_in_the_config_stops_every_role_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(
        &path,
        "[cluster]\nname = \"typo\"\n\n[sequencer]\nadress = \"127.0.0.1:7400\"\n",
    )
    .unwrap();
    let config = path.to_str().unwrap();
    for role in [
        &["sequencer"][..],
        &["rm", "--id", "1"],
        &["gateway"],
        &["up"],
        &["status"],
    ] {
        let args: Vec<&str> = role.iter().copied().chain(["--config", config]).collect();
        let out = tesserad(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{role:?} started: {stderr}");
        assert!(stderr.contains("adress"), "{role:?}: {stderr}");
    }
}

/// `tesserad keygen` makes a private key file and a public one per node, prints the lines to
/// paste, keeps existing keys on a second run; a node whose key does not match the public key
/// the file lists refuses to start, naming it; and the old shared secret is refused, naming
/// what replaced it.
#[test]
fn keygen_makes_private_keys_and_nodes_refuse_a_key_that_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let path = dir.path().join("cluster.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &path,
        format!(
            "[cluster]\nname = \"keygen-{}\"\ndata_dir = \"{}\"\nkey_dir = \"{}\"\n",
            std::process::id(),
            data.display(),
            keys.display()
        ),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let out = tesserad(&[
        "keygen",
        "--config",
        config,
        "--out",
        keys.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    for name in [
        "sequencer",
        "rm-1",
        "rm-2",
        "rm-3",
        "rm-4",
        "front-end-1",
        "operator",
    ] {
        let secret = keys.join(format!("{name}.key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}.key");
        }
        let public = std::fs::read_to_string(keys.join(format!("{name}.pub"))).unwrap();
        assert!(printed.contains(public.trim()), "{name}: {printed}");
    }
    let again = tesserad(&[
        "keygen",
        "--config",
        config,
        "--out",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), printed, "keys kept");

    // The file lists another key for the sequencer than the one in its key file.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "[sequencer]\npublic_key = \"{}\"\n",
        "ab".repeat(32)
    ));
    std::fs::write(&path, &text).unwrap();
    let out = tesserad(&["sequencer", "--config", config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("does not match"), "{stderr}");

    std::fs::write(&path, "[cluster]\nsecret = \"shared-by-all\"\n").unwrap();
    let out = tesserad(&["status", "--config", config]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cluster.secret") && stderr.contains("tesserad keygen"),
        "{stderr}"
    );
}

/// Every role runs without transparent huge pages (`docs/performance.md`, "Checkpoints and
/// huge pages"): with them, the fresh pages of a checkpoint's export were zeroed inside page
/// faults in all four replicas at once, and every call in flight stalled for 40 ms or more.
#[cfg(target_os = "linux")]
#[test]
fn every_role_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().unwrap();
    // A replica waits on its pipe for the manager's first frame: alive, and nothing else to do.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tesserad"))
        .args(["replica", "--impl", "memory", "--dir"])
        .arg(dir.path())
        .env("TESSERA_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let thp_enabled = || {
        std::fs::read_to_string(&status)
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_owned()))
    };
    // The flag is set first thing in main, a moment after the exec.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = thp_enabled();
    while seen.as_deref() == Some("1") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        seen = thp_enabled();
    }
    let _ = child.kill();
    let _ = child.wait();
    match seen.as_deref() {
        // A kernel that does not report the flag (before 5.0) cannot be checked here.
        None => eprintln!("{status} has no THP_enabled line; not checked"),
        Some(v) => assert_eq!(v, "0", "THP still enabled for `tesserad replica`"),
    }
}
