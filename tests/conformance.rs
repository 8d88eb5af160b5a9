//! Conformance: every scenario table of `scenarios/*.txt` against all four implementations.
//!
//! Each file starts from fresh replicas (persistent ones on disk, `Durability::Deferred`).
//! Every reply must equal the table's expectation exactly (code and body), and after every
//! step all four state digests must be equal. Failures are collected across all files and
//! reported together as `file:line: [implementation] step`, expected vs got.
//!
//! `SCENARIO=08_remove cargo test -p tessera-tests --test conformance` runs only the files
//! whose name contains the given text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use tessera_tests::table::{self, Script};
use tessera_tests::{implementations, render_reply, Cluster, NAMES};
use tessera_types::{
    Booking, EventId, EventType, Replica, Reply, Request, SlotRecord, Snapshot, UserId,
};

fn scripts() -> Vec<Script> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    table::load_dir(&dir)
        .unwrap_or_else(|errors| panic!("scenario tables do not parse:\n{}", errors.join("\n")))
}

#[test]
fn scenario_tables() {
    let filter = std::env::var("SCENARIO").ok();
    let scripts: Vec<Script> = scripts()
        .into_iter()
        .filter(|s| filter.as_ref().is_none_or(|f| s.name.contains(f.as_str())))
        .collect();
    assert!(!scripts.is_empty(), "no scenario matches {filter:?}");
    let mut failures = Vec::new();
    for script in &scripts {
        failures.extend(table::run(script, implementations()));
    }
    let steps: usize = scripts.iter().map(|s| s.steps.len()).sum();
    if failures.is_empty() {
        eprintln!(
            "{} scenario files, {steps} steps: all four implementations conform",
            scripts.len()
        );
        return;
    }
    let mut per_impl: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &failures {
        *per_impl
            .entry(f.implementation.as_deref().unwrap_or("(digests)"))
            .or_default() += 1;
    }
    let shown: Vec<String> = failures.iter().map(ToString::to_string).collect();
    panic!(
        "{} failures in {} scenario files ({steps} steps); per implementation: {per_impl:?}\n\n{}",
        failures.len(),
        scripts.len(),
        shown.join("\n")
    );
}

/// The tables exercise every code `docs/domain.md` gives each operation.
#[test]
fn tables_cover_every_code_of_every_operation() {
    let missing = table::uncovered(&scripts());
    assert!(missing.is_empty(), "no table step expects: {missing:?}");
}

fn slot(t: EventType, e: &str, capacity: u32, holders: &[&str]) -> SlotRecord {
    SlotRecord {
        event_type: t,
        event_id: EventId::parse(e).unwrap(),
        capacity,
        holders: holders.iter().map(|h| UserId::parse(h).unwrap()).collect(),
    }
}

/// The schedule's tie-breaks after "when" (city, then type) cannot be reached through
/// requests, since a participant never holds two reservations with the same when. A state
/// installed by `import` (a valid snapshot) can have them, and the order is still the one the
/// spec gives: when, then city (MTL < TOR < VAN), then type (ArtGallery < Concerts < Theatre).
#[test]
fn schedule_orders_same_when_by_city_then_type() {
    use EventType::*;
    let p = "MTLP0001";
    let snapshot = Snapshot::new(vec![
        slot(Theatre, "VANE101226", 3, &[p]),
        slot(Concerts, "TORE101226", 3, &[p, "TORP0001"]),
        slot(ArtGallery, "TORM111226", 3, &[p]),
        slot(Theatre, "MTLE101226", 3, &[p]),
        slot(ArtGallery, "TORE101226", 3, &[p]),
        slot(Concerts, "MTLE101226", 3, &[p]),
        slot(ArtGallery, "MTLA101226", 3, &[p]),
        slot(Concerts, "VANE101226", 3, &[]),
    ])
    .unwrap();
    let booking = |e: &str, t| Booking {
        event_id: EventId::parse(e).unwrap(),
        event_type: t,
    };
    let expected = Reply::schedule(vec![
        booking("MTLA101226", ArtGallery),
        booking("MTLE101226", Concerts),
        booking("MTLE101226", Theatre),
        booking("TORE101226", ArtGallery),
        booking("TORE101226", Concerts),
        booking("VANE101226", Theatre),
        booking("TORM111226", ArtGallery),
    ]);
    let mut members = implementations();
    for m in &mut members {
        m.replica.import(7, &snapshot).unwrap();
        assert_eq!(
            m.replica.applied_seq(),
            7,
            "{}: applied_seq after import",
            m.name
        );
    }
    let mut cluster = Cluster::new(members);
    let request = Request::GetEventSchedule {
        participant_id: p.parse().unwrap(),
    };
    let mut wrong = Vec::new();
    for outcome in cluster.apply(&request) {
        let got = outcome.decoded().unwrap();
        if got != expected {
            wrong.push(format!(
                "{}: expected {}\n     got {}",
                outcome.name,
                render_reply(&expected),
                render_reply(&got)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(cluster.agreed_digest().unwrap(), snapshot.digest());
}

/// Each implementation installs a snapshot exactly: its export afterwards is the snapshot,
/// and requests continue at the next sequence number.
#[test]
fn import_installs_the_snapshot_exactly() {
    let snapshot = Snapshot::new(vec![
        slot(
            EventType::Concerts,
            "MTLE101226",
            2,
            &["MTLP0001", "TORP0001"],
        ),
        slot(EventType::Theatre, "MTLE101226", 100_000, &[]),
        slot(EventType::ArtGallery, "VANM290228", 1, &["VANP0001"]),
    ])
    .unwrap();
    for name in NAMES {
        let mut m = tessera_tests::open(name, tessera_tests::Storage::OnDisk).unwrap();
        // Whatever it held before is replaced.
        let req = Request::AddReservationSlot {
            admin_id: "TORA0001".parse().unwrap(),
            event_type: "Concerts".parse().unwrap(),
            event_id: "TORE111226".parse().unwrap(),
            capacity: tessera_types::Capacity::new(5).unwrap(),
        };
        m.replica.apply(1, &req).unwrap();
        m.replica.import(40, &snapshot).unwrap();
        assert_eq!(m.replica.applied_seq(), 40, "{name}");
        assert_eq!(m.replica.export().unwrap(), snapshot, "{name}");
        assert_eq!(m.replica.digest().unwrap(), snapshot.digest(), "{name}");
        let reserve = Request::ReserveTicket {
            participant_id: "MTLP0002".parse().unwrap(),
            event_type: "Concerts".parse().unwrap(),
            event_id: "MTLE101226".parse().unwrap(),
        };
        let reply = m.replica.apply(41, &reserve).unwrap();
        assert_eq!(render_reply(&reply), "SLOT_FULL", "{name}");
    }
}

/// Sequence numbers must be consecutive; an out-of-order request is refused without being
/// applied.
#[test]
fn sequence_numbers_are_enforced() {
    for name in NAMES {
        let mut m = tessera_tests::open(name, tessera_tests::Storage::OnDisk).unwrap();
        let req = Request::AddReservationSlot {
            admin_id: "MTLA0001".parse().unwrap(),
            event_type: "Concerts".parse().unwrap(),
            event_id: "MTLE101226".parse().unwrap(),
            capacity: tessera_types::Capacity::new(5).unwrap(),
        };
        assert_eq!(m.replica.applied_seq(), 0, "{name}");
        assert!(m.replica.apply(2, &req).is_err(), "{name}: seq 2 first");
        assert!(m.replica.apply(0, &req).is_err(), "{name}: seq 0");
        assert_eq!(m.replica.applied_seq(), 0, "{name}");
        assert_eq!(m.replica.export().unwrap(), Snapshot::default(), "{name}");
        assert_eq!(
            render_reply(&m.replica.apply(1, &req).unwrap()),
            "CREATED",
            "{name}"
        );
        assert!(m.replica.apply(1, &req).is_err(), "{name}: seq 1 again");
        assert_eq!(m.replica.applied_seq(), 1, "{name}");
        // A refused request still consumes its number.
        let refused = Request::GetEventSchedule {
            participant_id: "MTLA0001".parse().unwrap(),
        };
        assert_eq!(
            render_reply(&m.replica.apply(2, &refused).unwrap()),
            "NOT_AUTHORIZED",
            "{name}"
        );
        assert_eq!(m.replica.applied_seq(), 2, "{name}");
    }
}
