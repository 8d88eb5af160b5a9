//! Which request ids already have a sequence number: per front end incarnation, the seq of
//! every request number at or above that front end's floor, limited to the `window` most
//! recent assignments (the ones the log keeps, so the same holds after a restart).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::RequestId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Never ordered (as far as the window remembers).
    New,
    /// Already ordered with this seq.
    Known(u64),
    /// Below the front end's floor: a stale duplicate.
    Stale,
}

struct FrontEnd {
    floor: u64,
    /// Request number → seq, for numbers >= floor.
    seqs: BTreeMap<u64, u64>,
    last_seen: Instant,
}

impl FrontEnd {
    fn new(now: Instant) -> Self {
        FrontEnd {
            floor: 0,
            seqs: BTreeMap::new(),
            last_seen: now,
        }
    }
}

pub(super) struct Dedup {
    window: u64,
    /// Keyed by `RequestId::front_end`. A BTreeMap rather than a HashMap: no random state.
    fes: BTreeMap<u64, FrontEnd>,
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

    /// The front end says every number below `floor` is settled: forget those.
    pub(super) fn raise_floor(&mut self, now: Instant, front_end: u64, floor: u64) {
        let fe = self
            .fes
            .entry(front_end)
            .or_insert_with(|| FrontEnd::new(now));
        fe.last_seen = now;
        if floor > fe.floor {
            fe.floor = floor;
            if fe.seqs.first_key_value().is_some_and(|(&n, _)| n < floor) {
                fe.seqs = fe.seqs.split_off(&floor);
            }
        }
    }

    pub(super) fn lookup(&self, id: RequestId) -> Lookup {
        match self.fes.get(&id.front_end) {
            None => Lookup::New,
            Some(fe) if id.number < fe.floor => Lookup::Stale,
            Some(fe) => fe
                .seqs
                .get(&id.number)
                .map_or(Lookup::New, |&seq| Lookup::Known(seq)),
        }
    }

    /// Records an assignment; `seq` must be above every seq recorded before.
    pub(super) fn insert(&mut self, now: Instant, id: RequestId, seq: u64) {
        let fe = self
            .fes
            .entry(id.front_end)
            .or_insert_with(|| FrontEnd::new(now));
        fe.last_seen = now;
        if id.number >= fe.floor {
            fe.seqs.insert(id.number, seq);
            self.order.push_back((seq, id));
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
            if let Some(fe) = self.fes.get_mut(&id.front_end) {
                if fe.seqs.get(&id.number) == Some(&seq) {
                    fe.seqs.remove(&id.number);
                }
            }
        }
    }

    /// Forgets front ends idle for longer than `idle` that have no assignment remembered.
    pub(super) fn evict_idle(&mut self, now: Instant, idle: Duration) {
        self.fes.retain(|_, fe| {
            !fe.seqs.is_empty() || now.saturating_duration_since(fe.last_seen) <= idle
        });
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
