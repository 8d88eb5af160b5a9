//! The repeated-call rules against a model: random sequences of calls (a few message ids,
//! a few requests, a small `max_entries`, times advancing by small and large steps) must
//! give the model's outcomes and state at every step, through reopening too.
//!
//! The model is `docs/domain.md`, "Repeated calls", written as plainly as possible: a list
//! of records, filtered by age, searched by id, truncated from the front. What it executes
//! it hands to a second replica as calls without message id, so the model checks the
//! remembering and nothing else. The crate has no property-testing dependency; the
//! sequences come from a fixed-seed generator, so every run checks the same cases.

use tessera_types::{
    CallMemory, CallRecord, Code, Durability, MessageId, Ordered, Outcome, Replica, Reply, Request,
    Snapshot,
};

use super::*;
use crate::SqliteReplica;

struct Model {
    /// Executes the requests the rules say to execute.
    executor: SqliteReplica,
    /// The remembered calls, in seq order.
    calls: Vec<CallRecord>,
}

impl Model {
    fn new() -> Model {
        Model {
            executor: SqliteReplica::in_memory().unwrap(),
            calls: Vec::new(),
        }
    }

    fn call(&mut self, call: &Ordered<'_>) -> Outcome {
        let memory = call.memory;
        self.calls
            .retain(|c| call.time_ms - c.time_ms <= memory.max_age_ms);
        if let Some(id) = call.message_id {
            if let Some(first) = self.calls.iter().find(|c| c.message_id == *id) {
                if first.request == *call.request {
                    return Outcome {
                        reply: first.reply.clone(),
                        repeat_of: Some(first.seq),
                    };
                }
                return Outcome::fresh(Reply::code(Code::MessageIdReused));
            }
        }
        let seq = self.executor.applied_seq() + 1;
        let reply = self.executor.apply(seq, call.request).unwrap();
        if let Some(id) = call.message_id {
            self.calls.push(CallRecord {
                message_id: id.clone(),
                seq: call.seq,
                time_ms: call.time_ms,
                request: call.request.clone(),
                reply: reply.clone(),
            });
            while self.calls.len() as u64 > memory.max_entries {
                self.calls.remove(0);
            }
        }
        Outcome::fresh(reply)
    }

    fn snapshot(&self) -> Snapshot {
        let slots = self.executor.export().unwrap().into_slots();
        Snapshot::with_calls(slots, self.calls.clone()).unwrap()
    }
}

/// xorshift64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Requests that interact: one small slot to add, resize, remove, fill and empty, and reads
/// whose replies change with it.
fn pool() -> Vec<Request> {
    vec![
        add_req("MTLA0001", CON, "MTLE101226", 1),
        add_req("MTLA0001", CON, "MTLE101226", 2),
        remove_req("MTLA0001", CON, "MTLE101226"),
        reserve_req("MTLP0001", CON, "MTLE101226"),
        reserve_req("MTLP0002", CON, "MTLE101226"),
        cancel_req("MTLP0001", CON, "MTLE101226"),
        schedule_req("MTLP0001"),
        list_req("MTLA0001", CON),
    ]
}

const IDS: [&str; 4] = ["a", "b", "c", "d"];

/// One random run: `steps` calls, checked one by one against the model; now and then the
/// replica is closed and reopened (dropping commits its batch).
fn run(seed: u64, memory: CallMemory, steps: usize) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let requests = pool();
    let ids: Vec<MessageId> = IDS.iter().map(|s| MessageId::parse(s).unwrap()).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
    let mut model = Model::new();
    let mut time_ms = 1_000;
    for step in 0..steps {
        time_ms += match rng.below(10) {
            0..=5 => 0,
            6..=8 => rng.below(memory.max_age_ms + 2),
            _ => rng.below(3 * memory.max_age_ms + 10),
        };
        let id_pick = rng.below(IDS.len() as u64 + 2) as usize;
        let request = &requests[rng.below(requests.len() as u64) as usize];
        let call = Ordered {
            seq: r.applied_seq() + 1,
            time_ms,
            message_id: ids.get(id_pick),
            request,
            memory,
        };
        let context = format!("seed {seed}, {memory:?}, step {step}: {call:?}");
        assert_eq!(r.call(&call).unwrap(), model.call(&call), "{context}");
        let snapshot = r.export().unwrap();
        assert_eq!(snapshot, model.snapshot(), "{context}");
        assert_eq!(r.digest().unwrap(), snapshot.digest(), "{context}");
        if rng.below(40) == 0 {
            drop(r);
            r = SqliteReplica::open(dir.path(), Durability::Deferred).unwrap();
        }
    }
}

#[test]
fn random_calls_follow_the_model() {
    for (seed, max_age_ms, max_entries) in [
        (1, 10, 3),
        (2, 10, 2),
        (3, 5, 1),
        (4, 0, 3),
        (5, 20, 0),
        (6, 50, 4),
        (7, 3, 3),
        (8, 1_000_000, 2),
    ] {
        let memory = CallMemory {
            max_age_ms,
            max_entries,
        };
        run(seed, memory, 250);
    }
}
