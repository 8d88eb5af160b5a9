//! Authentication and authorization over the real listener, with TLS: HTTP Basic and
//! WS-Security UsernameTokens on both SOAP versions, grants per ID, every refusal (401 with
//! the Basic challenge and a `wsse:` fault code, 403 naming the field) leaving the backend
//! untouched, what needs no credentials, throttling of repeated failures, and authentication
//! off ignoring `wsse:Security` even when it is marked mustUnderstand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use common::*;
use tessera_gateway::auth::{created, hash_password, Authenticator, Grant, User, Users};
use tessera_gateway::metrics::Metrics;
use tessera_gateway::server::ServeOptions;
use tessera_gateway::{Config, SoapVersion};

const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const TEXT: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";
const DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";

fn users() -> Users {
    let mut users = Users::default();
    for (name, password, grants) in [
        ("alice", "alice-pw", vec![Grant::Id("MTLP0001".into())]),
        ("admin", "admin-pw", vec![Grant::Id("MTLA0001".into())]),
        ("svc", "svc-pw", vec![Grant::Any]),
        ("ops", "ops-pw", vec![Grant::Operator]),
    ] {
        users.insert(User {
            name: name.into(),
            hash: hash_password(password).unwrap(),
            grants,
        });
    }
    users
}

struct Gateway {
    server: Server,
    ca: Vec<u8>,
    _dir: tempfile::TempDir,
}

/// A gateway with authentication required; TLS when `tls`.
async fn gateway(tls: bool) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(dir.path());
    let config = Config {
        auth: Some(Arc::new(Authenticator::new(users()).unwrap())),
        metrics: Some(Arc::new(Metrics::new(prometheus::Registry::new()).unwrap())),
        ..Config::default()
    };
    let options = ServeOptions {
        tls: tls.then(|| tessera_gateway::server::tls::load(&cert, &key).unwrap()),
        ..ServeOptions::default()
    };
    Gateway {
        server: start_with(config, options, "127.0.0.1:0").await,
        ca,
        _dir: dir,
    }
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {encoded}\r\n")
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A `wsse:Security` header with a UsernameToken.
fn token(
    version: SoapVersion,
    user: &str,
    password: &str,
    kind: &str,
    nonce: Option<&str>,
    created: Option<i64>,
) -> String {
    let mu = match version {
        SoapVersion::Soap11 => "1",
        SoapVersion::Soap12 => "true",
    };
    let nonce = nonce
        .map(|n| format!("<wsse:Nonce>{n}</wsse:Nonce>"))
        .unwrap_or_default();
    let created = created
        .map(|c| format!("<wsu:Created>{}</wsu:Created>", created::format_utc(c)))
        .unwrap_or_default();
    format!(
        "<wsse:Security xmlns:wsse=\"{WSSE}\" xmlns:wsu=\"{WSU}\" s:mustUnderstand=\"{mu}\">\
         <wsse:UsernameToken><wsse:Username>{user}</wsse:Username>\
         <wsse:Password Type=\"{kind}\">{password}</wsse:Password>{nonce}{created}\
         </wsse:UsernameToken></wsse:Security>"
    )
}

/// An envelope of `version` with `header` and `payload`.
fn envelope_with(version: SoapVersion, header: &str, payload: &str) -> String {
    let ns = match version {
        SoapVersion::Soap11 => S11,
        SoapVersion::Soap12 => S12,
    };
    format!(
        "<s:Envelope xmlns:s=\"{ns}\" xmlns:t=\"urn:tessera:reservation:v1\"><s:Header>{header}\
         </s:Header><s:Body>{payload}</s:Body></s:Envelope>"
    )
}

impl Gateway {
    async fn call(&self, version: SoapVersion, extra: &str, body: &str) -> HttpReply {
        let head = post_head(content_type(version), body.len(), extra);
        raw_tls(self.server.addr, &self.ca, &head, body.as_bytes()).await
    }

    async fn get(&self, path: &str, extra: &str) -> HttpReply {
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n");
        raw_tls(self.server.addr, &self.ca, &head, b"").await
    }
}

fn schedule_of(participant: &str) -> String {
    SCHEDULE.replace("MTLP0001", participant)
}

#[tokio::test]
async fn basic_and_username_tokens_over_tls_on_both_versions() {
    let gw = gateway(true).await;
    for version in [SoapVersion::Soap11, SoapVersion::Soap12] {
        // An admin may act as their own admin ID.
        let reply = gw
            .call(
                version,
                &basic("admin", "admin-pw"),
                &envelope(version, ADD_SLOT),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
        validate(version, &reply.body);
        // zeep's form: Created with +00:00 (format_utc writes Z; both are read), a nonce,
        // mustUnderstand on the header.
        let header = token(
            version,
            "alice",
            "alice-pw",
            TEXT,
            Some(&format!("bm9uY2Ut{}", version.content_type().len())),
            Some(now()),
        );
        let reply = gw
            .call(version, "", &envelope_with(version, &header, SCHEDULE))
            .await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
        assert!(reply.text().contains("<code>OK</code>"), "{}", reply.text());
        // A token without Nonce and Created (gSOAP's plain form), and a service account.
        let header = token(version, "svc", "svc-pw", TEXT, None, None);
        let reply = gw
            .call(
                version,
                "",
                &envelope_with(version, &header, &schedule_of("VANP0042")),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    }
    assert_eq!(gw.server.backend.calls(), 6);
}

/// Asserts a 401 with the challenge and the WS-Security fault code, and that the reply does
/// not contain `secret`.
fn assert_401(reply: &HttpReply, version: SoapVersion, code: &str, reason: &str, secret: &str) {
    let text = reply.text();
    assert_eq!(reply.status.as_u16(), 401, "{text}");
    assert_eq!(reply.headers["www-authenticate"], "Basic realm=\"tessera\"");
    match version {
        SoapVersion::Soap11 => assert!(
            text.contains(&format!(
                "<faultcode xmlns:wsse=\"{WSSE}\">wsse:{code}</faultcode>"
            )),
            "{text}"
        ),
        SoapVersion::Soap12 => assert!(
            text.contains("<env:Value>env:Sender</env:Value>")
                && text.contains(&format!(
                    "<env:Subcode><env:Value xmlns:wsse=\"{WSSE}\">wsse:{code}</env:Value>"
                )),
            "{text}"
        ),
    }
    assert!(text.contains(reason), "{text}");
    assert!(!text.contains(secret), "{text}");
    validate(version, &reply.body);
}

#[tokio::test]
async fn every_authentication_failure_is_a_401_and_changes_nothing() {
    for version in [SoapVersion::Soap11, SoapVersion::Soap12] {
        // A gateway per version: the failures of one would throttle the other's client.
        let gw = gateway(true).await;
        let call = envelope(version, SCHEDULE);
        let reply = gw.call(version, "", &call).await;
        assert_401(
            &reply,
            version,
            "FailedAuthentication",
            "Authentication required",
            "no-secret-sent",
        );
        let reply = gw.call(version, &basic("alice", "wrong-pw"), &call).await;
        assert_401(
            &reply,
            version,
            "FailedAuthentication",
            "wrong password",
            "wrong-pw",
        );
        let reply = gw.call(version, &basic("mallory", "alice-pw"), &call).await;
        assert_401(
            &reply,
            version,
            "FailedAuthentication",
            "wrong password",
            "alice-pw",
        );
        let reply = gw
            .call(version, "Authorization: Basic !!!\r\n", &call)
            .await;
        assert_401(&reply, version, "FailedAuthentication", "not base64", "!!!");

        let with = |header: String| envelope_with(version, &header, SCHEDULE);
        let reply = gw
            .call(
                version,
                "",
                &with(token(version, "alice", "bad-pw", TEXT, None, None)),
            )
            .await;
        assert_401(
            &reply,
            version,
            "FailedAuthentication",
            "wrong password",
            "bad-pw",
        );
        let stale = token(version, "alice", "alice-pw", TEXT, None, Some(now() - 600));
        let reply = gw.call(version, "", &with(stale)).await;
        assert_401(
            &reply,
            version,
            "FailedAuthentication",
            "within 5 minutes",
            "alice-pw",
        );
        let future = token(version, "alice", "alice-pw", TEXT, None, Some(now() + 600));
        let reply = gw.call(version, "", &with(future)).await;
        assert_401(
            &reply,
            version,
            "FailedAuthentication",
            "within 5 minutes",
            "alice-pw",
        );
        let digest = token(
            version,
            "alice",
            "ZGlnZXN0",
            DIGEST,
            Some("bm9uY2U="),
            Some(now()),
        );
        let reply = gw.call(version, "", &with(digest)).await;
        assert_401(
            &reply,
            version,
            "UnsupportedSecurityToken",
            "only",
            "ZGlnZXN0",
        );
        assert!(
            reply.text().contains("PasswordText UsernameToken over TLS"),
            "{}",
            reply.text()
        );

        // The same nonce twice: the second is a replay, even with the right password.
        let nonce = format!("cmVwbGF5LXt7{}", version.content_type().len());
        let first = token(
            version,
            "alice",
            "alice-pw",
            TEXT,
            Some(&nonce),
            Some(now()),
        );
        let reply = gw.call(version, "", &with(first.clone())).await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
        let reply = gw.call(version, "", &with(first)).await;
        assert_401(
            &reply,
            version,
            "FailedAuthentication",
            "already used",
            "alice-pw",
        );
        // Only the first use of the nonce reached the backend.
        assert_eq!(gw.server.backend.calls(), 1);
    }
}

#[tokio::test]
async fn acting_as_an_id_not_granted_is_a_403_naming_the_field() {
    let gw = gateway(true).await;
    for version in [SoapVersion::Soap11, SoapVersion::Soap12] {
        let as_other = envelope(version, &schedule_of("MTLP0002"));
        let reply = gw
            .call(version, &basic("alice", "alice-pw"), &as_other)
            .await;
        let text = reply.text();
        assert_eq!(reply.status.as_u16(), 403, "{text}");
        assert!(
            text.contains("not allowed to act as this participantID"),
            "{text}"
        );
        if version == SoapVersion::Soap12 {
            assert!(
                text.contains("<env:Value>env:Sender</env:Value>")
                    && text.contains(">t:Forbidden</env:Value>"),
                "{text}"
            );
        } else {
            assert!(
                text.contains("<faultcode>soap:Client</faultcode>"),
                "{text}"
            );
        }
        assert!(!reply.headers.contains_key("www-authenticate"));
        validate(version, &reply.body);
        // An admin field too; and the operator grant is no ID grant.
        let reply = gw
            .call(
                version,
                &basic("alice", "alice-pw"),
                &envelope(version, ADD_SLOT),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 403);
        assert!(reply.text().contains("this adminID"), "{}", reply.text());
        let reply = gw
            .call(
                version,
                &basic("ops", "ops-pw"),
                &envelope(version, SCHEDULE),
            )
            .await;
        assert_eq!(reply.status.as_u16(), 403);
    }
    assert_eq!(gw.server.backend.calls(), 0);
}

#[tokio::test]
async fn wsdl_and_health_need_no_credentials_and_status_needs_the_operator_grant() {
    let gw = gateway(true).await;
    let reply = gw.get("/ws/reservation?wsdl", "").await;
    assert_eq!(reply.status.as_u16(), 200);
    assert!(
        reply.text().contains("wsdl:definitions"),
        "{}",
        reply.text()
    );
    let reply = gw.get("/health", "").await;
    assert_eq!(reply.status.as_u16(), 200);
    let reply = gw.get("/status", "").await;
    assert_eq!(reply.status.as_u16(), 401);
    assert_eq!(reply.headers["www-authenticate"], "Basic realm=\"tessera\"");
    let reply = gw.get("/status", &basic("alice", "alice-pw")).await;
    assert_eq!(reply.status.as_u16(), 403);
    let reply = gw.get("/status", &basic("ops", "ops-pw")).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    assert!(
        reply.text().contains("\"backend\":\"local\""),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn metrics_and_the_dashboard_need_the_operator_grant_and_refusals_are_counted() {
    let gw = gateway(true).await;
    for path in [
        "/metrics",
        "/dashboard",
        "/dashboard/app.js",
        "/dashboard/style.css",
        "/dashboard/state",
    ] {
        let reply = gw.get(path, "").await;
        assert_eq!(reply.status.as_u16(), 401, "{path}");
        assert_eq!(reply.headers["www-authenticate"], "Basic realm=\"tessera\"");
        let reply = gw.get(path, &basic("alice", "alice-pw")).await;
        assert_eq!(reply.status.as_u16(), 403, "{path}");
        let reply = gw.get(path, &basic("ops", "ops-pw")).await;
        assert_eq!(reply.status.as_u16(), 200, "{path}: {}", reply.text());
    }
    let body = br#"{"replica": 2, "action": "byzantine"}"#;
    let chaos = format!(
        "POST /dashboard/chaos HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        basic("alice", "alice-pw")
    );
    let reply = raw_tls(gw.server.addr, &gw.ca, &chaos, body).await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.text());
    let reply = gw.get("/metrics", &basic("ops", "ops-pw")).await;
    let text = reply.text();
    assert!(
        text.contains("tessera_gateway_auth_failures_total{reason=\"missing\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("tessera_gateway_auth_failures_total{reason=\"forbidden\"} 6"),
        "{text}"
    );
    assert_eq!(gw.server.backend.calls(), 0);
}

#[tokio::test]
async fn the_tls_listener_speaks_only_tls() {
    let gw = gateway(true).await;
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    let mut stream = tokio::net::TcpStream::connect(gw.server.addr)
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = post_head(CT11, body.len(), &basic("alice", "alice-pw"));
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body.as_bytes()).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    assert!(
        !String::from_utf8_lossy(&response).contains("HTTP/1.1 200"),
        "plain HTTP was answered"
    );
    assert_eq!(gw.server.backend.calls(), 0);
    // A client that does not trust the CA cannot connect.
    let other = test_pki(gw._dir.path()).0;
    assert!(tls_connect(gw.server.addr, &other).await.is_err());
}

#[tokio::test]
async fn failures_are_throttled_per_address_and_user_without_locking_out_a_known_address() {
    // Plain HTTP on loopback (allowed: passwords do not leave the machine); each client
    // address is its own loopback address.
    let gw = gateway(false).await;
    let addr = gw.server.addr;
    let call = envelope(SoapVersion::Soap11, SCHEDULE);
    let head = |extra: &str| post_head(CT11, call.len(), extra);
    // Alice proves her password from her usual address.
    let reply = raw_from(
        "127.0.0.2",
        addr,
        &head(&basic("alice", "alice-pw")),
        call.as_bytes(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    // An attacker guesses from 127.0.0.3.
    let mut throttled = None;
    for i in 0..20 {
        let reply = raw_from(
            "127.0.0.3",
            addr,
            &head(&basic("alice", &format!("guess-{i}"))),
            call.as_bytes(),
        )
        .await;
        assert_eq!(reply.status.as_u16(), 401);
        if reply.text().contains("too many failed attempts") {
            throttled = Some((i, reply));
            break;
        }
    }
    let (attempt, reply) = throttled.expect("guessing was never slowed down");
    assert!(attempt <= 6, "throttled only after {attempt} guesses");
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Even the right password is refused from the attacker's address while it is locked...
    let reply = raw_from(
        "127.0.0.3",
        addr,
        &head(&basic("alice", "alice-pw")),
        call.as_bytes(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 401);
    // ...and from a new address for the attacked user name...
    let reply = raw_from(
        "127.0.0.4",
        addr,
        &head(&basic("alice", "alice-pw")),
        call.as_bytes(),
    )
    .await;
    assert!(
        reply.text().contains("too many failed attempts"),
        "{}",
        reply.text()
    );
    // ...but alice's own address still works, and other users are not affected.
    let reply = raw_from(
        "127.0.0.2",
        addr,
        &head(&basic("alice", "alice-pw")),
        call.as_bytes(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    let other = envelope(SoapVersion::Soap11, &schedule_of("VANP0001"));
    let reply = raw_from(
        "127.0.0.4",
        addr,
        &post_head(CT11, other.len(), &basic("svc", "svc-pw")),
        other.as_bytes(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
}

#[tokio::test]
async fn with_authentication_off_ws_security_is_accepted_and_ignored() {
    let server = start(Config::default()).await;
    for version in [SoapVersion::Soap11, SoapVersion::Soap12] {
        // Marked mustUnderstand, with a password nobody checks: never a MustUnderstand fault.
        let header = token(
            version,
            "anyone",
            "whatever",
            TEXT,
            Some("bm9uY2U="),
            Some(now()),
        );
        let body = envelope_with(version, &header, SCHEDULE);
        let reply = raw_post(server.addr, content_type(version), body.as_bytes()).await;
        assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
        validate(version, &reply.body);
    }
    assert_eq!(server.backend.calls(), 2);
}
