//! Remembers which seqs were NACKed within the last `nack` interval, so that a new gap is
//! NACKed at once while a gap already asked for is asked again only after the interval.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

pub(super) struct RecentNacks {
    interval: Duration,
    /// Non-overlapping inclusive ranges NACKed within the last interval: start → (end, when).
    ranges: BTreeMap<u64, (u64, Instant)>,
    /// The same ranges by time sent, oldest first, for expiry.
    order: VecDeque<(Instant, u64)>,
}

impl RecentNacks {
    pub(super) fn new(interval: Duration) -> Self {
        RecentNacks {
            interval,
            ranges: BTreeMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Forgets ranges NACKed an interval or more ago. True when any was forgotten (so some
    /// gap may have become eligible again).
    pub(super) fn expire(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(&(at, start)) = self.order.front() {
            if now.saturating_duration_since(at) < self.interval {
                break;
            }
            self.order.pop_front();
            if self.ranges.get(&start).is_some_and(|&(_, t)| t == at) {
                self.ranges.remove(&start);
            }
            any = true;
        }
        any
    }

    pub(super) fn clear(&mut self) {
        self.ranges.clear();
        self.order.clear();
    }

    /// When the oldest remembered range may be NACKed again.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|&(at, _)| at + self.interval)
    }

    /// Appends to `out` the parts of `[a, b]` not NACKed recently, up to `limit` ranges in
    /// `out` overall.
    pub(super) fn eligible(&self, a: u64, b: u64, out: &mut Vec<(u64, u64)>, limit: usize) {
        let mut cur = a;
        if let Some((_, &(end, _))) = self.ranges.range(..=a).next_back() {
            if end >= a {
                if end >= b {
                    return;
                }
                cur = end + 1;
            }
        }
        for (&start, &(end, _)) in self.ranges.range(cur..) {
            if start > b || out.len() >= limit {
                break;
            }
            if start > cur {
                out.push((cur, start - 1));
            }
            if end >= b {
                return;
            }
            cur = cur.max(end + 1);
        }
        if cur <= b && out.len() < limit {
            out.push((cur, b));
        }
    }

    /// Remembers `ranges` (disjoint from every remembered range) as NACKed at `now`.
    pub(super) fn record(&mut self, ranges: &[(u64, u64)], now: Instant) {
        for &(a, b) in ranges {
            self.ranges.insert(a, (b, now));
            self.order.push_back((now, a));
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ranges.len()
    }
}
