//! The seven operations of `docs/domain.md`, check by check in the order the spec lists them.
//! Every check only reads; the writes come after the last check, so a failing check needs no
//! undo (and a storage error aborts the whole redb transaction anyway).

use redb::StorageError;
use tessera_types::{Booking, Code, EventType, Reply, Request, Role, SlotAvailability, UserId};

use crate::keys::Slot;
use crate::store::{Fill, Tables};

/// Most other-city reservations a participant may hold in one week.
const OTHER_CITY_LIMIT: usize = 3;

/// Runs one request against the open tables. (Step 0, argument syntax, happened where the
/// request was built: its fields are typed.)
pub(crate) fn apply(t: &mut Tables<'_>, request: &Request) -> Result<Reply, StorageError> {
    match *request {
        Request::AddReservationSlot {
            admin_id,
            event_type,
            event_id,
            capacity,
        } => add(
            t,
            &admin_id,
            &Slot::new(event_type, &event_id),
            capacity.get(),
        ),
        Request::RemoveReservationSlot {
            admin_id,
            event_type,
            event_id,
        } => remove(t, &admin_id, &Slot::new(event_type, &event_id)),
        Request::ListReservationSlotAvailable {
            admin_id,
            event_type,
        } => list(t, &admin_id, event_type),
        Request::ReserveTicket {
            participant_id,
            event_type,
            event_id,
        } => reserve(t, &participant_id, &Slot::new(event_type, &event_id)),
        Request::GetEventSchedule { participant_id } => schedule(t, &participant_id),
        Request::CancelTicket {
            participant_id,
            event_type,
            event_id,
        } => cancel(t, &participant_id, &Slot::new(event_type, &event_id)),
        Request::ExchangeTicket {
            participant_id,
            event_type,
            event_id,
            new_event_type,
            new_event_id,
        } => exchange(
            t,
            &participant_id,
            &Slot::new(event_type, &event_id),
            &Slot::new(new_event_type, &new_event_id),
        ),
    }
}

/// Answers a read-only request (`Request::is_read_only`) from the tables, writing nothing;
/// `None` for any other request.
pub(crate) fn read(t: &Tables<'_>, request: &Request) -> Result<Option<Reply>, StorageError> {
    match *request {
        Request::ListReservationSlotAvailable {
            admin_id,
            event_type,
        } => list(t, &admin_id, event_type).map(Some),
        Request::GetEventSchedule { participant_id } => schedule(t, &participant_id).map(Some),
        _ => Ok(None),
    }
}

fn is_participant(user: &UserId) -> bool {
    user.role() == Role::Participant
}

fn is_admin_of(user: &UserId, slot: &Slot) -> bool {
    user.role() == Role::Admin && user.city() == slot.city
}

fn add(
    t: &mut Tables<'_>,
    admin: &UserId,
    slot: &Slot,
    capacity: u32,
) -> Result<Reply, StorageError> {
    if !is_admin_of(admin, slot) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    match t.fill(slot)? {
        Some(fill) if capacity < fill.held => Ok(Reply::code(Code::CapacityBelowBooked)),
        Some(fill) => {
            t.set_fill(slot, Fill { capacity, ..fill })?;
            Ok(Reply::code(Code::Updated))
        }
        None => {
            t.set_fill(slot, Fill { capacity, held: 0 })?;
            Ok(Reply::code(Code::Created))
        }
    }
}

fn remove(t: &mut Tables<'_>, admin: &UserId, slot: &Slot) -> Result<Reply, StorageError> {
    if !is_admin_of(admin, slot) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    if t.fill(slot)?.is_none() {
        return Ok(Reply::code(Code::NoSuchSlot));
    }
    // The slot and all its reservations go first, so a former holder's removed reservation
    // counts neither as a time conflict nor towards the other-city limit of a new home.
    let former = t.delete_slot(slot)?;
    let (mut moved, mut dropped) = (0u32, 0u32);
    for participant in &former {
        match new_home(t, participant, slot)? {
            Some((home, fill)) => {
                t.book(participant, &home, fill)?;
                moved += 1;
            }
            None => dropped += 1,
        }
    }
    Ok(Reply::removed(moved, dropped))
}

/// The earliest slot, later than the removed one, of its type and city, that could take
/// `participant` right now. Same type and city come from the key range; the rest is checked.
fn new_home(
    t: &Tables<'_>,
    participant: &UserId,
    removed: &Slot,
) -> Result<Option<(Slot, Fill)>, StorageError> {
    for candidate in t.later_slots(removed)? {
        let (slot, fill) = candidate?;
        if fill.is_full()
            || t.holds(participant, &slot)?
            || t.busy_at(participant, slot.when, None)?
            || over_other_city_limit(t, participant, &slot, None)?
        {
            continue;
        }
        return Ok(Some((slot, fill)));
    }
    Ok(None)
}

/// Whether `slot` is in an other city for the participant, who already holds the maximum of
/// other-city reservations in its week (not counting `except`).
fn over_other_city_limit(
    t: &Tables<'_>,
    participant: &UserId,
    slot: &Slot,
    except: Option<&Slot>,
) -> Result<bool, StorageError> {
    Ok(slot.city != participant.city()
        && t.other_city_in_week(participant, slot.when.day, except)? >= OTHER_CITY_LIMIT)
}

fn list(t: &Tables<'_>, admin: &UserId, event_type: EventType) -> Result<Reply, StorageError> {
    if admin.role() != Role::Admin {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    let mut rows = Vec::new();
    for (slot, fill) in t.slots_of_type(event_type)? {
        rows.push(SlotAvailability {
            event_id: slot.event_id()?,
            event_type,
            available: fill.available(),
        });
    }
    Ok(Reply::slots(rows))
}

fn reserve(t: &mut Tables<'_>, participant: &UserId, slot: &Slot) -> Result<Reply, StorageError> {
    if !is_participant(participant) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    let Some(fill) = t.fill(slot)? else {
        return Ok(Reply::code(Code::NoSuchSlot));
    };
    if t.holds(participant, slot)? {
        return Ok(Reply::code(Code::AlreadyReserved));
    }
    if fill.is_full() {
        return Ok(Reply::code(Code::SlotFull));
    }
    if t.busy_at(participant, slot.when, None)? {
        return Ok(Reply::code(Code::TimeConflict));
    }
    if over_other_city_limit(t, participant, slot, None)? {
        return Ok(Reply::code(Code::OtherCityLimit));
    }
    t.book(participant, slot, fill)?;
    Ok(Reply::code(Code::Reserved))
}

fn schedule(t: &Tables<'_>, participant: &UserId) -> Result<Reply, StorageError> {
    if !is_participant(participant) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    let mut rows = Vec::new();
    for slot in t.schedule(participant)? {
        rows.push(Booking {
            event_id: slot.event_id()?,
            event_type: slot.event_type,
        });
    }
    Ok(Reply::schedule(rows))
}

fn cancel(t: &mut Tables<'_>, participant: &UserId, slot: &Slot) -> Result<Reply, StorageError> {
    if !is_participant(participant) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    // A held slot always exists; the fill lookup is only for the holder count.
    let fill = match t.fill(slot)? {
        Some(fill) if t.holds(participant, slot)? => fill,
        _ => return Ok(Reply::code(Code::NotReserved)),
    };
    t.unbook(participant, slot, fill)?;
    Ok(Reply::code(Code::Cancelled))
}

fn exchange(
    t: &mut Tables<'_>,
    participant: &UserId,
    old: &Slot,
    new: &Slot,
) -> Result<Reply, StorageError> {
    if !is_participant(participant) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    let old_fill = match t.fill(old)? {
        Some(fill) if t.holds(participant, old)? => fill,
        _ => return Ok(Reply::code(Code::NotReserved)),
    };
    let Some(new_fill) = t.fill(new)? else {
        return Ok(Reply::code(Code::NoSuchSlot));
    };
    if t.holds(participant, new)? {
        return Ok(Reply::code(Code::AlreadyReserved));
    }
    if new_fill.is_full() {
        return Ok(Reply::code(Code::SlotFull));
    }
    // As if the old reservation were already cancelled: it is left out of both counts.
    if t.busy_at(participant, new.when, Some(old))? {
        return Ok(Reply::code(Code::TimeConflict));
    }
    if over_other_city_limit(t, participant, new, Some(old))? {
        return Ok(Reply::code(Code::OtherCityLimit));
    }
    // old != new here (ALREADY_RESERVED caught that), so the two fills are independent.
    t.unbook(participant, old, old_fill)?;
    t.book(participant, new, new_fill)?;
    Ok(Reply::code(Code::Exchanged))
}
