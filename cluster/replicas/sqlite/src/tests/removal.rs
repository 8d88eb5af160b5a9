//! removeReservationSlot: authorization, existence, and where former holders are moved.

use tessera_types::Code;

use super::*;

#[test]
fn remove_requires_an_admin_of_the_events_city() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    assert_eq!(
        f.code(remove_req("MTLP0001", CON, "MTLE101226")),
        Code::NotAuthorized
    );
    assert_eq!(
        f.code(remove_req("VANA0001", CON, "MTLE101226")),
        Code::NotAuthorized
    );
    // Authorization comes before existence.
    assert_eq!(
        f.code(remove_req("VANA0001", CON, "MTLE111226")),
        Code::NotAuthorized
    );
    assert_eq!(f.holders(CON, "MTLE101226"), Some(vec![]));
}

#[test]
fn remove_needs_the_slot() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    assert_eq!(
        f.code(remove_req("MTLA0001", THE, "MTLE101226")),
        Code::NoSuchSlot
    );
    assert_eq!(
        f.code(remove_req("MTLA0001", CON, "MTLE111226")),
        Code::NoSuchSlot
    );
    assert_eq!(f.remove(CON, "MTLE101226"), (0, 0));
    assert_eq!(
        f.code(remove_req("MTLA0001", CON, "MTLE101226")),
        Code::NoSuchSlot
    );
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::NoSuchSlot);
    assert!(f.snapshot().slots().is_empty());
}

#[test]
fn holders_move_in_ascending_order_while_places_last() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 5);
    // Distractors: earlier, other type, other city.
    f.slot(CON, "MTLM091226", 9);
    f.slot(CON, "MTLM101226", 9);
    f.slot(THE, "MTLM111226", 9);
    f.slot(CON, "TORM111226", 9);
    // The two later slots, the earlier one with room for two.
    f.slot(CON, "MTLM111226", 2);
    f.slot(CON, "MTLA111226", 1);
    for p in ["TORP0002", "VANP0001", "MTLP0003", "MTLP0001"] {
        assert_eq!(f.reserve(p, CON, "MTLE101226"), Code::Reserved);
    }
    assert_eq!(f.remove(CON, "MTLE101226"), (3, 1));
    assert_eq!(f.holders(CON, "MTLE101226"), None);
    assert_eq!(
        f.holders(CON, "MTLM111226"),
        Some(vec!["MTLP0001".into(), "MTLP0003".into()])
    );
    assert_eq!(f.holders(CON, "MTLA111226"), Some(vec!["TORP0002".into()]));
    assert!(f.schedule("VANP0001").is_empty());
    for (ty, id) in [
        (CON, "MTLM091226"),
        (CON, "MTLM101226"),
        (THE, "MTLM111226"),
        (CON, "TORM111226"),
    ] {
        assert_eq!(f.holders(ty, id), Some(vec![]), "{ty} {id}");
    }
}

#[test]
fn earliest_later_when_wins_including_later_the_same_day() {
    let mut f = Fixture::new();
    f.slot(ART, "VANM150127", 5);
    f.slot(ART, "VANM160127", 5);
    f.slot(ART, "VANE150127", 5);
    f.slot(ART, "VANA150127", 5);
    assert_eq!(f.reserve("VANP0001", ART, "VANM150127"), Code::Reserved);
    assert_eq!(f.remove(ART, "VANM150127"), (1, 0));
    assert_eq!(f.schedule("VANP0001"), rows(&[("VANA150127", ART)]));
    // And again from the afternoon: evening before next morning.
    assert_eq!(f.remove(ART, "VANA150127"), (1, 0));
    assert_eq!(f.schedule("VANP0001"), rows(&[("VANE150127", ART)]));
    assert_eq!(f.remove(ART, "VANE150127"), (1, 0));
    assert_eq!(f.schedule("VANP0001"), rows(&[("VANM160127", ART)]));
    // Nothing later: dropped.
    assert_eq!(f.remove(ART, "VANM160127"), (0, 1));
    assert!(f.schedule("VANP0001").is_empty());
}

#[test]
fn chronological_not_string_order_across_a_year_end() {
    let mut f = Fixture::new();
    f.slot(THE, "TORE301226", 5);
    // In string order "TORM020127" < "TORM311226"; chronologically it is later.
    f.slot(THE, "TORM020127", 5);
    f.slot(THE, "TORM311226", 5);
    assert_eq!(f.reserve("TORP0001", THE, "TORE301226"), Code::Reserved);
    assert_eq!(f.remove(THE, "TORE301226"), (1, 0));
    assert_eq!(f.schedule("TORP0001"), rows(&[("TORM311226", THE)]));
}

#[test]
fn full_held_and_clashing_targets_are_skipped() {
    let mut f = Fixture::new();
    f.slot(CON, "MTLM010426", 5);
    f.slot(CON, "MTLA010426", 1); // full
    f.slot(CON, "MTLE010426", 5); // already held by the participant
    f.slot(CON, "MTLM020426", 5); // same when as the participant's Theatre in Toronto
    f.slot(CON, "MTLA020426", 5); // the target
    f.slot(THE, "TORM020426", 5);
    let p = "MTLP0005";
    assert_eq!(f.reserve("MTLP0009", CON, "MTLA010426"), Code::Reserved);
    for (ty, id) in [
        (CON, "MTLM010426"),
        (CON, "MTLE010426"),
        (THE, "TORM020426"),
    ] {
        assert_eq!(f.reserve(p, ty, id), Code::Reserved);
    }
    assert_eq!(f.remove(CON, "MTLM010426"), (1, 0));
    assert_eq!(
        f.schedule(p),
        rows(&[
            ("MTLE010426", CON),
            ("TORM020426", THE),
            ("MTLA020426", CON),
        ])
    );
    assert_eq!(f.holders(CON, "MTLA010426"), Some(vec!["MTLP0009".into()]));
    assert_eq!(f.holders(CON, "MTLM020426"), Some(vec![]));
}

#[test]
fn moves_respect_the_other_city_limit_of_the_targets_week() {
    let mut f = Fixture::new();
    // Removed: Sunday 1 March 2026. Next: Monday 2 March (a new week), then Monday 9 March.
    f.slot(CON, "MTLM010326", 5);
    f.slot(CON, "MTLM020326", 5);
    f.slot(CON, "MTLM090326", 5);
    f.slot(ART, "VANM030326", 5);
    f.slot(THE, "VANM040326", 5);
    f.slot(ART, "MTLA050326", 5);
    let away = "TORP0001";
    let home = "MTLP0001";
    for p in [away, home] {
        assert_eq!(f.reserve(p, CON, "MTLM010326"), Code::Reserved);
    }
    for (ty, id) in [
        (ART, "VANM030326"),
        (THE, "VANM040326"),
        (ART, "MTLA050326"),
    ] {
        assert_eq!(f.reserve(away, ty, id), Code::Reserved);
        assert_eq!(f.reserve(home, ty, id), Code::Reserved);
    }
    assert_eq!(f.remove(CON, "MTLM010326"), (2, 0));
    // Montreal is home for MTLP0001, so its two Vancouver events do not limit it.
    assert_eq!(f.holders(CON, "MTLM020326"), Some(vec![home.into()]));
    assert_eq!(f.holders(CON, "MTLM090326"), Some(vec![away.into()]));
}

#[test]
fn the_removed_reservation_no_longer_counts() {
    let mut f = Fixture::new();
    // All in the week of Monday 2 March 2026; the removed slot is one of three other-city
    // reservations, so once it is gone a move within the same week is allowed.
    f.slot(CON, "MTLM020326", 5);
    f.slot(CON, "MTLE020326", 5);
    f.slot(ART, "VANM030326", 5);
    f.slot(THE, "VANM040326", 5);
    let p = "TORP0001";
    for (ty, id) in [
        (CON, "MTLM020326"),
        (ART, "VANM030326"),
        (THE, "VANM040326"),
    ] {
        assert_eq!(f.reserve(p, ty, id), Code::Reserved);
    }
    assert_eq!(f.reserve(p, CON, "MTLE020326"), Code::OtherCityLimit);
    assert_eq!(f.remove(CON, "MTLM020326"), (1, 0));
    assert_eq!(f.holders(CON, "MTLE020326"), Some(vec![p.into()]));
}

#[test]
fn moves_stay_in_the_type_and_city() {
    let mut f = Fixture::new();
    f.slot(THE, "TORM010526", 5);
    f.slot(CON, "TORM020526", 5);
    f.slot(THE, "MTLM020526", 5);
    f.slot(THE, "VANM020526", 5);
    for p in ["TORP0001", "TORP0002"] {
        assert_eq!(f.reserve(p, THE, "TORM010526"), Code::Reserved);
    }
    assert_eq!(f.remove(THE, "TORM010526"), (0, 2));
    assert!(f.schedule("TORP0001").is_empty());
    assert_eq!(f.list(CON), vec![("TORM020526".into(), 5)]);
    assert_eq!(
        f.list(THE),
        vec![("MTLM020526".into(), 5), ("VANM020526".into(), 5)]
    );
}

#[test]
fn removal_frees_capacity_accounting() {
    let mut f = Fixture::new();
    f.slot(ART, "MTLM010626", 1);
    f.slot(ART, "MTLM020626", 1);
    assert_eq!(f.reserve("MTLP0001", ART, "MTLM010626"), Code::Reserved);
    assert_eq!(f.remove(ART, "MTLM010626"), (1, 0));
    assert_eq!(f.list(ART), vec![("MTLM020626".into(), 0)]);
    // Recreating the removed slot starts empty.
    f.slot(ART, "MTLM010626", 1);
    assert_eq!(f.reserve("MTLP0002", ART, "MTLM010626"), Code::Reserved);
    assert_eq!(f.remove(ART, "MTLM020626"), (0, 1));
    assert_eq!(f.list(ART), vec![("MTLM010626".into(), 0)]);
}
