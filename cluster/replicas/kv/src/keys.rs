//! Byte keys whose lexicographic order is the order the queries need, so that every query is a
//! point lookup or one range scan.
//!
//! Each component is one byte (a code in domain order) or a big-endian day number, so
//! comparing keys byte by byte compares the components in sequence:
//!
//! | table    | key                                             | serves                                    |
//! |----------|-------------------------------------------------|-------------------------------------------|
//! | slots    | type, city, day, time                           | list (city, then when); next later slot   |
//! | holders  | type, city, day, time, participant              | holders in ascending participant order    |
//! | bookings | participant, day, time, city, type              | schedule order; same-when; week ranges    |
//!
//! Participant IDs are stored as their 8 ASCII bytes, whose byte order is string order.

use redb::StorageError;
use tessera_types::{City, EventId, EventType, TimeSlot, UserId};

use crate::calendar::{self, DayNumber};

pub(crate) const SLOT_KEY_LEN: usize = 5;
const USER_LEN: usize = 8;
pub(crate) const PAIR_KEY_LEN: usize = SLOT_KEY_LEN + USER_LEN;

pub(crate) type SlotKey = [u8; SLOT_KEY_LEN];
/// A slot key followed by a participant: one reservation, found from its slot.
pub(crate) type HolderKey = [u8; PAIR_KEY_LEN];
/// A participant followed by the slot in when order: one reservation, found from its holder.
pub(crate) type BookingKey = [u8; PAIR_KEY_LEN];

/// Every code below is at most this, so a key padded with it bounds a prefix from above.
const MAX_CODE: u8 = 0xff;

fn type_code(t: EventType) -> u8 {
    match t {
        EventType::ArtGallery => 0,
        EventType::Concerts => 1,
        EventType::Theatre => 2,
    }
}

fn type_from_code(c: u8) -> Option<EventType> {
    match c {
        0 => Some(EventType::ArtGallery),
        1 => Some(EventType::Concerts),
        2 => Some(EventType::Theatre),
        _ => None,
    }
}

fn city_code(c: City) -> u8 {
    match c {
        City::Mtl => 0,
        City::Tor => 1,
        City::Van => 2,
    }
}

fn city_from_code(c: u8) -> Option<City> {
    match c {
        0 => Some(City::Mtl),
        1 => Some(City::Tor),
        2 => Some(City::Van),
        _ => None,
    }
}

fn time_code(t: TimeSlot) -> u8 {
    match t {
        TimeSlot::Morning => 0,
        TimeSlot::Afternoon => 1,
        TimeSlot::Evening => 2,
    }
}

fn time_from_code(c: u8) -> Option<TimeSlot> {
    match c {
        0 => Some(TimeSlot::Morning),
        1 => Some(TimeSlot::Afternoon),
        2 => Some(TimeSlot::Evening),
        _ => None,
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupted(format!("replica-kv: malformed {what} key"))
}

/// The "when" of an event: its date and time slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct When {
    pub(crate) day: DayNumber,
    pub(crate) time: TimeSlot,
}

impl When {
    fn bytes(self) -> [u8; 3] {
        let [hi, lo] = self.day.to_be_bytes();
        [hi, lo, time_code(self.time)]
    }

    fn from_bytes(b: [u8; 3]) -> Option<When> {
        Some(When {
            day: DayNumber::from_be_bytes([b[0], b[1]]),
            time: time_from_code(b[2])?,
        })
    }
}

/// A slot, (event type, event ID), decomposed into the parts the keys are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) event_type: EventType,
    pub(crate) city: City,
    pub(crate) when: When,
}

impl Slot {
    pub(crate) fn new(event_type: EventType, event: &EventId) -> Slot {
        Slot {
            event_type,
            city: event.city(),
            when: When {
                day: calendar::day_number(event.year(), event.month(), event.day()),
                time: event.slot(),
            },
        }
    }

    /// Rebuilds the event ID; the key holds everything it is made of.
    pub(crate) fn event_id(&self) -> Result<EventId, StorageError> {
        let (year, month, day) = calendar::civil_date(self.when.day);
        let text = format!(
            "{}{}{:02}{:02}{:02}",
            self.city.as_str(),
            self.when.time.letter(),
            day,
            month,
            year % 100
        );
        EventId::parse(&text).map_err(|_| corrupt("slot"))
    }

    pub(crate) fn key(&self) -> SlotKey {
        let [hi, lo, time] = self.when.bytes();
        [
            type_code(self.event_type),
            city_code(self.city),
            hi,
            lo,
            time,
        ]
    }

    pub(crate) fn from_key(k: &SlotKey) -> Result<Slot, StorageError> {
        Slot::decode(k).ok_or_else(|| corrupt("slot"))
    }

    fn decode(&[t, c, hi, lo, time]: &SlotKey) -> Option<Slot> {
        Some(Slot {
            event_type: type_from_code(t)?,
            city: city_from_code(c)?,
            when: When::from_bytes([hi, lo, time])?,
        })
    }

    /// Inclusive bounds of all slots of one event type.
    pub(crate) fn type_range(t: EventType) -> (SlotKey, SlotKey) {
        let t = type_code(t);
        ([t, 0, 0, 0, 0], [t, MAX_CODE, MAX_CODE, MAX_CODE, MAX_CODE])
    }

    /// Inclusive upper bound of the slots with this slot's type and city.
    pub(crate) fn last_key_of_type_and_city(&self) -> SlotKey {
        [
            type_code(self.event_type),
            city_code(self.city),
            MAX_CODE,
            MAX_CODE,
            MAX_CODE,
        ]
    }

    pub(crate) fn holder_key(&self, participant: &UserId) -> HolderKey {
        concat(&self.key(), &user_bytes(participant))
    }

    /// Inclusive bounds of this slot's holders.
    pub(crate) fn holder_range(&self) -> (HolderKey, HolderKey) {
        let k = self.key();
        (
            concat(&k, &[0; USER_LEN]),
            concat(&k, &[MAX_CODE; USER_LEN]),
        )
    }

    pub(crate) fn booking_key(&self, participant: &UserId) -> BookingKey {
        let [hi, lo, time] = self.when.bytes();
        concat(
            &user_bytes(participant),
            &[
                hi,
                lo,
                time,
                city_code(self.city),
                type_code(self.event_type),
            ],
        )
    }

    pub(crate) fn from_booking_key(k: &BookingKey) -> Result<Slot, StorageError> {
        let [.., hi, lo, time, c, t] = *k;
        Slot::from_key(&[t, c, hi, lo, time]).map_err(|_| corrupt("booking"))
    }
}

/// The participant of a holder key.
pub(crate) fn holder_of(k: &HolderKey) -> Result<UserId, StorageError> {
    let text = std::str::from_utf8(&k[SLOT_KEY_LEN..]).map_err(|_| corrupt("holder"))?;
    UserId::parse(text).map_err(|_| corrupt("holder"))
}

/// Inclusive bounds of a participant's bookings.
pub(crate) fn bookings_range(participant: &UserId) -> (BookingKey, BookingKey) {
    let p = user_bytes(participant);
    (
        concat(&p, &[0; SLOT_KEY_LEN]),
        concat(&p, &[MAX_CODE; SLOT_KEY_LEN]),
    )
}

/// Inclusive bounds of a participant's bookings with a given when (any city, any type).
pub(crate) fn bookings_at(participant: &UserId, when: When) -> (BookingKey, BookingKey) {
    let p = user_bytes(participant);
    let [hi, lo, time] = when.bytes();
    (
        concat(&p, &[hi, lo, time, 0, 0]),
        concat(&p, &[hi, lo, time, MAX_CODE, MAX_CODE]),
    )
}

/// Half-open bounds of a participant's bookings on days `start..end`.
pub(crate) fn bookings_between(
    participant: &UserId,
    start: DayNumber,
    end: DayNumber,
) -> (BookingKey, BookingKey) {
    let p = user_bytes(participant);
    let [s_hi, s_lo] = start.to_be_bytes();
    let [e_hi, e_lo] = end.to_be_bytes();
    (
        concat(&p, &[s_hi, s_lo, 0, 0, 0]),
        concat(&p, &[e_hi, e_lo, 0, 0, 0]),
    )
}

fn user_bytes(user: &UserId) -> [u8; USER_LEN] {
    let mut out = [0; USER_LEN];
    for (dst, src) in out.iter_mut().zip(user.as_str().bytes()) {
        *dst = src;
    }
    out
}

fn concat<const A: usize, const B: usize>(a: &[u8; A], b: &[u8; B]) -> [u8; PAIR_KEY_LEN] {
    const { assert!(A + B == PAIR_KEY_LEN) };
    let mut out = [0; PAIR_KEY_LEN];
    for (dst, src) in out.iter_mut().zip(a.iter().chain(b.iter())) {
        *dst = *src;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(t: EventType, e: &str) -> Slot {
        Slot::new(t, &EventId::parse(e).unwrap())
    }

    fn user(u: &str) -> UserId {
        UserId::parse(u).unwrap()
    }

    #[test]
    fn slot_keys_round_trip() {
        for e in ["MTLM010100", "TORA290228", "VANE311299", "MTLE101226"] {
            for t in EventType::ALL {
                let s = slot(t, e);
                let back = Slot::from_key(&s.key()).unwrap();
                assert_eq!(back, s);
                assert_eq!(back.event_id().unwrap().as_str(), e);
                let p = user("TORP0042");
                assert_eq!(Slot::from_booking_key(&s.booking_key(&p)).unwrap(), s);
                assert_eq!(holder_of(&s.holder_key(&p)).unwrap(), p);
            }
        }
    }

    #[test]
    fn slot_keys_sort_by_type_city_then_when() {
        let ordered = [
            slot(EventType::ArtGallery, "MTLM010126"),
            slot(EventType::ArtGallery, "MTLA010126"),
            slot(EventType::ArtGallery, "MTLE010126"),
            slot(EventType::ArtGallery, "MTLM020126"),
            slot(EventType::ArtGallery, "MTLM311227"),
            slot(EventType::ArtGallery, "MTLM010128"),
            slot(EventType::ArtGallery, "TORM010100"),
            slot(EventType::ArtGallery, "VANM010100"),
            slot(EventType::Concerts, "MTLM010100"),
            slot(EventType::Theatre, "MTLM010100"),
        ];
        for w in ordered.windows(2) {
            assert!(w[0].key() < w[1].key(), "{:?} < {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn booking_keys_sort_by_when_city_then_type() {
        let p = user("MTLP0001");
        let ordered = [
            slot(EventType::Theatre, "VANM010126"),
            slot(EventType::ArtGallery, "MTLA010126"),
            slot(EventType::Theatre, "MTLA010126"),
            slot(EventType::ArtGallery, "TORA010126"),
            slot(EventType::ArtGallery, "MTLE010126"),
            slot(EventType::ArtGallery, "MTLM020126"),
        ];
        for w in ordered.windows(2) {
            assert!(w[0].booking_key(&p) < w[1].booking_key(&p));
        }
        let (lo, hi) = bookings_range(&p);
        for s in &ordered {
            assert!(lo <= s.booking_key(&p) && s.booking_key(&p) <= hi);
            assert!(s.booking_key(&user("MTLP0000")) < lo);
            assert!(s.booking_key(&user("MTLP0002")) > hi);
        }
    }

    #[test]
    fn holder_keys_sort_by_participant() {
        let s = slot(EventType::Concerts, "TORE050526");
        let (lo, hi) = s.holder_range();
        let ids = ["MTLP0009", "MTLP0010", "TORP0001", "VANP0000"];
        for w in ids.windows(2) {
            assert!(s.holder_key(&user(w[0])) < s.holder_key(&user(w[1])));
        }
        for id in ids {
            let k = s.holder_key(&user(id));
            assert!(lo <= k && k <= hi);
        }
        let next = slot(EventType::Concerts, "TORE060526");
        assert!(next.holder_key(&user("MTLP0000")) > hi);
    }

    #[test]
    fn same_when_bounds_catch_every_city_and_type_only() {
        let p = user("VANP0001");
        let s = slot(EventType::Concerts, "TORA151126");
        let (lo, hi) = bookings_at(&p, s.when);
        for t in EventType::ALL {
            for e in ["MTLA151126", "TORA151126", "VANA151126"] {
                let k = slot(t, e).booking_key(&p);
                assert!(lo <= k && k <= hi);
            }
            for e in ["MTLM151126", "MTLE151126", "MTLA161126", "MTLA141126"] {
                let k = slot(t, e).booking_key(&p);
                assert!(k < lo || k > hi);
            }
        }
    }

    #[test]
    fn malformed_keys_are_reported_not_panicked() {
        assert!(Slot::from_key(&[3, 0, 0, 0, 0]).is_err());
        assert!(Slot::from_key(&[0, 3, 0, 0, 0]).is_err());
        assert!(Slot::from_key(&[0, 0, 0, 0, 3]).is_err());
        assert!(holder_of(&[0; PAIR_KEY_LEN]).is_err());
    }
}
