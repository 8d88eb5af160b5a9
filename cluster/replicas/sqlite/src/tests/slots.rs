//! addReservationSlot and listReservationSlotAvailable.

use tessera_types::{Code, ReplyBody};

use super::*;

#[test]
fn add_requires_an_admin_of_the_events_city() {
    let mut f = Fixture::new();
    assert_eq!(
        f.code(add_req("MTLP0001", CON, "MTLE101226", 5)),
        Code::NotAuthorized
    );
    assert_eq!(
        f.code(add_req("TORA0001", CON, "MTLE101226", 5)),
        Code::NotAuthorized
    );
    assert_eq!(f.snapshot().slots().len(), 0);
    assert_eq!(
        f.code(add_req("MTLA0042", CON, "MTLE101226", 5)),
        Code::Created
    );
}

#[test]
fn add_creates_then_updates() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    // Also UPDATED when the capacity is unchanged.
    assert_eq!(
        f.code(add_req("MTLA0001", CON, "MTLE101226", 5)),
        Code::Updated
    );
    assert_eq!(
        f.code(add_req("MTLA0002", CON, "MTLE101226", 7)),
        Code::Updated
    );
    assert_eq!(f.snapshot().slots()[0].capacity, 7);
    assert_eq!(f.list(CON), vec![("MTLE101226".into(), 7)]);
}

#[test]
fn capacity_cannot_drop_below_holders() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    for p in ["MTLP0001", "MTLP0002", "TORP0003"] {
        assert_eq!(f.reserve(p, CON, "MTLE101226"), Code::Reserved);
    }
    assert_eq!(
        f.code(add_req("MTLA0001", CON, "MTLE101226", 2)),
        Code::CapacityBelowBooked
    );
    assert_eq!(f.snapshot().slots()[0].capacity, 5);
    // Exactly the number of holders is fine, and leaves the slot full.
    assert_eq!(
        f.code(add_req("MTLA0001", CON, "MTLE101226", 3)),
        Code::Updated
    );
    assert_eq!(f.list(CON), vec![("MTLE101226".into(), 0)]);
    assert_eq!(f.reserve("MTLP0004", CON, "MTLE101226"), Code::SlotFull);
    assert_eq!(
        f.code(add_req("MTLA0001", CON, "MTLE101226", 4)),
        Code::Updated
    );
    assert_eq!(f.reserve("MTLP0004", CON, "MTLE101226"), Code::Reserved);
}

#[test]
fn same_event_id_under_two_types_are_two_slots() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 1);
    f.slot(THE, "MTLE101226", 3);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
    assert_eq!(f.list(CON), vec![("MTLE101226".into(), 0)]);
    assert_eq!(f.list(THE), vec![("MTLE101226".into(), 3)]);
    assert!(f.list(ART).is_empty());
    assert_eq!(f.remove(THE, "MTLE101226"), (0, 0));
    assert_eq!(f.holders(CON, "MTLE101226"), Some(vec!["MTLP0001".into()]));
    assert_eq!(f.holders(THE, "MTLE101226"), None);
}

#[test]
fn list_requires_an_admin_of_any_city() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 1);
    assert_eq!(f.code(list_req("MTLP0001", CON)), Code::NotAuthorized);
    for admin in ["MTLA0001", "TORA0001", "VANA0001"] {
        let reply = f.run(list_req(admin, CON));
        assert_eq!(reply.code, Code::Ok);
        assert!(matches!(reply.body, ReplyBody::Slots(ref rows) if rows.len() == 1));
    }
}

#[test]
fn list_of_no_slots_is_ok_and_empty() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 1);
    let reply = f.run(list_req("VANA0009", ART));
    assert_eq!(reply.code, Code::Ok);
    assert_eq!(reply.body, ReplyBody::Slots(vec![]));
}

#[test]
fn list_is_sorted_by_city_then_when() {
    let mut f = Fixture::new();
    // Created in a scrambled order; string order of the IDs is not the expected order.
    for id in [
        "VANM010126",
        "TORE311225",
        "MTLE010126",
        "MTLM010126",
        "MTLA010126",
        "TORM010126",
        "MTLM311225",
        "MTLM020126",
        "MTLA010225",
    ] {
        f.slot(THE, id, 10);
    }
    f.slot(CON, "MTLM300125", 10);
    assert_eq!(f.reserve("TORP0001", THE, "MTLA010126"), Code::Reserved);
    let ids: Vec<String> = f.list(THE).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        [
            "MTLA010225",
            "MTLM311225",
            "MTLM010126",
            "MTLA010126",
            "MTLE010126",
            "MTLM020126",
            "TORE311225",
            "TORM010126",
            "VANM010126",
        ]
    );
    assert_eq!(
        f.list(THE).iter().find(|(id, _)| id == "MTLA010126"),
        Some(&("MTLA010126".into(), 9))
    );
}
