//! Which request ids already have a sequence number, so that a request is ordered at most once
//! however often, and however late, it is submitted again (a front end's retransmission, or a
//! captured `Submit` replayed after the sequencer restarted with empty replay windows).
//!
//! Per front end (by id; its incarnations are ordered, see `RequestId::incarnation`) it keeps
//! its newest incarnation, that incarnation's floor, the seq of each of its numbers among the
//! `window` most recent assignments, and the highest number whose assignment has been forgotten.
//! A request of an older incarnation, below the floor, or at or below the forgotten top without
//! being remembered is stale. The log restores all of it after a restart: the window's entries
//! from its records, the forgotten tops from those and from its front-end summary.
//!
//! The price of the forgotten top: a request that was never ordered while `window` later ones
//! of its front end were is refused too. Its front end has given up on it by then, or is about
//! to: the default window (`retain_max`, 100,000) lasts 4 s at the highest rate measured
//! (25,000 calls/s, `docs/performance.md`), against a 5 s request timeout, and for it to pass
//! every retransmission of that one request (at most 250 ms apart) must have been lost while
//! its front end's later requests got through. The simulation with a window of 300 does see
//! it (`a_slow_replica_catches_up_by_state_transfer` runs without loss for that reason).

use std::collections::{BTreeMap, VecDeque};

use crate::wire::RequestId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Never ordered.
    New,
    /// Already ordered with this seq.
    Known(u64),
    /// Ordered too long ago to say with what seq, settled, or from an older incarnation.
    Stale,
}

struct FrontEnd {
    incarnation: u64,
    floor: u64,
    /// Request number → seq, for numbers >= floor within the window.
    seqs: BTreeMap<u64, u64>,
    /// Highest number of `incarnation` whose assignment left the window.
    forgotten: Option<u64>,
}

impl FrontEnd {
    fn new(incarnation: u64) -> Self {
        FrontEnd {
            incarnation,
            floor: 0,
            seqs: BTreeMap::new(),
            forgotten: None,
        }
    }
}

pub(super) struct Dedup {
    window: u64,
    /// Keyed by front-end id, so bounded by the roster (the sequencer takes a front end's
    /// requests only under its own id). A BTreeMap rather than a HashMap: no random state.
    fes: BTreeMap<u32, FrontEnd>,
    /// Every remembered assignment in seq order, for forgetting the oldest in O(1).
    order: VecDeque<(u64, RequestId)>,
}

impl Dedup {
    pub(super) fn new(window: usize) -> Self {
        Dedup {
            window: window.max(1) as u64,
            fes: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The state of `incarnation`'s front end, started afresh if `incarnation` is newer than
    /// the one known; `None` if it is older.
    fn front_end(&mut self, incarnation: u64) -> Option<&mut FrontEnd> {
        let fe = self
            .fes
            .entry(RequestId::front_end_id_of(incarnation))
            .or_insert_with(|| FrontEnd::new(incarnation));
        if incarnation < fe.incarnation {
            return None;
        }
        if incarnation > fe.incarnation {
            *fe = FrontEnd::new(incarnation);
        }
        Some(fe)
    }

    /// The front end says every number below `floor` is settled: forget those.
    pub(super) fn raise_floor(&mut self, incarnation: u64, floor: u64) {
        let Some(fe) = self.front_end(incarnation) else {
            return;
        };
        if floor > fe.floor {
            fe.floor = floor;
            if fe.seqs.first_key_value().is_some_and(|(&n, _)| n < floor) {
                fe.seqs = fe.seqs.split_off(&floor);
            }
        }
    }

    pub(super) fn lookup(&self, id: RequestId) -> Lookup {
        let Some(fe) = self.fes.get(&id.front_end_id()) else {
            return Lookup::New;
        };
        if id.front_end > fe.incarnation {
            return Lookup::New;
        }
        if id.front_end < fe.incarnation || id.number < fe.floor {
            return Lookup::Stale;
        }
        match fe.seqs.get(&id.number) {
            Some(&seq) => Lookup::Known(seq),
            None if fe.forgotten.is_some_and(|top| id.number <= top) => Lookup::Stale,
            None => Lookup::New,
        }
    }

    /// Records an assignment; `seq` must be above every seq recorded before.
    pub(super) fn insert(&mut self, id: RequestId, seq: u64) {
        let Some(fe) = self.front_end(id.front_end) else {
            return;
        };
        if id.number >= fe.floor {
            fe.seqs.insert(id.number, seq);
            self.order.push_back((seq, id));
        }
    }

    /// Marks `id` (and everything of its incarnation numbered below it) as ordered long ago:
    /// what the log's front-end summary restores at start.
    pub(super) fn forget(&mut self, id: RequestId) {
        if let Some(fe) = self.front_end(id.front_end) {
            fe.forgotten = fe.forgotten.max(Some(id.number));
        }
    }

    /// Forgets assignments older than the window ending just below `next_seq`.
    pub(super) fn prune_window(&mut self, next_seq: u64) {
        let oldest = next_seq.saturating_sub(self.window);
        while let Some(&(seq, id)) = self.order.front() {
            if seq >= oldest {
                break;
            }
            self.order.pop_front();
            if let Some(fe) = self.fes.get_mut(&id.front_end_id()) {
                if fe.incarnation == id.front_end {
                    if fe.seqs.get(&id.number) == Some(&seq) {
                        fe.seqs.remove(&id.number);
                    }
                    fe.forgotten = fe.forgotten.max(Some(id.number));
                }
            }
        }
    }

    /// A standby's log lost its entries above `seq` to the primary's (they were never
    /// committed): their ids are no longer ordered here.
    pub(super) fn remove_above(&mut self, seq: u64) {
        while let Some(&(s, id)) = self.order.back() {
            if s <= seq {
                break;
            }
            self.order.pop_back();
            if let Some(fe) = self.fes.get_mut(&id.front_end_id()) {
                if fe.incarnation == id.front_end && fe.seqs.get(&id.number) == Some(&s) {
                    fe.seqs.remove(&id.number);
                }
            }
        }
    }

    #[cfg(test)]
    pub(super) fn front_ends(&self) -> usize {
        self.fes.len()
    }

    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.fes.values().map(|fe| fe.seqs.len()).sum()
    }
}
