//! `wsu:Created`: an `xs:dateTime` with a time zone, read as seconds since the Unix epoch, and
//! the freshness rule (within 5 minutes of now, either way: clocks drift).

/// How far `Created` may be from the server's clock.
pub const FRESHNESS_SECS: i64 = 5 * 60;

/// Seconds since the Unix epoch of `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`. A time
/// without a zone is refused: WS-Security requires UTC, and a local time is ambiguous.
pub fn parse_unix_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return None;
        }
        rest = &fraction[end..];
    }
    let offset = match rest {
        "Z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' || !matches!(rb[0], b'+' | b'-') {
                return None;
            }
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            if hours > 14 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if rb[0] == b'-' {
                -offset
            } else {
                offset
            }
        }
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 24
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset)
}

/// Whether a token created at `created` (Unix seconds) is fresh at `now`.
pub fn is_fresh(created: i64, now: i64) -> bool {
    (created - now).abs() <= FRESHNESS_SECS
}

/// `secs` since the Unix epoch as `YYYY-MM-DDThh:mm:ssZ` (for clients and tests that write
/// tokens).
pub fn format_utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // H. Hinnant's civil-from-days, the inverse of `days_from_civil`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_clients_send() {
        assert_eq!(parse_unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_unix_seconds("2026-01-01T10:00:00Z"),
            Some(1_767_261_600)
        );
        // zeep: +00:00 and microseconds; WCF: milliseconds and Z.
        assert_eq!(
            parse_unix_seconds("2026-01-01T10:00:00.123456+00:00"),
            Some(1_767_261_600)
        );
        assert_eq!(
            parse_unix_seconds("2026-01-01T12:00:00.5+02:00"),
            Some(1_767_261_600)
        );
        assert_eq!(
            parse_unix_seconds("2026-01-01T05:30:00-04:30"),
            Some(1_767_261_600)
        );
        assert_eq!(
            parse_unix_seconds("2024-02-29T00:00:00Z"),
            Some(1_709_164_800)
        );
    }

    #[test]
    fn refuses_what_is_not_a_zoned_date_time() {
        for bad in [
            "",
            "2026-01-01T10:00:00",
            "2026-01-01 10:00:00Z",
            "2026-13-01T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "2026-01-01T10:00:00.Z",
            "2026-01-01T10:00:00+0000",
            "2026-01-01T10:61:00Z",
            "２026-01-01T10:00:00Z",
        ] {
            assert_eq!(parse_unix_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn format_is_the_inverse_of_parse() {
        for secs in [0, 1_767_261_600, 1_709_164_800 + 3661, 4_102_444_799] {
            assert_eq!(parse_unix_seconds(&format_utc(secs)), Some(secs), "{secs}");
        }
        assert_eq!(format_utc(1_767_261_600), "2026-01-01T10:00:00Z");
    }

    #[test]
    fn freshness_is_five_minutes_either_way() {
        assert!(is_fresh(1000, 1000 + 300));
        assert!(is_fresh(1000 + 300, 1000));
        assert!(!is_fresh(1000, 1000 + 301));
        assert!(!is_fresh(1000 + 301, 1000));
    }
}
