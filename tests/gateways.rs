//! Issue 15, several gateways: each `tesserad gateway` is an independent front end of the same
//! cluster, and a real load balancer (Debian's HAProxy, health-checking `/health`) in front of
//! them keeps the service up when one is `kill -9`'d under load; clients that retry with their
//! `wsa:MessageID` see every call take effect exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Options, TestCluster};
use tessera_node::config::FrontEndIdentity;
use tessera_testkit::cluster::{free_port, signal};
use tessera_testkit::soap_client::{SoapClient, SOAP_PATH};
use tessera_types::{Code, Request};

/// The second gateway's front end (1 is the first gateway's, 2 and 3 the harness's).
const SECOND: u32 = 4;
const CLIENTS: u64 = 8;
const PER_CLIENT: u64 = 30;
/// Attempts of one call before the test gives up on it.
const ATTEMPTS: u32 = 40;

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn haproxy_config(bind: SocketAddr, stats: SocketAddr, gateways: &[SocketAddr]) -> String {
    let mut cfg = format!(
        "global\n    maxconn 512\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 30s\n    \
         timeout server 30s\n    retries 2\n    option redispatch 1\n\
         listen stats\n    bind {stats}\n    stats enable\n    stats uri /stats\n\
         frontend soap\n    bind {bind}\n    default_backend gateways\n\
         backend gateways\n    balance roundrobin\n    option httpchk GET /health\n    \
         http-check expect status 200\n    default-server inter 100ms fall 2 rise 2\n"
    );
    for (i, g) in gateways.iter().enumerate() {
        cfg.push_str(&format!("    server gateway{} {g} check\n", i + 1));
    }
    cfg
}

/// Whether HAProxy's stats (CSV) say `server` of the gateways backend is down.
async fn marked_down(stats: SocketAddr, server: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // HTTP/1.0: the page comes whole, up to the close (HTTP/1.1 would chunk it).
    let Ok(mut conn) = tokio::net::TcpStream::connect(stats).await else {
        return false;
    };
    let mut page = Vec::new();
    if conn
        .write_all(b"GET /stats;csv HTTP/1.0\r\n\r\n")
        .await
        .is_err()
        || conn.read_to_end(&mut page).await.is_err()
    {
        return false;
    }
    String::from_utf8_lossy(&page).lines().any(|l| {
        let f: Vec<&str> = l.split(',').collect();
        f.len() > 17 && f[0] == "gateways" && f[1] == server && f[17].starts_with("DOWN")
    })
}

/// Calls answered by one gateway so far, from its `/metrics`.
async fn calls_served(gateway: SocketAddr) -> u64 {
    let client = SoapClient::new(gateway, SOAP_PATH);
    let http = format!("GET /metrics HTTP/1.1\r\nHost: {gateway}\r\n\r\n");
    let (status, body) = client.call(http.as_bytes()).await.unwrap();
    assert_eq!(status, 200);
    String::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("tessera_gateway_calls_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// One call through the balancer with the `wsa:MessageID` `id`, retried with it (bounded,
/// with a short pause) until answered. Returns the reply's code and how many attempts failed
/// first.
async fn call_until_answered(client: &SoapClient, request: &Request, id: &str) -> (Code, u32) {
    for failed in 0..ATTEMPTS {
        match client.submit_once(request, id).await {
            Ok(reply) => return (reply.code, failed),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("{request:?} was not answered in {ATTEMPTS} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_under_load_behind_haproxy_loses_no_call() {
    let haproxy = tessera_testkit::installed("haproxy").unwrap_or_else(|| {
        panic!(
            "haproxy not found: this test runs a real load balancer; install Debian's \
             `haproxy` package (.ci/run does)"
        )
    });
    let mut cluster = TestCluster::start_with(Options::default(), |cfg| {
        cfg.front_end.others.push(FrontEndIdentity {
            id: SECOND,
            public_key: None,
        });
    });
    let config = cluster.config_path.to_str().unwrap().to_owned();
    let first = cluster.cfg.gateway.listen;
    let second = local(free_port());
    let mut gateway = |args: &[&str]| {
        let mut cmd = cluster.command(&["gateway", "--config", &config]);
        cmd.args(args).stdout(Stdio::null());
        cluster.spawn_extra("gateway", cmd).unwrap()
    };
    gateway(&[]);
    let doomed = gateway(&[
        "--front-end-id",
        &SECOND.to_string(),
        "--listen",
        &second.to_string(),
    ]);

    let balancer = local(free_port());
    let stats = local(free_port());
    let haproxy_cfg = cluster.dir().join("haproxy.cfg");
    std::fs::write(
        &haproxy_cfg,
        haproxy_config(balancer, stats, &[first, second]),
    )
    .unwrap();
    let mut cmd = Command::new(haproxy);
    // -db: stay in the foreground, so the cluster reaps it like its own processes.
    cmd.args(["-db", "-f", haproxy_cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cluster.spawn_extra("haproxy", cmd).unwrap();

    // Both gateways in rotation: each answers its own /health, and the balancer answers.
    let through = SoapClient::new(balancer, SOAP_PATH);
    let deadline = Instant::now() + Duration::from_secs(30);
    for g in [first, second, balancer] {
        let c = SoapClient::new(g, SOAP_PATH);
        while c.health().await.is_err() {
            assert!(Instant::now() < deadline, "{g} did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let slot = Request::AddReservationSlot {
        admin_id: "MTLA0001".parse().unwrap(),
        event_type: "Concerts".parse().unwrap(),
        event_id: "MTLE101226".parse().unwrap(),
        capacity: tessera_types::ids::Capacity::new(1000).unwrap(),
    };
    assert_eq!(
        call_until_answered(&through, &slot, "urn:test:slot")
            .await
            .0,
        Code::Created
    );

    // Clients reserve for distinct participants through the balancer; once a third of the
    // calls are answered, the second gateway is killed.
    let answered = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let client = SoapClient::new(balancer, SOAP_PATH);
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..PER_CLIENT {
                let participant = format!("MTLP{:04}", c * 100 + i + 1);
                let request = Request::ReserveTicket {
                    participant_id: participant.parse().unwrap(),
                    event_type: "Concerts".parse().unwrap(),
                    event_id: "MTLE101226".parse().unwrap(),
                };
                let began = Instant::now();
                let id = format!("urn:test:{participant}");
                let (code, failed) = call_until_answered(&client, &request, &id).await;
                answered.fetch_add(1, Ordering::Relaxed);
                out.push((participant, code, failed, began.elapsed()));
            }
            out
        }));
    }
    let total = CLIENTS * PER_CLIENT;
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::Relaxed) < total / 3 {
        assert!(Instant::now() < deadline, "the workload stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = (calls_served(first).await, calls_served(second).await);
    assert!(
        before.0 > 0 && before.1 > 0,
        "both gateways carried calls before the kill: {before:?}"
    );
    // Frozen first, so that calls pile up in it (some already ordered and executed, their
    // answers never sent), then killed: those calls fail at their clients, which retry them
    // through the other gateway.
    signal(doomed, "STOP");
    let stopped_at = answered.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !marked_down(stats, "gateway2").await {
        assert!(
            Instant::now() < deadline,
            "HAProxy did not take the frozen gateway out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(doomed, "KILL");
    let killed_at = answered.load(Ordering::Relaxed);

    let mut results = Vec::new();
    for t in tasks {
        results.extend(t.await.unwrap());
    }
    assert_eq!(results.len() as u64, total);
    let failed_attempts: u32 = results.iter().map(|r| r.2).sum();
    let slowest = results.iter().map(|r| r.3).max().unwrap();
    println!(
        "froze the second gateway after {stopped_at} of {total} calls, killed it after \
         {killed_at}; {failed_attempts} attempts failed and were retried; slowest call \
         {slowest:?}"
    );
    // The balancer sends nothing more to a gateway that fails its health check or refuses
    // connections, and retries on the other what the frozen one never answered: at most the
    // calls caught in it, one per client, fail at their clients.
    assert!(
        u64::from(failed_attempts) <= CLIENTS,
        "{failed_attempts} attempts failed"
    );
    // Every call was retried with its MessageID: each is answered as its first execution,
    // never as a second one (ALREADY_RESERVED), even when a failed attempt had taken effect.
    for (participant, code, failed, _) in &results {
        assert_eq!(
            *code,
            Code::Reserved,
            "{participant}: after {failed} failed attempts"
        );
    }
    let list = Request::ListReservationSlotAvailable {
        admin_id: "MTLA0001".parse().unwrap(),
        event_type: "Concerts".parse().unwrap(),
    };
    let text = through
        .post(&tessera_testkit::soap_client::envelope(&list))
        .await
        .unwrap();
    assert!(
        text.contains(&format!("<available>{}</available>", 1000 - total)),
        "every participant holds exactly one seat: {text}"
    );
    // The surviving gateway carried the rest.
    assert!(calls_served(first).await > before.0);
    // Ordered beyond the calls themselves (slot, reserves, the listing): retries that reached
    // the cluster a second time, each answered as a repeat.
    let ordered = cluster.status().await.next_seq.unwrap_or(1) - 1;
    println!(
        "{} calls ordered {ordered} times: {} repeats answered from the cluster's memory",
        total + 2,
        ordered.saturating_sub(total + 2)
    );
}

/// `tesserad up --gateways 2`: two gateways, each its own front end of the one cluster the
/// supervisor runs; what one is told, the other answers from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_several_gateways_of_one_cluster() {
    let opts = Options {
        supervised: true,
        gateways: 2,
        ..Options::default()
    };
    let cluster = TestCluster::start_with(opts, |cfg| {
        // Gateway k listens on the first's port + k - 1.
        let port = tessera_testkit::cluster::free_ports_in_a_row(2);
        tessera_testkit::cluster::set_gateway(cfg, local(port), false);
    });
    let first = cluster.cfg.gateway.listen;
    let second = local(first.port() + 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    for g in [first, second] {
        let c = SoapClient::new(g, SOAP_PATH);
        while c.health().await.is_err() {
            assert!(Instant::now() < deadline, "{g} did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (one, two) = (
        SoapClient::new(first, SOAP_PATH),
        SoapClient::new(second, SOAP_PATH),
    );
    let event = |participant: &str| Request::ReserveTicket {
        participant_id: participant.parse().unwrap(),
        event_type: "Theatre".parse().unwrap(),
        event_id: "TORA111226".parse().unwrap(),
    };
    let slot = Request::AddReservationSlot {
        admin_id: "TORA0001".parse().unwrap(),
        event_type: "Theatre".parse().unwrap(),
        event_id: "TORA111226".parse().unwrap(),
        capacity: tessera_types::ids::Capacity::new(1).unwrap(),
    };
    assert_eq!(
        call_until_answered(&one, &slot, "urn:a").await.0,
        Code::Created
    );
    assert_eq!(
        call_until_answered(&two, &event("TORP0001"), "urn:b")
            .await
            .0,
        Code::Reserved
    );
    // The first gateway's retry of the second's call is answered from the cluster's memory.
    assert_eq!(
        call_until_answered(&one, &event("TORP0001"), "urn:b")
            .await
            .0,
        Code::Reserved
    );
    assert_eq!(
        call_until_answered(&one, &event("TORP0002"), "urn:c")
            .await
            .0,
        Code::SlotFull,
        "the first gateway sees the seat the second booked"
    );
    let front_ends = cluster
        .cfg
        .front_end
        .others
        .iter()
        .map(|o| o.id)
        .chain([cluster.cfg.front_end.id])
        .count();
    let written = tessera_node::config::Config::load(Some(
        &cluster.cfg.cluster.data_dir.join("up-cluster.toml"),
    ))
    .unwrap();
    assert_eq!(
        written.front_end.others.len() + 1,
        front_ends + 1,
        "up listed the second gateway's front end for every role"
    );
}

/// The shipped balancer configurations parse (`haproxy -c`); the TLS one needs its
/// certificate files, which a test makes with `tesserad dev-cert`.
#[test]
fn the_shipped_haproxy_configurations_are_valid() {
    let haproxy =
        tessera_testkit::installed("haproxy").expect("haproxy (Debian's `haproxy` package)");
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy");
    let check = |file: &std::path::Path| {
        let out = Command::new(&haproxy)
            .arg("-c")
            .arg("-f")
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {out:?}", file.display());
    };
    check(&deploy.join("haproxy.cfg"));

    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    let made = Command::new(harness::tesserad())
        .args(["dev-cert", "--out", tls.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let pem = dir.path().join("tessera.pem");
    let mut combined = std::fs::read(tls.join("cert.pem")).unwrap();
    combined.extend(std::fs::read(tls.join("key.pem")).unwrap());
    std::fs::write(&pem, combined).unwrap();
    let text = std::fs::read_to_string(deploy.join("haproxy-tls.cfg"))
        .unwrap()
        .replace("/etc/haproxy/tessera.pem", pem.to_str().unwrap())
        .replace(
            "/etc/tessera/tls/ca.pem",
            tls.join("ca.pem").to_str().unwrap(),
        );
    let file = dir.path().join("haproxy-tls.cfg");
    std::fs::write(&file, text).unwrap();
    check(&file);
}
