//! Calendar arithmetic for the domain's "when" and "week".
//!
//! Event dates lie in 2000..=2099, so a day number counted from 1 January 2000 is small,
//! non-negative and strictly increasing with the date: comparing day numbers compares dates
//! chronologically, and whole weeks fall out of integer division.

use tessera_types::{EventId, TimeSlot};

/// Days from 1 January 2000 (day 0) to the given Gregorian date, which must exist and lie in
/// year 2000 or later.
pub fn day_number(year: u16, month: u8, day: u8) -> u32 {
    let y = u32::from(year);
    // Leap days strictly before 1 January of `y`, minus those before 2000, so that the Gregorian
    // century rule stays right even if the year range ever widens.
    let leaps_before = |y: u32| {
        let p = y - 1;
        p / 4 - p / 100 + p / 400
    };
    let years = (y - 2000) * 365 + leaps_before(y) - leaps_before(2000);
    years + day_of_year(year, month) + u32::from(day) - 1
}

/// Days in `year` before the first of `month`.
fn day_of_year(year: u16, month: u8) -> u32 {
    // Cumulative lengths of January..November in a common year.
    const BEFORE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let idx = usize::from(month.clamp(1, 12) - 1);
    let leap_shift = u32::from(month > 2 && is_leap(year));
    BEFORE[idx] + leap_shift
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Day 0, 1 January 2000, was a Saturday: five days after a Monday. Shifting day numbers by
/// this much puts every Monday on a multiple of 7.
const DAY_0_AFTER_MONDAY: u32 = 5;

/// Day of the week, Monday = 0 ... Sunday = 6.
#[cfg(test)]
fn weekday(day: u32) -> u32 {
    (day + DAY_0_AFTER_MONDAY) % 7
}

/// When of an event: date first, then time slot. Field order makes the derived `Ord` the
/// domain order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct When {
    pub day: u32,
    pub slot: TimeSlot,
}

impl When {
    pub const MIN: When = When {
        day: 0,
        slot: TimeSlot::Morning,
    };
    pub const MAX: When = When {
        day: u32::MAX,
        slot: TimeSlot::Evening,
    };

    pub fn of(event: &EventId) -> When {
        When {
            day: day_number(event.year(), event.month(), event.day()),
            slot: event.slot(),
        }
    }

    /// The Monday-to-Sunday week containing this date, numbered so that consecutive weeks get
    /// consecutive numbers across month and year ends.
    pub fn week(self) -> u32 {
        (self.day + DAY_0_AFTER_MONDAY) / 7
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> EventId {
        EventId::parse(s).unwrap()
    }

    /// Zeller's congruence, as an independent check: Monday = 0 ... Sunday = 6.
    fn zeller(year: u16, month: u8, day: u8) -> u32 {
        let (y, m) = if month < 3 {
            (u32::from(year) - 1, u32::from(month) + 12)
        } else {
            (u32::from(year), u32::from(month))
        };
        let (k, j) = (y % 100, y / 100);
        // h: 0 = Saturday, 1 = Sunday, 2 = Monday, ...
        let h = (u32::from(day) + 13 * (m + 1) / 5 + k + k / 4 + j / 4 + 5 * j) % 7;
        (h + 5) % 7
    }

    fn month_len(year: u16, month: u8) -> u8 {
        match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            _ if is_leap(year) => 29,
            _ => 28,
        }
    }

    #[test]
    fn day_numbers_are_consecutive_and_weekdays_match_zeller() {
        let mut expected = 0;
        for year in 2000..=2099u16 {
            for month in 1..=12u8 {
                for day in 1..=month_len(year, month) {
                    let n = day_number(year, month, day);
                    assert_eq!(n, expected, "{year}-{month}-{day}");
                    assert_eq!(weekday(n), zeller(year, month, day), "{year}-{month}-{day}");
                    expected += 1;
                }
            }
        }
        // 100 years including 25 leap years (2000 is one, 2100 would not be but is excluded).
        assert_eq!(expected, 36_525);
    }

    #[test]
    fn known_weekdays() {
        assert_eq!(weekday(day_number(2000, 1, 1)), 5); // Saturday
        assert_eq!(weekday(day_number(2025, 12, 29)), 0); // Monday
        assert_eq!(weekday(day_number(2026, 1, 4)), 6); // Sunday
        assert_eq!(weekday(day_number(2028, 2, 29)), 1); // Tuesday
    }

    #[test]
    fn weeks_run_monday_to_sunday_across_year_end() {
        let w = When::of(&ev("MTLM291225")).week();
        for id in [
            "MTLM291225",
            "TORA301225",
            "VANE311225",
            "MTLM010126",
            "MTLE040126",
        ] {
            assert_eq!(When::of(&ev(id)).week(), w, "{id}");
        }
        assert_eq!(When::of(&ev("MTLM281225")).week(), w - 1, "Sunday before");
        assert_eq!(When::of(&ev("MTLM050126")).week(), w + 1, "Monday after");
    }

    #[test]
    fn leap_days() {
        assert_eq!(
            day_number(2028, 3, 1) - day_number(2028, 2, 28),
            2,
            "29 February 2028 exists"
        );
        assert_eq!(day_number(2027, 3, 1) - day_number(2027, 2, 28), 1);
        assert_eq!(day_number(2000, 3, 1) - day_number(2000, 2, 28), 2);
        // Monday 28 Feb 2028 .. Sunday 5 Mar 2028 is one week.
        let w = When::of(&ev("VANE290228")).week();
        assert_eq!(When::of(&ev("VANE280228")).week(), w);
        assert_eq!(When::of(&ev("VANE050328")).week(), w);
        assert_eq!(When::of(&ev("VANE270228")).week(), w - 1);
    }

    #[test]
    fn when_orders_date_then_slot() {
        let a = When::of(&ev("VANE100126"));
        let b = When::of(&ev("MTLM110126"));
        assert!(a < b, "date before slot");
        assert!(When::of(&ev("TORM100126")) < When::of(&ev("MTLA100126")));
        assert!(When::of(&ev("TORA100126")) < When::of(&ev("MTLE100126")));
        assert_eq!(When::of(&ev("TORA100126")), When::of(&ev("VANA100126")));
        assert!(When::of(&ev("MTLE311299")) < When::MAX);
        assert!(When::MIN <= When::of(&ev("MTLM010100")));
        // Chronological, not string order: December 2025 before January 2026.
        assert!(When::of(&ev("MTLM311225")) < When::of(&ev("MTLM010126")));
    }
}
