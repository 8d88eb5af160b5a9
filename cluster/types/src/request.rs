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
