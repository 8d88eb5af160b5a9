//! The redb tables and the primitive reads and writes the operations are made of.
//!
//! A reservation is recorded twice, once in `holders` (found from its slot) and once in
//! `bookings` (found from its participant), and each slot row caches its number of holders so
//! that `SLOT_FULL` and availability need no counting. Only the methods of [`Tables`] that
//! add or remove reservations (`book`, `unbook`, `delete_slot`, `insert_record`) write these
//! tables, and each keeps all three in step.

use std::ops::Bound;

use redb::{
    ReadTransaction, ReadableTable, StorageError, Table, TableDefinition, TableError,
    WriteTransaction,
};
use tessera_types::{EventType, SlotRecord, UserId};

use crate::calendar;
use crate::keys::{self, BookingKey, HolderKey, Slot, SlotKey, When};

/// slot key → (capacity, number of holders).
const SLOTS: TableDefinition<&SlotKey, (u32, u32)> = TableDefinition::new("slots");
/// slot key ++ participant → ().
const HOLDERS: TableDefinition<&HolderKey, ()> = TableDefinition::new("holders");
/// participant ++ when, city, type → ().
const BOOKINGS: TableDefinition<&BookingKey, ()> = TableDefinition::new("bookings");
/// Bookkeeping outside the domain state; only `APPLIED_SEQ` so far.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const APPLIED_SEQ: &str = "applied_seq";

/// Capacity and number of holders of an existing slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fill {
    pub(crate) capacity: u32,
    pub(crate) held: u32,
}

impl Fill {
    pub(crate) fn is_full(self) -> bool {
        self.held >= self.capacity
    }

    pub(crate) fn available(self) -> u32 {
        self.capacity.saturating_sub(self.held)
    }
}

/// Creates the tables if missing (so that read transactions can always open them) and
/// returns the stored applied sequence number.
pub(crate) fn init(txn: &WriteTransaction) -> Result<u64, TableError> {
    txn.open_table(SLOTS)?;
    txn.open_table(HOLDERS)?;
    txn.open_table(BOOKINGS)?;
    let meta = txn.open_table(META)?;
    let seq = meta.get(APPLIED_SEQ)?.map(|g| g.value()).unwrap_or(0);
    Ok(seq)
}

/// Records the sequence number in the transaction that applies it, so state and sequence
/// number always become durable (or are lost) together.
pub(crate) fn set_applied_seq(txn: &WriteTransaction, seq: u64) -> Result<(), TableError> {
    txn.open_table(META)?.insert(APPLIED_SEQ, seq)?;
    Ok(())
}

/// Reads the whole committed state as slot records, slots in key order and holders ascending.
pub(crate) fn read_all(txn: &ReadTransaction) -> Result<Vec<SlotRecord>, TableError> {
    read_tables(&txn.open_table(SLOTS)?, &txn.open_table(HOLDERS)?)
}

fn read_tables(
    slots: &impl ReadableTable<&'static SlotKey, (u32, u32)>,
    holders: &impl ReadableTable<&'static HolderKey, ()>,
) -> Result<Vec<SlotRecord>, TableError> {
    let mut out = Vec::new();
    for row in slots.range::<&SlotKey>(..)? {
        let (key, fill) = row?;
        let slot = Slot::from_key(key.value())?;
        let (capacity, _) = fill.value();
        let (lo, hi) = slot.holder_range();
        let mut ids = Vec::new();
        for h in holders.range::<&HolderKey>(&lo..=&hi)? {
            ids.push(keys::holder_of(h?.0.value())?);
        }
        out.push(SlotRecord {
            event_type: slot.event_type,
            event_id: slot.event_id()?,
            capacity,
            holders: ids,
        });
    }
    Ok(out)
}

/// The domain tables, open in one write transaction.
pub(crate) struct Tables<'t> {
    slots: Table<'t, &'static SlotKey, (u32, u32)>,
    holders: Table<'t, &'static HolderKey, ()>,
    bookings: Table<'t, &'static BookingKey, ()>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<Self, TableError> {
        Ok(Tables {
            slots: txn.open_table(SLOTS)?,
            holders: txn.open_table(HOLDERS)?,
            bookings: txn.open_table(BOOKINGS)?,
        })
    }

    /// Like [`read_all`], but through the open write transaction, uncommitted writes
    /// included.
    pub(crate) fn read_all(&self) -> Result<Vec<SlotRecord>, TableError> {
        read_tables(&self.slots, &self.holders)
    }

    /// Empties the tables, in the transaction that will refill them.
    pub(crate) fn clear(&mut self) -> Result<(), StorageError> {
        self.slots.retain(|_, _| false)?;
        self.holders.retain(|_, _| false)?;
        self.bookings.retain(|_, _| false)?;
        Ok(())
    }

    pub(crate) fn fill(&self, slot: &Slot) -> Result<Option<Fill>, StorageError> {
        Ok(self.slots.get(&slot.key())?.map(|g| {
            let (capacity, held) = g.value();
            Fill { capacity, held }
        }))
    }

    pub(crate) fn set_fill(&mut self, slot: &Slot, fill: Fill) -> Result<(), StorageError> {
        self.slots.insert(&slot.key(), (fill.capacity, fill.held))?;
        Ok(())
    }

    pub(crate) fn holds(&self, participant: &UserId, slot: &Slot) -> Result<bool, StorageError> {
        Ok(self.holders.get(&slot.holder_key(participant))?.is_some())
    }

    /// Whether the participant holds a reservation with this when (any city, any type), not
    /// counting `except`.
    pub(crate) fn busy_at(
        &self,
        participant: &UserId,
        when: When,
        except: Option<&Slot>,
    ) -> Result<bool, StorageError> {
        let skip = except.map(|s| s.booking_key(participant));
        let (lo, hi) = keys::bookings_at(participant, when);
        for row in self.bookings.range::<&BookingKey>(&lo..=&hi)? {
            if Some(*row?.0.value()) != skip {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The participant's reservations in other cities during the week containing `day`, not
    /// counting `except`. A week is one key range since bookings are keyed by day number; time
    /// conflicts leave at most 21 bookings in it, so counting them is cheap.
    pub(crate) fn other_city_in_week(
        &self,
        participant: &UserId,
        day: calendar::DayNumber,
        except: Option<&Slot>,
    ) -> Result<usize, StorageError> {
        let skip = except.map(|s| s.booking_key(participant));
        let (start, end) = calendar::week_days(day);
        let (lo, hi) = keys::bookings_between(participant, start, end);
        let mut count = 0;
        for row in self.bookings.range::<&BookingKey>(&lo..&hi)? {
            let key = *row?.0.value();
            if Some(key) != skip && Slot::from_booking_key(&key)?.city != participant.city() {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Adds a reservation to a slot the participant does not hold and that has room.
    pub(crate) fn book(
        &mut self,
        participant: &UserId,
        slot: &Slot,
        fill: Fill,
    ) -> Result<(), StorageError> {
        self.holders.insert(&slot.holder_key(participant), ())?;
        self.bookings.insert(&slot.booking_key(participant), ())?;
        self.set_fill(
            slot,
            Fill {
                held: fill.held.saturating_add(1),
                ..fill
            },
        )
    }

    /// Removes a reservation the participant holds.
    pub(crate) fn unbook(
        &mut self,
        participant: &UserId,
        slot: &Slot,
        fill: Fill,
    ) -> Result<(), StorageError> {
        self.holders.remove(&slot.holder_key(participant))?;
        self.bookings.remove(&slot.booking_key(participant))?;
        self.set_fill(
            slot,
            Fill {
                held: fill.held.saturating_sub(1),
                ..fill
            },
        )
    }

    /// Deletes a slot with all its reservations; returns its former holders in ascending
    /// participant order (the holder keys' order).
    pub(crate) fn delete_slot(&mut self, slot: &Slot) -> Result<Vec<UserId>, StorageError> {
        let (lo, hi) = slot.holder_range();
        let mut former = Vec::new();
        for row in self
            .holders
            .extract_from_if::<&HolderKey, _>(&lo..=&hi, |_, _| true)?
        {
            former.push(keys::holder_of(row?.0.value())?);
        }
        for participant in &former {
            self.bookings.remove(&slot.booking_key(participant))?;
        }
        self.slots.remove(&slot.key())?;
        Ok(former)
    }

    /// Slots of `slot`'s type and city whose when is strictly later, earliest first.
    pub(crate) fn later_slots(
        &self,
        slot: &Slot,
    ) -> Result<impl Iterator<Item = Result<(Slot, Fill), StorageError>> + '_, StorageError> {
        let from = slot.key();
        let to = slot.last_key_of_type_and_city();
        let rows = self
            .slots
            .range::<&SlotKey>((Bound::Excluded(&from), Bound::Included(&to)))?;
        Ok(rows.map(|row| {
            let (key, fill) = row?;
            let (capacity, held) = fill.value();
            Ok((Slot::from_key(key.value())?, Fill { capacity, held }))
        }))
    }

    /// All slots of one event type, by city then when.
    pub(crate) fn slots_of_type(&self, t: EventType) -> Result<Vec<(Slot, Fill)>, StorageError> {
        let (lo, hi) = Slot::type_range(t);
        let mut out = Vec::new();
        for row in self.slots.range::<&SlotKey>(&lo..=&hi)? {
            let (key, fill) = row?;
            let (capacity, held) = fill.value();
            out.push((Slot::from_key(key.value())?, Fill { capacity, held }));
        }
        Ok(out)
    }

    /// The participant's reservations by when, then city, then event type.
    pub(crate) fn schedule(&self, participant: &UserId) -> Result<Vec<Slot>, StorageError> {
        let (lo, hi) = keys::bookings_range(participant);
        let mut out = Vec::new();
        for row in self.bookings.range::<&BookingKey>(&lo..=&hi)? {
            out.push(Slot::from_booking_key(row?.0.value())?);
        }
        Ok(out)
    }

    /// Writes one slot record of a snapshot into empty tables.
    pub(crate) fn insert_record(&mut self, record: &SlotRecord) -> Result<(), StorageError> {
        let slot = Slot::new(record.event_type, &record.event_id);
        for participant in &record.holders {
            self.holders.insert(&slot.holder_key(participant), ())?;
            self.bookings.insert(&slot.booking_key(participant), ())?;
        }
        let held = u32::try_from(record.holders.len()).unwrap_or(u32::MAX);
        self.set_fill(
            &slot,
            Fill {
                capacity: record.capacity,
                held,
            },
        )
    }
}
