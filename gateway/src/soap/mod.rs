//! SOAP without IO: request bytes in, a validated [`Request`] or a [`Fault`] out; a reply or a
//! fault in, response bytes out.
//!
//! Reading is one streaming pass and one conversion. `envelope` walks the request once with
//! quick-xml's namespace-resolving reader, checks every element's namespace, the envelope
//! structure, the headers, the argument elements and their order, the limits, and the absence
//! of DTDs and processing instructions, and collects each argument's character data on the way.
//! `arguments` then builds the typed request from those texts with `Request::from_arguments`,
//! the one parser of every operation's arguments.
//!
//! Writing never builds a tree: `response` and `fault` append escaped text to a `Vec<u8>`
//! in a fixed order, so equal replies give byte-identical envelopes.

pub mod addressing;
mod arguments;
mod envelope;
mod fault;
mod limits;
mod messages;
mod operation;
mod response;
#[cfg(test)]
mod tests;
mod version;
pub mod wsse;
mod xml;

pub use addressing::{Addressing, WsaVersion};
pub use fault::{AuthFault, Fault, FaultClass, NotUnderstood};
pub use limits::Limits;
pub use messages::message;
pub use operation::Operation;
pub use response::{write_response, write_response_to};
pub use version::{ContentTypeError, SoapVersion};
pub use wsse::{PasswordKind, UsernameToken, WsSecurity};

/// Namespace of the service's elements (`wsdl/reservation.xsd`).
pub const SERVICE_NS: &str = "urn:tessera:reservation:v1";

use tessera_types::Request;

/// A request that passed every check and may be sent to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The SOAP version to answer in.
    pub version: SoapVersion,
    pub request: Request,
    /// The UsernameToken of its `wsse:Security` header, for the authentication layer.
    pub security: WsSecurity,
    /// Its `wsa:MessageID`, if any: the cluster executes the call at most once.
    pub addressing: Addressing,
}

/// A request turned away before reaching the cluster, with the version to answer in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub version: SoapVersion,
    pub fault: Fault,
}

/// Reads one SOAP request. `transport` is the version its Content-Type announced
/// ([`SoapVersion::from_content_type`]); the envelope must agree with it.
pub fn parse_call(body: &[u8], transport: SoapVersion, limits: &Limits) -> Result<Call, Rejected> {
    let reject = |version, fault| Rejected { version, fault };
    if body.len() > limits.max_body_bytes {
        return Err(reject(transport, Fault::TooLarge));
    }
    // quick-xml reads bytes; checking UTF-8 once up front (fast, vectorised) means no later
    // step can meet an invalid sequence halfway through a value.
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(reject(
            transport,
            Fault::Malformed("the request is not UTF-8"),
        ));
    };
    let scanned = envelope::scan(text, transport, limits)?;
    let version = scanned.version;
    let security = scanned.security;
    let addressing = scanned.addressing;
    let request = arguments::validate(scanned.operation, &scanned.arguments)
        .map_err(|fault| reject(version, fault))?;
    Ok(Call {
        version,
        request,
        security,
        addressing,
    })
}

/// `value` escaped for a double-quoted XML attribute.
pub(crate) fn xml_attribute(value: &str) -> String {
    let mut out = Vec::with_capacity(value.len());
    xml::push_attribute(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the fault envelope for `fault` in `version`.
pub fn write_fault(version: SoapVersion, fault: &Fault, out: &mut Vec<u8>) {
    fault::write(version, fault, out)
}
