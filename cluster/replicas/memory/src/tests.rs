//! Operation-level tests: every code of every operation, removal moves, weeks, atomicity,
//! sequencing and state transfer, plus a randomized comparison against a naive model that
//! follows `docs/domain.md` literally with linear scans.

use tessera_types::{
    Booking, Code, EventId, EventType, Replica, ReplicaError, Reply, ReplyBody, Request,
    SlotAvailability, SlotRecord, Snapshot, UserId,
};

use crate::MemoryReplica;

const ART: &str = "ArtGallery";
const CON: &str = "Concerts";
const THE: &str = "Theatre";

/// A replica plus helpers that apply the next sequence number and check the indexes after
/// every request.
#[derive(Default)]
struct Harness {
    r: MemoryReplica,
}

impl Harness {
    fn run(&mut self, request: Request) -> Reply {
        let seq = self.r.applied_seq() + 1;
        let reply = self.r.apply(seq, &request).unwrap();
        assert_eq!(self.r.applied_seq(), seq);
        self.r.state.check_invariants();
        reply
    }

    fn add(&mut self, admin: &str, t: &str, e: &str, capacity: i32) -> Reply {
        self.run(Request::AddReservationSlot {
            admin_id: admin.into(),
            event_type: t.into(),
            event_id: e.into(),
            capacity,
        })
    }

    fn remove(&mut self, admin: &str, t: &str, e: &str) -> Reply {
        self.run(Request::RemoveReservationSlot {
            admin_id: admin.into(),
            event_type: t.into(),
            event_id: e.into(),
        })
    }

    fn list(&mut self, admin: &str, t: &str) -> Reply {
        self.run(Request::ListReservationSlotAvailable {
            admin_id: admin.into(),
            event_type: t.into(),
        })
    }

    fn reserve(&mut self, p: &str, t: &str, e: &str) -> Reply {
        self.run(Request::ReserveTicket {
            participant_id: p.into(),
            event_type: t.into(),
            event_id: e.into(),
        })
    }

    fn schedule(&mut self, p: &str) -> Reply {
        self.run(Request::GetEventSchedule {
            participant_id: p.into(),
        })
    }

    fn cancel(&mut self, p: &str, t: &str, e: &str) -> Reply {
        self.run(Request::CancelTicket {
            participant_id: p.into(),
            event_type: t.into(),
            event_id: e.into(),
        })
    }

    fn exchange(&mut self, p: &str, t: &str, e: &str, nt: &str, ne: &str) -> Reply {
        self.run(Request::ExchangeTicket {
            participant_id: p.into(),
            event_type: t.into(),
            event_id: e.into(),
            new_event_type: nt.into(),
            new_event_id: ne.into(),
        })
    }

    /// Creates a slot as the admin of its city.
    fn slot(&mut self, t: &str, e: &str, capacity: i32) {
        let admin = format!("{}A0001", &e[..3]);
        assert_eq!(self.add(&admin, t, e, capacity).code, Code::Created);
    }

    fn reserved(&mut self, p: &str, t: &str, e: &str) {
        assert_eq!(self.reserve(p, t, e).code, Code::Reserved, "{p} {t} {e}");
    }

    fn snapshot(&self) -> Snapshot {
        self.r.export().unwrap()
    }

    fn schedule_of(&mut self, p: &str) -> Vec<(String, String)> {
        match self.schedule(p).body {
            ReplyBody::Schedule(rows) => rows
                .into_iter()
                .map(|b| (b.event_id.to_string(), b.event_type.as_str().to_string()))
                .collect(),
            other => panic!("not a schedule: {other:?}"),
        }
    }

    fn list_of(&mut self, t: &str) -> Vec<(String, u32)> {
        match self.list("MTLA0001", t).body {
            ReplyBody::Slots(rows) => rows
                .into_iter()
                .map(|r| {
                    assert_eq!(r.event_type.as_str(), t);
                    (r.event_id.to_string(), r.available)
                })
                .collect(),
            other => panic!("not a slot list: {other:?}"),
        }
    }

    fn holders(&self, t: &str, e: &str) -> Vec<String> {
        let t = EventType::parse(t).unwrap();
        let e = EventId::parse(e).unwrap();
        self.snapshot()
            .slots()
            .iter()
            .find(|s| s.event_type == t && s.event_id == e)
            .map(|s| s.holders.iter().map(|h| h.to_string()).collect())
            .unwrap_or_default()
    }
}

fn sched(rows: &[(&str, &str)]) -> Vec<(String, String)> {
    rows.iter()
        .map(|(e, t)| (e.to_string(), t.to_string()))
        .collect()
}

fn avail(rows: &[(&str, u32)]) -> Vec<(String, u32)> {
    rows.iter().map(|(e, n)| (e.to_string(), *n)).collect()
}

// ---------------------------------------------------------------------------------------------
// Step 0 and sequencing

#[test]
fn invalid_arguments_consume_the_sequence_number_and_change_nothing() {
    let mut h = Harness::default();
    h.slot(CON, "MTLE101226", 2);
    h.reserved("MTLP0001", CON, "MTLE101226");
    let before = h.snapshot();
    let bad = [
        Request::AddReservationSlot {
            admin_id: "MTLA001".into(),
            event_type: CON.into(),
            event_id: "MTLE111226".into(),
            capacity: 1,
        },
        Request::AddReservationSlot {
            admin_id: "MTLA0001".into(),
            event_type: "concerts".into(),
            event_id: "MTLE111226".into(),
            capacity: 1,
        },
        Request::AddReservationSlot {
            admin_id: "MTLA0001".into(),
            event_type: CON.into(),
            event_id: "MTLE290227".into(),
            capacity: 1,
        },
        Request::AddReservationSlot {
            admin_id: "MTLA0001".into(),
            event_type: CON.into(),
            event_id: "MTLE111226".into(),
            capacity: 0,
        },
        Request::AddReservationSlot {
            admin_id: "MTLA0001".into(),
            event_type: CON.into(),
            event_id: "MTLE101226".into(),
            capacity: 100_001,
        },
        Request::AddReservationSlot {
            admin_id: "MTLA0001".into(),
            event_type: CON.into(),
            event_id: "MTLE101226".into(),
            capacity: -5,
        },
        Request::RemoveReservationSlot {
            admin_id: "MTLA0001".into(),
            event_type: CON.into(),
            event_id: "MTLX101226".into(),
        },
        Request::RemoveReservationSlot {
            admin_id: "NYCA0001".into(),
            event_type: CON.into(),
            event_id: "MTLE101226".into(),
        },
        Request::ListReservationSlotAvailable {
            admin_id: "MTLA0001".into(),
            event_type: "Concert".into(),
        },
        Request::ListReservationSlotAvailable {
            admin_id: "mtla0001".into(),
            event_type: CON.into(),
        },
        Request::ReserveTicket {
            participant_id: "MTLP0002".into(),
            event_type: CON.into(),
            event_id: "MTLE321226".into(),
        },
        Request::ReserveTicket {
            participant_id: "MTLX0002".into(),
            event_type: CON.into(),
            event_id: "MTLE101226".into(),
        },
        Request::GetEventSchedule {
            participant_id: "MTLP00011".into(),
        },
        Request::CancelTicket {
            participant_id: "MTLP0001".into(),
            event_type: "THEATRE".into(),
            event_id: "MTLE101226".into(),
        },
        Request::CancelTicket {
            participant_id: "MTLP0001".into(),
            event_type: CON.into(),
            event_id: "mtle101226".into(),
        },
        Request::ExchangeTicket {
            participant_id: "MTLP0001".into(),
            event_type: CON.into(),
            event_id: "MTLE101226".into(),
            new_event_type: CON.into(),
            new_event_id: "MTLE101326".into(),
        },
        Request::ExchangeTicket {
            participant_id: "MTLP0001".into(),
            event_type: CON.into(),
            event_id: "MTLE101226".into(),
            new_event_type: "Opera".into(),
            new_event_id: "MTLE111226".into(),
        },
        Request::ExchangeTicket {
            participant_id: "MTLP0001".into(),
            event_type: "".into(),
            event_id: "MTLE101226".into(),
            new_event_type: CON.into(),
            new_event_id: "MTLE111226".into(),
        },
    ];
    for (i, request) in bad.into_iter().enumerate() {
        let seq = h.r.applied_seq();
        let reply = h.run(request);
        assert_eq!(reply, Reply::code(Code::InvalidArgument), "case {i}");
        assert!(!reply.success());
        assert_eq!(h.r.applied_seq(), seq + 1, "case {i}");
        assert_eq!(h.snapshot(), before, "case {i}");
    }
}

#[test]
fn boundary_arguments_are_valid() {
    let mut h = Harness::default();
    assert_eq!(
        h.add("MTLA0001", THE, "MTLM290200", 100_000).code,
        Code::Created,
        "29 Feb 2000 and the largest capacity"
    );
    assert_eq!(h.add("VANA9999", THE, "VANE290228", 1).code, Code::Created);
    assert_eq!(
        h.add("VANA9999", THE, "VANE290227", 1).code,
        Code::InvalidArgument
    );
    assert_eq!(
        h.add("VANA9999", THE, "VANE290200", 1).code,
        Code::Created,
        "2000 is a leap year"
    );
}

#[test]
fn sequence_numbers_must_be_consecutive() {
    let mut r = MemoryReplica::new();
    let req = Request::AddReservationSlot {
        admin_id: "MTLA0001".into(),
        event_type: ART.into(),
        event_id: "MTLM010126".into(),
        capacity: 1,
    };
    for wrong in [0, 2, 7] {
        match r.apply(wrong, &req) {
            Err(ReplicaError::Sequence { expected, got }) => {
                assert_eq!((expected, got), (1, wrong));
            }
            other => panic!("expected a sequence error, got {other:?}"),
        }
        assert_eq!(r.applied_seq(), 0);
        assert!(r.export().unwrap().slots().is_empty(), "nothing applied");
    }
    assert_eq!(r.apply(1, &req).unwrap().code, Code::Created);
    assert_eq!(r.applied_seq(), 1);
    assert!(matches!(
        r.apply(1, &req),
        Err(ReplicaError::Sequence {
            expected: 2,
            got: 1
        })
    ));
    assert_eq!(r.apply(2, &req).unwrap().code, Code::Updated);
    // A failed check still consumes its number.
    let bad = Request::GetEventSchedule {
        participant_id: "MTLA0001".into(),
    };
    assert_eq!(r.apply(3, &bad).unwrap().code, Code::NotAuthorized);
    assert_eq!(r.applied_seq(), 3);
}

#[test]
fn sequence_after_import_continues_from_the_imported_number() {
    let mut r = MemoryReplica::new();
    r.import(u64::MAX, &Snapshot::default()).unwrap();
    let req = Request::GetEventSchedule {
        participant_id: "MTLP0001".into(),
    };
    // No number follows u64::MAX; wrapping to 0 must not be accepted.
    assert!(r.apply(0, &req).is_err());
    r.import(41, &Snapshot::default()).unwrap();
    assert!(r.apply(41, &req).is_err());
    assert_eq!(r.apply(42, &req).unwrap(), Reply::schedule(vec![]));
}

// ---------------------------------------------------------------------------------------------
// addReservationSlot

#[test]
fn add_codes() {
    let mut h = Harness::default();
    let e = "TORA150626";
    assert_eq!(h.add("TORP0001", ART, e, 3).code, Code::NotAuthorized);
    assert_eq!(
        h.add("MTLA0001", ART, e, 3).code,
        Code::NotAuthorized,
        "admin of another city"
    );
    assert!(h.snapshot().slots().is_empty());
    assert_eq!(h.add("TORA0001", ART, e, 3), Reply::code(Code::Created));
    assert!(h.add("TORA0002", ART, e, 3).success());
    assert_eq!(
        h.add("TORA0002", ART, e, 3).code,
        Code::Updated,
        "unchanged capacity is still an update"
    );
    h.reserved("MTLP0001", ART, e);
    h.reserved("VANP0001", ART, e);
    assert_eq!(h.add("TORA0001", ART, e, 1).code, Code::CapacityBelowBooked);
    assert_eq!(h.list_of(ART), avail(&[(e, 1)]));
    assert_eq!(
        h.add("TORA0001", ART, e, 2).code,
        Code::Updated,
        "capacity equal to holders is fine"
    );
    assert_eq!(h.list_of(ART), avail(&[(e, 0)]));
    assert_eq!(h.add("TORA0001", ART, e, 10).code, Code::Updated);
    assert_eq!(h.list_of(ART), avail(&[(e, 8)]));
    // Authorization is checked before existence: a foreign admin cannot update either.
    assert_eq!(h.add("VANA0001", ART, e, 1).code, Code::NotAuthorized);
    assert_eq!(h.list_of(ART), avail(&[(e, 8)]));
}

// ---------------------------------------------------------------------------------------------
// removeReservationSlot

#[test]
fn remove_codes() {
    let mut h = Harness::default();
    h.slot(THE, "VANM010326", 2);
    assert_eq!(
        h.remove("VANP0001", THE, "VANM010326").code,
        Code::NotAuthorized
    );
    assert_eq!(
        h.remove("TORA0001", THE, "VANM010326").code,
        Code::NotAuthorized
    );
    assert_eq!(
        h.remove("VANA0001", CON, "VANM010326").code,
        Code::NoSuchSlot,
        "same ID under another type"
    );
    assert_eq!(
        h.remove("TORA0001", THE, "TORM010326").code,
        Code::NoSuchSlot
    );
    assert_eq!(
        h.remove("VANA0007", THE, "VANM010326"),
        Reply::removed(0, 0)
    );
    assert!(h.snapshot().slots().is_empty());
    assert_eq!(
        h.remove("VANA0007", THE, "VANM010326").code,
        Code::NoSuchSlot
    );
}

#[test]
fn removal_moves_in_ascending_participant_order_to_the_earliest_later_slot() {
    let mut h = Harness::default();
    let gone = "MTLA100326";
    h.slot(CON, gone, 5);
    // Candidates that must never be chosen.
    h.slot(CON, "MTLE090326", 9); // earlier
    h.slot(CON, "MTLM100326", 9); // earlier on the same day
    h.slot(CON, "TORE100326", 9); // other city
    h.slot(THE, "MTLE100326", 9); // other type
    h.slot(ART, gone, 9); // same ID, other type
    // Real candidates, created out of order: the when decides, not creation or string order.
    h.slot(CON, "MTLM200426", 1);
    h.slot(CON, "MTLE100326", 1); // same day, later slot: earliest
    h.slot(CON, "MTLM110326", 1);
    for p in ["VANP0005", "MTLP0002", "TORP0003", "MTLP0001"] {
        h.reserved(p, CON, gone);
    }
    assert_eq!(h.remove("MTLA0001", CON, gone), Reply::removed(3, 1));
    assert_eq!(h.holders(CON, "MTLE100326"), vec!["MTLP0001"]);
    assert_eq!(h.holders(CON, "MTLM110326"), vec!["MTLP0002"]);
    assert_eq!(h.holders(CON, "MTLM200426"), vec!["TORP0003"]);
    assert!(h.schedule_of("VANP0005").is_empty(), "dropped");
    for e in ["MTLE090326", "MTLM100326", "TORE100326"] {
        assert!(h.holders(CON, e).is_empty(), "{e}");
    }
    assert!(h.holders(THE, "MTLE100326").is_empty());
    assert_eq!(h.list_of(ART), avail(&[(gone, 9)]));
    assert_eq!(h.reserve("MTLP0009", CON, gone).code, Code::NoSuchSlot);
}

