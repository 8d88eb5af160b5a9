//! Deferred durability: one write transaction per batch, one savepoint per request. What a
//! failure, a crash, a sync and a clean shutdown each leave behind.

use std::path::Path;
use std::process::Command;

use tessera_types::{Code, Durability, Replica, ReplicaError, Request, Snapshot};

use super::*;
use crate::SqliteReplica;

/// Requests with writes of every kind; the first `SYNCED` are synced by the crash child.
fn requests() -> Vec<Request> {
    vec![
        add_req("MTLA0001", CON, "MTLE101226", 2),
        add_req("MTLA0001", THE, "MTLE101226", 3),
        add_req("TORA0001", ART, "TORM291225", 1),
        add_req("VANA0001", ART, "VANE290228", 4),
        reserve_req("MTLP0002", CON, "MTLE101226"),
        reserve_req("TORP0001", CON, "MTLE101226"),
        reserve_req("VANP0003", ART, "TORM291225"),
        list_req("TORA0002", ART),
        reserve_req("VANA0001", ART, "VANE290228"),
        reserve_req("VANP0003", ART, "VANE290228"),
        // Unsynced in the crash child from here on.
        add_req("MTLA0001", ART, "MTLM010127", 5),
        reserve_req("MTLP0001", ART, "MTLM010127"),
        exchange_req("VANP0003", ART, "VANE290228", ART, "MTLM010127"),
        cancel_req("MTLP0002", CON, "MTLE101226"),
        remove_req("TORA0001", ART, "TORM291225"),
    ]
}

const SYNCED: usize = 10;

fn apply_all(replica: &mut impl Replica, requests: &[Request]) {
    for request in requests {
        let seq = replica.applied_seq() + 1;
        replica.apply(seq, request).unwrap();
    }
}

/// The state after the first `n` requests, computed by an independent in-memory replica.
fn expected_after(n: usize) -> Snapshot {
    let mut r = SqliteReplica::in_memory().unwrap();
    apply_all(&mut r, &requests()[..n]);
    r.export().unwrap()
}

fn assert_storage<T: std::fmt::Debug>(result: Result<T, ReplicaError>) {
    assert!(
        matches!(result, Err(ReplicaError::Storage(_))),
        "{result:?}"
    );
}

fn assert_reopens_at(dir: &Path, seq: usize) {
    let r = SqliteReplica::open(dir, Durability::Deferred).unwrap();
    assert_eq!(r.applied_seq(), seq as u64);
    assert_eq!(r.export().unwrap(), expected_after(seq));
}

pub(super) const CRASH_DIR: &str = "TESSERA_SQLITE_CRASH_DIR";
pub(super) const CRASH_MODE: &str = "TESSERA_SQLITE_CRASH_MODE";

/// Not a test of its own: the child process of the crash tests. Applies all requests,
/// syncing after the first `SYNCED`, then aborts without syncing or dropping anything.
#[test]
#[ignore = "child process of the crash tests"]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let durability = match std::env::var(CRASH_MODE).as_deref() {
        Ok("sync") => Durability::Sync,
        _ => Durability::Deferred,
    };
    let mut r = SqliteReplica::open(Path::new(&dir), durability).unwrap();
    let all = requests();
    apply_all(&mut r, &all[..SYNCED]);
    r.sync().unwrap();
    apply_all(&mut r, &all[SYNCED..]);
    assert_eq!(r.export().unwrap(), expected_after(all.len()));
    std::process::abort();
}

/// Runs [`crash_child`] in a new process and checks that it died by aborting.
fn crash(dir: &Path, mode: &str) {
    crash_in("tests::durability::crash_child", dir, mode);
}

/// Runs the ignored test `child` (a full path) in a new process, with [`CRASH_DIR`] and
/// [`CRASH_MODE`] set, and checks that it died by aborting.
pub(super) fn crash_in(child: &str, dir: &Path, mode: &str) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([child, "--exact", "--ignored", "--nocapture"])
        .env(CRASH_DIR, dir)
        .env(CRASH_MODE, mode)
        .status()
        .unwrap();
    assert!(!status.success(), "the child should have aborted");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(6), "child died otherwise: {status:?}");
    }
}

#[test]
fn a_crash_keeps_exactly_the_synced_requests() {
    let dir = tempfile::tempdir().unwrap();
    crash(dir.path(), "deferred");
    assert_reopens_at(dir.path(), SYNCED);
    // The reopened replica carries on from there.
    let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    apply_all(&mut r, &requests()[SYNCED..]);
    r.sync().unwrap();
    drop(r);
    assert_reopens_at(dir.path(), requests().len());
}

#[test]
fn a_crash_in_sync_mode_keeps_every_applied_request() {
    let dir = tempfile::tempdir().unwrap();
    crash(dir.path(), "sync");
    assert_reopens_at(dir.path(), requests().len());
}

#[test]
fn dropping_commits_unsynced_requests() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
        apply_all(&mut r, &requests()[..SYNCED]);
        r.sync().unwrap();
        apply_all(&mut r, &requests()[SYNCED..]);
    }
    assert_reopens_at(dir.path(), requests().len());
}

#[test]
fn export_and_digest_see_unsynced_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    let all = requests();
    for n in 1..=all.len() {
        apply_all(&mut r, &all[n - 1..n]);
        let expected = expected_after(n);
        assert_eq!(r.export().unwrap(), expected);
        assert_eq!(r.digest().unwrap(), expected.digest());
        if n == SYNCED {
            r.sync().unwrap();
        }
    }
}

#[test]
fn a_refused_request_changes_nothing_in_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    apply_all(&mut r, &requests()[..SYNCED]);
    let before = r.export().unwrap();
    // Full slot, unknown slot, not held, wrong admin: all refused, all consume numbers.
    let refused = [
        (reserve_req("MTLP0009", ART, "TORM291225"), Code::SlotFull),
        (reserve_req("MTLP0009", ART, "TORM011225"), Code::NoSuchSlot),
        (cancel_req("MTLP0009", CON, "MTLE101226"), Code::NotReserved),
        (
            remove_req("VANA0001", CON, "MTLE101226"),
            Code::NotAuthorized,
        ),
    ];
    for (request, code) in refused {
        let seq = r.applied_seq() + 1;
        assert_eq!(r.apply(seq, &request).unwrap().code, code);
        assert_eq!(r.applied_seq(), seq);
        assert_eq!(r.export().unwrap(), before);
    }
    r.sync().unwrap();
    drop(r);
    let r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    assert_eq!(r.applied_seq(), SYNCED as u64 + 4);
    assert_eq!(r.export().unwrap(), before);
}

/// A statement failing mid-request (after the request's own writes) undoes that request
/// only: earlier unsynced requests of the batch stay, and the number is not consumed.
#[test]
fn a_storage_error_mid_request_undoes_only_that_request() {
    let dir = tempfile::tempdir().unwrap();
    let all = requests();
    {
        let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
        apply_all(&mut r, &all[..3]);
        r.sync().unwrap();
        apply_all(&mut r, &all[3..6]);
        // Request 7 fails as its reservation is written (after the row and its holder
        // count went in: the abort must undo both).
        r.conn
            .execute_batch(
                "CREATE TEMP TRIGGER sabotage AFTER INSERT ON main.reservation
                 WHEN NEW.participant = 'VANP0003'
                 BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;",
            )
            .unwrap();
        assert_storage(r.apply(7, &all[6]));
        assert_eq!(r.applied_seq(), 6);
        assert_eq!(r.export().unwrap(), expected_after(6));
        r.conn.execute_batch("DROP TRIGGER sabotage").unwrap();
        // The same number again, now successfully, and the batch goes on.
        apply_all(&mut r, &all[6..SYNCED]);
        assert_eq!(r.export().unwrap(), expected_after(SYNCED));
        r.sync().unwrap();
    }
    assert_reopens_at(dir.path(), SYNCED);
}

/// When SQLite itself rolls back the whole batch, the unsynced requests are gone: the
/// replica refuses all further work so that the manager replaces it, and the file holds
/// the last synced state.
#[test]
fn losing_the_batch_poisons_the_replica() {
    let dir = tempfile::tempdir().unwrap();
    let all = requests();
    {
        let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
        apply_all(&mut r, &all[..3]);
        r.sync().unwrap();
        apply_all(&mut r, &all[3..6]);
        r.conn
            .execute_batch(
                "CREATE TEMP TRIGGER sabotage AFTER INSERT ON main.reservation
                 WHEN NEW.participant = 'VANP0003'
                 BEGIN SELECT RAISE(ROLLBACK, 'simulated loss of the transaction'); END;",
            )
            .unwrap();
        assert_storage(r.apply(7, &all[6]));
        assert_storage(r.apply(7, &all[6]));
        assert_storage(r.export());
        assert_storage(r.digest());
        assert_storage(r.sync());
        assert_storage(r.import(1, &expected_after(1)));
    }
    // Dropping the poisoned replica committed nothing.
    assert_reopens_at(dir.path(), 3);
}

#[test]
fn an_import_joins_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let all = requests();
    {
        let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
        apply_all(&mut r, &all[..3]);
        r.import(SYNCED as u64, &expected_after(SYNCED)).unwrap();
        assert_eq!(r.export().unwrap(), expected_after(SYNCED));
        apply_all(&mut r, &all[SYNCED..]);
        r.sync().unwrap();
    }
    assert_reopens_at(dir.path(), all.len());
}

/// The planner must not tie the refusal query to bound values: the statement cache
/// clears bindings on every reuse, which would re-prepare such a statement every time.
#[test]
fn the_refusal_query_is_never_reprepared() {
    let mut r = SqliteReplica::in_memory().unwrap();
    apply_all(&mut r, &requests());
    for p in ["MTLP0001", "TORP0002", "VANP0003"] {
        for (ty, id) in [
            (ART, "MTLM010127"),
            (CON, "MTLE101226"),
            (THE, "MTLE101226"),
        ] {
            let seq = r.applied_seq() + 1;
            r.apply(seq, &reserve_req(p, ty, id)).unwrap();
            let seq = r.applied_seq() + 1;
            r.apply(seq, &exchange_req(p, ty, id, ART, "VANE290228"))
                .unwrap();
        }
    }
    let stmt = r.conn.prepare_cached(crate::ops::REFUSAL_SQL).unwrap();
    assert!(stmt.get_status(rusqlite::StatementStatus::Run) > 10);
    assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
}
