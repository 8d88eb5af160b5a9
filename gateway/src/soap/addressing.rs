//! WS-Addressing as far as Tessera uses it: a call's `wsa:MessageID`, which the cluster
//! executes at most once (`docs/domain.md`, "Repeated calls"), and the `wsa:RelatesTo` and
//! `wsa:Action` of its response. Both the W3C Recommendation's namespace (zeep's
//! `WsAddressingPlugin`, JAX-WS) and the 2004 Member Submission's (older stacks, gSOAP's
//! default) are read, and the response answers in the namespace the call used.
//!
//! Replies go back on the same HTTP connection: `wsa:ReplyTo` and `wsa:FaultTo` are accepted
//! only as the anonymous address, since anything else asks for an asynchronous reply this
//! service does not send.

use tessera_types::MessageId;

use super::fault::Fault;
use super::operation::Operation;
use super::xml::push_text;
use super::SERVICE_NS;

pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
pub const WSA_SUBMISSION_NS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
const ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";
const SUBMISSION_ANONYMOUS: &str =
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

/// Which WS-Addressing namespace a call used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsaVersion {
    W3c,
    Submission,
}

impl WsaVersion {
    pub fn of(namespace: &[u8]) -> Option<WsaVersion> {
        match namespace {
            n if n == WSA_NS.as_bytes() => Some(WsaVersion::W3c),
            n if n == WSA_SUBMISSION_NS.as_bytes() => Some(WsaVersion::Submission),
            _ => None,
        }
    }

    fn namespace(self) -> &'static str {
        match self {
            WsaVersion::W3c => WSA_NS,
            WsaVersion::Submission => WSA_SUBMISSION_NS,
        }
    }

    fn is_anonymous(self, address: &str) -> bool {
        match self {
            WsaVersion::W3c => address == ANONYMOUS,
            WsaVersion::Submission => address == SUBMISSION_ANONYMOUS,
        }
    }
}

/// The WS-Addressing headers of a call that Tessera acts on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addressing {
    /// `wsa:MessageID`, with the namespace it came in.
    pub message_id: Option<(MessageId, WsaVersion)>,
}

/// What the envelope pass is collecting inside a WS-Addressing header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    MessageId,
    /// `wsa:Address` inside `wsa:ReplyTo` or `wsa:FaultTo`.
    ReplyAddress,
}

/// Collects the WS-Addressing headers during the one pass over the envelope.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    found: Addressing,
    /// The field being read, the depth of its element, and its text so far.
    reading: Option<(Field, usize, WsaVersion)>,
    text: String,
    /// Depth and name of an open `ReplyTo`/`FaultTo` block.
    reply_block: Option<(usize, &'static str)>,
}

impl Collector {
    /// Whether text belongs to a field being read.
    pub fn active(&self) -> bool {
        self.reading.is_some()
    }

    /// A header block `{ns}local` opened at `depth`.
    pub fn header(&mut self, depth: usize, version: WsaVersion, local: &str) -> Result<(), Fault> {
        match local {
            "MessageID" => {
                if self.found.message_id.is_some() {
                    return Err(invalid("appears more than once"));
                }
                self.reading = Some((Field::MessageId, depth, version));
                self.text.clear();
            }
            "ReplyTo" => self.reply_block = Some((depth, "wsa:ReplyTo")),
            "FaultTo" => self.reply_block = Some((depth, "wsa:FaultTo")),
            _ => {}
        }
        Ok(())
    }

    /// An element opened inside a WS-Addressing header block.
    pub fn child(
        &mut self,
        depth: usize,
        version: Option<WsaVersion>,
        local: &str,
    ) -> Result<(), Fault> {
        if self.reading.is_some() {
            return Err(invalid("must hold text only"));
        }
        if let (Some((block, _)), Some(version)) = (self.reply_block, version) {
            if depth == block + 1 && local == "Address" {
                self.reading = Some((Field::ReplyAddress, depth, version));
                self.text.clear();
            }
        }
        Ok(())
    }

    pub fn text(&mut self, text: &str) {
        if self.reading.is_some() && self.text.len() <= tessera_types::MESSAGE_ID_MAX * 8 {
            self.text.push_str(text);
        }
    }

    /// An element closed at `depth`.
    pub fn end(&mut self, depth: usize) -> Result<(), Fault> {
        let block = self.reply_block.map_or("wsa:ReplyTo", |(_, name)| name);
        if self.reply_block.is_some_and(|(d, _)| d == depth) {
            self.reply_block = None;
        }
        let Some((field, opened, version)) = self.reading else {
            return Ok(());
        };
        if opened != depth {
            return Ok(());
        }
        self.reading = None;
        // Both are xs:anyURI, whose whitespace is collapsed.
        let value = self.text.trim_matches([' ', '\t', '\r', '\n']);
        match field {
            Field::MessageId => {
                let id = MessageId::parse(value).map_err(|e| invalid(e.to_string()))?;
                self.found.message_id = Some((id, version));
            }
            Field::ReplyAddress if !version.is_anonymous(value) => {
                return Err(Fault::InvalidArgument {
                    field: block,
                    reason: "only the anonymous address is supported: replies go back on the \
                             same HTTP connection"
                        .into(),
                })
            }
            Field::ReplyAddress => {}
        }
        Ok(())
    }

    pub fn finish(self) -> Addressing {
        self.found
    }
}

fn invalid(reason: impl Into<std::borrow::Cow<'static, str>>) -> Fault {
    Fault::InvalidArgument {
        field: "wsa:MessageID",
        reason: reason.into(),
    }
}

/// Appends the response's WS-Addressing header blocks (inside an open `Header`): the action
/// of `operation`'s output (the WS-Addressing Metadata default for the WSDL, which declares
/// none) and `RelatesTo` the call's message id.
pub(crate) fn write_response_headers(
    out: &mut Vec<u8>,
    operation: Operation,
    message_id: &MessageId,
    version: WsaVersion,
) {
    out.extend_from_slice(b"<wsa:Action xmlns:wsa=\"");
    out.extend_from_slice(version.namespace().as_bytes());
    out.extend_from_slice(b"\">");
    out.extend_from_slice(SERVICE_NS.as_bytes());
    out.extend_from_slice(b":ReservationPortType:");
    out.extend_from_slice(operation.name().as_bytes());
    out.extend_from_slice(b"Response</wsa:Action><wsa:RelatesTo xmlns:wsa=\"");
    out.extend_from_slice(version.namespace().as_bytes());
    out.extend_from_slice(b"\">");
    push_text(out, message_id.as_str());
    out.extend_from_slice(b"</wsa:RelatesTo>");
}
