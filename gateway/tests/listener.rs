//! The listener against hostile clients, over real sockets: slowloris headers, idle
//! keep-alive connections, the per-address connection cap, trickled bodies while other clients
//! keep being served, a request with both Content-Length and Transfer-Encoding (smuggling),
//! a huge number of HTTP header fields and of SOAP header blocks, and thousands of namespace
//! declarations spread over sibling elements. Client addresses are distinct loopback
//! addresses (127.0.0.0/8).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use tessera_gateway::server::ServeOptions;
use tessera_gateway::{Config, SoapVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn short_headers() -> ServeOptions {
    ServeOptions {
        header_read_timeout: Duration::from_secs(1),
        ..ServeOptions::default()
    }
}

/// Reads until the server closes the connection or `within` passes; returns what was read
/// and whether it was closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// A normal call from `from`, which must succeed.
async fn served(server: &Server, from: &str) {
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    let reply = raw_from(
        from,
        server.addr,
        &post_head(CT11, body.len(), ""),
        body.as_bytes(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
}

#[tokio::test]
async fn slowloris_headers_are_cut_off_while_others_are_served() {
    let server = start_with(Config::default(), short_headers(), "127.0.0.1:0").await;
    let mut slow = connect_from("127.0.0.21", server.addr).await;
    slow.write_all(b"POST /ws/reservation HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    // One header line every 200 ms, for at most 6 s: never a complete head.
    for i in 0..30 {
        served(&server, "127.0.0.22").await;
        if slow
            .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let (_, eof) = read_until_closed(&mut slow, Duration::from_millis(200)).await;
        if eof {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickled header was still open after 6 s");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "closed only after {took:?}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let server = start_with(Config::default(), short_headers(), "127.0.0.1:0").await;
    let mut stream = connect_from("127.0.0.23", server.addr).await;
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    let request = format!(
        "POST /ws/reservation HTTP/1.1\r\nHost: x\r\nContent-Type: {CT11}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("</soap:Envelope>") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    let idle = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "an idle keep-alive connection stayed open");
    assert!(
        idle.elapsed() >= Duration::from_millis(900),
        "{:?}",
        idle.elapsed()
    );
}

#[tokio::test]
async fn connections_are_capped_per_client_address() {
    let options = ServeOptions {
        max_connections_per_address: 3,
        ..ServeOptions::default()
    };
    let server = start_with(Config::default(), options, "127.0.0.1:0").await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.31", server.addr).await);
    }
    // The fourth from the same address is closed at once, unanswered.
    let mut fourth = connect_from("127.0.0.31", server.addr).await;
    let _ = fourth
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (got, closed) = read_until_closed(&mut fourth, Duration::from_secs(5)).await;
    assert!(
        closed && got.is_empty(),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // Other addresses are served meanwhile.
    served(&server, "127.0.0.32").await;
    // Once one closes, the address may connect again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body = envelope(SoapVersion::Soap11, SCHEDULE);
        let mut stream = connect_from("127.0.0.31", server.addr).await;
        let head = post_head(CT11, body.len(), "");
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let (got, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        if String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn trickled_bodies_do_not_starve_other_callers() {
    let config = Config {
        max_in_flight: 4,
        body_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let server = start_with(config, ServeOptions::default(), "127.0.0.1:0").await;
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    // 200 clients send a whole header and ten bytes of their body, then stall.
    let mut trickling = Vec::new();
    for _ in 0..200 {
        let mut stream = connect_from("127.0.0.41", server.addr).await;
        let head = post_head(CT11, body.len(), "");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body.as_bytes()[..10]).await.unwrap();
        trickling.push(stream);
    }
    // Everyone else is still served: the stalled bodies hold no call slots.
    for _ in 0..20 {
        served(&server, "127.0.0.42").await;
    }
    // The trickled ones get 408 once their body deadline passes.
    for stream in trickling.iter_mut().take(5) {
        let (got, _) = read_until_closed(stream, Duration::from_secs(10)).await;
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert_eq!(server.backend.calls(), 20);
}

#[tokio::test]
async fn content_length_with_transfer_encoding_cannot_smuggle_a_request() {
    let server = start(Config::default()).await;
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    // A front end reading Content-Length would see the rest as a second request.
    let smuggled = "POST /ws/reservation HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 0\r\n\r\n";
    let request = format!(
        "POST /ws/reservation HTTP/1.1\r\nHost: x\r\nContent-Type: {CT11}\r\nContent-Length: 5\r\n\
         Transfer-Encoding: chunked\r\n\r\n{chunked}{smuggled}"
    );
    let mut stream = connect_from("127.0.0.51", server.addr).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (got, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(
        closed,
        "the connection stayed open after an ambiguous request"
    );
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text}");
    assert!(server.backend.calls() <= 1);
}

#[tokio::test]
async fn a_huge_number_of_http_header_fields_is_refused() {
    let server = start(Config::default()).await;
    let fields: String = (0..2000).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    let head = post_head(CT11, body.len(), &fields);
    let mut stream = connect_from("127.0.0.52", server.addr).await;
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let (got, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(closed, "still open");
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    assert_eq!(server.backend.calls(), 0);
    served(&server, "127.0.0.52").await;
}

#[tokio::test]
async fn a_huge_number_of_soap_header_blocks_is_a_limit_fault() {
    let server = start(Config::default()).await;
    let body = format!(
        "<s:Envelope xmlns:s=\"{S11}\" xmlns:t=\"urn:tessera:reservation:v1\" xmlns:a=\"urn:a\">\
         <s:Header>{}</s:Header><s:Body>{SCHEDULE}</s:Body></s:Envelope>",
        "<a:b/>".repeat(10_000)
    );
    let started = Instant::now();
    let reply = raw_post(server.addr, CT11, body.as_bytes()).await;
    assert_eq!(reply.status.as_u16(), 500, "{}", reply.text());
    assert!(
        reply.text().contains("too many header blocks"),
        "{}",
        reply.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    validate(SoapVersion::Soap11, &reply.body);
    assert_eq!(server.backend.calls(), 0);
}

#[tokio::test]
async fn thousands_of_namespace_declarations_over_siblings_are_read_in_bounded_time() {
    let server = start(Config::default()).await;
    let siblings: String = (0..2000)
        .map(|i| format!("<p:x xmlns:p=\"urn:p{i}\"/>"))
        .collect();
    let body = format!(
        "<s:Envelope xmlns:s=\"{S11}\" xmlns:t=\"urn:tessera:reservation:v1\">\
         <s:Header><h:block xmlns:h=\"urn:h\">{siblings}</h:block></s:Header>\
         <s:Body>{SCHEDULE}</s:Body></s:Envelope>"
    );
    assert!(body.len() < 64 * 1024);
    let started = Instant::now();
    let reply = raw_post(server.addr, CT11, body.as_bytes()).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.backend.calls(), 1);
}
