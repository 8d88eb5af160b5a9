//! The demo's identifiers and requests: dates spread over the century from the clock, and a
//! command-line rendering of each request for the step lines.

use std::time::{SystemTime, UNIX_EPOCH};

use tessera_types::{EventId, EventType, IdError, Request, UserId};

/// (year, month, day) of `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to 2000-01-01.
const Y2K: i64 = 10_957;
/// Days from 2000-01-01 to 2099-12-31.
pub const CENTURY: i64 = 36_524;

/// The event ID of `city` + `slot` on day `day` (days since 2000-01-01).
pub fn event_id(city: &str, slot: char, day: i64) -> Result<EventId, IdError> {
    let (y, m, d) = civil_from_days(Y2K + day.rem_euclid(CENTURY + 1));
    EventId::parse(&format!("{city}{slot}{d:02}{m:02}{:02}", y.rem_euclid(100)))
}

/// The Montreal user ID with role letter `role` and number `number` (modulo 10000).
pub fn user_id(role: char, number: u64) -> Result<UserId, IdError> {
    UserId::parse(&format!("MTL{role}{:04}", number % 10_000))
}

/// A CLI-like description of a request, for the step lines.
pub fn describe(request: &Request) -> String {
    match request {
        Request::AddReservationSlot {
            admin_id,
            event_type,
            event_id,
            capacity,
        } => format!(
            "add-slot --admin {admin_id} --type {event_type} --event {event_id} --capacity \
             {capacity}"
        ),
        Request::RemoveReservationSlot {
            admin_id,
            event_type,
            event_id,
        } => format!("remove-slot --admin {admin_id} --type {event_type} --event {event_id}"),
        Request::ListReservationSlotAvailable {
            admin_id,
            event_type,
        } => format!("list-slots --admin {admin_id} --type {event_type}"),
        Request::ReserveTicket {
            participant_id,
            event_type,
            event_id,
        } => {
            format!("reserve --participant {participant_id} --type {event_type} --event {event_id}")
        }
        Request::GetEventSchedule { participant_id } => {
            format!("schedule --participant {participant_id}")
        }
        Request::CancelTicket {
            participant_id,
            event_type,
            event_id,
        } => {
            format!("cancel --participant {participant_id} --type {event_type} --event {event_id}")
        }
        Request::ExchangeTicket {
            participant_id,
            event_type,
            event_id,
            new_event_type,
            new_event_id,
        } => format!(
            "exchange --participant {participant_id} --type {event_type} --event {event_id} \
             --new-type {new_event_type} --new-event {new_event_id}"
        ),
    }
}

pub fn reserve(participant_id: UserId, event_type: EventType, event_id: EventId) -> Request {
    Request::ReserveTicket {
        participant_id,
        event_type,
        event_id,
    }
}

pub fn cancel(participant_id: UserId, event_type: EventType, event_id: EventId) -> Request {
    Request::CancelTicket {
        participant_id,
        event_type,
        event_id,
    }
}

pub fn schedule(participant_id: UserId) -> Request {
    Request::GetEventSchedule { participant_id }
}

pub fn list(admin_id: UserId, event_type: EventType) -> Request {
    Request::ListReservationSlotAvailable {
        admin_id,
        event_type,
    }
}

/// The clock, as the source of this run's identifiers.
pub fn seed() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_from_days() {
        let text = |day| event_id("MTL", 'E', day).map(|e| e.to_string());
        assert_eq!(text(0), Ok("MTLE010100".to_owned()));
        assert_eq!(
            text(59).map(|e| e.replace('E', "A")),
            Ok("MTLA290200".to_owned())
        );
        assert_eq!(text(CENTURY), Ok("MTLE311299".to_owned()));
        for day in (0..=CENTURY).step_by(37) {
            assert!(event_id("TOR", 'A', day).is_ok(), "{day}");
        }
    }
}
