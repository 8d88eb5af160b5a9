//! Repeated calls (`docs/domain.md`, "Repeated calls"): at most once per message id, with the
//! remembered calls part of the state, the snapshot and the log.
//!
//! Scenarios run through [`Pair`], an in-memory and an on-disk replica side by side (equal
//! outcomes and exports after every call), reopened from the log when dropped.

use super::*;

use tessera_types::{CallMemory, CallRecord, MessageId, Ordered, Outcome};

/// Long enough that nothing is forgotten by age or count unless a test means it to be.
const ROOMY: CallMemory = CallMemory {
    max_age_ms: 1_000_000,
    max_entries: 1_000,
};

fn id(s: &str) -> MessageId {
    MessageId::parse(s).unwrap()
}

fn fresh(c: Code) -> Outcome {
    Outcome::fresh(code(c))
}

fn repeat(c: Code, of: u64) -> Outcome {
    Outcome {
        reply: code(c),
        repeat_of: Some(of),
    }
}

/// Calls `r` at its next seq.
fn call_at(
    r: &mut EventLogReplica,
    message_id: Option<&str>,
    time_ms: u64,
    memory: CallMemory,
    request: &Request,
) -> Result<Outcome, ReplicaError> {
    let message_id = message_id.map(id);
    r.call(&Ordered {
        seq: r.applied_seq() + 1,
        time_ms,
        message_id: message_id.as_ref(),
        request,
        memory,
    })
}

/// The message ids remembered, with their seqs, in seq order.
fn remembered(r: &EventLogReplica) -> Vec<(String, u64)> {
    r.export()
        .unwrap()
        .calls()
        .iter()
        .map(|c| (c.message_id.to_string(), c.seq))
        .collect()
}

fn named(items: &[(&str, u64)]) -> Vec<(String, u64)> {
    items.iter().map(|&(i, s)| (i.to_string(), s)).collect()
}

/// The log's length with every applied call written out (deferred mode buffers them until
/// the sync).
fn log_len(r: &mut EventLogReplica) -> u64 {
    r.sync().unwrap();
    fs::metadata(r.log_path().unwrap()).unwrap().len()
}

struct Pair {
    mem: EventLogReplica,
    disk: EventLogReplica,
    dir: tempfile::TempDir,
    memory: CallMemory,
}

impl Pair {
    fn new(memory: CallMemory) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Pair {
            mem: EventLogReplica::in_memory(),
            disk: reopen(dir.path()),
            dir,
            memory,
        }
    }

    fn call(&mut self, message_id: Option<&str>, time_ms: u64, request: &Request) -> Outcome {
        let out = call_at(&mut self.mem, message_id, time_ms, self.memory, request).unwrap();
        let disk = call_at(&mut self.disk, message_id, time_ms, self.memory, request).unwrap();
        assert_eq!(out.encode(), disk.encode(), "{message_id:?} {request:?}");
        assert_eq!(self.mem.export().unwrap(), self.disk.export().unwrap());
        assert_eq!(self.mem.applied_seq(), self.disk.applied_seq());
        out
    }

    /// Creates a slot with an admin of its own city, without a message id.
    fn slot(&mut self, t: &str, e: &str, capacity: i32) {
        let admin = format!("{}A0001", &e[..3]);
        let out = self.call(None, 0, &add_req(&admin, t, e, capacity));
        assert_eq!(out, fresh(Code::Created));
    }

    fn export(&self) -> Snapshot {
        self.mem.export().unwrap()
    }
}

impl Drop for Pair {
    /// The log alone rebuilds the state, remembered calls included.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let old = std::mem::replace(&mut self.disk, EventLogReplica::in_memory());
        drop(old);
        let reopened = reopen(self.dir.path());
        assert_eq!(reopened.applied_seq(), self.mem.applied_seq());
        assert_eq!(reopened.export().unwrap(), self.mem.export().unwrap());
        assert_eq!(reopened.digest().unwrap(), self.mem.digest().unwrap());
    }
}

#[test]
fn a_repeat_returns_the_first_reply_and_changes_nothing_else() {
    let mut p = Pair::new(ROOMY);
    p.slot(CON, "MTLE101226", 5);
    let reserve = reserve_req("MTLP0001", CON, "MTLE101226");
    assert_eq!(p.call(Some("m1"), 10, &reserve), fresh(Code::Reserved));
    let before = p.export();
    assert_eq!(before.calls().len(), 1);
    // Executed again, it would be ALREADY_RESERVED; as a repeat it is the first answer.
    for (seq, time) in [(3, 10), (4, 500)] {
        assert_eq!(
            p.call(Some("m1"), time, &reserve),
            repeat(Code::Reserved, 2)
        );
        assert_eq!(p.mem.applied_seq(), seq, "a repeat consumes its seq");
        assert_eq!(p.export(), before);
    }
    // Without a message id the same request is executed.
    assert_eq!(p.call(None, 500, &reserve), fresh(Code::AlreadyReserved));
    assert_eq!(p.export(), before);
}

#[test]
fn a_repeat_of_a_read_returns_the_reply_of_then() {
    let mut p = Pair::new(ROOMY);
    p.slot(ART, "TORM010126", 2);
    let list = list_req("MTLA0001", ART);
    let first = p.call(Some("list"), 0, &list);
    p.call(None, 0, &reserve_req("TORP0001", ART, "TORM010126"));
    let again = p.call(Some("list"), 0, &list);
    assert_eq!(again.repeat_of, Some(2));
    assert_eq!(again.reply, first.reply, "the first reply, not today's");
    assert_ne!(p.call(None, 0, &list).reply, first.reply);
}

#[test]
fn same_id_with_another_request_is_message_id_reused() {
    let mut p = Pair::new(ROOMY);
    p.slot(CON, "MTLE101226", 5);
    let reserve = reserve_req("MTLP0001", CON, "MTLE101226");
    let other = reserve_req("MTLP0002", CON, "MTLE101226");
    assert_eq!(p.call(Some("m1"), 10, &reserve), fresh(Code::Reserved));
    let before = p.export();
    assert_eq!(p.call(Some("m1"), 11, &other), fresh(Code::MessageIdReused));
    assert_eq!(p.export(), before, "not executed, not remembered");
    assert_eq!(p.mem.applied_seq(), 3);
    // The first call is still what the id names.
    assert_eq!(p.call(Some("m1"), 12, &reserve), repeat(Code::Reserved, 2));
    assert_eq!(remembered(&p.mem), named(&[("m1", 2)]));
}

#[test]
fn forgetting_by_age_keeps_exactly_max_age_and_forgets_one_ms_more() {
    let memory = CallMemory {
        max_age_ms: 500,
        max_entries: 1_000,
    };
    let mut p = Pair::new(memory);
    p.slot(CON, "MTLE101226", 5);
    let reserve = reserve_req("MTLP0001", CON, "MTLE101226");
    assert_eq!(p.call(Some("m1"), 1_000, &reserve), fresh(Code::Reserved));
    assert_eq!(
        p.call(Some("m2"), 1_001, &schedule_req("MTLP0001"))
            .repeat_of,
        None
    );
    // now - time == max_age: still remembered.
    assert_eq!(
        p.call(Some("m1"), 1_500, &reserve),
        repeat(Code::Reserved, 2)
    );
    assert_eq!(remembered(&p.mem), named(&[("m1", 2), ("m2", 3)]));
    // One ms more: forgotten first (step 1), so the call is executed afresh (step 3).
    assert_eq!(
        p.call(Some("m1"), 1_501, &reserve),
        fresh(Code::AlreadyReserved)
    );
    assert_eq!(remembered(&p.mem), named(&[("m2", 3), ("m1", 5)]));
    // A call without a message id forgets too.
    p.call(None, 1_502, &schedule_req("MTLP0001"));
    assert_eq!(remembered(&p.mem), named(&[("m1", 5)]));
    p.call(None, 100_000, &schedule_req("MTLP0001"));
    assert!(p.export().calls().is_empty());
}

#[test]
fn an_aged_out_id_with_another_request_is_executed_not_reused() {
    let memory = CallMemory {
        max_age_ms: 10,
        max_entries: 1_000,
    };
    let mut p = Pair::new(memory);
    p.slot(CON, "MTLE101226", 5);
    p.call(Some("m1"), 0, &reserve_req("MTLP0001", CON, "MTLE101226"));
    let other = reserve_req("MTLP0002", CON, "MTLE101226");
    assert_eq!(p.call(Some("m1"), 10, &other), fresh(Code::MessageIdReused));
    assert_eq!(p.call(Some("m1"), 11, &other), fresh(Code::Reserved));
    assert_eq!(remembered(&p.mem), named(&[("m1", 4)]));
}

#[test]
fn forgetting_by_count_drops_the_lowest_seq_first() {
    let memory = CallMemory {
        max_age_ms: 1_000_000,
        max_entries: 2,
    };
    let mut p = Pair::new(memory);
    p.slot(CON, "MTLE101226", 5);
    for (i, who) in ["a", "b", "c"]
        .iter()
        .zip(["MTLP0001", "MTLP0002", "MTLP0003"])
    {
        let out = p.call(Some(i), 0, &reserve_req(who, CON, "MTLE101226"));
        assert_eq!(out, fresh(Code::Reserved));
    }
    assert_eq!(remembered(&p.mem), named(&[("b", 3), ("c", 4)]));
    // A repeat does not count as a new entry, nor refresh the order.
    let b = reserve_req("MTLP0002", CON, "MTLE101226");
    assert_eq!(p.call(Some("b"), 0, &b), repeat(Code::Reserved, 3));
    // `a` is forgotten: executed again.
    let a = reserve_req("MTLP0001", CON, "MTLE101226");
    assert_eq!(p.call(Some("a"), 0, &a), fresh(Code::AlreadyReserved));
    assert_eq!(remembered(&p.mem), named(&[("c", 4), ("a", 6)]));
}

#[test]
fn max_entries_zero_remembers_nothing() {
    let memory = CallMemory {
        max_age_ms: 1_000_000,
        max_entries: 0,
    };
    let mut p = Pair::new(memory);
    p.slot(CON, "MTLE101226", 5);
    let reserve = reserve_req("MTLP0001", CON, "MTLE101226");
    assert_eq!(p.call(Some("a"), 0, &reserve), fresh(Code::Reserved));
    assert!(p.export().calls().is_empty());
    assert_eq!(p.call(Some("a"), 0, &reserve), fresh(Code::AlreadyReserved));
}

#[test]
fn a_lower_limit_later_forgets_the_excess_at_once() {
    let mut p = Pair::new(ROOMY);
    for i in ["a", "b", "c", "d"] {
        p.call(Some(i), 0, &schedule_req("MTLP0001"));
    }
    p.memory.max_entries = 2;
    p.call(Some("e"), 0, &schedule_req("MTLP0001"));
    assert_eq!(remembered(&p.mem), named(&[("d", 4), ("e", 5)]));
    // The limit applies when a call is remembered; a call without an id leaves the rest.
    p.memory.max_entries = 1;
    p.call(None, 0, &schedule_req("MTLP0001"));
    assert_eq!(remembered(&p.mem).len(), 2);
}

#[test]
fn a_failing_request_is_remembered_with_its_failing_reply() {
    let mut p = Pair::new(ROOMY);
    p.slot(CON, "MTLE101226", 1);
    p.call(None, 0, &reserve_req("MTLP0001", CON, "MTLE101226"));
    let reserve = reserve_req("MTLP0002", CON, "MTLE101226");
    assert_eq!(p.call(Some("m2"), 0, &reserve), fresh(Code::SlotFull));
    let calls = p.export().calls().to_vec();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].reply, code(Code::SlotFull));
    assert_eq!(calls[0].request, reserve);
    // A place frees up, but the retry still gets the first answer and takes nothing.
    p.call(None, 0, &cancel_req("MTLP0001", CON, "MTLE101226"));
    assert_eq!(p.call(Some("m2"), 0, &reserve), repeat(Code::SlotFull, 3));
    assert_eq!(p.export().slots()[0].holders, Vec::<UserId>::new());
}

#[test]
fn a_refused_call_changes_nothing_and_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = reopen(dir.path());
    let schedule = schedule_req("MTLP0001");
    call_at(&mut r, Some("a"), 0, ROOMY, &schedule).unwrap();
    let (before, len) = (r.export().unwrap(), log_len(&mut r));
    let message_id = id("b");
    let wrong_seq = Ordered {
        seq: 5,
        time_ms: u64::MAX,
        message_id: Some(&message_id),
        request: &schedule,
        memory: CallMemory {
            max_age_ms: 0,
            max_entries: 0,
        },
    };
    assert!(matches!(
        r.call(&wrong_seq),
        Err(ReplicaError::Sequence {
            expected: 2,
            got: 5
        })
    ));
    assert_eq!((r.applied_seq(), r.export().unwrap()), (1, before));
    assert_eq!(log_len(&mut r), len);
}

#[test]
fn calls_without_a_message_id_log_only_their_commit_unless_something_is_forgotten() {
    let memory = CallMemory {
        max_age_ms: 100,
        max_entries: 1_000,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut r = reopen(dir.path());
    let schedule = schedule_req("MTLP0001");
    let bare = {
        let len = log_len(&mut r);
        call_at(&mut r, None, 0, memory, &schedule).unwrap();
        log_len(&mut r) - len
    };
    for i in 0..50 {
        call_at(&mut r, Some(&format!("m{i}")), 50, memory, &schedule).unwrap();
    }
    let len = log_len(&mut r);
    call_at(&mut r, None, 150, memory, &schedule).unwrap();
    assert_eq!(
        log_len(&mut r) - len,
        bare,
        "nothing old enough: a bare commit"
    );
    let len = log_len(&mut r);
    call_at(&mut r, None, 151, memory, &schedule).unwrap();
    assert!(
        log_len(&mut r) - len > bare,
        "all 50 forgotten, in one record"
    );
    assert!(r.export().unwrap().calls().is_empty());
}

const SCENARIO_MEMORY: CallMemory = CallMemory {
    max_age_ms: 100,
    max_entries: 3,
};

type Step = (Option<&'static str>, u64, Request);

/// Calls of every kind: executed, repeated, reused, aged out and pushed out by count.
fn call_steps() -> Vec<Step> {
    vec![
        (None, 0, add_req("MTLA0001", CON, "MTLM050126", 2)),
        (Some("a"), 0, reserve_req("MTLP0001", CON, "MTLM050126")),
        (Some("b"), 10, reserve_req("MTLP0002", CON, "MTLM050126")),
        (Some("c"), 20, reserve_req("MTLP0003", CON, "MTLM050126")),
        (Some("a"), 30, reserve_req("MTLP0001", CON, "MTLM050126")),
        (Some("b"), 40, cancel_req("MTLP0002", CON, "MTLM050126")),
        (Some("d"), 50, cancel_req("MTLP0002", CON, "MTLM050126")),
        (None, 121, schedule_req("MTLP0001")),
        (Some("a"), 125, remove_req("MTLA0001", CON, "MTLM050126")),
    ]
}

fn run_step(r: &mut EventLogReplica, (i, t, q): &Step) -> Outcome {
    call_at(r, *i, *t, SCENARIO_MEMORY, q).unwrap()
}

fn call_scenario(r: &mut EventLogReplica) -> Vec<Outcome> {
    call_steps().iter().map(|step| run_step(r, step)).collect()
}

#[test]
fn the_call_scenario_does_what_the_rules_say() {
    let mut r = EventLogReplica::in_memory();
    let outcomes: Vec<(Code, Option<u64>)> = call_scenario(&mut r)
        .iter()
        .map(|o| (o.reply.code, o.repeat_of))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (Code::Created, None),
            (Code::Reserved, None),
            (Code::Reserved, None),
            (Code::SlotFull, None),
            (Code::Reserved, Some(2)),
            (Code::MessageIdReused, None),
            (Code::Cancelled, None),
            (Code::Ok, None),
            (Code::Removed, None),
        ]
    );
    // `a` went by count when `d` came; at 121, `b` and `c` (times 10 and 20) by age; then
    // `a` came again and was executed.
    assert_eq!(remembered(&r), named(&[("d", 7), ("a", 9)]));
}

#[test]
fn reopen_keeps_the_remembered_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut mem = EventLogReplica::in_memory();
    let expected = call_scenario(&mut mem);
    {
        let mut disk = EventLogReplica::open(dir.path(), Durability::Sync).unwrap();
        assert_eq!(call_scenario(&mut disk), expected);
    }
    let mut disk = reopen(dir.path());
    assert_eq!(disk.applied_seq(), mem.applied_seq());
    assert_eq!(disk.export().unwrap(), mem.export().unwrap());
    // What it remembers it still answers as a repeat, after the reopen.
    let again = call_at(
        &mut disk,
        Some("d"),
        120,
        ROOMY,
        &cancel_req("MTLP0002", CON, "MTLM050126"),
    );
    assert_eq!(again.unwrap(), repeat(Code::Cancelled, 7));
}

#[test]
fn torn_tail_keeps_exactly_the_committed_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = reopen(dir.path());
    // (log length, seq, export) before the first call and after each.
    let mark = |r: &mut EventLogReplica| (log_len(r), r.applied_seq(), r.export().unwrap());
    let mut marks = vec![mark(&mut disk)];
    for step in call_steps() {
        run_step(&mut disk, &step);
        marks.push(mark(&mut disk));
    }
    let path = disk.log_path().unwrap().to_path_buf();
    drop(disk);
    let full = fs::read(&path).unwrap();
    // Every cut inside every call, at record boundaries too, lands on the call before it.
    for pair in marks.windows(2) {
        let (prev_len, prev_seq, prev) = &pair[0];
        let (last_len, _, _) = &pair[1];
        for cut in *prev_len..*last_len {
            fs::write(&path, &full[..cut as usize]).unwrap();
            let r = reopen(dir.path());
            assert_eq!((r.applied_seq(), &r.export().unwrap()), (*prev_seq, prev));
        }
    }
    // The last call (remove with `a`) forgets and remembers: after recovery it goes in again.
    let (prev_len, _, _) = &marks[marks.len() - 2];
    fs::write(&path, &full[..(*prev_len + 5) as usize]).unwrap();
    let mut r = reopen(dir.path());
    let last = call_steps().pop().unwrap();
    assert_eq!(
        run_step(&mut r, &last),
        Outcome::fresh(Reply::removed(0, 1))
    );
    drop(r);
    let r = reopen(dir.path());
    let (_, seq, last) = &marks[marks.len() - 1];
    assert_eq!((r.applied_seq(), &r.export().unwrap()), (*seq, last));
}

#[test]
fn export_import_round_trip_with_calls_and_import_replaces_them() {
    let mut source = EventLogReplica::in_memory();
    call_scenario(&mut source);
    let snapshot = source.export().unwrap();
    assert_eq!(snapshot.calls().len(), 2);
    assert_eq!(Snapshot::decode(&snapshot.encode()).unwrap(), snapshot);
    assert_eq!(source.digest().unwrap(), snapshot.digest());

    let dir = tempfile::tempdir().unwrap();
    let mut mem = EventLogReplica::in_memory();
    let mut disk = reopen(dir.path());
    // Calls remembered before the import are replaced, not merged.
    for r in [&mut mem, &mut disk] {
        let schedule = schedule_req("MTLP0001");
        call_at(r, Some("old"), 0, ROOMY, &schedule).unwrap();
        call_at(r, Some("d"), 0, ROOMY, &schedule).unwrap();
        r.import(40, &snapshot).unwrap();
        assert_eq!(r.export().unwrap(), snapshot);
        assert_eq!(r.digest().unwrap(), snapshot.digest());
    }
    let d = cancel_req("MTLP0002", CON, "MTLM050126");
    let old = schedule_req("MTLP0001");
    for r in [&mut mem, &mut disk] {
        assert_eq!(
            call_at(r, Some("d"), 130, ROOMY, &d).unwrap(),
            repeat(Code::Cancelled, 7)
        );
        let out = call_at(r, Some("old"), 130, ROOMY, &old).unwrap();
        assert_eq!(out.repeat_of, None, "forgotten with the state it replaced");
    }
    assert_eq!(remembered(&disk), named(&[("d", 7), ("a", 9), ("old", 42)]));
    let expected = disk.export().unwrap();
    drop(disk);
    let disk = reopen(dir.path());
    assert_eq!((disk.applied_seq(), disk.export().unwrap()), (42, expected));

    // Importing a snapshot without calls forgets them all, on disk too.
    let mut disk = disk;
    disk.import(50, &Snapshot::default()).unwrap();
    drop(disk);
    assert_eq!(reopen(dir.path()).export().unwrap(), Snapshot::default());
}

#[test]
fn compaction_keeps_the_remembered_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = reopen(dir.path());
    call_scenario(&mut disk);
    let before = disk.export().unwrap();
    disk.compact().unwrap();
    drop(disk);
    let disk = reopen(dir.path());
    assert_eq!(disk.export().unwrap(), before);
    assert_eq!(disk.applied_seq(), call_steps().len() as u64);
}

#[test]
fn a_log_written_before_calls_were_remembered_still_replays() {
    // Such a log starts from a snapshot in the encoding of that time, which had no calls
    // list: today's encoding of a snapshot without calls minus its last byte (the empty
    // list's length), as `decode_snapshot` relies on.
    let mut source = EventLogReplica::in_memory();
    run_all(&mut source, &scenario());
    let slots = Snapshot::new(source.export().unwrap().into_slots()).unwrap();
    let mut legacy = slots.encode();
    assert_eq!(legacy.pop(), Some(0));
    assert!(Snapshot::decode(&legacy).is_err());

    let dir = tempfile::tempdir().unwrap();
    crate::log::replace(dir.path(), Some((16, &legacy))).unwrap();
    let mut r = reopen(dir.path());
    assert_eq!((r.applied_seq(), r.export().unwrap()), (16, slots.clone()));
    // Requests logged after it, as an old release wrote them (events and a commit).
    run_all(&mut r, &[reserve_req("VANP0001", CON, "MTLE050126")]);
    call_at(&mut r, Some("new"), 0, ROOMY, &schedule_req("VANP0001")).unwrap();
    let expected = r.export().unwrap();
    drop(r);
    let r = reopen(dir.path());
    assert_eq!((r.applied_seq(), r.export().unwrap()), (18, expected));

    // Damage is still damage: bytes that are neither encoding are refused.
    let dir = tempfile::tempdir().unwrap();
    crate::log::replace(dir.path(), Some((16, &legacy[..legacy.len() - 1]))).unwrap();
    assert!(matches!(
        EventLogReplica::open(dir.path(), Durability::Deferred),
        Err(ReplicaError::Storage(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Against a model

/// A deterministic pseudo-random stream (SplitMix64): the crate uses no property-testing
/// library, and a fixed seed list makes any failure reproducible by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// "Repeated calls" read literally: a list searched front to back, forgetting by a filter
/// over all of it. Requests are executed by a replica that only ever sees calls without a
/// message id: the domain rules are tested elsewhere, this is about when they run.
struct Model {
    domain: EventLogReplica,
    calls: Vec<CallRecord>,
}

impl Model {
    fn call(&mut self, call: &Ordered<'_>) -> Outcome {
        let now = call.time_ms;
        self.calls
            .retain(|c| now - c.time_ms <= call.memory.max_age_ms);
        if let Some(id) = call.message_id {
            if let Some(c) = self.calls.iter().find(|c| c.message_id == *id) {
                if c.request == *call.request {
                    return Outcome {
                        reply: c.reply.clone(),
                        repeat_of: Some(c.seq),
                    };
                }
                return fresh(Code::MessageIdReused);
            }
        }
        let seq = self.domain.applied_seq() + 1;
        let reply = self.domain.apply(seq, call.request).unwrap();
        if let Some(id) = call.message_id {
            self.calls.push(CallRecord {
                message_id: id.clone(),
                seq: call.seq,
                time_ms: now,
                request: call.request.clone(),
                reply: reply.clone(),
            });
            while self.calls.len() as u64 > call.memory.max_entries {
                self.calls.remove(0);
            }
        }
        Outcome::fresh(reply)
    }

    fn export(&self) -> Snapshot {
        let slots = self.domain.export().unwrap().into_slots();
        Snapshot::with_calls(slots, self.calls.clone()).unwrap()
    }
}

/// A request from a small world, so that ids, slots and participants collide often.
fn random_request(rng: &mut Rng) -> Request {
    let event = *rng.pick(&["MTLM050126", "MTLE050126", "MTLA060126"]);
    let who = *rng.pick(&["MTLP0001", "MTLP0002", "TORP0003"]);
    match rng.below(8) {
        0 => add_req("MTLA0001", CON, event, 1 + rng.below(2) as i32),
        1 => remove_req("MTLA0001", CON, event),
        2 => list_req("TORA0001", CON),
        3 => schedule_req(who),
        4 => cancel_req(who, CON, event),
        5 => exchange_req(
            who,
            CON,
            event,
            CON,
            rng.pick::<&str>(&["MTLM050126", "MTLE050126"]),
        ),
        _ => reserve_req(who, CON, event),
    }
}

#[test]
fn random_calls_match_the_model() {
    // How often each case came up, so that the test is known to reach them all.
    let (mut repeats, mut reused, mut by_age, mut by_count) = (0, 0, 0, 0);
    for seed in 0..150u64 {
        let mut rng = Rng(seed);
        let memory = CallMemory {
            max_age_ms: *rng.pick(&[0, 5, 20, 1_000]),
            max_entries: rng.below(5),
        };
        let dir = tempfile::tempdir().unwrap();
        let mut disk = reopen(dir.path());
        let mut mem = EventLogReplica::in_memory();
        let mut model = Model {
            domain: EventLogReplica::in_memory(),
            calls: Vec::new(),
        };
        // Retries: a recent (id, request) is often sent again, sometimes with another
        // request under the same id.
        let mut sent: Vec<(MessageId, Request)> = Vec::new();
        let mut time = 0u64;
        for step in 0..60u64 {
            time += *rng.pick(&[0, 0, 1, 3, 7]);
            let (message_id, request) = match rng.below(6) {
                0 => (None, random_request(&mut rng)),
                1 | 2 if !sent.is_empty() => {
                    let (i, q) = rng.pick(&sent).clone();
                    (Some(i), q)
                }
                _ => (
                    Some(id(rng.pick::<&str>(&["a", "b", "c", "d", "e"]))),
                    random_request(&mut rng),
                ),
            };
            if let Some(i) = &message_id {
                sent.push((i.clone(), request.clone()));
            }
            let call = Ordered {
                seq: step + 1,
                time_ms: time,
                message_id: message_id.as_ref(),
                request: &request,
                memory,
            };
            let remembered_before = model.calls.clone();
            let expected = model.call(&call);
            repeats += usize::from(expected.repeat_of.is_some());
            reused += usize::from(expected.reply.code == Code::MessageIdReused);
            let aged = remembered_before
                .iter()
                .any(|c| time - c.time_ms > memory.max_age_ms);
            by_age += usize::from(aged);
            by_count += usize::from(
                !aged
                    && model.calls.len() <= remembered_before.len()
                    && message_id.is_some()
                    && expected.repeat_of.is_none()
                    && expected.reply.code != Code::MessageIdReused,
            );
            let context = format!("seed {seed} step {step}: {message_id:?} {request:?}");
            assert_eq!(mem.call(&call).unwrap(), expected, "{context}");
            assert_eq!(disk.call(&call).unwrap(), expected, "{context}");
            let state = model.export();
            assert_eq!(mem.export().unwrap(), state, "{context}");
            assert_eq!(mem.digest().unwrap(), state.digest(), "{context}");
            if rng.below(10) == 0 {
                drop(disk);
                disk = reopen(dir.path());
                assert_eq!(disk.export().unwrap(), state, "{context}, reopened");
            }
        }
        drop(disk);
        let disk = reopen(dir.path());
        assert_eq!(disk.export().unwrap(), model.export(), "seed {seed}");
        assert_eq!(disk.applied_seq(), 60);
    }
    assert!(
        [repeats, reused, by_age, by_count].iter().all(|&n| n > 100),
        "{repeats} repeats, {reused} reused, {by_age} forgot by age, {by_count} by count"
    );
}
