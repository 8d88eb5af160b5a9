//! "When" and "week" of an event, computed from its ID with plain day arithmetic.
//!
//! Every date is turned into a day number counted from Saturday 1 January 2000 (the first
//! representable date). Both domain notions then become integer arithmetic: a "when" is the
//! day number scaled by three plus the slot, and a Monday-to-Sunday week is a fixed-width
//! window of day numbers, so weeks cross month and year ends without special cases.

use tessera_types::{EventId, TimeSlot};

/// First year representable in an event ID (`YY` means 20YY).
const EPOCH_YEAR: u32 = 2000;

/// Day-of-week of day 0 (1 January 2000), counting Monday as 0: it was a Saturday.
const EPOCH_WEEKDAY: u32 = 5;

/// Days before the first of each month in a common year.
const DAYS_BEFORE_MONTH: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Leap years in 1..=year of the proleptic Gregorian calendar.
fn leap_years_through(year: u32) -> u32 {
    year / 4 - year / 100 + year / 400
}

/// Days from 1 January 2000 to the given date. The date must exist (event IDs are validated
/// when parsed), so no range checks here.
pub fn day_number(year: u32, month: u32, day: u32) -> u32 {
    let whole_years = year - EPOCH_YEAR;
    let leap_days_before = leap_years_through(year - 1) - leap_years_through(EPOCH_YEAR - 1);
    let month_index = (month.clamp(1, 12) - 1) as usize;
    let leap_day_this_year = u32::from(month > 2 && is_leap(year));
    365 * whole_years
        + leap_days_before
        + DAYS_BEFORE_MONTH[month_index]
        + leap_day_this_year
        + (day - 1)
}

/// Monday-based week index of a day number: all days of one Monday-to-Sunday week share it.
/// Shifting by the epoch's weekday makes each Monday start a new multiple of seven.
pub fn week_of_day(day: u32) -> u32 {
    (day + EPOCH_WEEKDAY) / 7
}

/// Day of the week of a day number, Monday = 0 .. Sunday = 6. Only tests need it, to pin the
/// epoch against known dates.
#[cfg(test)]
pub fn weekday(day: u32) -> u32 {
    (day + EPOCH_WEEKDAY) % 7
}

/// The "when" of an event: date, then time slot, packed into one integer whose order is the
/// domain order (`M` < `A` < `E` within a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct When(u32);

impl When {
    pub fn of(event: &EventId) -> When {
        let day = day_number(
            u32::from(event.year()),
            u32::from(event.month()),
            u32::from(event.day()),
        );
        let slot = match event.slot() {
            TimeSlot::Morning => 0,
            TimeSlot::Afternoon => 1,
            TimeSlot::Evening => 2,
        };
        When(day * 3 + slot)
    }

    pub fn day(self) -> u32 {
        self.0 / 3
    }

    pub fn week(self) -> u32 {
        week_of_day(self.day())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> EventId {
        EventId::parse(s).unwrap()
    }

    #[test]
    fn epoch_and_known_weekdays() {
        assert_eq!(day_number(2000, 1, 1), 0);
        assert_eq!(weekday(0), 5, "1 Jan 2000 was a Saturday");
        assert_eq!(weekday(day_number(2025, 12, 29)), 0, "Monday");
        assert_eq!(weekday(day_number(2026, 1, 4)), 6, "Sunday");
        assert_eq!(weekday(day_number(2024, 2, 29)), 3, "Thursday");
        assert_eq!(weekday(day_number(2099, 12, 31)), 3, "Thursday");
        assert_eq!(weekday(day_number(2001, 9, 11)), 1, "Tuesday");
    }

    #[test]
    fn day_numbers_are_consecutive_across_month_and_year_ends() {
        let mut prev = day_number(2000, 1, 1);
        for year in 2000..=2099 {
            for month in 1..=12 {
                let len = match month {
                    1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                    4 | 6 | 9 | 11 => 30,
                    _ if is_leap(year) => 29,
                    _ => 28,
                };
                for day in 1..=len {
                    let n = day_number(year, month, day);
                    if (year, month, day) != (2000, 1, 1) {
                        assert_eq!(n, prev + 1, "{year}-{month}-{day}");
                    }
                    prev = n;
                }
            }
        }
        assert_eq!(prev, 36_524, "2000..=2099 has 25 leap years");
    }

    #[test]
    fn leap_rules() {
        assert!(is_leap(2000));
        assert!(is_leap(2028));
        assert!(!is_leap(2027));
        assert!(!is_leap(2100));
        assert_eq!(day_number(2000, 3, 1) - day_number(2000, 2, 28), 2);
        assert_eq!(day_number(2027, 3, 1) - day_number(2027, 2, 28), 1);
    }

    #[test]
    fn weeks_run_monday_to_sunday_across_year_end() {
        let w = When::of(&ev("MTLM291225")).week();
        for id in ["TORE301225", "VANA311225", "MTLM010126", "MTLE040126"] {
            assert_eq!(When::of(&ev(id)).week(), w, "{id}");
        }
        assert_eq!(When::of(&ev("MTLE281225")).week(), w - 1, "Sunday before");
        assert_eq!(When::of(&ev("MTLM050126")).week(), w + 1, "Monday after");
    }

    #[test]
    fn leap_day_week() {
        // 29 Feb 2028 is a Tuesday: week Mon 28 Feb .. Sun 5 Mar.
        let w = When::of(&ev("VANE290228")).week();
        assert_eq!(When::of(&ev("VANM280228")).week(), w);
        assert_eq!(When::of(&ev("VANM050328")).week(), w);
        assert_eq!(When::of(&ev("VANM270228")).week(), w - 1);
        assert_eq!(When::of(&ev("VANM060328")).week(), w + 1);
    }

    #[test]
    fn when_orders_by_date_then_slot() {
        let order = [
            "VANE311299", // not the latest: year 2099 vs 2000 below
            "MTLM010100",
            "MTLA010100",
            "MTLE010100",
            "MTLM020100",
            "TORM290200",
            "MTLE311226",
            "MTLM010127",
        ];
        let whens: Vec<When> = order[1..].iter().map(|s| When::of(&ev(s))).collect();
        assert!(whens.windows(2).all(|w| w[0] < w[1]));
        assert!(When::of(&ev(order[0])) > *whens.last().unwrap());
        // Same when regardless of city.
        assert_eq!(When::of(&ev("MTLA101226")), When::of(&ev("VANA101226")));
    }
}
