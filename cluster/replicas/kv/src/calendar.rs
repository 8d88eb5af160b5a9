//! Calendar arithmetic for event dates: day numbers and Monday-to-Sunday weeks.
//!
//! Dates are turned into a day number counted from 2000-01-01, the first date an event ID can
//! name. Day-number order is chronological order, so the keys in `keys.rs` can carry the day
//! number and sort by date for free, and a week becomes a contiguous range of day numbers
//! (hence a contiguous range of keys).

/// Days since 2000-01-01. Event dates (years 2000..=2099) run from 0 to 36524.
pub(crate) type DayNumber = u16;

const EPOCH_YEAR: u32 = 2000;

/// Days before the first of each month in a common year.
const DAYS_BEFORE_MONTH: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Leap years in 1..year, by the Gregorian rule in closed form.
fn leap_years_before(year: u32) -> u32 {
    let y = year - 1;
    y / 4 - y / 100 + y / 400
}

/// Day number of 1 January of `year` (`year` >= 2000).
fn first_day_of_year(year: u32) -> u32 {
    365 * (year - EPOCH_YEAR) + leap_years_before(year) - leap_years_before(EPOCH_YEAR)
}

/// Day number of a real calendar date in 2000..=2099 (an `EventId` guarantees both).
pub(crate) fn day_number(year: u16, month: u8, day: u8) -> DayNumber {
    let year = u32::from(year).max(EPOCH_YEAR);
    let month_index = usize::from(month.clamp(1, 12) - 1);
    let before_month = DAYS_BEFORE_MONTH.get(month_index).copied().unwrap_or(0);
    let leap_day = u32::from(month > 2 && is_leap(year));
    let n = first_day_of_year(year) + before_month + leap_day + u32::from(day.max(1)) - 1;
    // Cannot saturate for event dates: 2099-12-31 is day 36524.
    DayNumber::try_from(n).unwrap_or(DayNumber::MAX)
}

/// The calendar date `(year, month, day)` of a day number; inverse of [`day_number`].
pub(crate) fn civil_date(n: DayNumber) -> (u16, u8, u8) {
    let n = u32::from(n);
    // No year is longer than 366 days, so this guess is never past the right year and at most
    // one or two years short of it.
    let mut year = EPOCH_YEAR + n / 366;
    while first_day_of_year(year + 1) <= n {
        year += 1;
    }
    let mut rest = n - first_day_of_year(year);
    let mut month = 1;
    while month < 12 && rest >= days_in_month(year, month) {
        rest -= days_in_month(year, month);
        month += 1;
    }
    // Each value is bounded by the loops above (year <= 2179, month <= 12, rest < 31).
    let narrow = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
    (
        u16::try_from(year).unwrap_or(u16::MAX),
        narrow(month),
        narrow(rest + 1),
    )
}

/// The Monday-to-Sunday week containing `day`, as the half-open range `start..end` of day
/// numbers. 2000-01-01 (day 0) was a Saturday, so day 2 is the first Monday; a week that began
/// in 1999 is cut at day 0, which loses nothing because no event can lie before it.
pub(crate) fn week_days(day: DayNumber) -> (DayNumber, DayNumber) {
    // Monday = 0 .. Sunday = 6; day 0 is a Saturday, hence the offset of 5.
    let weekday = (day % 7 + 5) % 7;
    let start = day.saturating_sub(weekday);
    let end = day.saturating_add(7 - weekday);
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(y: u16, m: u8, d: u8) -> DayNumber {
        day_number(y, m, d)
    }

    #[test]
    fn known_day_numbers() {
        assert_eq!(dn(2000, 1, 1), 0);
        assert_eq!(dn(2000, 2, 29), 59);
        assert_eq!(dn(2000, 3, 1), 60);
        assert_eq!(dn(2000, 12, 31), 365); // 2000 is a leap year
        assert_eq!(dn(2001, 1, 1), 366);
        assert_eq!(dn(2099, 12, 31), 36524);
    }

    #[test]
    fn round_trip_every_event_date() {
        let mut expected = 0u32;
        for year in 2000u16..=2099 {
            for month in 1u8..=12 {
                for day in 1..=days_in_month(u32::from(year), u32::from(month)) {
                    let day = u8::try_from(day).unwrap();
                    let n = dn(year, month, day);
                    assert_eq!(u32::from(n), expected, "{year}-{month}-{day}");
                    assert_eq!(civil_date(n), (year, month, day));
                    expected += 1;
                }
            }
        }
        assert_eq!(expected, 36525);
    }

    #[test]
    fn leap_days() {
        assert_eq!(dn(2028, 3, 1) - dn(2028, 2, 28), 2);
        assert_eq!(dn(2027, 3, 1) - dn(2027, 2, 28), 1);
        assert_eq!(civil_date(dn(2028, 2, 29)), (2028, 2, 29));
    }

    fn week_of(y: u16, m: u8, d: u8) -> (DayNumber, DayNumber) {
        week_days(dn(y, m, d))
    }

    #[test]
    fn weeks_run_monday_to_sunday() {
        // 29 December 2025 is a Monday, 4 January 2026 a Sunday.
        let week = week_of(2025, 12, 29);
        assert_eq!(week, (dn(2025, 12, 29), dn(2026, 1, 5)));
        for d in 29..=31 {
            assert_eq!(week_of(2025, 12, d), week);
        }
        for d in 1..=4 {
            assert_eq!(week_of(2026, 1, d), week);
        }
        assert_ne!(week_of(2025, 12, 28), week);
        assert_ne!(week_of(2026, 1, 5), week);
        // 29 February 2028 is a Tuesday.
        assert_eq!(week_of(2028, 2, 29), (dn(2028, 2, 28), dn(2028, 3, 6)));
        // 31 December 2099 is a Thursday.
        assert_eq!(
            week_of(2099, 12, 31),
            (dn(2099, 12, 28), dn(2099, 12, 31) + 4)
        );
    }

    #[test]
    fn first_week_is_cut_at_the_epoch() {
        // Saturday 1 and Sunday 2 January 2000 belong to the week of Monday 27 December 1999.
        assert_eq!(week_of(2000, 1, 1), (0, 2));
        assert_eq!(week_of(2000, 1, 2), (0, 2));
        assert_eq!(week_of(2000, 1, 3), (2, 9));
    }

    #[test]
    fn every_week_has_seven_days_and_contains_its_day() {
        for n in 2..=36524 {
            let (start, end) = week_days(n);
            assert_eq!(end - start, 7);
            assert!(start <= n && n < end);
            // Starts on a Monday: the day after a Sunday is in the next week.
            assert_eq!(week_days(start - 1).1, start);
        }
    }
}
