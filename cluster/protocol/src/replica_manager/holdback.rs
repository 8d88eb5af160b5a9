//! The hold-back queue: sequenced requests wait here until every lower seq has been handed to
//! the replica.

use std::collections::btree_map;
use std::collections::BTreeMap;

use crate::wire::Sequenced;

/// Highest sequence number the queue accepts; keeps every `+ 1` below free of overflow.
pub(super) const MAX_SEQ: u64 = u64::MAX - 1;

/// What happened to one offered entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offer {
    /// Held; it will be delivered in order.
    Held,
    /// Already delivered or already held.
    Duplicate,
    /// Beyond the hold-back window; dropped, to be fetched again by NACK.
    TooFar,
    /// Seq 0 or `u64::MAX`: no sequencer assigns those.
    Invalid,
}

/// `held` keeps every accepted, undelivered entry, all within `(delivered, delivered + window]`,
/// so it never holds more than `window` entries. `received` is the end of the contiguous prefix
/// (`delivered` plus the consecutive held successors). `runs` indexes the held entries beyond
/// that prefix as maximal runs `start → end`, so that advancing `received` and listing the gaps
/// cost one map operation per run, never a walk over the entries.
pub(super) struct HoldBack {
    held: BTreeMap<u64, Sequenced>,
    runs: BTreeMap<u64, u64>,
    delivered: u64,
    received: u64,
    window: u64,
}

impl HoldBack {
    pub(super) fn new(delivered: u64, window: usize) -> Self {
        let delivered = delivered.min(MAX_SEQ);
        HoldBack {
            held: BTreeMap::new(),
            runs: BTreeMap::new(),
            delivered,
            received: delivered,
            window: u64::try_from(window.max(1)).unwrap_or(u64::MAX),
        }
    }

    pub(super) fn delivered(&self) -> u64 {
        self.delivered
    }

    pub(super) fn received(&self) -> u64 {
        self.received
    }

    pub(super) fn len(&self) -> usize {
        self.held.len()
    }

    /// The highest seq the queue would accept now.
    pub(super) fn window_end(&self) -> u64 {
        self.delivered.saturating_add(self.window).min(MAX_SEQ)
    }

    /// The highest held seq, if any.
    pub(super) fn highest_held(&self) -> Option<u64> {
        self.held.last_key_value().map(|(&s, _)| s)
    }

    pub(super) fn offer(&mut self, entry: Sequenced) -> Offer {
        let seq = entry.seq;
        if seq == 0 || seq > MAX_SEQ {
            return Offer::Invalid;
        }
        if seq <= self.received {
            return Offer::Duplicate;
        }
        if seq > self.window_end() {
            return Offer::TooFar;
        }
        match self.held.entry(seq) {
            btree_map::Entry::Occupied(_) => return Offer::Duplicate,
            btree_map::Entry::Vacant(v) => {
                v.insert(entry);
            }
        }
        if seq == self.received + 1 {
            self.received = seq;
            if let Some(end) = self.runs.remove(&(seq + 1)) {
                self.received = end;
            }
        } else {
            self.add_to_runs(seq);
        }
        Offer::Held
    }

    /// Records `seq` (> received + 1, not held before) in `runs`, merging with its neighbours.
    fn add_to_runs(&mut self, seq: u64) {
        let mut start = seq;
        if let Some((&s, e)) = self.runs.range_mut(..seq).next_back() {
            if *e + 1 == seq {
                start = s;
                *e = seq;
            }
        }
        if start == seq {
            self.runs.insert(seq, seq);
        }
        if let Some(end) = self.runs.remove(&(seq + 1)) {
            self.runs.insert(start, end);
        }
    }

    /// The next entry for the replica: seq `delivered + 1`, if held.
    pub(super) fn pop_next(&mut self) -> Option<Sequenced> {
        if self.delivered >= self.received {
            return None;
        }
        let entry = self.held.first_entry()?;
        if *entry.key() != self.delivered + 1 {
            // Unreachable while the invariants hold; refuse rather than skip a seq.
            return None;
        }
        self.delivered += 1;
        Some(entry.remove())
    }

    /// The missing inclusive ranges from `from` (at least `received + 1`) up to `upto`,
    /// lowest first.
    pub(super) fn missing(&self, from: u64, upto: u64) -> Missing<'_> {
        let mut cursor = from.max(self.received + 1).min(MAX_SEQ);
        if let Some((_, &end)) = self.runs.range(..=cursor).next_back() {
            if end >= cursor {
                cursor = end + 1;
            }
        }
        Missing {
            runs: self.runs.range(cursor..),
            cursor,
            upto: upto.min(MAX_SEQ),
            done: false,
        }
    }

    /// Restarts delivery at `seq + 1`: drops what is held up to `seq` and rebuilds the
    /// indexes from what remains (O(held), once per state transfer).
    pub(super) fn reset_to(&mut self, seq: u64) {
        let seq = seq.min(MAX_SEQ);
        self.held = self.held.split_off(&(seq + 1));
        // Entries beyond the new window (when moving back) would break the size bound.
        let end = seq.saturating_add(self.window).min(MAX_SEQ);
        if end < MAX_SEQ {
            self.held.split_off(&(end + 1));
        }
        self.delivered = seq;
        self.received = seq;
        self.runs.clear();
        let mut run: Option<(u64, u64)> = None;
        let seqs: Vec<u64> = self.held.keys().copied().collect();
        for s in seqs {
            if s == self.received + 1 {
                self.received = s;
                continue;
            }
            run = match run {
                Some((a, b)) if b + 1 == s => Some((a, s)),
                Some((a, b)) => {
                    self.runs.insert(a, b);
                    Some((s, s))
                }
                None => Some((s, s)),
            };
        }
        if let Some((a, b)) = run {
            self.runs.insert(a, b);
        }
    }

    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        assert!(self.delivered <= self.received);
        assert!(self.held.len() as u64 <= self.window);
        for s in self.delivered + 1..=self.received {
            assert!(self.held.contains_key(&s), "prefix seq {s} not held");
        }
        assert!(!self.held.contains_key(&(self.received + 1)));
        let mut expect = BTreeMap::new();
        let mut run: Option<(u64, u64)> = None;
        for &s in self.held.keys().filter(|&&s| s > self.received) {
            run = match run {
                Some((a, b)) if b + 1 == s => Some((a, s)),
                Some((a, b)) => {
                    expect.insert(a, b);
                    Some((s, s))
                }
                None => Some((s, s)),
            };
        }
        if let Some((a, b)) = run {
            expect.insert(a, b);
        }
        assert_eq!(self.runs, expect);
    }
}

/// Iterator over the gaps: between `received` and the first run, between runs, and after the
/// last run up to `upto`.
pub(super) struct Missing<'a> {
    runs: btree_map::Range<'a, u64, u64>,
    cursor: u64,
    upto: u64,
    done: bool,
}

impl Iterator for Missing<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        while !self.done {
            if self.cursor > self.upto {
                self.done = true;
                break;
            }
            match self.runs.next() {
                Some((&start, &end)) => {
                    let from = self.cursor;
                    self.cursor = end.saturating_add(1);
                    if start > from {
                        return Some((from, (start - 1).min(self.upto)));
                    }
                }
                None => {
                    self.done = true;
                    return Some((self.cursor, self.upto));
                }
            }
        }
        None
    }
}
