//! Hostile input against a real server on a loopback port: each attack gets the right fault
//! or HTTP status, nothing reaches the backend, no fault quotes the input, and the server
//! answers a valid call afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tessera_gateway::{Config, SoapVersion};

/// A string placed in attacks: no response may contain it.
const MARKER: &str = "ECHOMARKER";

/// What an attack must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A SOAP fault with this HTTP status and this fault code text (`soap:Client`,
    /// `env:Sender`, ...) in the version of the request.
    Fault(u16, &'static str),
    /// A plain HTTP status.
    Status(u16),
}

struct Attack {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    expect: Expect,
}

fn billion_laughs() -> String {
    let mut dtd = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push(']');
    dtd.push('>');
    envelope(
        SoapVersion::Soap11,
        "<t:getEventSchedule><t:participantID>&lol9;</t:participantID></t:getEventSchedule>",
    )
    .replace("<s:Envelope", &format!("{dtd}<s:Envelope"))
}

fn attacks(version: SoapVersion) -> Vec<Attack> {
    let ct = content_type(version);
    let (client, server_status) = match version {
        SoapVersion::Soap11 => (Expect::Fault(500, "soap:Client"), 500),
        SoapVersion::Soap12 => (Expect::Fault(400, "env:Sender"), 500),
    };
    let mismatch = match version {
        SoapVersion::Soap11 => Expect::Fault(server_status, "soap:VersionMismatch"),
        SoapVersion::Soap12 => Expect::Fault(server_status, "env:VersionMismatch"),
    };
    let env = |payload: &str| envelope(version, payload);
    let to_version = |s: String| match version {
        SoapVersion::Soap11 => s,
        SoapVersion::Soap12 => s.replace(S11, S12),
    };
    let schedule_with = |participant: &str| {
        env(&format!(
            "<t:getEventSchedule><t:participantID>{participant}</t:participantID>\
             </t:getEventSchedule>"
        ))
    };
    // Opening tags only: 10,000 closed pairs would exceed the default 64 KiB body limit, and
    // the opening tags are what a parser's stack grows on. `deep_nesting_when_the_body_limit_
    // allows_it` sends the closed form.
    let deep = "<t:x>".repeat(10_000);
    let valid = env(SCHEDULE);
    vec![
        Attack {
            name: "billion laughs",
            content_type: ct,
            body: to_version(billion_laughs()).into(),
            expect: client,
        },
        Attack {
            name: "external entity",
            content_type: ct,
            body: to_version(format!(
                "<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
                schedule_with("&xxe;")
            ))
            .into(),
            expect: client,
        },
        Attack {
            name: "parameter entity fetching a remote DTD",
            content_type: ct,
            body: format!(
                "<!DOCTYPE x [<!ENTITY % remote SYSTEM \"http://127.0.0.1:9/{MARKER}.dtd\">%remote;]>{valid}"
            )
            .into(),
            expect: client,
        },
        Attack {
            name: "plain DOCTYPE",
            content_type: ct,
            body: format!("<!DOCTYPE Envelope>{valid}").into(),
            expect: client,
        },
        Attack {
            name: "undefined entity without DTD",
            content_type: ct,
            body: schedule_with(&format!("&{MARKER};")).into(),
            expect: client,
        },
        Attack {
            name: "processing instruction",
            content_type: ct,
            body: format!("<?{MARKER} run?>{valid}").into(),
            expect: client,
        },
        Attack {
            name: "10,000-deep nesting in the Body",
            content_type: ct,
            body: env(&deep).into(),
            expect: client,
        },
        Attack {
            name: "10,000-deep nesting in a header",
            content_type: ct,
            body: valid
                .replace(
                    "<s:Body>",
                    &format!("<s:Header>{}</s:Header><s:Body>", deep.replace("t:x", "t:h")),
                )
                .into(),
            expect: client,
        },
        Attack {
            name: "truncated XML",
            content_type: ct,
            body: valid[..valid.len() / 2].into(),
            expect: client,
        },
        Attack {
            name: "mismatched end tag",
            content_type: ct,
            body: valid.replace("</t:getEventSchedule>", "</t:getEventSchedul>").into(),
            expect: client,
        },
        Attack {
            name: "wrong envelope namespace",
            content_type: ct,
            body: valid
                .replace(S11, "http://example.com/soap")
                .replace(S12, "http://example.com/soap")
                .into(),
            expect: mismatch,
        },
        Attack {
            name: "SOAP 1.1 and 1.2 mixed up",
            content_type: ct,
            body: match version {
                SoapVersion::Soap11 => valid.replace(S11, S12),
                SoapVersion::Soap12 => valid.replace(S12, S11),
            }
            .into(),
            // Answered in the envelope's version (the other one), so check the status only.
            expect: Expect::Status(500),
        },
        Attack {
            name: "two Body children",
            content_type: ct,
            body: env(&format!("{SCHEDULE}{SCHEDULE}")).into(),
            expect: client,
        },
        Attack {
            name: "two Bodies",
            content_type: ct,
            body: valid
                .replace("</s:Body>", &format!("</s:Body><s:Body>{SCHEDULE}</s:Body>"))
                .into(),
            expect: client,
        },
        Attack {
            name: "second root element",
            content_type: ct,
            body: format!("{valid}<{MARKER}/>").into(),
            expect: client,
        },
        Attack {
            name: "binary garbage",
            content_type: ct,
            body: (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            expect: client,
        },
        Attack {
            name: "invalid UTF-8 inside a value",
            content_type: ct,
            body: {
                let mut b = schedule_with("MTLP000X").into_bytes();
                let at = b.iter().position(|&c| c == b'X').unwrap();
                b[at] = 0xff;
                b
            },
            expect: client,
        },
        Attack {
            name: "script in an argument",
            content_type: ct,
            body: schedule_with(&format!("&lt;script&gt;{MARKER}&lt;/script&gt;")).into(),
            expect: client,
        },
        Attack {
            name: "unknown operation named like markup",
            content_type: ct,
            body: env(&format!("<t:{MARKER}/>")).into(),
            expect: client,
        },
        Attack {
            name: "thousands of attributes",
            content_type: ct,
            body: valid
                .replace(
                    "<s:Body>",
                    &format!(
                        "<s:Body {}>",
                        (0..2000)
                            .map(|i| format!("a{i}=\"{i}\""))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                )
                .into(),
            expect: client,
        },
        Attack {
            name: "empty body",
            content_type: ct,
            body: Vec::new(),
            expect: client,
        },
        Attack {
            name: "wrong content type",
            content_type: "application/json",
            body: valid.clone().into(),
            expect: Expect::Status(415),
        },
        Attack {
            name: "non-UTF-8 charset",
            content_type: match version {
                SoapVersion::Soap11 => "text/xml; charset=iso-8859-1",
                SoapVersion::Soap12 => "application/soap+xml; charset=latin1",
            },
            body: valid.clone().into(),
            expect: Expect::Status(415),
        },
    ]
}

async fn assert_still_serving(server: &Server, version: SoapVersion) {
    let reply = raw_post(
        server.addr,
        content_type(version),
        envelope(version, SCHEDULE).as_bytes(),
    )
    .await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    assert!(reply.text().contains("<code>OK</code>"));
}

async fn run(version: SoapVersion) {
    let server = start(Config::default()).await;
    for (served, attack) in (0u64..).zip(attacks(version)) {
        let reply = raw_post(server.addr, attack.content_type, &attack.body).await;
        let text = reply.text();
        match attack.expect {
            Expect::Fault(status, code) => {
                assert_eq!(reply.status.as_u16(), status, "{}: {text}", attack.name);
                assert_eq!(
                    reply.content_type(),
                    content_type(version),
                    "{}",
                    attack.name
                );
                assert!(
                    text.contains(&format!(">{code}<")),
                    "{}: expected {code}: {text}",
                    attack.name
                );
                validate(version, &reply.body);
            }
            Expect::Status(status) => {
                assert_eq!(reply.status.as_u16(), status, "{}: {text}", attack.name)
            }
        }
        assert!(
            !text.contains(MARKER),
            "{} echoed its input: {text}",
            attack.name
        );
        assert!(
            !text.contains("lol"),
            "{} echoed its input: {text}",
            attack.name
        );
        assert!(
            !text.contains("passwd"),
            "{} echoed its input: {text}",
            attack.name
        );
        assert_eq!(
            server.backend.calls(),
            served,
            "{} reached the backend",
            attack.name
        );
        assert_still_serving(&server, version).await;
    }
}

#[tokio::test]
async fn soap11_attacks() {
    run(SoapVersion::Soap11).await;
}

#[tokio::test]
async fn soap12_attacks() {
    run(SoapVersion::Soap12).await;
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let server = start(Config::default()).await;
    let padding = format!("<!--{}-->", "x".repeat(100 * 1024));
    for version in [SoapVersion::Soap11, SoapVersion::Soap12] {
        let body = format!("{padding}{}", envelope(version, SCHEDULE));
        // Declared too large: refused before reading.
        let reply = raw_post(server.addr, content_type(version), body.as_bytes()).await;
        assert_eq!(reply.status.as_u16(), 413, "{}", reply.text());
        validate(version, &reply.body);
        // Chunked, so the size is only known while reading.
        let mut chunked = Vec::new();
        for chunk in body.as_bytes().chunks(8192) {
            chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            chunked.extend_from_slice(chunk);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let head = format!(
            "POST /ws/reservation HTTP/1.1\r\nHost: test\r\nContent-Type: {}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            content_type(version)
        );
        let reply = raw(server.addr, &head, &chunked).await;
        assert_eq!(reply.status.as_u16(), 413, "{}", reply.text());
        validate(version, &reply.body);
        assert_still_serving(&server, version).await;
    }
    assert_eq!(server.backend.calls(), 2);
    // Just under the limit is fine.
    let body = envelope(SoapVersion::Soap11, SCHEDULE);
    let fill = 64 * 1024 - body.len() - 7;
    let body = format!("<!--{}-->{body}", "x".repeat(fill));
    assert_eq!(body.len(), 64 * 1024);
    let reply = raw_post(server.addr, CT11, body.as_bytes()).await;
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
}

#[tokio::test]
async fn deep_nesting_when_the_body_limit_allows_it() {
    let mut config = Config::default();
    config.limits.max_body_bytes = 1 << 20;
    let server = start(config).await;
    let deep = format!("{}{}", "<h:x>".repeat(10_000), "</h:x>".repeat(10_000));
    for version in [SoapVersion::Soap11, SoapVersion::Soap12] {
        let sender = if version == SoapVersion::Soap11 {
            500
        } else {
            400
        };
        // In a header block, where any content is allowed, the depth limit answers.
        let in_header = envelope(version, SCHEDULE).replace(
            "<s:Body>",
            &format!("<s:Header><h:x xmlns:h=\"urn:h\">{deep}</h:x></s:Header><s:Body>"),
        );
        let reply = raw_post(server.addr, content_type(version), in_header.as_bytes()).await;
        assert_eq!(reply.status.as_u16(), sender);
        assert!(
            reply.text().contains("elements are nested too deeply"),
            "{}",
            reply.text()
        );
        validate(version, &reply.body);
        // In the Body the shape of a call is refused long before the limit.
        let in_body = envelope(
            version,
            &format!(
                "<t:getEventSchedule>{}</t:getEventSchedule>",
                deep.replace("h:x", "t:x")
            ),
        );
        let reply = raw_post(server.addr, content_type(version), in_body.as_bytes()).await;
        assert_eq!(reply.status.as_u16(), sender);
        assert!(reply.text().contains("InvalidArgument") || reply.text().contains("soap:Client"));
        validate(version, &reply.body);
    }
    assert_eq!(server.backend.calls(), 0);
    assert_still_serving(&server, SoapVersion::Soap12).await;
}

#[tokio::test]
async fn get_on_the_endpoint_is_405() {
    let server = start(Config::default()).await;
    let reply = raw(
        server.addr,
        "GET /ws/reservation HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(reply.status.as_u16(), 405);
    assert_eq!(reply.headers["allow"], "POST");
    let reply = raw(
        server.addr,
        "DELETE /ws/reservation HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(reply.status.as_u16(), 405);
    assert_eq!(server.backend.calls(), 0);
    assert_still_serving(&server, SoapVersion::Soap11).await;
}
