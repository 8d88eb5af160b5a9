//! The rules of `docs/domain.md`: a request is judged against the current projection and
//! yields its reply plus the events that carry out its effect. Nothing here mutates state,
//! so a failed check needs no undo: it simply yields no events.
//!
//! A call (a request with perhaps a message id) is judged the same way: [`decide_call`]
//! yields its outcome plus the events that change the remembered calls.

use tessera_types::{
    CallRecord, Code, EventId, EventType, MessageId, Ordered, Outcome, Reply, Request, Role, UserId,
};

use crate::answered::{Answered, CallEvent};
use crate::events::{Event, SlotRef};
use crate::projection::{Holding, Projection, Slot};

/// A participant may hold at most this many other-city reservations in one week.
const OTHER_CITY_WEEKLY_LIMIT: usize = 3;

/// The slot a request names.
fn slot(event_type: EventType, event_id: EventId) -> SlotRef {
    SlotRef {
        event_type,
        event_id,
    }
}

/// Judges `request` against `state`, appending the events that carry out its effect to
/// `events` (none when it changes nothing), and returns the reply. (Step 0, argument syntax,
/// happened where the request was built: its fields are typed.)
pub fn decide(state: &Projection, request: &Request, events: &mut Vec<Event>) -> Reply {
    match *request {
        Request::AddReservationSlot {
            admin_id,
            event_type,
            event_id,
            capacity,
        } => add(
            state,
            admin_id,
            slot(event_type, event_id),
            capacity.get(),
            events,
        ),
        Request::RemoveReservationSlot {
            admin_id,
            event_type,
            event_id,
        } => remove(state, admin_id, slot(event_type, event_id), events),
        Request::ListReservationSlotAvailable {
            admin_id,
            event_type,
        } => {
            if admin_id.role() != Role::Admin {
                return Reply::code(Code::NotAuthorized);
            }
            Reply::slots(state.availability(event_type))
        }
        Request::ReserveTicket {
            participant_id,
            event_type,
            event_id,
        } => reserve(state, participant_id, slot(event_type, event_id), events),
        Request::GetEventSchedule { participant_id } => {
            if participant_id.role() != Role::Participant {
                return Reply::code(Code::NotAuthorized);
            }
            Reply::schedule(state.schedule(&participant_id).bookings())
        }
        Request::CancelTicket {
            participant_id,
            event_type,
            event_id,
        } => cancel(state, participant_id, slot(event_type, event_id), events),
        Request::ExchangeTicket {
            participant_id,
            event_type,
            event_id,
            new_event_type,
            new_event_id,
        } => exchange(
            state,
            participant_id,
            slot(event_type, event_id),
            slot(new_event_type, new_event_id),
            events,
        ),
    }
}

/// Judges `call` by "Repeated calls", in its step order, against `state` and the remembered
/// calls `answered`: appends the domain events of an executed request to `events` and the
/// changes to the remembered calls to `calls`, and returns the outcome. A call without a
/// message id when nothing is old enough to forget adds nothing to `calls`, so the common
/// case costs what it did before calls were remembered.
pub fn decide_call(
    state: &Projection,
    answered: &Answered,
    call: &Ordered<'_>,
    events: &mut Vec<Event>,
    calls: &mut Vec<CallEvent>,
) -> Outcome {
    // Step 1: the oldest `aged` calls are forgotten, whatever follows.
    let aged = answered.too_old(call.time_ms, call.memory.max_age_ms);
    let Some(id) = call.message_id else {
        forget_oldest(answered, aged, calls);
        return Outcome::fresh(decide(state, call.request, events));
    };
    // Step 2: a call forgotten in step 1 is not remembered any more.
    match answered.find(id).filter(|&(at, _)| at >= aged) {
        Some((_, first)) => {
            forget_oldest(answered, aged, calls);
            repeat(first, call.request)
        }
        None => {
            // Step 3.
            let reply = decide(state, call.request, events);
            let record = CallRecord {
                message_id: MessageId::clone(id),
                seq: call.seq,
                time_ms: call.time_ms,
                request: call.request.clone(),
                reply: reply.clone(),
            };
            remember(answered, aged, record, call.memory.max_entries, calls);
            Outcome::fresh(reply)
        }
    }
}

/// The outcome for a message id remembered from `first`: its reply again if the request is
/// the same, or `MESSAGE_ID_REUSED` (which is not a repeat) if not.
fn repeat(first: &CallRecord, request: &Request) -> Outcome {
    if first.request == *request {
        Outcome {
            reply: first.reply.clone(),
            repeat_of: Some(first.seq),
        }
    } else {
        Outcome::fresh(Reply::code(Code::MessageIdReused))
    }
}

/// Logs forgetting the `count` oldest remembered calls, if any.
fn forget_oldest(answered: &Answered, count: usize, calls: &mut Vec<CallEvent>) {
    if let Some(through) = count.checked_sub(1).and_then(|last| answered.seq_at(last)) {
        calls.push(CallEvent::Forgotten { through });
    }
}

/// Logs step 1's forgetting and step 3's remembering of `record` (then forgetting the oldest
/// while more than `max_entries` are remembered) as their net effect: both forget a prefix
/// of the remembered calls, so they are one `Forgotten`, logged before the `Remembered` so
/// that a message id forgotten by age may be remembered again at once. The new call is the
/// newest, so the count limit forgets it only when it is 0, and then everything went first.
fn remember(
    answered: &Answered,
    aged: usize,
    record: CallRecord,
    max_entries: u64,
    calls: &mut Vec<CallEvent>,
) {
    let max = usize::try_from(max_entries).unwrap_or(usize::MAX);
    let kept = (answered.len() - aged).min(max.saturating_sub(1));
    forget_oldest(answered, answered.len() - kept, calls);
    if max > 0 {
        calls.push(CallEvent::Remembered(record));
    }
}

/// Slot administration is for admins of the slot's own city.
fn administers(admin: &UserId, slot: &SlotRef) -> bool {
    admin.role() == Role::Admin && admin.city() == slot.event_id.city()
}

/// Whether `participant` may take a place in `target` given what they hold, ignoring
/// `except` (a reservation about to be given up): no other reservation at the same when,
/// and the weekly other-city limit not yet reached. Checks run in reply order.
fn admission(
    state: &Projection,
    participant: &UserId,
    target: &Slot,
    except: Option<&Holding>,
) -> Result<(), Code> {
    let schedule = state.schedule(participant);
    if schedule.has_when(target.key.when, except) {
        return Err(Code::TimeConflict);
    }
    let home = participant.city();
    if target.key.city != home
        && schedule.other_city_in_week(home, target.key.when.week(), except)
            >= OTHER_CITY_WEEKLY_LIMIT
    {
        return Err(Code::OtherCityLimit);
    }
    Ok(())
}

fn add(
    state: &Projection,
    admin: UserId,
    slot: SlotRef,
    capacity: u32,
    events: &mut Vec<Event>,
) -> Reply {
    if !administers(&admin, &slot) {
        return Reply::code(Code::NotAuthorized);
    }
    match state.find(&slot) {
        Some(existing) => {
            if (capacity as usize) < existing.holders.len() {
                return Reply::code(Code::CapacityBelowBooked);
            }
            // Setting the same capacity again is still UPDATED but changes nothing, so it
            // leaves nothing to log.
            if existing.capacity != capacity {
                events.push(Event::CapacityChanged { slot, capacity });
            }
            Reply::code(Code::Updated)
        }
        None => {
            events.push(Event::SlotCreated { slot, capacity });
            Reply::code(Code::Created)
        }
    }
}

fn remove(state: &Projection, admin: UserId, slot: SlotRef, events: &mut Vec<Event>) -> Reply {
    if !administers(&admin, &slot) {
        return Reply::code(Code::NotAuthorized);
    }
    let Some(removed) = state.find(&slot) else {
        return Reply::code(Code::NoSuchSlot);
    };
    events.push(Event::SlotRemoved { slot });

    // The projection still shows the removed slot, so its reservation is excluded by hand
    // from every count below. Holders are distinct participants, so one holder's move never
    // changes another's holdings; it only uses up a place, which `taken` tracks.
    let gone = Holding::of(&slot);
    let candidates = state.later_in_same_city(&slot);
    let mut taken = vec![0usize; candidates.len()];
    let (mut moved, mut dropped) = (0u32, 0u32);
    for &participant in &removed.holders {
        // "Does not hold S" needs no check of its own: holding S is a same-when conflict.
        let target = candidates.iter().zip(&taken).position(|(s, &extra)| {
            s.holders.len() + extra < s.capacity as usize
                && admission(state, &participant, s, Some(&gone)).is_ok()
        });
        match target {
            Some(i) => {
                taken[i] += 1;
                moved += 1;
                events.push(Event::ReservationMoved {
                    participant,
                    to: candidates[i].slot_ref(),
                });
            }
            None => {
                dropped += 1;
                events.push(Event::ReservationDropped {
                    participant,
                    from: slot,
                });
            }
        }
    }
    Reply::removed(moved, dropped)
}

fn reserve(
    state: &Projection,
    participant: UserId,
    slot: SlotRef,
    events: &mut Vec<Event>,
) -> Reply {
    if participant.role() != Role::Participant {
        return Reply::code(Code::NotAuthorized);
    }
    let Some(target) = state.find(&slot) else {
        return Reply::code(Code::NoSuchSlot);
    };
    if state.schedule(&participant).holds(&Holding::of(&slot)) {
        return Reply::code(Code::AlreadyReserved);
    }
    if !target.has_room() {
        return Reply::code(Code::SlotFull);
    }
    if let Err(code) = admission(state, &participant, target, None) {
        return Reply::code(code);
    }
    events.push(Event::TicketReserved { participant, slot });
    Reply::code(Code::Reserved)
}

fn cancel(
    state: &Projection,
    participant: UserId,
    slot: SlotRef,
    events: &mut Vec<Event>,
) -> Reply {
    if participant.role() != Role::Participant {
        return Reply::code(Code::NotAuthorized);
    }
    // A slot that does not exist is not held either: no separate existence check.
    if !state.schedule(&participant).holds(&Holding::of(&slot)) {
        return Reply::code(Code::NotReserved);
    }
    events.push(Event::TicketCancelled { participant, slot });
    Reply::code(Code::Cancelled)
}

fn exchange(
    state: &Projection,
    participant: UserId,
    from: SlotRef,
    to: SlotRef,
    events: &mut Vec<Event>,
) -> Reply {
    if participant.role() != Role::Participant {
        return Reply::code(Code::NotAuthorized);
    }
    let schedule = state.schedule(&participant);
    let old = Holding::of(&from);
    if !schedule.holds(&old) {
        return Reply::code(Code::NotReserved);
    }
    let Some(target) = state.find(&to) else {
        return Reply::code(Code::NoSuchSlot);
    };
    // Also catches `to == from`, which is held.
    if schedule.holds(&Holding::of(&to)) {
        return Reply::code(Code::AlreadyReserved);
    }
    if !target.has_room() {
        return Reply::code(Code::SlotFull);
    }
    // Judged as if the old reservation were already cancelled.
    if let Err(code) = admission(state, &participant, target, Some(&old)) {
        return Reply::code(code);
    }
    events.push(Event::TicketExchanged {
        participant,
        from,
        to,
    });
    Reply::code(Code::Exchanged)
}
