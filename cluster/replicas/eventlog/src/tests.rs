//! Behaviour of the whole replica against `docs/domain.md`, and its persistence.
//!
//! Every scenario runs through [`Harness`], which drives an in-memory replica and an on-disk
//! one side by side: their replies must be byte-identical, a request that fails (or only
//! reads) must leave the state digest unchanged, and when the harness is dropped the on-disk
//! replica is reopened from its log and must come back with the same state and sequence.

use std::fs;
use std::path::Path;

use tessera_types::{
    Code, Durability, EventId, EventType, Replica, ReplicaError, Reply, ReplyBody, Request,
    SlotRecord, Snapshot, UserId,
};

use crate::log::LOG_FILE;
use crate::EventLogReplica;

const ART: &str = "ArtGallery";
const CON: &str = "Concerts";
const THE: &str = "Theatre";

fn code(c: Code) -> Reply {
    Reply::code(c)
}

fn add_req(admin: &str, t: &str, e: &str, capacity: i32) -> Request {
    Request::AddReservationSlot {
        admin_id: admin.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
        capacity: tessera_types::Capacity::new(capacity).unwrap(),
    }
}

fn remove_req(admin: &str, t: &str, e: &str) -> Request {
    Request::RemoveReservationSlot {
        admin_id: admin.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
    }
}

fn list_req(admin: &str, t: &str) -> Request {
    Request::ListReservationSlotAvailable {
        admin_id: admin.parse().unwrap(),
        event_type: t.parse().unwrap(),
    }
}

fn reserve_req(p: &str, t: &str, e: &str) -> Request {
    Request::ReserveTicket {
        participant_id: p.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
    }
}

fn schedule_req(p: &str) -> Request {
    Request::GetEventSchedule {
        participant_id: p.parse().unwrap(),
    }
}

fn cancel_req(p: &str, t: &str, e: &str) -> Request {
    Request::CancelTicket {
        participant_id: p.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
    }
}

fn exchange_req(p: &str, t: &str, e: &str, nt: &str, ne: &str) -> Request {
    Request::ExchangeTicket {
        participant_id: p.parse().unwrap(),
        event_type: t.parse().unwrap(),
        event_id: e.parse().unwrap(),
        new_event_type: nt.parse().unwrap(),
        new_event_id: ne.parse().unwrap(),
    }
}

fn reopen(dir: &Path) -> EventLogReplica {
    EventLogReplica::open(dir, Durability::Deferred).unwrap()
}

struct Harness {
    mem: EventLogReplica,
    disk: EventLogReplica,
    dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let disk = reopen(dir.path());
        Harness {
            mem: EventLogReplica::in_memory(),
            disk,
            dir,
        }
    }

    fn run(&mut self, request: Request) -> Reply {
        let before = self.mem.digest().unwrap();
        let seq = self.mem.applied_seq() + 1;
        let reply = self.mem.apply(seq, &request).unwrap();
        let disk_reply = self.disk.apply(seq, &request).unwrap();
        assert_eq!(reply.encode(), disk_reply.encode(), "{request:?}");
        let after = self.mem.digest().unwrap();
        assert_eq!(after, self.disk.digest().unwrap(), "{request:?}");
        assert_eq!(self.disk.applied_seq(), seq);
        if !reply.success() || request.is_read_only() {
            assert_eq!(before, after, "{request:?} -> {reply:?} changed the state");
        }
        reply
    }

    fn add(&mut self, admin: &str, t: &str, e: &str, capacity: i32) -> Reply {
        self.run(add_req(admin, t, e, capacity))
    }

    fn remove(&mut self, admin: &str, t: &str, e: &str) -> Reply {
        self.run(remove_req(admin, t, e))
    }

    fn list(&mut self, admin: &str, t: &str) -> Reply {
        self.run(list_req(admin, t))
    }

    fn reserve(&mut self, p: &str, t: &str, e: &str) -> Reply {
        self.run(reserve_req(p, t, e))
    }

    fn schedule(&mut self, p: &str) -> Reply {
        self.run(schedule_req(p))
    }

    fn cancel(&mut self, p: &str, t: &str, e: &str) -> Reply {
        self.run(cancel_req(p, t, e))
    }

    fn exchange(&mut self, p: &str, t: &str, e: &str, nt: &str, ne: &str) -> Reply {
        self.run(exchange_req(p, t, e, nt, ne))
    }

    /// Creates slots with an admin of each event's own city.
    fn slots(&mut self, slots: &[(&str, &str, i32)]) {
        for &(t, e, capacity) in slots {
            let admin = format!("{}A0001", &e[..3]);
            assert_eq!(self.add(&admin, t, e, capacity), code(Code::Created));
        }
    }

    fn reserve_ok(&mut self, p: &str, t: &str, e: &str) {
        assert_eq!(self.reserve(p, t, e), code(Code::Reserved), "{p} {t} {e}");
    }

    /// A participant's schedule as (event ID, type) text pairs.
    fn held(&mut self, p: &str) -> Vec<(String, &'static str)> {
        match self.schedule(p).body {
            ReplyBody::Schedule(rows) => rows
                .iter()
                .map(|b| (b.event_id.to_string(), b.event_type.as_str()))
                .collect(),
            other => panic!("not a schedule: {other:?}"),
        }
    }

    /// `listReservationSlotAvailable` rows as (event ID, available).
    fn available(&mut self, t: &str) -> Vec<(String, u32)> {
        match self.list("MTLA0001", t).body {
            ReplyBody::Slots(rows) => rows
                .iter()
                .map(|r| {
                    assert_eq!(r.event_type.as_str(), t);
                    (r.event_id.to_string(), r.available)
                })
                .collect(),
            other => panic!("not a slot list: {other:?}"),
        }
    }
}

fn pairs(items: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    items.iter().map(|&(e, t)| (e.to_string(), t)).collect()
}

fn avail(items: &[(&str, u32)]) -> Vec<(String, u32)> {
    items.iter().map(|&(e, n)| (e.to_string(), n)).collect()
}

impl Drop for Harness {
    /// Checks that the log alone rebuilds what the scenario did. Skipped while a test is
    /// already failing, where a second panic would abort and hide the first.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let old = std::mem::replace(&mut self.disk, EventLogReplica::in_memory());
        drop(old);
        let reopened = reopen(self.dir.path());
        assert_eq!(reopened.applied_seq(), self.mem.applied_seq());
        assert_eq!(reopened.digest().unwrap(), self.mem.digest().unwrap());
    }
}

// ---------------------------------------------------------------------------------------
// Step 0: argument syntax

#[test]
fn capacity_bounds_are_inclusive() {
    let mut h = Harness::new();
    assert_eq!(h.add("MTLA0001", ART, "MTLM010126", 1), code(Code::Created));
    assert_eq!(
        h.add("MTLA0001", ART, "MTLA010126", 100_000),
        code(Code::Created)
    );
    assert_eq!(
        h.available(ART),
        avail(&[("MTLM010126", 1), ("MTLA010126", 100_000)])
    );
}

#[test]
fn a_wellformed_id_of_the_wrong_role_is_not_authorized() {
    let mut h = Harness::new();
    h.slots(&[(THE, "TORA020226", 3)]);
    assert_eq!(
        h.add("TORP0001", THE, "TORM020226", 3),
        code(Code::NotAuthorized)
    );
    assert_eq!(
        h.remove("TORP0001", THE, "TORA020226"),
        code(Code::NotAuthorized)
    );
    assert_eq!(h.list("TORP0001", THE), code(Code::NotAuthorized));
    assert_eq!(
        h.reserve("TORA0001", THE, "TORA020226"),
        code(Code::NotAuthorized)
    );
    assert_eq!(h.schedule("TORA0001"), code(Code::NotAuthorized));
    assert_eq!(
        h.cancel("TORA0001", THE, "TORA020226"),
        code(Code::NotAuthorized)
    );
    assert_eq!(
        h.exchange("TORA0001", THE, "TORA020226", THE, "TORA020226"),
        code(Code::NotAuthorized)
    );
}

// ---------------------------------------------------------------------------------------
// addReservationSlot

#[test]
fn add_creates_updates_and_refuses_below_booked() {
    let mut h = Harness::new();
    assert_eq!(
        h.add("TORA0001", CON, "MTLE101226", 2),
        code(Code::NotAuthorized),
        "admin of another city"
    );
    assert_eq!(h.add("MTLA0001", CON, "MTLE101226", 2), code(Code::Created));
    assert_eq!(
        h.add("MTLA0002", CON, "MTLE101226", 2),
        code(Code::Updated),
        "unchanged capacity is still UPDATED"
    );
    assert_eq!(h.add("MTLA0001", CON, "MTLE101226", 3), code(Code::Updated));
    assert_eq!(h.available(CON), avail(&[("MTLE101226", 3)]));
    h.reserve_ok("MTLP0001", CON, "MTLE101226");
    h.reserve_ok("TORP0001", CON, "MTLE101226");
    assert_eq!(
        h.add("MTLA0001", CON, "MTLE101226", 1),
        code(Code::CapacityBelowBooked)
    );
    assert_eq!(
        h.add("TORA0001", CON, "MTLE101226", 1),
        code(Code::NotAuthorized),
        "authorization is checked before the slot"
    );
    assert_eq!(h.add("MTLA0001", CON, "MTLE101226", 2), code(Code::Updated));
    assert_eq!(h.available(CON), avail(&[("MTLE101226", 0)]));
    assert_eq!(
        h.reserve("VANP0001", CON, "MTLE101226"),
        code(Code::SlotFull)
    );
}

#[test]
fn same_event_id_under_two_types_is_two_slots() {
    let mut h = Harness::new();
    assert_eq!(h.add("VANA0001", CON, "VANA150326", 1), code(Code::Created));
    assert_eq!(h.add("VANA0001", THE, "VANA150326", 4), code(Code::Created));
    assert_eq!(h.available(CON), avail(&[("VANA150326", 1)]));
    assert_eq!(h.available(THE), avail(&[("VANA150326", 4)]));
    h.reserve_ok("VANP0001", CON, "VANA150326");
    assert_eq!(
        h.reserve("VANP0001", THE, "VANA150326"),
        code(Code::TimeConflict),
        "same when"
    );
    h.reserve_ok("VANP0002", THE, "VANA150326");
    assert_eq!(
        h.cancel("VANP0001", THE, "VANA150326"),
        code(Code::NotReserved)
    );
    assert_eq!(
        h.reserve("VANP0003", CON, "VANA150326"),
        code(Code::SlotFull)
    );
    assert_eq!(
        h.remove("VANA0001", CON, "VANA150326"),
        Reply::removed(0, 1)
    );
    assert_eq!(h.available(CON), avail(&[]));
    assert_eq!(h.available(THE), avail(&[("VANA150326", 3)]));
    assert_eq!(h.held("VANP0002"), pairs(&[("VANA150326", THE)]));
}

// ---------------------------------------------------------------------------------------
// listReservationSlotAvailable

#[test]
fn list_is_by_city_then_when_for_any_admin() {
    let mut h = Harness::new();
    h.slots(&[
        (ART, "VANM010126", 5),
        (ART, "TORE311225", 5),
        (ART, "MTLE020126", 5),
        (ART, "MTLM020126", 5),
        (ART, "MTLA020126", 5),
        (ART, "MTLM311299", 5),
        (ART, "MTLM010100", 5),
        (THE, "MTLM010126", 5),
    ]);
    h.reserve_ok("MTLP0001", ART, "MTLA020126");
    let expected = [
        ("MTLM010100", 5),
        ("MTLM020126", 5),
        ("MTLA020126", 4),
        ("MTLE020126", 5),
        ("MTLM311299", 5),
        ("TORE311225", 5),
        ("VANM010126", 5),
    ];
    assert_eq!(h.available(ART), avail(&expected));
    // An admin of any city sees all cities.
    let from_van = h.list("VANA0001", ART);
    let from_mtl = h.list("MTLA0001", ART);
    assert_eq!(from_van.encode(), from_mtl.encode());
    assert_eq!(h.list("TORA0001", CON), Reply::slots(vec![]));
}

// ---------------------------------------------------------------------------------------
// reserveTicket

#[test]
fn reserve_checks_in_order() {
    let mut h = Harness::new();
    h.slots(&[
        (CON, "MTLE101226", 1),
        (THE, "TORE101226", 5),
        (ART, "VANM101226", 5),
    ]);
    assert_eq!(
        h.reserve("MTLP0001", CON, "MTLE111226"),
        code(Code::NoSuchSlot)
    );
    assert_eq!(
        h.reserve("MTLP0001", THE, "MTLE101226"),
        code(Code::NoSuchSlot),
        "the event ID exists under another type only"
    );
    h.reserve_ok("MTLP0001", CON, "MTLE101226");
    assert_eq!(
        h.reserve("MTLP0001", CON, "MTLE101226"),
        code(Code::AlreadyReserved),
        "already reserved beats full"
    );
    assert_eq!(
        h.reserve("TORP0001", CON, "MTLE101226"),
        code(Code::SlotFull)
    );
    h.reserve_ok("TORP0002", THE, "TORE101226");
    assert_eq!(
        h.reserve("TORP0002", CON, "MTLE101226"),
        code(Code::SlotFull),
        "full beats time conflict"
    );
    assert_eq!(
        h.reserve("MTLP0001", THE, "TORE101226"),
        code(Code::TimeConflict),
        "same when, other city and type"
    );
    h.reserve_ok("MTLP0001", ART, "VANM101226");
    assert_eq!(
        h.held("MTLP0001"),
        pairs(&[("VANM101226", ART), ("MTLE101226", CON)])
    );
}

#[test]
fn other_city_limit_is_three_per_week() {
    let mut h = Harness::new();
    // Week of Monday 5 January 2026.
    h.slots(&[
        (ART, "TORM050126", 5),
        (CON, "VANA060126", 5),
        (THE, "TORE110126", 5),
        (ART, "VANM090126", 5),
        (ART, "VANE110126", 5),
        (CON, "MTLM080126", 5),
        (ART, "TORM120126", 5),
        (CON, "VANE040126", 5),
    ]);
    h.reserve_ok("MTLP0001", ART, "TORM050126");
    h.reserve_ok("MTLP0001", CON, "VANA060126");
    h.reserve_ok("MTLP0001", THE, "TORE110126");
    assert_eq!(
        h.reserve("MTLP0001", ART, "VANM090126"),
        code(Code::OtherCityLimit)
    );
    assert_eq!(
        h.reserve("MTLP0001", ART, "VANE110126"),
        code(Code::TimeConflict),
        "time conflict is checked before the limit"
    );
    h.reserve_ok("MTLP0001", CON, "MTLM080126"); // home city: no limit
    h.reserve_ok("MTLP0001", ART, "TORM120126"); // next Monday
    h.reserve_ok("MTLP0001", CON, "VANE040126"); // previous Sunday
                                                 // The limit is per participant: the home city of another is not "other".
    h.reserve_ok("VANP0001", ART, "VANM090126");
    h.reserve_ok("TORP0001", ART, "VANM090126");
    assert_eq!(
        h.cancel("MTLP0001", CON, "VANA060126"),
        code(Code::Cancelled)
    );
    h.reserve_ok("MTLP0001", ART, "VANM090126");
}

#[test]
fn weeks_cross_the_year_end() {
    let mut h = Harness::new();
    // Monday 29 December 2025 .. Sunday 4 January 2026 is one week.
    h.slots(&[
        (CON, "TORM291225", 5),
        (CON, "VANA311225", 5),
        (THE, "TORE010126", 5),
        (ART, "VANE040126", 5),
        (ART, "VANE281225", 5),
        (ART, "VANM050126", 5),
    ]);
    h.reserve_ok("MTLP0001", CON, "TORM291225");
    h.reserve_ok("MTLP0001", CON, "VANA311225");
    h.reserve_ok("MTLP0001", THE, "TORE010126");
    assert_eq!(
        h.reserve("MTLP0001", ART, "VANE040126"),
        code(Code::OtherCityLimit)
    );
    h.reserve_ok("MTLP0001", ART, "VANE281225");
    h.reserve_ok("MTLP0001", ART, "VANM050126");
}

#[test]
fn leap_days() {
    let mut h = Harness::new();
    assert_eq!(
        h.add("MTLA0001", THE, "MTLM290200", 5),
        code(Code::Created),
        "2000 is a leap year"
    );
    // Tuesday 29 February 2028 is in the week Monday 28 February .. Sunday 5 March.
    h.slots(&[
        (THE, "VANE290228", 5),
        (THE, "VANM280228", 5),
        (THE, "TORM010328", 5),
        (THE, "TORE050328", 5),
        (THE, "TORM060328", 5),
        (THE, "VANE270228", 5),
    ]);
    for e in ["VANM280228", "VANE290228", "TORM010328"] {
        h.reserve_ok("MTLP0001", THE, e);
    }
    assert_eq!(
        h.reserve("MTLP0001", THE, "TORE050328"),
        code(Code::OtherCityLimit)
    );
    h.reserve_ok("MTLP0001", THE, "TORM060328");
    h.reserve_ok("MTLP0001", THE, "VANE270228");
    h.reserve_ok("MTLP0001", THE, "MTLM290200");
    assert_eq!(
        h.held("MTLP0001"),
        pairs(&[
            ("MTLM290200", THE),
            ("VANE270228", THE),
            ("VANM280228", THE),
            ("VANE290228", THE),
            ("TORM010328", THE),
            ("TORM060328", THE),
        ])
    );
}

// ---------------------------------------------------------------------------------------
// getEventSchedule

#[test]
fn schedule_is_by_when() {
    let mut h = Harness::new();
    assert_eq!(h.schedule("TORP0001"), Reply::schedule(vec![]));
    h.slots(&[
        (THE, "VANM010126", 5),
        (ART, "MTLE010126", 5),
        (CON, "TORA010126", 5),
        (ART, "MTLM311225", 5),
        (CON, "TORM020126", 5),
    ]);
    for (t, e) in [
        (CON, "TORM020126"),
        (ART, "MTLE010126"),
        (THE, "VANM010126"),
        (CON, "TORA010126"),
        (ART, "MTLM311225"),
    ] {
        h.reserve_ok("TORP0001", t, e);
    }
    assert_eq!(
        h.held("TORP0001"),
        pairs(&[
            ("MTLM311225", ART),
            ("VANM010126", THE),
            ("TORA010126", CON),
            ("MTLE010126", ART),
            ("TORM020126", CON),
        ])
    );
}

#[test]
fn schedule_breaks_when_ties_by_city_then_type() {
    // The rules never let one participant hold two reservations with the same when, but an
    // imported snapshot is only checked structurally, so the tie order must still be exact.
    let p = UserId::parse("MTLP0001").unwrap();
    let rec = |t: EventType, e: &str| SlotRecord {
        event_type: t,
        event_id: EventId::parse(e).unwrap(),
        capacity: 1,
        holders: vec![p],
    };
    let snapshot = Snapshot::new(vec![
        rec(EventType::Theatre, "VANM010126"),
        rec(EventType::ArtGallery, "VANM010126"),
        rec(EventType::Theatre, "MTLM010126"),
        rec(EventType::Concerts, "TORM010126"),
        rec(EventType::Concerts, "MTLM010126"),
        rec(EventType::ArtGallery, "TORE311225"),
    ])
    .unwrap();
    let mut h = Harness::new();
    h.mem.import(5, &snapshot).unwrap();
    h.disk.import(5, &snapshot).unwrap();
    assert_eq!(
        h.held("MTLP0001"),
        pairs(&[
            ("TORE311225", ART),
            ("MTLM010126", CON),
            ("MTLM010126", THE),
            ("TORM010126", CON),
            ("VANM010126", ART),
            ("VANM010126", THE),
        ])
    );
}

// ---------------------------------------------------------------------------------------
// cancelTicket

#[test]
fn cancel_codes() {
    let mut h = Harness::new();
    h.slots(&[(ART, "TORA200626", 1)]);
    assert_eq!(
        h.cancel("TORP0001", ART, "TORA210626"),
        code(Code::NotReserved),
        "no such slot is not reserved"
    );
    assert_eq!(
        h.cancel("TORP0001", ART, "TORA200626"),
        code(Code::NotReserved)
    );
    h.reserve_ok("TORP0001", ART, "TORA200626");
    assert_eq!(
        h.cancel("TORP0002", ART, "TORA200626"),
        code(Code::NotReserved)
    );
    assert_eq!(
        h.cancel("TORP0001", ART, "TORA200626"),
        code(Code::Cancelled)
    );
    assert_eq!(
        h.cancel("TORP0001", ART, "TORA200626"),
        code(Code::NotReserved)
    );
    assert_eq!(h.available(ART), avail(&[("TORA200626", 1)]));
    assert_eq!(h.held("TORP0001"), pairs(&[]));
    h.reserve_ok("TORP0002", ART, "TORA200626");
}

// ---------------------------------------------------------------------------------------
// exchangeTicket

#[test]
fn exchange_checks_in_order_and_is_atomic() {
    let mut h = Harness::new();
    h.slots(&[
        (CON, "MTLM050126", 1),
        (CON, "MTLE050126", 5),
        (THE, "MTLM050126", 5),
        (THE, "MTLA050126", 1),
        (THE, "TORE050126", 5),
    ]);
    assert_eq!(
        h.exchange("MTLP0001", CON, "MTLM050126", CON, "MTLM070126"),
        code(Code::NotReserved),
        "not reserved beats no such new slot"
    );
    h.reserve_ok("MTLP0001", CON, "MTLM050126");
    assert_eq!(
        h.exchange("MTLP0001", CON, "MTLM050126", CON, "MTLM070126"),
        code(Code::NoSuchSlot)
    );
    assert_eq!(
        h.exchange("MTLP0001", CON, "MTLM050126", CON, "MTLM050126"),
        code(Code::AlreadyReserved),
        "new = old"
    );
    h.reserve_ok("MTLP0001", CON, "MTLE050126");
    assert_eq!(
        h.exchange("MTLP0001", CON, "MTLM050126", CON, "MTLE050126"),
        code(Code::AlreadyReserved)
    );
    h.reserve_ok("MTLP0009", THE, "MTLA050126");
    assert_eq!(
        h.exchange("MTLP0001", CON, "MTLM050126", THE, "MTLA050126"),
        code(Code::SlotFull)
    );
    assert_eq!(
        h.exchange("MTLP0001", CON, "MTLM050126", THE, "TORE050126"),
        code(Code::TimeConflict),
        "clashes with the evening reservation that stays"
    );
    let before = h.held("MTLP0001");
    assert_eq!(
        before,
        pairs(&[("MTLM050126", CON), ("MTLE050126", CON)]),
        "failed exchanges changed nothing"
    );
    // Same when as the reservation given up: judged as if it were already cancelled.
    assert_eq!(
        h.exchange("MTLP0001", CON, "MTLM050126", THE, "MTLM050126"),
        code(Code::Exchanged)
    );
    assert_eq!(
        h.held("MTLP0001"),
        pairs(&[("MTLM050126", THE), ("MTLE050126", CON)])
    );
    assert_eq!(
        h.available(CON),
        avail(&[("MTLM050126", 1), ("MTLE050126", 4)])
    );
    assert_eq!(
        h.available(THE),
        avail(&[("MTLM050126", 4), ("MTLA050126", 0), ("TORE050126", 5)])
    );
}

#[test]
fn exchange_other_city_limit_discounts_the_old_reservation() {
    let mut h = Harness::new();
    // Week of Monday 5 January 2026.
    h.slots(&[
        (ART, "TORM060126", 5),
        (ART, "TORE060126", 5),
        (ART, "VANM070126", 5),
        (CON, "MTLM080126", 5),
        (ART, "VANM090126", 5),
        (ART, "VANM120126", 5),
    ]);
    for (t, e) in [
        (ART, "TORM060126"),
        (ART, "TORE060126"),
        (ART, "VANM070126"),
        (CON, "MTLM080126"),
    ] {
        h.reserve_ok("MTLP0002", t, e);
    }
    assert_eq!(
        h.exchange("MTLP0002", CON, "MTLM080126", ART, "VANM090126"),
        code(Code::OtherCityLimit)
    );
    assert_eq!(
        h.exchange("MTLP0002", ART, "TORM060126", ART, "VANM090126"),
        code(Code::Exchanged)
    );
    assert_eq!(
        h.exchange("MTLP0002", CON, "MTLM080126", ART, "VANM120126"),
        code(Code::Exchanged),
        "next week"
    );
    assert_eq!(
        h.held("MTLP0002"),
        pairs(&[
            ("TORE060126", ART),
            ("VANM070126", ART),
            ("VANM090126", ART),
            ("VANM120126", ART),
        ])
    );
}

// ---------------------------------------------------------------------------------------
// removeReservationSlot

#[test]
fn remove_codes() {
    let mut h = Harness::new();
    h.slots(&[(ART, "VANE010726", 3)]);
    assert_eq!(
        h.remove("MTLA0001", ART, "VANE010726"),
        code(Code::NotAuthorized)
    );
    assert_eq!(
        h.remove("MTLA0001", ART, "VANE020726"),
        code(Code::NotAuthorized),
        "authorization before existence"
    );
    assert_eq!(
        h.remove("VANA0001", ART, "VANE020726"),
        code(Code::NoSuchSlot)
    );
    assert_eq!(
        h.remove("VANA0001", CON, "VANE010726"),
        code(Code::NoSuchSlot)
    );
    assert_eq!(
        h.remove("VANA0002", ART, "VANE010726"),
        Reply::removed(0, 0)
    );
    assert_eq!(h.available(ART), avail(&[]));
    assert_eq!(
        h.remove("VANA0001", ART, "VANE010726"),
        code(Code::NoSuchSlot)
    );
}

#[test]
fn removal_moves_holders_in_ascending_order_to_the_earliest_later_slot() {
    let mut h = Harness::new();
    h.slots(&[
        (CON, "MTLA050126", 5), // removed
        (CON, "MTLE050126", 1), // first choice
        (CON, "MTLM060126", 1), // second choice
        (CON, "MTLM040126", 5), // earlier: never a target
        (CON, "MTLM050126", 5), // same day, earlier slot: never a target
        (THE, "MTLM070126", 5), // other type
        (CON, "TORM070126", 5), // other city
    ]);
    for p in ["MTLP0003", "TORP0002", "MTLP0001"] {
        h.reserve_ok(p, CON, "MTLA050126");
    }
    assert_eq!(
        h.remove("MTLA0001", CON, "MTLA050126"),
        Reply::removed(2, 1)
    );
    assert_eq!(h.held("MTLP0001"), pairs(&[("MTLE050126", CON)]));
    assert_eq!(h.held("MTLP0003"), pairs(&[("MTLM060126", CON)]));
    assert_eq!(h.held("TORP0002"), pairs(&[]));
    assert_eq!(
        h.available(CON),
        avail(&[
            ("MTLM040126", 5),
            ("MTLM050126", 5),
            ("MTLE050126", 0),
            ("MTLM060126", 0),
            ("TORM070126", 5),
        ])
    );
    assert_eq!(h.available(THE), avail(&[("MTLM070126", 5)]));
}

#[test]
fn removal_skips_slots_the_holder_cannot_take() {
    let mut h = Harness::new();
    h.slots(&[
        (CON, "MTLM050126", 5), // removed
        (CON, "MTLA050126", 5),
        (CON, "MTLE050126", 5),
        (THE, "TORA050126", 5),
    ]);
    // P1 already holds the earliest candidate.
    h.reserve_ok("MTLP0001", CON, "MTLM050126");
    h.reserve_ok("MTLP0001", CON, "MTLA050126");
    // P2 holds something else at the earliest candidate's when.
    h.reserve_ok("MTLP0002", CON, "MTLM050126");
    h.reserve_ok("MTLP0002", THE, "TORA050126");
    // P3 is free.
    h.reserve_ok("MTLP0003", CON, "MTLM050126");
    assert_eq!(
        h.remove("MTLA0001", CON, "MTLM050126"),
        Reply::removed(3, 0)
    );
    assert_eq!(
        h.held("MTLP0001"),
        pairs(&[("MTLA050126", CON), ("MTLE050126", CON)])
    );
    assert_eq!(
        h.held("MTLP0002"),
        pairs(&[("TORA050126", THE), ("MTLE050126", CON)])
    );
    assert_eq!(h.held("MTLP0003"), pairs(&[("MTLA050126", CON)]));
}

#[test]
fn removal_capacity_counts_earlier_moves_of_the_same_removal() {
    let mut h = Harness::new();
    h.slots(&[(ART, "TORM010326", 4), (ART, "TORA010326", 2)]);
    for p in ["TORP0004", "TORP0001", "TORP0003", "TORP0002"] {
        h.reserve_ok(p, ART, "TORM010326");
    }
    h.reserve_ok("TORP0009", ART, "TORA010326");
    assert_eq!(
        h.remove("TORA0001", ART, "TORM010326"),
        Reply::removed(1, 3)
    );
    assert_eq!(h.held("TORP0001"), pairs(&[("TORA010326", ART)]));
    for p in ["TORP0002", "TORP0003", "TORP0004"] {
        assert_eq!(h.held(p), pairs(&[]));
    }
}

#[test]
fn removal_other_city_count_excludes_the_removed_slot() {
    let mut h = Harness::new();
    // Week of Monday 5 January 2026.
    h.slots(&[
        (CON, "MTLM050126", 5), // removed
        (CON, "MTLM070126", 5),
        (ART, "VANM060126", 5),
        (ART, "VANE060126", 5),
        (ART, "TORM060126", 5),
        (ART, "TORE060126", 5),
        (ART, "TORA060126", 5),
    ]);
    for (p, e) in [
        ("TORP0001", "MTLM050126"),
        ("TORP0001", "VANM060126"),
        ("TORP0001", "VANE060126"),
        // A home-city holder is not limited by their own other-city reservations.
        ("MTLP0001", "MTLM050126"),
        ("MTLP0001", "TORM060126"),
        ("MTLP0001", "TORE060126"),
        ("MTLP0001", "TORA060126"),
    ] {
        let t = if e.starts_with("MTL") { CON } else { ART };
        h.reserve_ok(p, t, e);
    }
    assert_eq!(
        h.remove("MTLA0001", CON, "MTLM050126"),
        Reply::removed(2, 0)
    );
    assert_eq!(
        h.held("TORP0001"),
        pairs(&[
            ("VANM060126", ART),
            ("VANE060126", ART),
            ("MTLM070126", CON)
        ])
    );
    assert_eq!(h.available(CON), avail(&[("MTLM070126", 3)]));
}

#[test]
fn removal_other_city_limit_skips_to_a_later_week_or_drops() {
    let mut h = Harness::new();
    h.slots(&[
        (CON, "MTLM020126", 5), // removed; week of 29 December 2025
        (CON, "MTLM070126", 5), // week of 5 January 2026
        (CON, "MTLM130126", 5), // week of 12 January 2026
        (ART, "VANM060126", 5),
        (ART, "VANE060126", 5),
        (THE, "VANM080126", 5),
        (ART, "VANM140126", 5),
        (ART, "VANE140126", 5),
        (THE, "VANM150126", 5),
    ]);
    let first_week = [
        (ART, "VANM060126"),
        (ART, "VANE060126"),
        (THE, "VANM080126"),
    ];
    let second_week = [
        (ART, "VANM140126"),
        (ART, "VANE140126"),
        (THE, "VANM150126"),
    ];
    for p in ["TORP0002", "TORP0003", "TORP0004"] {
        h.reserve_ok(p, CON, "MTLM020126");
    }
    for (t, e) in first_week {
        h.reserve_ok("TORP0002", t, e);
        h.reserve_ok("TORP0004", t, e);
    }
    for (t, e) in &first_week[..2] {
        h.reserve_ok("TORP0003", t, e);
    }
    for (t, e) in second_week {
        h.reserve_ok("TORP0004", t, e);
    }
    assert_eq!(
        h.remove("MTLA0001", CON, "MTLM020126"),
        Reply::removed(2, 1)
    );
    assert!(h
        .held("TORP0002")
        .contains(&("MTLM130126".to_string(), CON)));
    assert!(h
        .held("TORP0003")
        .contains(&("MTLM070126".to_string(), CON)));
    assert_eq!(h.held("TORP0004").len(), 6);
    assert_eq!(
        h.available(CON),
        avail(&[("MTLM070126", 4), ("MTLM130126", 4)])
    );
}

// ---------------------------------------------------------------------------------------
// Sequencing, snapshots, persistence

#[test]
fn sequence_numbers_must_be_consecutive() {
    let dir = tempfile::tempdir().unwrap();
    let mut replicas = [
        EventLogReplica::in_memory(),
        EventLogReplica::open(dir.path(), Durability::Sync).unwrap(),
    ];
    let add = add_req("MTLA0001", CON, "MTLE101226", 2);
    for r in &mut replicas {
        for bad in [0, 2, u64::MAX] {
            match r.apply(bad, &add) {
                Err(ReplicaError::Sequence { expected: 1, got }) => assert_eq!(got, bad),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(r.applied_seq(), 0);
        assert_eq!(r.export().unwrap(), Snapshot::default());
        assert_eq!(r.apply(1, &add).unwrap(), code(Code::Created));
        assert!(matches!(
            r.apply(1, &add),
            Err(ReplicaError::Sequence {
                expected: 2,
                got: 1
            })
        ));
        assert_eq!(r.apply(2, &add).unwrap(), code(Code::Updated));
        assert_eq!(r.applied_seq(), 2);
    }
    let log_len = fs::metadata(dir.path().join(LOG_FILE)).unwrap().len();
    let mut disk = reopen(dir.path());
    assert_eq!(disk.applied_seq(), 2);
    assert!(disk.apply(4, &add).is_err());
    assert_eq!(
        fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
        log_len,
        "a refused request writes nothing"
    );
}

#[test]
fn sequence_after_the_largest_seq_is_refused() {
    let mut r = EventLogReplica::in_memory();
    r.import(u64::MAX, &Snapshot::default()).unwrap();
    assert!(matches!(
        r.apply(0, &schedule_req("MTLP0001")),
        Err(ReplicaError::Sequence { .. })
    ));
    assert_eq!(r.applied_seq(), u64::MAX);
}

/// A scenario touching every kind of event; ends with a removal that moves and drops.
fn scenario() -> Vec<Request> {
    vec![
        add_req("MTLA0001", CON, "MTLM050126", 3),
        add_req("MTLA0001", CON, "MTLE050126", 1),
        add_req("MTLA0001", THE, "MTLM050126", 2),
        add_req("TORA0001", ART, "TORA060126", 2),
        reserve_req("MTLP0002", CON, "MTLM050126"),
        reserve_req("MTLP0001", CON, "MTLM050126"),
        reserve_req("TORP0001", CON, "MTLM050126"),
        reserve_req("TORP0001", ART, "TORA060126"),
        add_req("MTLA0001", CON, "MTLM050126", 4),
        reserve_req("TORP0009", THE, "MTLM050126"),
        exchange_req("TORP0009", THE, "MTLM050126", ART, "TORA060126"),
        cancel_req("TORP0001", ART, "TORA060126"),
        list_req("VANA0001", CON),
        schedule_req("MTLP0001"),
        reserve_req("MTLP0001", CON, "MTLM050126"),
        remove_req("MTLA0001", CON, "MTLM050126"),
    ]
}

fn run_all(r: &mut EventLogReplica, requests: &[Request]) -> Vec<Reply> {
    requests
        .iter()
        .map(|q| r.apply(r.applied_seq() + 1, q).unwrap())
        .collect()
}

#[test]
fn reopen_restores_state_and_seq_in_both_durabilities() {
    for durability in [Durability::Sync, Durability::Deferred] {
        let dir = tempfile::tempdir().unwrap();
        let mut mem = EventLogReplica::in_memory();
        let expected = run_all(&mut mem, &scenario());
        assert_eq!(expected.last(), Some(&Reply::removed(1, 2)));
        {
            let mut disk = EventLogReplica::open(dir.path(), durability).unwrap();
            assert_eq!(run_all(&mut disk, &scenario()), expected);
            disk.sync().unwrap();
        }
        let mut disk = EventLogReplica::open(dir.path(), durability).unwrap();
        assert_eq!(disk.applied_seq(), mem.applied_seq());
        assert_eq!(disk.export().unwrap(), mem.export().unwrap());
        // Requests that change nothing are remembered too.
        let tail = [
            schedule_req("MTLP0001"),
            cancel_req("MTLP0001", CON, "MTLM010126"),
        ];
        run_all(&mut disk, &tail);
        drop(disk);
        let disk = EventLogReplica::open(dir.path(), durability).unwrap();
        assert_eq!(disk.applied_seq(), mem.applied_seq() + 2);
        assert_eq!(disk.digest().unwrap(), mem.digest().unwrap());
    }
}

/// A crash is the process dying with the replica's buffers: `mem::forget` skips the drop
/// that would write them out.
fn crash(r: EventLogReplica) {
    std::mem::forget(r);
}

#[test]
fn a_crash_before_the_sync_loses_exactly_the_unsynced_requests() {
    let dir = tempfile::tempdir().unwrap();
    let all = scenario();
    let (synced, unsynced) = all.split_at(all.len() / 2);
    let mut mem = EventLogReplica::in_memory();
    run_all(&mut mem, synced);
    let mut disk = reopen(dir.path());
    run_all(&mut disk, synced);
    disk.sync().unwrap();
    run_all(&mut disk, unsynced);
    crash(disk);
    let mut disk = reopen(dir.path());
    assert_eq!(disk.applied_seq(), synced.len() as u64);
    assert_eq!(disk.export().unwrap(), mem.export().unwrap());
    // The manager delivers the lost requests again, with the same replies.
    assert_eq!(run_all(&mut disk, unsynced), run_all(&mut mem, unsynced));
}

#[test]
fn a_long_batch_is_written_out_whole_requests_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = reopen(dir.path());
    let mut mem = EventLogReplica::in_memory();
    run_all(&mut disk, &scenario());
    run_all(&mut mem, &scenario());
    // Far more than the write-out threshold of bare commit markers, never synced.
    let reads = vec![schedule_req("MTLP0001"); 10_000];
    run_all(&mut disk, &reads);
    crash(disk);
    let disk = reopen(dir.path());
    let seq = disk.applied_seq();
    assert!(
        seq > scenario().len() as u64 && seq < (scenario().len() + reads.len()) as u64,
        "part of the batch was written out before the sync: reopened at {seq}"
    );
    // Reads change nothing: the state is the scenario's, at a request boundary.
    assert_eq!(disk.export().unwrap(), mem.export().unwrap());
}

#[test]
fn export_import_round_trip() {
    let mut source = EventLogReplica::in_memory();
    run_all(&mut source, &scenario());
    let snapshot = source.export().unwrap();
    assert_eq!(Snapshot::decode(&snapshot.encode()).unwrap(), snapshot);
    assert!(!snapshot.slots().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let mut mem = EventLogReplica::in_memory();
    let mut disk = reopen(dir.path());
    // Whatever was there before is replaced, not merged.
    let junk = [add_req("VANA0001", ART, "VANM010130", 9)];
    run_all(&mut mem, &junk);
    run_all(&mut disk, &junk);
    for r in [&mut mem, &mut disk] {
        r.import(42, &snapshot).unwrap();
        assert_eq!(r.applied_seq(), 42);
        assert_eq!(r.export().unwrap(), snapshot);
        assert_eq!(r.digest().unwrap(), source.digest().unwrap());
        assert!(r.apply(42, &schedule_req("MTLP0001")).is_err());
    }
    // The imported state behaves like the original.
    let more = [
        reserve_req("VANP0001", CON, "MTLE050126"),
        remove_req("MTLA0001", CON, "MTLE050126"),
        schedule_req("TORP0009"),
    ];
    source.import(42, &snapshot).unwrap();
    let expected = run_all(&mut source, &more);
    assert_eq!(run_all(&mut mem, &more), expected);
    assert_eq!(run_all(&mut disk, &more), expected);
    drop(disk);
    let disk = reopen(dir.path());
    assert_eq!(disk.applied_seq(), 45);
    assert_eq!(disk.digest().unwrap(), source.digest().unwrap());

    let mut empty = reopen(dir.path());
    empty.import(3, &Snapshot::default()).unwrap();
    drop(empty);
    let empty = reopen(dir.path());
    assert_eq!(
        (empty.applied_seq(), empty.export().unwrap()),
        (3, Snapshot::default())
    );
}

#[test]
fn compaction_keeps_state_and_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = reopen(dir.path());
    run_all(&mut disk, &scenario());
    let digest = disk.digest().unwrap();
    let path = disk.log_path().unwrap().to_path_buf();
    disk.sync().unwrap();
    let before = fs::metadata(&path).unwrap().len();
    disk.compact().unwrap();
    assert!(fs::metadata(&path).unwrap().len() < before);
    run_all(&mut disk, &[schedule_req("TORP0001")]);
    drop(disk);
    let disk = reopen(dir.path());
    assert_eq!(disk.applied_seq(), scenario().len() as u64 + 1);
    assert_eq!(disk.digest().unwrap(), digest);
}

/// Per request of `scenario()`: (log length, seq, digest) after it, starting with the fresh log.
fn checkpoints(dir: &Path) -> Vec<(u64, u64, tessera_types::Digest)> {
    let mut disk = reopen(dir);
    let path = disk.log_path().unwrap().to_path_buf();
    let mark = |r: &mut EventLogReplica| {
        // Deferred mode writes the log out at the sync.
        r.sync().unwrap();
        (
            fs::metadata(&path).unwrap().len(),
            r.applied_seq(),
            r.digest().unwrap(),
        )
    };
    let mut marks = vec![mark(&mut disk)];
    for request in scenario() {
        run_all(&mut disk, &[request]);
        marks.push(mark(&mut disk));
    }
    marks
}

#[test]
fn torn_tail_recovers_the_previous_request() {
    let dir = tempfile::tempdir().unwrap();
    let marks = checkpoints(dir.path());
    let path = dir.path().join(LOG_FILE);
    let full = fs::read(&path).unwrap();
    let (prev_len, prev_seq, prev_digest) = marks[marks.len() - 2];
    let (last_len, last_seq, last_digest) = marks[marks.len() - 1];
    assert!(
        last_len - prev_len > 100,
        "the removal spans several records"
    );

    // Every cut inside the last request, including at its internal record boundaries.
    for cut in prev_len..last_len {
        fs::write(&path, &full[..cut as usize]).unwrap();
        let r = reopen(dir.path());
        assert_eq!(
            (r.applied_seq(), r.digest().unwrap()),
            (prev_seq, prev_digest)
        );
        drop(r);
        assert_eq!(fs::metadata(&path).unwrap().len(), prev_len, "tail cut off");
    }
    // Cuts further back land on the matching earlier request.
    for &(len, seq, digest) in &marks[..marks.len() - 1] {
        fs::write(&path, &full[..len as usize + 1]).unwrap();
        let r = reopen(dir.path());
        assert_eq!((r.applied_seq(), r.digest().unwrap()), (seq, digest));
    }
    // After recovery the log takes the request again.
    fs::write(&path, &full[..(last_len - 3) as usize]).unwrap();
    let mut r = reopen(dir.path());
    let last = scenario().pop().unwrap();
    assert_eq!(r.apply(last_seq, &last).unwrap(), Reply::removed(1, 2));
    drop(r);
    let r = reopen(dir.path());
    assert_eq!(
        (r.applied_seq(), r.digest().unwrap()),
        (last_seq, last_digest)
    );
}

#[test]
fn garbled_tail_recovers_the_previous_request() {
    let dir = tempfile::tempdir().unwrap();
    let marks = checkpoints(dir.path());
    let path = dir.path().join(LOG_FILE);
    let full = fs::read(&path).unwrap();
    let (prev_len, prev_seq, prev_digest) = marks[marks.len() - 2];
    let (last_len, last_seq, last_digest) = marks[marks.len() - 1];
    for at in prev_len..last_len {
        for flip in [0x01, 0x80] {
            let mut garbled = full.clone();
            garbled[at as usize] ^= flip;
            fs::write(&path, &garbled).unwrap();
            let r = reopen(dir.path());
            assert_eq!(
                (r.applied_seq(), r.digest().unwrap()),
                (prev_seq, prev_digest),
                "byte {at} ^ {flip:#x}"
            );
        }
    }
    // Junk after a complete request is cut off without losing the request.
    let mut junk = full.clone();
    junk.extend_from_slice(&[0xff; 40]);
    fs::write(&path, &junk).unwrap();
    let r = reopen(dir.path());
    assert_eq!(
        (r.applied_seq(), r.digest().unwrap()),
        (last_seq, last_digest)
    );
    drop(r);
    assert_eq!(fs::read(&path).unwrap(), full);
}

#[test]
fn torn_tail_after_an_import() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = EventLogReplica::in_memory();
    run_all(&mut source, &scenario());
    let snapshot = source.export().unwrap();
    let mut disk = reopen(dir.path());
    disk.import(100, &snapshot).unwrap();
    let path = disk.log_path().unwrap().to_path_buf();
    let base = fs::metadata(&path).unwrap().len();
    run_all(&mut disk, &[reserve_req("VANP0001", CON, "MTLE050126")]);
    drop(disk);
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() - 1]).unwrap();
    let r = reopen(dir.path());
    assert_eq!(r.applied_seq(), 100);
    assert_eq!(r.export().unwrap(), snapshot);
    assert_eq!(fs::metadata(&path).unwrap().len(), base);
}

#[test]
fn a_foreign_file_is_refused_and_a_stale_temporary_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("events.log.tmp"), b"half-written").unwrap();
    let mut r = reopen(dir.path());
    run_all(&mut r, &[add_req("MTLA0001", ART, "MTLM010126", 1)]);
    drop(r);
    assert!(!dir.path().join("events.log.tmp").exists());
    assert_eq!(reopen(dir.path()).applied_seq(), 1);

    fs::write(dir.path().join(LOG_FILE), b"not a log at all").unwrap();
    assert!(matches!(
        EventLogReplica::open(dir.path(), Durability::Sync),
        Err(ReplicaError::Storage(_))
    ));
}

#[test]
fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b");
    let r = reopen(&nested);
    assert_eq!(r.applied_seq(), 0);
    assert!(nested.join(LOG_FILE).exists());
}

mod calls;
