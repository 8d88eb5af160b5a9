//! Input checks before anything is sent, with the shared parsers of `tessera_types` (the same
//! ones the gateway and the replicas use), so the CLI never accepts what the service would
//! reject, nor the other way round. Every message names the flag, says what is wrong and
//! what is expected.

use std::fmt;

use tessera_types::{Capacity, EventId, EventType, IdError, Request, UserId};

use crate::cli;

/// One bad flag value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The flag as typed, e.g. `--event`.
    pub flag: &'static str,
    /// The SOAP element the value would have gone into, e.g. `eventID`.
    pub field: &'static str,
    /// The value, printable (control characters escaped).
    pub value: String,
    /// What is wrong.
    pub reason: String,
    /// What is expected, with an example.
    pub expected: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}; {}",
            self.flag, self.value, self.reason, self.expected
        )
    }
}

impl std::error::Error for InputError {}

/// A value as it may be shown back to the user: quoted when empty or not plain, with control
/// characters escaped, and cut when long.
fn printable(value: &str) -> String {
    let plain = !value.is_empty()
        && value.len() <= 40
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\');
    if plain {
        return value.to_owned();
    }
    let mut shown: String = value.chars().take(40).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("\"{}\"", shown.escape_debug())
}

/// The parser's own text, e.g. "unknown time slot (expected M, A or E)".
fn reason(e: &IdError) -> String {
    e.to_string()
}

/// `Some(fixed)` when the value parses once upper-cased: worth suggesting.
fn upper_case_hint<T>(value: &str, parse: impl Fn(&str) -> Result<T, IdError>) -> Option<String> {
    let upper = value.trim().to_ascii_uppercase();
    (upper != value && parse(&upper).is_ok()).then_some(upper)
}

fn error(
    flag: &'static str,
    field: &'static str,
    value: &str,
    reason: String,
    expected: String,
) -> InputError {
    InputError {
        flag,
        field,
        value: printable(value),
        reason,
        expected,
    }
}

/// A user ID for `flag`. Either role is accepted: a participant ID passed as an admin is
/// well-formed, and the service answers it with NOT_AUTHORIZED (`docs/domain.md`, step 0).
pub fn user_id(flag: &'static str, field: &'static str, value: &str) -> Result<UserId, InputError> {
    match UserId::parse(value) {
        Ok(id) => Ok(id),
        Err(e) => {
            let example = if field == "adminID" {
                "MTLA1234"
            } else {
                "MTLP1234"
            };
            let mut expected = format!(
                "a user ID is city (MTL, TOR or VAN) + A (admin) or P (participant) + 4 digits, \
                 e.g. {example}"
            );
            if let Some(fixed) = upper_case_hint(value, UserId::parse) {
                expected = format!("IDs are upper case: did you mean {fixed}?");
            }
            Err(error(flag, field, value, reason(&e), expected))
        }
    }
}

pub fn event_id(
    flag: &'static str,
    field: &'static str,
    value: &str,
) -> Result<EventId, InputError> {
    match EventId::parse(value) {
        Ok(id) => Ok(id),
        Err(e) => {
            let mut expected = "an event ID is city + M/A/E + DDMMYY, e.g. MTLE101226".to_owned();
            if e == IdError::NoSuchDate {
                expected = "an event ID ends with a real date DDMMYY in 2000-2099, e.g. \
                            MTLE101226 (10 December 2026)"
                    .to_owned();
            } else if let Some(fixed) = upper_case_hint(value, EventId::parse) {
                expected = format!("IDs are upper case: did you mean {fixed}?");
            }
            Err(error(flag, field, value, reason(&e), expected))
        }
    }
}

pub fn event_type(
    flag: &'static str,
    field: &'static str,
    value: &str,
) -> Result<EventType, InputError> {
    match EventType::parse(value) {
        Ok(t) => Ok(t),
        Err(e) => {
            let near = EventType::ALL
                .into_iter()
                .find(|t| t.as_str().eq_ignore_ascii_case(value.trim()));
            let expected = match near {
                Some(t) => format!("event types are case-sensitive: did you mean {t}?"),
                None => "event types are case-sensitive, e.g. Concerts".to_owned(),
            };
            Err(error(flag, field, value, reason(&e), expected))
        }
    }
}

pub fn capacity(flag: &'static str, value: &str) -> Result<Capacity, InputError> {
    let expected = "a capacity is a whole number of places from 1 to 100000, e.g. 250".to_owned();
    let Ok(n) = value.trim().parse::<i64>() else {
        return Err(error(
            flag,
            "capacity",
            value,
            "not a whole number".to_owned(),
            expected,
        ));
    };
    let checked = i32::try_from(n)
        .map_err(|_| IdError::Capacity)
        .and_then(Capacity::new);
    checked.map_err(|e| error(flag, "capacity", value, reason(&e), expected))
}

/// The request an operation subcommand stands for, every argument checked; `None` for the
/// subcommands that are not reservation operations.
pub fn request(command: &cli::Command) -> Option<Result<Request, InputError>> {
    use cli::Command as C;
    Some(match command {
        C::AddSlot(a) => add_slot(a),
        C::RemoveSlot(a) => remove_slot(a),
        C::ListSlots(a) => list_slots(a),
        C::Reserve(a) => {
            ticket(a).map(
                |(participant_id, event_type, event_id)| Request::ReserveTicket {
                    participant_id,
                    event_type,
                    event_id,
                },
            )
        }
        C::Cancel(a) => {
            ticket(a).map(
                |(participant_id, event_type, event_id)| Request::CancelTicket {
                    participant_id,
                    event_type,
                    event_id,
                },
            )
        }
        C::Schedule(a) => user_id("--participant", "participantID", &a.participant)
            .map(|participant_id| Request::GetEventSchedule { participant_id }),
        C::Exchange(a) => exchange(a),
        C::Status(_) | C::Chaos(_) | C::Demo(_) | C::Shell => return None,
    })
}

fn add_slot(a: &cli::AddSlot) -> Result<Request, InputError> {
    Ok(Request::AddReservationSlot {
        admin_id: user_id("--admin", "adminID", &a.admin)?,
        event_type: event_type("--type", "eventType", &a.event_type)?,
        event_id: event_id("--event", "eventID", &a.event)?,
        capacity: capacity("--capacity", &a.capacity)?,
    })
}

fn remove_slot(a: &cli::RemoveSlot) -> Result<Request, InputError> {
    Ok(Request::RemoveReservationSlot {
        admin_id: user_id("--admin", "adminID", &a.admin)?,
        event_type: event_type("--type", "eventType", &a.event_type)?,
        event_id: event_id("--event", "eventID", &a.event)?,
    })
}

fn list_slots(a: &cli::ListSlots) -> Result<Request, InputError> {
    Ok(Request::ListReservationSlotAvailable {
        admin_id: user_id("--admin", "adminID", &a.admin)?,
        event_type: event_type("--type", "eventType", &a.event_type)?,
    })
}

fn exchange(a: &cli::Exchange) -> Result<Request, InputError> {
    Ok(Request::ExchangeTicket {
        participant_id: user_id("--participant", "participantID", &a.participant)?,
        event_type: event_type("--type", "eventType", &a.event_type)?,
        event_id: event_id("--event", "eventID", &a.event)?,
        new_event_type: event_type("--new-type", "newEventType", &a.new_event_type)?,
        new_event_id: event_id("--new-event", "newEventID", &a.new_event)?,
    })
}

fn ticket(a: &cli::Ticket) -> Result<(UserId, EventType, EventId), InputError> {
    Ok((
        user_id("--participant", "participantID", &a.participant)?,
        event_type("--type", "eventType", &a.event_type)?,
        event_id("--event", "eventID", &a.event)?,
    ))
}

/// The gateway URL: `http://` or `https://` with a host.
pub fn url(value: &str) -> Result<reqwest::Url, InputError> {
    let expected = format!(
        "expected an http:// or https:// URL, e.g. {}",
        cli::DEFAULT_URL
    );
    let url = reqwest::Url::parse(value)
        .map_err(|e| error("--url", "url", value, e.to_string(), expected.clone()))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(error("--url", "url", value, "no host".into(), expected)),
        other => Err(error(
            "--url",
            "url",
            value,
            format!("unsupported scheme {other}"),
            expected,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_message() {
        let e = event_id("--event", "eventID", "MTLX101226").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--event MTLX101226: unknown time slot (expected M, A or E); an event ID is city + \
             M/A/E + DDMMYY, e.g. MTLE101226"
        );
    }

    #[test]
    fn hints() {
        let e = event_type("--type", "eventType", "concerts").unwrap_err();
        assert!(e.to_string().contains("did you mean Concerts?"), "{e}");
        let e = user_id("--participant", "participantID", "mtlp1234").unwrap_err();
        assert!(e.to_string().contains("did you mean MTLP1234?"), "{e}");
        let e = event_id("--event", "eventID", "VANE290227").unwrap_err();
        assert!(e.to_string().contains("no such date"), "{e}");
    }

    #[test]
    fn values_are_shown_safely() {
        let e = user_id("--admin", "adminID", "").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--admin \"\": expected 8 characters, got 0"),
            "{e}"
        );
        let e = user_id("--admin", "adminID", "a\u{1b}[31mb").unwrap_err();
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }

    #[test]
    fn capacities() {
        assert_eq!(capacity("--capacity", "250").map(Capacity::get), Ok(250));
        for bad in ["0", "-3", "100001", "99999999999", "ten", "2.5", ""] {
            assert!(capacity("--capacity", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_participant_passed_as_admin_is_left_to_the_service() {
        assert_eq!(
            user_id("--admin", "adminID", "MTLP1234").map(|id| id.to_string()),
            Ok("MTLP1234".to_owned())
        );
    }

    #[test]
    fn urls() {
        assert!(url("http://127.0.0.1:8080/ws/reservation").is_ok());
        assert!(url("https://localhost:8443/ws/reservation").is_ok());
        for bad in ["127.0.0.1:8080", "ftp://x", "not a url"] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }
}
