//! Writing a successful response: `<opResponse><result>` with the fields in the order of the
//! schema's `Result` sequence.

use tessera_types::{Reply, ReplyBody};

use super::addressing::{self, Addressing};
use super::messages::message;
use super::operation::Operation;
use super::version::SoapVersion;
use super::xml::{close_envelope, header_to_body, open_envelope, push_number, push_simple};
use super::SERVICE_NS;

/// Appends the response envelope for `reply` to a call of `operation`, which took effect at
/// sequence number `revision`.
pub fn write_response(
    version: SoapVersion,
    operation: Operation,
    reply: &Reply,
    revision: u64,
    out: &mut Vec<u8>,
) {
    write_response_to(
        version,
        operation,
        reply,
        revision,
        &Addressing::default(),
        out,
    )
}

/// [`write_response`] to a call with WS-Addressing headers `addressing`: with a `MessageID`,
/// the response carries `wsa:RelatesTo` it.
pub fn write_response_to(
    version: SoapVersion,
    operation: Operation,
    reply: &Reply,
    revision: u64,
    addressing: &Addressing,
    out: &mut Vec<u8>,
) {
    let rows = match &reply.body {
        ReplyBody::Slots(rows) => rows.len(),
        ReplyBody::Schedule(rows) => rows.len(),
        _ => 0,
    };
    out.reserve(512 + rows * 112);
    match &addressing.message_id {
        Some((id, wsa)) => {
            open_envelope(out, version, true);
            addressing::write_response_headers(out, operation, id, *wsa);
            header_to_body(out, version);
        }
        None => open_envelope(out, version, false),
    }
    let wrapper = operation.name().as_bytes();
    out.push(b'<');
    out.extend_from_slice(wrapper);
    out.extend_from_slice(b"Response xmlns=\"");
    out.extend_from_slice(SERVICE_NS.as_bytes());
    out.extend_from_slice(b"\"><result><success>");
    out.extend_from_slice(if reply.success() { b"true" } else { b"false" });
    out.extend_from_slice(b"</success>");
    push_simple(out, "code", reply.code.as_str());
    push_simple(out, "message", message(reply.code));
    out.extend_from_slice(b"<revision>");
    push_number(out, revision);
    out.extend_from_slice(b"</revision>");
    match &reply.body {
        ReplyBody::Empty => {}
        ReplyBody::Removed { moved, dropped } => {
            out.extend_from_slice(b"<moved>");
            push_number(out, *moved);
            out.extend_from_slice(b"</moved><dropped>");
            push_number(out, *dropped);
            out.extend_from_slice(b"</dropped>");
        }
        ReplyBody::Slots(rows) => {
            for row in rows {
                out.extend_from_slice(b"<slot>");
                push_simple(out, "eventID", row.event_id.as_str());
                push_simple(out, "eventType", row.event_type.as_str());
                out.extend_from_slice(b"<available>");
                push_number(out, row.available);
                out.extend_from_slice(b"</available></slot>");
            }
        }
        ReplyBody::Schedule(rows) => {
            for row in rows {
                out.extend_from_slice(b"<reservation>");
                push_simple(out, "eventID", row.event_id.as_str());
                push_simple(out, "eventType", row.event_type.as_str());
                out.extend_from_slice(b"</reservation>");
            }
        }
    }
    out.extend_from_slice(b"</result></");
    out.extend_from_slice(wrapper);
    out.extend_from_slice(b"Response>");
    close_envelope(out, version);
}
