//! The seven operations of `docs/domain.md` as SQL. Each function runs inside the caller's
//! transaction and returns the reply; on any storage error the caller rolls back, so a
//! request either happens completely or not at all.
//!
//! Every check is evaluated *before* the first write of its operation, which is what makes a
//! refused request change nothing without relying on a rollback.

use rusqlite::{Connection, OptionalExtension};
use tessera_types::{
    Booking, Code, EventId, EventType, Reply, Request, Role, SlotAvailability, UserId,
};

use crate::command::SlotKey;
use crate::error::{Result, StorageError};
use crate::schema::{event_type_of, kind_of};

/// Most other-city reservations a participant may hold in one week.
const OTHER_CITY_WEEKLY_LIMIT: i64 = 3;

/// Runs one request. (Step 0, argument syntax, happened where the request was built: its
/// fields are typed.)
pub(crate) fn execute(conn: &Connection, request: &Request) -> Result<Reply> {
    let slot = |event_type, event_id| SlotKey {
        event_type,
        event_id,
    };
    match *request {
        Request::AddReservationSlot {
            admin_id,
            event_type,
            event_id,
            capacity,
        } => add_slot(conn, admin_id, slot(event_type, event_id), capacity.get()),
        Request::RemoveReservationSlot {
            admin_id,
            event_type,
            event_id,
        } => remove_slot(conn, admin_id, slot(event_type, event_id)),
        Request::ListReservationSlotAvailable {
            admin_id,
            event_type,
        } => list_available(conn, admin_id, event_type),
        Request::ReserveTicket {
            participant_id,
            event_type,
            event_id,
        } => reserve(conn, participant_id, slot(event_type, event_id)),
        Request::GetEventSchedule { participant_id } => schedule(conn, participant_id),
        Request::CancelTicket {
            participant_id,
            event_type,
            event_id,
        } => cancel(conn, participant_id, slot(event_type, event_id)),
        Request::ExchangeTicket {
            participant_id,
            event_type,
            event_id,
            new_event_type,
            new_event_id,
        } => exchange(
            conn,
            participant_id,
            slot(event_type, event_id),
            slot(new_event_type, new_event_id),
        ),
    }
}

fn is_participant(user: UserId) -> bool {
    user.role() == Role::Participant
}

/// An admin may manage only the slots of their own city.
fn manages(admin: UserId, slot: SlotKey) -> bool {
    admin.role() == Role::Admin && admin.city() == slot.event_id.city()
}

fn add_slot(conn: &Connection, admin: UserId, slot: SlotKey, capacity: u32) -> Result<Reply> {
    if !manages(admin, slot) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    let booked: Option<i64> = conn
        .prepare_cached("SELECT booked FROM slot WHERE kind = ?1 AND event_id = ?2")?
        .query_row((slot.kind(), slot.id()), |r| r.get(0))
        .optional()?;
    let capacity = i64::from(capacity);
    match booked {
        Some(booked) if capacity < booked => Ok(Reply::code(Code::CapacityBelowBooked)),
        Some(_) => {
            conn.prepare_cached("UPDATE slot SET capacity = ?3 WHERE kind = ?1 AND event_id = ?2")?
                .execute((slot.kind(), slot.id(), capacity))?;
            Ok(Reply::code(Code::Updated))
        }
        None => {
            conn.prepare_cached("INSERT INTO slot (kind, event_id, capacity) VALUES (?1, ?2, ?3)")?
                .execute((slot.kind(), slot.id(), capacity))?;
            Ok(Reply::code(Code::Created))
        }
    }
}

fn remove_slot(conn: &Connection, admin: UserId, slot: SlotKey) -> Result<Reply> {
    if !manages(admin, slot) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    // The removed slot's city and when, read before it disappears: moves stay in that city
    // and go strictly later.
    let place: Option<(i64, String, i64)> = conn
        .prepare_cached("SELECT city_rank, day, part FROM slot WHERE kind = ?1 AND event_id = ?2")?
        .query_row((slot.kind(), slot.id()), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((city_rank, day, part)) = place else {
        return Ok(Reply::code(Code::NoSuchSlot));
    };

    let holders: Vec<String> = conn
        .prepare_cached(
            "SELECT participant FROM reservation WHERE kind = ?1 AND event_id = ?2
             ORDER BY participant",
        )?
        .query_map((slot.kind(), slot.id()), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    // The spec has the slot and all its reservations gone before anyone moves, so no holder's
    // old reservation can block (or count against) their own move.
    conn.prepare_cached("DELETE FROM reservation WHERE kind = ?1 AND event_id = ?2")?
        .execute((slot.kind(), slot.id()))?;
    conn.prepare_cached("DELETE FROM slot WHERE kind = ?1 AND event_id = ?2")?
        .execute((slot.kind(), slot.id()))?;

    // One holder at a time: each move takes a place, which the next search sees.
    let mut find_target = conn.prepare_cached(
        "SELECT s.event_id FROM slot AS s
         WHERE s.kind = ?2 AND s.city_rank = ?3
           AND (s.day, s.part) > (?4, ?5)
           AND s.booked < s.capacity
           AND NOT EXISTS (SELECT 1 FROM reservation AS r
                           WHERE r.participant = ?1 AND r.kind = s.kind AND r.event_id = s.event_id)
           AND NOT EXISTS (SELECT 1 FROM holding AS h
                           WHERE h.participant = ?1 AND h.day = s.day AND h.part = s.part)
           AND (s.city = substr(?1, 1, 3)
                OR (SELECT count(*) FROM holding AS h
                    WHERE h.participant = ?1 AND h.city <> substr(?1, 1, 3) AND h.week = s.week) < ?6)
         ORDER BY s.day, s.part
         LIMIT 1",
    )?;
    let mut hold_target = conn.prepare_cached(
        "INSERT INTO reservation (participant, kind, event_id) VALUES (?1, ?2, ?3)",
    )?;
    let (mut moved, mut dropped) = (0u32, 0u32);
    for holder in &holders {
        let target: Option<String> = find_target
            .query_row(
                (
                    holder,
                    slot.kind(),
                    city_rank,
                    &day,
                    part,
                    OTHER_CITY_WEEKLY_LIMIT,
                ),
                |r| r.get(0),
            )
            .optional()?;
        match target {
            Some(target) => {
                hold_target.execute((holder, slot.kind(), target))?;
                moved += 1;
            }
            None => dropped += 1,
        }
    }
    Ok(Reply::removed(moved, dropped))
}

fn list_available(conn: &Connection, admin: UserId, event_type: EventType) -> Result<Reply> {
    if admin.role() != Role::Admin {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    // Within one type and city an event ID fixes the when, so the order is total.
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, capacity - booked FROM slot WHERE kind = ?1
         ORDER BY city_rank, day, part",
    )?;
    let rows = stmt.query_map([kind_of(event_type)], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut slots = Vec::new();
    for row in rows {
        let (id, available) = row?;
        slots.push(SlotAvailability {
            event_id: stored_event_id(&id)?,
            event_type,
            available: u32::try_from(available)
                .map_err(|_| StorageError::new(format!("slot {id} is overbooked")))?,
        });
    }
    Ok(Reply::slots(slots))
}

/// The query behind [`refusal`]; named so a test can check it stays prepared. The checks
/// are one `CASE` in the spec's order because SQLite evaluates a `WHEN` only when every one
/// before it was false: a participant who already holds the slot costs one primary-key
/// probe, not the two joins of the time and city checks.
pub(crate) const REFUSAL_SQL: &str = "SELECT CASE
               WHEN EXISTS (SELECT 1 FROM reservation AS r
                            WHERE r.participant = ?1 AND r.kind = s.kind
                              AND r.event_id = s.event_id) THEN 1
               WHEN s.booked >= s.capacity THEN 2
               WHEN EXISTS (SELECT 1 FROM holding AS h
                            WHERE h.participant = ?1 AND h.day = s.day AND h.part = s.part
                              AND NOT (h.kind IS ?4 AND h.event_id IS ?5)) THEN 3
               WHEN s.city <> substr(?1, 1, 3)
                    AND (SELECT count(*) FROM holding AS h
                         WHERE h.participant = ?1 AND h.city <> substr(?1, 1, 3)
                           AND h.week = s.week
                           AND NOT (h.kind IS ?4 AND h.event_id IS ?5)) >= ?6 THEN 4
               ELSE 0
             END
             FROM slot AS s
             WHERE s.kind = ?2 AND s.event_id = ?3";

/// The shared checks of reserve (steps 2-6) and exchange (steps 3-7): why `participant` may
/// not take slot `wanted`, ignoring the reservation `releasing` (the old slot of an exchange,
/// "as if already cancelled") in the time and city checks. `None`: it may.
fn refusal(
    conn: &Connection,
    participant: UserId,
    wanted: SlotKey,
    releasing: Option<SlotKey>,
) -> Result<Option<Code>> {
    // NULL never `IS` a stored value, so without `releasing` nothing is ignored.
    let skip_kind = releasing.map(|old| old.kind());
    let skip_id = releasing.as_ref().map(SlotKey::id);
    let verdict: Option<i64> = conn
        .prepare_cached(REFUSAL_SQL)?
        .query_row(
            (
                participant.as_str(),
                wanted.kind(),
                wanted.id(),
                skip_kind,
                skip_id,
                OTHER_CITY_WEEKLY_LIMIT,
            ),
            |r| r.get(0),
        )
        .optional()?;
    match verdict {
        None => Ok(Some(Code::NoSuchSlot)),
        Some(0) => Ok(None),
        Some(1) => Ok(Some(Code::AlreadyReserved)),
        Some(2) => Ok(Some(Code::SlotFull)),
        Some(3) => Ok(Some(Code::TimeConflict)),
        Some(4) => Ok(Some(Code::OtherCityLimit)),
        Some(other) => Err(StorageError::new(format!("refusal query gave {other}"))),
    }
}

fn holds(conn: &Connection, participant: UserId, slot: SlotKey) -> Result<bool> {
    let found = conn
        .prepare_cached(
            "SELECT 1 FROM reservation WHERE participant = ?1 AND kind = ?2 AND event_id = ?3",
        )?
        .query_row((participant.as_str(), slot.kind(), slot.id()), |_| Ok(()))
        .optional()?;
    Ok(found.is_some())
}

fn hold(conn: &Connection, participant: UserId, slot: SlotKey) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO reservation (participant, kind, event_id) VALUES (?1, ?2, ?3)",
    )?
    .execute((participant.as_str(), slot.kind(), slot.id()))?;
    Ok(())
}

fn release(conn: &Connection, participant: UserId, slot: SlotKey) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM reservation WHERE participant = ?1 AND kind = ?2 AND event_id = ?3",
    )?
    .execute((participant.as_str(), slot.kind(), slot.id()))?;
    Ok(())
}

fn reserve(conn: &Connection, participant: UserId, slot: SlotKey) -> Result<Reply> {
    if !is_participant(participant) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    if let Some(code) = refusal(conn, participant, slot, None)? {
        return Ok(Reply::code(code));
    }
    hold(conn, participant, slot)?;
    Ok(Reply::code(Code::Reserved))
}

fn schedule(conn: &Connection, participant: UserId) -> Result<Reply> {
    if !is_participant(participant) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    // when, then city, then type: (day, part, city, kind) identifies a slot, so ties are
    // impossible.
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, kind FROM holding WHERE participant = ?1
         ORDER BY day, part, city_rank, kind",
    )?;
    let rows = stmt.query_map([participant.as_str()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut bookings = Vec::new();
    for row in rows {
        let (id, kind) = row?;
        bookings.push(Booking {
            event_id: stored_event_id(&id)?,
            event_type: stored_event_type(kind)?,
        });
    }
    Ok(Reply::schedule(bookings))
}

fn cancel(conn: &Connection, participant: UserId, slot: SlotKey) -> Result<Reply> {
    if !is_participant(participant) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    if !holds(conn, participant, slot)? {
        return Ok(Reply::code(Code::NotReserved));
    }
    release(conn, participant, slot)?;
    Ok(Reply::code(Code::Cancelled))
}

fn exchange(conn: &Connection, participant: UserId, old: SlotKey, new: SlotKey) -> Result<Reply> {
    if !is_participant(participant) {
        return Ok(Reply::code(Code::NotAuthorized));
    }
    if !holds(conn, participant, old)? {
        return Ok(Reply::code(Code::NotReserved));
    }
    // new == old is caught as ALREADY_RESERVED: the exclusion of `old` applies only to the
    // time and city checks, never to "holds the new slot".
    if let Some(code) = refusal(conn, participant, new, Some(old))? {
        return Ok(Reply::code(code));
    }
    release(conn, participant, old)?;
    hold(conn, participant, new)?;
    Ok(Reply::code(Code::Exchanged))
}

/// Identifiers read back from the database were validated on the way in; failing to parse
/// one means the file was damaged.
pub(crate) fn stored_event_id(id: &str) -> Result<EventId> {
    EventId::parse(id).map_err(|e| StorageError::new(format!("stored event ID {id:?}: {e}")))
}

pub(crate) fn stored_event_type(kind: i64) -> Result<EventType> {
    event_type_of(kind).ok_or_else(|| StorageError::new(format!("stored event kind {kind}")))
}
