//! The interface every replica implementation provides to its replica manager.

use crate::call::{CallMemory, Ordered, Outcome};
use crate::reply::Reply;
use crate::request::Request;
use crate::snapshot::{Digest, Snapshot, SnapshotError};

/// When a persistent replica forces applied requests to stable storage.
///
/// Whatever the mode, storage is crash-consistent per request: after a crash and reopen, the
/// state is exactly the state after the first `applied_seq()` requests, never a partial one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every applied request is on stable storage (fsync) before `apply` returns.
    #[default]
    Sync,
    /// Applied requests are on stable storage once [`Replica::sync`] returns; the host batches
    /// many requests per sync (group commit). Tests use this and never sync.
    Deferred,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// Requests must arrive with consecutive sequence numbers; nothing was applied.
    #[error("expected sequence number {expected}, got {got}")]
    Sequence { expected: u64, got: u64 },
    /// The storage below the replica failed; the replica should be replaced.
    #[error("storage failure: {0}")]
    Storage(String),
    #[error("cannot install snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
}

/// A deterministic state machine for the rules of `docs/domain.md`.
///
/// Implementations must not read clocks, random numbers or hash-iteration order: given the
/// same sequence of requests, every correct implementation returns byte-identical replies
/// and exports an equal snapshot.
pub trait Replica {
    /// Applies the call ordered at `call.seq`, which must be `applied_seq() + 1`, by the
    /// rules of `docs/domain.md`, repeated calls included: forget remembered calls older
    /// than `call.memory.max_age_ms`; a message id remembered with the same request gets its
    /// first reply again (`repeat_of` its seq), with another request `MESSAGE_ID_REUSED`;
    /// otherwise execute the request and, with a message id, remember the call (forgetting
    /// the oldest beyond `call.memory.max_entries`). A request that fails its checks still
    /// consumes its sequence number (its reply says why); only an `Err` leaves the sequence
    /// number unconsumed, and the state unchanged.
    fn call(&mut self, call: &Ordered<'_>) -> Result<Outcome, ReplicaError>;

    /// Applies `request` at `seq` as a call without a message id at time 0: what tests of
    /// the domain rules use.
    fn apply(&mut self, seq: u64, request: &Request) -> Result<Reply, ReplicaError> {
        let call = Ordered {
            seq,
            time_ms: 0,
            message_id: None,
            request,
            memory: CallMemory::default(),
        };
        self.call(&call).map(|o| o.reply)
    }

    /// Sequence number of the last applied request; 0 for a fresh replica.
    fn applied_seq(&self) -> u64;

    /// Answers a read-only `request` (`Request::is_read_only`) against the state after
    /// `applied_seq()`, as a call of it without a message id would, but consuming no sequence
    /// number and changing nothing: the front end's fast read path (`docs/protocol.md`,
    /// "Fast reads"). `Ok(None)`: this replica does not serve fast reads (the default), or
    /// `request` is not read-only; the front end then orders the read instead. Must be as
    /// deterministic as `call`: two correct replicas at the same seq answer the same bytes.
    fn read(&self, request: &Request) -> Result<Option<Reply>, ReplicaError> {
        let _ = request;
        Ok(None)
    }

    /// The current state in canonical form.
    fn export(&self) -> Result<Snapshot, ReplicaError>;

    /// Replaces the whole state with `snapshot`, taken after request `seq`.
    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError>;

    /// Digest of the current state; implementations may compute it faster than via export.
    fn digest(&self) -> Result<Digest, ReplicaError> {
        Ok(self.export()?.digest())
    }

    /// Forces everything applied so far to stable storage. A no-op for in-memory replicas.
    fn sync(&mut self) -> Result<(), ReplicaError> {
        Ok(())
    }
}

impl<R: Replica + ?Sized> Replica for Box<R> {
    fn call(&mut self, call: &Ordered<'_>) -> Result<Outcome, ReplicaError> {
        (**self).call(call)
    }
    fn applied_seq(&self) -> u64 {
        (**self).applied_seq()
    }
    fn read(&self, request: &Request) -> Result<Option<Reply>, ReplicaError> {
        (**self).read(request)
    }
    fn export(&self) -> Result<Snapshot, ReplicaError> {
        (**self).export()
    }
    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        (**self).import(seq, snapshot)
    }
    fn digest(&self) -> Result<Digest, ReplicaError> {
        (**self).digest()
    }
    fn sync(&mut self) -> Result<(), ReplicaError> {
        (**self).sync()
    }
}
