//! Request envelopes, written with quick-xml: the operation's wrapper element in the service
//! namespace, its argument elements in the order of the schema's sequence.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use tessera_types::Request;

use super::wsse::{self, UsernameToken};
use super::{Version, SERVICE_NS};

/// The request envelope for `request` in `version`, indented for `--raw` readers.
#[cfg(test)]
pub fn envelope(version: Version, request: &Request) -> String {
    envelope_with(version, request, None, None)
}

/// The envelope with a `wsse:Security` header carrying `token`, and WS-Addressing headers
/// carrying `message_id` (which makes the cluster execute the call at most once), if any.
pub fn envelope_with(
    version: Version,
    request: &Request,
    token: Option<&UsernameToken>,
    message_id: Option<&str>,
) -> String {
    let mut writer = Writer::new_with_indent(Vec::with_capacity(1024), b' ', 2);
    // Writing into a Vec cannot fail; the helper keeps the flow free of unwraps.
    let _ = write(&mut writer, version, request, token, message_id);
    String::from_utf8(writer.into_inner()).unwrap_or_default()
}

/// The WS-Addressing 1.0 namespace.
pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";

fn write_addressing(
    writer: &mut Writer<Vec<u8>>,
    operation: &str,
    message_id: &str,
) -> std::io::Result<()> {
    writer
        .create_element("wsa:Action")
        .with_attribute(("xmlns:wsa", WSA_NS))
        .write_text_content(BytesText::new(&Version::action(operation)))?;
    writer
        .create_element("wsa:MessageID")
        .with_attribute(("xmlns:wsa", WSA_NS))
        .write_text_content(BytesText::new(message_id))?;
    Ok(())
}

fn write_security(
    writer: &mut Writer<Vec<u8>>,
    env: &str,
    version: Version,
    token: &UsernameToken,
) -> std::io::Result<()> {
    let must_understand = format!("{env}:mustUnderstand");
    // Marked mustUnderstand, as WCF and CXF send it: a server that cannot check it must
    // refuse the call rather than run it unauthenticated.
    writer.write_event(Event::Start(
        BytesStart::new("wsse:Security").with_attributes([
            ("xmlns:wsse", wsse::WSSE_NS),
            ("xmlns:wsu", wsse::WSU_NS),
            (
                must_understand.as_str(),
                match version {
                    Version::Soap11 => "1",
                    Version::Soap12 => "true",
                },
            ),
        ]),
    ))?;
    writer.write_event(Event::Start(BytesStart::new("wsse:UsernameToken")))?;
    writer
        .create_element("wsse:Username")
        .write_text_content(BytesText::new(&token.username))?;
    writer
        .create_element("wsse:Password")
        .with_attribute(("Type", wsse::PASSWORD_TEXT))
        .write_text_content(BytesText::new(&token.password))?;
    writer
        .create_element("wsse:Nonce")
        .with_attribute(("EncodingType", wsse::BASE64_BINARY))
        .write_text_content(BytesText::new(&token.nonce))?;
    writer
        .create_element("wsu:Created")
        .write_text_content(BytesText::new(&token.created))?;
    writer.write_event(Event::End(BytesEnd::new("wsse:UsernameToken")))?;
    writer.write_event(Event::End(BytesEnd::new("wsse:Security")))?;
    Ok(())
}

fn write(
    writer: &mut Writer<Vec<u8>>,
    version: Version,
    request: &Request,
    token: Option<&UsernameToken>,
    message_id: Option<&str>,
) -> std::io::Result<()> {
    let env = match version {
        Version::Soap11 => "soap",
        Version::Soap12 => "env",
    };
    let envelope = format!("{env}:Envelope");
    let body = format!("{env}:Body");
    let xmlns_env = format!("xmlns:{env}");
    let operation = format!("t:{}", request.operation());

    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer.write_event(Event::Start(
        BytesStart::new(envelope.as_str()).with_attributes([
            (xmlns_env.as_str(), version.envelope_ns()),
            ("xmlns:t", SERVICE_NS),
        ]),
    ))?;
    if token.is_some() || message_id.is_some() {
        let header = format!("{env}:Header");
        writer.write_event(Event::Start(BytesStart::new(header.as_str())))?;
        if let Some(id) = message_id {
            write_addressing(writer, request.operation(), id)?;
        }
        if let Some(token) = token {
            write_security(writer, env, version, token)?;
        }
        writer.write_event(Event::End(BytesEnd::new(header.as_str())))?;
    }
    writer.write_event(Event::Start(BytesStart::new(body.as_str())))?;
    writer.write_event(Event::Start(BytesStart::new(operation.as_str())))?;
    for (name, value) in request.arguments() {
        writer
            .create_element(format!("t:{name}"))
            .write_text_content(BytesText::new(&value))?;
    }
    writer.write_event(Event::End(BytesEnd::new(operation.as_str())))?;
    writer.write_event(Event::End(BytesEnd::new(body.as_str())))?;
    writer.write_event(Event::End(BytesEnd::new(envelope.as_str())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_golden_request() {
        let request = Request::AddReservationSlot {
            admin_id: "MTLA0001".parse().unwrap(),
            event_type: "Concerts".parse().unwrap(),
            event_id: "MTLE101226".parse().unwrap(),
            capacity: tessera_types::Capacity::new(2).unwrap(),
        };
        let golden = include_str!(
            "../../../gateway/tests/golden/soap11/01-addReservationSlot-created.request.xml"
        );
        assert_eq!(envelope(Version::Soap11, &request).trim(), golden.trim());
    }

    #[test]
    fn soap12_exchange_matches_the_golden_request() {
        let request = Request::ExchangeTicket {
            participant_id: "MTLP0002".parse().unwrap(),
            event_type: "Concerts".parse().unwrap(),
            event_id: "MTLE101226".parse().unwrap(),
            new_event_type: "Concerts".parse().unwrap(),
            new_event_id: "MTLE111226".parse().unwrap(),
        };
        let golden = include_str!(
            "../../../gateway/tests/golden/soap12/09-exchangeTicket-exchanged.request.xml"
        );
        assert_eq!(envelope(Version::Soap12, &request).trim(), golden.trim());
    }

    /// Arguments are typed (plain ASCII by construction); credentials are free text.
    #[test]
    fn text_is_escaped() {
        let request = Request::GetEventSchedule {
            participant_id: "MTLP0001".parse().unwrap(),
        };
        let token = UsernameToken::new("a<&>b", "p]]>&'\"");
        let xml = envelope_with(Version::Soap11, &request, Some(&token), None);
        assert!(xml.contains("a&lt;&amp;&gt;b"), "{xml}");
        assert!(!xml.contains("]]>&"), "{xml}");
    }
}
