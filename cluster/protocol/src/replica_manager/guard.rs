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
//!
//! **Restarts.** A manager may be killed at any point of this and restart with nothing in
//! memory. What it must not lose is its own replica's [`Incarnation`], which its shell
//! persists (the owner is the only one that ever bumps it). Everything else is learnt again:
//! - every message an owner sends about its replica (`Replaced`, `Checkpoint`, `ProbeReply`,
//!   `Welcome`) carries its incarnation, and every manager adopts the highest it hears of, so
//!   views only move forward and a missed `Replaced` is repaired by the next such message;
//! - a starting manager sends `Hello` until every peer answered with a `Welcome`: their own
//!   incarnations, and where they think its replica is (so even an owner whose persisted
//!   state was lost cannot stay behind its peers);
//! - a vote stands until the replica's generation moves on: it is resent (often at first,
//!   then every few seconds) and at once to an owner that says `Hello`, so an owner that
//!   restarted mid-vote still collects its majority; an owner that gets a vote against an
//!   older generation answers the voter with its current incarnation.
//!
//! Verdicts, probes and settle timers are not worth keeping: while a replica keeps lying or
//! hanging, front ends keep reporting it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::verdicts::Runs;
use crate::wire::{FaultKind, FaultReport, Incarnation, Message, VoteReason};
use crate::{Destination, ReplicaId, REPLICAS};

pub use crate::verdicts::WRONG_LIMIT;
/// Managers that must agree before a replica is replaced: a majority of four.
pub const MAJORITY: usize = 3;

/// Votes against a replica before its status says `voted-out`: more than one Byzantine
/// manager can cast, so at least one correct manager wants it replaced (one lying manager
/// alone must not paint every healthy replica as voted out).
pub const SHOWN_VOTED_OUT: usize = 2;
/// Checkpoints whose digests are remembered: a replica that lags far behind the others
/// reports its digest for a checkpoint long after theirs, and it must still be compared
/// (256 checkpoints: 256,000 seqs at the default interval, in about 36 KiB).
const CHECKPOINTS_KEPT: usize = 256;
/// Quiet digests remembered (a manager makes at most one per `DIGEST_EVERY` of idleness):
/// they are compared when the cluster goes quiet, when every replica stops at the same seq.
const QUIET_KEPT: usize = 32;
/// A vote is resent every retry interval this many times, then every `VOTE_SLOW_RESEND`
/// retry intervals until the replica's generation moves on (the owner may be down for a
/// while; when it comes back its `Hello` brings the vote at once).
const VOTE_FAST_RESENDS: u32 = 25;
const VOTE_SLOW_RESEND: u32 = 25;
/// A `Hello` is resent to peers that have not answered this many times at most (a peer that
/// is down says `Hello` itself when it starts, and is answered then).
const HELLO_RESENDS: u32 = 25;
/// A suspicion is rechecked at most this many times after the report that raised it.
const RECHECKS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    pub me: ReplicaId,
    /// A replica with work outstanding this long without answering is hung.
    pub hang_threshold: Duration,
    /// How often an outstanding vote or probe is resent.
    pub retry: Duration,
}

/// This manager's own vote against a replica's current generation.
#[derive(Debug, Clone, Copy)]
struct MyVote {
    reason: VoteReason,
    /// When it is sent again.
    next: Instant,
    sent: u32,
}

#[derive(Debug, Default, Clone)]
struct Tracked {
    incarnation: Incarnation,
    /// Recent verdicts, and the runs of wrong answers among them.
    runs: Runs,
    /// The run reached the limit: vote at this time if it still stands (stragglers that land
    /// meanwhile, such as a correct answer inside the run, can still break it).
    settle: Option<Instant>,
    /// When a wrong answer of the current generation was last reported.
    last_wrong: Option<Instant>,
    /// Managers that voted against this replica's current generation.
    votes: BTreeSet<ReplicaId>,
    my_vote: Option<MyVote>,
    /// Outstanding probe of this replica's owner.
    probe: Option<Probe>,
    /// Work was outstanding but not yet for the hang threshold: look again then. Without
    /// this a replica that hangs just as traffic stops would never be judged.
    recheck: Option<(Instant, u32)>,
    decided: bool,
}

/// A probe waiting for the owner's answer. Unanswered after `PROBE_EXPIRY` retry intervals
/// (lost, or the owner is down) it is sent again, up to `RECHECKS` times in all.
#[derive(Debug, Clone, Copy)]
struct Probe {
    nonce: u64,
    sent: Instant,
    /// Probes and rechecks since the report that raised the suspicion.
    rechecks: u32,
}

/// Retry intervals after which an unanswered probe is given up and sent again.
const PROBE_EXPIRY: u32 = 2;

/// A `Hello` waiting for answers.
#[derive(Debug, Clone)]
struct Greeting {
    unanswered: BTreeSet<ReplicaId>,
    next: Instant,
    sent: u32,
}

/// Where a state digest was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAt {
    /// A checkpoint seq: every replica exports its state there.
    Checkpoint,
    /// Another seq, at which the replica went idle: compared like a checkpoint's, but kept
    /// apart (and fewer of them), so that they never push out the checkpoints a lagging
    /// replica is still to be compared with.
    Quiet,
}

/// The guard of one replica manager.
pub struct Guard {
    cfg: GuardConfig,
    tracked: [Tracked; REPLICAS as usize],
    /// seq → the digest each replica reported for it.
    checkpoints: BTreeMap<u64, [Option<[u8; 32]>; REPLICAS as usize]>,
    /// The same for the digests of idle replicas at other seqs ([`DigestAt::Quiet`]).
    quiet: BTreeMap<u64, [Option<[u8; 32]>; REPLICAS as usize]>,
    greeting: Option<Greeting>,
    out: VecDeque<(Destination, Message)>,
    decisions: VecDeque<VoteReason>,
    events: VecDeque<GuardEvent>,
    next_nonce: u64,
    /// Per checkpoint seq (pruned with `checkpoints`): the replicas already counted as
    /// disagreeing there, one bit each.
    disagreed: BTreeMap<u64, u8>,
    counters: GuardCounters,
}

/// What the guard did since the manager started, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardCounters {
    /// Votes this manager cast (each counted once, however often it was resent).
    pub votes_sent: u64,
    /// Votes received from peers, resends included.
    pub votes_received: u64,
    /// Replicas whose checkpoint digest differed from the one two others agreed on, once per
    /// (checkpoint, replica).
    pub checkpoint_disagreements: u64,
}

/// What the guard did, for the manager's log (every line names the replica and generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardEvent {
    /// This manager voted to replace `replica` in `generation`.
    Voted {
        replica: ReplicaId,
        generation: u32,
        reason: VoteReason,
    },
    /// This manager learnt that `replica` is at a newer incarnation than it knew of.
    Learnt {
        replica: ReplicaId,
        incarnation: Incarnation,
    },
}

impl Guard {
    /// `mine`: our own replica's incarnation, as persisted. Says `Hello` to every peer.
    pub fn new(cfg: GuardConfig, mine: Incarnation, now: Instant) -> Self {
        let mut tracked: [Tracked; REPLICAS as usize] = Default::default();
        tracked[cfg.me.index()].incarnation = mine;
        let mut g = Guard {
            cfg,
            tracked,
            checkpoints: BTreeMap::new(),
            quiet: BTreeMap::new(),
            greeting: Some(Greeting {
                unanswered: cfg.me.others().collect(),
                next: now,
                sent: 0,
            }),
            out: VecDeque::new(),
            decisions: VecDeque::new(),
            events: VecDeque::new(),
            next_nonce: 1,
            disagreed: BTreeMap::new(),
            counters: GuardCounters::default(),
        };
        g.greet(now);
        g
    }

    pub fn incarnation(&self, replica: ReplicaId) -> Incarnation {
        self.tracked[replica.index()].incarnation
    }

    pub fn generation(&self, replica: ReplicaId) -> u32 {
        self.incarnation(replica).generation
    }

    /// This manager's count of consecutive wrong answers of `replica`, up to its latest
    /// reported verdict.
    pub fn consecutive_faults(&self, replica: ReplicaId) -> u32 {
        self.tracked[replica.index()].runs.streak()
    }

    /// When a wrong answer of `replica`'s current generation was last reported to us.
    pub fn last_wrong(&self, replica: ReplicaId) -> Option<Instant> {
        self.tracked[replica.index()].last_wrong
    }

    /// Managers (this one included) that voted against `replica`'s current generation, as far
    /// as this manager knows (complete only for its own replica, which all votes are sent to).
    pub fn votes_against(&self, replica: ReplicaId) -> usize {
        self.tracked[replica.index()].votes.len()
    }

    pub fn counters(&self) -> GuardCounters {
        self.counters
    }

    /// `replica`'s latest checkpoint whose digest this manager holds, and whether that digest
    /// is the one at least two replicas agree on (`None`: no such majority yet).
    pub fn checkpoint_view(&self, replica: ReplicaId) -> Option<(u64, Option<bool>)> {
        let i = replica.index();
        self.checkpoints.iter().rev().find_map(|(seq, digests)| {
            let mine = digests[i]?;
            Some((*seq, majority(digests).map(|m| m == mine)))
        })
    }

    /// A front end's verdict. `my_stall` is how long this manager's own replica has had work
    /// outstanding without answering (for a `Missing` report about it).
    pub fn on_report(&mut self, now: Instant, r: FaultReport, my_stall: Duration) {
        let i = r.replica.index();
        let t = &mut self.tracked[i];
        if r.seq <= t.incarnation.from_seq {
            return;
        }
        match r.kind {
            FaultKind::Wrong | FaultKind::Correct => {
                let wrong = r.kind == FaultKind::Wrong;
                if wrong {
                    t.last_wrong = Some(now);
                }
                t.runs.record(r.seq, wrong);
                if t.runs.faulty() && t.settle.is_none() && t.my_vote.is_none() {
                    t.settle = Some(now + self.cfg.retry);
                }
            }
            FaultKind::Missing => self.check(now, r.replica, my_stall, 0),
        }
    }

    /// Judges a suspected replica: our own from its stall, another by probing its owner.
    fn check(&mut self, now: Instant, replica: ReplicaId, my_stall: Duration, rechecks: u32) {
        let i = replica.index();
        if replica == self.cfg.me {
            self.judge(now, replica, my_stall, rechecks);
            return;
        }
        let t = &mut self.tracked[i];
        // One probe in flight at a time: a burst of reports sends one.
        if t.probe
            .is_some_and(|p| now.saturating_duration_since(p.sent) < self.cfg.retry)
        {
            return;
        }
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        t.probe = Some(Probe {
            nonce,
            sent: now,
            rechecks,
        });
        self.out.push_back((
            Destination::ReplicaManager(replica),
            Message::Probe { nonce },
        ));
    }

    /// A stall beyond the threshold draws a vote; a shorter one with work outstanding is
    /// looked at again when it would reach the threshold.
    fn judge(&mut self, now: Instant, replica: ReplicaId, stall: Duration, rechecks: u32) {
        let i = replica.index();
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
        from: ReplicaId,
        nonce: u64,
        incarnation: Incarnation,
        stalled_ms: u64,
    ) {
        self.learn(from, incarnation);
        let i = from.index();
        let t = &mut self.tracked[i];
        let Some(probe) = t.probe.filter(|p| p.nonce == nonce) else {
            return;
        };
        if incarnation != t.incarnation {
            return;
        }
        t.probe = None;
        self.judge(now, from, Duration::from_millis(stalled_ms), probe.rechecks);
    }

    pub fn on_vote(
        &mut self,
        voter: ReplicaId,
        replica: ReplicaId,
        generation: u32,
        reason: VoteReason,
    ) {
        if voter != self.cfg.me {
            self.counters.votes_received += 1;
        }
        let i = replica.index();
        if replica == self.cfg.me {
            let mine = self.tracked[i].incarnation;
            if generation < mine.generation {
                // The voter missed our replacement: tell it, so that it judges the new one.
                self.out.push_back((
                    Destination::ReplicaManager(voter),
                    Message::Replaced { incarnation: mine },
                ));
                return;
            }
        }
        let t = &mut self.tracked[i];
        if generation != t.incarnation.generation {
            return;
        }
        t.votes.insert(voter);
        if replica == self.cfg.me && !t.decided && t.votes.len() >= MAJORITY {
            t.decided = true;
            self.decisions.push_back(reason);
        }
    }

    /// Adopts `incarnation` for `replica` if it is newer than what we know: everything we
    /// held against the old generation is void, except verdicts about seqs the new one
    /// answered.
    pub fn learn(&mut self, replica: ReplicaId, incarnation: Incarnation) -> bool {
        let i = replica.index();
        let t = &mut self.tracked[i];
        if incarnation.generation <= t.incarnation.generation {
            return false;
        }
        let mut runs = std::mem::take(&mut t.runs);
        runs.keep_after(incarnation.from_seq);
        *t = Tracked {
            incarnation,
            runs,
            ..Tracked::default()
        };
        for digests in self.checkpoints.values_mut().chain(self.quiet.values_mut()) {
            digests[i] = None;
        }
        self.events.push_back(GuardEvent::Learnt {
            replica,
            incarnation,
        });
        true
    }

    /// Our own replica was replaced by a fresh process that answers from `from_seq + 1`:
    /// tell every manager. Returns the new incarnation (which the shell persists).
    pub fn replaced_mine(&mut self, from_seq: u64) -> Incarnation {
        let me = self.cfg.me;
        let incarnation = Incarnation {
            generation: self.generation(me).saturating_add(1),
            from_seq,
        };
        self.learn(me, incarnation);
        self.broadcast(Message::Replaced { incarnation });
        incarnation
    }

    /// A peer (re)started: adopt what it says of its replica, tell it where ours is and where
    /// we think its is, and bring it our vote against its replica if we hold one.
    pub fn on_hello(&mut self, now: Instant, peer: ReplicaId, incarnation: Incarnation) {
        self.learn(peer, incarnation);
        let i = peer.index();
        let me = self.cfg.me;
        self.out.push_back((
            Destination::ReplicaManager(peer),
            Message::Welcome {
                mine: self.incarnation(me),
                yours: self.tracked[i].incarnation,
            },
        ));
        if let Some(v) = &mut self.tracked[i].my_vote {
            v.next = now;
            v.sent = 0;
        }
    }

    pub fn on_welcome(&mut self, peer: ReplicaId, mine: Incarnation, yours: Incarnation) {
        self.learn(peer, mine);
        self.learn(self.cfg.me, yours);
        if let Some(g) = &mut self.greeting {
            g.unanswered.remove(&peer);
            if g.unanswered.is_empty() {
                self.greeting = None;
            }
        }
    }

    fn greet(&mut self, now: Instant) {
        let Some(g) = &mut self.greeting else { return };
        if g.sent >= HELLO_RESENDS {
            self.greeting = None;
            return;
        }
        g.sent += 1;
        g.next = now + self.cfg.retry;
        let incarnation = self.tracked[self.cfg.me.index()].incarnation;
        let to: Vec<ReplicaId> = g.unanswered.iter().copied().collect();
        for peer in to {
            self.out.push_back((
                Destination::ReplicaManager(peer),
                Message::Hello { incarnation },
            ));
        }
    }

    /// A state digest, ours or a peer's, at a checkpoint or a quiet seq. Compares it with
    /// the others for that seq.
    pub fn on_digest(
        &mut self,
        now: Instant,
        replica: ReplicaId,
        (seq, at): (u64, DigestAt),
        incarnation: Incarnation,
        digest: [u8; 32],
    ) {
        self.learn(replica, incarnation);
        let i = replica.index();
        if incarnation.generation != self.tracked[i].incarnation.generation {
            return;
        }
        let (table, kept) = match at {
            DigestAt::Quiet => (&mut self.quiet, QUIET_KEPT),
            DigestAt::Checkpoint => (&mut self.checkpoints, CHECKPOINTS_KEPT),
        };
        let digests = table.entry(seq).or_default();
        digests[i] = Some(digest);
        let digests = *digests;
        // A seq is in one table only (the seq says which), so its flags go with it.
        while table.len() > kept {
            if let Some((old, _)) = table.pop_first() {
                self.disagreed.remove(&old);
            }
        }
        let Some(majority) = majority(&digests) else {
            return;
        };
        for (j, d) in digests.iter().enumerate() {
            if d.is_some_and(|d| d != majority) {
                let flagged = self.disagreed.entry(seq).or_default();
                if *flagged & (1 << j) == 0 {
                    *flagged |= 1 << j;
                    self.counters.checkpoint_disagreements += 1;
                }
                self.vote(now, ReplicaId::ALL[j], VoteReason::Digest);
            }
        }
    }

    /// Our own checkpoint: record it and tell every manager.
    pub fn my_checkpoint(&mut self, now: Instant, seq: u64, digest: [u8; 32]) {
        self.my_digest(now, (seq, DigestAt::Checkpoint), digest);
    }

    /// Our replica's digest: record it and tell every manager (a quiet digest too goes as a
    /// `Checkpoint` message: the seq tells them which it is).
    pub fn my_digest(&mut self, now: Instant, (seq, at): (u64, DigestAt), digest: [u8; 32]) {
        let me = self.cfg.me;
        let incarnation = self.incarnation(me);
        self.broadcast(Message::Checkpoint {
            seq,
            incarnation,
            digest,
        });
        self.on_digest(now, me, (seq, at), incarnation, digest);
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

    fn vote(&mut self, now: Instant, replica: ReplicaId, reason: VoteReason) {
        let i = replica.index();
        if self.tracked[i].my_vote.is_some() {
            return;
        }
        self.counters.votes_sent += 1;
        self.tracked[i].my_vote = Some(MyVote {
            reason,
            next: now + self.cfg.retry,
            sent: 1,
        });
        let generation = self.tracked[i].incarnation.generation;
        self.events.push_back(GuardEvent::Voted {
            replica,
            generation,
            reason,
        });
        self.send_vote(replica, generation, reason);
        self.on_vote(self.cfg.me, replica, generation, reason);
    }

    /// A vote goes to every peer: the owner counts it, and the others learn that a
    /// replacement is coming.
    fn send_vote(&mut self, replica: ReplicaId, generation: u32, reason: VoteReason) {
        self.broadcast(Message::Vote {
            replica,
            generation,
            reason,
        });
    }

    fn broadcast(&mut self, msg: Message) {
        for peer in self.cfg.me.others() {
            self.out
                .push_back((Destination::ReplicaManager(peer), msg.clone()));
        }
    }

    /// `my_stall`: how long our own replica has had work outstanding without answering.
    pub fn handle_timeout(&mut self, now: Instant, my_stall: Duration) {
        if self.greeting.as_ref().is_some_and(|g| now >= g.next) {
            self.greet(now);
        }
        for replica in ReplicaId::ALL {
            let i = replica.index();
            if self.tracked[i].settle.is_some_and(|at| now >= at) {
                self.tracked[i].settle = None;
                if self.tracked[i].runs.faulty() {
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
        let retry = self.cfg.retry;
        for replica in ReplicaId::ALL {
            let i = replica.index();
            let t = &mut self.tracked[i];
            if let Some(p) = t
                .probe
                .filter(|p| now.saturating_duration_since(p.sent) >= retry * PROBE_EXPIRY)
            {
                // Unanswered: the probe or its answer was lost, or the owner is down (and its
                // supervisor restarts it). Ask again, a bounded number of times.
                t.probe = None;
                if p.rechecks < RECHECKS {
                    self.check(now, replica, my_stall, p.rechecks + 1);
                }
            }
            let t = &mut self.tracked[i];
            let generation = t.incarnation.generation;
            let resend = match &mut t.my_vote {
                // Our own replica: the vote is counted locally, nothing to resend.
                Some(_) if replica == self.cfg.me => None,
                Some(v) if now >= v.next => {
                    v.sent = v.sent.saturating_add(1);
                    let gap = if v.sent < VOTE_FAST_RESENDS {
                        retry
                    } else {
                        retry * VOTE_SLOW_RESEND
                    };
                    v.next = now + gap;
                    Some(v.reason)
                }
                _ => None,
            };
            if let Some(reason) = resend {
                self.send_vote(replica, generation, reason);
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let me = self.cfg.me;
        let greeting = self.greeting.as_ref().map(|g| g.next);
        self.tracked
            .iter()
            .zip(ReplicaId::ALL)
            .filter_map(|(t, replica)| {
                let vote = t.my_vote.filter(|_| replica != me).map(|v| v.next);
                let probe = t.probe.map(|p| p.sent + self.cfg.retry * PROBE_EXPIRY);
                let recheck = t.recheck.map(|(at, _)| at);
                vote.into_iter()
                    .chain(probe)
                    .chain(recheck)
                    .chain(t.settle)
                    .min()
            })
            .chain(greeting)
            .min()
    }

    pub fn poll_out(&mut self) -> Option<(Destination, Message)> {
        self.out.pop_front()
    }

    /// A majority decided our own replica must be replaced, for this reason.
    pub fn poll_decision(&mut self) -> Option<VoteReason> {
        self.decisions.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<GuardEvent> {
        self.events.pop_front()
    }
}

/// The majority digest of one checkpoint: one that at least two replicas reported, and more
/// than any other.
fn majority(digests: &[Option<[u8; 32]>; REPLICAS as usize]) -> Option<[u8; 32]> {
    let mut counts: BTreeMap<[u8; 32], usize> = BTreeMap::new();
    for d in digests.iter().flatten() {
        *counts.entry(*d).or_default() += 1;
    }
    let mut ranked: Vec<_> = counts.into_iter().collect();
    ranked.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    match ranked.as_slice() {
        [(d, n), rest @ ..] if *n >= 2 && rest.first().is_none_or(|(_, m)| m < n) => Some(*d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReplicaId;

    /// Replica `n` (1..=4), for tests.
    fn r(n: u8) -> ReplicaId {
        ReplicaId::new(n).expect("a replica number")
    }

    fn guard(me: u8) -> Guard {
        let mut g = Guard::new(
            GuardConfig {
                me: r(me),
                hang_threshold: Duration::from_millis(1000),
                retry: Duration::from_millis(100),
            },
            Incarnation::default(),
            Instant::now(),
        );
        // Every peer welcomes it: no more greetings in the way.
        for peer in r(me).others() {
            g.on_welcome(peer, Incarnation::default(), Incarnation::default());
        }
        while g.poll_out().is_some() {}
        g
    }

    fn inc(generation: u32, from_seq: u64) -> Incarnation {
        Incarnation {
            generation,
            from_seq,
        }
    }

    fn report(seq: u64, replica: u8, kind: FaultKind) -> FaultReport {
        FaultReport {
            seq,
            replica: r(replica),
            kind,
        }
    }

    /// A peer's checkpoint digest, from its replica's first incarnation.
    fn on_checkpoint(g: &mut Guard, now: Instant, replica: ReplicaId, seq: u64, digest: [u8; 32]) {
        g.on_digest(now, replica, (seq, DigestAt::Checkpoint), inc(0, 0), digest);
    }

    fn votes(g: &mut Guard) -> Vec<(ReplicaId, VoteReason)> {
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
        assert_eq!(g.consecutive_faults(r(3)), 2);
        assert!(votes(&mut g).is_empty(), "two in a row is not three");
        // A duplicate report does not count twice.
        g.on_report(now, report(14, 3, FaultKind::Wrong), Duration::ZERO);
        g.handle_timeout(now + Duration::from_secs(1), Duration::ZERO);
        assert!(votes(&mut g).is_empty());
        g.on_report(now, report(15, 3, FaultKind::Wrong), Duration::ZERO);
        assert_eq!(g.consecutive_faults(r(3)), 3);
        assert!(votes(&mut g).is_empty(), "the vote waits for stragglers");
        g.handle_timeout(g.poll_timeout().unwrap(), Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(r(3), VoteReason::Wrong)]);
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
        assert_eq!(g.consecutive_faults(r(4)), 0, "it answers right again");
        assert!(votes(&mut g).is_empty(), "the vote waits for stragglers");
        g.handle_timeout(g.poll_timeout().unwrap(), Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(r(4), VoteReason::Wrong)]);
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
        assert_eq!(votes(&mut g), vec![(r(2), VoteReason::Wrong)]);
    }

    #[test]
    fn a_correct_answer_that_arrives_late_still_breaks_the_run() {
        let now = Instant::now();
        let mut g = guard(1);
        // Seq order: 10 wrong, 11 correct, 13 wrong, 20 wrong; the report for 11 arrives last.
        for seq in [10, 13, 20] {
            g.on_report(now, report(seq, 2, FaultKind::Wrong), Duration::ZERO);
        }
        assert_eq!(g.consecutive_faults(r(2)), 3);
        g.on_report(now, report(11, 2, FaultKind::Correct), Duration::ZERO);
        assert_eq!(g.consecutive_faults(r(2)), 2);
        g.handle_timeout(now + Duration::from_secs(1), Duration::ZERO);
        assert!(votes(&mut g).is_empty());
    }

    #[test]
    fn the_owner_replaces_only_with_a_majority_of_votes() {
        let mut g = guard(2);
        g.on_vote(r(1), r(2), 0, VoteReason::Wrong);
        g.on_vote(r(1), r(2), 0, VoteReason::Wrong);
        g.on_vote(r(3), r(2), 0, VoteReason::Wrong);
        assert_eq!(
            g.poll_decision(),
            None,
            "two distinct voters are not a majority"
        );
        g.on_vote(r(4), r(2), 1, VoteReason::Wrong);
        assert_eq!(
            g.poll_decision(),
            None,
            "a vote against another generation does not count"
        );
        g.on_vote(r(4), r(2), 0, VoteReason::Wrong);
        assert_eq!(g.poll_decision(), Some(VoteReason::Wrong));
        g.on_vote(r(2), r(2), 0, VoteReason::Wrong);
        assert_eq!(g.poll_decision(), None, "decided once");
        // After the replacement, old votes are void and counting starts over.
        assert_eq!(g.replaced_mine(50), inc(1, 50));
        g.on_vote(r(1), r(2), 0, VoteReason::Wrong);
        g.on_vote(r(3), r(2), 1, VoteReason::Wrong);
        g.on_vote(r(4), r(2), 1, VoteReason::Wrong);
        assert_eq!(g.poll_decision(), None);
    }

    #[test]
    fn reports_about_the_old_incarnation_are_ignored() {
        let now = Instant::now();
        let mut g = guard(1);
        g.learn(r(3), inc(1, 100));
        for seq in 98..=100 {
            g.on_report(now, report(seq, 3, FaultKind::Wrong), Duration::ZERO);
        }
        assert_eq!(g.consecutive_faults(r(3)), 0);
        assert!(votes(&mut g).is_empty());
    }

    #[test]
    fn a_missing_reply_is_probed_and_only_a_real_stall_is_voted_on() {
        let now = Instant::now();
        let mut g = guard(1);
        g.on_report(now, report(5, 4, FaultKind::Missing), Duration::ZERO);
        let (to, probe) = g.poll_out().unwrap();
        assert_eq!(to, Destination::ReplicaManager(r(4)));
        let Message::Probe { nonce } = probe else {
            panic!("{probe:?}")
        };
        // Rate-limited: a burst of reports sends one probe.
        g.on_report(now, report(6, 4, FaultKind::Missing), Duration::ZERO);
        assert!(g.poll_out().is_none());
        // One lost reply: the owner says its replica is answering.
        g.on_probe_reply(now, r(4), nonce, inc(0, 0), 0);
        assert!(votes(&mut g).is_empty());
        // A hung replica.
        let later = now + Duration::from_millis(200);
        g.on_report(later, report(7, 4, FaultKind::Missing), Duration::ZERO);
        let Some((_, Message::Probe { nonce })) = g.poll_out() else {
            panic!()
        };
        g.on_probe_reply(later, r(4), nonce + 1, inc(0, 0), 5_000);
        assert!(
            votes(&mut g).is_empty(),
            "a reply to another probe is ignored"
        );
        g.on_probe_reply(later, r(4), nonce, inc(0, 0), 5_000);
        assert_eq!(votes(&mut g), vec![(r(4), VoteReason::Hung)]);
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
        g.on_probe_reply(now, r(3), nonce, inc(0, 0), 400);
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
        g.on_probe_reply(at, r(3), nonce, inc(0, 0), 1_100);
        assert_eq!(votes(&mut g), vec![(r(3), VoteReason::Hung)]);
        // Our own replica: judged from its stall, rechecked likewise.
        let mut g = guard(2);
        g.on_report(
            now,
            report(5, 2, FaultKind::Missing),
            Duration::from_millis(300),
        );
        let at = g.poll_timeout().unwrap();
        g.handle_timeout(at, Duration::from_millis(1_050));
        assert_eq!(votes(&mut g), vec![(r(2), VoteReason::Hung)]);
    }

    /// Found by the simulation (`manager_restarts_while_a_hung_replica_is_replaced`): a
    /// `Missing` report that arrived while a probe was in flight cancelled the pending
    /// recheck, and when that probe's answer was lost and the load ended, the hung replica
    /// was never judged again.
    #[test]
    fn a_lost_probe_is_sent_again_and_reports_never_cancel_a_recheck() {
        let now = Instant::now();
        let ms = |n| now + Duration::from_millis(n);
        let mut g = guard(1);
        let probe = |g: &mut Guard| match g.poll_out() {
            Some((_, Message::Probe { nonce })) => nonce,
            other => panic!("expected a probe, got {other:?}"),
        };
        g.on_report(now, report(5, 2, FaultKind::Missing), Duration::ZERO);
        let n = probe(&mut g);
        // Stalled 900 of 1000 ms: look again in ~150 ms.
        g.on_probe_reply(ms(10), r(2), n, inc(0, 0), 900);
        // Another report sends another probe, whose answer is lost.
        g.on_report(ms(20), report(6, 2, FaultKind::Missing), Duration::ZERO);
        let _lost = probe(&mut g);
        g.on_report(ms(30), report(7, 2, FaultKind::Missing), Duration::ZERO);
        assert!(g.poll_out().is_none(), "one probe in flight");
        // The recheck still fires, with no report after it.
        let at = g.poll_timeout().unwrap();
        assert!(at <= ms(220), "{:?}", at - now);
        g.handle_timeout(at, Duration::ZERO);
        let n = probe(&mut g);
        g.on_probe_reply(at, r(2), n, inc(0, 0), 1_100);
        assert_eq!(votes(&mut g), vec![(r(2), VoteReason::Hung)]);

        // A probe whose answer never comes is sent again, a bounded number of times.
        let mut g = guard(1);
        g.on_report(now, report(5, 3, FaultKind::Missing), Duration::ZERO);
        let mut probes = 1;
        probe(&mut g);
        while let Some(at) = g.poll_timeout() {
            g.handle_timeout(at, Duration::ZERO);
            probes += std::iter::from_fn(|| g.poll_out()).count();
        }
        assert_eq!(probes, 1 + RECHECKS as usize);
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
        assert_eq!(votes(&mut g), vec![(r(2), VoteReason::Hung)]);
    }

    #[test]
    fn a_digest_outside_the_majority_draws_a_vote() {
        let now = Instant::now();
        let mut g = guard(1);
        g.my_checkpoint(now, 100, [1; 32]);
        on_checkpoint(&mut g, now, r(3), 100, [9; 32]);
        assert!(votes(&mut g).is_empty(), "1 against 1: no majority yet");
        on_checkpoint(&mut g, now, r(2), 100, [1; 32]);
        assert_eq!(votes(&mut g), vec![(r(3), VoteReason::Digest)]);
        on_checkpoint(&mut g, now, r(4), 100, [1; 32]);
        assert_eq!(g.agreed_checkpoints(), vec![(100, [1; 32])]);
        // Counted once per (checkpoint, replica), however many digests follow.
        assert_eq!(g.counters().checkpoint_disagreements, 1);
        assert_eq!(g.counters().votes_sent, 1);
        assert_eq!(g.checkpoint_view(r(3)), Some((100, Some(false))));
        assert_eq!(g.checkpoint_view(r(1)), Some((100, Some(true))));
        g.my_checkpoint(now, 200, [2; 32]);
        assert_eq!(g.checkpoint_view(r(1)), Some((200, None)), "alone at 200");
    }

    /// Found by the chaos soak: a replica with a damaged state that also ran slowly reported
    /// its checkpoint digests long after the others had forgotten theirs for those seqs, and
    /// was never caught.
    #[test]
    fn a_lagging_replica_is_compared_with_checkpoints_long_past() {
        let now = Instant::now();
        let mut g = guard(1);
        for k in 1..=200 {
            let seq = k * 1000;
            g.my_checkpoint(now, seq, [1; 32]);
            on_checkpoint(&mut g, now, r(2), seq, [1; 32]);
            on_checkpoint(&mut g, now, r(3), seq, [1; 32]);
        }
        on_checkpoint(&mut g, now, r(4), 1000, [9; 32]);
        assert_eq!(votes(&mut g), vec![(r(4), VoteReason::Digest)]);
    }

    /// A state gone wrong behind right replies, on a cluster gone quiet before the next
    /// checkpoint seq: the idle replicas' digests give it away, and however many of them
    /// come, the checkpoints a lagging replica is still to be compared with stay.
    #[test]
    fn quiet_digests_are_compared_and_leave_the_checkpoints_alone() {
        let now = Instant::now();
        let mut g = guard(1);
        g.my_checkpoint(now, 1000, [1; 32]);
        on_checkpoint(&mut g, now, r(2), 1000, [1; 32]);
        for seq in 1001..1001 + 10 * QUIET_KEPT as u64 {
            g.my_digest(now, (seq, DigestAt::Quiet), [2; 32]);
            g.on_digest(now, r(2), (seq, DigestAt::Quiet), inc(0, 0), [2; 32]);
        }
        assert!(votes(&mut g).is_empty());
        assert_eq!(g.checkpoint_view(r(1)), Some((1000, Some(true))));
        let last = 1000 + 10 * QUIET_KEPT as u64;
        g.on_digest(now, r(3), (last, DigestAt::Quiet), inc(0, 0), [9; 32]);
        assert_eq!(votes(&mut g), vec![(r(3), VoteReason::Digest)]);
        assert_eq!(g.counters().checkpoint_disagreements, 1);
        // The checkpoint is still there for replica 4, however late its digest comes.
        on_checkpoint(&mut g, now, r(4), 1000, [9; 32]);
        assert_eq!(
            votes(&mut g),
            vec![(r(4), VoteReason::Digest)],
            "a vote each"
        );
    }

    #[test]
    fn a_vote_stands_until_the_replica_is_replaced() {
        let now = Instant::now();
        let mut g = guard(1);
        for seq in 1..=3 {
            g.on_report(now, report(seq, 2, FaultKind::Wrong), Duration::ZERO);
        }
        g.handle_timeout(g.poll_timeout().unwrap(), Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(r(2), VoteReason::Wrong)]);
        let mut at = g.poll_timeout().unwrap();
        assert_eq!(at - now, Duration::from_millis(200), "resent every retry");
        let mut sent = 1;
        while at < now + Duration::from_secs(60) {
            g.handle_timeout(at, Duration::ZERO);
            sent += votes(&mut g).len();
            at = g.poll_timeout().unwrap();
        }
        // Often at first, then every 25 retries: 25 in the first 2.5 s, ~23 in the rest.
        assert!((45..=50).contains(&sent), "{sent} votes in a minute");
        // The owner comes back: our vote goes to it at once.
        g.on_hello(at, r(2), inc(0, 0));
        let welcome = g.poll_out();
        assert!(
            matches!(
                welcome,
                Some((Destination::ReplicaManager(to), Message::Welcome { .. })) if to == r(2)
            ),
            "{welcome:?}"
        );
        g.handle_timeout(at, Duration::ZERO);
        assert_eq!(votes(&mut g), vec![(r(2), VoteReason::Wrong)]);
        // Replaced: the vote is void and no longer sent.
        assert!(g.learn(r(2), inc(1, 3)));
        assert_eq!(g.poll_timeout(), None);
        assert_eq!(g.consecutive_faults(r(2)), 0);
    }

    /// The bug of issue 10: a restarted owner started its replica at generation 0 while its
    /// peers knew a later one, and ignored their votes forever.
    #[test]
    fn a_restarted_owner_and_its_peers_agree_on_its_generation() {
        let now = Instant::now();
        // Owner 3 persisted generation 2; peer 1 lost track of it (it restarted too).
        let mut owner = Guard::new(
            GuardConfig {
                me: r(3),
                hang_threshold: Duration::from_millis(1000),
                retry: Duration::from_millis(100),
            },
            inc(2, 500),
            now,
        );
        let mut peer = guard(1);
        assert_eq!(peer.generation(r(3)), 0);
        let hellos: Vec<_> = std::iter::from_fn(|| owner.poll_out()).collect();
        assert_eq!(hellos.len(), 3, "hello to every peer: {hellos:?}");
        peer.on_hello(now, r(3), inc(2, 500));
        assert_eq!(peer.incarnation(r(3)), inc(2, 500));
        let Some((_, Message::Welcome { mine, yours })) = peer.poll_out() else {
            panic!("welcome")
        };
        owner.on_welcome(r(1), mine, yours);
        // Peer 1 sees three wrong answers of the new process and votes against generation 2,
        // which the owner counts.
        for seq in 501..=503 {
            peer.on_report(now, report(seq, 3, FaultKind::Wrong), Duration::ZERO);
        }
        peer.handle_timeout(peer.poll_timeout().unwrap(), Duration::ZERO);
        let votes: Vec<_> = std::iter::from_fn(|| peer.poll_out())
            .filter_map(|(to, m)| match m {
                Message::Vote {
                    replica,
                    generation,
                    reason,
                } if to == Destination::ReplicaManager(r(3)) => Some((replica, generation, reason)),
                _ => None,
            })
            .collect();
        assert_eq!(votes, vec![(r(3), 2, VoteReason::Wrong)]);
        owner.on_vote(r(1), r(3), 2, VoteReason::Wrong);
        owner.on_vote(r(2), r(3), 2, VoteReason::Wrong);
        owner.on_vote(r(4), r(3), 2, VoteReason::Wrong);
        assert_eq!(owner.poll_decision(), Some(VoteReason::Wrong));
    }

    #[test]
    fn a_vote_against_an_old_generation_is_answered_with_the_current_one() {
        let now = Instant::now();
        let mut owner = guard(2);
        owner.replaced_mine(40);
        while owner.poll_out().is_some() {}
        owner.on_vote(r(4), r(2), 0, VoteReason::Wrong);
        assert_eq!(owner.poll_decision(), None);
        assert_eq!(
            owner.poll_out(),
            Some((
                Destination::ReplicaManager(r(4)),
                Message::Replaced {
                    incarnation: inc(1, 40)
                }
            ))
        );
        // The stale voter adopts it; verdicts about the new process are kept.
        let mut voter = guard(4);
        for seq in [39, 41, 42] {
            voter.on_report(now, report(seq, 2, FaultKind::Wrong), Duration::ZERO);
        }
        voter.learn(r(2), inc(1, 40));
        assert_eq!(voter.consecutive_faults(r(2)), 2);
        // Newer views never move back.
        assert!(!voter.learn(r(2), inc(0, 0)));
        assert_eq!(voter.generation(r(2)), 1);
    }

    #[test]
    fn an_owner_whose_record_was_lost_adopts_its_peers_view() {
        let mut owner = guard(2);
        owner.on_vote(r(1), r(2), 4, VoteReason::Digest);
        assert_eq!(owner.generation(r(2)), 0, "a vote is not a record");
        owner.on_welcome(r(1), inc(0, 0), inc(4, 900));
        assert_eq!(owner.incarnation(r(2)), inc(4, 900));
        owner.on_vote(r(1), r(2), 4, VoteReason::Digest);
        owner.on_vote(r(3), r(2), 4, VoteReason::Digest);
        owner.on_vote(r(4), r(2), 4, VoteReason::Digest);
        assert_eq!(owner.poll_decision(), Some(VoteReason::Digest));
    }
}
