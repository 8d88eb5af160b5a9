//! SOAP without IO: a validated `tessera_types::Request` in, request envelope bytes out; response bytes
//! in, a [`SoapResult`] or a [`SoapFault`] out. The wire format is the gateway's contract
//! (`wsdl/reservation.wsdl`): document/literal wrapped, namespace `urn:tessera:reservation:v1`.

mod request;
mod response;
mod tree;
pub mod wsse;

pub use request::envelope_with;
pub use response::{parse, Outcome, SoapFault, SoapResult};

/// Namespace of the service's elements.
pub const SERVICE_NS: &str = "urn:tessera:reservation:v1";
/// Envelope namespace of SOAP 1.1.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Envelope namespace of SOAP 1.2.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The two bindings of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Soap11,
    Soap12,
}

impl Version {
    pub fn envelope_ns(self) -> &'static str {
        match self {
            Version::Soap11 => SOAP11_NS,
            Version::Soap12 => SOAP12_NS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Version::Soap11 => "SOAP 1.1",
            Version::Soap12 => "SOAP 1.2",
        }
    }

    /// The soapAction of `operation` (`urn:tessera:reservation:v1#reserveTicket`).
    pub fn action(operation: &str) -> String {
        format!("{SERVICE_NS}#{operation}")
    }

    /// The HTTP headers that carry a call of `operation`: Content-Type, and for SOAP 1.1 the
    /// SOAPAction header (SOAP 1.2 carries the action as a Content-Type parameter).
    pub fn headers(self, operation: &str) -> Vec<(&'static str, String)> {
        let action = Self::action(operation);
        match self {
            Version::Soap11 => vec![
                ("Content-Type", "text/xml; charset=utf-8".to_owned()),
                ("SOAPAction", format!("\"{action}\"")),
            ],
            Version::Soap12 => vec![(
                "Content-Type",
                format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
            )],
        }
    }
}
