//! The seven operations of `docs/domain.md`, each running its checks in the documented order.

use tessera_types::{
    Booking, City, Code, EventId, EventType, Reply, Request, Role, SlotAvailability, UserId,
};

use crate::state::{is_other_city, Holdings, SlotKey, State, OTHER_CITY_WEEKLY_LIMIT};

/// Runs one request against the state. Every outcome is a reply; a request that fails a check
/// leaves the state untouched. (Step 0, argument syntax, happened where the request was
/// built: its fields are typed.)
pub fn execute(state: &mut State, request: &Request) -> Reply {
    match *request {
        Request::AddReservationSlot {
            admin_id,
            event_type,
            event_id,
            capacity,
        } => add(state, admin_id, event_type, event_id, capacity.get()),
        Request::RemoveReservationSlot {
            admin_id,
            event_type,
            event_id,
        } => remove(state, admin_id, event_type, event_id),
        Request::ListReservationSlotAvailable {
            admin_id,
            event_type,
        } => list(state, admin_id, event_type),
        Request::ReserveTicket {
            participant_id,
            event_type,
            event_id,
        } => reserve(state, participant_id, event_type, event_id),
        Request::GetEventSchedule { participant_id } => schedule(state, participant_id),
        Request::CancelTicket {
            participant_id,
            event_type,
            event_id,
        } => cancel(state, participant_id, event_type, event_id),
        Request::ExchangeTicket {
            participant_id,
            event_type,
            event_id,
            new_event_type,
            new_event_id,
        } => exchange(
            state,
            participant_id,
            SlotKey::new(event_type, &event_id),
            SlotKey::new(new_event_type, &new_event_id),
        ),
    }
}

/// A read-only request against the state, which it cannot change (`&State`); `None` for any
/// other request.
pub fn read(state: &State, request: &Request) -> Option<Reply> {
    match *request {
        Request::ListReservationSlotAvailable {
            admin_id,
            event_type,
        } => Some(list(state, admin_id, event_type)),
        Request::GetEventSchedule { participant_id } => Some(schedule(state, participant_id)),
        _ => None,
    }
}

fn is_admin_of(user: &UserId, city: City) -> bool {
    user.role() == Role::Admin && user.city() == city
}

fn is_participant(user: &UserId) -> bool {
    user.role() == Role::Participant
}

fn add(
    state: &mut State,
    admin: UserId,
    event_type: EventType,
    event_id: EventId,
    capacity: u32,
) -> Reply {
    if !is_admin_of(&admin, event_id.city()) {
        return Reply::code(Code::NotAuthorized);
    }
    let key = SlotKey::new(event_type, &event_id);
    match state.slot_mut(key) {
        Some(slot) if (capacity as usize) < slot.holders.len() => {
            Reply::code(Code::CapacityBelowBooked)
        }
        Some(slot) => {
            slot.capacity = capacity;
            Reply::code(Code::Updated)
        }
        None => {
            state.create_slot(key, event_id, capacity);
            Reply::code(Code::Created)
        }
    }
}

fn remove(state: &mut State, admin: UserId, event_type: EventType, event_id: EventId) -> Reply {
    if !is_admin_of(&admin, event_id.city()) {
        return Reply::code(Code::NotAuthorized);
    }
    let removed = SlotKey::new(event_type, &event_id);
    // The slot and all its reservations are gone before anyone moves.
    let Some(holders) = state.delete_slot(removed) else {
        return Reply::code(Code::NoSuchSlot);
    };
    let (mut moved, mut dropped) = (0u32, 0u32);
    // Ascending participant order: each move takes a place before later holders look.
    for participant in holders {
        match move_target(state, &participant, removed) {
            Some(target) => {
                state.hold(participant, target);
                moved += 1;
            }
            None => dropped += 1,
        }
    }
    Reply::removed(moved, dropped)
}

/// The earliest-when slot of the removed slot's type and city, strictly later than it, that
/// `participant` could take right now.
fn move_target(state: &State, participant: &UserId, removed: SlotKey) -> Option<SlotKey> {
    let empty = Holdings::default();
    let held = state.holdings(participant).unwrap_or(&empty);
    // All candidates share the removed slot's city, so "other city" is decided once.
    let other_city = is_other_city(participant, removed.city);
    state
        .later_slots(removed.event_type, removed.city, removed.when)
        .find(|(key, slot)| {
            !slot.is_full()
                && !held.holds(**key)
                && !held.busy_at(key.when, None)
                && (!other_city
                    || held.other_city_in_week(key.when.week()) < OTHER_CITY_WEEKLY_LIMIT)
        })
        .map(|(key, _)| *key)
}

fn list(state: &State, admin: UserId, event_type: EventType) -> Reply {
    if admin.role() != Role::Admin {
        return Reply::code(Code::NotAuthorized);
    }
    let rows = state
        .slots_of_type(event_type)
        .map(|slot| SlotAvailability {
            event_id: slot.event_id,
            event_type,
            available: slot.available(),
        })
        .collect();
    Reply::slots(rows)
}

fn reserve(
    state: &mut State,
    participant: UserId,
    event_type: EventType,
    event_id: EventId,
) -> Reply {
    if !is_participant(&participant) {
        return Reply::code(Code::NotAuthorized);
    }
    let key = SlotKey::new(event_type, &event_id);
    let Some(slot) = state.slot(key) else {
        return Reply::code(Code::NoSuchSlot);
    };
    let empty = Holdings::default();
    let held = state.holdings(&participant).unwrap_or(&empty);
    if held.holds(key) {
        return Reply::code(Code::AlreadyReserved);
    }
    if slot.is_full() {
        return Reply::code(Code::SlotFull);
    }
    if held.busy_at(key.when, None) {
        return Reply::code(Code::TimeConflict);
    }
    if is_other_city(&participant, key.city)
        && held.other_city_in_week(key.when.week()) >= OTHER_CITY_WEEKLY_LIMIT
    {
        return Reply::code(Code::OtherCityLimit);
    }
    state.hold(participant, key);
    Reply::code(Code::Reserved)
}

fn schedule(state: &State, participant: UserId) -> Reply {
    if !is_participant(&participant) {
        return Reply::code(Code::NotAuthorized);
    }
    // Holdings are keyed in schedule order: when, city, type.
    let rows = state
        .holdings(&participant)
        .map(|held| {
            held.slots
                .iter()
                .map(|(key, event_id)| Booking {
                    event_id: *event_id,
                    event_type: key.event_type,
                })
                .collect()
        })
        .unwrap_or_default();
    Reply::schedule(rows)
}

fn cancel(
    state: &mut State,
    participant: UserId,
    event_type: EventType,
    event_id: EventId,
) -> Reply {
    if !is_participant(&participant) {
        return Reply::code(Code::NotAuthorized);
    }
    if state.release(&participant, SlotKey::new(event_type, &event_id)) {
        Reply::code(Code::Cancelled)
    } else {
        Reply::code(Code::NotReserved)
    }
}

fn exchange(state: &mut State, participant: UserId, old: SlotKey, new: SlotKey) -> Reply {
    if let Err(code) = check_exchange(state, &participant, old, new) {
        return Reply::code(code);
    }
    // Every check passed, so both steps succeed: the exchange is all or nothing.
    state.release(&participant, old);
    state.hold(participant, new);
    Reply::code(Code::Exchanged)
}

/// The checks of `exchangeTicket`, without touching the state; the time and weekly checks
/// discount the old reservation as if it were already cancelled.
fn check_exchange(
    state: &State,
    participant: &UserId,
    old: SlotKey,
    new: SlotKey,
) -> Result<(), Code> {
    if !is_participant(participant) {
        return Err(Code::NotAuthorized);
    }
    let held = state
        .holdings(participant)
        .filter(|h| h.holds(old))
        .ok_or(Code::NotReserved)?;
    let new_slot = state.slot(new).ok_or(Code::NoSuchSlot)?;
    if held.holds(new) {
        return Err(Code::AlreadyReserved);
    }
    if new_slot.is_full() {
        return Err(Code::SlotFull);
    }
    if held.busy_at(new.when, Some(old)) {
        return Err(Code::TimeConflict);
    }
    if is_other_city(participant, new.city) {
        let week = new.when.week();
        let mut count = held.other_city_in_week(week);
        if is_other_city(participant, old.city) && old.when.week() == week {
            count = count.saturating_sub(1);
        }
        if count >= OTHER_CITY_WEEKLY_LIMIT {
            return Err(Code::OtherCityLimit);
        }
    }
    Ok(())
}
