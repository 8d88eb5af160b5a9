//! The seven operations of `docs/domain.md`, as they travel to a replica.
//!
//! Arguments are carried as the client sent them (text and a raw integer), not pre-parsed:
//! the gateway validates before anything is ordered, but a replica must still reject a
//! malformed argument with `INVALID_ARGUMENT` and no state change, so it sees the raw value.

use serde::{Deserialize, Serialize};

use crate::DecodeError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Request {
    AddReservationSlot {
        admin_id: String,
        event_type: String,
        event_id: String,
        capacity: i32,
    },
    RemoveReservationSlot {
        admin_id: String,
        event_type: String,
        event_id: String,
    },
    ListReservationSlotAvailable {
        admin_id: String,
        event_type: String,
    },
    ReserveTicket {
        participant_id: String,
        event_type: String,
        event_id: String,
    },
    GetEventSchedule {
        participant_id: String,
    },
    CancelTicket {
        participant_id: String,
        event_type: String,
        event_id: String,
    },
    ExchangeTicket {
        participant_id: String,
        event_type: String,
        event_id: String,
        new_event_type: String,
        new_event_id: String,
    },
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
                ("adminID", admin_id.clone()),
                ("eventType", event_type.clone()),
                ("eventID", event_id.clone()),
                ("capacity", capacity.to_string()),
            ],
            Request::RemoveReservationSlot {
                admin_id,
                event_type,
                event_id,
            } => vec![
                ("adminID", admin_id.clone()),
                ("eventType", event_type.clone()),
                ("eventID", event_id.clone()),
            ],
            Request::ListReservationSlotAvailable {
                admin_id,
                event_type,
            } => vec![
                ("adminID", admin_id.clone()),
                ("eventType", event_type.clone()),
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
                ("participantID", participant_id.clone()),
                ("eventType", event_type.clone()),
                ("eventID", event_id.clone()),
            ],
            Request::GetEventSchedule { participant_id } => {
                vec![("participantID", participant_id.clone())]
            }
            Request::ExchangeTicket {
                participant_id,
                event_type,
                event_id,
                new_event_type,
                new_event_id,
            } => vec![
                ("participantID", participant_id.clone()),
                ("eventType", event_type.clone()),
                ("eventID", event_id.clone()),
                ("newEventType", new_event_type.clone()),
                ("newEventID", new_event_id.clone()),
            ],
        }
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

    #[test]
    fn arguments_are_named_and_ordered_as_in_the_domain_spec() {
        let r = Request::ExchangeTicket {
            participant_id: "MTLP0001".into(),
            event_type: "Concerts".into(),
            event_id: "MTLE101226".into(),
            new_event_type: "Theatre".into(),
            new_event_id: "TORM111226".into(),
        };
        let names: Vec<_> = r.arguments().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "participantID",
                "eventType",
                "eventID",
                "newEventType",
                "newEventID"
            ]
        );
        let add = Request::AddReservationSlot {
            admin_id: "MTLA0001".into(),
            event_type: "Concerts".into(),
            event_id: "MTLE101226".into(),
            capacity: -3,
        };
        assert_eq!(add.arguments()[3], ("capacity", "-3".to_string()));
    }
}
