//! Replies and their one canonical encoding. Correct replicas produce byte-identical
//! encodings, which is what the front end votes on.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{EventId, EventType};
use crate::DecodeError;

/// A reply and the sequence number at which its request took effect: what the front end
/// returns once two replicas agree, and what the gateway answers (as `revision`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub reply: Reply,
    pub seq: u64,
}

/// Every outcome code of `docs/domain.md`. Variant order is part of the canonical encoding:
/// append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Code {
    Created,
    Updated,
    CapacityBelowBooked,
    Removed,
    NoSuchSlot,
    Ok,
    NotAuthorized,
    Reserved,
    AlreadyReserved,
    SlotFull,
    TimeConflict,
    OtherCityLimit,
    Cancelled,
    NotReserved,
    Exchanged,
    InvalidArgument,
    /// The call's message id names an earlier call with a different request: nothing was
    /// done. The gateway answers it with a SOAP fault, never as a result.
    MessageIdReused,
}

impl Code {
    pub const ALL: [Code; 17] = [
        Code::Created,
        Code::Updated,
        Code::CapacityBelowBooked,
        Code::Removed,
        Code::NoSuchSlot,
        Code::Ok,
        Code::NotAuthorized,
        Code::Reserved,
        Code::AlreadyReserved,
        Code::SlotFull,
        Code::TimeConflict,
        Code::OtherCityLimit,
        Code::Cancelled,
        Code::NotReserved,
        Code::Exchanged,
        Code::InvalidArgument,
        Code::MessageIdReused,
    ];

    /// The wire name, e.g. `CAPACITY_BELOW_BOOKED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Created => "CREATED",
            Code::Updated => "UPDATED",
            Code::CapacityBelowBooked => "CAPACITY_BELOW_BOOKED",
            Code::Removed => "REMOVED",
            Code::NoSuchSlot => "NO_SUCH_SLOT",
            Code::Ok => "OK",
            Code::NotAuthorized => "NOT_AUTHORIZED",
            Code::Reserved => "RESERVED",
            Code::AlreadyReserved => "ALREADY_RESERVED",
            Code::SlotFull => "SLOT_FULL",
            Code::TimeConflict => "TIME_CONFLICT",
            Code::OtherCityLimit => "OTHER_CITY_LIMIT",
            Code::Cancelled => "CANCELLED",
            Code::NotReserved => "NOT_RESERVED",
            Code::Exchanged => "EXCHANGED",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::MessageIdReused => "MESSAGE_ID_REUSED",
        }
    }

    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The reply's `success` flag is a function of its code.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Code::Created
                | Code::Updated
                | Code::Removed
                | Code::Ok
                | Code::Reserved
                | Code::Cancelled
                | Code::Exchanged
        )
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `listReservationSlotAvailable`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotAvailability {
    pub event_id: EventId,
    pub event_type: EventType,
    /// capacity − reservations.
    pub available: u32,
}

/// One row of `getEventSchedule`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Booking {
    pub event_id: EventId,
    pub event_type: EventType,
}

/// What a reply carries beyond its code. Which body goes with which code is fixed by
/// `docs/domain.md`: `Removed` only with `REMOVED`, `Slots` only with `OK` of a list,
/// `Schedule` only with `OK` of a schedule; every other reply has `Empty`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplyBody {
    Empty,
    Removed { moved: u32, dropped: u32 },
    Slots(Vec<SlotAvailability>),
    Schedule(Vec<Booking>),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reply {
    pub code: Code,
    pub body: ReplyBody,
}

impl Reply {
    /// A reply that is only a code.
    pub fn code(code: Code) -> Self {
        Reply {
            code,
            body: ReplyBody::Empty,
        }
    }

    pub fn removed(moved: u32, dropped: u32) -> Self {
        Reply {
            code: Code::Removed,
            body: ReplyBody::Removed { moved, dropped },
        }
    }

    /// `OK` with slot rows, which the caller has already put in domain order.
    pub fn slots(rows: Vec<SlotAvailability>) -> Self {
        Reply {
            code: Code::Ok,
            body: ReplyBody::Slots(rows),
        }
    }

    /// `OK` with schedule rows, which the caller has already put in domain order.
    pub fn schedule(rows: Vec<Booking>) -> Self {
        Reply {
            code: Code::Ok,
            body: ReplyBody::Schedule(rows),
        }
    }

    pub fn success(&self) -> bool {
        self.code.is_success()
    }

    /// The canonical encoding: what replicas send and the front end compares byte for byte.
    pub fn encode(&self) -> Vec<u8> {
        crate::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        crate::decode("reply", bytes)
    }
}
