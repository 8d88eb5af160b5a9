//! The manager's view of its replica process: what was written to it and is still owed an
//! answer (answers come back in order), the group commit, and the digest kept for status.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::RequestId;

/// Requests written to the replica and not yet answered, at most. Beyond it, released
/// entries wait in the hold-back queue (bounded, and re-fetched by NACK beyond its bound)
/// rather than in the pipe: writes to the replica then never fill the pipe, and 256 small
/// requests fit a 64 KiB pipe buffer.
pub const MAX_IN_FLIGHT: usize = 256;

/// The status digest is asked for only when the replica is idle, and at most this often: on
/// the persistent replicas a digest walks the whole state.
pub const DIGEST_EVERY: Duration = Duration::from_millis(200);

/// ... and only once it has been idle this long: under a steady trickle of calls a replica is
/// idle between any two of them, and a digest then (all four replicas at about the same time,
/// each walking its whole state) held up the next call: it was most of the 1-connection p99.
pub const DIGEST_QUIET: Duration = Duration::from_millis(50);

/// An answer the replica owes, in the order it will come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owed {
    Applied {
        seq: u64,
        id: RequestId,
        reply_to: SocketAddr,
    },
    Synced,
    Digest,
    /// The export after this seq: a checkpoint.
    Checkpoint(u64),
    Imported,
    FaultSet,
    /// A fast read's answer, for the front end that asked.
    Read(super::reads::OwedRead),
}

#[derive(Debug)]
pub struct Pipeline {
    /// A replica process runs and said it is ready (with its pid).
    pub ready: Option<u32>,
    pub owed: VecDeque<Owed>,
    /// The replica's last applied seq, as its answers showed.
    pub last_applied: u64,
    /// Everything up to here is applied durably.
    pub synced: u64,
    /// A sync may not be asked for before this (group commit).
    pub next_sync: Instant,
    /// The state digest at `last_applied`, when known.
    pub digest: Option<[u8; 32]>,
    /// The seq of the last digest asked for; another is due only once more was applied.
    pub digest_seq: Option<u64>,
    pub next_digest: Instant,
    /// Requests the current process executed since it started.
    pub executed: u64,
    /// When the replica last made progress (answered, or was handed work while idle).
    pub last_progress: Instant,
}

impl Pipeline {
    pub fn new(now: Instant) -> Self {
        Pipeline {
            ready: None,
            owed: VecDeque::new(),
            last_applied: 0,
            synced: 0,
            next_sync: now,
            digest: None,
            digest_seq: None,
            next_digest: now,
            executed: 0,
            last_progress: now,
        }
    }

    /// A (new) replica process is ready, having applied everything up to `applied`.
    pub fn started(&mut self, now: Instant, pid: u32, applied: u64) {
        *self = Pipeline {
            ready: Some(pid),
            last_applied: applied,
            synced: applied,
            ..Pipeline::new(now)
        };
    }

    /// The process is gone: nothing it owed will come.
    pub fn stopped(&mut self, now: Instant) {
        *self = Pipeline {
            last_applied: self.last_applied,
            synced: self.synced,
            ..Pipeline::new(now)
        };
    }

    pub fn owes_a_reply(&self) -> bool {
        self.owed.iter().any(|o| matches!(o, Owed::Applied { .. }))
    }

    pub fn room(&self) -> bool {
        self.ready.is_some() && self.owed.len() < MAX_IN_FLIGHT
    }

    /// Applied work that no sync covers yet, and no sync outstanding.
    pub fn sync_wanted(&self) -> bool {
        self.ready.is_some()
            && self.last_applied > self.synced
            && !self.owed.iter().any(|o| *o == Owed::Synced)
    }

    /// Idle, and the digest at `last_applied` not asked for yet.
    pub fn digest_wanted(&self) -> bool {
        self.ready.is_some() && self.owed.is_empty() && self.digest_seq != Some(self.last_applied)
    }

    /// When the digest is due, if wanted: [`DIGEST_EVERY`] after the last one and
    /// [`DIGEST_QUIET`] after the replica's last progress.
    pub fn digest_due(&self) -> Instant {
        self.next_digest.max(self.last_progress + DIGEST_QUIET)
    }
}
