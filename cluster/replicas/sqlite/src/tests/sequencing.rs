//! Sequence numbers, snapshots and persistence across reopening.

use tessera_types::{Code, Durability, Replica, ReplicaError, Snapshot};

use super::*;
use crate::{SqliteReplica, DATABASE_FILE};

/// A small state with reservations in several cities and types, applied to `replica`.
fn populate(replica: &mut impl Replica) {
    let requests = [
        add_req("MTLA0001", CON, "MTLE101226", 2),
        add_req("MTLA0001", THE, "MTLE101226", 3),
        add_req("TORA0001", ART, "TORM291225", 1),
        add_req("VANA0001", ART, "VANE290228", 4),
        reserve_req("MTLP0002", CON, "MTLE101226"),
        reserve_req("TORP0001", CON, "MTLE101226"),
        reserve_req("VANP0003", ART, "TORM291225"),
        reserve_req("VANP0003", ART, "VANE290228"),
        list_req("TORA0002", ART),
        reserve_req("VANA0001", ART, "VANE290228"),
    ];
    for request in requests {
        let seq = replica.applied_seq() + 1;
        replica.apply(seq, &request).unwrap();
    }
}

fn assert_sequence(result: Result<tessera_types::Reply, ReplicaError>, want: (u64, u64)) {
    match result {
        Err(ReplicaError::Sequence { expected, got }) => assert_eq!((expected, got), want),
        other => panic!("expected a sequence error, got {other:?}"),
    }
}

#[test]
fn sequence_numbers_must_be_consecutive() {
    let mut r = SqliteReplica::in_memory().unwrap();
    assert_eq!(r.applied_seq(), 0);
    let req = add_req("MTLA0001", CON, "MTLE101226", 2);
    assert_sequence(r.apply(0, &req), (1, 0));
    assert_sequence(r.apply(2, &req), (1, 2));
    assert_eq!(r.applied_seq(), 0);
    assert!(r.export().unwrap().slots().is_empty());
    assert_eq!(r.apply(1, &req).unwrap().code, Code::Created);
    // A replayed request is refused, not applied twice.
    assert_sequence(r.apply(1, &req), (2, 1));
    assert_sequence(r.apply(3, &req), (2, 3));
    assert_eq!(r.apply(2, &req).unwrap().code, Code::Updated);
    assert_eq!(r.applied_seq(), 2);
}

#[test]
fn refusals_and_reads_consume_numbers() {
    let mut r = SqliteReplica::in_memory().unwrap();
    let requests = [
        add_req("TORA0001", CON, "MTLE101226", 1),
        add_req("MTLP0001", CON, "MTLE101226", 1),
        schedule_req("MTLP0001"),
        list_req("MTLA0001", CON),
    ];
    for (seq, request) in (1..).zip(requests) {
        r.apply(seq, &request).unwrap();
        assert_eq!(r.applied_seq(), seq);
    }
    assert!(r.export().unwrap().slots().is_empty());
}

#[test]
fn export_import_round_trip() {
    let mut a = SqliteReplica::in_memory().unwrap();
    populate(&mut a);
    let snapshot = a.export().unwrap();
    assert_eq!(Snapshot::decode(&snapshot.encode()).unwrap(), snapshot);
    assert_eq!(snapshot.slots().len(), 4);

    let mut b = SqliteReplica::in_memory().unwrap();
    // Whatever b had is replaced.
    populate(&mut b);
    b.apply(11, &add_req("VANA0001", THE, "VANA010127", 9))
        .unwrap();
    b.apply(12, &reserve_req("MTLP0009", THE, "VANA010127"))
        .unwrap();
    b.import(a.applied_seq(), &snapshot).unwrap();
    assert_eq!(b.applied_seq(), a.applied_seq());
    assert_eq!(b.export().unwrap(), snapshot);
    assert_eq!(b.digest().unwrap(), a.digest().unwrap());

    // The imported replica carries on exactly like the original, place counts included.
    let next = [
        reserve_req("VANP0004", CON, "MTLE101226"),
        reserve_req("VANP0004", ART, "TORM291225"),
        list_req("MTLA0001", ART),
        schedule_req("VANP0003"),
        remove_req("TORA0001", ART, "TORM291225"),
        add_req("MTLA0001", CON, "MTLE101226", 1),
    ];
    for request in next {
        let seq = a.applied_seq() + 1;
        let (ra, rb) = (
            a.apply(seq, &request).unwrap(),
            b.apply(seq, &request).unwrap(),
        );
        assert_eq!(ra.encode(), rb.encode(), "{request:?}");
    }
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
}

#[test]
fn importing_an_empty_snapshot_clears_everything() {
    let mut r = SqliteReplica::in_memory().unwrap();
    populate(&mut r);
    r.import(3, &Snapshot::default()).unwrap();
    assert_eq!(r.applied_seq(), 3);
    assert!(r.export().unwrap().slots().is_empty());
    assert_eq!(
        r.apply(4, &schedule_req("VANP0003")).unwrap(),
        tessera_types::Reply::schedule(vec![])
    );
}

#[test]
fn a_full_slot_is_still_full_after_import() {
    let mut a = SqliteReplica::in_memory().unwrap();
    populate(&mut a);
    let mut b = SqliteReplica::in_memory().unwrap();
    b.import(10, &a.export().unwrap()).unwrap();
    let reply = b
        .apply(11, &reserve_req("MTLP0001", ART, "TORM291225"))
        .unwrap();
    assert_eq!(reply.code, Code::SlotFull);
    let reply = b
        .apply(12, &add_req("MTLA0001", CON, "MTLE101226", 1))
        .unwrap();
    assert_eq!(reply.code, Code::CapacityBelowBooked);
}

#[test]
fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("replica");
    let expected = {
        let mut r = SqliteReplica::open(&path, Durability::Sync).unwrap();
        populate(&mut r);
        r.export().unwrap()
    };
    assert!(path.join(DATABASE_FILE).is_file());
    let mut r = SqliteReplica::open(&path, Durability::Sync).unwrap();
    assert_eq!(r.applied_seq(), 10);
    assert_eq!(r.export().unwrap(), expected);
    assert_sequence(r.apply(10, &schedule_req("VANP0003")), (11, 10));
    let reply = r
        .apply(11, &reserve_req("MTLP0001", ART, "TORM291225"))
        .unwrap();
    assert_eq!(reply.code, Code::SlotFull);
    drop(r);
    assert_eq!(
        SqliteReplica::open(&path, Durability::Sync)
            .unwrap()
            .applied_seq(),
        11
    );
}

#[test]
fn deferred_durability_survives_sync_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let expected = {
        let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
        populate(&mut r);
        r.sync().unwrap();
        r.apply(11, &add_req("MTLA0001", ART, "MTLM010127", 5))
            .unwrap();
        r.sync().unwrap();
        // Syncing with nothing new is harmless.
        r.sync().unwrap();
        r.export().unwrap()
    };
    // Reopening in the other mode reads the same file.
    let r = SqliteReplica::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!(r.applied_seq(), 11);
    assert_eq!(r.export().unwrap(), expected);
}

#[test]
fn an_import_survives_reopening() {
    let mut source = SqliteReplica::in_memory().unwrap();
    populate(&mut source);
    let snapshot = source.export().unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
        r.import(42, &snapshot).unwrap();
        r.sync().unwrap();
    }
    let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    assert_eq!(r.applied_seq(), 42);
    assert_eq!(r.export().unwrap(), snapshot);
    assert_eq!(
        r.apply(43, &cancel_req("VANP0003", ART, "VANE290228"))
            .unwrap()
            .code,
        Code::Cancelled
    );
}

#[test]
fn a_failed_request_is_not_persisted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut r = SqliteReplica::open(dir.path(), Durability::Sync).unwrap();
        populate(&mut r);
        r.conn
            .execute_batch(
                "CREATE TEMP TRIGGER sabotage BEFORE INSERT ON main.slot
                 BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;",
            )
            .unwrap();
        let err = r.apply(11, &add_req("MTLA0001", ART, "MTLM010127", 5));
        assert!(matches!(err, Err(ReplicaError::Storage(_))), "{err:?}");
        assert_eq!(r.applied_seq(), 10);
    }
    let r = SqliteReplica::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!(r.applied_seq(), 10);
    assert_eq!(r.export().unwrap().slots().len(), 4);
}

#[test]
fn a_database_of_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteReplica::open(dir.path(), Durability::Sync).unwrap());
    rusqlite::Connection::open(dir.path().join(DATABASE_FILE))
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteReplica::open(dir.path(), Durability::Sync).unwrap_err();
    assert!(matches!(err, ReplicaError::Storage(_)), "{err:?}");
}
