//! exchangeTicket: every refusal in order, the "as if cancelled" checks, and atomicity.

use tessera_types::{Code, Replica, ReplicaError};

use super::*;

const P: &str = "MTLP0001";

/// P holds Concerts MTLE101226; a few other slots exist.
fn fixture() -> Fixture {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    f.slot(THE, "MTLE101226", 5);
    f.slot(ART, "MTLM111226", 1);
    f.slot(THE, "TORA121226", 5);
    assert_eq!(f.reserve(P, CON, "MTLE101226"), Code::Reserved);
    f
}

/// Asserts the exchange is refused with `code` and leaves the state exactly as it was.
fn refused(f: &mut Fixture, request: tessera_types::Request, code: Code) {
    let before = f.snapshot();
    assert_eq!(f.code(request.clone()), code, "{request:?}");
    assert_eq!(f.snapshot(), before, "{request:?} changed the state");
}

#[test]
fn exchange_requires_a_participant() {
    let mut f = fixture();
    let r = exchange_req("MTLA0001", CON, "MTLE101226", THE, "MTLE101226");
    refused(&mut f, r, Code::NotAuthorized);
}

#[test]
fn not_reserved_comes_before_no_such_slot() {
    let mut f = fixture();
    refused(
        &mut f,
        exchange_req(P, THE, "MTLE101226", THE, "TORA121226"),
        Code::NotReserved,
    );
    refused(
        &mut f,
        exchange_req(P, CON, "MTLE111226", THE, "VANA121226"),
        Code::NotReserved,
    );
    refused(
        &mut f,
        exchange_req("MTLP0002", CON, "MTLE101226", THE, "TORA121226"),
        Code::NotReserved,
    );
}

#[test]
fn the_new_slot_must_exist() {
    let mut f = fixture();
    refused(
        &mut f,
        exchange_req(P, CON, "MTLE101226", CON, "TORA121226"),
        Code::NoSuchSlot,
    );
}

#[test]
fn already_reserved_includes_new_equal_to_old() {
    let mut f = fixture();
    refused(
        &mut f,
        exchange_req(P, CON, "MTLE101226", CON, "MTLE101226"),
        Code::AlreadyReserved,
    );
    assert_eq!(f.reserve(P, THE, "TORA121226"), Code::Reserved);
    refused(
        &mut f,
        exchange_req(P, CON, "MTLE101226", THE, "TORA121226"),
        Code::AlreadyReserved,
    );
}

#[test]
fn the_new_slot_must_have_room() {
    let mut f = fixture();
    assert_eq!(f.reserve("MTLP0002", ART, "MTLM111226"), Code::Reserved);
    refused(
        &mut f,
        exchange_req(P, CON, "MTLE101226", ART, "MTLM111226"),
        Code::SlotFull,
    );
}

#[test]
fn time_conflict_ignores_the_old_reservation() {
    let mut f = fixture();
    // Same when as the old slot: fine, the old one is released.
    assert_eq!(
        f.exchange(P, CON, "MTLE101226", THE, "MTLE101226"),
        Code::Exchanged
    );
    assert_eq!(f.schedule(P), rows(&[("MTLE101226", THE)]));
    assert_eq!(f.holders(CON, "MTLE101226"), Some(vec![]));
    // Same when as another held reservation: refused.
    f.slot(CON, "VANA121226", 5);
    assert_eq!(f.reserve(P, CON, "VANA121226"), Code::Reserved);
    refused(
        &mut f,
        exchange_req(P, THE, "MTLE101226", THE, "TORA121226"),
        Code::TimeConflict,
    );
}

#[test]
fn other_city_limit_ignores_the_old_reservation() {
    let mut f = Fixture::new();
    // Week of Monday 7 December 2026.
    for (ty, id) in [
        (CON, "TORM071226"),
        (CON, "TORM081226"),
        (CON, "VANM091226"),
        (THE, "VANE131226"),
        (THE, "MTLM101226"),
    ] {
        f.slot(ty, id, 5);
    }
    for (ty, id) in [
        (CON, "TORM071226"),
        (CON, "TORM081226"),
        (CON, "VANM091226"),
    ] {
        assert_eq!(f.reserve(P, ty, id), Code::Reserved);
    }
    assert_eq!(f.reserve(P, THE, "MTLM101226"), Code::Reserved);
    // Swapping one other-city event for another in the same week keeps the count at three.
    assert_eq!(
        f.exchange(P, CON, "VANM091226", THE, "VANE131226"),
        Code::Exchanged
    );
    // Swapping a home event for a fourth other-city one is refused...
    f.slot(ART, "VANA111226", 5);
    refused(
        &mut f,
        exchange_req(P, THE, "MTLM101226", ART, "VANA111226"),
        Code::OtherCityLimit,
    );
    // ...unless it also clashes, which is checked first.
    f.slot(ART, "VANM081226", 5);
    refused(
        &mut f,
        exchange_req(P, THE, "MTLM101226", ART, "VANM081226"),
        Code::TimeConflict,
    );
    assert_eq!(f.cancel(P, CON, "TORM071226"), Code::Cancelled);
    assert_eq!(
        f.exchange(P, THE, "MTLM101226", ART, "VANA111226"),
        Code::Exchanged
    );
}

#[test]
fn exchange_moves_the_reservation_and_the_places() {
    let mut f = fixture();
    assert_eq!(
        f.exchange(P, CON, "MTLE101226", ART, "MTLM111226"),
        Code::Exchanged
    );
    assert_eq!(f.schedule(P), rows(&[("MTLM111226", ART)]));
    assert_eq!(f.list(ART), vec![("MTLM111226".into(), 0)]);
    assert_eq!(f.list(CON), vec![("MTLE101226".into(), 5)]);
    // Everything or nothing: the new slot is now full, so exchanging back into it fails
    // for someone else and their old reservation stays.
    assert_eq!(f.reserve("MTLP0002", CON, "MTLE101226"), Code::Reserved);
    refused(
        &mut f,
        exchange_req("MTLP0002", CON, "MTLE101226", ART, "MTLM111226"),
        Code::SlotFull,
    );
    assert_eq!(f.schedule("MTLP0002"), rows(&[("MTLE101226", CON)]));
}

#[test]
fn a_storage_failure_mid_exchange_rolls_everything_back() {
    let mut f = fixture();
    // Make the second half of the exchange (holding the new Art Gallery slot) fail after
    // the first half (releasing the old reservation) has run.
    f.replica
        .conn
        .execute_batch(
            "CREATE TEMP TRIGGER sabotage BEFORE INSERT ON main.reservation WHEN NEW.kind = 0
             BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;",
        )
        .unwrap();
    let before = f.snapshot();
    let seq = f.replica.applied_seq();
    let request = exchange_req(P, CON, "MTLE101226", ART, "MTLM111226");
    let err = f.replica.apply(seq + 1, &request).unwrap_err();
    assert!(matches!(err, ReplicaError::Storage(_)), "{err:?}");
    assert_eq!(
        f.replica.applied_seq(),
        seq,
        "a failed request consumed its number"
    );
    assert_eq!(f.snapshot(), before);
    assert_eq!(f.schedule(P), rows(&[("MTLE101226", CON)]));

    f.replica
        .conn
        .execute_batch("DROP TRIGGER temp.sabotage")
        .unwrap();
    assert_eq!(f.code(request), Code::Exchanged);
    assert_eq!(f.schedule(P), rows(&[("MTLM111226", ART)]));
}
