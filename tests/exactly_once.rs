//! Issue 15, exactly-once retries, on real processes: a call with a `wsa:MessageID`, retried
//! after its answer was lost, after a replica was replaced by state transfer, and after
//! `kill -9` of every process, gets its first answer again (same code, same revision, same
//! bytes) and takes effect once; the same id with another request is refused with a fault.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::{Options, Role, TestCluster};
use tessera_protocol::wire::ChaosAction;
use tessera_testkit::soap_client::{
    element, envelope, envelope_with_message_id as with_message_id, CallError, SoapClient,
    SOAP_PATH, WSA_NS as WSA,
};
use tessera_types::{Capacity, Request};

/// The text of `<name>` in `xml`, which must hold one.
fn text_of<'a>(xml: &'a str, name: &str) -> &'a str {
    element(xml, name).unwrap_or_else(|| panic!("no <{name}> in {xml}"))
}

/// Posts until answered (the gateway may be restarting), bounded by a deadline.
async fn post(client: &SoapClient, body: &str) -> Result<String, CallError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.post(body).await {
            Err(CallError::Io { .. }) | Err(CallError::Response(_))
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Sends `body` and hangs up without reading: the caller never learns the answer.
fn send_and_hang_up(gateway: SocketAddr, body: &str) {
    let mut s = std::net::TcpStream::connect(gateway).unwrap();
    let http = format!(
        "POST {SOAP_PATH} HTTP/1.1\r\nHost: {gateway}\r\nContent-Type: text/xml; charset=utf-8\r\n\
         SOAPAction: \"\"\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(http.as_bytes()).unwrap();
}

fn start_gateway(cluster: &mut TestCluster) -> u32 {
    let config = cluster.config_path.to_str().unwrap().to_owned();
    let mut cmd = cluster.command(&["gateway", "--config", &config]);
    cmd.stdout(Stdio::null());
    cluster.spawn_extra("gateway", cmd).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_call_takes_effect_once_and_gets_its_first_answer() {
    let mut cluster = TestCluster::start(Options {
        chaos: true,
        recovery: harness::quick_recovery(25),
        ..Options::default()
    });
    let gateway = cluster.cfg.gateway.listen;
    let mut gateway_pid = start_gateway(&mut cluster);
    let client = SoapClient::new(gateway, SOAP_PATH);
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.health().await.is_err() {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (p1, p2) = ("MTLP0001".parse().unwrap(), "MTLP0002".parse().unwrap());
    let (evening, morning) = ("MTLE101226".parse().unwrap(), "MTLM111226".parse().unwrap());
    let t = "Concerts".parse().unwrap();
    let admin = "MTLA0001".parse().unwrap();
    for e in [evening, morning] {
        let add = Request::AddReservationSlot {
            admin_id: admin,
            event_type: t,
            event_id: e,
            capacity: Capacity::new(2).unwrap(),
        };
        post(&client, &envelope(&add)).await.unwrap();
    }
    for p in [p1, p2] {
        let reserve = Request::ReserveTicket {
            participant_id: p,
            event_type: t,
            event_id: evening,
        };
        post(&client, &envelope(&reserve)).await.unwrap();
    }

    // The first exchange's answer is lost (the client hung up); its retries with the same id
    // get one answer, byte for byte, with the revision where it took effect.
    let exchange = Request::ExchangeTicket {
        participant_id: p1,
        event_type: t,
        event_id: evening,
        new_event_type: t,
        new_event_id: morning,
    };
    let x = "urn:uuid:00000000-0000-4000-8000-000000000001";
    send_and_hang_up(gateway, &with_message_id(&exchange, x));
    let first = post(&client, &with_message_id(&exchange, x)).await.unwrap();
    assert_eq!(text_of(&first, "code"), "EXCHANGED", "{first}");
    assert!(
        first.contains(&format!(
            "<wsa:RelatesTo xmlns:wsa=\"{WSA}\">{x}</wsa:RelatesTo>"
        )),
        "{first}"
    );
    let revision: u64 = text_of(&first, "revision").parse().unwrap();
    let again = post(&client, &with_message_id(&exchange, x)).await.unwrap();
    assert_eq!(again, first, "a retry gets the first answer");

    // The same id with another request is refused, and changes nothing.
    let other = Request::CancelTicket {
        participant_id: p2,
        event_type: t,
        event_id: evening,
    };
    match post(&client, &with_message_id(&other, x)).await {
        Err(CallError::Fault { status, fault }) => {
            assert_eq!(status, 500);
            assert!(
                fault.contains("already used for a different request"),
                "{fault}"
            );
        }
        other => panic!("{other:?}"),
    }

    // removeReservationSlot moves its holders: executed twice, the second would find no slot.
    let remove = Request::RemoveReservationSlot {
        admin_id: admin,
        event_type: t,
        event_id: evening,
    };
    let y = "urn:uuid:00000000-0000-4000-8000-000000000002";
    let removed = post(&client, &with_message_id(&remove, y)).await.unwrap();
    assert_eq!(text_of(&removed, "code"), "REMOVED", "{removed}");
    assert_eq!(
        post(&client, &with_message_id(&remove, y)).await.unwrap(),
        removed
    );

    // The state shows each call once: P1 exchanged into the morning, P2 moved there by the
    // removal (capacity 2: both fit), the evening slot gone.
    let schedule = |p| Request::GetEventSchedule { participant_id: p };
    let check_state = |s1: String, s2: String| {
        for s in [&s1, &s2] {
            assert_eq!(s.matches("<reservation>").count(), 1, "{s}");
            assert!(s.contains("<eventID>MTLM111226</eventID>"), "{s}");
        }
    };
    check_state(
        post(&client, &envelope(&schedule(p1))).await.unwrap(),
        post(&client, &envelope(&schedule(p2))).await.unwrap(),
    );

    // A replica replaced by state transfer (the memory replica starts empty) answers the
    // retries as the others do. Past a checkpoint first (every 25 seqs here), so that the
    // transfer installs a snapshot holding the remembered calls rather than replaying them.
    for _ in 0..40 {
        post(&client, &envelope(&schedule(p2))).await.unwrap();
    }
    cluster
        .wait_converged_at_high(Duration::from_secs(30))
        .await;
    cluster.chaos(1, ChaosAction::Crash).await;
    let _ = cluster
        .wait_replacements(1, 1, Duration::from_secs(30))
        .await;
    let status = cluster
        .wait_converged_at_high(Duration::from_secs(30))
        .await;
    assert!(
        status
            .replicas
            .iter()
            .all(|r| r.state == tessera_protocol::wire::ReplicaState::Up),
        "{status:#?}"
    );
    assert_eq!(
        post(&client, &with_message_id(&exchange, x)).await.unwrap(),
        first
    );
    // The replacement answered the retry as the others did: it took the remembered calls
    // over with the state (the digests cover them), and no answer of its was wrong.
    let status = cluster
        .wait_converged_at_high(Duration::from_secs(30))
        .await;
    assert_eq!(
        status.replicas[0].consecutive_faults,
        Some(0),
        "{status:#?}"
    );

    // kill -9 of every process, then everything restarts from what it persisted.
    tessera_testkit::cluster::signal(gateway_pid, "KILL");
    for role in Role::ALL {
        cluster.kill9(role);
    }
    for role in Role::ALL {
        cluster.restart(role);
    }
    gateway_pid = start_gateway(&mut cluster);
    assert_eq!(
        post(&client, &with_message_id(&exchange, x)).await.unwrap(),
        first,
        "after kill -9 of everything: the first answer, revision {revision}"
    );
    assert_eq!(
        post(&client, &with_message_id(&remove, y)).await.unwrap(),
        removed
    );
    check_state(
        post(&client, &envelope(&schedule(p1))).await.unwrap(),
        post(&client, &envelope(&schedule(p2))).await.unwrap(),
    );
    cluster
        .wait_converged_at_high(Duration::from_secs(30))
        .await;
    let _ = gateway_pid;
}

/// A call the cluster cannot answer in time is never said not to have taken effect when it
/// may have: here the sequencer orders it while three of the four managers are frozen, so no
/// two replicas can agree before the front end's deadline. The fault says it will take effect
/// (the front end heard the sequencer order it); it does, once, as soon as the managers run again, and its retry with the same
/// message id gets that first answer. A read in the same state says it did not take effect
/// (reads change nothing), which is true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_an_answer_in_time_may_still_take_effect_and_says_so() {
    let mut cluster = TestCluster::start(Options {
        request_timeout_ms: 1_500,
        ..Options::default()
    });
    let gateway = cluster.cfg.gateway.listen;
    start_gateway(&mut cluster);
    let client = SoapClient::new(gateway, SOAP_PATH);
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.health().await.is_err() {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let p1 = "TORP0001".parse().unwrap();
    let (event, t) = ("TORA121226".parse().unwrap(), "Theatre".parse().unwrap());
    let add = Request::AddReservationSlot {
        admin_id: "TORA0001".parse().unwrap(),
        event_type: t,
        event_id: event,
        capacity: Capacity::new(5).unwrap(),
    };
    post(&client, &envelope(&add)).await.unwrap();
    cluster
        .wait_converged_at_high(Duration::from_secs(30))
        .await;

    let frozen = [Role::Rm(2), Role::Rm(3), Role::Rm(4)];
    for role in frozen {
        cluster.pause(role);
    }
    let reserve = Request::ReserveTicket {
        participant_id: p1,
        event_type: t,
        event_id: event,
    };
    let x = "urn:uuid:00000000-0000-4000-8000-000000000003";
    let in_doubt = post(&client, &with_message_id(&reserve, x)).await;
    let schedule = Request::GetEventSchedule { participant_id: p1 };
    let read = post(&client, &envelope(&schedule)).await;
    for role in frozen {
        cluster.resume(role);
    }
    match in_doubt {
        Err(CallError::Fault { status, fault }) => {
            assert_eq!(status, 500);
            // The sequencer ordered it and said so: not "may", "will".
            assert!(fault.contains("the call will take effect"), "{fault}");
        }
        other => panic!("a write without two agreeing replies: {other:?}"),
    }
    match read {
        Err(CallError::Fault { status, fault }) => {
            assert_eq!(status, 500);
            assert!(fault.contains("did not take effect"), "{fault}");
        }
        other => panic!("a read without two agreeing replies: {other:?}"),
    }

    // It took effect without being retried: the managers apply what the sequencer ordered.
    cluster
        .wait_converged_at_high(Duration::from_secs(30))
        .await;
    let seen = post(&client, &envelope(&schedule)).await.unwrap();
    assert_eq!(seen.matches("<reservation>").count(), 1, "{seen}");
    let retried = post(&client, &with_message_id(&reserve, x)).await.unwrap();
    assert_eq!(text_of(&retried, "code"), "RESERVED", "{retried}");
    let seen = post(&client, &envelope(&schedule)).await.unwrap();
    assert_eq!(seen.matches("<reservation>").count(), 1, "once: {seen}");
}
