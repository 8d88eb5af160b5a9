//! The seven operations of the WSDL as the envelope parser walks them; their names and
//! argument elements are `tessera_types::OPERATIONS`, declared in the same order.

use tessera_types::{Request, OPERATIONS};

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
        OPERATIONS[self as usize].0
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
        OPERATIONS[self as usize].1
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
        assert_eq!(Operation::ALL.len(), OPERATIONS.len());
    }

    #[test]
    fn every_request_is_a_call_of_its_own_operation() {
        let p = "MTLP0001".parse().unwrap();
        let e = "MTLE101226".parse().unwrap();
        let t = tessera_types::EventType::Concerts;
        let requests = [
            Request::GetEventSchedule { participant_id: p },
            Request::ExchangeTicket {
                participant_id: p,
                event_type: t,
                event_id: e,
                new_event_type: t,
                new_event_id: e,
            },
            Request::ListReservationSlotAvailable {
                admin_id: p,
                event_type: t,
            },
        ];
        for r in requests {
            assert_eq!(Operation::of(&r).name(), r.operation());
        }
    }
}
