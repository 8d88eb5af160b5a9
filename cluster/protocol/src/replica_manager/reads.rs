//! The manager's side of fast reads (`docs/protocol.md`, "Fast reads"): a read waits until
//! every seq up to its `at_least` was written to the replica (the pipe keeps order, so the
//! replica executes the read after them), then goes to the replica as `ToReplica::Read`,
//! which consumes no seq; the answer goes back to the front end only if the replica says it
//! was at or beyond `at_least`. Reads are never ordered, cached or re-asked: a lost one is the
//! front end's to order instead.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::{ReadEntry, RequestId};

/// Reads held for their `at_least` at once; beyond this new ones are dropped (their front
/// ends fall back to ordering them).
pub const READS_HELD_MAX: usize = 4096;

/// How long a read waits for its `at_least` before it is dropped: the front end has long
/// fallen back by then.
pub const READ_HOLD: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct HeldRead {
    pub from: SocketAddr,
    pub entry: ReadEntry,
    pub arrived: Instant,
}

/// Reads waiting for their `at_least`, in `at_least` order (then arrival).
#[derive(Debug, Default)]
pub struct HeldReads {
    held: BTreeMap<(u64, u64), HeldRead>,
    next: u64,
}

impl HeldReads {
    pub fn hold(&mut self, now: Instant, from: SocketAddr, entry: ReadEntry) -> bool {
        if self.held.len() >= READS_HELD_MAX {
            self.expire(now);
            if self.held.len() >= READS_HELD_MAX {
                return false;
            }
        }
        self.next += 1;
        self.held.insert(
            (entry.at_least, self.next),
            HeldRead {
                from,
                entry,
                arrived: now,
            },
        );
        true
    }

    /// The held reads whose `at_least` is at most `delivered`, oldest `at_least` first;
    /// expired ones are dropped on the way.
    pub fn release(&mut self, now: Instant, delivered: u64) -> Vec<HeldRead> {
        let mut out = Vec::new();
        while let Some(entry) = self.held.first_entry() {
            if entry.key().0 > delivered {
                break;
            }
            let read = entry.remove();
            if now.saturating_duration_since(read.arrived) <= READ_HOLD {
                out.push(read);
            }
        }
        out
    }

    fn expire(&mut self, now: Instant) {
        self.held
            .retain(|_, r| now.saturating_duration_since(r.arrived) <= READ_HOLD);
    }

    pub fn clear(&mut self) {
        self.held.clear();
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }
}

/// What the replica owes for a read it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwedRead {
    pub id: RequestId,
    pub to: SocketAddr,
    pub at_least: u64,
}
