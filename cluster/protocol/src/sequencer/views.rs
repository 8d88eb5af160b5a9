//! Which view each entry of a sequencer node's log was written in, and the little state a
//! node must not forget across a restart (its view and its vote).
//!
//! A view's primary only ever appends to its log, so the views of a log's entries ascend and
//! change rarely: they are kept as boundaries `(first seq, view)` rather than one per entry,
//! and persisted in the node's `Meta` (not in the log records), which is rewritten only when
//! the view, the vote or a boundary changes. Two logs that hold the same seq from the same
//! view hold the same entries up to it (Raft's log matching): that is what the primary checks
//! before a standby appends.

use serde::{Deserialize, Serialize};

/// What a sequencer node persists besides its log, written atomically and made durable before
/// anything that depends on it is sent (a vote, an acknowledgement in a new view) and before
/// entries of a new view are appended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Highest view this node has taken part in.
    pub view: u64,
    /// The node it voted for in `view`, if any: one vote per view, also across restarts.
    pub voted_for: Option<u8>,
    /// The log's entries' views, see [`Views`].
    pub boundaries: Vec<(u64, u64)>,
}

/// The views of a log's entries: entry `seq` was written in the view of the last boundary
/// whose first seq is at or below it. Entries below the first boundary are from view 0 (a log
/// from before failover existed, or a single-node cluster).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Views {
    boundaries: Vec<(u64, u64)>,
}

impl Views {
    /// From persisted boundaries; any that do not ascend in both seq and view are dropped
    /// (they cannot have been written by this code).
    pub fn new(boundaries: Vec<(u64, u64)>) -> Self {
        let mut v = Views::default();
        for (seq, view) in boundaries {
            if v.boundaries
                .last()
                .is_none_or(|&(s, w)| seq > s && view > w)
            {
                v.boundaries.push((seq, view));
            }
        }
        v
    }

    pub fn boundaries(&self) -> &[(u64, u64)] {
        &self.boundaries
    }

    /// The view entry `seq` was written in (0 for seq 0, the empty log's end).
    pub fn view_of(&self, seq: u64) -> u64 {
        match self.boundaries.partition_point(|&(s, _)| s <= seq) {
            0 => 0,
            i => self.boundaries[i - 1].1,
        }
    }

    /// Entries from `seq` on are written in `view`. Returns whether a boundary was added
    /// (the caller must persist it before the entries).
    pub fn append(&mut self, seq: u64, view: u64) -> bool {
        if self.boundaries.last().map_or(0, |&(_, w)| w) == view {
            return false;
        }
        self.truncate_after(seq.saturating_sub(1));
        self.boundaries.push((seq, view));
        true
    }

    /// The log now ends at `seq`: boundaries of entries beyond it go.
    pub fn truncate_after(&mut self, seq: u64) {
        while self.boundaries.last().is_some_and(|&(s, _)| s > seq) {
            self.boundaries.pop();
        }
    }

    /// The boundaries of `from..=to`, the first moved up to `from`: what a standby needs
    /// to append those entries.
    pub fn slice(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        let mut out = vec![(from, self.view_of(from))];
        out.extend(
            self.boundaries
                .iter()
                .filter(|&&(s, _)| s > from && s <= to)
                .copied(),
        );
        out
    }

    /// The log's entries below `seq` were deleted: boundaries that no kept entry needs go
    /// (the one covering `seq` stays).
    pub fn forget_below(&mut self, seq: u64) {
        let keep_from = self
            .boundaries
            .partition_point(|&(s, _)| s <= seq)
            .saturating_sub(1);
        self.boundaries.drain(..keep_from);
    }

    /// The first seq of the run of entries of one view that holds `seq` (1 if the log's
    /// first boundary is above it): a standby whose `seq` is from the wrong view has the
    /// whole run from the wrong view, so the primary resends from there (Raft's fast backup).
    pub fn run_start(&self, seq: u64) -> u64 {
        match self.boundaries.partition_point(|&(s, _)| s <= seq) {
            0 => 1,
            i => self.boundaries[i - 1].0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_take_the_view_of_the_boundary_below_them() {
        let mut v = Views::default();
        assert_eq!(v.view_of(5), 0);
        assert!(v.append(3, 2));
        assert!(!v.append(4, 2), "same view: no new boundary");
        assert!(v.append(10, 5));
        assert_eq!(
            [1, 3, 9, 10, 99].map(|s| v.view_of(s)),
            [0, 2, 2, 5, 5],
            "seq 1..3 predate any view change"
        );
        assert_eq!(v.run_start(9), 3);
        assert_eq!(v.run_start(2), 1);
        assert_eq!(v.slice(5, 12), vec![(5, 2), (10, 5)]);
        assert_eq!(v.slice(10, 12), vec![(10, 5)]);
    }

    #[test]
    fn truncation_and_forgetting_keep_what_remaining_entries_need() {
        let mut v = Views::new(vec![(3, 2), (10, 5), (20, 6)]);
        v.truncate_after(12);
        assert_eq!(v.boundaries(), &[(3, 2), (10, 5)]);
        v.forget_below(11);
        assert_eq!(v.boundaries(), &[(10, 5)]);
        assert_eq!(v.view_of(11), 5);
        // Appending a new view right after a truncation replaces what the truncation left.
        v.truncate_after(10);
        assert!(v.append(11, 7));
        assert_eq!(v.boundaries(), &[(10, 5), (11, 7)]);
    }

    #[test]
    fn boundaries_that_do_not_ascend_are_dropped() {
        let v = Views::new(vec![(3, 2), (2, 4), (5, 1), (8, 3)]);
        assert_eq!(v.boundaries(), &[(3, 2), (8, 3)]);
    }
}
