//! The derived columns: dates, whens and Monday-to-Sunday weeks, checked directly in the
//! schema and through the other-city limit.

use tessera_types::{Code, EventId};

use super::*;

/// The stored (day, part, week) of one freshly created slot.
fn derived(f: &Fixture, id: &str) -> (String, i64, String) {
    f.replica
        .conn
        .query_row(
            "SELECT day, part, week FROM slot WHERE kind = 0 AND event_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

#[test]
fn weeks_start_on_monday_across_month_and_year_ends() {
    let mut f = Fixture::new();
    // (event ID, ISO date, Monday of its week), weekdays checked against a calendar.
    let cases = [
        ("MTLM281225", "2025-12-28", "2025-12-22"), // Sunday
        ("MTLA291225", "2025-12-29", "2025-12-29"), // Monday
        ("MTLE010126", "2026-01-01", "2025-12-29"),
        ("TORM040126", "2026-01-04", "2025-12-29"), // Sunday
        ("VANM050126", "2026-01-05", "2026-01-05"), // Monday
        ("VANE290228", "2028-02-29", "2028-02-28"),
        ("VANE010328", "2028-03-01", "2028-02-28"),
        ("MTLM290200", "2000-02-29", "2000-02-28"),
        ("MTLM050300", "2000-03-05", "2000-02-28"), // Sunday
        ("MTLM010100", "2000-01-01", "1999-12-27"),
        ("MTLM311299", "2099-12-31", "2099-12-28"),
    ];
    for (id, _, _) in cases {
        f.slot(ART, id, 1);
    }
    for (id, day, monday) in cases {
        let (d, _, w) = derived(&f, id);
        assert_eq!((d.as_str(), w.as_str()), (day, monday), "{id}");
    }
    assert_eq!(derived(&f, "MTLM281225").1, 1);
    assert_eq!(derived(&f, "MTLA291225").1, 2);
    assert_eq!(derived(&f, "MTLE010126").1, 3);
}

#[test]
fn every_date_of_the_century_has_a_monday_within_six_days_before() {
    let f = Fixture::new();
    let conn = &f.replica.conn;
    // Every date 2000-01-01..=2099-12-31 as an event, built by SQLite's calendar.
    let inserted = conn
        .execute(
            "WITH RECURSIVE d(day) AS (
                 SELECT '2000-01-01'
                 UNION ALL SELECT date(day, '+1 day') FROM d WHERE day < '2099-12-31')
             INSERT INTO slot (kind, event_id, capacity)
             SELECT 0, 'MTLM' || strftime('%d%m', day) || substr(day, 3, 2), 1 FROM d",
            [],
        )
        .unwrap();
    assert_eq!(inserted, 36_525);
    let bad: i64 = conn
        .query_row(
            "SELECT count(*) FROM slot
             WHERE strftime('%w', week) <> '1'
                OR julianday(day) - julianday(week) NOT BETWEEN 0 AND 6",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad, 0);
    // Every one of them is also a valid event ID to the shared parser.
    let mut stmt = conn.prepare("SELECT event_id FROM slot").unwrap();
    let ids = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    for id in ids {
        let id = id.unwrap();
        assert!(EventId::parse(&id).is_ok(), "{id}");
    }
}

#[test]
fn the_schema_refuses_impossible_dates() {
    let f = Fixture::new();
    let insert = |id: &str| {
        f.replica.conn.execute(
            "INSERT INTO slot (kind, event_id, capacity) VALUES (0, ?1, 1)",
            [id],
        )
    };
    assert!(insert("MTLM290227").is_err());
    assert!(insert("MTLM310426").is_err());
    assert!(insert("MTLX010426").is_err());
    assert!(insert("MTLM290228").is_ok());
}

/// Holds three other-city events in one week, then tries the edges of that week.
fn three_away_then(ids: [&str; 3], inside: &str, before: &str, after: &str) {
    let mut f = Fixture::new();
    for id in ids.iter().chain([inside, before, after].iter()) {
        f.slot(CON, id, 5);
    }
    for id in ids {
        assert_eq!(f.reserve("MTLP0001", CON, id), Code::Reserved, "{id}");
    }
    assert_eq!(
        f.reserve("MTLP0001", CON, inside),
        Code::OtherCityLimit,
        "{inside}"
    );
    assert_eq!(
        f.reserve("MTLP0001", CON, before),
        Code::Reserved,
        "{before}"
    );
    assert_eq!(f.reserve("MTLP0001", CON, after), Code::Reserved, "{after}");
}

#[test]
fn a_week_spans_new_year() {
    // Monday 29 December 2025 to Sunday 4 January 2026.
    three_away_then(
        ["TORM291225", "VANE311225", "TORE040126"],
        "VANA010126",
        "TORE281225",
        "VANM050126",
    );
}

#[test]
fn a_week_spans_the_29th_of_february() {
    // Monday 28 February 2028 to Sunday 5 March 2028.
    three_away_then(
        ["TORM280228", "VANE290228", "TORE050328"],
        "VANA010328",
        "TORE270228",
        "VANM060328",
    );
}

#[test]
fn a_week_spans_a_month_end_in_a_century_leap_year() {
    // Monday 28 February 2000 to Sunday 5 March 2000.
    three_away_then(
        ["TORM290200", "VANE010300", "TORE050300"],
        "VANA280200",
        "TORE270200",
        "VANM060300",
    );
}
