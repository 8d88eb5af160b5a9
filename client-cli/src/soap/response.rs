//! Reading a response envelope: `<opResponse><result>` or a SOAP 1.1 / 1.2 fault. Every
//! element is matched by namespace and local name, never by prefix.

use super::tree::{self, Element};
use super::{Version, SERVICE_NS, SOAP11_NS, SOAP12_NS};

/// One `slot` of a listReservationSlotAvailable result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRow {
    pub event_id: String,
    pub event_type: String,
    pub available: i64,
}

/// One `reservation` of a getEventSchedule result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    pub event_id: String,
    pub event_type: String,
}

/// The `result` element: a business outcome, successful or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapResult {
    /// The operation, from the response wrapper's name.
    pub operation: String,
    pub success: bool,
    pub code: String,
    pub message: String,
    /// The sequence number at which the call took effect.
    pub revision: u64,
    pub moved: Option<i64>,
    pub dropped: Option<i64>,
    pub slots: Vec<SlotRow>,
    pub reservations: Vec<ReservationRow>,
}

/// A SOAP fault, in either version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    pub version: Version,
    /// The fault code's local name: Client, Server, VersionMismatch, MustUnderstand (1.1);
    /// Sender, Receiver, VersionMismatch, MustUnderstand (1.2).
    pub code: String,
    /// SOAP 1.2's subcode local name (e.g. InvalidArgument); for SOAP 1.1 taken from the
    /// detail element when there is one.
    pub subcode: Option<String>,
    /// faultstring (1.1) or Reason/Text (1.2).
    pub reason: String,
    /// The offending argument element, from the `invalidArgument` detail.
    pub field: Option<String>,
    /// The `invalidArgument` detail's reason.
    pub detail_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Result(SoapResult),
    Fault(SoapFault),
}

/// The local part of a QName's text (`soap:Client` → `Client`).
fn local(qname: &str) -> String {
    let q = qname.trim();
    q.rsplit_once(':').map_or(q, |(_, l)| l).to_owned()
}

/// Reads a response to a call of `operation`.
pub fn parse(xml: &str, operation: &str) -> Result<Outcome, String> {
    let root = tree::parse(xml)?;
    let version = if root.is(SOAP11_NS, "Envelope") {
        Version::Soap11
    } else if root.is(SOAP12_NS, "Envelope") {
        Version::Soap12
    } else {
        return Err(format!(
            "the response is not a SOAP envelope (root element {}{})",
            root.ns
                .as_deref()
                .map(|n| format!("{{{n}}}"))
                .unwrap_or_default(),
            root.name
        ));
    };
    let ns = version.envelope_ns();
    let body = root
        .child(Some(ns), "Body")
        .ok_or("the response envelope has no Body")?;
    let payload = body.children.first().ok_or("the response Body is empty")?;
    if payload.is(ns, "Fault") {
        return Ok(Outcome::Fault(match version {
            Version::Soap11 => fault11(payload),
            Version::Soap12 => fault12(payload),
        }));
    }
    let wrapper = format!("{operation}Response");
    if !payload.is(SERVICE_NS, &wrapper) {
        return Err(format!(
            "expected {wrapper} in {SERVICE_NS}, got {}{}",
            payload
                .ns
                .as_deref()
                .map(|n| format!("{{{n}}}"))
                .unwrap_or_default(),
            payload.name
        ));
    }
    let result = payload
        .child(Some(SERVICE_NS), "result")
        .ok_or_else(|| format!("{wrapper} has no result"))?;
    result_of(operation, result).map(Outcome::Result)
}

fn text<'a>(parent: &'a Element, name: &str) -> Option<&'a str> {
    parent.child(Some(SERVICE_NS), name).map(Element::trimmed)
}

fn required<'a>(parent: &'a Element, name: &str) -> Result<&'a str, String> {
    text(parent, name).ok_or_else(|| format!("the {} has no {name}", parent.name))
}

fn number<T: std::str::FromStr>(parent: &Element, name: &str) -> Result<Option<T>, String> {
    match text(parent, name) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| format!("{name} is not a number: {t:?}")),
    }
}

fn result_of(operation: &str, result: &Element) -> Result<SoapResult, String> {
    let success = match required(result, "success")? {
        "true" | "1" => true,
        "false" | "0" => false,
        other => return Err(format!("success is not a boolean: {other:?}")),
    };
    let revision = number(result, "revision")?.ok_or("the result has no revision")?;
    let mut slots = Vec::new();
    for slot in result.children_named(Some(SERVICE_NS), "slot") {
        slots.push(SlotRow {
            event_id: required(slot, "eventID")?.to_owned(),
            event_type: required(slot, "eventType")?.to_owned(),
            available: number(slot, "available")?.ok_or("a slot has no available")?,
        });
    }
    let reservations = result
        .children_named(Some(SERVICE_NS), "reservation")
        .map(|r| {
            Ok(ReservationRow {
                event_id: required(r, "eventID")?.to_owned(),
                event_type: required(r, "eventType")?.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(SoapResult {
        operation: operation.to_owned(),
        success,
        code: required(result, "code")?.to_owned(),
        message: text(result, "message").unwrap_or_default().to_owned(),
        revision,
        moved: number(result, "moved")?,
        dropped: number(result, "dropped")?,
        slots,
        reservations,
    })
}

/// The `invalidArgument` element of a fault's detail, if any: (field, reason).
fn invalid_argument(detail: Option<&Element>) -> (Option<String>, Option<String>) {
    let Some(arg) = detail.and_then(|d| d.child(Some(SERVICE_NS), "invalidArgument")) else {
        return (None, None);
    };
    (
        text(arg, "field").map(str::to_owned),
        text(arg, "reason").map(str::to_owned),
    )
}

fn fault11(fault: &Element) -> SoapFault {
    // faultcode, faultstring and detail are unqualified in SOAP 1.1.
    let code = fault.child(None, "faultcode").map(|c| local(&c.text));
    let reason = fault
        .child(None, "faultstring")
        .map(|r| r.trimmed().to_owned());
    let (field, detail_reason) = invalid_argument(fault.child(None, "detail"));
    SoapFault {
        version: Version::Soap11,
        code: code.unwrap_or_else(|| "Server".into()),
        subcode: field.as_ref().map(|_| "InvalidArgument".to_owned()),
        reason: reason.unwrap_or_default(),
        field,
        detail_reason,
    }
}

fn fault12(fault: &Element) -> SoapFault {
    let ns = Some(SOAP12_NS);
    let code = fault.child(ns, "Code");
    let value = code
        .and_then(|c| c.child(ns, "Value"))
        .map(|v| local(&v.text));
    let subcode = code
        .and_then(|c| c.child(ns, "Subcode"))
        .and_then(|s| s.child(ns, "Value"))
        .map(|v| local(&v.text));
    let reason = fault
        .child(ns, "Reason")
        .and_then(|r| r.child(ns, "Text"))
        .map(|t| t.trimmed().to_owned());
    let (field, detail_reason) = invalid_argument(fault.child(ns, "Detail"));
    SoapFault {
        version: Version::Soap12,
        code: value.unwrap_or_else(|| "Receiver".into()),
        subcode,
        reason: reason.unwrap_or_default(),
        field,
        detail_reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = "../../../gateway/tests/golden";

    fn golden(path: &str) -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/soap");
        std::fs::read_to_string(dir.join(GOLDEN).join(path)).unwrap()
    }

    #[test]
    fn list_result() {
        let Outcome::Result(r) = parse(
            &golden("soap12/08-listReservationSlotAvailable-ok.response.xml"),
            "listReservationSlotAvailable",
        )
        .unwrap() else {
            panic!("not a result")
        };
        assert!(r.success);
        assert_eq!((r.code.as_str(), r.revision), ("OK", 8));
        assert_eq!(
            r.slots,
            vec![
                SlotRow {
                    event_id: "MTLE101226".into(),
                    event_type: "Concerts".into(),
                    available: 0
                },
                SlotRow {
                    event_id: "MTLE111226".into(),
                    event_type: "Concerts".into(),
                    available: 1
                },
            ]
        );
    }

    #[test]
    fn refusal_and_removal() {
        let Outcome::Result(r) = parse(
            &golden("soap11/06-reserveTicket-slot-full.response.xml"),
            "reserveTicket",
        )
        .unwrap() else {
            panic!("not a result")
        };
        assert!(!r.success);
        assert_eq!(r.code, "SLOT_FULL");
        let Outcome::Result(r) = parse(
            &golden("soap11/12-removeReservationSlot-removed.response.xml"),
            "removeReservationSlot",
        )
        .unwrap() else {
            panic!("not a result")
        };
        assert!(r.moved.is_some() && r.dropped.is_some());
    }

    #[test]
    fn faults_of_both_versions() {
        for (path, code) in [
            ("soap11/14-fault-invalid-argument.response.xml", "Client"),
            ("soap12/14-fault-invalid-argument.response.xml", "Sender"),
        ] {
            let Outcome::Fault(f) = parse(&golden(path), "reserveTicket").unwrap() else {
                panic!("not a fault")
            };
            assert_eq!(f.code, code);
            assert_eq!(f.subcode.as_deref(), Some("InvalidArgument"));
            assert_eq!(f.field.as_deref(), Some("eventID"));
            assert!(f.reason.contains("no such date"), "{f:?}");
        }
        let Outcome::Fault(f) = parse(
            &golden("soap12/17-fault-version-mismatch.response.xml"),
            "reserveTicket",
        )
        .unwrap() else {
            panic!("not a fault")
        };
        assert_eq!(f.code, "VersionMismatch");
    }

    #[test]
    fn wrong_wrapper_is_an_error() {
        let xml = golden("soap11/01-addReservationSlot-created.response.xml");
        assert!(parse(&xml, "reserveTicket").is_err());
        assert!(parse("<html>nope</html>", "reserveTicket").is_err());
    }
}
