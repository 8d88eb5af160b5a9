//! The reservation state and the indexes that keep every check of `docs/domain.md` cheap.
//!
//! Slots are keyed by (event type, city, when) rather than by event ID: within one type and
//! one city an event ID and its when determine each other, and this key order is exactly the
//! order that listing (city, then when) and removal moves (earliest later when in one type and
//! city) walk. Each participant's holdings are keyed by (when, city, type), the schedule order,
//! which also makes "holds anything at this when" a short range scan.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use tessera_types::{City, EventId, EventType, SlotRecord, Snapshot, UserId};

use crate::calendar::When;

/// Most other-city reservations a participant may hold in one week.
pub const OTHER_CITY_WEEKLY_LIMIT: u32 = 3;

/// Identifies a slot; derived `Ord` is (type, city, when).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotKey {
    pub event_type: EventType,
    pub city: City,
    pub when: When,
}

impl SlotKey {
    pub fn new(event_type: EventType, event_id: &EventId) -> Self {
        SlotKey {
            event_type,
            city: event_id.city(),
            when: When::of(event_id),
        }
    }

    /// The same slot, keyed in schedule order.
    pub fn held(self) -> HeldKey {
        HeldKey {
            when: self.when,
            city: self.city,
            event_type: self.event_type,
        }
    }
}

/// A held slot in schedule order: when, then city, then type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeldKey {
    pub when: When,
    pub city: City,
    pub event_type: EventType,
}

impl HeldKey {
    #[cfg(test)]
    fn slot(self) -> SlotKey {
        SlotKey {
            event_type: self.event_type,
            city: self.city,
            when: self.when,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub event_id: EventId,
    pub capacity: u32,
    /// Sorted, which gives removal its ascending participant order for free.
    pub holders: BTreeSet<UserId>,
}

impl Slot {
    pub fn is_full(&self) -> bool {
        self.holders.len() >= self.capacity as usize
    }

    pub fn available(&self) -> u32 {
        let held = u32::try_from(self.holders.len()).unwrap_or(u32::MAX);
        self.capacity.saturating_sub(held)
    }
}

/// What one participant holds, mirrored from the slots' holder sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    pub slots: BTreeMap<HeldKey, EventId>,
    /// Other-city reservations per week number; entries are never zero.
    pub other_city_per_week: BTreeMap<u32, u32>,
}

impl Holdings {
    pub fn holds(&self, key: SlotKey) -> bool {
        self.slots.contains_key(&key.held())
    }

    /// Whether any held slot other than `except` has this when.
    pub fn busy_at(&self, when: When, except: Option<SlotKey>) -> bool {
        let lo = HeldKey {
            when,
            city: City::Mtl,
            event_type: EventType::ArtGallery,
        };
        let hi = HeldKey {
            when,
            city: City::Van,
            event_type: EventType::Theatre,
        };
        let except = except.map(SlotKey::held);
        self.slots.range(lo..=hi).any(|(k, _)| Some(*k) != except)
    }

    pub fn other_city_in_week(&self, week: u32) -> u32 {
        self.other_city_per_week.get(&week).copied().unwrap_or(0)
    }
}

/// Whether an event in `city` counts as "other city" for `participant`.
pub fn is_other_city(participant: &UserId, city: City) -> bool {
    participant.city() != city
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    slots: BTreeMap<SlotKey, Slot>,
    /// Only participants holding at least one slot, so the map never outgrows the holdings.
    participants: BTreeMap<UserId, Holdings>,
}

impl State {
    pub fn slot(&self, key: SlotKey) -> Option<&Slot> {
        self.slots.get(&key)
    }

    pub fn slot_mut(&mut self, key: SlotKey) -> Option<&mut Slot> {
        self.slots.get_mut(&key)
    }

    pub fn holdings(&self, participant: &UserId) -> Option<&Holdings> {
        self.participants.get(participant)
    }

    pub fn create_slot(&mut self, key: SlotKey, event_id: EventId, capacity: u32) {
        self.slots.insert(
            key,
            Slot {
                event_id,
                capacity,
                holders: BTreeSet::new(),
            },
        );
    }

    /// Deletes a slot and every reservation of it; returns its former holders, ascending.
    pub fn delete_slot(&mut self, key: SlotKey) -> Option<BTreeSet<UserId>> {
        let slot = self.slots.remove(&key)?;
        for p in &slot.holders {
            self.forget_holding(p, key);
        }
        Some(slot.holders)
    }

    /// Slots of one type in one city whose when is strictly later than `after`, earliest first.
    pub fn later_slots(
        &self,
        event_type: EventType,
        city: City,
        after: When,
    ) -> impl Iterator<Item = (&SlotKey, &Slot)> {
        let lo = SlotKey {
            event_type,
            city,
            when: after,
        };
        let hi = SlotKey {
            event_type,
            city,
            when: When::MAX,
        };
        self.slots.range((Bound::Excluded(lo), Bound::Included(hi)))
    }

    /// All slots of one type, by city then when.
    pub fn slots_of_type(&self, event_type: EventType) -> impl Iterator<Item = &Slot> {
        let lo = SlotKey {
            event_type,
            city: City::Mtl,
            when: When::MIN,
        };
        let hi = SlotKey {
            event_type,
            city: City::Van,
            when: When::MAX,
        };
        self.slots.range(lo..=hi).map(|(_, s)| s)
    }

    /// Adds `participant` to the holders of an existing slot. The caller has run the checks;
    /// this only keeps slot and participant views in step.
    pub fn hold(&mut self, participant: UserId, key: SlotKey) -> bool {
        let Some(slot) = self.slots.get_mut(&key) else {
            return false;
        };
        if !slot.holders.insert(participant) {
            return false;
        }
        let holdings = self.participants.entry(participant).or_default();
        holdings.slots.insert(key.held(), slot.event_id);
        if is_other_city(&participant, key.city) {
            *holdings
                .other_city_per_week
                .entry(key.when.week())
                .or_insert(0) += 1;
        }
        true
    }

    /// Removes `participant` from the holders of a slot; false if they did not hold it.
    pub fn release(&mut self, participant: &UserId, key: SlotKey) -> bool {
        let Some(slot) = self.slots.get_mut(&key) else {
            return false;
        };
        if !slot.holders.remove(participant) {
            return false;
        }
        self.forget_holding(participant, key);
        true
    }

    /// Drops the participant-side record of one holding.
    fn forget_holding(&mut self, participant: &UserId, key: SlotKey) {
        let Some(holdings) = self.participants.get_mut(participant) else {
            return;
        };
        if holdings.slots.remove(&key.held()).is_some() && is_other_city(participant, key.city) {
            let week = key.when.week();
            if let Some(n) = holdings.other_city_per_week.get_mut(&week) {
                *n -= 1;
                if *n == 0 {
                    holdings.other_city_per_week.remove(&week);
                }
            }
        }
        if holdings.slots.is_empty() {
            self.participants.remove(participant);
        }
    }

    pub fn to_snapshot(&self) -> Result<Snapshot, tessera_types::SnapshotError> {
        let records = self
            .slots
            .iter()
            .map(|(key, slot)| SlotRecord {
                event_type: key.event_type,
                event_id: slot.event_id,
                capacity: slot.capacity,
                holders: slot.holders.iter().copied().collect(),
            })
            .collect();
        // `Snapshot::new` puts the records into canonical (type, event ID string) order.
        Snapshot::new(records)
    }

    /// Rebuilds the state and its indexes from a snapshot, which guarantees unique slots,
    /// unique participant holders and capacities that fit.
    pub fn from_snapshot(snapshot: &Snapshot) -> State {
        let mut state = State::default();
        for record in snapshot.slots() {
            let key = SlotKey::new(record.event_type, &record.event_id);
            state.create_slot(key, record.event_id, record.capacity);
            for holder in &record.holders {
                state.hold(*holder, key);
            }
        }
        state
    }

    /// Every slot holds at most its capacity and the participant index mirrors the holder sets.
    #[cfg(test)]
    pub fn check_invariants(&self) {
        let mut mirrored: BTreeMap<UserId, Holdings> = BTreeMap::new();
        for (key, slot) in &self.slots {
            assert_eq!(*key, SlotKey::new(key.event_type, &slot.event_id));
            assert!(slot.holders.len() <= slot.capacity as usize, "{key:?}");
            for p in &slot.holders {
                let h = mirrored.entry(*p).or_default();
                h.slots.insert(key.held(), slot.event_id);
                if is_other_city(p, key.city) {
                    *h.other_city_per_week.entry(key.when.week()).or_insert(0) += 1;
                }
            }
        }
        assert_eq!(mirrored, self.participants);
        for h in self.participants.values() {
            for k in h.slots.keys() {
                assert!(self.slots.contains_key(&k.slot()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> EventId {
        EventId::parse(s).unwrap()
    }

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    #[test]
    fn hold_and_release_keep_indexes_in_step() {
        let mut st = State::default();
        let e = ev("TORE101226");
        let k = SlotKey::new(EventType::Concerts, &e);
        st.create_slot(k, e, 2);
        let p = user("MTLP0001");
        assert!(st.hold(p, k));
        assert!(!st.hold(p, k), "a participant holds a slot at most once");
        assert!(st.holdings(&p).unwrap().holds(k));
        assert_eq!(
            st.holdings(&p).unwrap().other_city_in_week(k.when.week()),
            1
        );
        assert!(st.holdings(&p).unwrap().busy_at(k.when, None));
        assert!(!st.holdings(&p).unwrap().busy_at(k.when, Some(k)));
        st.check_invariants();
        assert!(st.release(&p, k));
        assert!(!st.release(&p, k));
        assert!(st.holdings(&p).is_none());
        st.check_invariants();
    }

    #[test]
    fn delete_returns_holders_ascending_and_clears_holdings() {
        let mut st = State::default();
        let e = ev("MTLA050526");
        let k = SlotKey::new(EventType::Theatre, &e);
        st.create_slot(k, e, 5);
        for p in ["VANP0003", "MTLP0002", "TORP0001"] {
            st.hold(user(p), k);
        }
        let holders: Vec<_> = st.delete_slot(k).unwrap().into_iter().collect();
        assert_eq!(
            holders,
            vec![user("MTLP0002"), user("TORP0001"), user("VANP0003")]
        );
        assert!(st.slot(k).is_none());
        assert!(st.delete_slot(k).is_none());
        st.check_invariants();
    }
}
