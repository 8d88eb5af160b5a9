//! reserveTicket, getEventSchedule and cancelTicket.

use tessera_types::{Code, ReplyBody};

use super::*;

#[test]
fn reserve_requires_a_participant() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    assert_eq!(
        f.reserve("MTLA0001", CON, "MTLE101226"),
        Code::NotAuthorized
    );
    // Authorization comes before existence.
    assert_eq!(
        f.reserve("MTLA0001", CON, "MTLE111226"),
        Code::NotAuthorized
    );
    assert_eq!(f.holders(CON, "MTLE101226"), Some(vec![]));
}

#[test]
fn reserve_needs_an_existing_slot_of_that_type() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    assert_eq!(f.reserve("MTLP0001", THE, "MTLE101226"), Code::NoSuchSlot);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE111226"), Code::NoSuchSlot);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
}

#[test]
fn reserve_twice_is_already_reserved_even_when_full() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 1);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
    assert_eq!(
        f.reserve("MTLP0001", CON, "MTLE101226"),
        Code::AlreadyReserved
    );
    assert_eq!(f.reserve("MTLP0002", CON, "MTLE101226"), Code::SlotFull);
}

#[test]
fn slot_full_comes_before_time_conflict() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 1);
    f.slot(THE, "TORE101226", 1);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
    assert_eq!(f.reserve("MTLP0002", THE, "TORE101226"), Code::Reserved);
    assert_eq!(f.reserve("MTLP0001", THE, "TORE101226"), Code::SlotFull);
}

#[test]
fn same_when_in_any_city_or_type_is_a_time_conflict() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    f.slot(THE, "MTLE101226", 5);
    f.slot(ART, "VANE101226", 5);
    f.slot(ART, "VANA101226", 5);
    f.slot(ART, "VANE111226", 5);
    assert_eq!(f.reserve("TORP0001", CON, "MTLE101226"), Code::Reserved);
    assert_eq!(f.reserve("TORP0001", THE, "MTLE101226"), Code::TimeConflict);
    assert_eq!(f.reserve("TORP0001", ART, "VANE101226"), Code::TimeConflict);
    // Same date, other time of day; same time of day, other date.
    assert_eq!(f.reserve("TORP0001", ART, "VANA101226"), Code::Reserved);
    assert_eq!(f.reserve("TORP0001", ART, "VANE111226"), Code::Reserved);
    // Other participants are unaffected.
    assert_eq!(f.reserve("TORP0002", THE, "MTLE101226"), Code::Reserved);
}

#[test]
fn time_conflict_comes_before_other_city_limit() {
    let mut f = Fixture::new();
    // Week of Monday 7 December 2026.
    for id in ["TORM071226", "TORM081226", "TORM091226", "VANM091226"] {
        f.slot(CON, id, 5);
    }
    for id in ["TORM071226", "TORM081226", "TORM091226"] {
        assert_eq!(f.reserve("MTLP0001", CON, id), Code::Reserved);
    }
    assert_eq!(f.reserve("MTLP0001", CON, "VANM091226"), Code::TimeConflict);
}

#[test]
fn at_most_three_other_city_reservations_a_week() {
    let mut f = Fixture::new();
    // Monday 2 March 2026 to Sunday 8 March 2026, in both other cities and all types.
    f.slot(ART, "TORM020326", 5);
    f.slot(CON, "VANE040326", 5);
    f.slot(THE, "TORA080326", 5);
    f.slot(THE, "VANM080326", 5);
    f.slot(ART, "MTLM050326", 5);
    f.slot(ART, "MTLE060326", 5);
    f.slot(CON, "VANM090326", 5);
    f.slot(CON, "TORE010326", 5);
    let p = "MTLP0001";
    assert_eq!(f.reserve(p, ART, "TORM020326"), Code::Reserved);
    assert_eq!(f.reserve(p, CON, "VANE040326"), Code::Reserved);
    // Home-city reservations do not count and are not limited.
    assert_eq!(f.reserve(p, ART, "MTLM050326"), Code::Reserved);
    assert_eq!(f.reserve(p, THE, "TORA080326"), Code::Reserved);
    assert_eq!(f.reserve(p, THE, "VANM080326"), Code::OtherCityLimit);
    assert_eq!(f.reserve(p, ART, "MTLE060326"), Code::Reserved);
    // The neighbouring weeks are separate.
    assert_eq!(f.reserve(p, CON, "VANM090326"), Code::Reserved);
    assert_eq!(f.reserve(p, CON, "TORE010326"), Code::Reserved);
    // The limit is per participant: a Toronto participant's Toronto events are home events.
    assert_eq!(f.reserve("TORP0001", ART, "TORM020326"), Code::Reserved);
    assert_eq!(f.reserve("TORP0001", THE, "TORA080326"), Code::Reserved);
    assert_eq!(f.reserve("TORP0001", CON, "VANE040326"), Code::Reserved);
    assert_eq!(f.reserve("TORP0001", THE, "VANM080326"), Code::Reserved);
    // Cancelling frees one of the three.
    assert_eq!(f.cancel(p, ART, "TORM020326"), Code::Cancelled);
    assert_eq!(f.reserve(p, THE, "VANM080326"), Code::Reserved);
}

#[test]
fn schedule_requires_a_participant() {
    let mut f = Fixture::new();
    assert_eq!(f.code(schedule_req("MTLA0001")), Code::NotAuthorized);
    let reply = f.run(schedule_req("MTLP0001"));
    assert_eq!(reply.code, Code::Ok);
    assert_eq!(reply.body, ReplyBody::Schedule(vec![]));
}

#[test]
fn schedule_is_sorted_by_when_then_city_then_type() {
    let mut f = Fixture::new();
    let p = "TORP0007";
    // Reserved in an order that is neither string order nor when order; 31 December 2026
    // to 2 January 2027 is one week, holding exactly three other-city reservations.
    let held = [
        (THE, "VANM020127"),
        (CON, "MTLE311226"),
        (THE, "TORA311226"),
        (ART, "MTLM311226"),
        (CON, "TORM010127"),
    ];
    for (ty, id) in held {
        f.slot(ty, id, 5);
        assert_eq!(f.reserve(p, ty, id), Code::Reserved, "{ty} {id}");
    }
    assert_eq!(
        f.schedule(p),
        rows(&[
            ("MTLM311226", ART),
            ("TORA311226", THE),
            ("MTLE311226", CON),
            ("TORM010127", CON),
            ("VANM020127", THE),
        ])
    );
}

#[test]
fn schedule_ties_on_when_break_by_city_then_type() {
    // A participant never holds two slots with the same when through the rules, so build
    // that state by import: the ordering must still be total and as specified.
    use tessera_types::{EventId, EventType, SlotRecord, Snapshot, UserId};
    let p = UserId::parse("MTLP0001").unwrap();
    let record = |ty: EventType, id: &str| SlotRecord {
        event_type: ty,
        event_id: EventId::parse(id).unwrap(),
        capacity: 1,
        holders: vec![p],
    };
    let snapshot = Snapshot::new(vec![
        record(EventType::Theatre, "VANA311226"),
        record(EventType::Concerts, "TORA311226"),
        record(EventType::Theatre, "TORA311226"),
        record(EventType::ArtGallery, "TORA311226"),
        record(EventType::Concerts, "MTLA311226"),
        record(EventType::ArtGallery, "VANM311226"),
    ])
    .unwrap();
    let mut f = Fixture::new();
    f.replica.import(1, &snapshot).unwrap();
    assert_eq!(
        f.schedule("MTLP0001"),
        rows(&[
            ("VANM311226", ART),
            ("MTLA311226", CON),
            ("TORA311226", ART),
            ("TORA311226", CON),
            ("TORA311226", THE),
            ("VANA311226", THE),
        ])
    );
}

#[test]
fn cancel_requires_a_participant() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
    assert_eq!(f.cancel("MTLA0001", CON, "MTLE101226"), Code::NotAuthorized);
    assert_eq!(f.holders(CON, "MTLE101226"), Some(vec!["MTLP0001".into()]));
}

#[test]
fn cancel_needs_a_held_reservation() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    f.slot(THE, "MTLE101226", 5);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
    // Not held: no such slot, same ID under another type, someone else's reservation.
    assert_eq!(f.cancel("MTLP0001", CON, "MTLE111226"), Code::NotReserved);
    assert_eq!(f.cancel("MTLP0001", THE, "MTLE101226"), Code::NotReserved);
    assert_eq!(f.cancel("MTLP0002", CON, "MTLE101226"), Code::NotReserved);
    assert_eq!(f.cancel("MTLP0001", CON, "MTLE101226"), Code::Cancelled);
    assert_eq!(f.cancel("MTLP0001", CON, "MTLE101226"), Code::NotReserved);
    assert_eq!(f.holders(CON, "MTLE101226"), Some(vec![]));
}

#[test]
fn cancel_frees_the_place() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 1);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
    assert_eq!(f.reserve("MTLP0002", CON, "MTLE101226"), Code::SlotFull);
    assert_eq!(f.cancel("MTLP0001", CON, "MTLE101226"), Code::Cancelled);
    assert_eq!(f.list(CON), vec![("MTLE101226".into(), 1)]);
    assert_eq!(f.reserve("MTLP0002", CON, "MTLE101226"), Code::Reserved);
    assert!(f.schedule("MTLP0001").is_empty());
}
