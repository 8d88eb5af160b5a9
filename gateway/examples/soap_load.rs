//! Closed-loop SOAP load: N keep-alive clients, each sending its next call as soon as the last
//! is answered, for a fixed time; prints calls/s and latency percentiles.
//!
//! With no URL it starts an in-process gateway over the local backend, which measures HTTP +
//! SOAP with a trivial backend: the gateway's own ceiling. Given a URL (loopback only) it
//! drives that gateway, e.g. one in front of a real cluster.
//!
//! `cargo run --release -p tessera-gateway --example soap_load -- [--clients 64] [--seconds 10] [http://127.0.0.1:8080/ws/reservation]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tessera_gateway::{router, serve, Config};
use tessera_testkit::soap_client::SoapClient;
use tessera_testkit::LocalBackend;
use tokio::net::TcpListener;

const ENVELOPE: &str = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
    xmlns:t=\"urn:tessera:reservation:v1\"><s:Body>{CALL}</s:Body></s:Envelope>";

fn call(body: &str) -> String {
    ENVELOPE.replace("{CALL}", body)
}

#[tokio::main]
async fn main() {
    let mut clients = 64usize;
    let mut seconds = 10u64;
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--clients" => clients = args.next().unwrap().parse().unwrap(),
            "--seconds" => seconds = args.next().unwrap().parse().unwrap(),
            other => url = Some(other.to_owned()),
        }
    }
    let (addr, path) = match url {
        Some(url) => {
            let rest = url.strip_prefix("http://").expect("http:// URL");
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let addr: SocketAddr = host.parse().expect("IP:port");
            assert!(
                addr.ip().is_loopback(),
                "load is only sent to loopback addresses"
            );
            (addr, format!("/{path}"))
        }
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(serve(
                listener,
                router(LocalBackend::new(), Config::default()),
            ));
            (addr, "/ws/reservation".to_owned())
        }
    };

    // One slot per client with room for it, so every client's reserve/cancel pair succeeds.
    let setup = call(
        "<t:addReservationSlot><t:adminID>MTLA0001</t:adminID><t:eventType>Concerts</t:eventType>\
         <t:eventID>MTLE101226</t:eventID><t:capacity>100000</t:capacity></t:addReservationSlot>",
    );
    let client = SoapClient::new(addr, &path);
    client.post(&setup).await.expect("the set-up call succeeds");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let participant = format!("MTLP{:04}", i % 10_000);
            let reserve = call(&format!(
                "<t:reserveTicket><t:participantID>{participant}</t:participantID>\
                 <t:eventType>Concerts</t:eventType><t:eventID>MTLE101226</t:eventID>\
                 </t:reserveTicket>"
            ));
            let cancel = reserve.replace("reserveTicket", "cancelTicket");
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                let body = if n.is_multiple_of(2) {
                    &reserve
                } else {
                    &cancel
                };
                let started = Instant::now();
                client.post(body).await.expect("every call succeeds");
                latencies.push(started.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{clients} clients, {:.1} s: {} calls, {:.0} calls/s, latency p50 {:?} p99 {:?} max {:?}",
        elapsed,
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap()
    );
}
