//! Domain events: the facts the log records, and their compact binary form.
//!
//! Events are decided once, against the state as it was, and then only folded. They record
//! *outcomes* (who ended up where), never commands, so replaying them never re-runs a rule
//! and a later change to the rules cannot change history.
//!
//! The encoding is hand-rolled and fixed-width per variant: one tag byte, then identifiers as
//! their raw ASCII bytes. It is cheaper than a generic serializer on the hot path, and
//! decoding goes through the shared parsers, so a decoded event only ever holds identifiers
//! that are valid by the shared syntax.

use tessera_types::{EventId, EventType, UserId};

/// A slot is named by its event type and event ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRef {
    pub event_type: EventType,
    pub event_id: EventId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    SlotCreated {
        slot: SlotRef,
        capacity: u32,
    },
    CapacityChanged {
        slot: SlotRef,
        capacity: u32,
    },
    /// The slot and every reservation in it are gone; its former holders' fates follow as
    /// `ReservationMoved` / `ReservationDropped` events of the same request.
    SlotRemoved {
        slot: SlotRef,
    },
    TicketReserved {
        participant: UserId,
        slot: SlotRef,
    },
    TicketCancelled {
        participant: UserId,
        slot: SlotRef,
    },
    /// One event rather than a cancel and a reserve, so the history says it was one
    /// all-or-nothing exchange.
    TicketExchanged {
        participant: UserId,
        from: SlotRef,
        to: SlotRef,
    },
    /// A former holder of a removed slot was given a place in `to`.
    ReservationMoved {
        participant: UserId,
        to: SlotRef,
    },
    /// A former holder of the removed slot `from` could not be placed. Changes nothing (the
    /// reservation already went with the slot); kept so the log explains the reply's count.
    ReservationDropped {
        participant: UserId,
        from: SlotRef,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event tag {0}")]
    Tag(u8),
    #[error("event record has the wrong length")]
    Length,
    #[error("event record holds an invalid identifier")]
    Identifier,
}

const SLOT_CREATED: u8 = 1;
const CAPACITY_CHANGED: u8 = 2;
const SLOT_REMOVED: u8 = 3;
const TICKET_RESERVED: u8 = 4;
const TICKET_CANCELLED: u8 = 5;
const TICKET_EXCHANGED: u8 = 6;
const RESERVATION_MOVED: u8 = 7;
const RESERVATION_DROPPED: u8 = 8;

fn put_slot(out: &mut Vec<u8>, slot: &SlotRef) {
    out.push(slot.event_type as u8);
    out.extend_from_slice(slot.event_id.as_str().as_bytes());
}

fn put_user(out: &mut Vec<u8>, user: &UserId) {
    out.extend_from_slice(user.as_str().as_bytes());
}

impl Event {
    /// Appends the encoding of `self` to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Event::SlotCreated { slot, capacity } => {
                out.push(SLOT_CREATED);
                put_slot(out, slot);
                out.extend_from_slice(&capacity.to_le_bytes());
            }
            Event::CapacityChanged { slot, capacity } => {
                out.push(CAPACITY_CHANGED);
                put_slot(out, slot);
                out.extend_from_slice(&capacity.to_le_bytes());
            }
            Event::SlotRemoved { slot } => {
                out.push(SLOT_REMOVED);
                put_slot(out, slot);
            }
            Event::TicketReserved { participant, slot } => {
                out.push(TICKET_RESERVED);
                put_user(out, participant);
                put_slot(out, slot);
            }
            Event::TicketCancelled { participant, slot } => {
                out.push(TICKET_CANCELLED);
                put_user(out, participant);
                put_slot(out, slot);
            }
            Event::TicketExchanged {
                participant,
                from,
                to,
            } => {
                out.push(TICKET_EXCHANGED);
                put_user(out, participant);
                put_slot(out, from);
                put_slot(out, to);
            }
            Event::ReservationMoved { participant, to } => {
                out.push(RESERVATION_MOVED);
                put_user(out, participant);
                put_slot(out, to);
            }
            Event::ReservationDropped { participant, from } => {
                out.push(RESERVATION_DROPPED);
                put_user(out, participant);
                put_slot(out, from);
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
        let (&tag, rest) = bytes.split_first().ok_or(DecodeError::Length)?;
        let mut r = Reader(rest);
        let event = match tag {
            SLOT_CREATED => Event::SlotCreated {
                slot: r.slot()?,
                capacity: r.u32()?,
            },
            CAPACITY_CHANGED => Event::CapacityChanged {
                slot: r.slot()?,
                capacity: r.u32()?,
            },
            SLOT_REMOVED => Event::SlotRemoved { slot: r.slot()? },
            TICKET_RESERVED => Event::TicketReserved {
                participant: r.user()?,
                slot: r.slot()?,
            },
            TICKET_CANCELLED => Event::TicketCancelled {
                participant: r.user()?,
                slot: r.slot()?,
            },
            TICKET_EXCHANGED => Event::TicketExchanged {
                participant: r.user()?,
                from: r.slot()?,
                to: r.slot()?,
            },
            RESERVATION_MOVED => Event::ReservationMoved {
                participant: r.user()?,
                to: r.slot()?,
            },
            RESERVATION_DROPPED => Event::ReservationDropped {
                participant: r.user()?,
                from: r.slot()?,
            },
            other => return Err(DecodeError::Tag(other)),
        };
        if r.0.is_empty() {
            Ok(event)
        } else {
            Err(DecodeError::Length)
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Length);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn text(&mut self, n: usize) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::Identifier)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| DecodeError::Length)?;
        Ok(u32::from_le_bytes(b))
    }

    fn user(&mut self) -> Result<UserId, DecodeError> {
        UserId::parse(self.text(8)?).map_err(|_| DecodeError::Identifier)
    }

    fn slot(&mut self) -> Result<SlotRef, DecodeError> {
        let event_type = match self.take(1)? {
            [0] => EventType::ArtGallery,
            [1] => EventType::Concerts,
            [2] => EventType::Theatre,
            _ => return Err(DecodeError::Identifier),
        };
        let event_id = EventId::parse(self.text(10)?).map_err(|_| DecodeError::Identifier)?;
        Ok(SlotRef {
            event_type,
            event_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(t: EventType, e: &str) -> SlotRef {
        SlotRef {
            event_type: t,
            event_id: EventId::parse(e).unwrap(),
        }
    }

    fn all_kinds() -> Vec<Event> {
        let p = UserId::parse("TORP0042").unwrap();
        let a = slot(EventType::ArtGallery, "MTLM010126");
        let b = slot(EventType::Theatre, "VANE290228");
        vec![
            Event::SlotCreated {
                slot: a,
                capacity: 100_000,
            },
            Event::CapacityChanged {
                slot: b,
                capacity: 1,
            },
            Event::SlotRemoved { slot: a },
            Event::TicketReserved {
                participant: p,
                slot: a,
            },
            Event::TicketCancelled {
                participant: p,
                slot: b,
            },
            Event::TicketExchanged {
                participant: p,
                from: a,
                to: b,
            },
            Event::ReservationMoved {
                participant: p,
                to: b,
            },
            Event::ReservationDropped {
                participant: p,
                from: a,
            },
        ]
    }

    #[test]
    fn round_trip_every_kind() {
        for e in all_kinds() {
            let mut buf = Vec::new();
            e.encode_into(&mut buf);
            assert_eq!(Event::decode(&buf), Ok(e));
        }
    }

    #[test]
    fn rejects_damaged_encodings() {
        for e in all_kinds() {
            let mut buf = Vec::new();
            e.encode_into(&mut buf);
            assert!(Event::decode(&buf[..buf.len() - 1]).is_err());
            let mut longer = buf.clone();
            longer.push(0);
            assert_eq!(Event::decode(&longer), Err(DecodeError::Length));
            // Lower-casing the first identifier byte makes it invalid for every kind.
            let mut bad = buf.clone();
            let at = if matches!(
                e,
                Event::SlotCreated { .. }
                    | Event::CapacityChanged { .. }
                    | Event::SlotRemoved { .. }
            ) {
                2
            } else {
                1
            };
            bad[at] = bad[at].to_ascii_lowercase();
            assert_eq!(Event::decode(&bad), Err(DecodeError::Identifier));
        }
        assert_eq!(Event::decode(&[]), Err(DecodeError::Length));
        assert_eq!(Event::decode(&[99]), Err(DecodeError::Tag(99)));
    }
}
