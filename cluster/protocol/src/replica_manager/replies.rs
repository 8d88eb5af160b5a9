//! The replica's replies on their way to the front ends: batched per front-end address into
//! `Reply` messages that each fit one datagram, and kept for `Reask` without re-executing.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use crate::wire::batch::Batch;
use crate::wire::{Message, ReplyEntry};

pub struct Replies {
    /// The last `cache_len` replies, by seq.
    cache: BTreeMap<u64, ReplyEntry>,
    cache_len: usize,
    /// Replies being gathered per front end until the next flush.
    batches: HashMap<SocketAddr, Batch<ReplyEntry>>,
    /// Addresses in the order their batches were started (flushes go out in that order, so
    /// that a run is deterministic).
    order: Vec<SocketAddr>,
    budget: usize,
}

impl Replies {
    pub fn new(cache_len: usize, budget: usize) -> Self {
        Replies {
            cache: BTreeMap::new(),
            cache_len,
            batches: HashMap::new(),
            order: Vec::new(),
            budget,
        }
    }

    /// Queues `entry` for `to` (and caches it); returns a batch that is full and must go now.
    pub fn send(&mut self, to: SocketAddr, entry: ReplyEntry) -> Option<Vec<ReplyEntry>> {
        if self.cache_len > 0 {
            self.cache.insert(entry.seq, entry.clone());
            while self.cache.len() > self.cache_len {
                self.cache.pop_first();
            }
        }
        self.resend(to, entry)
    }

    /// Queues `entry` for `to` without caching it again.
    pub fn resend(&mut self, to: SocketAddr, entry: ReplyEntry) -> Option<Vec<ReplyEntry>> {
        let budget = self.budget;
        let batch = self
            .batches
            .entry(to)
            .or_insert_with(|| Batch::new(budget, &Message::Reply(Vec::new())));
        if batch.is_empty() {
            self.order.push(to);
        }
        batch.push(entry)
    }

    /// Every batch gathered so far, with its address.
    pub fn flush(&mut self) -> Vec<(SocketAddr, Vec<ReplyEntry>)> {
        let mut out = Vec::new();
        for to in self.order.drain(..) {
            if let Some(entries) = self.batches.get_mut(&to).and_then(Batch::take) {
                out.push((to, entries));
            }
        }
        out
    }

    pub fn has_pending(&self) -> bool {
        !self.order.is_empty()
    }

    pub fn cached(&self, seq: u64) -> Option<&ReplyEntry> {
        self.cache.get(&seq)
    }

    /// Forgets replies for seqs after `seq` (a snapshot installed at `seq` replaces them).
    pub fn forget_after(&mut self, seq: u64) {
        self.cache.split_off(&(seq.saturating_add(1)));
    }
}
