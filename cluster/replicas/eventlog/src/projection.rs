//! The state derived from the event log, laid out for the questions the rules ask.
//!
//! Two indexes of the same facts, kept in step by [`Projection::apply`]:
//!
//! - the slot table, one sorted `Vec` ordered by (event type, city, when). Listing a type is
//!   one contiguous run already in reply order, and the slots a removal may move holders to
//!   (same type, same city, later) are exactly the run right after the removed slot;
//! - per participant, a sorted `Vec` of what they hold, ordered by (when, city, type). That is
//!   schedule order, and it makes "same when" and "other-city reservations in a week" a binary
//!   search plus a short scan, because a when and a week are both contiguous ranges of it.
//!
//! Folding checks only structure (the slot exists, capacity is not exceeded, nobody holds a
//! slot twice); the domain rules were applied when the events were decided.

use std::collections::HashMap;

use tessera_types::{Booking, City, EventId, EventType, SlotAvailability, SlotRecord, UserId};

use crate::calendar::When;
use crate::events::{Event, SlotRef};

/// Where a slot sits in the slot table. Within one type and city an event ID is determined by
/// its when, so the key is unique per slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlotKey {
    pub event_type: EventType,
    pub city: City,
    pub when: When,
}

impl SlotKey {
    pub fn of(slot: &SlotRef) -> SlotKey {
        SlotKey {
            event_type: slot.event_type,
            city: slot.event_id.city(),
            when: When::of(&slot.event_id),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Slot {
    pub key: SlotKey,
    pub event_id: EventId,
    pub capacity: u32,
    /// Sorted, so a removal can walk former holders in ascending ID order as they are.
    pub holders: Vec<UserId>,
}

impl Slot {
    pub fn has_room(&self) -> bool {
        self.holders.len() < self.capacity as usize
    }

    pub fn slot_ref(&self) -> SlotRef {
        SlotRef {
            event_type: self.key.event_type,
            event_id: self.event_id,
        }
    }

    fn available(&self) -> u32 {
        // Holders never exceed capacity (checked on every fold), so this cannot underflow.
        self.capacity
            .saturating_sub(u32::try_from(self.holders.len()).unwrap_or(u32::MAX))
    }
}

/// One reservation as seen from its holder. The field order is the schedule order (when,
/// city, type); the event ID follows from when and city, so it never decides a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holding {
    pub when: When,
    pub city: City,
    pub event_type: EventType,
    pub event_id: EventId,
}

impl Holding {
    pub fn of(slot: &SlotRef) -> Holding {
        Holding {
            when: When::of(&slot.event_id),
            city: slot.event_id.city(),
            event_type: slot.event_type,
            event_id: slot.event_id,
        }
    }
}

/// A participant's holdings in schedule order, with the queries the rules need.
#[derive(Debug, Clone, Copy)]
pub struct Schedule<'a>(&'a [Holding]);

impl<'a> Schedule<'a> {
    pub fn holds(&self, holding: &Holding) -> bool {
        self.0.binary_search(holding).is_ok()
    }

    /// Whether any holding other than `except` has this when.
    pub fn has_when(&self, when: When, except: Option<&Holding>) -> bool {
        let start = self.0.partition_point(|h| h.when < when);
        self.0[start..]
            .iter()
            .take_while(|h| h.when == when)
            .any(|h| Some(h) != except)
    }

    /// Holdings other than `except` outside `home` whose week is `week`. Weeks are monotone
    /// in when, so they are one contiguous run of the sorted holdings.
    pub fn other_city_in_week(&self, home: City, week: u32, except: Option<&Holding>) -> usize {
        let start = self.0.partition_point(|h| h.when.week() < week);
        self.0[start..]
            .iter()
            .take_while(|h| h.when.week() == week)
            .filter(|h| h.city != home && Some(*h) != except)
            .count()
    }

    pub fn bookings(&self) -> Vec<Booking> {
        self.0
            .iter()
            .map(|h| Booking {
                event_id: h.event_id,
                event_type: h.event_type,
            })
            .collect()
    }
}

/// Why an event could not be folded. Decided events always fold; seeing one of these means
/// the log is not one this replica wrote, or a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("slot {0:?} already exists")]
    SlotExists(SlotRef),
    #[error("slot {0:?} does not exist")]
    NoSuchSlot(SlotRef),
    #[error("slot {0:?} would hold more than its capacity")]
    Overbooked(SlotRef),
    #[error("{0} already holds {1:?}")]
    AlreadyHeld(UserId, SlotRef),
    #[error("{0} does not hold {1:?}")]
    NotHeld(UserId, SlotRef),
}

#[derive(Debug, Default, Clone)]
pub struct Projection {
    slots: Vec<Slot>,
    /// Only ever looked up by key, never iterated, so hash order cannot leak into replies.
    /// Participants holding nothing have no entry.
    holdings: HashMap<UserId, Vec<Holding>>,
}

impl Projection {
    fn position(&self, key: &SlotKey) -> Result<usize, usize> {
        self.slots.binary_search_by(|s| s.key.cmp(key))
    }

    pub fn find(&self, slot: &SlotRef) -> Option<&Slot> {
        self.position(&SlotKey::of(slot))
            .ok()
            .map(|i| &self.slots[i])
    }

    pub fn schedule(&self, participant: &UserId) -> Schedule<'_> {
        Schedule(self.holdings.get(participant).map_or(&[], Vec::as_slice))
    }

    /// Every slot of one type, in (city, when) order.
    pub fn slots_of_type(&self, event_type: EventType) -> &[Slot] {
        let start = self
            .slots
            .partition_point(|s| s.key.event_type < event_type);
        let end = self
            .slots
            .partition_point(|s| s.key.event_type <= event_type);
        &self.slots[start..end]
    }

    /// The slots a holder of `slot` may be moved to when it is removed: same type, same city,
    /// strictly later when, earliest first.
    pub fn later_in_same_city(&self, slot: &SlotRef) -> &[Slot] {
        let key = SlotKey::of(slot);
        let start = self.slots.partition_point(|s| s.key <= key);
        let len = self.slots[start..]
            .iter()
            .take_while(|s| (s.key.event_type, s.key.city) == (key.event_type, key.city))
            .count();
        &self.slots[start..start + len]
    }

    pub fn availability(&self, event_type: EventType) -> Vec<SlotAvailability> {
        self.slots_of_type(event_type)
            .iter()
            .map(|s| SlotAvailability {
                event_id: s.event_id,
                event_type: s.key.event_type,
                available: s.available(),
            })
            .collect()
    }

    pub fn apply(&mut self, event: &Event) -> Result<(), FoldError> {
        match *event {
            Event::SlotCreated { slot, capacity } => {
                let key = SlotKey::of(&slot);
                match self.position(&key) {
                    Ok(_) => return Err(FoldError::SlotExists(slot)),
                    Err(i) => self.slots.insert(
                        i,
                        Slot {
                            key,
                            event_id: slot.event_id,
                            capacity,
                            holders: Vec::new(),
                        },
                    ),
                }
            }
            Event::CapacityChanged { slot, capacity } => {
                let s = self.slot_mut(&slot)?;
                if s.holders.len() > capacity as usize {
                    return Err(FoldError::Overbooked(slot));
                }
                s.capacity = capacity;
            }
            Event::SlotRemoved { slot } => {
                let i = self
                    .position(&SlotKey::of(&slot))
                    .map_err(|_| FoldError::NoSuchSlot(slot))?;
                let removed = self.slots.remove(i);
                let holding = Holding::of(&slot);
                for p in &removed.holders {
                    self.drop_holding(p, &holding, &slot)?;
                }
            }
            Event::TicketReserved { participant, slot }
            | Event::ReservationMoved {
                participant,
                to: slot,
            } => self.reserve(participant, &slot)?,
            Event::TicketCancelled { participant, slot } => self.cancel(participant, &slot)?,
            Event::TicketExchanged {
                participant,
                from,
                to,
            } => {
                self.cancel(participant, &from)?;
                self.reserve(participant, &to)?;
            }
            // The reservation left with its slot in the preceding `SlotRemoved`.
            Event::ReservationDropped { .. } => {}
        }
        Ok(())
    }

    fn slot_mut(&mut self, slot: &SlotRef) -> Result<&mut Slot, FoldError> {
        match self.position(&SlotKey::of(slot)) {
            Ok(i) => Ok(&mut self.slots[i]),
            Err(_) => Err(FoldError::NoSuchSlot(*slot)),
        }
    }

    fn reserve(&mut self, participant: UserId, slot: &SlotRef) -> Result<(), FoldError> {
        let s = self.slot_mut(slot)?;
        if !s.has_room() {
            return Err(FoldError::Overbooked(*slot));
        }
        let at = s
            .holders
            .binary_search(&participant)
            .err()
            .ok_or(FoldError::AlreadyHeld(participant, *slot))?;
        s.holders.insert(at, participant);
        let held = self.holdings.entry(participant).or_default();
        let holding = Holding::of(slot);
        let at = held
            .binary_search(&holding)
            .err()
            .ok_or(FoldError::AlreadyHeld(participant, *slot))?;
        held.insert(at, holding);
        Ok(())
    }

    fn cancel(&mut self, participant: UserId, slot: &SlotRef) -> Result<(), FoldError> {
        let s = self.slot_mut(slot)?;
        let at = s
            .holders
            .binary_search(&participant)
            .map_err(|_| FoldError::NotHeld(participant, *slot))?;
        s.holders.remove(at);
        self.drop_holding(&participant, &Holding::of(slot), slot)
    }

    /// Removes one entry from a participant's holdings (not from the slot table).
    fn drop_holding(
        &mut self,
        participant: &UserId,
        holding: &Holding,
        slot: &SlotRef,
    ) -> Result<(), FoldError> {
        let not_held = || FoldError::NotHeld(*participant, *slot);
        let held = self.holdings.get_mut(participant).ok_or_else(not_held)?;
        let at = held.binary_search(holding).map_err(|_| not_held())?;
        held.remove(at);
        if held.is_empty() {
            self.holdings.remove(participant);
        }
        Ok(())
    }

    /// Builds the projection of a canonical snapshot (already validated by its type).
    pub fn from_records(records: &[SlotRecord]) -> Projection {
        let mut slots = Vec::with_capacity(records.len());
        let mut holdings: HashMap<UserId, Vec<Holding>> = HashMap::new();
        for r in records {
            let slot = SlotRef {
                event_type: r.event_type,
                event_id: r.event_id,
            };
            let mut holders = r.holders.clone();
            holders.sort_unstable();
            for p in &holders {
                holdings.entry(*p).or_default().push(Holding::of(&slot));
            }
            slots.push(Slot {
                key: SlotKey::of(&slot),
                event_id: r.event_id,
                capacity: r.capacity,
                holders,
            });
        }
        slots.sort_unstable_by_key(|s| s.key);
        for held in holdings.values_mut() {
            held.sort_unstable();
        }
        Projection { slots, holdings }
    }

    /// The state as canonical records (in slot-table order; `Snapshot::new` re-sorts).
    pub fn to_records(&self) -> Vec<SlotRecord> {
        self.slots
            .iter()
            .map(|s| SlotRecord {
                event_type: s.key.event_type,
                event_id: s.event_id,
                capacity: s.capacity,
                holders: s.holders.clone(),
            })
            .collect()
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

    fn user(u: &str) -> UserId {
        UserId::parse(u).unwrap()
    }

    #[test]
    fn slot_table_stays_in_type_city_when_order() {
        let mut p = Projection::default();
        for (t, e) in [
            (EventType::Theatre, "MTLM010126"),
            (EventType::ArtGallery, "VANM010126"),
            (EventType::ArtGallery, "MTLE020126"),
            (EventType::ArtGallery, "MTLM020126"),
            (EventType::ArtGallery, "TORA311225"),
        ] {
            p.apply(&Event::SlotCreated {
                slot: slot(t, e),
                capacity: 1,
            })
            .unwrap();
        }
        let ids: Vec<&str> = p
            .slots_of_type(EventType::ArtGallery)
            .iter()
            .map(|s| s.event_id.as_str())
            .collect();
        assert_eq!(
            ids,
            ["MTLM020126", "MTLE020126", "TORA311225", "VANM010126"]
        );
        assert!(p.slots_of_type(EventType::Concerts).is_empty());
        let later: Vec<&str> = p
            .later_in_same_city(&slot(EventType::ArtGallery, "MTLM020126"))
            .iter()
            .map(|s| s.event_id.as_str())
            .collect();
        assert_eq!(later, ["MTLE020126"]);
    }

    #[test]
    fn folding_rejects_structural_violations() {
        let mut p = Projection::default();
        let a = slot(EventType::Concerts, "TORE101226");
        let u = user("MTLP0001");
        let v = user("MTLP0002");
        p.apply(&Event::SlotCreated {
            slot: a,
            capacity: 1,
        })
        .unwrap();
        assert_eq!(
            p.apply(&Event::SlotCreated {
                slot: a,
                capacity: 1
            }),
            Err(FoldError::SlotExists(a))
        );
        p.apply(&Event::TicketReserved {
            participant: u,
            slot: a,
        })
        .unwrap();
        assert_eq!(
            p.apply(&Event::TicketReserved {
                participant: v,
                slot: a
            }),
            Err(FoldError::Overbooked(a))
        );
        assert_eq!(
            p.apply(&Event::TicketCancelled {
                participant: v,
                slot: a
            }),
            Err(FoldError::NotHeld(v, a))
        );
        let b = slot(EventType::Concerts, "TORE111226");
        assert_eq!(
            p.apply(&Event::SlotRemoved { slot: b }),
            Err(FoldError::NoSuchSlot(b))
        );
        p.apply(&Event::SlotRemoved { slot: a }).unwrap();
        assert!(
            p.holdings.is_empty(),
            "no entry for someone holding nothing"
        );
    }
}
