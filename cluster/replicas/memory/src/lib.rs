//! Tessera replica kept entirely in ordered in-memory maps.
//!
//! One of four N-version implementations of `docs/domain.md`. It keeps no files: durability
//! comes from the cluster (state transfer via [`Snapshot`]), and a restart begins empty.
//! Every index is a `BTreeMap`/`BTreeSet`, so iteration order is a function of the contents
//! alone and replies are deterministic.

mod calendar;
mod calls;
mod ops;
mod state;

use tessera_types::{
    CallRecord, Code, Ordered, Outcome, Replica, ReplicaError, Reply, Request, Snapshot,
};

use crate::calls::Remembered;
use crate::state::State;

#[derive(Debug, Clone, Default)]
pub struct MemoryReplica {
    state: State,
    calls: Remembered,
    applied_seq: u64,
}

impl MemoryReplica {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Replica for MemoryReplica {
    fn call(&mut self, call: &Ordered<'_>) -> Result<Outcome, ReplicaError> {
        let seq = call.seq;
        let expected = self.applied_seq.wrapping_add(1);
        if seq != expected || expected == 0 {
            return Err(ReplicaError::Sequence { expected, got: seq });
        }
        self.calls
            .forget_older(call.time_ms, call.memory.max_age_ms);
        let outcome = match call.message_id.and_then(|id| self.calls.get(id)) {
            Some(first) if first.request == *call.request => Outcome {
                reply: first.reply.clone(),
                repeat_of: Some(first.seq),
            },
            Some(_) => Outcome::fresh(Reply::code(Code::MessageIdReused)),
            None => {
                let reply = ops::execute(&mut self.state, call.request);
                if let Some(id) = call.message_id {
                    let record = CallRecord {
                        message_id: id.clone(),
                        seq,
                        time_ms: call.time_ms,
                        request: call.request.clone(),
                        reply: reply.clone(),
                    };
                    self.calls.remember(record, call.memory.max_entries);
                }
                Outcome::fresh(reply)
            }
        };
        self.applied_seq = seq;
        Ok(outcome)
    }

    fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    fn read(&self, request: &Request) -> Result<Option<Reply>, ReplicaError> {
        Ok(ops::read(&self.state, request))
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        let slots = self.state.to_snapshot()?.into_slots();
        Ok(Snapshot::with_calls(
            slots,
            self.calls.records().cloned().collect(),
        )?)
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        // Built aside and swapped in, so the replica is never seen half-imported.
        self.state = State::from_snapshot(snapshot);
        self.calls = Remembered::from_records(snapshot.calls());
        self.applied_seq = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
