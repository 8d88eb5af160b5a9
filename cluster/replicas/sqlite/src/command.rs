//! Step 0 of every operation: argument syntax. A [`Command`] exists only for a request whose
//! arguments all parse, so the rules never see a malformed identifier and SQL never stores one.

use tessera_types::ids::check_capacity;
use tessera_types::{EventId, EventType, Request, UserId};

use crate::schema::kind_of;

/// A slot key: (event type, event ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotKey {
    pub(crate) event_type: EventType,
    pub(crate) event_id: EventId,
}

impl SlotKey {
    fn parse(event_type: &str, event_id: &str) -> Option<Self> {
        Some(SlotKey {
            event_type: EventType::parse(event_type).ok()?,
            event_id: EventId::parse(event_id).ok()?,
        })
    }

    /// The `kind` column value.
    pub(crate) fn kind(&self) -> i64 {
        kind_of(self.event_type)
    }

    pub(crate) fn id(&self) -> &str {
        self.event_id.as_str()
    }
}

/// A request whose arguments are well-formed. Roles are not checked here: a participant ID
/// passed as an admin is well-formed and is refused later with `NOT_AUTHORIZED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    AddSlot {
        admin: UserId,
        slot: SlotKey,
        capacity: u32,
    },
    RemoveSlot {
        admin: UserId,
        slot: SlotKey,
    },
    ListAvailable {
        admin: UserId,
        event_type: EventType,
    },
    Reserve {
        participant: UserId,
        slot: SlotKey,
    },
    Schedule {
        participant: UserId,
    },
    Cancel {
        participant: UserId,
        slot: SlotKey,
    },
    Exchange {
        participant: UserId,
        old: SlotKey,
        new: SlotKey,
    },
}

impl Command {
    /// `None` exactly when some argument is malformed (→ `INVALID_ARGUMENT`).
    pub(crate) fn parse(request: &Request) -> Option<Self> {
        let user = |s: &str| UserId::parse(s).ok();
        Some(match request {
            Request::AddReservationSlot {
                admin_id,
                event_type,
                event_id,
                capacity,
            } => Command::AddSlot {
                admin: user(admin_id)?,
                slot: SlotKey::parse(event_type, event_id)?,
                capacity: check_capacity(*capacity).ok()?,
            },
            Request::RemoveReservationSlot {
                admin_id,
                event_type,
                event_id,
            } => Command::RemoveSlot {
                admin: user(admin_id)?,
                slot: SlotKey::parse(event_type, event_id)?,
            },
            Request::ListReservationSlotAvailable {
                admin_id,
                event_type,
            } => Command::ListAvailable {
                admin: user(admin_id)?,
                event_type: EventType::parse(event_type).ok()?,
            },
            Request::ReserveTicket {
                participant_id,
                event_type,
                event_id,
            } => Command::Reserve {
                participant: user(participant_id)?,
                slot: SlotKey::parse(event_type, event_id)?,
            },
            Request::GetEventSchedule { participant_id } => Command::Schedule {
                participant: user(participant_id)?,
            },
            Request::CancelTicket {
                participant_id,
                event_type,
                event_id,
            } => Command::Cancel {
                participant: user(participant_id)?,
                slot: SlotKey::parse(event_type, event_id)?,
            },
            Request::ExchangeTicket {
                participant_id,
                event_type,
                event_id,
                new_event_type,
                new_event_id,
            } => Command::Exchange {
                participant: user(participant_id)?,
                old: SlotKey::parse(event_type, event_id)?,
                new: SlotKey::parse(new_event_type, new_event_id)?,
            },
        })
    }
}
