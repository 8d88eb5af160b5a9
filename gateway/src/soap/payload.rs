//! Deserializing the operation element into its arguments, with quick-xml's serde support.
//!
//! Chosen over yaserde after measuring both on the same payloads (`benches/soap.rs`, figures
//! in `docs/gateway.md`). By the time this runs the envelope pass has checked the structure,
//! namespaces and argument order, so serde only has to pull out the texts; values stay raw
//! strings here and are parsed in `super::arguments`, so that a bad value is reported with the
//! name of its element.

use quick_xml::de::Deserializer;
use quick_xml::NsReader;
use serde::Deserialize;

use super::fault::Fault;
use super::operation::Operation;

/// The arguments of one call as sent, in schema order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawCall {
    AddReservationSlot(AdminSlotCapacity),
    RemoveReservationSlot(AdminSlot),
    ListReservationSlotAvailable(AdminType),
    ReserveTicket(ParticipantSlot),
    GetEventSchedule(Participant),
    CancelTicket(ParticipantSlot),
    ExchangeTicket(ParticipantExchange),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct AdminSlotCapacity {
    #[serde(rename = "adminID")]
    pub admin_id: String,
    #[serde(rename = "eventType")]
    pub event_type: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub capacity: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct AdminSlot {
    #[serde(rename = "adminID")]
    pub admin_id: String,
    #[serde(rename = "eventType")]
    pub event_type: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct AdminType {
    #[serde(rename = "adminID")]
    pub admin_id: String,
    #[serde(rename = "eventType")]
    pub event_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ParticipantSlot {
    #[serde(rename = "participantID")]
    pub participant_id: String,
    #[serde(rename = "eventType")]
    pub event_type: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Participant {
    #[serde(rename = "participantID")]
    pub participant_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ParticipantExchange {
    #[serde(rename = "participantID")]
    pub participant_id: String,
    #[serde(rename = "eventType")]
    pub event_type: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "newEventType")]
    pub new_event_type: String,
    #[serde(rename = "newEventID")]
    pub new_event_id: String,
}

impl RawCall {
    /// The operation's name as in the WSDL.
    pub(crate) fn operation(&self) -> &'static str {
        match self {
            RawCall::AddReservationSlot(_) => "addReservationSlot",
            RawCall::RemoveReservationSlot(_) => "removeReservationSlot",
            RawCall::ListReservationSlotAvailable(_) => "listReservationSlotAvailable",
            RawCall::ReserveTicket(_) => "reserveTicket",
            RawCall::GetEventSchedule(_) => "getEventSchedule",
            RawCall::CancelTicket(_) => "cancelTicket",
            RawCall::ExchangeTicket(_) => "exchangeTicket",
        }
    }

    /// An argument's text by its element name.
    pub(crate) fn argument(&self, field: &str) -> Option<&str> {
        let v = match (self, field) {
            (RawCall::AddReservationSlot(a), "adminID") => &a.admin_id,
            (RawCall::AddReservationSlot(a), "eventType") => &a.event_type,
            (RawCall::AddReservationSlot(a), "eventID") => &a.event_id,
            (RawCall::AddReservationSlot(a), "capacity") => &a.capacity,
            (RawCall::RemoveReservationSlot(a), "adminID") => &a.admin_id,
            (RawCall::RemoveReservationSlot(a), "eventType") => &a.event_type,
            (RawCall::RemoveReservationSlot(a), "eventID") => &a.event_id,
            (RawCall::ListReservationSlotAvailable(a), "adminID") => &a.admin_id,
            (RawCall::ListReservationSlotAvailable(a), "eventType") => &a.event_type,
            (RawCall::ReserveTicket(a) | RawCall::CancelTicket(a), "participantID") => {
                &a.participant_id
            }
            (RawCall::ReserveTicket(a) | RawCall::CancelTicket(a), "eventType") => &a.event_type,
            (RawCall::ReserveTicket(a) | RawCall::CancelTicket(a), "eventID") => &a.event_id,
            (RawCall::GetEventSchedule(a), "participantID") => &a.participant_id,
            (RawCall::ExchangeTicket(a), "participantID") => &a.participant_id,
            (RawCall::ExchangeTicket(a), "eventType") => &a.event_type,
            (RawCall::ExchangeTicket(a), "eventID") => &a.event_id,
            (RawCall::ExchangeTicket(a), "newEventType") => &a.new_event_type,
            (RawCall::ExchangeTicket(a), "newEventID") => &a.new_event_id,
            _ => return None,
        };
        Some(v)
    }
}

/// Deserializes the arguments of `operation` from `body`, a reader positioned just after the
/// Body start tag of an envelope the envelope pass accepted.
pub(crate) fn deserialize(operation: Operation, body: NsReader<&[u8]>) -> Result<RawCall, Fault> {
    let mut de = Deserializer::borrowing(body);
    let de = &mut de;
    let call = match operation {
        Operation::AddReservationSlot => {
            Deserialize::deserialize(de).map(RawCall::AddReservationSlot)
        }
        Operation::RemoveReservationSlot => {
            Deserialize::deserialize(de).map(RawCall::RemoveReservationSlot)
        }
        Operation::ListReservationSlotAvailable => {
            Deserialize::deserialize(de).map(RawCall::ListReservationSlotAvailable)
        }
        Operation::ReserveTicket => Deserialize::deserialize(de).map(RawCall::ReserveTicket),
        Operation::GetEventSchedule => Deserialize::deserialize(de).map(RawCall::GetEventSchedule),
        Operation::CancelTicket => Deserialize::deserialize(de).map(RawCall::CancelTicket),
        Operation::ExchangeTicket => Deserialize::deserialize(de).map(RawCall::ExchangeTicket),
    };
    // The shape was checked already; what is left to fail is character data serde cannot
    // decode, which is the sender's fault. The error text would quote input, so drop it.
    call.map_err(|_| Fault::Malformed("an argument's text cannot be decoded"))
}
