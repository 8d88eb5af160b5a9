//! Failure detection among the replica managers, and the majority vote that decides a
//! replacement. IO-free like the rest of the manager.
//!
//! Three kinds of evidence lead a manager to vote against a replica (its own or another's):
//! - **wrong answers**: front ends report each replica's verdict per seq (`Wrong`, and
//!   `Correct` when a reported replica answers right again); `WRONG_LIMIT` consecutive wrong
//!   answers, counted in seq order, draw a vote;
//! - **checkpoint digests**: every manager broadcasts its replica's state digest at each
//!   checkpoint; a digest that differs from one at least two others agree on draws a vote,
//!   even if that replica's replies looked right;
//! - **silence**: a `Missing` report makes the manager probe the replica's owner, which says
//!   how long its replica has had work outstanding; only a stall beyond the hang threshold
//!   draws a vote, so one lost reply never does.
//!
//! Votes go to every manager; the owner of a replica replaces it once `MAJORITY` managers
//! (itself included) voted against its current generation. A replacement bumps the
//! generation, which voids older votes and reports.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::{FaultKind, FaultReport, Message, VoteReason};
use crate::{Destination, REPLICAS};

/// Consecutive wrong answers that make a replica faulty.
pub const WRONG_LIMIT: u32 = 3;
/// Managers that must agree before a replica is replaced: a majority of four.
pub const MAJORITY: usize = 3;
/// Checkpoints whose digests are remembered.
const CHECKPOINTS_KEPT: usize = 16;
/// A vote is resent this many times at most (it is idempotent; the owner may be restarting).
const VOTE_RESENDS: u32 = 25;
/// Verdicts remembered per replica: enough to see a run of `WRONG_LIMIT` through reordering.
const VERDICTS_KEPT: usize = 64;
/// A suspicion is rechecked at most this many times after the report that raised it.
const RECHECKS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    pub me: u8,
    /// A replica with work outstanding this long without answering is hung.
    pub hang_threshold: Duration,
    /// How often an outstanding vote or probe is resent.
    pub retry: Duration,
}

#[derive(Debug, Default, Clone)]
struct Tracked {
    generation: u32,
    /// Recent verdicts by seq (true: wrong, false: correct). Reports may arrive out of seq
    /// order (datagrams overtake each other), so the run of consecutive wrong answers is
    /// counted over this map in seq order, not in arrival order.
    verdicts: BTreeMap<u64, bool>,
    streak: u32,
    /// The run reached the limit: vote at this time if it still stands (stragglers that land
    /// meanwhile, such as a correct answer inside the run, can still break it).
    settle: Option<Instant>,
    /// Reports about seqs up to here concern an earlier incarnation.
    ignore_upto: u64,
    /// Managers that voted against this replica's current generation.
    votes: BTreeSet<u8>,
    /// This manager's own vote against the current generation, and its resend schedule.
    my_vote: Option<(VoteReason, Instant, u32)>,
    /// Outstanding probe of this replica's owner: (nonce, sent at).
    probe: Option<(u64, Instant)>,
    /// Work was outstanding but not yet for the hang threshold: look again then. Without
    /// this a replica that hangs just as traffic stops would never be judged.
    recheck: Option<(Instant, u32)>,
    decided: bool,
}

/// The guard of one replica manager.
pub struct Guard {
    cfg: GuardConfig,
    tracked: [Tracked; REPLICAS as usize],
    /// seq → the digest each replica reported for it.
    checkpoints: BTreeMap<u64, [Option<[u8; 32]>; REPLICAS as usize]>,
    out: VecDeque<(Destination, Message)>,
    decisions: VecDeque<VoteReason>,
    next_nonce: u64,
}

fn index(replica: u8) -> Option<usize> {
    (1..=REPLICAS)
        .contains(&replica)
        .then(|| usize::from(replica - 1))
}

impl Guard {
    pub fn new(cfg: GuardConfig) -> Self {
        Guard {
            cfg,
            tracked: Default::default(),
            checkpoints: BTreeMap::new(),
            out: VecDeque::new(),
            decisions: VecDeque::new(),
            next_nonce: 1,
        }
    }

    pub fn generation(&self, replica: u8) -> u32 {
        index(replica).map_or(0, |i| self.tracked[i].generation)
    }

    /// This manager's count of consecutive wrong answers of `replica`, up to its latest
    /// reported verdict.
    pub fn consecutive_faults(&self, replica: u8) -> u32 {
        index(replica).map_or(0, |i| self.tracked[i].streak)
    }

    /// A front end's verdict. `my_stall` is how long this manager's own replica has had work
    /// outstanding without answering (for a `Missing` report about it).
    pub fn on_report(&mut self, now: Instant, r: FaultReport, my_stall: Duration) {
        let Some(i) = index(r.replica) else { return };
        let t = &mut self.tracked[i];
        if r.seq <= t.ignore_upto {
            return;
        }
        match r.kind {
            FaultKind::Wrong | FaultKind::Correct => {
                t.verdicts.insert(r.seq, r.kind == FaultKind::Wrong);
                while t.verdicts.len() > VERDICTS_KEPT {
                    t.verdicts.pop_first();
                }
                t.streak = t
                    .verdicts
                    .values()
                    .rev()
                    .take_while(|wrong| **wrong)
                    .count() as u32;
                // Any run counts, not only the latest: the correct answer that follows a
                // run usually arrives with it, before the settle delay is over.
                if longest_run(&t.verdicts) >= WRONG_LIMIT
                    && t.settle.is_none()
                    && t.my_vote.is_none()
                {
                    t.settle = Some(now + self.cfg.retry);
                }
            }
            FaultKind::Missing => {
                t.recheck = None;
                self.check(now, r.replica, my_stall, 0);
            }
        }
    }

    /// Judges a suspected replica: our own from its stall, another by probing its owner.
    fn check(&mut self, now: Instant, replica: u8, my_stall: Duration, rechecks: u32) {
        let Some(i) = index(replica) else { return };
        if replica == self.cfg.me {
            self.judge(now, replica, my_stall, rechecks);
            return;
        }
        let t = &mut self.tracked[i];
        let due = t
            .probe
            .is_none_or(|(_, at)| now.saturating_duration_since(at) >= self.cfg.retry);
        if due {
            let nonce = self.next_nonce;
            self.next_nonce += 1;
            t.probe = Some((nonce, now));
            // If the owner never answers (it is down), look again later, a bounded number of times.
            t.recheck =
                (rechecks < RECHECKS).then(|| (now + self.cfg.hang_threshold * 2, rechecks + 1));
            self.out.push_back((
                Destination::ReplicaManager(replica),
                Message::Probe { nonce },
            ));
        }
    }

    /// A stall beyond the threshold draws a vote; a shorter one with work outstanding is
    /// looked at again when it would reach the threshold.
    fn judge(&mut self, now: Instant, replica: u8, stall: Duration, rechecks: u32) {
        let Some(i) = index(replica) else { return };
        if stall >= self.cfg.hang_threshold {
            self.tracked[i].recheck = None;
            self.vote(now, replica, VoteReason::Hung);
        } else if !stall.is_zero() && rechecks < RECHECKS {
            let at = now + (self.cfg.hang_threshold - stall) + self.cfg.retry / 2;
            self.tracked[i].recheck = Some((at, rechecks + 1));
        } else {
            self.tracked[i].recheck = None;
        }
    }

    /// The owner's answer to our probe.
    pub fn on_probe_reply(
        &mut self,
        now: Instant,
        from: u8,
        nonce: u64,
        generation: u32,
        stalled_ms: u64,
    ) {
        let Some(i) = index(from) else { return };
        let t = &mut self.tracked[i];
        if t.probe.map(|(n, _)| n) != Some(nonce) || generation != t.generation {
            return;
        }
        t.probe = None;
        let rechecks = t.recheck.map_or(0, |(_, n)| n);
        self.judge(now, from, Duration::from_millis(stalled_ms), rechecks);
    }

    pub fn on_vote(&mut self, voter: u8, replica: u8, generation: u32, reason: VoteReason) {
        let (Some(_), Some(i)) = (index(voter), index(replica)) else {
            return;
        };
        let t = &mut self.tracked[i];
        if generation != t.generation {
            return;
        }
        t.votes.insert(voter);
        if replica == self.cfg.me && !t.decided && t.votes.len() >= MAJORITY {
            t.decided = true;
            self.decisions.push_back(reason);
        }
    }

    /// `replica` was replaced (by its owner; possibly us) and is now `generation`.
    pub fn on_replaced(&mut self, replica: u8, generation: u32, from_seq: u64) {
        let Some(i) = index(replica) else { return };
        let t = &mut self.tracked[i];
        if generation <= t.generation {
            return;
        }
        *t = Tracked {
            generation,
            ignore_upto: from_seq,
            ..Tracked::default()
        };
        for digests in self.checkpoints.values_mut() {
            digests[i] = None;
        }
    }

    /// Our own replica was replaced: tell every manager.
    pub fn replaced_mine(&mut self, from_seq: u64) -> u32 {
        let me = self.cfg.me;
        let generation = self.generation(me) + 1;
        self.on_replaced(me, generation, from_seq);
        self.broadcast(Message::Replaced {
            replica: me,
            generation,
            from_seq,
        });
        generation
    }

    /// A checkpoint digest, ours or a peer's. Compares it with the others for that seq.
    pub fn on_checkpoint(
        &mut self,
        now: Instant,
        replica: u8,
        seq: u64,
        generation: u32,
        digest: [u8; 32],
    ) {
        let Some(i) = index(replica) else { return };
        if generation != self.tracked[i].generation {
            return;
        }
        let digests = self.checkpoints.entry(seq).or_default();
        digests[i] = Some(digest);
        let digests = *digests;
        while self.checkpoints.len() > CHECKPOINTS_KEPT {
            self.checkpoints.pop_first();
        }
        // The majority digest: one that at least two replicas reported, and more than any other.
        let mut counts: BTreeMap<[u8; 32], usize> = BTreeMap::new();
        for d in digests.iter().flatten() {
            *counts.entry(*d).or_default() += 1;
        }
        let mut ranked: Vec<_> = counts.into_iter().collect();
        ranked.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let majority = match ranked.as_slice() {
            [(d, n), rest @ ..] if *n >= 2 && rest.first().is_none_or(|(_, m)| m < n) => *d,
            _ => return,
        };
        for (j, d) in digests.iter().enumerate() {
            if d.is_some_and(|d| d != majority) {
                self.vote(now, j as u8 + 1, VoteReason::Digest);
            }
        }
    }

    /// Our own checkpoint: record it and tell every manager.
    pub fn my_checkpoint(&mut self, now: Instant, seq: u64, digest: [u8; 32]) {
        let me = self.cfg.me;
        let generation = self.generation(me);
        self.broadcast(Message::Checkpoint {
            seq,
            generation,
            digest,
        });
        self.on_checkpoint(now, me, seq, generation, digest);
    }

    /// Checkpoints (seq, digest) that at least two replicas agree on, highest first.
    pub fn agreed_checkpoints(&self) -> Vec<(u64, [u8; 32])> {
        let mut out = Vec::new();
        for (seq, digests) in self.checkpoints.iter().rev() {
            for d in digests.iter().flatten() {
                if digests.iter().flatten().filter(|e| *e == d).count() >= 2 {
                    out.push((*seq, *d));
                    break;
                }
            }
        }
        out
    }

    fn vote(&mut self, now: Instant, replica: u8, reason: VoteReason) {
        let Some(i) = index(replica) else { return };
        if self.tracked[i].my_vote.is_some() {
            return;
        }
        self.tracked[i].my_vote = Some((reason, now, 0));
        let generation = self.tracked[i].generation;
        self.broadcast(Message::Vote {
            replica,
            generation,
            reason,
        });
        self.on_vote(self.cfg.me, replica, generation, reason);
    }

    fn broadcast(&mut self, msg: Message) {
        for peer in (1..=REPLICAS).filter(|p| *p != self.cfg.me) {
            self.out
                .push_back((Destination::ReplicaManager(peer), msg.clone()));
        }
    }

    /// `my_stall`: how long our own replica has had work outstanding without answering.
    pub fn handle_timeout(&mut self, now: Instant, my_stall: Duration) {
        for replica in 1..=REPLICAS {
            let i = usize::from(replica - 1);
            if self.tracked[i].settle.is_some_and(|at| now >= at) {
                self.tracked[i].settle = None;
                if longest_run(&self.tracked[i].verdicts) >= WRONG_LIMIT {
                    self.vote(now, replica, VoteReason::Wrong);
                }
            }
            if let Some((at, n)) = self.tracked[i].recheck {
                if now >= at {
                    self.tracked[i].recheck = None;
                    self.check(now, replica, my_stall, n);
                }
            }
        }
        for replica in 1..=REPLICAS {
            let i = usize::from(replica - 1);
            let retry = self.cfg.retry;
            let t = &mut self.tracked[i];
            if t.probe
                .is_some_and(|(_, at)| now.saturating_duration_since(at) >= retry * 4)
            {
                // The owner did not answer: it is down, and its supervisor restarts it.
                t.probe = None;
            }
            let resend = match &mut t.my_vote {
                Some((reason, at, sent))
                    if *sent < VOTE_RESENDS && now.saturating_duration_since(*at) >= retry =>
                {
                    *at = now;
                    *sent += 1;
                    Some(*reason)
                }
                _ => None,
            };
            if let Some(reason) = resend {
                let generation = t.generation;
                self.broadcast(Message::Vote {
                    replica,
                    generation,
                    reason,
                });
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tracked
            .iter()
            .filter_map(|t| {
                let vote = t
                    .my_vote
                    .and_then(|(_, at, sent)| (sent < VOTE_RESENDS).then_some(at + self.cfg.retry));
                let probe = t.probe.map(|(_, at)| at + self.cfg.retry * 4);
                let recheck = t.recheck.map(|(at, _)| at);
                vote.into_iter()
                    .chain(probe)
                    .chain(recheck)
                    .chain(t.settle)
                    .min()
            })
            .min()
    }

    pub fn poll_out(&mut self) -> Option<(Destination, Message)> {
        self.out.pop_front()
    }

    /// A majority decided our own replica must be replaced, for this reason.
    pub fn poll_decision(&mut self) -> Option<VoteReason> {
        self.decisions.pop_front()
    }
}

/// The longest run of wrong verdicts with no correct one between them, in seq order.
fn longest_run(verdicts: &BTreeMap<u64, bool>) -> u32 {
    let (mut longest, mut run) = (0, 0);
    for &wrong in verdicts.values() {
        run = if wrong { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(me: u8) -> Guard {
        Guard::new(GuardConfig {
            me,
            hang_threshold: Duration::from_millis(1000),
            retry: Duration::from_millis(100),
        })
    }

    fn report(seq: u64, replica: u8, kind: FaultKind) -> FaultReport {
        FaultReport { seq, replica, kind }
    }

    fn votes(g: &mut Guard) -> Vec<(u8, VoteReason)> {
        let mut v: Vec<_> = std::iter::from_fn(|| g.poll_out())
            .filter_map(|(_, m)| match m {
                Message::Vote {
                    replica, reason, ..
                } => Some((replica, reason)),
                _ => None,
            })
            .collect();
        v.dedup();
        v
    }

    #[test]
    fn three_consecutive_wrong_answers_draw_a_vote_and_a_correct_one_resets() {
        let now = Instant::now();
        let mut g = guard(1);
        g.on_report(now, report(10, 3, FaultKind::Wrong), Duration::ZERO);
        g.on_report(now, report(11, 3, FaultKind::Wrong), Duration::ZERO);
        g.on_report(now, report(12, 3, FaultKind::Correct), Duration::ZERO);
        g.on_report(now, report(13, 3, FaultKind::Wrong), Duration::ZERO);
        g.on_report(now, report(14, 3, FaultKind::Wrong), Duration::ZERO);
        assert_eq!(g.consecutive_faults(3), 2);
        assert!(votes(&mut g).is_empty(), "two in a row is not three");
        // A duplicate report does not count twice.
        g.on_report(now, report(14, 3, FaultKind::Wrong), Duration::ZERO);
        g.handle_timeout(now + Duration::from_secs(1), Duration::ZERO);
        assert!(votes(&mut g).is_empty());
        g.on_report(now, report(15, 3, FaultKind::Wrong), Duration::ZERO);
        assert_eq!(g.consecutive_faults(3), 3);
        assert!(votes(&mut g).is_empty(), "the vote waits for stragglers");
        g.handle_timeout(g.poll_timeout().unwrap(), Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(3, VoteReason::Wrong)]);
    }

    /// Found by the simulation (`a_run_of_three_is_caught_under_loss`): front ends release
    /// verdicts in seq order, so the `Correct` after a run of exactly three usually comes in
    /// the same datagram, and a count of the latest run only had dropped to 0 by the time the
    /// settle delay was over.
    #[test]
    fn a_run_followed_at_once_by_a_correct_answer_still_draws_a_vote() {
        let now = Instant::now();
        let mut g = guard(1);
        for seq in 10..=12 {
            g.on_report(now, report(seq, 4, FaultKind::Wrong), Duration::ZERO);
        }
        g.on_report(now, report(13, 4, FaultKind::Correct), Duration::ZERO);
        assert_eq!(g.consecutive_faults(4), 0, "it answers right again");
        assert!(votes(&mut g).is_empty(), "the vote waits for stragglers");
        g.handle_timeout(g.poll_timeout().unwrap(), Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(4, VoteReason::Wrong)]);
    }

    #[test]
    fn a_wrong_answer_reported_out_of_order_completes_a_run() {
        let now = Instant::now();
        let mut g = guard(1);
        for (seq, kind) in [
            (10, FaultKind::Wrong),
            (12, FaultKind::Wrong),
            (13, FaultKind::Correct),
            (11, FaultKind::Wrong),
        ] {
            g.on_report(now, report(seq, 2, kind), Duration::ZERO);
        }
        g.handle_timeout(now + Duration::from_secs(1), Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(2, VoteReason::Wrong)]);
    }

    #[test]
    fn a_correct_answer_that_arrives_late_still_breaks_the_run() {
        let now = Instant::now();
        let mut g = guard(1);
        // Seq order: 10 wrong, 11 correct, 13 wrong, 20 wrong; the report for 11 arrives last.
        for seq in [10, 13, 20] {
            g.on_report(now, report(seq, 2, FaultKind::Wrong), Duration::ZERO);
        }
        assert_eq!(g.consecutive_faults(2), 3);
        g.on_report(now, report(11, 2, FaultKind::Correct), Duration::ZERO);
        assert_eq!(g.consecutive_faults(2), 2);
        g.handle_timeout(now + Duration::from_secs(1), Duration::ZERO);
        assert!(votes(&mut g).is_empty());
    }

    #[test]
    fn the_owner_replaces_only_with_a_majority_of_votes() {
        let mut g = guard(2);
        g.on_vote(1, 2, 0, VoteReason::Wrong);
        g.on_vote(1, 2, 0, VoteReason::Wrong);
        g.on_vote(3, 2, 0, VoteReason::Wrong);
        assert_eq!(
            g.poll_decision(),
            None,
            "two distinct voters are not a majority"
        );
        g.on_vote(4, 2, 1, VoteReason::Wrong);
        assert_eq!(
            g.poll_decision(),
            None,
            "a vote against another generation does not count"
        );
        g.on_vote(4, 2, 0, VoteReason::Wrong);
        assert_eq!(g.poll_decision(), Some(VoteReason::Wrong));
        g.on_vote(2, 2, 0, VoteReason::Wrong);
        assert_eq!(g.poll_decision(), None, "decided once");
        // After the replacement, old votes are void and counting starts over.
        assert_eq!(g.replaced_mine(50), 1);
        g.on_vote(1, 2, 0, VoteReason::Wrong);
        g.on_vote(3, 2, 1, VoteReason::Wrong);
        g.on_vote(4, 2, 1, VoteReason::Wrong);
        assert_eq!(g.poll_decision(), None);
    }

    #[test]
    fn reports_about_the_old_incarnation_are_ignored() {
        let now = Instant::now();
        let mut g = guard(1);
        g.on_replaced(3, 1, 100);
        for seq in 98..=100 {
            g.on_report(now, report(seq, 3, FaultKind::Wrong), Duration::ZERO);
        }
        assert_eq!(g.consecutive_faults(3), 0);
        assert!(votes(&mut g).is_empty());
    }

    #[test]
    fn a_missing_reply_is_probed_and_only_a_real_stall_is_voted_on() {
        let now = Instant::now();
        let mut g = guard(1);
        g.on_report(now, report(5, 4, FaultKind::Missing), Duration::ZERO);
        let (to, probe) = g.poll_out().unwrap();
        assert_eq!(to, Destination::ReplicaManager(4));
        let Message::Probe { nonce } = probe else {
            panic!("{probe:?}")
        };
        // Rate-limited: a burst of reports sends one probe.
        g.on_report(now, report(6, 4, FaultKind::Missing), Duration::ZERO);
        assert!(g.poll_out().is_none());
        // One lost reply: the owner says its replica is answering.
        g.on_probe_reply(now, 4, nonce, 0, 0);
        assert!(votes(&mut g).is_empty());
        // A hung replica.
        let later = now + Duration::from_millis(200);
        g.on_report(later, report(7, 4, FaultKind::Missing), Duration::ZERO);
        let Some((_, Message::Probe { nonce })) = g.poll_out() else {
            panic!()
        };
        g.on_probe_reply(later, 4, nonce + 1, 0, 5_000);
        assert!(
            votes(&mut g).is_empty(),
            "a reply to another probe is ignored"
        );
        g.on_probe_reply(later, 4, nonce, 0, 5_000);
        assert_eq!(votes(&mut g), vec![(4, VoteReason::Hung)]);
    }

    #[test]
    fn a_stall_still_below_the_threshold_is_looked_at_again() {
        let now = Instant::now();
        let mut g = guard(1);
        g.on_report(now, report(5, 3, FaultKind::Missing), Duration::ZERO);
        let Some((_, Message::Probe { nonce })) = g.poll_out() else {
            panic!()
        };
        // Work outstanding for 400 ms of the 1000 ms threshold; then traffic stops.
        g.on_probe_reply(now, 3, nonce, 0, 400);
        assert!(votes(&mut g).is_empty());
        let at = g.poll_timeout().unwrap();
        assert!(
            at >= now + Duration::from_millis(600),
            "rechecked when it would reach the threshold"
        );
        g.handle_timeout(at, Duration::ZERO);
        let Some((_, Message::Probe { nonce })) = g.poll_out() else {
            panic!("probed again")
        };
        g.on_probe_reply(at, 3, nonce, 0, 1_100);
        assert_eq!(votes(&mut g), vec![(3, VoteReason::Hung)]);
        // Our own replica: judged from its stall, rechecked likewise.
        let mut g = guard(2);
        g.on_report(
            now,
            report(5, 2, FaultKind::Missing),
            Duration::from_millis(300),
        );
        let at = g.poll_timeout().unwrap();
        g.handle_timeout(at, Duration::from_millis(1_050));
        assert_eq!(votes(&mut g), vec![(2, VoteReason::Hung)]);
    }

    #[test]
    fn own_replica_missing_is_judged_locally() {
        let now = Instant::now();
        let mut g = guard(2);
        g.on_report(
            now,
            report(5, 2, FaultKind::Missing),
            Duration::from_millis(10),
        );
        assert!(votes(&mut g).is_empty());
        g.on_report(
            now,
            report(6, 2, FaultKind::Missing),
            Duration::from_secs(3),
        );
        assert_eq!(votes(&mut g), vec![(2, VoteReason::Hung)]);
    }

    #[test]
    fn a_digest_outside_the_majority_draws_a_vote() {
        let now = Instant::now();
        let mut g = guard(1);
        g.my_checkpoint(now, 100, [1; 32]);
        g.on_checkpoint(now, 3, 100, 0, [9; 32]);
        assert!(votes(&mut g).is_empty(), "1 against 1: no majority yet");
        g.on_checkpoint(now, 2, 100, 0, [1; 32]);
        assert_eq!(votes(&mut g), vec![(3, VoteReason::Digest)]);
        g.on_checkpoint(now, 4, 100, 0, [1; 32]);
        assert_eq!(g.agreed_checkpoints(), vec![(100, [1; 32])]);
    }

    #[test]
    fn votes_are_resent_until_given_up() {
        let now = Instant::now();
        let mut g = guard(1);
        for seq in 1..=3 {
            g.on_report(now, report(seq, 2, FaultKind::Wrong), Duration::ZERO);
        }
        g.handle_timeout(g.poll_timeout().unwrap(), Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(2, VoteReason::Wrong)]);
        let t = g.poll_timeout().unwrap();
        g.handle_timeout(t, Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(2, VoteReason::Wrong)]);
        let mut at = t;
        for _ in 0..VOTE_RESENDS {
            at += Duration::from_millis(100);
            g.handle_timeout(at, Duration::ZERO);
        }
        g.poll_out();
        assert!(g.poll_timeout().is_none());
    }
}
