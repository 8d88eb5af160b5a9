//! Behaviour tests through the public `Replica` interface: every code of every operation, the
//! removal rules, calendar edge cases, sequence numbers, repeated calls, snapshots and
//! persistence.

use std::path::Path;
use std::process::Command;

use tessera_types::{
    CallMemory, CallRecord, Code, Durability, EventId, EventType, MessageId, Ordered, Outcome,
    Replica, ReplicaError, Reply, ReplyBody, Request, SlotRecord, Snapshot, UserId,
};

use crate::KvReplica;

const AG: &str = "ArtGallery";
const CO: &str = "Concerts";
const TH: &str = "Theatre";

fn add(admin: &str, t: &str, e: &str, capacity: i32) -> Request {
    Request::AddReservationSlot {
        admin_id: admin.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
        capacity: tessera_types::Capacity::new(capacity).unwrap(),
    }
}

fn remove(admin: &str, t: &str, e: &str) -> Request {
    Request::RemoveReservationSlot {
        admin_id: admin.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
    }
}

fn list(admin: &str, t: &str) -> Request {
    Request::ListReservationSlotAvailable {
        admin_id: admin.parse().unwrap(),
        event_type: t.parse().unwrap(),
    }
}

fn reserve(p: &str, t: &str, e: &str) -> Request {
    Request::ReserveTicket {
        participant_id: p.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
    }
}

fn schedule(p: &str) -> Request {
    Request::GetEventSchedule {
        participant_id: p.parse().unwrap(),
    }
}

fn cancel(p: &str, t: &str, e: &str) -> Request {
    Request::CancelTicket {
        participant_id: p.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
    }
}

fn exchange(p: &str, t: &str, e: &str, nt: &str, ne: &str) -> Request {
    Request::ExchangeTicket {
        participant_id: p.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
        new_event_type: nt.parse().unwrap(),
        new_event_id: ne.parse().unwrap(),
    }
}

/// A replica plus automatic sequence numbers.
struct H {
    r: KvReplica,
}

impl H {
    fn new() -> H {
        H {
            r: KvReplica::in_memory().unwrap(),
        }
    }

    fn run(&mut self, req: Request) -> Reply {
        let seq = self.r.applied_seq() + 1;
        self.r.apply(seq, &req).unwrap()
    }

    fn code(&mut self, req: Request) -> Code {
        let reply = self.run(req);
        if !matches!(reply.code, Code::Ok | Code::Removed) {
            assert_eq!(reply.body, ReplyBody::Empty, "{reply:?}");
        }
        reply.code
    }

    /// Runs a request that must succeed with `code`.
    fn ok(&mut self, req: Request, code: Code) {
        let what = format!("{req:?}");
        assert_eq!(self.code(req), code, "{what}");
    }

    fn schedule(&mut self, p: &str) -> Vec<String> {
        match self.run(schedule(p)).body {
            ReplyBody::Schedule(rows) => rows
                .iter()
                .map(|b| format!("{} {}", b.event_type, b.event_id))
                .collect(),
            other => panic!("not a schedule: {other:?}"),
        }
    }

    fn available(&mut self, t: &str) -> Vec<(String, u32)> {
        match self.run(list("MTLA0001", t)).body {
            ReplyBody::Slots(rows) => rows
                .iter()
                .map(|r| {
                    assert_eq!(r.event_type.as_str(), t);
                    (r.event_id.to_string(), r.available)
                })
                .collect(),
            other => panic!("not a list: {other:?}"),
        }
    }

    fn state(&self) -> Snapshot {
        self.r.export().unwrap()
    }

    /// Creates a slot with the admin of its city.
    fn slot(&mut self, t: &str, e: &str, capacity: i32) {
        let admin = format!("{}A0001", &e[..3]);
        self.ok(add(&admin, t, e, capacity), Code::Created);
    }
}

fn rows(items: &[(&str, u32)]) -> Vec<(String, u32)> {
    items.iter().map(|(e, a)| (e.to_string(), *a)).collect()
}

fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Step 0 and sequence numbers

#[test]
fn capacity_bounds_are_inclusive() {
    let mut h = H::new();
    h.ok(add("MTLA0001", TH, "MTLE101226", 1), Code::Created);
    h.ok(add("MTLA0001", TH, "MTLE101226", 100_000), Code::Updated);
}

#[test]
fn sequence_numbers_must_be_consecutive() {
    let mut r = KvReplica::in_memory().unwrap();
    assert_eq!(r.applied_seq(), 0);
    let req = add("MTLA0001", TH, "MTLE101226", 2);
    let err = r.apply(2, &req).unwrap_err();
    assert!(matches!(
        err,
        ReplicaError::Sequence {
            expected: 1,
            got: 2
        }
    ));
    assert!(matches!(
        r.apply(0, &req),
        Err(ReplicaError::Sequence {
            expected: 1,
            got: 0
        })
    ));
    assert_eq!(r.applied_seq(), 0);
    assert!(r.export().unwrap().slots().is_empty());

    assert_eq!(r.apply(1, &req).unwrap().code, Code::Created);
    assert_eq!(r.applied_seq(), 1);
    // Replaying the same number is refused and changes nothing.
    assert!(matches!(
        r.apply(1, &req),
        Err(ReplicaError::Sequence {
            expected: 2,
            got: 1
        })
    ));
    assert_eq!(r.applied_seq(), 1);
    assert_eq!(r.apply(2, &req).unwrap().code, Code::Updated);
}

#[test]
fn read_only_requests_consume_sequence_numbers() {
    let mut h = H::new();
    h.run(list("MTLA0001", TH));
    h.run(schedule("MTLP0001"));
    assert_eq!(h.r.applied_seq(), 2);
}

// ---------------------------------------------------------------------------------------------
// addReservationSlot

#[test]
fn add_codes() {
    let mut h = H::new();
    // Participants, and admins of another city, may not add.
    h.ok(add("MTLP0001", TH, "MTLE101226", 2), Code::NotAuthorized);
    h.ok(add("TORA0001", TH, "MTLE101226", 2), Code::NotAuthorized);
    assert!(h.state().slots().is_empty());

    h.ok(add("MTLA0001", TH, "MTLE101226", 2), Code::Created);
    h.ok(add("MTLA0002", TH, "MTLE101226", 2), Code::Updated); // unchanged still updates
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::Reserved);
    h.ok(reserve("TORP0001", TH, "MTLE101226"), Code::Reserved);
    h.ok(
        add("MTLA0001", TH, "MTLE101226", 1),
        Code::CapacityBelowBooked,
    );
    assert_eq!(h.state().slots()[0].capacity, 2);
    h.ok(add("MTLA0001", TH, "MTLE101226", 5), Code::Updated);
    assert_eq!(h.available(TH), rows(&[("MTLE101226", 3)]));
    h.ok(add("MTLA0001", TH, "MTLE101226", 2), Code::Updated); // down to exactly the holders
    assert_eq!(h.available(TH), rows(&[("MTLE101226", 0)]));
    h.ok(
        add("MTLA0001", TH, "MTLE101226", 1),
        Code::CapacityBelowBooked,
    );
    // An authorization failure wins over an existing slot's capacity check.
    h.ok(add("TORA0001", TH, "MTLE101226", 1), Code::NotAuthorized);
}

#[test]
fn success_flag_follows_the_code() {
    let mut h = H::new();
    assert!(h.run(add("MTLA0001", TH, "MTLE101226", 1)).success());
    assert!(!h.run(add("MTLP0001", TH, "MTLE101226", 1)).success());
    assert!(h.run(reserve("MTLP0001", TH, "MTLE101226")).success());
    assert!(!h.run(reserve("MTLP0002", TH, "MTLE101226")).success());
    assert!(h.run(remove("MTLA0001", TH, "MTLE101226")).success());
}

// ---------------------------------------------------------------------------------------------
// removeReservationSlot

#[test]
fn remove_codes() {
    let mut h = H::new();
    h.ok(remove("MTLA0001", TH, "MTLE101226"), Code::NoSuchSlot);
    h.slot(TH, "MTLE101226", 2);
    h.ok(remove("MTLP0001", TH, "MTLE101226"), Code::NotAuthorized);
    h.ok(remove("VANA0001", TH, "MTLE101226"), Code::NotAuthorized);
    h.ok(remove("MTLA0001", CO, "MTLE101226"), Code::NoSuchSlot);
    assert_eq!(
        h.run(remove("MTLA0009", TH, "MTLE101226")),
        Reply::removed(0, 0)
    );
    assert!(h.state().slots().is_empty());
    h.ok(remove("MTLA0001", TH, "MTLE101226"), Code::NoSuchSlot);
}

#[test]
fn removal_moves_holders_in_ascending_order_into_the_earliest_later_slot() {
    let mut h = H::new();
    h.slot(TH, "MTLA101226", 5); // earlier: never a target
    h.slot(TH, "MTLE101226", 5); // removed
    h.slot(TH, "MTLE111226", 1); // room for one
    h.slot(TH, "MTLM121226", 1); // then one more
    h.slot(TH, "MTLE311226", 5);
    h.slot(TH, "TORE101226", 5); // other city: never a target
    h.slot(CO, "MTLE101226", 5); // other type: never a target
    for p in ["VANP0003", "MTLP0002", "TORP0001", "MTLP0010"] {
        h.ok(reserve(p, TH, "MTLE101226"), Code::Reserved);
    }
    // Ascending: MTLP0002 → 11 Dec, MTLP0010 → 12 Dec, TORP0001 and VANP0003 → 31 Dec.
    assert_eq!(
        h.run(remove("MTLA0001", TH, "MTLE101226")),
        Reply::removed(4, 0)
    );
    assert_eq!(h.schedule("MTLP0002"), names(&["Theatre MTLE111226"]));
    assert_eq!(h.schedule("MTLP0010"), names(&["Theatre MTLM121226"]));
    assert_eq!(h.schedule("TORP0001"), names(&["Theatre MTLE311226"]));
    assert_eq!(h.schedule("VANP0003"), names(&["Theatre MTLE311226"]));
    assert_eq!(
        h.available(TH),
        rows(&[
            ("MTLA101226", 5),
            ("MTLE111226", 0),
            ("MTLM121226", 0),
            ("MTLE311226", 3),
            ("TORE101226", 5),
        ])
    );
}

#[test]
fn removal_drops_when_no_later_slot_fits() {
    let mut h = H::new();
    h.slot(AG, "VANM010326", 3);
    h.slot(AG, "VANE010326", 1);
    for p in ["VANP0001", "VANP0002", "VANP0003"] {
        h.ok(reserve(p, AG, "VANM010326"), Code::Reserved);
    }
    // Only the first in participant order finds room.
    assert_eq!(
        h.run(remove("VANA0001", AG, "VANM010326")),
        Reply::removed(1, 2)
    );
    assert_eq!(h.schedule("VANP0001"), names(&["ArtGallery VANE010326"]));
    assert!(h.schedule("VANP0002").is_empty());
    assert!(h.schedule("VANP0003").is_empty());
    // The last slot of its type and city has nowhere to move to.
    assert_eq!(
        h.run(remove("VANA0001", AG, "VANE010326")),
        Reply::removed(0, 1)
    );
    assert!(h.schedule("VANP0001").is_empty());
    assert!(h.state().slots().is_empty());
}

#[test]
fn removal_skips_slots_with_a_time_conflict_or_already_held() {
    let mut h = H::new();
    h.slot(CO, "TORM050126", 5); // removed
    h.slot(CO, "TORA050126", 5); // P1 already holds it
    h.slot(CO, "TORE050126", 5); // P1 has another event at this when
    h.slot(TH, "VANE050126", 5);
    h.slot(CO, "TORM060126", 5); // P1's new home
    h.ok(reserve("TORP0001", CO, "TORM050126"), Code::Reserved);
    h.ok(reserve("TORP0001", CO, "TORA050126"), Code::Reserved);
    h.ok(reserve("TORP0001", TH, "VANE050126"), Code::Reserved);
    h.ok(reserve("TORP0002", CO, "TORM050126"), Code::Reserved);
    assert_eq!(
        h.run(remove("TORA0001", CO, "TORM050126")),
        Reply::removed(2, 0)
    );
    assert_eq!(
        h.schedule("TORP0001"),
        names(&[
            "Concerts TORA050126",
            "Theatre VANE050126",
            "Concerts TORM060126"
        ])
    );
    assert_eq!(h.schedule("TORP0002"), names(&["Concerts TORA050126"]));
}

#[test]
fn removal_does_not_count_the_removed_reservation_towards_the_city_limit() {
    let mut h = H::new();
    // Week of Monday 2 March 2026 .. Sunday 8 March 2026.
    h.slot(TH, "MTLM020326", 5); // removed
    h.slot(TH, "MTLE080326", 5); // same week
    h.slot(TH, "MTLM090326", 5); // next week
    for e in ["TORM030326", "TORM040326", "TORM050326"] {
        h.slot(AG, e, 5);
    }
    // VANP0001: the removed MTL booking plus two TOR ones is three other-city bookings.
    h.ok(reserve("VANP0001", TH, "MTLM020326"), Code::Reserved);
    h.ok(reserve("VANP0001", AG, "TORM030326"), Code::Reserved);
    h.ok(reserve("VANP0001", AG, "TORM040326"), Code::Reserved);
    h.ok(reserve("VANP0001", AG, "TORM050326"), Code::OtherCityLimit);
    // TORP0002: TOR is home, so only the removed booking is other-city.
    h.ok(reserve("TORP0002", TH, "MTLM020326"), Code::Reserved);
    h.ok(reserve("TORP0002", AG, "TORM030326"), Code::Reserved);
    h.ok(reserve("MTLP0003", TH, "MTLM020326"), Code::Reserved);
    assert_eq!(
        h.run(remove("MTLA0001", TH, "MTLM020326")),
        Reply::removed(3, 0)
    );
    // With the removed booking gone, each fits into the same week again.
    assert_eq!(h.schedule("MTLP0003"), names(&["Theatre MTLE080326"]));
    assert_eq!(
        h.schedule("TORP0002"),
        names(&["ArtGallery TORM030326", "Theatre MTLE080326"])
    );
    assert_eq!(
        h.schedule("VANP0001"),
        names(&[
            "ArtGallery TORM030326",
            "ArtGallery TORM040326",
            "Theatre MTLE080326"
        ])
    );
}

#[test]
fn removal_skips_a_week_where_the_city_limit_is_reached() {
    let mut h = H::new();
    h.slot(TH, "MTLM010326", 5); // removed: Sunday 1 March, the week before
    h.slot(TH, "MTLE080326", 5); // week of 2 March: VANP0001 already has 3 other-city there
    h.slot(TH, "MTLM090326", 5); // the week after
    for e in ["TORM030326", "TORM040326", "TORM050326"] {
        h.slot(AG, e, 5);
        h.ok(reserve("VANP0001", AG, e), Code::Reserved);
    }
    h.ok(reserve("VANP0001", TH, "MTLM010326"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "MTLM010326"), Code::Reserved); // home city: no limit
    assert_eq!(
        h.run(remove("MTLA0001", TH, "MTLM010326")),
        Reply::removed(2, 0)
    );
    assert_eq!(h.schedule("MTLP0001"), names(&["Theatre MTLE080326"]));
    assert_eq!(
        h.schedule("VANP0001"),
        names(&[
            "ArtGallery TORM030326",
            "ArtGallery TORM040326",
            "ArtGallery TORM050326",
            "Theatre MTLM090326"
        ])
    );
}

#[test]
fn earlier_holders_moves_take_places_first() {
    let mut h = H::new();
    h.slot(CO, "VANM100626", 3);
    h.slot(CO, "VANA100626", 1);
    h.slot(CO, "VANE100626", 1);
    for p in ["VANP0003", "VANP0001", "VANP0002"] {
        h.ok(reserve(p, CO, "VANM100626"), Code::Reserved);
    }
    assert_eq!(
        h.run(remove("VANA0001", CO, "VANM100626")),
        Reply::removed(2, 1)
    );
    assert_eq!(h.schedule("VANP0001"), names(&["Concerts VANA100626"]));
    assert_eq!(h.schedule("VANP0002"), names(&["Concerts VANE100626"]));
    assert!(h.schedule("VANP0003").is_empty());
}

// ---------------------------------------------------------------------------------------------
// listReservationSlotAvailable

#[test]
fn list_codes_and_order() {
    let mut h = H::new();
    h.ok(list("MTLP0001", TH), Code::NotAuthorized);
    assert_eq!(h.run(list("VANA0001", TH)), Reply::slots(vec![]));
    for (e, cap) in [
        ("VANM010126", 1),
        ("TORE311225", 2),
        ("MTLE020126", 3),
        ("MTLM020126", 4),
        ("MTLA020126", 5),
        ("MTLM311299", 6),
        ("MTLE010100", 7),
        ("TORM010126", 8),
    ] {
        h.slot(TH, e, cap);
    }
    h.slot(AG, "MTLM010126", 9);
    h.ok(reserve("MTLP0001", TH, "MTLA020126"), Code::Reserved);
    h.ok(reserve("MTLP0002", TH, "MTLA020126"), Code::Reserved);
    // Any admin, of any city, lists every city.
    assert_eq!(h.run(list("TORA0005", TH)).code, Code::Ok);
    assert_eq!(
        h.available(TH),
        rows(&[
            ("MTLE010100", 7),
            ("MTLM020126", 4),
            ("MTLA020126", 3),
            ("MTLE020126", 3),
            ("MTLM311299", 6),
            ("TORE311225", 2),
            ("TORM010126", 8),
            ("VANM010126", 1),
        ])
    );
    assert_eq!(h.available(AG), rows(&[("MTLM010126", 9)]));
    assert!(h.available(CO).is_empty());
}

// ---------------------------------------------------------------------------------------------
// reserveTicket

#[test]
fn reserve_codes() {
    let mut h = H::new();
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::NoSuchSlot);
    h.slot(TH, "MTLE101226", 1);
    h.ok(reserve("MTLA0001", TH, "MTLE101226"), Code::NotAuthorized);
    h.ok(reserve("MTLP0001", CO, "MTLE101226"), Code::NoSuchSlot);
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::Reserved);
    // Already reserved wins over full.
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::AlreadyReserved);
    h.ok(reserve("TORP0001", TH, "MTLE101226"), Code::SlotFull);
    assert_eq!(h.available(TH), rows(&[("MTLE101226", 0)]));
}

#[test]
fn reserve_check_order_full_before_time_conflict_before_city_limit() {
    let mut h = H::new();
    h.slot(TH, "TORE101226", 1);
    h.slot(CO, "VANE101226", 5);
    h.ok(reserve("TORP0009", TH, "TORE101226"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "VANE101226"), Code::Reserved);
    // Full and a time conflict: full first.
    h.ok(reserve("MTLP0001", TH, "TORE101226"), Code::SlotFull);
    // Time conflict and over the city limit: time conflict first.
    for e in ["TORM070926", "TORM080926", "TORM090926", "TORA090926"] {
        h.slot(AG, e, 5);
    }
    for e in ["TORM070926", "TORM080926", "TORM090926"] {
        h.ok(reserve("MTLP0002", AG, e), Code::Reserved);
    }
    h.slot(CO, "TORM090926", 5);
    h.ok(reserve("MTLP0002", CO, "TORM090926"), Code::TimeConflict);
    h.ok(reserve("MTLP0002", AG, "TORA090926"), Code::OtherCityLimit);
}

#[test]
fn time_conflicts_span_cities_and_types_but_not_slots() {
    let mut h = H::new();
    h.slot(TH, "MTLE101226", 5);
    h.slot(CO, "TORE101226", 5);
    h.slot(AG, "VANE101226", 5);
    h.slot(AG, "VANA101226", 5);
    h.slot(AG, "VANE111226", 5);
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "TORE101226"), Code::TimeConflict);
    h.ok(reserve("MTLP0001", AG, "VANE101226"), Code::TimeConflict);
    h.ok(reserve("MTLP0001", AG, "VANA101226"), Code::Reserved);
    h.ok(reserve("MTLP0001", AG, "VANE111226"), Code::Reserved);
    // Another participant is unaffected.
    h.ok(reserve("MTLP0002", CO, "TORE101226"), Code::Reserved);
}

#[test]
fn other_city_limit_is_three_per_week_any_city_any_type() {
    let mut h = H::new();
    // Monday 7 September 2026 .. Sunday 13 September 2026.
    h.slot(AG, "TORM070926", 5);
    h.slot(CO, "VANE090926", 5);
    h.slot(TH, "TORA130926", 5);
    h.slot(TH, "VANM110926", 5);
    h.slot(TH, "MTLM110926", 5);
    h.slot(TH, "MTLA110926", 5);
    h.slot(TH, "MTLE110926", 5);
    h.slot(TH, "TORM140926", 5); // next Monday
    h.slot(TH, "TORE060926", 5); // previous Sunday
    h.ok(reserve("MTLP0001", AG, "TORM070926"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "VANE090926"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "TORA130926"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "VANM110926"), Code::OtherCityLimit);
    // Own-city reservations are not limited and do not count.
    h.ok(reserve("MTLP0001", TH, "MTLM110926"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "MTLA110926"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "MTLE110926"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "TORM140926"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "TORE060926"), Code::Reserved);
    // For a Toronto participant, TOR is home: only the VAN slot counts.
    h.ok(reserve("TORP0001", AG, "TORM070926"), Code::Reserved);
    h.ok(reserve("TORP0001", TH, "TORA130926"), Code::Reserved);
    h.ok(reserve("TORP0001", CO, "VANE090926"), Code::Reserved);
    h.ok(reserve("TORP0001", TH, "VANM110926"), Code::Reserved);
    h.ok(reserve("TORP0001", TH, "MTLA110926"), Code::Reserved);
    h.ok(reserve("TORP0001", TH, "MTLE110926"), Code::OtherCityLimit);
    // Cancelling one makes room again.
    h.slot(TH, "VANE120926", 5);
    h.ok(reserve("MTLP0001", TH, "VANE120926"), Code::OtherCityLimit);
    h.ok(cancel("MTLP0001", CO, "VANE090926"), Code::Cancelled);
    h.ok(reserve("MTLP0001", TH, "VANE120926"), Code::Reserved);
}

#[test]
fn weeks_cross_year_ends() {
    let mut h = H::new();
    // Monday 29 December 2025 .. Sunday 4 January 2026 is one week.
    for e in ["TORM291225", "TORM311225", "VANE010126", "TORE040126"] {
        h.slot(CO, e, 5);
    }
    h.slot(CO, "TORM050126", 5); // Monday: next week
    h.slot(CO, "TORE281225", 5); // Sunday: previous week
    h.ok(reserve("MTLP0001", CO, "TORM291225"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "TORM311225"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "VANE010126"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "TORE040126"), Code::OtherCityLimit);
    h.ok(reserve("MTLP0001", CO, "TORM050126"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "TORE281225"), Code::Reserved);

    // The same across a leap day and a century-free year end: 29 Feb 2028 is a Tuesday.
    let mut h = H::new();
    for e in [
        "VANM280228",
        "VANE290228",
        "TORM010328",
        "TORA050328",
        "TORM060328",
    ] {
        h.slot(TH, e, 5);
    }
    h.ok(reserve("MTLP0001", TH, "VANM280228"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "VANE290228"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "TORM010328"), Code::Reserved);
    h.ok(reserve("MTLP0001", TH, "TORA050328"), Code::OtherCityLimit);
    h.ok(reserve("MTLP0001", TH, "TORM060328"), Code::Reserved);
}

#[test]
fn leap_days_exist_only_in_leap_years() {
    let mut h = H::new();
    h.ok(add("VANA0001", TH, "VANE290228", 1), Code::Created);
    h.ok(add("MTLA0001", TH, "MTLM290200", 1), Code::Created);
    h.ok(reserve("VANP0001", TH, "VANE290228"), Code::Reserved);
    assert_eq!(h.schedule("VANP0001"), names(&["Theatre VANE290228"]));
    assert_eq!(
        h.available(TH),
        rows(&[("MTLM290200", 1), ("VANE290228", 0)])
    );
}

#[test]
fn earliest_and_latest_dates_work() {
    let mut h = H::new();
    h.slot(AG, "MTLM010100", 2);
    h.slot(AG, "MTLE311299", 2);
    h.ok(reserve("TORP0001", AG, "MTLM010100"), Code::Reserved);
    h.ok(reserve("TORP0001", AG, "MTLE311299"), Code::Reserved);
    assert_eq!(
        h.schedule("TORP0001"),
        names(&["ArtGallery MTLM010100", "ArtGallery MTLE311299"])
    );
    assert_eq!(
        h.run(remove("MTLA0001", AG, "MTLM010100")),
        Reply::removed(0, 1)
    );
}

#[test]
fn same_event_id_under_two_types_is_two_slots() {
    let mut h = H::new();
    h.ok(add("TORA0001", TH, "TORA200526", 1), Code::Created);
    h.ok(add("TORA0001", CO, "TORA200526", 2), Code::Created);
    h.ok(reserve("TORP0001", TH, "TORA200526"), Code::Reserved);
    h.ok(reserve("TORP0002", TH, "TORA200526"), Code::SlotFull);
    h.ok(reserve("TORP0002", CO, "TORA200526"), Code::Reserved);
    // Same when, so holding one excludes the other.
    h.ok(reserve("TORP0001", CO, "TORA200526"), Code::TimeConflict);
    assert_eq!(h.available(TH), rows(&[("TORA200526", 0)]));
    assert_eq!(h.available(CO), rows(&[("TORA200526", 1)]));
    h.ok(cancel("TORP0001", CO, "TORA200526"), Code::NotReserved);
    assert_eq!(
        h.run(remove("TORA0001", TH, "TORA200526")),
        Reply::removed(0, 1)
    );
    assert_eq!(h.available(CO), rows(&[("TORA200526", 1)]));
    assert_eq!(h.schedule("TORP0002"), names(&["Concerts TORA200526"]));
    h.ok(reserve("TORP0001", CO, "TORA200526"), Code::Reserved);
}

// ---------------------------------------------------------------------------------------------
// getEventSchedule

#[test]
fn schedule_codes_and_order() {
    let mut h = H::new();
    h.ok(schedule("MTLA0001"), Code::NotAuthorized);
    assert_eq!(h.run(schedule("MTLP0001")), Reply::schedule(vec![]));
    // Same date: by slot; same when: by city, then by type.
    let slots = [
        (TH, "VANE020126"),
        (AG, "VANM020126"),
        (TH, "TORM010126"),
        (CO, "MTLA010126"),
        (AG, "MTLE311225"),
    ];
    for (t, e) in slots {
        h.slot(t, e, 5);
        h.ok(reserve("MTLP0001", t, e), Code::Reserved);
    }
    assert_eq!(
        h.schedule("MTLP0001"),
        names(&[
            "ArtGallery MTLE311225",
            "Theatre TORM010126",
            "Concerts MTLA010126",
            "ArtGallery VANM020126",
            "Theatre VANE020126",
        ])
    );
    assert!(h.schedule("MTLP0002").is_empty());
}

#[test]
fn schedule_orders_by_city_then_type_within_a_when() {
    // One participant cannot hold two slots with the same when, so build that state by import
    // (which takes any valid snapshot) and check the tie-breaks.
    let mut r = KvReplica::in_memory().unwrap();
    let p = UserId::parse("MTLP0001").unwrap();
    let rec = |t, e| SlotRecord {
        event_type: t,
        event_id: EventId::parse(e).unwrap(),
        capacity: 1,
        holders: vec![p],
    };
    let snap = Snapshot::new(vec![
        rec(EventType::Theatre, "VANA010126"),
        rec(EventType::Concerts, "TORA010126"),
        rec(EventType::ArtGallery, "TORA010126"),
        rec(EventType::Theatre, "MTLA010126"),
        rec(EventType::ArtGallery, "VANM010126"),
    ])
    .unwrap();
    r.import(7, &snap).unwrap();
    let reply = r.apply(8, &schedule("MTLP0001")).unwrap();
    let ReplyBody::Schedule(rows) = reply.body else {
        panic!("not a schedule");
    };
    let got: Vec<String> = rows
        .iter()
        .map(|b| format!("{} {}", b.event_type, b.event_id))
        .collect();
    assert_eq!(
        got,
        names(&[
            "ArtGallery VANM010126",
            "Theatre MTLA010126",
            "ArtGallery TORA010126",
            "Concerts TORA010126",
            "Theatre VANA010126",
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// cancelTicket

#[test]
fn cancel_codes() {
    let mut h = H::new();
    h.ok(cancel("MTLP0001", TH, "MTLE101226"), Code::NotReserved);
    h.slot(TH, "MTLE101226", 1);
    h.ok(cancel("MTLP0001", TH, "MTLE101226"), Code::NotReserved);
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::Reserved);
    h.ok(cancel("MTLA0001", TH, "MTLE101226"), Code::NotAuthorized);
    h.ok(cancel("MTLP0002", TH, "MTLE101226"), Code::NotReserved);
    h.ok(cancel("MTLP0001", CO, "MTLE101226"), Code::NotReserved);
    h.ok(reserve("MTLP0002", TH, "MTLE101226"), Code::SlotFull);
    h.ok(cancel("MTLP0001", TH, "MTLE101226"), Code::Cancelled);
    h.ok(cancel("MTLP0001", TH, "MTLE101226"), Code::NotReserved);
    assert!(h.schedule("MTLP0001").is_empty());
    h.ok(reserve("MTLP0002", TH, "MTLE101226"), Code::Reserved);
}

// ---------------------------------------------------------------------------------------------
// exchangeTicket

#[test]
fn exchange_codes() {
    let mut h = H::new();
    h.slot(TH, "MTLE101226", 5);
    h.slot(TH, "MTLE111226", 1);
    h.slot(CO, "MTLE121226", 5);
    h.slot(CO, "MTLA121226", 5);
    h.ok(
        exchange("MTLA0001", TH, "MTLE101226", TH, "MTLE111226"),
        Code::NotAuthorized,
    );
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", TH, "MTLE111226"),
        Code::NotReserved,
    );
    h.ok(
        exchange("MTLP0001", TH, "MTLE091226", TH, "MTLE111226"),
        Code::NotReserved,
    );
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::Reserved);
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", TH, "MTLE131226"),
        Code::NoSuchSlot,
    );
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", CO, "MTLE111226"),
        Code::NoSuchSlot,
    );
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", TH, "MTLE101226"),
        Code::AlreadyReserved,
    );
    h.ok(reserve("MTLP0001", CO, "MTLE121226"), Code::Reserved);
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", CO, "MTLE121226"),
        Code::AlreadyReserved,
    );
    h.ok(reserve("MTLP0002", TH, "MTLE111226"), Code::Reserved);
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", TH, "MTLE111226"),
        Code::SlotFull,
    );
    // A conflict with another reservation (12 Dec evening) counts ...
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", CO, "MTLE121226"),
        Code::AlreadyReserved,
    );
    h.slot(TH, "MTLE121226", 5);
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", TH, "MTLE121226"),
        Code::TimeConflict,
    );
    // ... but the old reservation itself does not.
    h.slot(AG, "MTLE101226", 5);
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", AG, "MTLE101226"),
        Code::Exchanged,
    );
    assert_eq!(
        h.schedule("MTLP0001"),
        names(&["ArtGallery MTLE101226", "Concerts MTLE121226"])
    );
    assert_eq!(
        h.available(TH),
        rows(&[("MTLE101226", 5), ("MTLE111226", 0), ("MTLE121226", 5)])
    );
    assert_eq!(h.available(AG), rows(&[("MTLE101226", 4)]));
    h.ok(
        exchange("MTLP0001", CO, "MTLE121226", CO, "MTLA121226"),
        Code::Exchanged,
    );
}

#[test]
fn exchange_other_city_limit_ignores_the_old_reservation() {
    let mut h = H::new();
    // Week of Monday 16 November 2026.
    for e in [
        "TORM161126",
        "TORM171126",
        "VANM181126",
        "VANM191126",
        "MTLM201126",
    ] {
        h.slot(AG, e, 5);
    }
    h.slot(AG, "VANM231126", 5); // next week
    for e in ["TORM161126", "TORM171126", "VANM181126"] {
        h.ok(reserve("MTLP0001", AG, e), Code::Reserved);
    }
    // Swapping one other-city booking for another in the same week is fine ...
    h.ok(
        exchange("MTLP0001", AG, "VANM181126", AG, "VANM191126"),
        Code::Exchanged,
    );
    h.ok(
        exchange("MTLP0001", AG, "TORM161126", AG, "VANM181126"),
        Code::Exchanged,
    );
    // ... swapping an own-city or other-week booking for a 4th is not.
    h.ok(reserve("MTLP0001", AG, "MTLM201126"), Code::Reserved);
    h.ok(
        exchange("MTLP0001", AG, "MTLM201126", AG, "TORM161126"),
        Code::OtherCityLimit,
    );
    h.ok(cancel("MTLP0001", AG, "MTLM201126"), Code::Cancelled);
    h.ok(reserve("MTLP0001", AG, "VANM231126"), Code::Reserved);
    h.ok(
        exchange("MTLP0001", AG, "VANM231126", AG, "TORM161126"),
        Code::OtherCityLimit,
    );
    // Leaving the week frees a place in it.
    h.ok(cancel("MTLP0001", AG, "VANM231126"), Code::Cancelled);
    h.ok(
        exchange("MTLP0001", AG, "VANM191126", AG, "VANM231126"),
        Code::Exchanged,
    );
    h.ok(reserve("MTLP0001", AG, "TORM161126"), Code::Reserved);
}

#[test]
fn exchange_check_order() {
    let mut h = H::new();
    h.slot(TH, "MTLE101226", 5);
    h.slot(TH, "TORE111226", 1);
    h.slot(CO, "TORE111226", 5);
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::Reserved);
    h.ok(reserve("MTLP0002", TH, "TORE111226"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "TORE111226"), Code::Reserved);
    // Not reserved is checked before the new slot exists.
    h.ok(
        exchange("MTLP0003", TH, "MTLE101226", TH, "MTLE010101"),
        Code::NotReserved,
    );
    // Full before time conflict.
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", TH, "TORE111226"),
        Code::SlotFull,
    );
}

#[test]
fn failed_exchange_changes_nothing() {
    let mut h = H::new();
    h.slot(TH, "MTLE101226", 5);
    h.slot(TH, "MTLE111226", 1);
    h.slot(CO, "MTLE111226", 5);
    h.ok(reserve("MTLP0001", TH, "MTLE101226"), Code::Reserved);
    h.ok(reserve("MTLP0001", CO, "MTLE111226"), Code::Reserved);
    let before = h.state();
    for (req, code) in [
        (
            exchange("MTLP0001", TH, "MTLE101226", TH, "MTLE111226"),
            Code::TimeConflict,
        ),
        (
            exchange("MTLP0001", TH, "MTLE101226", AG, "MTLE111226"),
            Code::NoSuchSlot,
        ),
        (
            exchange("MTLP0002", TH, "MTLE101226", TH, "MTLE111226"),
            Code::NotReserved,
        ),
    ] {
        h.ok(req, code);
        assert_eq!(h.state(), before);
    }
    h.ok(cancel("MTLP0001", CO, "MTLE111226"), Code::Cancelled);
    h.ok(
        exchange("MTLP0001", TH, "MTLE101226", TH, "MTLE111226"),
        Code::Exchanged,
    );
    assert_eq!(h.schedule("MTLP0001"), names(&["Theatre MTLE111226"]));
    assert_eq!(
        h.available(TH),
        rows(&[("MTLE101226", 5), ("MTLE111226", 0)])
    );
}

// ---------------------------------------------------------------------------------------------
// Repeated calls (docs/domain.md, "Repeated calls")

fn mid(s: &str) -> MessageId {
    MessageId::parse(s).unwrap()
}

/// One call as the sequencer orders it, less its seq (the replica's next).
#[derive(Debug, Clone)]
struct TestCall {
    time_ms: u64,
    id: Option<MessageId>,
    request: Request,
}

/// Applies `c` at the replica's next seq under `memory`.
fn call_at(r: &mut KvReplica, memory: CallMemory, c: &TestCall) -> Outcome {
    let seq = r.applied_seq() + 1;
    let outcome = r
        .call(&Ordered {
            seq,
            time_ms: c.time_ms,
            message_id: c.id.as_ref(),
            request: &c.request,
            memory,
        })
        .unwrap();
    assert_eq!(r.applied_seq(), seq);
    outcome
}

/// A replica driven by calls under fixed limits.
struct C {
    r: KvReplica,
    memory: CallMemory,
}

impl C {
    fn new(max_age_ms: u64, max_entries: u64) -> C {
        C {
            r: KvReplica::in_memory().unwrap(),
            memory: CallMemory {
                max_age_ms,
                max_entries,
            },
        }
    }

    fn call(&mut self, time_ms: u64, id: Option<&str>, request: Request) -> Outcome {
        let c = TestCall {
            time_ms,
            id: id.map(mid),
            request,
        };
        call_at(&mut self.r, self.memory, &c)
    }

    /// A call without a message id, which must not be a repeat.
    fn plain(&mut self, time_ms: u64, request: Request) -> Reply {
        let out = self.call(time_ms, None, request);
        assert_eq!(out.repeat_of, None);
        out.reply
    }

    /// The remembered calls' (message id, seq), in seq order.
    fn remembered(&self) -> Vec<(String, u64)> {
        self.r
            .export()
            .unwrap()
            .calls()
            .iter()
            .map(|c| (c.message_id.to_string(), c.seq))
            .collect()
    }
}

fn ids(items: &[(&str, u64)]) -> Vec<(String, u64)> {
    items
        .iter()
        .map(|(id, seq)| (id.to_string(), *seq))
        .collect()
}

fn repeat_of(reply: Reply, seq: u64) -> Outcome {
    Outcome {
        reply,
        repeat_of: Some(seq),
    }
}

#[test]
fn a_repeat_gets_the_first_reply_and_changes_nothing_else() {
    let mut c = C::new(1_000, 10);
    c.plain(0, add("MTLA0001", TH, "MTLE101226", 1));
    let first = c.call(10, Some("urn:a"), reserve("MTLP0001", TH, "MTLE101226"));
    assert_eq!(first, Outcome::fresh(Reply::code(Code::Reserved)));
    let before = c.r.export().unwrap();
    assert_eq!(
        before.calls(),
        [CallRecord {
            message_id: mid("urn:a"),
            seq: 2,
            time_ms: 10,
            request: reserve("MTLP0001", TH, "MTLE101226"),
            reply: Reply::code(Code::Reserved),
        }]
    );

    let again = c.call(20, Some("urn:a"), reserve("MTLP0001", TH, "MTLE101226"));
    assert_eq!(again, repeat_of(Reply::code(Code::Reserved), 2));
    assert_eq!(c.r.applied_seq(), 3);
    // Not executed again (that would be ALREADY_RESERVED), and the remembered time stays 10.
    assert_eq!(c.r.export().unwrap(), before);
    assert_eq!(c.r.digest().unwrap(), before.digest());
    assert_eq!(
        c.plain(30, reserve("MTLP0001", TH, "MTLE101226")).code,
        Code::AlreadyReserved
    );

    // A repeated read gets the first answer, even once the state has moved on.
    let listed = c.call(40, Some("urn:list"), list("MTLA0001", TH)).reply;
    assert_eq!(listed, c.plain(40, list("MTLA0001", TH)));
    c.plain(41, cancel("MTLP0001", TH, "MTLE101226"));
    assert_ne!(c.plain(41, list("MTLA0001", TH)), listed);
    let again = c.call(42, Some("urn:list"), list("MTLA0001", TH));
    assert_eq!(again, repeat_of(listed, 5));
}

#[test]
fn the_same_message_id_with_another_request_is_message_id_reused() {
    let mut c = C::new(1_000, 10);
    c.plain(0, add("MTLA0001", TH, "MTLE101226", 2));
    c.call(5, Some("urn:a"), reserve("MTLP0001", TH, "MTLE101226"));
    let before = c.r.export().unwrap();
    let out = c.call(6, Some("urn:a"), reserve("MTLP0002", TH, "MTLE101226"));
    assert_eq!(out, Outcome::fresh(Reply::code(Code::MessageIdReused)));
    assert_eq!(out.reply.body, ReplyBody::Empty);
    assert!(!out.reply.success());
    assert_eq!(c.r.applied_seq(), 3);
    assert_eq!(c.r.export().unwrap(), before);
    // The first call is still the remembered one, and still repeats.
    let again = c.call(7, Some("urn:a"), reserve("MTLP0001", TH, "MTLE101226"));
    assert_eq!(again, repeat_of(Reply::code(Code::Reserved), 2));
}

#[test]
fn forgetting_by_age_keeps_a_call_exactly_max_age_old() {
    let mut c = C::new(100, 10);
    c.call(1_000, Some("urn:a"), schedule("MTLP0001"));
    // now - time == max_age: kept, by a plain call and by a repeat alike.
    c.plain(1_100, schedule("MTLP0002"));
    assert_eq!(c.remembered(), ids(&[("urn:a", 1)]));
    let again = c.call(1_100, Some("urn:a"), schedule("MTLP0001"));
    assert_eq!(again.repeat_of, Some(1));
    // One ms more: forgotten, by a call without a message id too.
    c.plain(1_101, schedule("MTLP0002"));
    assert!(c.remembered().is_empty());
    // So the id is new again: executed, and remembered at its new seq.
    let out = c.call(1_101, Some("urn:a"), schedule("MTLP0001"));
    assert_eq!(out.repeat_of, None);
    assert_eq!(c.remembered(), ids(&[("urn:a", 5)]));
}

#[test]
fn forgetting_by_age_comes_before_looking_the_message_id_up() {
    let mut c = C::new(100, 10);
    c.call(0, Some("urn:a"), schedule("MTLP0001"));
    c.call(10, Some("urn:b"), schedule("MTLP0001"));
    c.call(20, Some("urn:c"), schedule("MTLP0001"));
    // Old enough: not a repeat, and not MESSAGE_ID_REUSED with another request either.
    let out = c.call(101, Some("urn:a"), schedule("MTLP0002"));
    assert_eq!(out, Outcome::fresh(Reply::schedule(Vec::new())));
    assert_eq!(
        c.remembered(),
        ids(&[("urn:b", 2), ("urn:c", 3), ("urn:a", 4)])
    );
    // Several at once, oldest first, up to the first young enough.
    c.plain(115, schedule("MTLP0002"));
    assert_eq!(c.remembered(), ids(&[("urn:c", 3), ("urn:a", 4)]));
}

#[test]
fn forgetting_by_count_drops_the_lowest_seq_first() {
    let mut c = C::new(1_000_000, 2);
    for (id, time) in [("a", 0), ("b", 1), ("c", 2)] {
        c.call(time, Some(id), schedule("MTLP0001"));
    }
    assert_eq!(c.remembered(), ids(&[("b", 2), ("c", 3)]));
    // Plain calls are not remembered, so they neither count nor trim.
    c.plain(3, schedule("MTLP0001"));
    assert_eq!(c.remembered(), ids(&[("b", 2), ("c", 3)]));
    // Neither does a repeat or a reused id.
    assert_eq!(
        c.call(4, Some("c"), schedule("MTLP0001")).repeat_of,
        Some(3)
    );
    let reused = c.call(4, Some("c"), schedule("MTLP0002"));
    assert_eq!(reused.reply.code, Code::MessageIdReused);
    assert_eq!(c.remembered(), ids(&[("b", 2), ("c", 3)]));
    // "a" was forgotten: executed again, and "b", now the lowest, goes.
    assert_eq!(c.call(5, Some("a"), schedule("MTLP0001")).repeat_of, None);
    assert_eq!(c.remembered(), ids(&[("c", 3), ("a", 7)]));
}

#[test]
fn max_entries_zero_remembers_nothing() {
    let mut c = C::new(1_000, 0);
    c.plain(0, add("MTLA0001", TH, "MTLE101226", 2));
    let first = c.call(1, Some("a"), reserve("MTLP0001", TH, "MTLE101226"));
    assert_eq!(first.reply.code, Code::Reserved);
    assert!(c.remembered().is_empty());
    let second = c.call(2, Some("a"), reserve("MTLP0001", TH, "MTLE101226"));
    assert_eq!(second, Outcome::fresh(Reply::code(Code::AlreadyReserved)));
}

#[test]
fn a_failing_request_is_remembered_with_its_failing_reply() {
    let mut c = C::new(1_000, 10);
    c.plain(0, add("MTLA0001", TH, "MTLE101226", 1));
    c.plain(0, reserve("MTLP0001", TH, "MTLE101226"));
    let full = c.call(1, Some("urn:full"), reserve("MTLP0002", TH, "MTLE101226"));
    assert_eq!(full, Outcome::fresh(Reply::code(Code::SlotFull)));
    let snap = c.r.export().unwrap();
    assert_eq!(snap.calls().len(), 1);
    assert_eq!(snap.calls()[0].reply, Reply::code(Code::SlotFull));
    // Room now, but the retry gets the first answer and books nothing.
    c.plain(2, cancel("MTLP0001", TH, "MTLE101226"));
    let again = c.call(3, Some("urn:full"), reserve("MTLP0002", TH, "MTLE101226"));
    assert_eq!(again, repeat_of(Reply::code(Code::SlotFull), 3));
    assert!(c.r.export().unwrap().slots()[0].holders.is_empty());
}

#[test]
fn a_call_that_errs_changes_nothing_and_is_not_remembered() {
    let mut c = C::new(1_000, 10);
    c.call(0, Some("urn:a"), add("MTLA0001", TH, "MTLE101226", 1));
    let before = c.r.export().unwrap();
    let id = mid("urn:b");
    let request = reserve("MTLP0001", TH, "MTLE101226");
    let wrong = Ordered {
        seq: 3,
        // Late enough to forget "urn:a", had it been applied.
        time_ms: 5_000,
        message_id: Some(&id),
        request: &request,
        memory: c.memory,
    };
    assert!(matches!(
        c.r.call(&wrong),
        Err(ReplicaError::Sequence {
            expected: 2,
            got: 3
        })
    ));
    assert_eq!(c.r.applied_seq(), 1);
    assert_eq!(c.r.export().unwrap(), before);
    let out = c.call(10, Some("urn:b"), request.clone());
    assert_eq!(out, Outcome::fresh(Reply::code(Code::Reserved)));
    assert_eq!(c.remembered(), ids(&[("urn:a", 1), ("urn:b", 2)]));
}

#[test]
fn a_plain_call_with_nothing_to_forget_does_not_open_the_call_tables() {
    let mut c = C::new(100, 10);
    c.call(0, Some("urn:a"), schedule("MTLP0001"));
    // White box: drop the tables inside the open transaction. A plain call that opened them
    // would create them again.
    let tables = |r: &mut KvReplica| {
        r.in_pending(|txn, _| {
            Ok(txn
                .list_tables()
                .map_err(crate::storage)?
                .map(|t| redb::TableHandle::name(&t).to_owned())
                .collect::<Vec<_>>())
        })
        .unwrap()
    };
    assert!(tables(&mut c.r).contains(&"calls".to_owned()));
    c.r.in_pending(|txn, _| {
        for t in txn.list_tables().map_err(crate::storage)? {
            if ["calls", "call_ids"].contains(&redb::TableHandle::name(&t)) {
                txn.delete_table(t).map_err(crate::storage)?;
            }
        }
        Ok(())
    })
    .unwrap();
    c.plain(100, reserve("MTLP0001", TH, "MTLE101226"));
    let names = tables(&mut c.r);
    assert!(!names.contains(&"calls".to_owned()), "{names:?}");
    assert!(!names.contains(&"call_ids".to_owned()), "{names:?}");
}

#[test]
fn snapshots_carry_the_remembered_calls_and_import_replaces_them() {
    let mut c = C::new(1_000, 3);
    for (i, request) in sample_workload().into_iter().enumerate() {
        let id = format!("urn:{i}");
        let id = (i % 2 == 0).then_some(id.as_str());
        c.call(i as u64 * 10, id, request);
    }
    let snap = c.r.export().unwrap();
    assert_eq!(
        c.remembered(),
        ids(&[("urn:4", 5), ("urn:6", 7), ("urn:8", 9)])
    );
    assert_eq!(Snapshot::decode(&snap.encode()).unwrap(), snap);
    assert_eq!(c.r.digest().unwrap(), snap.digest());
    let (slots, _) = snap.clone().into_parts();
    assert_ne!(
        snap.digest(),
        Snapshot::new(slots.clone()).unwrap().digest()
    );

    // The calls another replica remembered are replaced, not merged.
    let mut other = C::new(1_000, 3);
    other.call(0, Some("urn:other"), schedule("MTLP0001"));
    other.call(1, Some("urn:6"), schedule("MTLP0001"));
    other.r.import(c.r.applied_seq(), &snap).unwrap();
    assert_eq!(other.r.export().unwrap(), snap);
    assert_eq!(other.r.digest().unwrap(), snap.digest());

    // Both now answer every call alike: repeats, reuses, forgetting by count and by age (which
    // also checks the count and oldest time the import left in memory).
    // Remembered after the import: urn:4 (seq 5, 40 ms), urn:6 (seq 7, 60 ms), urn:8 (seq 9,
    // 80 ms); max_age_ms 1000, max_entries 3.
    let later = [
        // Seq 11: urn:6 named another request.
        (
            100,
            Some("urn:6"),
            schedule("MTLP0001"),
            Code::MessageIdReused,
            None,
        ),
        // Seq 12: new, so urn:4 goes by count.
        (100, Some("urn:other"), schedule("MTLP0001"), Code::Ok, None),
        // Seq 13: urn:6 is exactly 1000 ms old, kept; seq 14: one ms more, forgotten.
        (1_060, None, schedule("TORP0002"), Code::Ok, None),
        (1_061, Some("urn:6"), schedule("TORP0002"), Code::Ok, None),
        // Seq 15: a repeat of seq 9.
        (
            1_062,
            Some("urn:8"),
            sample_workload()[8].clone(),
            Code::Reserved,
            Some(9),
        ),
        // Seq 16: urn:8 (80 ms) goes by age, urn:other (100 ms) stays.
        (1_100, Some("urn:x"), list("MTLA0001", TH), Code::Ok, None),
    ];
    for (time, id, request, code, repeat) in later {
        let want = c.call(time, id, request.clone());
        assert_eq!((want.reply.code, want.repeat_of), (code, repeat), "{id:?}");
        assert_eq!(other.call(time, id, request), want, "{id:?}");
    }
    assert_eq!(other.r.export().unwrap(), c.r.export().unwrap());
    assert_eq!(
        c.remembered(),
        ids(&[("urn:other", 12), ("urn:6", 14), ("urn:x", 16)])
    );

    // A snapshot without calls forgets them all.
    other
        .r
        .import(50, &Snapshot::new(slots.clone()).unwrap())
        .unwrap();
    assert!(other.remembered().is_empty());
    assert_eq!(other.r.export().unwrap().slots(), slots);
    let out = other.call(2_000, Some("urn:6"), schedule("MTLP0001"));
    assert_eq!(out.repeat_of, None);
}

#[test]
fn remembered_calls_survive_a_reopen() {
    let memory = CallMemory {
        max_age_ms: 100,
        max_entries: 3,
    };
    let at = |time_ms, id: Option<&str>, request| TestCall {
        time_ms,
        id: id.map(mid),
        request,
    };
    for durability in [Durability::Sync, Durability::Deferred] {
        let dir = tempfile::tempdir().unwrap();
        let before = {
            let mut r = KvReplica::open(dir.path(), durability).unwrap();
            call_at(
                &mut r,
                memory,
                &at(0, Some("a"), add("MTLA0001", TH, "MTLE101226", 5)),
            );
            call_at(
                &mut r,
                memory,
                &at(50, Some("b"), reserve("MTLP0001", TH, "MTLE101226")),
            );
            call_at(&mut r, memory, &at(60, Some("c"), schedule("MTLP0001")));
            r.export().unwrap()
        };
        let mut r = KvReplica::open(dir.path(), durability).unwrap();
        assert_eq!(r.applied_seq(), 3, "{durability:?}");
        assert_eq!(r.export().unwrap(), before);
        let remembered = |r: &KvReplica| -> Vec<(String, u64)> {
            let snap = r.export().unwrap();
            snap.calls()
                .iter()
                .map(|c| (c.message_id.to_string(), c.seq))
                .collect()
        };
        // The repeat is found on disk.
        let again = call_at(
            &mut r,
            memory,
            &at(70, Some("b"), reserve("MTLP0001", TH, "MTLE101226")),
        );
        assert_eq!(again, repeat_of(Reply::code(Code::Reserved), 2));
        // The oldest time was loaded at open: a plain call forgets "a".
        call_at(&mut r, memory, &at(101, None, schedule("MTLP0002")));
        assert_eq!(remembered(&r), ids(&[("b", 2), ("c", 3)]));
        // And so was the count: the fourth remembered call pushes out the lowest seq.
        call_at(&mut r, memory, &at(101, Some("d"), schedule("MTLP0002")));
        call_at(&mut r, memory, &at(102, Some("e"), schedule("MTLP0003")));
        assert_eq!(remembered(&r), ids(&[("c", 3), ("d", 6), ("e", 7)]));
        let after = r.export().unwrap();
        drop(r);
        let r = KvReplica::open(dir.path(), durability).unwrap();
        assert_eq!(r.applied_seq(), 7);
        assert_eq!(r.export().unwrap(), after);
    }
}

/// Random calls over [`random_workload`]: retries of earlier calls (some long forgotten),
/// message ids from a small pool (so ids are often reused for other requests), plain calls,
/// and a clock advancing by 0 to 39 ms per call.
fn random_calls(seed: u64, n: usize) -> Vec<TestCall> {
    let mut rng = tessera_testkit::Rng::new(seed.wrapping_mul(31).wrapping_add(7));
    let pool = ["urn:a", "urn:b", "urn:c", "urn:d", "urn:e", "urn:f"];
    let mut time_ms = 1_000_000;
    let mut out: Vec<TestCall> = Vec::with_capacity(n);
    for request in random_workload(seed, n) {
        time_ms += rng.below(40);
        let earlier: Vec<&TestCall> = out.iter().filter(|c| c.id.is_some()).collect();
        let call = match rng.below(8) {
            0 | 1 if !earlier.is_empty() => TestCall {
                time_ms,
                ..earlier[rng.index(earlier.len())].clone()
            },
            2..=4 => TestCall {
                time_ms,
                id: Some(mid(pool[rng.index(pool.len())])),
                request,
            },
            _ => TestCall {
                time_ms,
                id: None,
                request,
            },
        };
        out.push(call);
    }
    out
}

/// Limits small enough for [`random_calls`] to forget by age and by count.
const RANDOM_MEMORY: CallMemory = CallMemory {
    max_age_ms: 200,
    max_entries: 4,
};

/// "Repeated calls" written as literally as possible: the remembered calls in a list in seq
/// order, scanned linearly, in front of a replica that sees only the executed requests.
struct Model {
    domain: KvReplica,
    remembered: Vec<CallRecord>,
    seq: u64,
    /// How often each rule fired: repeats, reuses, forgotten by age, forgotten by count.
    fired: [usize; 4],
}

impl Model {
    fn new() -> Model {
        Model {
            domain: KvReplica::in_memory().unwrap(),
            remembered: Vec::new(),
            seq: 0,
            fired: [0; 4],
        }
    }

    fn call(&mut self, c: &TestCall, memory: CallMemory) -> Outcome {
        self.seq += 1;
        let before = self.remembered.len();
        self.remembered
            .retain(|r| c.time_ms - r.time_ms <= memory.max_age_ms);
        self.fired[2] += before - self.remembered.len();
        let first =
            c.id.as_ref()
                .and_then(|id| self.remembered.iter().find(|r| &r.message_id == id));
        if let Some(first) = first {
            if first.request == c.request {
                self.fired[0] += 1;
                return repeat_of(first.reply.clone(), first.seq);
            }
            self.fired[1] += 1;
            return Outcome::fresh(Reply::code(Code::MessageIdReused));
        }
        let domain_seq = self.domain.applied_seq() + 1;
        let reply = self.domain.apply(domain_seq, &c.request).unwrap();
        if let Some(id) = &c.id {
            self.remembered.push(CallRecord {
                message_id: id.clone(),
                seq: self.seq,
                time_ms: c.time_ms,
                request: c.request.clone(),
                reply: reply.clone(),
            });
            while self.remembered.len() as u64 > memory.max_entries {
                self.remembered.remove(0);
                self.fired[3] += 1;
            }
        }
        Outcome::fresh(reply)
    }

    fn export(&self) -> Snapshot {
        let slots = self.domain.export().unwrap().into_slots();
        Snapshot::with_calls(slots, self.remembered.clone()).unwrap()
    }
}

#[test]
fn random_calls_agree_with_a_literal_model() {
    let mut fired = [0; 4];
    for seed in 1..=8 {
        let mut r = KvReplica::in_memory().unwrap();
        let mut model = Model::new();
        for (i, c) in random_calls(seed, 300).iter().enumerate() {
            let want = model.call(c, RANDOM_MEMORY);
            let got = call_at(&mut r, RANDOM_MEMORY, c);
            assert_eq!(got.encode(), want.encode(), "seed {seed}, call {i}: {c:?}");
            if i % 25 == 0 {
                assert_eq!(r.export().unwrap(), model.export(), "seed {seed}, call {i}");
            }
        }
        let snap = model.export();
        assert_eq!(r.export().unwrap(), snap);
        assert_eq!(r.digest().unwrap(), snap.digest());
        for (total, n) in fired.iter_mut().zip(model.fired) {
            *total += n;
        }
    }
    // Every rule fired, and more than a few times.
    assert!(fired.iter().all(|&n| n > 20), "{fired:?}");
}

#[test]
fn random_calls_agree_with_the_model_across_syncs_and_reopens() {
    let calls = random_calls(4711, 240);
    let mut model = Model::new();
    for durability in [Durability::Deferred, Durability::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let mut r = KvReplica::open(dir.path(), durability).unwrap();
        model = Model::new();
        for (i, c) in calls.iter().enumerate() {
            let want = model.call(c, RANDOM_MEMORY);
            assert_eq!(call_at(&mut r, RANDOM_MEMORY, c), want, "call {i}");
            if i % 13 == 0 {
                r.sync().unwrap();
            }
            if i % 61 == 0 {
                // Reopened: the summary of the remembered calls is read back from disk.
                drop(r);
                r = KvReplica::open(dir.path(), durability).unwrap();
                assert_eq!(r.export().unwrap(), model.export(), "call {i}");
            }
        }
        assert_eq!(r.export().unwrap(), model.export());
    }
    assert!(model.fired.iter().all(|&n| n > 0), "{:?}", model.fired);
}

// ---------------------------------------------------------------------------------------------
// Snapshots

fn sample_workload() -> Vec<Request> {
    vec![
        add("MTLA0001", TH, "MTLE101226", 3),
        add("TORA0001", CO, "TORM111226", 2),
        add("VANA0001", AG, "VANA290228", 1),
        add("MTLA0001", CO, "MTLE101226", 5),
        reserve("MTLP0001", TH, "MTLE101226"),
        reserve("TORP0002", TH, "MTLE101226"),
        reserve("TORP0002", CO, "TORM111226"),
        reserve("VANP0003", AG, "VANA290228"),
        reserve("VANP0004", CO, "MTLE101226"),
        exchange("MTLP0001", TH, "MTLE101226", CO, "TORM111226"),
    ]
}

#[test]
fn export_import_round_trip() {
    let mut h = H::new();
    for req in sample_workload() {
        h.run(req);
    }
    let snap = h.state();
    assert_eq!(snap.slots().len(), 4);
    assert_eq!(Snapshot::decode(&snap.encode()).unwrap(), snap);
    assert_eq!(h.r.digest().unwrap(), snap.digest());

    // Import replaces whatever was there.
    let mut other = H::new();
    other.slot(TH, "VANE010101", 9);
    other.ok(reserve("VANP0009", TH, "VANE010101"), Code::Reserved);
    other.r.import(h.r.applied_seq(), &snap).unwrap();
    assert_eq!(other.state(), snap);
    assert_eq!(other.r.applied_seq(), h.r.applied_seq());

    // Both now answer every request identically.
    let more = [
        list("MTLA0001", TH),
        list("MTLA0001", CO),
        schedule("TORP0002"),
        schedule("VANP0009"),
        reserve("VANP0009", TH, "VANE010101"),
        remove("TORA0001", CO, "TORM111226"),
        reserve("TORP0005", TH, "MTLE101226"),
        reserve("TORP0006", TH, "MTLE101226"),
        add("MTLA0001", TH, "MTLE101226", 1),
        cancel("TORP0002", TH, "MTLE101226"),
    ];
    for req in more {
        assert_eq!(h.run(req.clone()).encode(), other.run(req).encode());
    }
    assert_eq!(h.state(), other.state());

    // Importing the empty snapshot empties the replica; the sequence number is the one given.
    other.r.import(3, &Snapshot::default()).unwrap();
    assert!(other.state().slots().is_empty());
    assert_eq!(other.r.applied_seq(), 3);
    assert!(other.r.apply(5, &schedule("MTLP0001")).is_err());
    assert_eq!(other.code(list("MTLA0001", TH)), Code::Ok);
    assert!(other.available(TH).is_empty());
}

#[test]
fn import_rebuilds_the_indexes() {
    let mut h = H::new();
    for req in sample_workload() {
        h.run(req);
    }
    let mut other = KvReplica::in_memory().unwrap();
    other.import(100, &h.state()).unwrap();
    let mut other = H { r: other };
    // Holder counts, the participant index and the holder index all came with the snapshot.
    assert_eq!(other.available(CO), h.available(CO));
    assert_eq!(other.schedule("TORP0002"), h.schedule("TORP0002"));
    other.ok(reserve("MTLP0001", CO, "TORM111226"), Code::AlreadyReserved);
    other.ok(reserve("VANP0009", AG, "VANA290228"), Code::SlotFull);
    assert_eq!(
        other.run(remove("TORA0001", CO, "TORM111226")),
        Reply::removed(0, 2)
    );
}

// ---------------------------------------------------------------------------------------------
// Persistence

fn replay(requests: &[Request]) -> (Vec<Vec<u8>>, Snapshot) {
    let mut r = KvReplica::in_memory().unwrap();
    let replies = requests
        .iter()
        .zip(1..)
        .map(|(req, seq)| r.apply(seq, req).unwrap().encode())
        .collect();
    (replies, r.export().unwrap())
}

#[test]
fn reopen_after_drop_resumes() {
    for durability in [Durability::Sync, Durability::Deferred] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("replica");
        let work = sample_workload();
        let (first, last) = work.split_at(6);
        {
            let mut r = KvReplica::open(&path, durability).unwrap();
            for (req, seq) in first.iter().zip(1..) {
                r.apply(seq, req).unwrap();
            }
        }
        let mut r = KvReplica::open(&path, durability).unwrap();
        assert_eq!(r.applied_seq(), 6, "{durability:?}");
        assert_eq!(r.export().unwrap(), replay(first).1);
        let mut replies = Vec::new();
        for (req, seq) in last.iter().zip(7..) {
            replies.push(r.apply(seq, req).unwrap().encode());
        }
        r.sync().unwrap();
        let (expected, state) = replay(&work);
        assert_eq!(replies, expected[6..]);
        assert_eq!(r.export().unwrap(), state);
        drop(r);
        let r = KvReplica::open(&path, durability).unwrap();
        assert_eq!(r.applied_seq(), 10);
        assert_eq!(r.export().unwrap(), state);
    }
}

#[test]
fn import_persists() {
    let dir = tempfile::tempdir().unwrap();
    let (_, snap) = replay(&sample_workload());
    {
        let mut r = KvReplica::open(dir.path(), Durability::Sync).unwrap();
        r.apply(1, &add("MTLA0001", AG, "MTLM010126", 1)).unwrap();
        r.import(42, &snap).unwrap();
    }
    let r = KvReplica::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!(r.applied_seq(), 42);
    assert_eq!(r.export().unwrap(), snap);
}

/// A deterministic pseudo-random workload over a small space of identifiers, so that most
/// requests hit existing slots and every rule fires.
fn random_workload(seed: u64, n: usize) -> Vec<Request> {
    let mut rng = tessera_testkit::Rng::new(seed);
    let mut next = move |m: usize| rng.index(m);
    let cities = ["MTL", "TOR", "VAN"];
    let types = [AG, CO, TH];
    // Sunday 1, Monday 2 and Sunday 8 March: two weeks, with a week boundary in between.
    let dates = ["010326", "020326", "080326"];
    let mut out = Vec::with_capacity(n);
    // Earlier reservation attempts: cancels and exchanges mostly name one, so they get past
    // NOT_RESERVED often enough to matter.
    let mut tried: Vec<(String, &str, String)> = Vec::new();
    for _ in 0..n {
        let city = cities[next(3)];
        let event = format!("{}{}{}", city, ["M", "E"][next(2)], dates[next(3)]);
        let t = types[next(3)];
        let user = |role: &str, k: usize| format!("{}{}000{}", cities[k % 3], role, k % 4);
        let p = user("P", next(12));
        let op = next(20);
        let (p, t, event) = match op {
            14..=18 if !tried.is_empty() => tried[next(tried.len())].clone(),
            _ => (p, t, event),
        };
        let req = match op {
            0..=3 => add(&format!("{city}A0001"), t, &event, 1 + next(3) as i32),
            4 => remove(&format!("{city}A0001"), t, &event),
            5 => list(&user("A", next(3)), t),
            6..=12 => {
                tried.push((p.clone(), t, event.clone()));
                reserve(&p, t, &event)
            }
            13 => schedule(&p),
            14..=15 => cancel(&p, t, &event),
            16..=18 if !tried.is_empty() => {
                // Some other reserved-for slot, which probably exists.
                let (_, nt, ne) = tried[next(tried.len())].clone();
                exchange(&p, t, &event, nt, &ne)
            }
            16..=18 => exchange(&p, t, &event, t, &event),
            19 if next(2) == 0 => reserve(&format!("{city}A0001"), t, &event),
            _ => add(&user("A", next(3)), t, &event, 2),
        };
        out.push(req);
    }
    out
}

#[test]
fn random_workloads_keep_the_indexes_consistent() {
    use std::collections::BTreeMap;
    for seed in 1..=8 {
        let mut h = H::new();
        let mut codes = BTreeMap::new();
        for req in random_workload(seed * 7919, 400) {
            *codes.entry(h.code(req)).or_insert(0) += 1;
        }
        // Every index agrees with the holder sets that export reads.
        let snap = h.state();
        for t in [AG, CO, TH] {
            let expected: BTreeMap<String, u32> = snap
                .slots()
                .iter()
                .filter(|s| s.event_type.as_str() == t)
                .map(|s| (s.event_id.to_string(), s.capacity - s.holders.len() as u32))
                .collect();
            let listed: BTreeMap<String, u32> = h.available(t).into_iter().collect();
            assert_eq!(listed, expected);
        }
        let mut held: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in snap.slots() {
            for p in &s.holders {
                held.entry(p.to_string())
                    .or_default()
                    .push(format!("{} {}", s.event_type, s.event_id));
            }
        }
        for city in ["MTL", "TOR", "VAN"] {
            for k in 0..4 {
                let p = format!("{city}P000{k}");
                let mut got = h.schedule(&p);
                got.sort();
                let mut want = held.remove(&p).unwrap_or_default();
                want.sort();
                assert_eq!(got, want, "{p}");
            }
        }
        assert!(held.is_empty());
        // The workload exercised the interesting codes.
        for code in [
            Code::Reserved,
            Code::TimeConflict,
            Code::SlotFull,
            Code::Exchanged,
            Code::Removed,
            Code::NotReserved,
            Code::NotAuthorized,
        ] {
            assert!(
                codes.contains_key(&code),
                "seed {seed}: no {code}: {codes:?}"
            );
        }
    }
}

#[test]
fn file_and_memory_replicas_agree_byte_for_byte() {
    let work = random_workload(12345, 300);
    let (expected, state) = replay(&work);
    let dir = tempfile::tempdir().unwrap();
    let mut r = KvReplica::open(dir.path(), Durability::Deferred).unwrap();
    for ((req, seq), want) in work.iter().zip(1..).zip(&expected) {
        assert_eq!(&r.apply(seq, req).unwrap().encode(), want);
    }
    assert_eq!(r.export().unwrap(), state);
}

// ---------------------------------------------------------------------------------------------
// Crash consistency: a child process applies a workload of calls, some with message ids, and
// aborts without closing.

const CRASH_DIR: &str = "REPLICA_KV_CRASH_DIR";
const CRASH_MODE: &str = "REPLICA_KV_CRASH_MODE";
const CRASH_TOTAL: usize = 120;
const CRASH_SYNC_AT: u64 = 70;
/// In mode "group" the child syncs after every this many requests, like a group-committing host.
const CRASH_GROUP: u64 = 16;

#[test]
#[ignore = "child process of the crash_* tests"]
fn crash_child() {
    let (Ok(dir), Ok(mode)) = (std::env::var(CRASH_DIR), std::env::var(CRASH_MODE)) else {
        return;
    };
    let durability = if mode == "sync" {
        Durability::Sync
    } else {
        Durability::Deferred
    };
    let mut r = KvReplica::open(Path::new(&dir), durability).unwrap();
    for (c, seq) in random_calls(777, CRASH_TOTAL).iter().zip(1..) {
        call_at(&mut r, RANDOM_MEMORY, c);
        let sync = match mode.as_str() {
            "group" => seq % CRASH_GROUP == 0,
            _ => seq == CRASH_SYNC_AT,
        };
        if sync {
            r.sync().unwrap();
        }
    }
    // Reads through the open transaction must not commit it.
    r.export().unwrap();
    // No destructors, no close: as if the process had been killed.
    std::process::abort();
}

fn crash_and_reopen(mode: &str, durability: Durability) -> (tempfile::TempDir, KvReplica) {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["tests::crash_child", "--exact", "--ignored", "--quiet"])
        .env(CRASH_DIR, dir.path())
        .env(CRASH_MODE, mode)
        .status()
        .unwrap();
    assert!(!status.success(), "the child should have aborted");
    let r = KvReplica::open(dir.path(), durability).unwrap();
    (dir, r)
}

/// The reopened replica holds exactly the first `applied_seq()` calls, remembered calls
/// included, and goes on from there as if it had never crashed.
fn assert_consistent(r: &mut KvReplica) {
    let work = random_calls(777, CRASH_TOTAL);
    let applied = usize::try_from(r.applied_seq()).unwrap();
    assert!(applied <= CRASH_TOTAL);
    let mut model = Model::new();
    for c in &work[..applied] {
        model.call(c, RANDOM_MEMORY);
    }
    let state = r.export().unwrap();
    assert_eq!(state, model.export());
    assert!(!state.calls().is_empty(), "the workload remembers calls");
    for (i, c) in work.iter().enumerate().skip(applied) {
        let want = model.call(c, RANDOM_MEMORY);
        assert_eq!(call_at(r, RANDOM_MEMORY, c), want, "call {i}");
    }
    assert_eq!(r.export().unwrap(), model.export());
}

#[test]
fn crash_with_sync_durability_loses_nothing() {
    let (_dir, mut r) = crash_and_reopen("sync", Durability::Sync);
    assert_eq!(r.applied_seq(), CRASH_TOTAL as u64);
    assert_consistent(&mut r);
    let seq = r.applied_seq() + 1;
    assert_eq!(r.apply(seq, &schedule("MTLP0001")).unwrap().code, Code::Ok);
}

#[test]
fn crash_with_deferred_durability_keeps_a_consistent_prefix() {
    let (_dir, mut r) = crash_and_reopen("deferred", Durability::Deferred);
    // Everything up to the sync survived; the requests after it were never committed.
    assert_eq!(r.applied_seq(), CRASH_SYNC_AT);
    assert_consistent(&mut r);
    let seq = r.applied_seq() + 1;
    assert_eq!(r.apply(seq, &schedule("MTLP0001")).unwrap().code, Code::Ok);
}

#[test]
fn crash_with_group_commit_resumes_at_the_last_sync() {
    let (_dir, mut r) = crash_and_reopen("group", Durability::Deferred);
    let last_sync = CRASH_TOTAL as u64 / CRASH_GROUP * CRASH_GROUP;
    assert_eq!(r.applied_seq(), last_sync);
    assert_consistent(&mut r);
    let seq = r.applied_seq() + 1;
    assert_eq!(r.apply(seq, &schedule("MTLP0001")).unwrap().code, Code::Ok);
    r.sync().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Deferred mode: one open write transaction between syncs.

#[test]
fn deferred_mode_reads_see_unsynced_requests_and_failed_checks_change_nothing() {
    let work = random_workload(4242, 400);
    let (expected, state) = replay(&work);
    let dir = tempfile::tempdir().unwrap();
    let mut r = KvReplica::open(dir.path(), Durability::Deferred).unwrap();
    let mut failures = 0;
    for ((req, seq), want) in work.iter().zip(1..).zip(&expected) {
        let before = r.export().unwrap();
        let reply = r.apply(seq, req).unwrap();
        assert_eq!(&reply.encode(), want, "request {seq}");
        assert_eq!(r.applied_seq(), seq);
        if !reply.success() {
            failures += 1;
            assert_eq!(
                r.export().unwrap(),
                before,
                "request {seq} failed but wrote"
            );
        }
        if seq % 7 == 0 {
            r.sync().unwrap();
            assert_eq!(r.applied_seq(), seq);
        }
    }
    assert!(failures > 50, "{failures}");
    assert_eq!(r.export().unwrap(), state);
    assert_eq!(r.digest().unwrap(), state.digest());
    // 400 is not a multiple of 7: the last requests are only committed by the drop.
    drop(r);
    let r = KvReplica::open(dir.path(), Durability::Deferred).unwrap();
    assert_eq!(r.applied_seq(), 400);
    assert_eq!(r.export().unwrap(), state);
}

#[test]
fn deferred_import_joins_the_open_transaction() {
    let (_, snap) = replay(&sample_workload());
    let dir = tempfile::tempdir().unwrap();
    {
        let mut r = KvReplica::open(dir.path(), Durability::Deferred).unwrap();
        r.apply(1, &add("MTLA0001", AG, "MTLM010126", 1)).unwrap();
        r.import(42, &snap).unwrap();
        assert_eq!(r.applied_seq(), 42);
        assert_eq!(r.export().unwrap(), snap);
        let reply = r.apply(43, &schedule("MTLP0001")).unwrap();
        assert_eq!(reply.code, Code::Ok);
    }
    let r = KvReplica::open(dir.path(), Durability::Deferred).unwrap();
    assert_eq!(r.applied_seq(), 43);
    assert_eq!(r.export().unwrap(), snap);
}

/// An in-memory backend whose writes and syncs fail once `fail` is set.
#[derive(Debug)]
struct FlakyBackend {
    inner: redb::backends::InMemoryBackend,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FlakyBackend {
    fn check(&self) -> Result<(), std::io::Error> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            Err(std::io::Error::other("injected failure"))
        } else {
            Ok(())
        }
    }
}

impl redb::StorageBackend for FlakyBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.write(offset, data)
    }
}

#[test]
fn deferred_storage_failure_fails_the_replica_at_its_last_sync() {
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let backend = FlakyBackend {
        inner: redb::backends::InMemoryBackend::new(),
        fail: fail.clone(),
    };
    let db = redb::Database::builder()
        .create_with_backend(backend)
        .unwrap();
    let mut r = KvReplica::with_database(db, Durability::Deferred).unwrap();
    let work = random_workload(99, 30);
    for (req, seq) in work[..20].iter().zip(1..) {
        r.apply(seq, req).unwrap();
    }
    r.sync().unwrap();
    for (req, seq) in work[20..].iter().zip(21..) {
        r.apply(seq, req).unwrap();
    }
    fail.store(true, std::sync::atomic::Ordering::SeqCst);
    // The commit fails: requests 21 to 30 are lost, and never reported durable.
    assert!(matches!(r.sync(), Err(ReplicaError::Storage(_))));
    assert_eq!(r.applied_seq(), 20);
    // The replica stays failed, even once the storage works again.
    fail.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(
        r.apply(21, &work[20]),
        Err(ReplicaError::Storage(_))
    ));
    assert!(matches!(r.sync(), Err(ReplicaError::Storage(_))));
    assert!(matches!(r.export(), Err(ReplicaError::Storage(_))));
    assert!(matches!(r.digest(), Err(ReplicaError::Storage(_))));
    let (_, snap) = replay(&work[..20]);
    assert!(matches!(r.import(20, &snap), Err(ReplicaError::Storage(_))));
    assert_eq!(r.applied_seq(), 20);
}

#[test]
fn deferred_error_inside_a_request_aborts_back_to_the_last_sync() {
    let work = random_workload(7, 20);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut r = KvReplica::open(dir.path(), Durability::Deferred).unwrap();
        for (req, seq) in work[..10].iter().zip(1..) {
            r.apply(seq, req).unwrap();
        }
        r.sync().unwrap();
        for (req, seq) in work[10..].iter().zip(11..) {
            r.apply(seq, req).unwrap();
        }
        // What `apply` does when redb fails between two writes of a request: the request has
        // written something, then the error aborts the open transaction.
        let err = r
            .in_pending(|txn, _| {
                crate::store::set_applied_seq(txn, 999).map_err(crate::storage)?;
                Err::<(), _>(crate::storage("injected failure"))
            })
            .unwrap_err();
        assert!(matches!(err, ReplicaError::Storage(_)));
        assert_eq!(r.applied_seq(), 10);
        assert!(matches!(
            r.apply(11, &work[10]),
            Err(ReplicaError::Storage(_))
        ));
        assert!(matches!(r.sync(), Err(ReplicaError::Storage(_))));
        assert!(matches!(r.export(), Err(ReplicaError::Storage(_))));
    }
    // The drop of a failed replica commits nothing; the reopened one is at the last sync.
    let r = KvReplica::open(dir.path(), Durability::Deferred).unwrap();
    assert_eq!(r.applied_seq(), 10);
    assert_eq!(r.export().unwrap(), replay(&work[..10]).1);
}

#[test]
fn replica_is_send() {
    fn send<T: Send + 'static>() {}
    send::<KvReplica>();
}
