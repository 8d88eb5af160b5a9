//! The seven operations of `docs/domain.md`, as they travel to a replica: typed. Arguments are
//! parsed once, at the edge (the gateway, the CLI) by [`Request::from_arguments`], the one
//! place that knows which arguments each operation takes and what they may be; replicas never
//! see a malformed one (a malformed argument is the caller's error, a SOAP fault or a CLI
//! error, before anything is ordered). Decoding re-validates every field.

use serde::{Deserialize, Serialize};

use crate::ids::{Capacity, EventId, EventType, IdError, UserId};
use crate::DecodeError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Request {
    AddReservationSlot {
        admin_id: UserId,
        event_type: EventType,
        event_id: EventId,
        capacity: Capacity,
    },
    RemoveReservationSlot {
        admin_id: UserId,
        event_type: EventType,
        event_id: EventId,
    },
    ListReservationSlotAvailable {
        admin_id: UserId,
        event_type: EventType,
    },
    ReserveTicket {
        participant_id: UserId,
        event_type: EventType,
        event_id: EventId,
    },
    GetEventSchedule {
        participant_id: UserId,
    },
    CancelTicket {
        participant_id: UserId,
        event_type: EventType,
        event_id: EventId,
    },
    ExchangeTicket {
        participant_id: UserId,
        event_type: EventType,
        event_id: EventId,
        new_event_type: EventType,
        new_event_id: EventId,
    },
}

/// The operations' names as in the WSDL and `docs/domain.md`, and their arguments' element
/// names in their order there.
pub const OPERATIONS: [(&str, &[&str]); 7] = [
    (
        "addReservationSlot",
        &["adminID", "eventType", "eventID", "capacity"],
    ),
    (
        "removeReservationSlot",
        &["adminID", "eventType", "eventID"],
    ),
    ("listReservationSlotAvailable", &["adminID", "eventType"]),
    ("reserveTicket", &["participantID", "eventType", "eventID"]),
    ("getEventSchedule", &["participantID"]),
    ("cancelTicket", &["participantID", "eventType", "eventID"]),
    (
        "exchangeTicket",
        &[
            "participantID",
            "eventType",
            "eventID",
            "newEventType",
            "newEventID",
        ],
    ),
];

/// An operation's arguments that do not make a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    #[error("unknown operation {0:?}")]
    UnknownOperation(String),
    #[error("{field}: missing")]
    Missing { field: &'static str },
    #[error("{field}: {reason}")]
    Invalid {
        /// The argument's element name, e.g. `eventID`.
        field: &'static str,
        reason: IdError,
    },
}

impl ArgumentError {
    /// The argument at fault, if one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ArgumentError::UnknownOperation(_) => None,
            ArgumentError::Missing { field } | ArgumentError::Invalid { field, .. } => Some(field),
        }
    }
}

impl Request {
    /// The operation name as in the WSDL and `docs/domain.md`.
    pub fn operation(&self) -> &'static str {
        match self {
            Request::AddReservationSlot { .. } => "addReservationSlot",
            Request::RemoveReservationSlot { .. } => "removeReservationSlot",
            Request::ListReservationSlotAvailable { .. } => "listReservationSlotAvailable",
            Request::ReserveTicket { .. } => "reserveTicket",
            Request::GetEventSchedule { .. } => "getEventSchedule",
            Request::CancelTicket { .. } => "cancelTicket",
            Request::ExchangeTicket { .. } => "exchangeTicket",
        }
    }

    /// The arguments by their names in `docs/domain.md` (which are the WSDL's element names),
    /// in their order there, as text.
    pub fn arguments(&self) -> Vec<(&'static str, String)> {
        match self {
            Request::AddReservationSlot {
                admin_id,
                event_type,
                event_id,
                capacity,
            } => vec![
                ("adminID", admin_id.to_string()),
                ("eventType", event_type.to_string()),
                ("eventID", event_id.to_string()),
                ("capacity", capacity.to_string()),
            ],
            Request::RemoveReservationSlot {
                admin_id,
                event_type,
                event_id,
            } => vec![
                ("adminID", admin_id.to_string()),
                ("eventType", event_type.to_string()),
                ("eventID", event_id.to_string()),
            ],
            Request::ListReservationSlotAvailable {
                admin_id,
                event_type,
            } => vec![
                ("adminID", admin_id.to_string()),
                ("eventType", event_type.to_string()),
            ],
            Request::ReserveTicket {
                participant_id,
                event_type,
                event_id,
            }
            | Request::CancelTicket {
                participant_id,
                event_type,
                event_id,
            } => vec![
                ("participantID", participant_id.to_string()),
                ("eventType", event_type.to_string()),
                ("eventID", event_id.to_string()),
            ],
            Request::GetEventSchedule { participant_id } => {
                vec![("participantID", participant_id.to_string())]
            }
            Request::ExchangeTicket {
                participant_id,
                event_type,
                event_id,
                new_event_type,
                new_event_id,
            } => vec![
                ("participantID", participant_id.to_string()),
                ("eventType", event_type.to_string()),
                ("eventID", event_id.to_string()),
                ("newEventType", new_event_type.to_string()),
                ("newEventID", new_event_id.to_string()),
            ],
        }
    }

    /// Parses an operation's arguments, given as text by element name (`arg(name)`), in the
    /// order of [`OPERATIONS`]: the first one missing or malformed is the error. Identifiers
    /// are taken as they are (never trimmed or case-folded); `capacity` is an `xs:int`.
    pub fn from_arguments<'a>(
        operation: &str,
        arg: impl Fn(&'static str) -> Option<&'a str>,
    ) -> Result<Request, ArgumentError> {
        let get = |field: &'static str| arg(field).ok_or(ArgumentError::Missing { field });
        let invalid = |field| move |reason| ArgumentError::Invalid { field, reason };
        let user = |field| get(field).and_then(|v| UserId::parse(v).map_err(invalid(field)));
        let event_type =
            |field| get(field).and_then(|v| EventType::parse(v).map_err(invalid(field)));
        let event_id = |field| get(field).and_then(|v| EventId::parse(v).map_err(invalid(field)));
        Ok(match operation {
            "addReservationSlot" => Request::AddReservationSlot {
                admin_id: user("adminID")?,
                event_type: event_type("eventType")?,
                event_id: event_id("eventID")?,
                capacity: get("capacity")
                    .and_then(|v| Capacity::parse(v).map_err(invalid("capacity")))?,
            },
            "removeReservationSlot" => Request::RemoveReservationSlot {
                admin_id: user("adminID")?,
                event_type: event_type("eventType")?,
                event_id: event_id("eventID")?,
            },
            "listReservationSlotAvailable" => Request::ListReservationSlotAvailable {
                admin_id: user("adminID")?,
                event_type: event_type("eventType")?,
            },
            "reserveTicket" => Request::ReserveTicket {
                participant_id: user("participantID")?,
                event_type: event_type("eventType")?,
                event_id: event_id("eventID")?,
            },
            "getEventSchedule" => Request::GetEventSchedule {
                participant_id: user("participantID")?,
            },
            "cancelTicket" => Request::CancelTicket {
                participant_id: user("participantID")?,
                event_type: event_type("eventType")?,
                event_id: event_id("eventID")?,
            },
            "exchangeTicket" => Request::ExchangeTicket {
                participant_id: user("participantID")?,
                event_type: event_type("eventType")?,
                event_id: event_id("eventID")?,
                new_event_type: event_type("newEventType")?,
                new_event_id: event_id("newEventID")?,
            },
            other => return Err(ArgumentError::UnknownOperation(other.to_owned())),
        })
    }

    /// True for the two operations that never change state.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Request::ListReservationSlotAvailable { .. } | Request::GetEventSchedule { .. }
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        crate::decode("request", bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(op: &str, args: &[(&str, &str)]) -> Result<Request, ArgumentError> {
        let args: Vec<(String, String)> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Request::from_arguments(op, |name| {
            args.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        })
    }

    #[test]
    fn arguments_are_named_and_ordered_as_in_the_domain_spec() {
        let r = parse(
            "exchangeTicket",
            &[
                ("participantID", "MTLP0001"),
                ("eventType", "Concerts"),
                ("eventID", "MTLE101226"),
                ("newEventType", "Theatre"),
                ("newEventID", "TORM111226"),
            ],
        )
        .expect("valid");
        let names: Vec<_> = r.arguments().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, OPERATIONS[6].1);
        assert_eq!(r.operation(), OPERATIONS[6].0);
        for (op, names) in OPERATIONS {
            let values = ["MTLA0001", "Concerts", "MTLE101226", "3", "TORM111226"];
            let args: Vec<(&str, &str)> = names
                .iter()
                .map(|n| {
                    let v = match *n {
                        "adminID" | "participantID" => values[0],
                        "eventType" | "newEventType" => values[1],
                        "eventID" => values[2],
                        "capacity" => values[3],
                        _ => values[4],
                    };
                    (*n, v)
                })
                .collect();
            let r = parse(op, &args).expect(op);
            assert_eq!(r.operation(), op);
            let round: Vec<_> = r.arguments().into_iter().map(|(n, _)| n).collect();
            assert_eq!(round, names);
            assert_eq!(Request::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn the_first_bad_argument_in_order_is_the_error() {
        let e = parse(
            "addReservationSlot",
            &[
                ("adminID", "MTLA0001"),
                ("eventType", "Concert"),
                ("eventID", "MTLX101226"),
                ("capacity", "0"),
            ],
        );
        assert_eq!(
            e,
            Err(ArgumentError::Invalid {
                field: "eventType",
                reason: IdError::EventType
            })
        );
        let e = parse("getEventSchedule", &[]);
        assert_eq!(
            e,
            Err(ArgumentError::Missing {
                field: "participantID"
            })
        );
        assert_eq!(e.map_err(|e| e.field()), Err(Some("participantID")));
        assert!(matches!(
            parse("bookEverything", &[]),
            Err(ArgumentError::UnknownOperation(_))
        ));
    }

    const BAD_USERS: [&str; 9] = [
        "",
        "MTLA123",
        "MTLA00011",
        "mtla0001",
        "NYCA0001",
        "MTLX0001",
        "MTLA00O1",
        "MTLA0001 ",
        "MTLPP001",
    ];
    const BAD_EVENTS: [&str; 11] = [
        "",
        "MTLE10122",
        "MTLE1012260",
        "MTLX101226",
        "NYCE101226",
        "MTLE290227",
        "MTLE311126",
        "MTLE000126",
        "MTLE101326",
        "mtle101226",
        "MTLE101226 ",
    ];
    const BAD_TYPES: [&str; 6] = ["", "concerts", "Concert", "Art Gallery", "THEATRE", "Opera"];
    const BAD_CAPACITIES: [&str; 7] = ["0", "-1", "100001", "-2147483648", "2147483647", "ten", ""];

    fn good(field: &str) -> &'static str {
        match field {
            "adminID" => "MTLA0001",
            "participantID" => "MTLP0001",
            "eventType" | "newEventType" => "Concerts",
            "eventID" | "newEventID" => "MTLE101226",
            _ => "5",
        }
    }

    fn bad(field: &str) -> &'static [&'static str] {
        match field {
            "adminID" | "participantID" => &BAD_USERS,
            "eventType" | "newEventType" => &BAD_TYPES,
            "eventID" | "newEventID" => &BAD_EVENTS,
            _ => &BAD_CAPACITIES,
        }
    }

    /// Every malformed value of every argument of every operation is refused, naming that
    /// argument: the edge's INVALID_ARGUMENT, before anything is ordered.
    #[test]
    fn every_malformed_argument_is_refused_by_its_field() {
        for (op, fields) in OPERATIONS {
            let good_args: Vec<(&str, &str)> = fields.iter().map(|f| (*f, good(f))).collect();
            assert!(parse(op, &good_args).is_ok(), "{op}");
            for (i, field) in fields.iter().enumerate() {
                for value in bad(field) {
                    let mut args = good_args.clone();
                    args[i].1 = value;
                    let e = parse(op, &args).expect_err(value);
                    assert_eq!(e.field(), Some(*field), "{op} {field}={value:?}: {e}");
                    assert!(matches!(e, ArgumentError::Invalid { .. }), "{e}");
                }
            }
        }
    }

    /// A well-formed ID of the wrong role is not malformed (the replicas answer it with
    /// NOT_AUTHORIZED), but a malformed argument beside it still is.
    #[test]
    fn syntax_before_role() {
        let add = |admin, capacity| {
            parse(
                "addReservationSlot",
                &[
                    ("adminID", admin),
                    ("eventType", "Concerts"),
                    ("eventID", "MTLE101226"),
                    ("capacity", capacity),
                ],
            )
        };
        assert!(add("MTLP0001", "5").is_ok());
        assert_eq!(
            add("MTLP0001", "0").map_err(|e| e.field()),
            Err(Some("capacity"))
        );
    }

    /// 29 February only in leap years (2000 is one); the extreme capacities and user numbers.
    #[test]
    fn boundaries_are_well_formed() {
        for (event, capacity) in [("MTLM290200", "100000"), ("VANE290228", "1")] {
            let args = [
                ("adminID", "VANA9999"),
                ("eventType", "Theatre"),
                ("eventID", event),
                ("capacity", capacity),
            ];
            assert!(
                parse("addReservationSlot", &args).is_ok(),
                "{event} {capacity}"
            );
        }
        for event in ["VANE290227", "VANE290226", "MTLE290200X"] {
            assert!(EventId::parse(event).is_err(), "{event}");
        }
    }

    #[test]
    fn capacity_is_an_xs_int_in_range() {
        assert_eq!(Capacity::parse("10").map(Capacity::get), Ok(10));
        assert_eq!(
            Capacity::parse(" +0100000\n").map(Capacity::get),
            Ok(100_000)
        );
        for bad in ["", " ", "1.0", "1e3", "0x10", "2147483648", "١"] {
            assert_eq!(Capacity::parse(bad), Err(IdError::NotAnInteger), "{bad:?}");
        }
        for out in ["0", "-1", "100001"] {
            assert_eq!(Capacity::parse(out), Err(IdError::Capacity), "{out:?}");
        }
    }

    #[test]
    fn decoding_revalidates_every_field() {
        let r = parse(
            "addReservationSlot",
            &[
                ("adminID", "MTLA0001"),
                ("eventType", "Concerts"),
                ("eventID", "MTLE101226"),
                ("capacity", "7"),
            ],
        )
        .expect("valid");
        let mut bytes = r.encode();
        // The capacity is the last byte: 0 is out of range.
        if let Some(last) = bytes.last_mut() {
            *last = 0;
        }
        assert!(Request::decode(&bytes).is_err());
    }
}
