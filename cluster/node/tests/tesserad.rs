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
