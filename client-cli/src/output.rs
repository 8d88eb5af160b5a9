//! Everything the operation commands print: readable text (a table for listings, the code
//! and message otherwise) or, with `--json`, one JSON object on stdout. Errors go to stderr
//! as text and to stdout as JSON, so a script reading stdout always gets an object.

use serde::Serialize;
use serde_json::json;
use tessera_types::{EventId, Request, Role};

use crate::client::{CallError, Exchange};
use crate::http::TransportError;
use crate::soap::{SoapFault, SoapResult, Version};
use crate::validate::InputError;

/// The exit status of a command: 0 success, 1 business refusal, 2 fault or error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Success = 0,
    Refused = 1,
    Failed = 2,
}

/// One `slot` row as `--json` prints it.
#[derive(Serialize)]
struct JsonSlot<'a> {
    #[serde(rename = "eventID")]
    event_id: &'a str,
    #[serde(rename = "eventType")]
    event_type: &'a str,
    available: i64,
}

/// One `reservation` row as `--json` prints it.
#[derive(Serialize)]
struct JsonReservation<'a> {
    #[serde(rename = "eventID")]
    event_id: &'a str,
    #[serde(rename = "eventType")]
    event_type: &'a str,
}

/// The result as `--json` prints it. Keys are fixed, in this order; absent values are null
/// and absent lists empty.
#[derive(Serialize)]
struct JsonResult<'a> {
    operation: &'a str,
    success: bool,
    code: &'a str,
    message: &'a str,
    revision: u64,
    moved: Option<i64>,
    dropped: Option<i64>,
    slots: Vec<JsonSlot<'a>>,
    reservations: Vec<JsonReservation<'a>>,
}

fn result_json(r: &SoapResult) -> JsonResult<'_> {
    JsonResult {
        operation: &r.operation,
        success: r.success,
        code: &r.code,
        message: &r.message,
        revision: r.revision,
        moved: r.moved,
        dropped: r.dropped,
        slots: r
            .slots
            .iter()
            .map(|s| JsonSlot {
                event_id: &s.event_id,
                event_type: &s.event_type,
                available: s.available,
            })
            .collect(),
        reservations: r
            .reservations
            .iter()
            .map(|s| JsonReservation {
                event_id: &s.event_id,
                event_type: &s.event_type,
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct JsonFault<'a> {
    code: &'a str,
    subcode: Option<&'a str>,
    reason: &'a str,
    field: Option<&'a str>,
    soap: &'static str,
    http_status: Option<u16>,
}

#[derive(Serialize)]
struct JsonFaultEnvelope<'a> {
    fault: JsonFault<'a>,
}

fn fault_json(f: &SoapFault, http_status: Option<u16>) -> JsonFaultEnvelope<'_> {
    JsonFaultEnvelope {
        fault: JsonFault {
            code: &f.code,
            subcode: f.subcode.as_deref(),
            reason: &f.reason,
            field: f.field.as_deref(),
            soap: match f.version {
                Version::Soap11 => "1.1",
                Version::Soap12 => "1.2",
            },
            http_status,
        },
    }
}

fn print_json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => say!("{text}"),
        Err(e) => eprintln!("error: cannot write JSON: {e}"),
    }
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "Thu 10 Dec 2026 evening" for an event ID; the ID itself if it does not parse.
pub fn when(event_id: &str) -> String {
    let Ok(e) = EventId::parse(event_id) else {
        return event_id.to_owned();
    };
    let days = days_from_civil(
        i64::from(e.year()),
        i64::from(e.month()),
        i64::from(e.day()),
    );
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[(days + 3).rem_euclid(7) as usize];
    let month = MONTHS[usize::from(e.month().saturating_sub(1)).min(11)];
    let slot = match e.slot().letter() {
        'M' => "morning",
        'A' => "afternoon",
        _ => "evening",
    };
    format!("{weekday} {:>2} {month} {} {slot}", e.day(), e.year())
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The readable form of a result.
pub fn result_text(r: &SoapResult, request: &Request) -> String {
    let mut out = String::new();
    let head = match request {
        Request::ListReservationSlotAvailable { event_type, .. } if r.success => format!(
            "{}: {} of type {event_type}",
            r.code,
            plural(r.slots.len(), "slot", "slots")
        ),
        Request::GetEventSchedule { participant_id } if r.success => format!(
            "{}: {} for {participant_id}",
            r.code,
            plural(r.reservations.len(), "reservation", "reservations")
        ),
        _ => format!("{}: {}", r.code, r.message),
    };
    out.push_str(&format!("{head} (revision {})\n", r.revision));
    if let (Some(moved), Some(dropped)) = (r.moved, r.dropped) {
        out.push_str(&format!(
            "  holders moved to a later slot: {moved}, reservations dropped: {dropped}\n"
        ));
    }
    if !r.slots.is_empty() {
        out.push_str(&format!(
            "\n{:<11} {:<11} {:<24} {:>9}\n",
            "EVENT ID", "TYPE", "WHEN", "AVAILABLE"
        ));
        for s in &r.slots {
            out.push_str(&format!(
                "{:<11} {:<11} {:<24} {:>9}\n",
                s.event_id,
                s.event_type,
                when(&s.event_id),
                s.available
            ));
        }
    }
    if !r.reservations.is_empty() {
        out.push_str(&format!("\n{:<11} {:<11} {}\n", "EVENT ID", "TYPE", "WHEN"));
        for s in &r.reservations {
            out.push_str(&format!(
                "{:<11} {:<11} {}\n",
                s.event_id,
                s.event_type,
                when(&s.event_id)
            ));
        }
    }
    if r.code == "NOT_AUTHORIZED" {
        if let Some(hint) = not_authorized_hint(request) {
            out.push_str(&format!("  hint: {hint}\n"));
        }
    }
    out
}

/// Why NOT_AUTHORIZED, when the IDs alone tell.
fn not_authorized_hint(request: &Request) -> Option<String> {
    let (user, wants, event) = match request {
        Request::AddReservationSlot {
            admin_id, event_id, ..
        }
        | Request::RemoveReservationSlot {
            admin_id, event_id, ..
        } => (admin_id, Role::Admin, Some(event_id)),
        Request::ListReservationSlotAvailable { admin_id, .. } => (admin_id, Role::Admin, None),
        Request::ReserveTicket { participant_id, .. }
        | Request::GetEventSchedule { participant_id }
        | Request::CancelTicket { participant_id, .. }
        | Request::ExchangeTicket { participant_id, .. } => {
            (participant_id, Role::Participant, None)
        }
    };
    let id = *user;
    match (id.role(), wants) {
        (Role::Participant, Role::Admin) => {
            return Some(format!(
                "{user} is a participant ID (role P); this operation needs an admin ID (role A), \
                 e.g. {}A1234",
                id.city()
            ))
        }
        (Role::Admin, Role::Participant) => {
            return Some(format!(
                "{user} is an admin ID (role A); this operation needs a participant ID (role P), \
                 e.g. {}P1234",
                id.city()
            ))
        }
        _ => {}
    }
    let event = event?;
    (event.city() != id.city()).then(|| {
        format!(
            "an admin manages only the events of their own city: {user} is of {}, the event is \
             in {}",
            id.city(),
            event.city()
        )
    })
}

/// Prints the outcome of a successful or refused call; returns the exit status.
pub fn result(r: &SoapResult, request: &Request, json_mode: bool) -> Exit {
    if json_mode {
        print_json(&result_json(r));
    } else {
        say_raw!("{}", result_text(r, request));
    }
    if r.success {
        Exit::Success
    } else {
        Exit::Refused
    }
}

pub fn fault(f: &SoapFault, http_status: Option<u16>, json_mode: bool) -> Exit {
    if json_mode {
        print_json(&fault_json(f, http_status));
    } else {
        let code = match &f.subcode {
            Some(sub) => format!("{} / {sub}", f.code),
            None => f.code.clone(),
        };
        let status = http_status
            .map(|s| format!(", HTTP {s}"))
            .unwrap_or_default();
        eprintln!(
            "error: the gateway answered with a SOAP fault ({code}{status}): {}",
            f.reason
        );
        if let Some(field) = &f.field {
            eprintln!("  field: {field}");
        }
        match http_status {
            Some(401) => eprintln!(
                "  authenticate with --user NAME (or TESSERA_USER); the password comes from \
                 --password-file FILE, TESSERA_PASSWORD or a prompt"
            ),
            Some(403) => eprintln!("  this user is not granted the ID in the request"),
            _ => {}
        }
    }
    Exit::Failed
}

pub fn call_error(e: &CallError, json_mode: bool) -> Exit {
    if json_mode {
        let (kind, url) = match e {
            CallError::Transport(TransportError::Unreachable { url, .. }) => ("unreachable", url),
            CallError::Transport(TransportError::Timeout { url, .. }) => ("timeout", url),
            CallError::Transport(TransportError::Failed { url, .. }) => ("transport", url),
            CallError::Transport(TransportError::Untrusted { url, .. }) => {
                ("untrusted_certificate", url)
            }
            CallError::Protocol { url, .. } => ("protocol", url),
        };
        print_json(&json!({ "error": { "kind": kind, "url": url, "message": e.to_string() } }));
    } else {
        eprintln!("error: {e}");
    }
    Exit::Failed
}

pub fn input_error(e: &InputError, json_mode: bool) -> Exit {
    if json_mode {
        print_json(&json!({ "error": {
            "kind": "invalid_input",
            "flag": e.flag,
            "field": e.field,
            "value": e.value,
            "reason": e.reason,
            "expected": e.expected,
            "message": e.to_string(),
        }}));
    } else {
        eprintln!("error: {e}");
        eprintln!("  nothing was sent.");
    }
    Exit::Failed
}

/// `--raw`: the exchange as it went over the wire. On stderr under `--json`.
pub fn raw(x: &Exchange, json_mode: bool) {
    let mut text = format!("> POST {}\n", x.url);
    for (name, value) in &x.request_headers {
        text.push_str(&format!("> {name}: {value}\n"));
    }
    text.push_str(&x.request);
    if !x.request.ends_with('\n') {
        text.push('\n');
    }
    match &x.reply {
        Ok(reply) => {
            text.push_str(&format!("< HTTP {} {}\n", reply.status, reply.reason));
            if !reply.content_type.is_empty() {
                text.push_str(&format!("< Content-Type: {}\n", reply.content_type));
            }
            text.push_str(&reply.body);
            if !reply.body.ends_with('\n') {
                text.push('\n');
            }
        }
        Err(e) => text.push_str(&format!("< (no response: {})\n", short(e))),
    }
    text.push('\n');
    if json_mode {
        eprint!("{text}");
    } else {
        say_raw!("{text}");
    }
}

fn short(e: &TransportError) -> String {
    match e {
        TransportError::Unreachable { detail, .. }
        | TransportError::Failed { detail, .. }
        | TransportError::Untrusted { detail, .. } => detail.clone(),
        TransportError::Timeout { after, .. } => format!("timed out after {after:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(when("MTLE101226"), "Thu 10 Dec 2026 evening");
        assert_eq!(when("VANM290228"), "Tue 29 Feb 2028 morning");
        assert_eq!(when("TORA010100"), "Sat  1 Jan 2000 afternoon");
        assert_eq!(when("garbage"), "garbage");
    }

    #[test]
    fn hints() {
        let r = Request::AddReservationSlot {
            admin_id: "MTLP0001".parse().unwrap(),
            event_type: "Concerts".parse().unwrap(),
            event_id: "MTLE101226".parse().unwrap(),
            capacity: tessera_types::Capacity::new(1).unwrap(),
        };
        assert!(not_authorized_hint(&r).unwrap().contains("participant ID"));
        let r = Request::AddReservationSlot {
            admin_id: "TORA0001".parse().unwrap(),
            event_type: "Concerts".parse().unwrap(),
            event_id: "MTLE101226".parse().unwrap(),
            capacity: tessera_types::Capacity::new(1).unwrap(),
        };
        assert!(not_authorized_hint(&r).unwrap().contains("own city"));
    }
}
