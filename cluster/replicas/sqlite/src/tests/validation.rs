//! Step 0: a well-formed ID with the wrong role is not malformed, and leap days are real
//! days. Malformed arguments never get here: they are refused at the edge
//! (`Request::from_arguments`, tested in `tessera-types`).

use tessera_types::Code;

use super::*;

fn seeded() -> Fixture {
    let mut f = Fixture::new();
    f.slot(CON, "MTLE101226", 2);
    f.slot(THE, "MTLE101226", 2);
    assert_eq!(f.reserve("MTLP0001", CON, "MTLE101226"), Code::Reserved);
    f
}

#[test]
fn leap_days_of_leap_years_are_slots() {
    let mut f = Fixture::new();
    f.slot(ART, "VANE290228", 1);
    f.slot(ART, "MTLM290200", 1);
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
