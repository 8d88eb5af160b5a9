//! Step 0: malformed arguments are INVALID_ARGUMENT, consume their sequence number and change
//! nothing; a well-formed ID with the wrong role is not malformed.

use tessera_types::{Code, Request};

use super::*;

fn seeded() -> Fixture {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 2);
    f.slot(THE, "MTLE101226", 2);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
    f
}

fn assert_invalid(f: &mut Fixture, request: Request) {
    let before = f.snapshot();
    let seq = f.replica.applied_seq();
    assert_eq!(
        f.code(request.clone()),
        Code::InvalidArgument,
        "{request:?}"
    );
    assert_eq!(f.replica.applied_seq(), seq + 1);
    assert_eq!(f.snapshot(), before, "{request:?} changed the state");
}

const BAD_USERS: [&str; 6] = [
    "", "MTLA123", "mtla0001", "NYCA0001", "MTLX0001", "MTLA00O1",
];
const BAD_EVENTS: [&str; 7] = [
    "",
    "MTLE10122",
    "MTLX101226",
    "NYCE101226",
    "MTLE290227",
    "MTLE311126",
    "mtle101226",
];
const BAD_TYPES: [&str; 4] = ["", "concerts", "Concert", "Art Gallery"];

#[test]
fn add_reservation_slot() {
    let mut f = seeded();
    for u in BAD_USERS {
        assert_invalid(&mut f, add_req(u, CON, "MTLE101226", 5));
    }
    for e in BAD_EVENTS {
        assert_invalid(&mut f, add_req("MTLA0001", CON, e, 5));
    }
    for t in BAD_TYPES {
        assert_invalid(&mut f, add_req("MTLA0001", t, "MTLE101226", 5));
    }
    for c in [0, -1, 100_001, i32::MIN, i32::MAX] {
        assert_invalid(&mut f, add_req("MTLA0001", CON, "MTLE101226", c));
    }
    // Syntax comes before authorization: a participant with a bad capacity is still invalid.
    assert_invalid(&mut f, add_req("MTLP0001", CON, "MTLE101226", 0));
    assert_eq!(
        f.code(add_req("MTLA0001", CON, "MTLE101226", 100_000)),
        Code::Updated
    );
    assert_eq!(
        f.code(add_req("MTLA0001", ART, "MTLE101226", 1)),
        Code::Created
    );
}

#[test]
fn remove_reservation_slot() {
    let mut f = seeded();
    for u in BAD_USERS {
        assert_invalid(&mut f, remove_req(u, CON, "MTLE101226"));
    }
    for e in BAD_EVENTS {
        assert_invalid(&mut f, remove_req("MTLA0001", CON, e));
    }
    for t in BAD_TYPES {
        assert_invalid(&mut f, remove_req("MTLA0001", t, "MTLE101226"));
    }
}

#[test]
fn list_reservation_slot_available() {
    let mut f = seeded();
    for u in BAD_USERS {
        assert_invalid(&mut f, list_req(u, CON));
    }
    for t in BAD_TYPES {
        assert_invalid(&mut f, list_req("MTLA0001", t));
    }
}

#[test]
fn reserve_ticket() {
    let mut f = seeded();
    for u in BAD_USERS {
        assert_invalid(&mut f, reserve_req(u, THE, "MTLE101226"));
    }
    for e in BAD_EVENTS {
        assert_invalid(&mut f, reserve_req("MTLP0002", THE, e));
    }
    for t in BAD_TYPES {
        assert_invalid(&mut f, reserve_req("MTLP0002", t, "MTLE101226"));
    }
}

#[test]
fn get_event_schedule() {
    let mut f = seeded();
    for u in BAD_USERS {
        assert_invalid(&mut f, schedule_req(u));
    }
}

#[test]
fn cancel_ticket() {
    let mut f = seeded();
    for u in BAD_USERS {
        assert_invalid(&mut f, cancel_req(u, CON, "MTLE101226"));
    }
    for e in BAD_EVENTS {
        assert_invalid(&mut f, cancel_req("MTLP0001", CON, e));
    }
    for t in BAD_TYPES {
        assert_invalid(&mut f, cancel_req("MTLP0001", t, "MTLE101226"));
    }
}

#[test]
fn exchange_ticket() {
    let mut f = seeded();
    let p = "MTLP0001";
    for u in BAD_USERS {
        assert_invalid(
            &mut f,
            exchange_req(u, CON, "MTLE101226", THE, "MTLE101226"),
        );
    }
    for e in BAD_EVENTS {
        assert_invalid(&mut f, exchange_req(p, CON, e, THE, "MTLE101226"));
        assert_invalid(&mut f, exchange_req(p, CON, "MTLE101226", THE, e));
    }
    for t in BAD_TYPES {
        assert_invalid(&mut f, exchange_req(p, t, "MTLE101226", THE, "MTLE101226"));
        assert_invalid(&mut f, exchange_req(p, CON, "MTLE101226", t, "MTLE101226"));
    }
}

#[test]
fn leap_days_are_valid_only_in_leap_years() {
    let mut f = Fixture::new();
    f.slot(ART, "VANE290228", 1);
    f.slot(ART, "MTLM290200", 1);
    assert_invalid(&mut f, add_req("VANA0001", ART, "VANE290227", 1));
    assert_invalid(&mut f, add_req("VANA0001", ART, "VANE290226", 1));
    assert_eq!(f.reserve("TORP0001", ART, "VANE290228"), Code::Reserved);
    assert_eq!(
        f.list(ART),
        vec![("MTLM290200".into(), 1), ("VANE290228".into(), 0)]
    );
}

#[test]
fn wrong_role_is_well_formed() {
    let mut f = seeded();
    assert_eq!(
        f.code(add_req("MTLP0001", CON, "MTLE101226", 5)),
        Code::NotAuthorized
    );
    assert_eq!(
        f.code(reserve_req("MTLA0001", CON, "MTLE101226")),
        Code::NotAuthorized
    );
}
