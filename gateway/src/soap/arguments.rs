//! Judging each argument with the shared parsers of `tessera_types`, so the gateway accepts
//! exactly what the replicas accept (`docs/domain.md`, step 0). A bad value is reported with
//! its element's name and the parser's reason; the value itself is never quoted back.

use std::borrow::Cow;

use tessera_types::ids::check_capacity;
use tessera_types::{EventId, EventType, Request, UserId};

use super::fault::Fault;
use super::payload::RawCall;

/// Turns the raw arguments into a request, or the fault for the first bad argument in
/// schema order.
pub(crate) fn validate(call: RawCall) -> Result<Request, Fault> {
    Ok(match call {
        RawCall::AddReservationSlot(a) => {
            user("adminID", &a.admin_id)?;
            event_type("eventType", &a.event_type)?;
            event_id("eventID", &a.event_id)?;
            let capacity = capacity("capacity", &a.capacity)?;
            Request::AddReservationSlot {
                admin_id: a.admin_id,
                event_type: a.event_type,
                event_id: a.event_id,
                capacity,
            }
        }
        RawCall::RemoveReservationSlot(a) => {
            user("adminID", &a.admin_id)?;
            event_type("eventType", &a.event_type)?;
            event_id("eventID", &a.event_id)?;
            Request::RemoveReservationSlot {
                admin_id: a.admin_id,
                event_type: a.event_type,
                event_id: a.event_id,
            }
        }
        RawCall::ListReservationSlotAvailable(a) => {
            user("adminID", &a.admin_id)?;
            event_type("eventType", &a.event_type)?;
            Request::ListReservationSlotAvailable {
                admin_id: a.admin_id,
                event_type: a.event_type,
            }
        }
        RawCall::ReserveTicket(a) => {
            user("participantID", &a.participant_id)?;
            event_type("eventType", &a.event_type)?;
            event_id("eventID", &a.event_id)?;
            Request::ReserveTicket {
                participant_id: a.participant_id,
                event_type: a.event_type,
                event_id: a.event_id,
            }
        }
        RawCall::GetEventSchedule(a) => {
            user("participantID", &a.participant_id)?;
            Request::GetEventSchedule {
                participant_id: a.participant_id,
            }
        }
        RawCall::CancelTicket(a) => {
            user("participantID", &a.participant_id)?;
            event_type("eventType", &a.event_type)?;
            event_id("eventID", &a.event_id)?;
            Request::CancelTicket {
                participant_id: a.participant_id,
                event_type: a.event_type,
                event_id: a.event_id,
            }
        }
        RawCall::ExchangeTicket(a) => {
            user("participantID", &a.participant_id)?;
            event_type("eventType", &a.event_type)?;
            event_id("eventID", &a.event_id)?;
            event_type("newEventType", &a.new_event_type)?;
            event_id("newEventID", &a.new_event_id)?;
            Request::ExchangeTicket {
                participant_id: a.participant_id,
                event_type: a.event_type,
                event_id: a.event_id,
                new_event_type: a.new_event_type,
                new_event_id: a.new_event_id,
            }
        }
    })
}

fn invalid(field: &'static str, reason: impl Into<Cow<'static, str>>) -> Fault {
    Fault::InvalidArgument {
        field,
        reason: reason.into(),
    }
}

/// A user ID of either role: which role an operation needs is a business rule
/// (`NOT_AUTHORIZED`), decided by the replicas.
fn user(field: &'static str, value: &str) -> Result<(), Fault> {
    UserId::parse(value)
        .map(drop)
        .map_err(|e| invalid(field, e.to_string()))
}

fn event_id(field: &'static str, value: &str) -> Result<(), Fault> {
    EventId::parse(value)
        .map(drop)
        .map_err(|e| invalid(field, e.to_string()))
}

fn event_type(field: &'static str, value: &str) -> Result<(), Fault> {
    EventType::parse(value)
        .map(drop)
        .map_err(|e| invalid(field, e.to_string()))
}

/// An `xs:int` (whose whitespace facet is `collapse`, so surrounding whitespace is allowed)
/// in the domain's range.
fn capacity(field: &'static str, value: &str) -> Result<i32, Fault> {
    let digits = value.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    // Rust's integer syntax is xs:int's lexical space ([+-]?[0-9]+) plus nothing else.
    let n: i32 = digits
        .parse()
        .map_err(|_| invalid(field, "not an xs:int (a 32-bit integer)"))?;
    check_capacity(n).map_err(|e| invalid(field, e.to_string()))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_an_xs_int_in_range() {
        assert_eq!(capacity("capacity", "10"), Ok(10));
        assert_eq!(capacity("capacity", " +0100000\n"), Ok(100_000));
        for bad in [
            "",
            " ",
            "0",
            "-1",
            "100001",
            "1.0",
            "1e3",
            "0x10",
            "2147483648",
            "١",
        ] {
            assert!(
                matches!(
                    capacity("capacity", bad),
                    Err(Fault::InvalidArgument {
                        field: "capacity",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn identifiers_are_not_trimmed() {
        assert!(user("adminID", "MTLA0001").is_ok());
        assert!(user("adminID", " MTLA0001").is_err());
        assert!(event_type("eventType", "Concerts ").is_err());
    }
}
