//! The seven operations of the WSDL: wrapper element names and argument elements in order.

use tessera_types::Request;

/// One operation of `ReservationPortType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    AddReservationSlot,
    RemoveReservationSlot,
    ListReservationSlotAvailable,
    ReserveTicket,
    GetEventSchedule,
    CancelTicket,
    ExchangeTicket,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::AddReservationSlot,
        Operation::RemoveReservationSlot,
        Operation::ListReservationSlotAvailable,
        Operation::ReserveTicket,
        Operation::GetEventSchedule,
        Operation::CancelTicket,
        Operation::ExchangeTicket,
    ];

    /// The request wrapper element's local name, which is also the operation name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::AddReservationSlot => "addReservationSlot",
            Operation::RemoveReservationSlot => "removeReservationSlot",
            Operation::ListReservationSlotAvailable => "listReservationSlotAvailable",
            Operation::ReserveTicket => "reserveTicket",
            Operation::GetEventSchedule => "getEventSchedule",
            Operation::CancelTicket => "cancelTicket",
            Operation::ExchangeTicket => "exchangeTicket",
        }
    }

    /// The operation a request is a call of.
    pub fn of(request: &Request) -> Self {
        match request {
            Request::AddReservationSlot { .. } => Operation::AddReservationSlot,
            Request::RemoveReservationSlot { .. } => Operation::RemoveReservationSlot,
            Request::ListReservationSlotAvailable { .. } => Operation::ListReservationSlotAvailable,
            Request::ReserveTicket { .. } => Operation::ReserveTicket,
            Request::GetEventSchedule { .. } => Operation::GetEventSchedule,
            Request::CancelTicket { .. } => Operation::CancelTicket,
            Request::ExchangeTicket { .. } => Operation::ExchangeTicket,
        }
    }

    /// The operation whose request wrapper has this local name (in the service namespace).
    pub fn from_element(local_name: &[u8]) -> Option<Self> {
        Operation::ALL
            .into_iter()
            .find(|op| op.name().as_bytes() == local_name)
    }

    /// The argument elements, in the order the schema's sequence requires.
    pub fn arguments(self) -> &'static [&'static str] {
        match self {
            Operation::AddReservationSlot => &["adminID", "eventType", "eventID", "capacity"],
            Operation::RemoveReservationSlot => &["adminID", "eventType", "eventID"],
            Operation::ListReservationSlotAvailable => &["adminID", "eventType"],
            Operation::ReserveTicket | Operation::CancelTicket => {
                &["participantID", "eventType", "eventID"]
            }
            Operation::GetEventSchedule => &["participantID"],
            Operation::ExchangeTicket => &[
                "participantID",
                "eventType",
                "eventID",
                "newEventType",
                "newEventID",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_shared_request_type() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_element(op.name().as_bytes()), Some(op));
        }
        assert_eq!(Operation::from_element(b"ReserveTicket"), None);
    }
}
