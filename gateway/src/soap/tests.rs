//! The reading side, IO-free: what is accepted, what is refused and with which fault.

use tessera_types::Request;

use super::*;

const S11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const S12: &str = "http://www.w3.org/2003/05/soap-envelope";

fn parse(version: SoapVersion, body: &str) -> Result<Call, Rejected> {
    parse_call(body.as_bytes(), version, &Limits::default())
}

fn fault_of(version: SoapVersion, body: &str) -> Fault {
    match parse(version, body) {
        Ok(call) => panic!("accepted: {call:?}"),
        Err(rejected) => rejected.fault,
    }
}

fn env11(inner: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"{S11}\" xmlns:t=\"urn:tessera:reservation:v1\">\
         <soap:Body>{inner}</soap:Body></soap:Envelope>"
    )
}

fn reserve() -> Request {
    Request::ReserveTicket {
        participant_id: "MTLP0001".parse().unwrap(),
        event_type: "Concerts".parse().unwrap(),
        event_id: "MTLE101226".parse().unwrap(),
    }
}

const RESERVE: &str = "<t:reserveTicket><t:participantID>MTLP0001</t:participantID>\
     <t:eventType>Concerts</t:eventType><t:eventID>MTLE101226</t:eventID></t:reserveTicket>";

#[test]
fn prefixed_soap11() {
    let call = parse(SoapVersion::Soap11, &env11(RESERVE)).unwrap();
    assert_eq!(call.version, SoapVersion::Soap11);
    assert_eq!(call.request, reserve());
}

#[test]
fn zeep_style_soap12_with_default_namespace_and_declaration() {
    let body = format!(
        "<?xml version='1.0' encoding='utf-8'?>\n<soap-env:Envelope xmlns:soap-env=\"{S12}\">\
         <soap-env:Body><ns0:reserveTicket xmlns:ns0=\"urn:tessera:reservation:v1\">\
         <ns0:participantID>MTLP0001</ns0:participantID><ns0:eventType>Concerts</ns0:eventType>\
         <ns0:eventID>MTLE101226</ns0:eventID></ns0:reserveTicket></soap-env:Body>\
         </soap-env:Envelope>"
    );
    let call = parse(SoapVersion::Soap12, &body).unwrap();
    assert_eq!(call.version, SoapVersion::Soap12);
    assert_eq!(call.request, reserve());
}

#[test]
fn suds_style_two_prefixes_and_empty_header() {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:ns0=\"{S11}\" \
         xmlns:ns1=\"urn:tessera:reservation:v1\" xmlns:SOAP-ENV=\"{S11}\">\
         <SOAP-ENV:Header/><ns0:Body><ns1:getEventSchedule><ns1:participantID>MTLP0001\
         </ns1:participantID></ns1:getEventSchedule></ns0:Body></SOAP-ENV:Envelope>"
    );
    let call = parse(SoapVersion::Soap11, &body).unwrap();
    assert_eq!(
        call.request,
        Request::GetEventSchedule {
            participant_id: "MTLP0001".parse().unwrap()
        }
    );
}

#[test]
fn curl_style_comments_whitespace_default_namespace() {
    let body = format!(
        "  <!-- hand written -->\n<Envelope xmlns=\"{S11}\">\n  <Header>\n  </Header>\n\
         <!-- the call --><Body>\n    <reserveTicket xmlns=\"urn:tessera:reservation:v1\">\n\
         <participantID>MTLP0001</participantID> <!-- who -->\n\
         <eventType><![CDATA[Concerts]]></eventType>\n\
         <eventID>MTL&#69;101226</eventID>\n    </reserveTicket>\n  </Body>\n</Envelope>\n\n"
    );
    let call = parse(SoapVersion::Soap11, &body).unwrap();
    assert_eq!(call.request, reserve());
}

#[test]
fn utf8_bom_is_accepted() {
    let body = format!("\u{feff}{}", env11(RESERVE));
    assert_eq!(
        parse(SoapVersion::Soap11, &body).unwrap().request,
        reserve()
    );
}

#[test]
fn every_operation_and_capacity_forms() {
    let add = env11(
        "<t:addReservationSlot><t:adminID>MTLA0001</t:adminID><t:eventType>Theatre</t:eventType>\
         <t:eventID>MTLM290228</t:eventID><t:capacity> +0042 </t:capacity></t:addReservationSlot>",
    );
    assert_eq!(
        parse(SoapVersion::Soap11, &add).unwrap().request,
        Request::AddReservationSlot {
            admin_id: "MTLA0001".parse().unwrap(),
            event_type: "Theatre".parse().unwrap(),
            event_id: "MTLM290228".parse().unwrap(),
            capacity: tessera_types::Capacity::new(42).unwrap(),
        }
    );
    let exchange = env11(
        "<t:exchangeTicket><t:participantID>TORP1234</t:participantID>\
         <t:eventType>ArtGallery</t:eventType><t:eventID>VANA010126</t:eventID>\
         <t:newEventType>Concerts</t:newEventType><t:newEventID>VANE010126</t:newEventID>\
         </t:exchangeTicket>",
    );
    assert_eq!(
        parse(SoapVersion::Soap11, &exchange).unwrap().request,
        Request::ExchangeTicket {
            participant_id: "TORP1234".parse().unwrap(),
            event_type: "ArtGallery".parse().unwrap(),
            event_id: "VANA010126".parse().unwrap(),
            new_event_type: "Concerts".parse().unwrap(),
            new_event_id: "VANE010126".parse().unwrap(),
        }
    );
    let list = env11(
        "<t:listReservationSlotAvailable><t:adminID>VANA0001</t:adminID>\
         <t:eventType>Concerts</t:eventType></t:listReservationSlotAvailable>",
    );
    assert!(parse(SoapVersion::Soap11, &list).is_ok());
    for op in ["removeReservationSlot", "cancelTicket"] {
        let who = if op == "cancelTicket" {
            "participantID"
        } else {
            "adminID"
        };
        let body = env11(&format!(
            "<t:{op}><t:{who}>MTLA0001</t:{who}><t:eventType>Concerts</t:eventType>\
             <t:eventID>MTLE101226</t:eventID></t:{op}>"
        ));
        assert!(parse(SoapVersion::Soap11, &body).is_ok(), "{op}");
    }
}

#[test]
fn invalid_arguments_name_their_field_and_never_quote_input() {
    for (inner, field) in [
        (RESERVE.replace("MTLP0001", "<b>&amp;"), "participantID"),
        (RESERVE.replace("MTLP0001", "MTLP00012"), "participantID"),
        (RESERVE.replace("MTLP0001", "MTLP0001\n"), "participantID"),
        (RESERVE.replace("Concerts", "concerts"), "eventType"),
        (RESERVE.replace("MTLE101226", "MTLE290227"), "eventID"),
        (RESERVE.replace("MTLE101226", ""), "eventID"),
    ] {
        let fault = fault_of(SoapVersion::Soap11, &env11(&inner));
        let Fault::InvalidArgument { field: f, .. } = &fault else {
            panic!("{fault:?}");
        };
        assert_eq!(*f, field);
        for echoed in ["<b>", "MTLP00012", "concerts", "290227"] {
            assert!(!fault.reason().contains(echoed), "{fault:?}");
        }
    }
}

#[test]
fn argument_shape_errors() {
    let fault = |inner: &str| fault_of(SoapVersion::Soap11, &env11(inner));
    let field = |f: Fault| match f {
        Fault::InvalidArgument { field, .. } => field,
        other => panic!("{other:?}"),
    };
    // Out of order.
    assert_eq!(
        field(fault(
            "<t:reserveTicket><t:eventType>Concerts</t:eventType>\
             <t:participantID>MTLP0001</t:participantID><t:eventID>MTLE101226</t:eventID>\
             </t:reserveTicket>"
        )),
        "participantID"
    );
    // Missing, as an empty wrapper and as a short one.
    assert_eq!(field(fault("<t:getEventSchedule/>")), "participantID");
    assert_eq!(
        field(fault(
            "<t:reserveTicket><t:participantID>MTLP0001</t:participantID></t:reserveTicket>"
        )),
        "eventType"
    );
    // Unqualified, as Perl's SOAP::Lite sends them.
    assert_eq!(
        field(fault(
            "<t:getEventSchedule><participantID>MTLP0001</participantID></t:getEventSchedule>"
        )),
        "participantID"
    );
    // Extra element, nested element.
    assert_eq!(
        field(fault(
            "<t:getEventSchedule><t:participantID>MTLP0001</t:participantID><t:x/>\
             </t:getEventSchedule>"
        )),
        "getEventSchedule"
    );
    assert_eq!(
        field(fault(
            "<t:getEventSchedule><t:participantID><t:x/></t:participantID></t:getEventSchedule>"
        )),
        "participantID"
    );
    // Capacity must be an xs:int.
    assert_eq!(
        field(fault(
            "<t:addReservationSlot><t:adminID>MTLA0001</t:adminID><t:eventType>Theatre\
             </t:eventType></t:addReservationSlot>"
        )),
        "eventID"
    );
    assert_eq!(
        field(fault(
            "<t:addReservationSlot><t:adminID>MTLA0001</t:adminID><t:eventType>Theatre\
             </t:eventType><t:eventID>MTLM290228</t:eventID><t:capacity>4294967297</t:capacity>\
             </t:addReservationSlot>"
        )),
        "capacity"
    );
}

#[test]
fn operation_dispatch_is_by_qualified_name() {
    assert_eq!(
        fault_of(SoapVersion::Soap11, &env11("<t:bookTicket/>")),
        Fault::UnknownOperation
    );
    // Right local name, wrong namespace.
    assert_eq!(
        fault_of(
            SoapVersion::Soap11,
            &env11(&RESERVE.replace("<t:reserveTicket>", "<t:reserveTicket xmlns:t=\"urn:x\">"))
        ),
        Fault::UnknownOperation
    );
    // Unqualified.
    assert_eq!(
        fault_of(SoapVersion::Soap11, &env11("<reserveTicket/>")),
        Fault::UnknownOperation
    );
}

#[test]
fn envelope_structure() {
    use Fault::*;
    let m = |body: &str| fault_of(SoapVersion::Soap11, body);
    assert!(matches!(
        m(&env11(&format!("{RESERVE}{RESERVE}"))),
        Malformed(_)
    ));
    assert!(matches!(m(&env11("")), Malformed(_)));
    assert!(matches!(
        m(&format!(
            "<s:Envelope xmlns:s=\"{S11}\"><s:Body/></s:Envelope>"
        )),
        Malformed(_)
    ));
    assert!(matches!(
        m(&format!("<s:Envelope xmlns:s=\"{S11}\"/>")),
        Malformed(_)
    ));
    assert!(matches!(
        m(&format!(
            "<s:Envelope xmlns:s=\"{S11}\"><s:Header/><s:Header/><s:Body/></s:Envelope>"
        )),
        Malformed(_)
    ));
    // Body then Header, text in the envelope, something after the Body or the Envelope.
    let with = |inside: &str| {
        format!(
            "<s:Envelope xmlns:s=\"{S11}\" xmlns:t=\"urn:tessera:reservation:v1\">{inside}\
             </s:Envelope>"
        )
    };
    let body = format!("<s:Body>{RESERVE}</s:Body>");
    assert!(parse(SoapVersion::Soap11, &with(&body)).is_ok());
    for bad in [
        format!("{body}<s:Header/>"),
        format!("text{body}"),
        format!("{body}<x:y xmlns:x=\"urn:x\"/>"),
        format!("<s:Foo/>{body}"),
    ] {
        assert!(matches!(m(&with(&bad)), Malformed(_)), "{bad}");
    }
    assert!(matches!(m(&format!("{}<x/>", with(&body))), Malformed(_)));
    assert!(matches!(m(&format!("{} x", with(&body))), Malformed(_)));
}

#[test]
fn version_checks() {
    let s12 = env11(RESERVE).replace(S11, S12);
    // 1.2 envelope announced as 1.1: answered in the envelope's version.
    let rejected = parse(SoapVersion::Soap11, &s12).unwrap_err();
    assert_eq!(
        (rejected.version, rejected.fault),
        (SoapVersion::Soap12, Fault::VersionMismatch)
    );
    let rejected = parse(SoapVersion::Soap12, &env11(RESERVE)).unwrap_err();
    assert_eq!(
        (rejected.version, rejected.fault),
        (SoapVersion::Soap11, Fault::VersionMismatch)
    );
    // Not a SOAP envelope at all: answered in the announced version.
    for body in [
        env11(RESERVE).replace(S11, "http://example.com/envelope"),
        "<Envelope/>".to_owned(),
        format!("<s:Envelop xmlns:s=\"{S11}\"/>"),
    ] {
        let rejected = parse(SoapVersion::Soap12, &body).unwrap_err();
        assert_eq!(
            (rejected.version, rejected.fault),
            (SoapVersion::Soap12, Fault::VersionMismatch),
            "{body}"
        );
    }
}

#[test]
fn must_understand() {
    let with_header = |version: SoapVersion, header: &str| {
        let ns = version.envelope_ns();
        format!(
            "<s:Envelope xmlns:s=\"{ns}\" xmlns:t=\"urn:tessera:reservation:v1\">\
             <s:Header>{header}</s:Header><s:Body>{RESERVE}</s:Body></s:Envelope>"
        )
    };
    let security = |attrs: &str| {
        format!(
            "<w:Security xmlns:w=\"urn:wsse\" {attrs}><w:UsernameToken><w:Username>u\
             </w:Username></w:UsernameToken></w:Security>"
        )
    };
    use SoapVersion::*;
    // Ignorable headers (zeep's WS-Security sets no mustUnderstand) pass.
    for (version, attrs) in [
        (Soap11, ""),
        (Soap11, "s:mustUnderstand=\"0\""),
        (Soap11, "s:mustUnderstand=\"1\" s:actor=\"urn:someone-else\""),
        (Soap12, "s:mustUnderstand=\"false\""),
        (
            Soap12,
            "s:mustUnderstand=\"true\" s:role=\"http://www.w3.org/2003/05/soap-envelope/role/none\"",
        ),
        // An attribute named mustUnderstand but not in the envelope namespace.
        (Soap12, "mustUnderstand=\"true\""),
    ] {
        let body = with_header(version, &security(attrs));
        assert!(parse(version, &body).is_ok(), "{attrs}");
    }
    for (version, attrs) in [
        (Soap11, "s:mustUnderstand=\"1\""),
        (
            Soap11,
            "s:mustUnderstand=\"1\" s:actor=\"http://schemas.xmlsoap.org/soap/actor/next\"",
        ),
        (Soap12, "s:mustUnderstand=\"true\""),
        (Soap12, "s:mustUnderstand=\" 1 \""),
        (
            Soap12,
            "s:mustUnderstand=\"true\" \
             s:role=\"http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver\"",
        ),
    ] {
        let fault = fault_of(version, &with_header(version, &security(attrs)));
        assert_eq!(
            fault,
            Fault::MustUnderstand(NotUnderstood {
                namespace: "urn:wsse".into(),
                local_name: "Security".into()
            }),
            "{attrs}"
        );
    }
    assert!(matches!(
        fault_of(Soap11, &with_header(Soap11, "<Unqualified/>")),
        Fault::Malformed(_)
    ));
}

#[test]
fn forbidden_markup_and_broken_xml() {
    let ok = env11(RESERVE);
    for bad in [
        format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{ok}"),
        format!("<?xml-stylesheet href=\"x\"?>{ok}"),
        format!("{ok}<?pi?>"),
        ok.replace("MTLP0001", "&ent;"),
        ok.replace("MTLP0001", "&#0;"),
        ok[..ok.len() - 5].to_owned(),
        ok.replace("</t:eventID>", "</t:eventId>"),
        ok.replace("<soap:Body>", "<soap:Body><!-- a -- b -->"),
        ok.replace("xmlns:t=", "xmlns:u="),
        format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{ok}"),
        format!("<?xml version=\"1.1\"?>{ok}"),
        format!(" <?xml version=\"1.0\"?>{ok}"),
        "\u{1}\u{2}garbage".to_owned(),
        String::new(),
    ] {
        assert!(
            matches!(fault_of(SoapVersion::Soap11, &bad), Fault::Malformed(_)),
            "{bad}"
        );
    }
    let not_utf8 = b"<a>\xff</a>";
    assert!(matches!(
        parse_call(not_utf8, SoapVersion::Soap11, &Limits::default()),
        Err(Rejected {
            fault: Fault::Malformed(_),
            ..
        })
    ));
}

#[test]
fn limits() {
    let limits = Limits {
        max_body_bytes: 2000,
        max_depth: 8,
        max_attributes: 4,
        max_header_blocks: 3,
    };
    let check = |body: &str| parse_call(body.as_bytes(), SoapVersion::Soap11, &limits);
    assert!(check(&env11(RESERVE)).is_ok());
    let big = env11(&format!("<!--{}-->{RESERVE}", "x".repeat(2000)));
    assert_eq!(check(&big).unwrap_err().fault, Fault::TooLarge);
    let deep = format!(
        "<s:Envelope xmlns:s=\"{S11}\"><s:Header><h:a xmlns:h=\"urn:h\">{}{}</h:a></s:Header>\
         <s:Body/></s:Envelope>",
        "<h:a>".repeat(10),
        "</h:a>".repeat(10)
    );
    assert!(matches!(
        check(&deep).unwrap_err().fault,
        Fault::LimitExceeded(_)
    ));
    let attrs = env11(&RESERVE.replace(
        "<t:reserveTicket>",
        "<t:reserveTicket a=\"1\" b=\"2\" c=\"3\" d=\"4\" e=\"5\">",
    ));
    assert!(matches!(
        check(&attrs).unwrap_err().fault,
        Fault::LimitExceeded(_)
    ));
    let blocks = |n: usize| {
        format!(
            "<s:Envelope xmlns:s=\"{S11}\" xmlns:t=\"urn:tessera:reservation:v1\"><s:Header>{}\
             </s:Header><s:Body>{RESERVE}</s:Body></s:Envelope>",
            "<h:b xmlns:h=\"urn:h\"/>".repeat(n)
        )
    };
    assert!(check(&blocks(3)).is_ok());
    assert_eq!(
        check(&blocks(4)).unwrap_err().fault,
        Fault::LimitExceeded("too many header blocks")
    );
    let duplicate =
        env11(&RESERVE.replace("<t:reserveTicket>", "<t:reserveTicket a=\"1\" a=\"2\">"));
    assert!(matches!(
        check(&duplicate).unwrap_err().fault,
        Fault::Malformed(_)
    ));
}

#[test]
fn xsi_nil_and_attributes_on_arguments() {
    let body = env11(&RESERVE.replace(
        "<t:participantID>MTLP0001</t:participantID>",
        "<t:participantID xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:nil=\"true\"/>",
    ));
    assert!(matches!(
        fault_of(SoapVersion::Soap11, &body),
        Fault::InvalidArgument {
            field: "participantID",
            ..
        }
    ));
    let typed = env11(&RESERVE.replace(
        "<t:participantID>",
        "<t:participantID xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" xsi:type=\"xs:string\">",
    ));
    assert_eq!(
        parse(SoapVersion::Soap11, &typed).unwrap().request,
        reserve()
    );
}

/// Character data is what XML says it is: comments inside a value vanish, CDATA sections and
/// references join the text around them.
#[test]
fn split_character_data() {
    for value in [
        "MTLP<!-- x -->0001",
        "MTLP<![CDATA[00]]>01",
        "MTLP&#x30;001",
        "&#77;TLP0001",
        "<![CDATA[MTLP]]>0001",
        "MTLP&#x30;&#48;01",
        "MTLP00<![CDATA[]]><!---->01",
        "<![CDATA[MTLP0001]]>",
    ] {
        let body = env11(&RESERVE.replace("MTLP0001", value));
        assert_eq!(
            parse(SoapVersion::Soap11, &body).unwrap().request,
            reserve(),
            "{value}"
        );
    }
}

const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// A SOAP `version` envelope with `header` in its Header and the reserve call in its Body.
fn with_header(version: SoapVersion, header: &str) -> String {
    let ns = match version {
        SoapVersion::Soap11 => S11,
        SoapVersion::Soap12 => S12,
    };
    format!(
        "<s:Envelope xmlns:s=\"{ns}\" xmlns:t=\"urn:tessera:reservation:v1\" \
         xmlns:wsse=\"{WSSE}\" xmlns:wsu=\"{WSU}\"><s:Header>{header}</s:Header>\
         <s:Body>{RESERVE}</s:Body></s:Envelope>"
    )
}

fn token(body: &str, version: SoapVersion) -> WsSecurity {
    parse(version, body).unwrap().security
}

#[test]
fn a_username_token_is_read_in_both_versions_with_must_understand() {
    for (version, mu) in [
        (SoapVersion::Soap11, "s:mustUnderstand=\"1\""),
        (SoapVersion::Soap12, "s:mustUnderstand=\"true\""),
        (SoapVersion::Soap11, ""),
    ] {
        let header = format!(
            "<wsse:Security {mu}><wsse:UsernameToken>\n  <wsse:Username> alice </wsse:Username>\
             <wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText\">p&amp;ss&#x20;<![CDATA[<w>]]></wsse:Password>\
             <wsse:Nonce EncodingType=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary\">bm9uY2U=</wsse:Nonce>\
             <wsu:Created>2026-01-01T10:00:00+00:00</wsu:Created></wsse:UsernameToken>\
             <wsu:Timestamp><wsu:Created>x</wsu:Created></wsu:Timestamp></wsse:Security>"
        );
        let WsSecurity::Token(t) = token(&with_header(version, &header), version) else {
            panic!("no token for {version:?} {mu}");
        };
        assert_eq!(t.username, "alice");
        assert_eq!(t.password, "p&ss <w>");
        assert_eq!(t.kind, PasswordKind::Text);
        assert_eq!(t.nonce.as_deref(), Some("bm9uY2U="));
        assert_eq!(t.created.as_deref(), Some("2026-01-01T10:00:00+00:00"));
        assert!(!format!("{t:?}").contains("p&ss"));
    }
}

#[test]
fn unusable_and_absent_tokens() {
    let v = SoapVersion::Soap11;
    let digest = "<wsse:Security><wsse:UsernameToken><wsse:Username>a</wsse:Username>\
        <wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest\">x</wsse:Password>\
        </wsse:UsernameToken></wsse:Security>";
    assert!(matches!(
        token(&with_header(v, digest), v),
        WsSecurity::Token(UsernameToken {
            kind: PasswordKind::Digest,
            ..
        })
    ));
    let no_password = "<wsse:Security><wsse:UsernameToken><wsse:Username>a</wsse:Username>\
        </wsse:UsernameToken></wsse:Security>";
    assert_eq!(
        token(&with_header(v, no_password), v),
        WsSecurity::Unusable("the UsernameToken has no Password")
    );
    let two = "<wsse:Security><wsse:UsernameToken><wsse:Username>a</wsse:Username>\
        <wsse:Password>x</wsse:Password></wsse:UsernameToken><wsse:UsernameToken>\
        <wsse:Username>b</wsse:Username><wsse:Password>y</wsse:Password></wsse:UsernameToken>\
        </wsse:Security>";
    assert!(matches!(
        token(&with_header(v, two), v),
        WsSecurity::Unusable(_)
    ));
    let nested = "<wsse:Security><wsse:UsernameToken><wsse:Username><b>a</b></wsse:Username>\
        <wsse:Password>x</wsse:Password></wsse:UsernameToken></wsse:Security>";
    assert!(matches!(
        token(&with_header(v, nested), v),
        WsSecurity::Unusable(_)
    ));
    // Addressed to another actor: not ours to read.
    let elsewhere = "<wsse:Security s:actor=\"urn:somebody-else\" s:mustUnderstand=\"1\">\
        <wsse:UsernameToken><wsse:Username>a</wsse:Username><wsse:Password>x</wsse:Password>\
        </wsse:UsernameToken></wsse:Security>";
    assert_eq!(token(&with_header(v, elsewhere), v), WsSecurity::Absent);
    assert_eq!(token(&env11(RESERVE), v), WsSecurity::Absent);
    // Other header blocks marked mustUnderstand are still refused.
    let other = "<h:x xmlns:h=\"urn:h\" s:mustUnderstand=\"1\"/>";
    assert!(matches!(
        fault_of(v, &with_header(v, other)),
        Fault::MustUnderstand(_)
    ));
}

/// WS-Addressing: the MessageID is read in either namespace (with or without mustUnderstand,
/// as JAX-WS sends it), checked, and at most once; ReplyTo may only be anonymous.
#[test]
fn ws_addressing_message_ids() {
    const W3C: &str = "http://www.w3.org/2005/08/addressing";
    const SUB: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    let with = |header: &str| {
        format!(
            "<s:Envelope xmlns:s=\"{S11}\" xmlns:t=\"urn:tessera:reservation:v1\" \
             xmlns:a=\"{W3C}\" xmlns:b=\"{SUB}\"><s:Header>{header}</s:Header>\
             <s:Body>{RESERVE}</s:Body></s:Envelope>"
        )
    };
    let id_of = |header: &str| {
        parse(SoapVersion::Soap11, &with(header)).map(|c| {
            c.addressing
                .message_id
                .map(|(id, v)| (id.as_str().to_owned(), v))
        })
    };
    let uuid = "urn:uuid:6b29fc40-ca47-1067-b31d-00dd010662da";
    assert_eq!(
        id_of(&format!(
            "<a:Action>urn:x</a:Action><a:MessageID s:mustUnderstand=\"1\">\n {uuid} \n\
             </a:MessageID><a:To s:mustUnderstand=\"1\">http://x</a:To>\
             <a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address>\
             </a:ReplyTo>"
        )),
        Ok(Some((uuid.to_owned(), WsaVersion::W3c)))
    );
    assert_eq!(
        id_of(&format!(
            "<b:MessageID>{uuid}</b:MessageID><b:ReplyTo><b:Address>\
             http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</b:Address>\
             </b:ReplyTo>"
        )),
        Ok(Some((uuid.to_owned(), WsaVersion::Submission)))
    );
    // Entity references are text like any other.
    assert_eq!(
        id_of("<a:MessageID>urn:a&amp;b</a:MessageID>"),
        Ok(Some(("urn:a&b".to_owned(), WsaVersion::W3c)))
    );
    // Addressed to someone else: not ours to read.
    assert_eq!(
        id_of(&format!(
            "<a:MessageID s:actor=\"urn:someone-else\">{uuid}</a:MessageID>"
        )),
        Ok(None)
    );
    assert_eq!(id_of("<a:Action>urn:x</a:Action>"), Ok(None));
    let field_of = |header: &str| match fault_of(SoapVersion::Soap11, &with(header)) {
        Fault::InvalidArgument { field, reason } => (field, reason.into_owned()),
        other => panic!("{header}: {other:?}"),
    };
    for (header, field) in [
        ("<a:MessageID></a:MessageID>", "wsa:MessageID"),
        ("<a:MessageID>has space</a:MessageID>", "wsa:MessageID"),
        (
            "<a:MessageID>a</a:MessageID><b:MessageID>b</b:MessageID>",
            "wsa:MessageID",
        ),
        ("<a:MessageID><a:x/>id</a:MessageID>", "wsa:MessageID"),
        (
            "<a:ReplyTo><a:Address>http://client/callback</a:Address></a:ReplyTo>",
            "wsa:ReplyTo",
        ),
        (
            "<a:FaultTo><a:Address>http://client/faults</a:Address></a:FaultTo>",
            "wsa:FaultTo",
        ),
    ] {
        assert_eq!(field_of(header).0, field, "{header}");
    }
    let long = "x".repeat(tessera_types::MESSAGE_ID_MAX + 1);
    assert!(field_of(&format!("<a:MessageID>{long}</a:MessageID>"))
        .1
        .contains("at most 256 bytes"));
}
