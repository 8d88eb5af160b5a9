//! Fault verdicts, end to end: the rule "a replica that answers wrong [`WRONG_LIMIT`] times in
//! a row is replaced", from the front end that sees the answers to the managers that count the
//! runs. (`docs/protocol.md`, "Fault verdicts", says why each mechanism exists.)
//!
//! - [`Reporter`] (front end): turns each finished request's verdicts into `FaultReport`s. A
//!   replica that differed from the agreed answer is `Wrong`; one that did not answer within
//!   the linger window is `Missing`; one reported `Wrong` that answers right again is `Correct`
//!   (which ends a run; only then, so correct replicas cost no reports). Verdicts are released
//!   in seq order, because requests finish out of order and a correct answer at seq 11 must
//!   reach the managers between the wrong ones at 10 and 13. `Wrong` and `Correct` go out
//!   [`FAULT_COPIES`] times, because a lost one would hide a run or fake one; `Missing` once,
//!   because it only makes managers probe, which the next one does too.
//! - [`Runs`] (replica manager, per replica): the verdicts it heard of, by seq, and the runs
//!   of wrong ones among them, counted in seq order (datagrams overtake each other) over any
//!   run, not only the latest (the `Correct` that ends a run usually arrives with it).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::{FaultKind, FaultReport};
use crate::{ReplicaId, REPLICAS};

/// Consecutive wrong answers that make a replica faulty.
pub const WRONG_LIMIT: u32 = 3;

/// Every `Wrong` and `Correct` report goes out this many times in all, the last at least
/// `(FAULT_COPIES - 2) × retransmit` after the first (copies ride one resend timer, whose next
/// expiry may come sooner than a full interval). Managers ignore repeats. Five copies at 20%
/// loss: a manager misses a given report about once in 3,000.
pub const FAULT_COPIES: u8 = 5;

/// Reports kept for their later copies, at most; the oldest go first. A steadily wrong
/// replica makes every request report it, so this bounds the resend traffic under load.
const RESENDS_MAX: usize = 4096;

/// Verdicts a manager remembers per replica: enough to see a run through reordering.
const VERDICTS_KEPT: usize = 64;

const SLOTS: usize = REPLICAS as usize;

/// One finished request's verdict per replica: agreed with the answer (`Some(true)`),
/// differed (`Some(false)`), or did not answer (`None`).
pub type Verdicts = [Option<bool>; SLOTS];

/// What a front end has reported, for its stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportCounts {
    pub wrong: u64,
    pub missing: u64,
    /// `Wrong` and `Missing` reports made (each counted once, however many copies went).
    pub reported: u64,
    /// `wrong` per replica (indexed by `ReplicaId::index`), for metrics.
    pub wrong_by_replica: [u64; SLOTS],
    /// `missing` per replica.
    pub missing_by_replica: [u64; SLOTS],
}

/// The front end's side.
#[derive(Debug, Default)]
pub struct Reporter {
    /// Seqs of requests not finished yet.
    open: BTreeSet<u64>,
    /// Verdicts of finished requests awaiting release, by seq.
    held: BTreeMap<u64, Verdicts>,
    /// Replicas reported `Wrong` and not seen answering right since (in seq order).
    suspected: [bool; SLOTS],
    /// Reports to send for the first time at the next flush.
    fresh: Vec<FaultReport>,
    /// Reports due again at the next flush.
    repeat: Vec<FaultReport>,
    /// Reports sent, with the copies each still has to go, when `resend_at` passes.
    resend: VecDeque<(FaultReport, u8)>,
    resend_at: Option<Instant>,
    counts: ReportCounts,
}

impl Reporter {
    /// A request's seq became known: its verdicts, and every later one's, wait for it.
    pub fn open(&mut self, seq: u64) {
        self.open.insert(seq);
    }

    /// The request at `seq` is done without verdicts (given up, or its seq was wrong).
    pub fn close(&mut self, seq: u64) {
        self.open.remove(&seq);
        self.release();
    }

    /// The request at `seq` finished with these verdicts.
    pub fn finish(&mut self, seq: u64, verdicts: Verdicts) {
        self.open.remove(&seq);
        self.held.insert(seq, verdicts);
        self.release();
    }

    /// Releases the held verdicts whose every earlier seq is finished, in seq order.
    fn release(&mut self) {
        let floor = self.open.first().copied().unwrap_or(u64::MAX);
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() >= floor {
                break;
            }
            let (seq, verdicts) = entry.remove_entry();
            self.report(seq, verdicts);
        }
    }

    fn report(&mut self, seq: u64, verdicts: Verdicts) {
        for ((replica, verdict), suspected) in ReplicaId::ALL
            .into_iter()
            .zip(verdicts)
            .zip(self.suspected.iter_mut())
        {
            let kind = match verdict {
                Some(true) if *suspected => {
                    *suspected = false;
                    FaultKind::Correct
                }
                Some(true) => continue,
                Some(false) => {
                    *suspected = true;
                    self.counts.wrong += 1;
                    self.counts.wrong_by_replica[replica.index()] += 1;
                    self.counts.reported += 1;
                    FaultKind::Wrong
                }
                None => {
                    self.counts.missing += 1;
                    self.counts.missing_by_replica[replica.index()] += 1;
                    self.counts.reported += 1;
                    FaultKind::Missing
                }
            };
            self.fresh.push(FaultReport { seq, replica, kind });
        }
    }

    /// The reports to send now: new ones, and copies whose time came. Arms the next copies
    /// one `retransmit` interval from `now`.
    pub fn take(&mut self, now: Instant, retransmit: Duration) -> Vec<FaultReport> {
        let fresh = std::mem::take(&mut self.fresh);
        self.resend.extend(
            fresh
                .iter()
                .filter(|r| r.kind != FaultKind::Missing)
                .map(|&r| (r, FAULT_COPIES.saturating_sub(1)))
                .filter(|&(_, left)| left > 0),
        );
        while self.resend.len() > RESENDS_MAX {
            self.resend.pop_front();
        }
        if !self.resend.is_empty() && self.resend_at.is_none() {
            self.resend_at = now.checked_add(retransmit);
        }
        let mut out = std::mem::take(&mut self.repeat);
        out.extend(fresh);
        out
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.resend_at.is_some_and(|at| at <= now) {
            self.resend_at = None;
            for (report, left) in &mut self.resend {
                self.repeat.push(*report);
                *left = left.saturating_sub(1);
            }
            self.resend.retain(|&(_, left)| left > 0);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.resend_at
    }

    /// Something to send at the next flush.
    pub fn has_reports(&self) -> bool {
        !self.fresh.is_empty() || !self.repeat.is_empty()
    }

    pub fn counts(&self) -> ReportCounts {
        self.counts
    }
}

/// A manager's record of one replica's verdicts.
#[derive(Debug, Default, Clone)]
pub struct Runs {
    /// By seq: true for wrong, false for correct.
    verdicts: BTreeMap<u64, bool>,
}

impl Runs {
    /// Records a `Wrong` or `Correct` verdict (a repeat changes nothing).
    pub fn record(&mut self, seq: u64, wrong: bool) {
        self.verdicts.insert(seq, wrong);
        while self.verdicts.len() > VERDICTS_KEPT {
            self.verdicts.pop_first();
        }
    }

    /// Consecutive wrong answers up to the latest verdict.
    pub fn streak(&self) -> u32 {
        self.verdicts.values().rev().take_while(|w| **w).count() as u32
    }

    /// The longest run of wrong verdicts with no correct one between them, in seq order.
    pub fn longest(&self) -> u32 {
        let (mut longest, mut run) = (0, 0);
        for &wrong in self.verdicts.values() {
            run = if wrong { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        longest
    }

    /// A run long enough to replace the replica.
    pub fn faulty(&self) -> bool {
        self.longest() >= WRONG_LIMIT
    }

    /// Keeps only verdicts about seqs after `seq` (a new incarnation answered those).
    pub fn keep_after(&mut self, seq: u64) {
        self.verdicts = self.verdicts.split_off(&seq.saturating_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdicts(v: [Option<bool>; 4]) -> Verdicts {
        v
    }

    #[test]
    fn verdicts_are_released_in_seq_order_and_correct_only_after_wrong() {
        let now = Instant::now();
        let retransmit = Duration::from_millis(50);
        let mut r = Reporter::default();
        for seq in 10..=12 {
            r.open(seq);
        }
        // 11 finishes first: held until 10 is done.
        r.finish(
            11,
            verdicts([Some(true), Some(true), Some(true), Some(false)]),
        );
        assert!(r.take(now, retransmit).is_empty());
        r.finish(10, verdicts([Some(true), Some(false), Some(true), None]));
        let kinds: Vec<_> = r
            .take(now, retransmit)
            .into_iter()
            .map(|f| (f.seq, f.replica.get(), f.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (10, 2, FaultKind::Wrong),
                (10, 4, FaultKind::Missing),
                (11, 2, FaultKind::Correct),
                (11, 4, FaultKind::Wrong),
            ]
        );
        // 13 was given up: 14 is not held for it; 12 and 14 right again after 11.
        r.open(13);
        r.open(14);
        r.close(13);
        r.finish(14, verdicts([Some(true); 4]));
        assert!(r.take(now, retransmit).is_empty(), "14 waits for 12");
        r.finish(12, verdicts([Some(true); 4]));
        let kinds: Vec<_> = r
            .take(now, retransmit)
            .into_iter()
            .map(|f| (f.seq, f.replica.get(), f.kind))
            .collect();
        assert_eq!(kinds, vec![(12, 4, FaultKind::Correct)], "once, at 12");
        assert_eq!(
            r.counts(),
            ReportCounts {
                wrong: 2,
                missing: 1,
                reported: 3,
                wrong_by_replica: [0, 1, 0, 1],
                missing_by_replica: [0, 0, 0, 1],
            }
        );
    }

    #[test]
    fn wrong_and_correct_go_five_times_missing_once() {
        let t0 = Instant::now();
        let retransmit = Duration::from_millis(50);
        let mut r = Reporter::default();
        r.open(1);
        r.finish(1, verdicts([Some(false), None, Some(true), Some(true)]));
        let mut sent = r.take(t0, retransmit).len();
        let mut at = t0;
        while let Some(next) = r.poll_timeout() {
            at = next;
            r.handle_timeout(at);
            sent += r.take(at, retransmit).len();
        }
        assert_eq!(sent, 1 + usize::from(FAULT_COPIES));
        assert!(at - t0 >= retransmit * u32::from(FAULT_COPIES - 2));
    }

    #[test]
    fn runs_are_counted_in_seq_order_over_any_run() {
        let mut runs = Runs::default();
        for (seq, wrong) in [(12, true), (10, true), (13, false), (11, true)] {
            runs.record(seq, wrong);
        }
        assert_eq!(runs.streak(), 0);
        assert!(runs.faulty(), "10..=12 is a run of three");
        let mut runs = Runs::default();
        for (seq, wrong) in [(10, true), (13, true), (20, true), (11, false)] {
            runs.record(seq, wrong);
        }
        assert_eq!((runs.streak(), runs.longest()), (2, 2));
        runs.keep_after(13);
        assert_eq!(runs.longest(), 1);
    }
}
