//! Tessera replica kept entirely in ordered in-memory maps.
//!
//! One of four N-version implementations of `docs/domain.md`. It keeps no files: durability
//! comes from the cluster (state transfer via [`Snapshot`]), and a restart begins empty.
//! Every index is a `BTreeMap`/`BTreeSet`, so iteration order is a function of the contents
//! alone and replies are deterministic.

mod calendar;
mod ops;
mod state;

use tessera_types::{Replica, ReplicaError, Reply, Request, Snapshot};

use crate::state::State;

#[derive(Debug, Clone, Default)]
pub struct MemoryReplica {
    state: State,
    applied_seq: u64,
}

impl MemoryReplica {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Replica for MemoryReplica {
    fn apply(&mut self, seq: u64, request: &Request) -> Result<Reply, ReplicaError> {
        let expected = self.applied_seq.wrapping_add(1);
        if seq != expected || expected == 0 {
            return Err(ReplicaError::Sequence { expected, got: seq });
        }
        let reply = ops::execute(&mut self.state, request);
        self.applied_seq = seq;
        Ok(reply)
    }

    fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        Ok(self.state.to_snapshot()?)
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        // Built aside and swapped in, so the replica is never seen half-imported.
        self.state = State::from_snapshot(snapshot);
        self.applied_seq = seq;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
