//! HTTP-level behaviour with backends that misbehave on purpose: overload is shed with 503,
//! a silent cluster times out into a Server / Receiver fault, an unavailable one faults
//! without leaking its error text, a slow sender gets 408, and request ids are echoed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tessera_gateway::{router, Answer, Backend, BackendError, Config, SoapVersion};
use tessera_types::Reply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Holds every call until the test releases it.
struct Gate {
    open: Semaphore,
    calls: AtomicU64,
}

impl Backend for Gate {
    async fn submit(&self, _: tessera_types::Call) -> Result<Answer, BackendError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _permit = self.open.acquire().await;
        Ok(Answer {
            reply: Reply::schedule(vec![]),
            seq: 7,
        })
    }
    async fn status(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

/// Never answers.
struct Silent;

impl Backend for Silent {
    async fn submit(&self, _: tessera_types::Call) -> Result<Answer, BackendError> {
        std::future::pending().await
    }
    async fn status(&self) -> serde_json::Value {
        serde_json::json!({"backend": "silent"})
    }
}

/// Always unavailable, with an error text that must not reach clients.
struct Down;

impl Backend for Down {
    async fn submit(&self, _: tessera_types::Call) -> Result<Answer, BackendError> {
        Err(BackendError::Unavailable(
            "no quorum: replica 10.1.2.3:7000 unreachable".into(),
        ))
    }
    async fn status(&self) -> serde_json::Value {
        serde_json::json!({"backend": "down"})
    }
}

/// Its own deadline passed with the call ordered: no two replicas agreed in time.
/// No two replicas agreed in time; the request was ordered as this seq, if known.
struct NoAnswer(Option<u64>);

impl Backend for NoAnswer {
    async fn submit(&self, _: tessera_types::Call) -> Result<Answer, BackendError> {
        let why = "no two replicas agreed within 5000 ms; ordered at seq 41".to_owned();
        Err(match self.0 {
            Some(seq) => BackendError::Late { seq, why },
            None => BackendError::NoAnswer(why),
        })
    }
    async fn status(&self) -> serde_json::Value {
        serde_json::json!({"backend": "no answer"})
    }
}

#[tokio::test]
async fn overload_is_shed_with_503() {
    let gate = Arc::new(Gate {
        open: Semaphore::new(0),
        calls: AtomicU64::new(0),
    });
    let app = router(
        gate.clone(),
        Config {
            max_in_flight: 2,
            ..Config::default()
        },
    );
    let mut held = Vec::new();
    for _ in 0..2 {
        let app = app.clone();
        held.push(tokio::spawn(async move {
            post(&app, CT12, &[], envelope(SoapVersion::Soap12, SCHEDULE)).await
        }));
    }
    while gate.calls.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for version in [SoapVersion::Soap11, SoapVersion::Soap12] {
        let reply = post(
            &app,
            content_type(version),
            &[],
            envelope(version, SCHEDULE),
        )
        .await;
        assert_eq!(reply.status.as_u16(), 503, "{}", reply.text());
        assert_eq!(reply.headers["retry-after"], "1");
        assert!(reply.text().contains("limit of concurrent calls"));
        assert!(
            reply.text().contains(">soap:Server<") || reply.text().contains(">env:Receiver<"),
            "{}",
            reply.text()
        );
        validate(version, &reply.body);
    }
    // The WSDL and health stay available while calls are shed.
    let reply = send(
        &app,
        axum::http::Request::get("/health")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200);
    gate.open.add_permits(100);
    for call in held {
        let reply = call.await.unwrap();
        assert_eq!(reply.status.as_u16(), 200);
        assert!(reply.text().contains("<revision>7</revision>"));
    }
    assert_eq!(gate.calls.load(Ordering::SeqCst), 2);
    // Capacity is back.
    let reply = post(&app, CT11, &[], envelope(SoapVersion::Soap11, SCHEDULE)).await;
    assert_eq!(reply.status.as_u16(), 200);
}

#[tokio::test]
async fn a_silent_cluster_times_out_into_a_server_fault() {
    let app = router(
        Silent,
        Config {
            request_timeout: Duration::from_millis(100),
            ..Config::default()
        },
    );
    // A write may still take effect; a read changes nothing, whatever became of it.
    for (body, says, subcode) in [
        (ADD_SLOT, "may still take effect", ">t:Timeout<"),
        (SCHEDULE, "did not take effect", ">t:Unavailable<"),
    ] {
        for (version, code) in [
            (SoapVersion::Soap11, ">soap:Server<"),
            (SoapVersion::Soap12, ">env:Receiver<"),
        ] {
            let reply = post(&app, content_type(version), &[], envelope(version, body)).await;
            assert_eq!(reply.status.as_u16(), 500);
            let text = reply.text();
            assert!(text.contains(code), "{text}");
            assert!(text.contains(says), "{text}");
            if version == SoapVersion::Soap12 {
                assert!(text.contains(subcode), "{text}");
            }
            validate(version, &reply.body);
        }
    }
}

#[tokio::test]
async fn a_cluster_without_an_answer_says_whether_the_call_may_still_take_effect() {
    // The backend's own deadline passed (no two replicas agreed): the call may have been
    // ordered, so a write is never said not to have taken effect; known to have been ordered,
    // it will take effect.
    for (ordered, body, says) in [
        (None, ADD_SLOT, "may still take effect"),
        (None, SCHEDULE, "did not take effect"),
        (
            Some(41),
            ADD_SLOT,
            "ordered the call as number 41 but did not answer in time; the call will take effect",
        ),
        (Some(41), SCHEDULE, "did not take effect"),
    ] {
        let app = router(NoAnswer(ordered), Config::default());
        for (version, subcode) in [
            (SoapVersion::Soap11, ">soap:Server<"),
            (SoapVersion::Soap12, ">t:Timeout<"),
        ] {
            let reply = post(&app, content_type(version), &[], envelope(version, body)).await;
            assert_eq!(reply.status.as_u16(), 500);
            let text = reply.text();
            assert!(text.contains(says), "{text}");
            if body == ADD_SLOT {
                assert!(text.contains(subcode), "{text}");
            }
            assert!(
                !text.contains("seq 41"),
                "the backend's words stay in the log: {text}"
            );
            validate(version, &reply.body);
        }
    }
}

#[tokio::test]
async fn an_unavailable_cluster_faults_without_details() {
    let app = router(Down, Config::default());
    for (version, code) in [
        (SoapVersion::Soap11, ">soap:Server<"),
        (SoapVersion::Soap12, ">env:Receiver<"),
    ] {
        let reply = post(
            &app,
            content_type(version),
            &[],
            envelope(version, SCHEDULE),
        )
        .await;
        assert_eq!(reply.status.as_u16(), 500);
        let text = reply.text();
        assert!(text.contains(code), "{text}");
        assert!(!text.contains("10.1.2.3"), "{text}");
        validate(version, &reply.body);
    }
    // Invalid requests are still judged by the gateway alone.
    let bad = SCHEDULE.replace("MTLP0001", "MTLP001");
    let reply = post(&app, CT12, &[], envelope(SoapVersion::Soap12, &bad)).await;
    assert_eq!(reply.status.as_u16(), 400);
}

#[tokio::test]
async fn a_slow_sender_gets_408() {
    let server = start(Config {
        body_timeout: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /ws/reservation HTTP/1.1\r\nHost: test\r\nContent-Type: {CT11}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(server.backend.calls(), 0);
}

#[tokio::test]
async fn request_ids_are_echoed() {
    let (app, _) = app();
    let reply = post(&app, CT11, &[], envelope(SoapVersion::Soap11, SCHEDULE)).await;
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.starts_with("gw-"), "{id}");
    let reply = post(
        &app,
        CT11,
        &[("x-request-id", "client-42")],
        envelope(SoapVersion::Soap11, SCHEDULE),
    )
    .await;
    assert_eq!(reply.headers["x-request-id"], "client-42");
    // Faults too.
    let reply = post(&app, CT11, &[], "garbage").await;
    assert!(reply.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn business_outcomes_are_normal_responses() {
    let (app, backend) = app();
    let reply = post(
        &app,
        CT12,
        &[],
        envelope(
            SoapVersion::Soap12,
            &SCHEDULE.replace("MTLP0001", "MTLA0001"),
        ),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200);
    let text = reply.text();
    assert!(
        text.contains("<success>false</success><code>NOT_AUTHORIZED</code>"),
        "{text}"
    );
    assert_eq!(backend.calls(), 1);
}

#[tokio::test]
async fn keep_alive_connections_serve_many_calls() {
    let server = start(Config::default()).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    let request = format!(
        "POST /ws/reservation HTTP/1.1\r\nHost: test\r\nContent-Type: {CT11}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buffer = vec![0u8; 4096];
    for _ in 0..20 {
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("</soap:Envelope>") {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buffer[..n]);
        }
        assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    }
    assert_eq!(server.backend.calls(), 20);
}

#[tokio::test]
async fn graceful_shutdown_stops_serving() {
    let (app, _) = app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tessera_gateway::server::serve_with_shutdown(
        listener,
        app,
        async move {
            let _ = stopped.await;
        },
    ));
    let reply = raw_post(
        addr,
        CT11,
        envelope(SoapVersion::Soap11, SCHEDULE).as_bytes(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
