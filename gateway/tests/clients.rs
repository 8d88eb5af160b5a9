//! Envelopes as real SOAP stacks put them on the wire (see shared/SOAP-CLIENT-NOTES.md), and
//! every way a SOAPAction or SOAP 1.2 `action` is sent or not: all accepted, all answered in
//! the request's version with the matching Content-Type.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tessera_gateway::SoapVersion;

struct Style {
    name: &'static str,
    version: SoapVersion,
    content_type: &'static str,
    headers: &'static [(&'static str, &'static str)],
    /// The envelope, with `{P}` where the participant ID goes.
    envelope: &'static str,
}

const STYLES: &[Style] = &[
    Style {
        name: "zeep, SOAP 1.1",
        version: SoapVersion::Soap11,
        content_type: "text/xml; charset=utf-8",
        headers: &[("SOAPAction", "\"urn:tessera:reservation:v1#reserveTicket\"")],
        envelope: "<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap-env:Body><ns0:reserveTicket xmlns:ns0=\"urn:tessera:reservation:v1\"><ns0:participantID>{P}</ns0:participantID><ns0:eventType>Concerts</ns0:eventType><ns0:eventID>MTLE101226</ns0:eventID></ns0:reserveTicket></soap-env:Body></soap-env:Envelope>",
    },
    Style {
        name: "zeep, SOAP 1.2 with action and SOAPAction",
        version: SoapVersion::Soap12,
        content_type: "application/soap+xml; charset=utf-8; action=\"urn:tessera:reservation:v1#reserveTicket\"",
        headers: &[("SOAPAction", "\"urn:tessera:reservation:v1#reserveTicket\"")],
        envelope: "<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope xmlns:soap-env=\"http://www.w3.org/2003/05/soap-envelope\"><soap-env:Body><ns0:reserveTicket xmlns:ns0=\"urn:tessera:reservation:v1\"><ns0:participantID>{P}</ns0:participantID><ns0:eventType>Concerts</ns0:eventType><ns0:eventID>MTLE101226</ns0:eventID></ns0:reserveTicket></soap-env:Body></soap-env:Envelope>",
    },
    Style {
        name: "zeep with a WS-Security UsernameToken (no mustUnderstand, +00:00 offset)",
        version: SoapVersion::Soap11,
        content_type: "text/xml; charset=utf-8",
        headers: &[("SOAPAction", "\"urn:tessera:reservation:v1#reserveTicket\"")],
        envelope: "<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap-env:Header><wsse:Security xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\"><wsse:UsernameToken><wsse:Username>alice</wsse:Username><wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText\">secret</wsse:Password><wsu:Created xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\">2026-01-01T10:00:00+00:00</wsu:Created></wsse:UsernameToken></wsse:Security></soap-env:Header><soap-env:Body><ns0:reserveTicket xmlns:ns0=\"urn:tessera:reservation:v1\"><ns0:participantID>{P}</ns0:participantID><ns0:eventType>Concerts</ns0:eventType><ns0:eventID>MTLE101226</ns0:eventID></ns0:reserveTicket></soap-env:Body></soap-env:Envelope>",
    },
    Style {
        name: "suds: two prefixes for the envelope namespace, empty Header",
        version: SoapVersion::Soap11,
        content_type: "text/xml; charset=utf-8",
        headers: &[("SOAPAction", "\"urn:tessera:reservation:v1#reserveTicket\"")],
        envelope: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:ns0=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns1=\"urn:tessera:reservation:v1\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Header/><ns0:Body><ns1:reserveTicket><ns1:participantID>{P}</ns1:participantID><ns1:eventType>Concerts</ns1:eventType><ns1:eventID>MTLE101226</ns1:eventID></ns1:reserveTicket></ns0:Body></SOAP-ENV:Envelope>",
    },
    Style {
        name: "JAX-WS RI, SOAP 1.1",
        version: SoapVersion::Soap11,
        content_type: "text/xml; charset=utf-8",
        headers: &[("SOAPAction", "\"urn:tessera:reservation:v1#reserveTicket\"")],
        envelope: "<?xml version=\"1.0\" ?><S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\"><S:Body><ns2:reserveTicket xmlns:ns2=\"urn:tessera:reservation:v1\"><ns2:participantID>{P}</ns2:participantID><ns2:eventType>Concerts</ns2:eventType><ns2:eventID>MTLE101226</ns2:eventID></ns2:reserveTicket></S:Body></S:Envelope>",
    },
    Style {
        name: "JAX-WS RI, SOAP 1.2",
        version: SoapVersion::Soap12,
        content_type: "application/soap+xml; charset=utf-8; action=\"urn:tessera:reservation:v1#reserveTicket\"",
        headers: &[],
        envelope: "<?xml version=\"1.0\" ?><S:Envelope xmlns:S=\"http://www.w3.org/2003/05/soap-envelope\"><S:Body><ns2:reserveTicket xmlns:ns2=\"urn:tessera:reservation:v1\"><ns2:participantID>{P}</ns2:participantID><ns2:eventType>Concerts</ns2:eventType><ns2:eventID>MTLE101226</ns2:eventID></ns2:reserveTicket></S:Body></S:Envelope>",
    },
    Style {
        name: ".NET basicHttpBinding: no declaration, default namespace, xsi/xsd on Body",
        version: SoapVersion::Soap11,
        content_type: "text/xml; charset=utf-8",
        headers: &[("SOAPAction", "\"urn:tessera:reservation:v1#reserveTicket\"")],
        envelope: "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><reserveTicket xmlns=\"urn:tessera:reservation:v1\"><participantID>{P}</participantID><eventType>Concerts</eventType><eventID>MTLE101226</eventID></reserveTicket></s:Body></s:Envelope>",
    },
    Style {
        name: "gSOAP, SOAP 1.2 with its own action",
        version: SoapVersion::Soap12,
        content_type: "application/soap+xml; charset=utf-8; action=\"urn:tessera:reservation:v1/ReservationPortType/reserveTicket\"",
        headers: &[("SOAPAction", "\"urn:tessera:reservation:v1/ReservationPortType/reserveTicket\"")],
        envelope: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:SOAP-ENC=\"http://www.w3.org/2003/05/soap-encoding\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:ns1=\"urn:tessera:reservation:v1\">\n <SOAP-ENV:Body>\n  <ns1:reserveTicket>\n   <ns1:participantID>{P}</ns1:participantID>\n   <ns1:eventType>Concerts</ns1:eventType>\n   <ns1:eventID>MTLE101226</ns1:eventID>\n  </ns1:reserveTicket>\n </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n",
    },
    Style {
        name: "PHP SoapClient",
        version: SoapVersion::Soap11,
        content_type: "text/xml; charset=utf-8",
        headers: &[("SOAPAction", "\"urn:tessera:reservation:v1#reserveTicket\"")],
        envelope: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns1=\"urn:tessera:reservation:v1\"><SOAP-ENV:Body><ns1:reserveTicket><ns1:participantID>{P}</ns1:participantID><ns1:eventType>Concerts</ns1:eventType><ns1:eventID>MTLE101226</ns1:eventID></ns1:reserveTicket></SOAP-ENV:Body></SOAP-ENV:Envelope>\n",
    },
    Style {
        name: "Perl explicit envelope: encodingStyle, xsi:type on arguments",
        version: SoapVersion::Soap11,
        content_type: "text/xml; charset=utf-8",
        headers: &[("SOAPAction", "urn:tessera:reservation:v1#reserveTicket")],
        envelope: "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" soap:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><soap:Body><reserveTicket xmlns=\"urn:tessera:reservation:v1\"><participantID xsi:type=\"xsd:string\">{P}</participantID><eventType xsi:type=\"xsd:string\">Concerts</eventType><eventID xsi:type=\"xsd:string\">MTLE101226</eventID></reserveTicket></soap:Body></soap:Envelope>",
    },
    Style {
        name: "curl: no declaration, comments, whitespace, unquoted SOAPAction",
        version: SoapVersion::Soap11,
        content_type: "text/xml",
        headers: &[("SOAPAction", "urn:tessera:reservation:v1#reserveTicket")],
        envelope: "<!-- reserve a ticket -->\n<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"\n            xmlns:r=\"urn:tessera:reservation:v1\">\n  <e:Body>\n    <!-- who, what, when -->\n    <r:reserveTicket>\n      <r:participantID>{P}</r:participantID>   <!-- me -->\n      <r:eventType>Concerts</r:eventType>\n\n      <r:eventID>MTLE101226</r:eventID>\n    </r:reserveTicket>\n  </e:Body>\n</e:Envelope>\n",
    },
    Style {
        name: "curl, SOAP 1.2, CRLF line ends, no action",
        version: SoapVersion::Soap12,
        content_type: "application/soap+xml",
        headers: &[],
        envelope: "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\">\r\n <env:Header>\r\n </env:Header>\r\n <env:Body>\r\n  <reserveTicket xmlns=\"urn:tessera:reservation:v1\">\r\n   <participantID>{P}</participantID>\r\n   <eventType>Concerts</eventType>\r\n   <eventID>MTLE101226</eventID>\r\n  </reserveTicket>\r\n </env:Body>\r\n</env:Envelope>\r\n",
    },
];

/// Sets up a slot with room for every style's call.
async fn with_slot() -> (axum::Router, std::sync::Arc<tessera_testkit::LocalBackend>) {
    let (app, backend) = app();
    let setup = ADD_SLOT.replace(
        "<t:capacity>3</t:capacity>",
        "<t:capacity>1000</t:capacity>",
    );
    let reply = post(&app, CT11, &[], envelope(SoapVersion::Soap11, &setup)).await;
    assert!(
        reply.text().contains("<code>CREATED</code>"),
        "{}",
        reply.text()
    );
    (app, backend)
}

#[tokio::test]
async fn every_client_style_is_accepted() {
    let (app, _) = with_slot().await;
    for (i, style) in STYLES.iter().enumerate() {
        let participant = format!("MTLP{:04}", i + 1);
        let body = style.envelope.replace("{P}", &participant);
        let reply = post(&app, style.content_type, style.headers, body).await;
        assert_eq!(
            reply.status.as_u16(),
            200,
            "{}: {}",
            style.name,
            reply.text()
        );
        assert_eq!(
            reply.content_type(),
            content_type(style.version),
            "{}",
            style.name
        );
        assert!(
            reply.text().contains("<code>RESERVED</code>"),
            "{}: {}",
            style.name,
            reply.text()
        );
        validate(style.version, &reply.body);
    }
}

#[tokio::test]
async fn soap_action_is_never_checked() {
    let (app, backend) = with_slot().await;
    let actions: &[Option<&str>] = &[
        None,
        Some(""),
        Some("\"\""),
        Some("urn:tessera:reservation:v1#reserveTicket"),
        Some("\"urn:tessera:reservation:v1#cancelTicket\""),
        Some("\"http://example.com/SomethingElse\""),
        Some("reserveTicket"),
    ];
    let mut n = 0;
    for action in actions {
        for version in [SoapVersion::Soap11, SoapVersion::Soap12] {
            n += 1;
            let payload = format!(
                "<t:reserveTicket><t:participantID>TORP{n:04}</t:participantID>\
                 <t:eventType>Concerts</t:eventType><t:eventID>MTLE101226</t:eventID>\
                 </t:reserveTicket>"
            );
            let mut content_type = content_type(version).to_owned();
            let mut headers = Vec::new();
            if let Some(action) = action {
                headers.push(("SOAPAction", *action));
                if version == SoapVersion::Soap12 {
                    content_type.push_str(&format!("; action={action}"));
                }
            }
            let reply = post(&app, &content_type, &headers, envelope(version, &payload)).await;
            assert_eq!(reply.status.as_u16(), 200, "{action:?}: {}", reply.text());
            assert!(reply.text().contains("<code>RESERVED</code>"), "{action:?}");
        }
    }
    assert_eq!(backend.calls(), 1 + n);
}

#[tokio::test]
async fn every_operation_answers_in_both_versions() {
    let calls = [
        ("addReservationSlot", "<t:addReservationSlot><t:adminID>MTLA0001</t:adminID><t:eventType>Theatre</t:eventType><t:eventID>MTLA020126</t:eventID><t:capacity>5</t:capacity></t:addReservationSlot>", "CREATED"),
        ("reserveTicket", "<t:reserveTicket><t:participantID>MTLP0001</t:participantID><t:eventType>Theatre</t:eventType><t:eventID>MTLA020126</t:eventID></t:reserveTicket>", "RESERVED"),
        ("getEventSchedule", "<t:getEventSchedule><t:participantID>MTLP0001</t:participantID></t:getEventSchedule>", "OK"),
        ("listReservationSlotAvailable", "<t:listReservationSlotAvailable><t:adminID>TORA0001</t:adminID><t:eventType>Theatre</t:eventType></t:listReservationSlotAvailable>", "OK"),
        ("exchangeTicket", "<t:exchangeTicket><t:participantID>MTLP0001</t:participantID><t:eventType>Theatre</t:eventType><t:eventID>MTLA020126</t:eventID><t:newEventType>Concerts</t:newEventType><t:newEventID>MTLE101226</t:newEventID></t:exchangeTicket>", "EXCHANGED"),
        ("cancelTicket", "<t:cancelTicket><t:participantID>MTLP0001</t:participantID><t:eventType>Concerts</t:eventType><t:eventID>MTLE101226</t:eventID></t:cancelTicket>", "CANCELLED"),
        ("removeReservationSlot", "<t:removeReservationSlot><t:adminID>MTLA0001</t:adminID><t:eventType>Theatre</t:eventType><t:eventID>MTLA020126</t:eventID></t:removeReservationSlot>", "REMOVED"),
    ];
    for version in [SoapVersion::Soap12, SoapVersion::Soap11] {
        let (app, _) = with_slot().await;
        for (op, payload, code) in calls {
            let reply = post(&app, content_type(version), &[], envelope(version, payload)).await;
            assert_eq!(reply.status.as_u16(), 200, "{op}: {}", reply.text());
            let text = reply.text();
            assert!(
                text.contains(&format!(
                    "<{op}Response xmlns=\"urn:tessera:reservation:v1\"><result>"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!("<code>{code}</code>")),
                "{op}: {text}"
            );
            validate(version, &reply.body);
        }
    }
}

/// Stacks with WS-Addressing on, as they put it on the wire: JAX-WS RI and WCF's
/// `wsHttpBinding` mark `To` and `Action` mustUnderstand and send an anonymous `ReplyTo`; gSOAP's
/// wsa plugin uses the 2004 Member Submission namespace. Each is understood, answered with
/// `RelatesTo` in its own namespace, and a resend of the same envelope (a retry) gets the same
/// response: the call took effect once.
#[tokio::test]
async fn ws_addressing_styles_are_understood_and_answered_once() {
    const W3C: &str = "http://www.w3.org/2005/08/addressing";
    const SUB: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    let styles: &[(&str, SoapVersion, &str, &str, &str)] = &[
        (
            "JAX-WS RI with AddressingFeature",
            SoapVersion::Soap11,
            "text/xml; charset=utf-8",
            W3C,
            "<?xml version=\"1.0\" ?><S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\"><S:Header><To xmlns=\"http://www.w3.org/2005/08/addressing\" S:mustUnderstand=\"1\">http://127.0.0.1:8080/ws/reservation</To><Action xmlns=\"http://www.w3.org/2005/08/addressing\" S:mustUnderstand=\"1\">urn:tessera:reservation:v1#reserveTicket</Action><ReplyTo xmlns=\"http://www.w3.org/2005/08/addressing\"><Address>http://www.w3.org/2005/08/addressing/anonymous</Address></ReplyTo><FaultTo xmlns=\"http://www.w3.org/2005/08/addressing\"><Address>http://www.w3.org/2005/08/addressing/anonymous</Address></FaultTo><MessageID xmlns=\"http://www.w3.org/2005/08/addressing\">{ID}</MessageID></S:Header><S:Body><ns2:reserveTicket xmlns:ns2=\"urn:tessera:reservation:v1\"><ns2:participantID>{P}</ns2:participantID><ns2:eventType>Concerts</ns2:eventType><ns2:eventID>MTLE101226</ns2:eventID></ns2:reserveTicket></S:Body></S:Envelope>",
        ),
        (
            "WCF wsHttpBinding (SOAP 1.2, security off)",
            SoapVersion::Soap12,
            "application/soap+xml; charset=utf-8",
            W3C,
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://www.w3.org/2005/08/addressing\"><s:Header><a:Action s:mustUnderstand=\"1\">urn:tessera:reservation:v1#reserveTicket</a:Action><a:MessageID>{ID}</a:MessageID><a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand=\"1\">http://127.0.0.1:8080/ws/reservation</a:To></s:Header><s:Body><reserveTicket xmlns=\"urn:tessera:reservation:v1\"><participantID>{P}</participantID><eventType>Concerts</eventType><eventID>MTLE101226</eventID></reserveTicket></s:Body></s:Envelope>",
        ),
        (
            "gSOAP wsa plugin (2004/08 namespace)",
            SoapVersion::Soap12,
            "application/soap+xml; charset=utf-8",
            SUB,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:ns1=\"urn:tessera:reservation:v1\">\n <SOAP-ENV:Header>\n  <wsa:MessageID SOAP-ENV:mustUnderstand=\"true\">{ID}</wsa:MessageID>\n  <wsa:ReplyTo SOAP-ENV:mustUnderstand=\"true\"><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>\n  <wsa:To SOAP-ENV:mustUnderstand=\"true\">http://127.0.0.1:8080/ws/reservation</wsa:To>\n  <wsa:Action SOAP-ENV:mustUnderstand=\"true\">urn:tessera:reservation:v1#reserveTicket</wsa:Action>\n </SOAP-ENV:Header>\n <SOAP-ENV:Body>\n  <ns1:reserveTicket>\n   <ns1:participantID>{P}</ns1:participantID>\n   <ns1:eventType>Concerts</ns1:eventType>\n   <ns1:eventID>MTLE101226</ns1:eventID>\n  </ns1:reserveTicket>\n </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n",
        ),
    ];
    let (app, backend) = with_slot().await;
    for (i, (name, version, content_type_sent, wsa, envelope)) in styles.iter().enumerate() {
        let id = format!("urn:uuid:00000000-0000-4000-8000-{:012}", i + 1);
        let body = envelope
            .replace("{P}", &format!("MTLP{:04}", i + 1))
            .replace("{ID}", &id);
        let calls_before = backend.calls();
        let first = post(&app, content_type_sent, &[], body.clone()).await;
        assert_eq!(first.status.as_u16(), 200, "{name}: {}", first.text());
        assert!(
            first.text().contains("<code>RESERVED</code>"),
            "{name}: {}",
            first.text()
        );
        assert!(
            first.text().contains(&format!(
                "<wsa:RelatesTo xmlns:wsa=\"{wsa}\">{id}</wsa:RelatesTo>"
            )),
            "{name}: {}",
            first.text()
        );
        validate(*version, &first.body);
        let again = post(&app, content_type_sent, &[], body).await;
        assert_eq!(
            again.text(),
            first.text(),
            "{name}: a retry gets the first answer"
        );
        assert_eq!(
            backend.calls(),
            calls_before + 2,
            "{name}: both reached the backend"
        );
    }
}
