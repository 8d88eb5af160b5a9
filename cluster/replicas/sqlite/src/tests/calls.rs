//! Repeated calls (`docs/domain.md`, "Repeated calls"): repeats, reused message ids,
//! forgetting by age and by count, and the remembered calls as state: in snapshots and
//! digests, across reopening, crashes and schema upgrades, untouched by a failed call, and
//! against a model of the rules.

use std::path::Path;

use rusqlite::{Connection, StatementStatus};
use tessera_types::{
    CallMemory, CallRecord, Code, Durability, MessageId, Ordered, Outcome, Replica, ReplicaError,
    Reply, ReplyBody, Request, Snapshot,
};

use super::durability::{crash_in, CRASH_DIR, CRASH_MODE};
use super::*;
use crate::calls::{FIND_SQL, FIRST_KEPT_SQL};
use crate::{SqliteReplica, DATABASE_FILE};

const MEMORY: CallMemory = CallMemory {
    max_age_ms: 1_000,
    max_entries: 3,
};

fn mid(s: &str) -> MessageId {
    MessageId::parse(s).unwrap()
}

/// Applies `request` at the next seq and `time_ms`, with message id `id` if any.
fn call_with(
    r: &mut impl Replica,
    memory: CallMemory,
    time_ms: u64,
    id: Option<&str>,
    request: &Request,
) -> Outcome {
    let message_id = id.map(mid);
    let seq = r.applied_seq() + 1;
    let outcome = r
        .call(&Ordered {
            seq,
            time_ms,
            message_id: message_id.as_ref(),
            request,
            memory,
        })
        .unwrap();
    assert_eq!(r.applied_seq(), seq, "every call consumes its seq");
    outcome
}

/// A call with message id `id` under [`MEMORY`].
fn call(r: &mut impl Replica, time_ms: u64, id: &str, request: &Request) -> Outcome {
    call_with(r, MEMORY, time_ms, Some(id), request)
}

/// A call without message id under [`MEMORY`].
fn plain(r: &mut impl Replica, time_ms: u64, request: &Request) -> Outcome {
    call_with(r, MEMORY, time_ms, None, request)
}

fn fresh(code: Code) -> Outcome {
    Outcome::fresh(Reply::code(code))
}

fn repeat(code: Code, of: u64) -> Outcome {
    Outcome {
        reply: Reply::code(code),
        repeat_of: Some(of),
    }
}

/// The remembered calls as (message id, seq), in seq order; also checks that the digest is
/// the exported snapshot's.
fn remembered(r: &impl Replica) -> Vec<(String, u64)> {
    let snapshot = r.export().unwrap();
    assert_eq!(r.digest().unwrap(), snapshot.digest());
    snapshot
        .calls()
        .iter()
        .map(|c| (c.message_id.to_string(), c.seq))
        .collect()
}

fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    expected
        .iter()
        .map(|(id, s)| (id.to_string(), *s))
        .collect()
}

const SLOT: &str = "MTLE101226";

fn add_one() -> Request {
    add_req("MTLA0001", CON, SLOT, 1)
}

fn reserve(p: &str) -> Request {
    reserve_req(p, CON, SLOT)
}

#[test]
fn a_repeat_gets_the_first_reply_and_changes_nothing() {
    let mut r = SqliteReplica::in_memory().unwrap();
    assert_eq!(call(&mut r, 10, "a", &add_one()), fresh(Code::Created));
    assert_eq!(
        call(&mut r, 20, "b", &reserve("MTLP0001")),
        fresh(Code::Reserved)
    );
    let before = r.export().unwrap();
    // Executed again it would be ALREADY_RESERVED; a repeat is the first answer, at any time
    // up to max_age after the first call (1010 - 10 keeps "a" too).
    for time in [20, 30, 1_010] {
        assert_eq!(
            call(&mut r, time, "b", &reserve("MTLP0001")),
            repeat(Code::Reserved, 2)
        );
        assert_eq!(r.export().unwrap(), before);
    }
    assert_eq!(r.applied_seq(), 5);
    assert_eq!(remembered(&r), pairs(&[("a", 1), ("b", 2)]));
}

#[test]
fn a_repeated_read_gets_the_first_body_even_after_the_state_moved_on() {
    let mut r = SqliteReplica::in_memory().unwrap();
    plain(&mut r, 0, &add_one());
    plain(&mut r, 0, &reserve("MTLP0001"));
    let first = call(&mut r, 0, "s", &schedule_req("MTLP0001"));
    assert!(matches!(&first.reply.body, ReplyBody::Schedule(rows) if rows.len() == 1));
    plain(&mut r, 0, &cancel_req("MTLP0001", CON, SLOT));
    let again = call(&mut r, 0, "s", &schedule_req("MTLP0001"));
    assert_eq!(again.reply, first.reply);
    assert_eq!(again.repeat_of, Some(3));
}

#[test]
fn a_reused_message_id_is_refused_and_changes_nothing() {
    let mut r = SqliteReplica::in_memory().unwrap();
    assert_eq!(call(&mut r, 0, "a", &add_one()), fresh(Code::Created));
    let before = r.export().unwrap();
    let others = [
        add_req("MTLA0001", CON, SLOT, 2),
        reserve("MTLP0001"),
        remove_req("MTLA0001", CON, SLOT),
    ];
    for other in &others {
        assert_eq!(call(&mut r, 5, "a", other), fresh(Code::MessageIdReused));
        assert_eq!(r.export().unwrap(), before, "{other:?} changed the state");
    }
    // Still remembered with its first request.
    assert_eq!(call(&mut r, 5, "a", &add_one()), repeat(Code::Created, 1));
    assert_eq!(remembered(&r), pairs(&[("a", 1)]));
}

#[test]
fn forgetting_by_age_keeps_a_call_exactly_max_age_old() {
    let mut r = SqliteReplica::in_memory().unwrap();
    assert_eq!(call(&mut r, 5_000, "a", &add_one()), fresh(Code::Created));
    call(&mut r, 5_500, "b", &schedule_req("MTLP0001"));
    // 6000 - 5000 == max_age: kept.
    assert_eq!(
        call(&mut r, 6_000, "a", &add_one()),
        repeat(Code::Created, 1)
    );
    // One ms more: forgotten first (step 1), so executed again (the slot exists: UPDATED)
    // and remembered anew.
    assert_eq!(call(&mut r, 6_001, "a", &add_one()), fresh(Code::Updated));
    assert_eq!(remembered(&r), pairs(&[("b", 2), ("a", 4)]));
}

#[test]
fn every_call_forgets_old_calls_even_without_a_message_id() {
    let mut r = SqliteReplica::in_memory().unwrap();
    call(&mut r, 0, "a", &add_one());
    call(&mut r, 400, "b", &reserve("MTLP0001"));
    plain(&mut r, 1_001, &schedule_req("MTLP0001"));
    assert_eq!(remembered(&r), pairs(&[("b", 2)]));
    // A repeat forgets too, before it is looked up.
    let first = call(&mut r, 1_300, "c", &schedule_req("MTLP0002"));
    assert_eq!(
        call(&mut r, 2_300, "c", &schedule_req("MTLP0002")),
        Outcome {
            reply: first.reply,
            repeat_of: Some(4),
        }
    );
    assert_eq!(remembered(&r), pairs(&[("c", 4)]));
    // Far later, everything goes.
    plain(&mut r, 1_000_000, &schedule_req("MTLP0001"));
    assert!(remembered(&r).is_empty());
}

/// How often the statement `sql` has run on `r`'s connection.
fn runs(r: &SqliteReplica, sql: &str) -> i32 {
    r.conn
        .prepare_cached(sql)
        .unwrap()
        .get_status(StatementStatus::Run)
}

/// The common case costs nothing extra: a call that finds nothing old enough to forget runs
/// no query for it, and a call with a message id looks it up only if something is
/// remembered.
#[test]
fn calls_with_nothing_to_forget_or_find_run_no_sql_for_it() {
    let mut r = SqliteReplica::in_memory().unwrap();
    let reads = |r: &SqliteReplica| (runs(r, FIRST_KEPT_SQL), runs(r, FIND_SQL));
    let start = reads(&r);
    call(&mut r, 0, "a", &add_one());
    assert_eq!(reads(&r), start, "nothing was remembered");
    for time in [0, 500, 1_000] {
        plain(&mut r, time, &schedule_req("MTLP0001"));
    }
    assert_eq!(reads(&r), start, "nothing was old enough");
    plain(&mut r, 1_001, &schedule_req("MTLP0001"));
    assert_eq!(
        reads(&r),
        (start.0 + 1, start.1),
        "forgetting \"a\" needs SQL"
    );
    call(&mut r, 1_001, "b", &schedule_req("MTLP0001"));
    assert_eq!(reads(&r), (start.0 + 1, start.1), "nothing was remembered");
    call(&mut r, 1_001, "c", &schedule_req("MTLP0001"));
    assert_eq!(reads(&r), (start.0 + 1, start.1 + 1), "\"b\" was");
}

#[test]
fn forgetting_by_count_drops_the_lowest_seqs() {
    let mut r = SqliteReplica::in_memory().unwrap();
    for id in ["a", "b", "c"] {
        call(&mut r, 0, id, &schedule_req("MTLP0001"));
    }
    plain(&mut r, 0, &schedule_req("MTLP0001"));
    assert_eq!(remembered(&r), pairs(&[("a", 1), ("b", 2), ("c", 3)]));
    // A repeat remembers nothing, so forgets nothing by count.
    call(&mut r, 0, "a", &schedule_req("MTLP0001"));
    assert_eq!(remembered(&r), pairs(&[("a", 1), ("b", 2), ("c", 3)]));
    call(&mut r, 0, "d", &schedule_req("MTLP0001"));
    assert_eq!(remembered(&r), pairs(&[("b", 2), ("c", 3), ("d", 6)]));
    // "a" was forgotten, so it runs again.
    assert_eq!(
        call(&mut r, 0, "a", &add_one()),
        fresh(Code::Created),
        "a forgotten id is free for any request"
    );
    assert_eq!(remembered(&r), pairs(&[("c", 3), ("d", 6), ("a", 7)]));
    // A lower limit (the cluster's setting changed) forgets several at once; 0 keeps none.
    let one = CallMemory {
        max_entries: 1,
        ..MEMORY
    };
    call_with(&mut r, one, 0, Some("e"), &schedule_req("MTLP0001"));
    assert_eq!(remembered(&r), pairs(&[("e", 8)]));
    let none = CallMemory {
        max_entries: 0,
        ..MEMORY
    };
    call_with(&mut r, none, 0, Some("f"), &schedule_req("MTLP0001"));
    assert!(remembered(&r).is_empty());
}

#[test]
fn a_refused_request_is_remembered_with_its_refusal() {
    let mut r = SqliteReplica::in_memory().unwrap();
    plain(&mut r, 0, &add_one());
    plain(&mut r, 0, &reserve("MTLP0001"));
    assert_eq!(
        call(&mut r, 0, "x", &reserve("MTLP0002")),
        fresh(Code::SlotFull)
    );
    plain(&mut r, 0, &cancel_req("MTLP0001", CON, SLOT));
    // There is room now, but the call was answered: its answer stands.
    assert_eq!(
        call(&mut r, 0, "x", &reserve("MTLP0002")),
        repeat(Code::SlotFull, 3)
    );
    assert!(r.export().unwrap().slots()[0].holders.is_empty());
    let snapshot = r.export().unwrap();
    assert_eq!(
        snapshot.calls(),
        &[CallRecord {
            message_id: mid("x"),
            seq: 3,
            time_ms: 0,
            request: reserve("MTLP0002"),
            reply: Reply::code(Code::SlotFull),
        }]
    );
}

/// A replica that remembered a few calls: "a" at seq 1, "b" at seq 3, and "c" at seq 4.
fn with_calls() -> SqliteReplica {
    let mut r = SqliteReplica::in_memory().unwrap();
    call(&mut r, 100, "a", &add_one());
    plain(&mut r, 200, &reserve("MTLP0001"));
    call(&mut r, 300, "b", &reserve("MTLP0002"));
    call(&mut r, 300, "c", &schedule_req("MTLP0001"));
    r
}

#[test]
fn snapshots_and_digests_carry_the_calls() {
    let r = with_calls();
    let snapshot = r.export().unwrap();
    let expected = [("a", 1, 100), ("b", 3, 300), ("c", 4, 300)];
    let got: Vec<_> = snapshot
        .calls()
        .iter()
        .map(|c| (c.message_id.as_str(), c.seq, c.time_ms))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(snapshot.calls()[1].reply, Reply::code(Code::SlotFull));
    assert_eq!(r.digest().unwrap(), snapshot.digest());
    let without = Snapshot::new(snapshot.slots().to_vec()).unwrap();
    assert_ne!(snapshot.digest(), without.digest());
}

#[test]
fn import_replaces_the_calls() {
    let source = with_calls();
    let snapshot = source.export().unwrap();
    let mut r = SqliteReplica::in_memory().unwrap();
    // Calls of its own that the import must drop: "z" unknown to the snapshot, "b" with
    // another request.
    call(&mut r, 50, "z", &add_req("TORA0001", ART, "TORM291225", 3));
    call(&mut r, 60, "b", &schedule_req("TORP0001"));
    r.import(source.applied_seq(), &snapshot).unwrap();
    assert_eq!(r.export().unwrap(), snapshot);
    assert_eq!(r.digest().unwrap(), snapshot.digest());
    assert_eq!(r.applied_seq(), 4);
    // The imported calls repeat; the dropped ones are free again.
    assert_eq!(
        call(&mut r, 400, "b", &reserve("MTLP0002")),
        repeat(Code::SlotFull, 3)
    );
    assert_eq!(
        call(&mut r, 400, "z", &schedule_req("TORP0001")).repeat_of,
        None
    );
    assert_eq!(
        remembered(&r),
        pairs(&[("b", 3), ("c", 4), ("z", 6)]),
        "count trimming knows the imported calls"
    );
    // Age forgetting knows them too.
    plain(&mut r, 1_350, &schedule_req("MTLP0001"));
    assert_eq!(remembered(&r), pairs(&[("z", 6)]));
    // A snapshot without calls leaves none.
    r.import(10, &Snapshot::new(Vec::new()).unwrap()).unwrap();
    assert!(remembered(&r).is_empty());
    assert_eq!(call(&mut r, 2_000, "z", &add_one()), fresh(Code::Created));
}

#[test]
fn remembered_calls_survive_reopening() {
    for durability in [Durability::Sync, Durability::Deferred] {
        let dir = tempfile::tempdir().unwrap();
        let snapshot = {
            let mut r = SqliteReplica::open(dir.path(), durability).unwrap();
            call(&mut r, 100, "a", &add_one());
            call(&mut r, 200, "b", &reserve("MTLP0001"));
            call(&mut r, 300, "c", &reserve("MTLP0002"));
            r.export().unwrap()
        };
        let mut r = SqliteReplica::open(dir.path(), durability).unwrap();
        assert_eq!(r.applied_seq(), 3);
        assert_eq!(r.export().unwrap(), snapshot);
        assert_eq!(
            call(&mut r, 300, "b", &reserve("MTLP0001")),
            repeat(Code::Reserved, 2)
        );
        // The reopened replica knows how many it remembers and which is oldest.
        call(&mut r, 300, "d", &schedule_req("MTLP0001"));
        assert_eq!(remembered(&r), pairs(&[("b", 2), ("c", 3), ("d", 5)]));
        drop(r);
        let mut r = SqliteReplica::open(dir.path(), durability).unwrap();
        plain(&mut r, 1_250, &schedule_req("MTLP0001"));
        assert_eq!(
            remembered(&r),
            pairs(&[("c", 3), ("d", 5)]),
            "{durability:?}"
        );
    }
}

/// Calls with every kind of effect on the remembered calls; the first [`CALLS_SYNCED`] are
/// synced by the crash child. Times in ms, under [`MEMORY`].
fn crash_calls() -> Vec<(u64, Option<&'static str>, Request)> {
    vec![
        (0, Some("a"), add_one()),
        (10, Some("b"), reserve("MTLP0001")),
        (20, None, reserve("MTLP0002")),
        (30, Some("b"), reserve("MTLP0001")),
        (40, Some("a"), add_req("MTLA0001", CON, SLOT, 4)),
        (50, Some("c"), add_req("MTLA0001", THE, SLOT, 2)),
        // Unsynced in the crash child from here on.
        (60, Some("d"), reserve("MTLP0002")),
        (70, Some("e"), reserve_req("MTLP0002", THE, SLOT)),
        (1_065, Some("f"), cancel_req("MTLP0001", CON, SLOT)),
        (1_070, Some("b"), reserve("MTLP0001")),
        (1_080, Some("e"), reserve_req("MTLP0002", THE, SLOT)),
    ]
}

const CALLS_SYNCED: usize = 6;

fn apply_calls(r: &mut impl Replica, calls: &[(u64, Option<&str>, Request)]) -> Vec<Outcome> {
    calls
        .iter()
        .map(|(time, id, request)| call_with(r, MEMORY, *time, *id, request))
        .collect()
}

/// The state after the first `n` crash calls, computed by an in-memory replica.
fn expected_after_calls(n: usize) -> Snapshot {
    let mut r = SqliteReplica::in_memory().unwrap();
    apply_calls(&mut r, &crash_calls()[..n]);
    r.export().unwrap()
}

/// Not a test of its own: the child process of the crash tests below. Applies the crash
/// calls, syncing after the first [`CALLS_SYNCED`], then aborts.
#[test]
#[ignore = "child process of the crash tests"]
fn calls_crash_child() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let durability = match std::env::var(CRASH_MODE).as_deref() {
        Ok("sync") => Durability::Sync,
        _ => Durability::Deferred,
    };
    let mut r = SqliteReplica::open(Path::new(&dir), durability).unwrap();
    let all = crash_calls();
    apply_calls(&mut r, &all[..CALLS_SYNCED]);
    r.sync().unwrap();
    apply_calls(&mut r, &all[CALLS_SYNCED..]);
    assert_eq!(r.export().unwrap(), expected_after_calls(all.len()));
    std::process::abort();
}

const CALLS_CHILD: &str = "tests::calls::calls_crash_child";

#[test]
fn a_crash_keeps_exactly_the_synced_calls() {
    let dir = tempfile::tempdir().unwrap();
    crash_in(CALLS_CHILD, dir.path(), "deferred");
    let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    assert_eq!(r.applied_seq(), CALLS_SYNCED as u64);
    assert_eq!(r.export().unwrap(), expected_after_calls(CALLS_SYNCED));
    // Carrying on gives the same answers as a replica that never crashed.
    let all = crash_calls();
    let mut reference = SqliteReplica::in_memory().unwrap();
    apply_calls(&mut reference, &all[..CALLS_SYNCED]);
    assert_eq!(
        apply_calls(&mut r, &all[CALLS_SYNCED..]),
        apply_calls(&mut reference, &all[CALLS_SYNCED..])
    );
    assert_eq!(r.export().unwrap(), expected_after_calls(all.len()));
}

#[test]
fn a_crash_in_sync_mode_keeps_every_call() {
    let dir = tempfile::tempdir().unwrap();
    crash_in(CALLS_CHILD, dir.path(), "sync");
    let r = SqliteReplica::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!(r.applied_seq(), crash_calls().len() as u64);
    assert_eq!(
        r.export().unwrap(),
        expected_after_calls(crash_calls().len())
    );
}

fn assert_storage(result: Result<Outcome, ReplicaError>) {
    assert!(
        matches!(result, Err(ReplicaError::Storage(_))),
        "{result:?}"
    );
}

/// A call that fails in storage changes nothing: not the request's effect, not the
/// remembered calls, not even what it forgot by age on the way (which a later call must
/// still find, so the replica's own account of its calls must not move either).
fn a_failed_call_changes_nothing(r: &mut SqliteReplica) {
    call(r, 0, "a", &add_one());
    call(r, 10, "b", &schedule_req("MTLP0001"));
    let before = r.export().unwrap();
    let attempt = |r: &mut SqliteReplica, time_ms: u64, id: &str, request: &Request| {
        let message_id = mid(id);
        r.call(&Ordered {
            seq: 3,
            time_ms,
            message_id: Some(&message_id),
            request,
            memory: MEMORY,
        })
    };
    // Fails at the last write of seq 3, remembering "c", after forgetting "a" and "b" and
    // reserving.
    r.conn
        .execute_batch(
            "CREATE TEMP TRIGGER sabotage AFTER INSERT ON main.remembered_call
             WHEN NEW.seq = 3
             BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;",
        )
        .unwrap();
    assert_storage(attempt(r, 5_000, "c", &reserve("MTLP0001")));
    r.conn.execute_batch("DROP TRIGGER sabotage").unwrap();
    assert_eq!(r.applied_seq(), 2);
    assert_eq!(r.export().unwrap(), before);
    // Fails remembering "c", after reserving.
    r.conn
        .execute_batch(
            "CREATE TEMP TRIGGER sabotage BEFORE INSERT ON main.remembered_call
             BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;",
        )
        .unwrap();
    assert_storage(attempt(r, 20, "c", &reserve("MTLP0001")));
    r.conn.execute_batch("DROP TRIGGER sabotage").unwrap();
    assert_eq!(r.applied_seq(), 2);
    assert_eq!(r.export().unwrap(), before);
    // Seq 3 again, at a time that forgets nothing: "a" is still there to repeat.
    assert_eq!(call(r, 20, "a", &add_one()), repeat(Code::Created, 1));
    assert_eq!(
        call(r, 20, "c", &reserve("MTLP0001")),
        fresh(Code::Reserved)
    );
    assert_eq!(remembered(r), pairs(&[("a", 1), ("b", 2), ("c", 4)]));
}

#[test]
fn a_failed_call_changes_nothing_in_a_transaction() {
    a_failed_call_changes_nothing(&mut SqliteReplica::in_memory().unwrap());
}

#[test]
fn a_failed_call_changes_nothing_in_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    a_failed_call_changes_nothing(&mut r);
    let snapshot = r.export().unwrap();
    r.sync().unwrap();
    drop(r);
    let r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    assert_eq!(r.export().unwrap(), snapshot);
}

/// Turns the database in `dir` back into what schema version 1 wrote.
fn downgrade_to_version_1(dir: &Path) {
    let conn = Connection::open(dir.join(DATABASE_FILE)).unwrap();
    conn.execute_batch("DROP TABLE remembered_call; PRAGMA user_version = 1;")
        .unwrap();
}

#[test]
fn a_version_1_database_gains_an_empty_call_memory() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let mut r = SqliteReplica::open(dir.path(), Durability::Sync).unwrap();
        plain(&mut r, 0, &add_one());
        plain(&mut r, 0, &reserve("MTLP0001"));
        r.export().unwrap()
    };
    downgrade_to_version_1(dir.path());
    let mut r = SqliteReplica::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!(r.applied_seq(), 2);
    assert_eq!(r.export().unwrap(), before);
    assert_eq!(
        call(&mut r, 0, "a", &reserve("MTLP0002")),
        fresh(Code::SlotFull)
    );
    drop(r);
    let mut r = SqliteReplica::open(dir.path(), Durability::Sync).unwrap();
    assert_eq!(
        call(&mut r, 0, "a", &reserve("MTLP0002")),
        repeat(Code::SlotFull, 3)
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteReplica::open(dir.path(), Durability::Sync).unwrap());
    Connection::open(dir.path().join(DATABASE_FILE))
        .unwrap()
        .execute_batch("PRAGMA user_version = 3;")
        .unwrap();
    assert!(matches!(
        SqliteReplica::open(dir.path(), Durability::Sync),
        Err(ReplicaError::Storage(_))
    ));
}
