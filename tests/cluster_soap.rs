//! The SOAP service end to end: a real `tesserad up` (sequencer, four replica managers and the
//! gateway as separate processes), driven by an independent SOAP stack (Python zeep, from the
//! WSDL the gateway serves) over both ports, and by the README's curl example, verbatim.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;

use std::process::Command;
use std::time::Duration;

use harness::{Options, TestCluster};

fn supervised() -> TestCluster {
    TestCluster::start(Options {
        supervised: true,
        ..Options::default()
    })
}

/// Runs the zeep script `tools/NAME` against a fresh `tesserad up` over both ports (each with a
/// city of its own), expecting its `PASS PORT` line for each.
async fn zeep_over_both_ports(name: &str, cities: [&'static str; 2]) {
    let cluster = supervised();
    cluster.wait_gateway(Duration::from_secs(20)).await;
    let wsdl = format!("{}?wsdl", cluster.endpoint());
    let script = format!("{}/tools/{name}", env!("CARGO_MANIFEST_DIR"));
    for (port, city) in ["ReservationSoapPort", "ReservationSoap12Port"]
        .into_iter()
        .zip(cities)
    {
        let out = tokio::task::spawn_blocking({
            let (wsdl, script) = (wsdl.clone(), script.clone());
            move || {
                Command::new(harness::python())
                    .args([&script, &wsdl, port, city])
                    .output()
                    .expect("run python (tests/run sets up .venv with zeep)")
            }
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains(&format!("PASS {port}")),
            "{name} on {port} failed:\n{stdout}\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeep_drives_every_operation_over_both_ports_with_typed_results_and_faults() {
    zeep_over_both_ports("zeep_scenario.py", ["MTL", "TOR"]).await;
}

/// zeep's `WsAddressingPlugin` over both ports: the response relates to the call's MessageID,
/// a retry with it gets the first answer, and its reuse for another request is a fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zeep_with_ws_addressing_gets_exactly_once_retries() {
    zeep_over_both_ports("zeep_addressing.py", ["MTL", "VAN"]).await;
}

/// The text of the fenced block that follows `<!-- readme-test: NAME -->` in the README.
fn readme_block(name: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let marker = format!("<!-- readme-test: {name} -->");
    let after = &readme[readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README has no {marker}"))
        + marker.len()..];
    let body = &after[after.find("```").unwrap()..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_curl_example_works_exactly_as_documented() {
    let cluster = supervised();
    cluster.wait_gateway(Duration::from_secs(20)).await;
    let listen = cluster.cfg.gateway.listen.to_string();
    let command = readme_block("curl").replace("127.0.0.1:8080", &listen);
    let expected = readme_block("curl-response");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            .arg(&command)
            .output()
            .expect("run bash")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected.trim());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_cli_commands_work_as_documented() {
    let cluster = supervised();
    cluster.wait_gateway(Duration::from_secs(20)).await;
    let listen = cluster.cfg.gateway.listen.to_string();
    // The curl example creates the slot the CLI lines book.
    let curl = readme_block("curl").replace("127.0.0.1:8080", &listen);
    let tessera = harness::tesserad().with_file_name("tessera");
    let cli = readme_block("cli").replace(
        "cargo run --release --bin tessera --",
        &tessera.display().to_string(),
    );
    let url = cluster.endpoint();
    let config = cluster.config_path.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("bash")
            .arg("-c")
            .arg(format!("set -e\n{curl} >/dev/null\n{cli}"))
            .env("TESSERA_URL", url)
            .env("TESSERA_CONFIG", config)
            .output()
            .expect("run bash")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("RESERVED"), "{stdout}");
    assert!(stdout.contains("MTLE241226"), "{stdout}");
    assert!(
        stdout.contains("sqlite") && stdout.contains("up"),
        "{stdout}"
    );
}
