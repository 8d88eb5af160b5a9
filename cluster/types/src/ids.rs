//! Identifier syntax (`docs/domain.md`, "Identifiers"). Parsing is strict: upper case, exact
//! lengths, real calendar dates. The parsed types keep their canonical text so that their
//! derived order is plain string order, which is what snapshots sort by. Domain orders
//! ("when", "week") are *not* provided here: each replica computes them itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Largest capacity a slot may have; the smallest is 1.
pub const MAX_CAPACITY: i32 = 100_000;

/// Why an identifier, event type or capacity was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected {expected} characters, got {got}")]
    Length { expected: usize, got: usize },
    #[error("unknown city (expected MTL, TOR or VAN)")]
    City,
    #[error("unknown role (expected A for admin or P for participant)")]
    Role,
    #[error("expected 4 digits after the city and role")]
    UserNumber,
    #[error("unknown time slot (expected M, A or E)")]
    TimeSlot,
    #[error("expected a date DDMMYY of digits")]
    DateDigits,
    #[error("no such date in the calendar")]
    NoSuchDate,
    #[error("unknown event type (expected ArtGallery, Concerts or Theatre)")]
    EventType,
    #[error("capacity must be between 1 and {MAX_CAPACITY}")]
    Capacity,
    #[error("not an xs:int (a 32-bit integer)")]
    NotAnInteger,
}

/// Checks a capacity against the domain range 1..=100000.
pub fn check_capacity(capacity: i32) -> Result<u32, IdError> {
    Capacity::new(capacity).map(Capacity::get)
}

/// A slot's capacity, 1..=[`MAX_CAPACITY`] (`docs/domain.md`). On the wire a `u32` that
/// decoding re-checks, like every identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capacity(u32);

impl Capacity {
    pub fn new(n: i32) -> Result<Capacity, IdError> {
        if (1..=MAX_CAPACITY).contains(&n) {
            Ok(Capacity(n.unsigned_abs()))
        } else {
            Err(IdError::Capacity)
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// An `xs:int` as text (its whitespace facet is `collapse`: spaces, tabs and line breaks
    /// around it are allowed), in the domain's range.
    pub fn parse(text: &str) -> Result<Capacity, IdError> {
        let digits = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        // Rust's integer syntax is xs:int's lexical space ([+-]?[0-9]+) and nothing else.
        let n: i32 = digits.parse().map_err(|_| IdError::NotAnInteger)?;
        Capacity::new(n)
    }
}

impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Capacity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Capacity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        i32::try_from(n)
            .map_err(|_| IdError::Capacity)
            .and_then(Capacity::new)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum City {
    Mtl,
    Tor,
    Van,
}

impl City {
    pub const ALL: [City; 3] = [City::Mtl, City::Tor, City::Van];

    pub fn as_str(self) -> &'static str {
        match self {
            City::Mtl => "MTL",
            City::Tor => "TOR",
            City::Van => "VAN",
        }
    }

    fn parse(s: &[u8]) -> Result<Self, IdError> {
        match s {
            b"MTL" => Ok(City::Mtl),
            b"TOR" => Ok(City::Tor),
            b"VAN" => Ok(City::Van),
            _ => Err(IdError::City),
        }
    }
}

impl fmt::Display for City {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Participant,
}

/// A user: city + role + 4 digits, e.g. `MTLA1234`, `TORP0042`. Ordered as its text (the
/// city is a function of the text, kept parsed so that nothing has to parse it again).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId {
    text: [u8; 8],
    city: City,
}

impl UserId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b: [u8; 8] = s.as_bytes().try_into().map_err(|_| IdError::Length {
            expected: 8,
            got: s.len(),
        })?;
        let city = City::parse(&b[..3])?;
        if b[3] != b'A' && b[3] != b'P' {
            return Err(IdError::Role);
        }
        if !b[4..].iter().all(u8::is_ascii_digit) {
            return Err(IdError::UserNumber);
        }
        Ok(UserId { text: b, city })
    }

    pub fn city(&self) -> City {
        self.city
    }

    pub fn role(&self) -> Role {
        if self.text[3] == b'A' {
            Role::Admin
        } else {
            Role::Participant
        }
    }

    pub fn as_str(&self) -> &str {
        ascii(&self.text)
    }
}

/// The text of an identifier, which `parse` only accepts as ASCII.
#[expect(
    clippy::expect_used,
    reason = "an invariant: every identifier is built by its parser, which accepts only ASCII"
)]
fn ascii(text: &[u8]) -> &str {
    std::str::from_utf8(text).expect("identifiers are ASCII by construction")
}

/// Time slot of an event. Domain order is Morning < Afternoon < Evening (declaration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeSlot {
    Morning,
    Afternoon,
    Evening,
}

impl TimeSlot {
    pub fn letter(self) -> char {
        match self {
            TimeSlot::Morning => 'M',
            TimeSlot::Afternoon => 'A',
            TimeSlot::Evening => 'E',
        }
    }
}

/// An event: city + time slot + date `DDMMYY` in year 20YY, e.g. `MTLE101226`.
///
/// The derived `Ord` is *string* order (so `MTLA...` < `MTLE...` < `MTLM...`); it is the
/// canonical order of snapshots and has nothing to do with the domain's "when".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    text: [u8; 10],
    city: City,
}

fn two_digits(b: &[u8]) -> Result<u8, IdError> {
    match b {
        [t @ b'0'..=b'9', u @ b'0'..=b'9'] => Ok((t - b'0') * 10 + (u - b'0')),
        _ => Err(IdError::DateDigits),
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl EventId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b: [u8; 10] = s.as_bytes().try_into().map_err(|_| IdError::Length {
            expected: 10,
            got: s.len(),
        })?;
        let city = City::parse(&b[..3])?;
        if !matches!(b[3], b'M' | b'A' | b'E') {
            return Err(IdError::TimeSlot);
        }
        let day = two_digits(&b[4..6])?;
        let month = two_digits(&b[6..8])?;
        let year = 2000 + u16::from(two_digits(&b[8..10])?);
        if day == 0 || day > days_in_month(year, month) {
            return Err(IdError::NoSuchDate);
        }
        Ok(EventId { text: b, city })
    }

    pub fn city(&self) -> City {
        self.city
    }

    pub fn slot(&self) -> TimeSlot {
        match self.text[3] {
            b'M' => TimeSlot::Morning,
            b'A' => TimeSlot::Afternoon,
            _ => TimeSlot::Evening,
        }
    }

    /// Day of month, 1..=31.
    pub fn day(&self) -> u8 {
        (self.text[4] - b'0') * 10 + (self.text[5] - b'0')
    }

    /// Month, 1..=12.
    pub fn month(&self) -> u8 {
        (self.text[6] - b'0') * 10 + (self.text[7] - b'0')
    }

    /// Full year, 2000..=2099.
    pub fn year(&self) -> u16 {
        2000 + u16::from((self.text[8] - b'0') * 10 + (self.text[9] - b'0'))
    }

    pub fn as_str(&self) -> &str {
        ascii(&self.text)
    }
}

/// Event type; exact, case-sensitive names. Declaration order is alphabetical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    ArtGallery,
    Concerts,
    Theatre,
}

impl EventType {
    pub const ALL: [EventType; 3] = [
        EventType::ArtGallery,
        EventType::Concerts,
        EventType::Theatre,
    ];

    pub fn parse(s: &str) -> Result<Self, IdError> {
        match s {
            "ArtGallery" => Ok(EventType::ArtGallery),
            "Concerts" => Ok(EventType::Concerts),
            "Theatre" => Ok(EventType::Theatre),
            _ => Err(IdError::EventType),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ArtGallery => "ArtGallery",
            EventType::Concerts => "Concerts",
            EventType::Theatre => "Theatre",
        }
    }
}

macro_rules! text_impls {
    ($t:ty) => {
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.as_str())
            }
        }
        // Encoded as text so that decoding re-validates: a garbled snapshot or reply can
        // never smuggle in an identifier the parser would reject.
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <&str>::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_impls!(UserId);
text_impls!(EventId);

impl FromStr for EventType {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // One byte on the wire; the variant index is part of the canonical encoding.
        s.serialize_u8(*self as u8)
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u8::deserialize(d)? {
            0 => Ok(EventType::ArtGallery),
            1 => Ok(EventType::Concerts),
            2 => Ok(EventType::Theatre),
            _ => Err(serde::de::Error::custom("unknown event type index")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        let u = UserId::parse("MTLA1234").unwrap();
        assert_eq!((u.city(), u.role()), (City::Mtl, Role::Admin));
        assert_eq!(UserId::parse("TORP0042").unwrap().role(), Role::Participant);
        for bad in [
            "",
            "MTLA123",
            "MTLA12345",
            "mtla1234",
            "MTLX1234",
            "NYCA1234",
            "MTLA12a4",
            "MTLA١٢٣٤",
        ] {
            assert!(UserId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_ids_and_dates() {
        let e = EventId::parse("VANE290228").unwrap();
        assert_eq!(
            (e.city(), e.slot(), e.day(), e.month(), e.year()),
            (City::Van, TimeSlot::Evening, 29, 2, 2028)
        );
        assert_eq!(EventId::parse("VANE290227"), Err(IdError::NoSuchDate));
        assert!(EventId::parse("MTLM290200").is_ok(), "2000 is a leap year");
        assert!(EventId::parse("MTLM310426").is_err());
        assert!(EventId::parse("MTLM000126").is_err());
        assert!(EventId::parse("MTLM011326").is_err());
        assert!(EventId::parse("MTLX010126").is_err());
        assert!(EventId::parse("mtlM010126").is_err());
        assert!(EventId::parse("MTLM0101261").is_err());
    }

    #[test]
    fn capacity_range() {
        assert!(check_capacity(0).is_err());
        assert!(check_capacity(-1).is_err());
        assert_eq!(check_capacity(1), Ok(1));
        assert_eq!(check_capacity(100_000), Ok(100_000));
        assert!(check_capacity(100_001).is_err());
    }

    #[test]
    fn event_types_are_case_sensitive() {
        assert_eq!(EventType::parse("Concerts"), Ok(EventType::Concerts));
        assert!(EventType::parse("concerts").is_err());
        assert!(EventType::parse("Concert").is_err());
    }
}
