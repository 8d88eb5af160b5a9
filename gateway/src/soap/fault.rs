//! SOAP faults: what can go wrong before or instead of a reply, how each maps to the two
//! versions' fault codes and HTTP statuses, and how a fault is written.
//!
//! Fault texts are built only from this crate's literals and the shared parsers' error texts,
//! never from request bytes, so a fault cannot reflect attacker-chosen markup or script back
//! to a client or into a log viewer. The one exception is the SOAP 1.2 `NotUnderstood` header,
//! which by definition names the header that was not understood; it is escaped like any text.

use std::borrow::Cow;

use super::version::{SoapVersion, SOAP11_ENVELOPE_NS, SOAP12_ENVELOPE_NS};
use super::xml::{
    close_envelope, header_to_body, open_envelope, push_attribute, push_simple, push_text,
};
use super::SERVICE_NS;

/// Everything that is answered with a SOAP fault instead of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The root element is not a SOAP envelope, or is one of the other version than the
    /// Content-Type announced.
    VersionMismatch,
    /// A header block addressed to this node is marked mustUnderstand; this service
    /// understands no header blocks.
    MustUnderstand(NotUnderstood),
    /// Not well-formed XML, forbidden markup (DTD, processing instruction), or not the
    /// structure of a SOAP envelope.
    Malformed(&'static str),
    /// A parser limit ([`super::Limits`]) was exceeded.
    LimitExceeded(&'static str),
    /// The body is larger than the configured maximum.
    TooLarge,
    /// The Body element is not one of the service's operations.
    UnknownOperation,
    /// An argument element is missing, misplaced, or its value is invalid.
    InvalidArgument {
        /// The argument element's name as in the WSDL.
        field: &'static str,
        reason: Cow<'static, str>,
    },
    /// The request body did not arrive within the request deadline.
    RequestTimeout,
    /// The cluster could not take the call; it did not take effect.
    Unavailable,
    /// The cluster did not answer within the request deadline. `ordered`: the sequence
    /// number it gave the call, when known, and then the call will take effect; otherwise it
    /// may still.
    Timeout { ordered: Option<u64> },
    /// Too many calls in flight; shed before any work was done.
    Overloaded,
    /// Authentication is required and the caller did not prove who it is (HTTP 401).
    Unauthenticated(AuthFault),
    /// The authenticated principal may not act as the ID in this argument (HTTP 403).
    Forbidden {
        /// `adminID` or `participantID`.
        field: &'static str,
    },
    /// The call's `wsa:MessageID` was used before for a different request; the cluster did
    /// nothing.
    MessageIdReused,
}

/// Why a caller was not authenticated. The texts never say whether a user name exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFault {
    /// Neither HTTP Basic credentials nor a WS-Security UsernameToken.
    Missing,
    /// Unknown user name or wrong password (deliberately one case).
    WrongCredentials,
    /// The token's `wsu:Created` is not within the freshness window of now.
    Stale,
    /// The token's `wsse:Nonce` was seen before within the window.
    Replayed,
    /// A `#PasswordDigest` token: unsupported by design.
    PasswordDigest,
    /// Too many failures for the user name or the client address; retry later.
    Throttled,
    /// Credentials that cannot be read (malformed Basic header, token not per the profile).
    Unusable(&'static str),
}

/// The WS-Security namespace, in which the authentication fault codes are defined.
const WSSE_NS: &str = super::wsse::WSSE_NS;

impl AuthFault {
    /// The WS-Security fault code (local name in `WSSE_NS`).
    pub fn code(self) -> &'static str {
        match self {
            AuthFault::PasswordDigest => "UnsupportedSecurityToken",
            _ => "FailedAuthentication",
        }
    }

    pub fn reason(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            AuthFault::Missing => {
                "Authentication required: send HTTP Basic credentials or a WS-Security \
                 UsernameToken"
            }
            AuthFault::WrongCredentials => {
                "Authentication failed: unknown user name or wrong password"
            }
            AuthFault::Stale => {
                "Authentication failed: the UsernameToken's Created is not within 5 minutes of \
                 the server's clock"
            }
            AuthFault::Replayed => {
                "Authentication failed: the UsernameToken's Nonce was already used (replay)"
            }
            AuthFault::PasswordDigest => {
                "PasswordDigest is not supported: only a PasswordText UsernameToken over TLS is \
                 (Tessera stores password hashes, never passwords)"
            }
            AuthFault::Throttled => {
                "Authentication refused: too many failed attempts for this user name or client \
                 address; retry in a few seconds"
            }
            AuthFault::Unusable(why) => return Cow::Owned(format!("Authentication failed: {why}")),
        })
    }
}

/// The qualified name of a header block that was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotUnderstood {
    pub namespace: String,
    pub local_name: String,
}

/// The four SOAP fault classes. SOAP 1.1 calls the last two Client and Server; SOAP 1.2
/// calls them Sender and Receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    VersionMismatch,
    MustUnderstand,
    Sender,
    Receiver,
}

impl Fault {
    pub fn class(&self) -> FaultClass {
        match self {
            Fault::VersionMismatch => FaultClass::VersionMismatch,
            Fault::MustUnderstand(_) => FaultClass::MustUnderstand,
            Fault::Malformed(_)
            | Fault::LimitExceeded(_)
            | Fault::TooLarge
            | Fault::UnknownOperation
            | Fault::InvalidArgument { .. }
            | Fault::RequestTimeout
            | Fault::Unauthenticated(_)
            | Fault::Forbidden { .. }
            | Fault::MessageIdReused => FaultClass::Sender,
            Fault::Unavailable | Fault::Timeout { .. } | Fault::Overloaded => FaultClass::Receiver,
        }
    }

    /// Local name (in the service namespace) of the SOAP 1.2 subcode; also what logs show.
    pub fn subcode(&self) -> Option<&'static str> {
        match self {
            Fault::VersionMismatch | Fault::MustUnderstand(_) => None,
            Fault::Malformed(_) => Some("MalformedRequest"),
            Fault::LimitExceeded(_) | Fault::TooLarge => Some("LimitExceeded"),
            Fault::UnknownOperation => Some("UnknownOperation"),
            Fault::InvalidArgument { .. } => Some("InvalidArgument"),
            Fault::RequestTimeout => Some("RequestTimeout"),
            Fault::Unavailable => Some("Unavailable"),
            Fault::Timeout { .. } => Some("Timeout"),
            Fault::Overloaded => Some("Overloaded"),
            Fault::Unauthenticated(auth) => Some(auth.code()),
            Fault::Forbidden { .. } => Some("Forbidden"),
            Fault::MessageIdReused => Some("MessageIdReused"),
        }
    }

    /// The namespace of [`Fault::subcode`]: the service's, or WS-Security's for the
    /// authentication faults (whose code WS-Security defines).
    fn subcode_ns(&self) -> &'static str {
        match self {
            Fault::Unauthenticated(_) => WSSE_NS,
            _ => SERVICE_NS,
        }
    }

    /// The human-readable text: `faultstring` in SOAP 1.1, `Reason/Text` in SOAP 1.2.
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            Fault::VersionMismatch => Cow::Borrowed(
                "The root element must be a SOAP 1.1 Envelope sent as text/xml or a SOAP 1.2 \
                 Envelope sent as application/soap+xml",
            ),
            Fault::MustUnderstand(_) => Cow::Borrowed(
                "A header block marked mustUnderstand is not understood by this service",
            ),
            Fault::Malformed(why) => Cow::Owned(format!("Malformed request: {why}")),
            Fault::LimitExceeded(why) => Cow::Owned(format!("Request exceeds a limit: {why}")),
            Fault::TooLarge => {
                Cow::Borrowed("Request exceeds a limit: the body is larger than allowed")
            }
            Fault::UnknownOperation => {
                Cow::Borrowed("The Body element is not an operation of urn:tessera:reservation:v1")
            }
            Fault::InvalidArgument { field, reason } => {
                Cow::Owned(format!("Invalid argument {field}: {reason}"))
            }
            Fault::RequestTimeout => Cow::Borrowed("The request body did not arrive in time"),
            Fault::Unavailable => Cow::Borrowed(
                "The reservation cluster cannot take calls now; the call did not take effect",
            ),
            Fault::Timeout { ordered: None } => Cow::Borrowed(
                "The reservation cluster did not answer in time; the call may still take effect",
            ),
            Fault::Timeout { ordered: Some(seq) } => Cow::Owned(format!(
                "The reservation cluster ordered the call as number {seq} but did not answer in \
                 time; the call will take effect"
            )),
            Fault::Overloaded => {
                Cow::Borrowed("The service is at its limit of concurrent calls; retry later")
            }
            Fault::Unauthenticated(auth) => auth.reason(),
            Fault::Forbidden { field } => Cow::Owned(format!(
                "Forbidden: the authenticated user is not allowed to act as this {field}"
            )),
            Fault::MessageIdReused => Cow::Borrowed(
                "The wsa:MessageID was already used for a different request; nothing was done. \
                 A new call needs a new MessageID; a retry must repeat the request exactly",
            ),
        }
    }

    /// The HTTP status a fault is sent with. SOAP 1.1 (and WS-I BP R1126) uses 500 for
    /// every fault; SOAP 1.2 uses 400 for Sender faults and 500 otherwise. Three faults are
    /// HTTP-level conditions first and keep their own status in both versions, so that
    /// proxies, load balancers and retry logic see them for what they are.
    pub fn http_status(&self, version: SoapVersion) -> u16 {
        match self {
            Fault::TooLarge => 413,
            Fault::RequestTimeout => 408,
            Fault::Overloaded => 503,
            Fault::Unauthenticated(_) => 401,
            Fault::Forbidden { .. } => 403,
            _ => match (version, self.class()) {
                (SoapVersion::Soap12, FaultClass::Sender) => 400,
                _ => 500,
            },
        }
    }
}

/// Appends the envelope carrying `fault` in `version`.
pub(crate) fn write(version: SoapVersion, fault: &Fault, out: &mut Vec<u8>) {
    out.reserve(640);
    let with_header = match fault {
        Fault::VersionMismatch => true,
        Fault::MustUnderstand(_) => version == SoapVersion::Soap12,
        _ => false,
    };
    open_envelope(out, version, with_header);
    if with_header {
        match fault {
            Fault::MustUnderstand(header) => write_not_understood(out, header),
            _ => write_upgrade(out),
        }
        header_to_body(out, version);
    }
    match version {
        SoapVersion::Soap11 => write_fault11(out, fault),
        SoapVersion::Soap12 => write_fault12(out, fault),
    }
    close_envelope(out, version);
}

fn write_fault11(out: &mut Vec<u8>, fault: &Fault) {
    out.extend_from_slice(b"<soap:Fault>");
    let code = match fault.class() {
        FaultClass::VersionMismatch => "soap:VersionMismatch",
        FaultClass::MustUnderstand => "soap:MustUnderstand",
        FaultClass::Sender => "soap:Client",
        FaultClass::Receiver => "soap:Server",
    };
    // faultcode, faultstring and detail are unqualified in SOAP 1.1.
    if let Fault::Unauthenticated(auth) = fault {
        // WS-Security 1.0 (section 12) puts its own QName in SOAP 1.1's faultcode.
        out.extend_from_slice(b"<faultcode xmlns:wsse=\"");
        out.extend_from_slice(WSSE_NS.as_bytes());
        out.extend_from_slice(b"\">wsse:");
        out.extend_from_slice(auth.code().as_bytes());
        out.extend_from_slice(b"</faultcode>");
    } else {
        push_simple(out, "faultcode", code);
    }
    push_simple(out, "faultstring", &fault.reason());
    if let Fault::InvalidArgument { field, reason } = fault {
        out.extend_from_slice(b"<detail>");
        write_invalid_argument(out, field, reason);
        out.extend_from_slice(b"</detail>");
    }
    out.extend_from_slice(b"</soap:Fault>");
}

fn write_fault12(out: &mut Vec<u8>, fault: &Fault) {
    out.extend_from_slice(b"<env:Fault><env:Code>");
    let code = match fault.class() {
        FaultClass::VersionMismatch => "env:VersionMismatch",
        FaultClass::MustUnderstand => "env:MustUnderstand",
        FaultClass::Sender => "env:Sender",
        FaultClass::Receiver => "env:Receiver",
    };
    push_simple(out, "env:Value", code);
    if let Some(subcode) = fault.subcode() {
        // The subcode is a QName; its prefix is declared where it is used.
        let prefix: &[u8] = match fault {
            Fault::Unauthenticated(_) => b"wsse",
            _ => b"t",
        };
        out.extend_from_slice(b"<env:Subcode><env:Value xmlns:");
        out.extend_from_slice(prefix);
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(fault.subcode_ns().as_bytes());
        out.extend_from_slice(b"\">");
        out.extend_from_slice(prefix);
        out.extend_from_slice(b":");
        out.extend_from_slice(subcode.as_bytes());
        out.extend_from_slice(b"</env:Value></env:Subcode>");
    }
    out.extend_from_slice(b"</env:Code><env:Reason><env:Text xml:lang=\"en\">");
    push_text(out, &fault.reason());
    out.extend_from_slice(b"</env:Text></env:Reason>");
    if let Fault::InvalidArgument { field, reason } = fault {
        out.extend_from_slice(b"<env:Detail>");
        write_invalid_argument(out, field, reason);
        out.extend_from_slice(b"</env:Detail>");
    }
    out.extend_from_slice(b"</env:Fault>");
}

/// The `invalidArgument` detail element declared in the WSDL.
fn write_invalid_argument(out: &mut Vec<u8>, field: &str, reason: &str) {
    out.extend_from_slice(b"<invalidArgument xmlns=\"");
    out.extend_from_slice(SERVICE_NS.as_bytes());
    out.extend_from_slice(b"\">");
    push_simple(out, "field", field);
    push_simple(out, "reason", reason);
    out.extend_from_slice(b"</invalidArgument>");
}

/// SOAP 1.2's Upgrade header (part 1, 5.4.7), listing the envelopes this service accepts. It
/// is in the SOAP 1.2 namespace whichever version the fault is written in.
fn write_upgrade(out: &mut Vec<u8>) {
    out.extend_from_slice(b"<upg:Upgrade xmlns:upg=\"");
    out.extend_from_slice(SOAP12_ENVELOPE_NS.as_bytes());
    out.extend_from_slice(b"\">");
    for (prefix, ns) in [("s12", SOAP12_ENVELOPE_NS), ("s11", SOAP11_ENVELOPE_NS)] {
        out.extend_from_slice(b"<upg:SupportedEnvelope qname=\"");
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(b":Envelope\" xmlns:");
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(ns.as_bytes());
        out.extend_from_slice(b"\"/>");
    }
    out.extend_from_slice(b"</upg:Upgrade>");
}

/// SOAP 1.2's NotUnderstood header block (part 1, 5.4.8).
fn write_not_understood(out: &mut Vec<u8>, header: &NotUnderstood) {
    out.extend_from_slice(b"<env:NotUnderstood qname=\"h:");
    push_attribute(out, &header.local_name);
    out.extend_from_slice(b"\" xmlns:h=\"");
    push_attribute(out, &header.namespace);
    out.extend_from_slice(b"\"/>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(version: SoapVersion, fault: &Fault) -> String {
        let mut out = Vec::new();
        write(version, fault, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn statuses() {
        use SoapVersion::*;
        let invalid = Fault::InvalidArgument {
            field: "eventID",
            reason: "no".into(),
        };
        assert_eq!(invalid.http_status(Soap11), 500);
        assert_eq!(invalid.http_status(Soap12), 400);
        assert_eq!(Fault::Unavailable.http_status(Soap12), 500);
        assert_eq!(Fault::VersionMismatch.http_status(Soap12), 500);
        assert_eq!(Fault::Overloaded.http_status(Soap11), 503);
        assert_eq!(Fault::TooLarge.http_status(Soap12), 413);
    }

    #[test]
    fn soap11_invalid_argument() {
        let fault = Fault::InvalidArgument {
            field: "eventID",
            reason: "no such date in the calendar".into(),
        };
        assert_eq!(
            written(SoapVersion::Soap11, &fault),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope \
             xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault>\
             <faultcode>soap:Client</faultcode><faultstring>Invalid argument eventID: no such \
             date in the calendar</faultstring><detail><invalidArgument \
             xmlns=\"urn:tessera:reservation:v1\"><field>eventID</field><reason>no such date \
             in the calendar</reason></invalidArgument></detail></soap:Fault></soap:Body>\
             </soap:Envelope>"
        );
    }

    #[test]
    fn soap12_not_understood_is_escaped() {
        let fault = Fault::MustUnderstand(NotUnderstood {
            namespace: "urn:x\"><evil/>".into(),
            local_name: "Security".into(),
        });
        let text = written(SoapVersion::Soap12, &fault);
        assert!(text.contains(
            "<env:NotUnderstood qname=\"h:Security\" xmlns:h=\"urn:x&quot;&gt;&lt;evil/&gt;\"/>"
        ));
        assert!(text.contains("<env:Value>env:MustUnderstand</env:Value>"));
    }
}
