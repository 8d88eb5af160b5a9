//! The front end core: gets client requests ordered by the sequencer, collects the replicas'
//! replies, answers with the first reply two replicas sent byte for byte, and reports the
//! replicas that answered differently or not at all. See `docs/protocol.md`, "Front end →
//! sequencer" and "Front end core".
//!
//! Like the other machines of this crate it does no IO: [`FrontEnd::submit`],
//! [`FrontEnd::handle_datagram`] and [`FrontEnd::handle_timeout`] take `now`; datagrams come out
//! of [`FrontEnd::poll_transmit`], outcomes out of [`FrontEnd::poll_event`], and
//! [`FrontEnd::poll_timeout`] says when to call `handle_timeout` next.
//!
//! Per request, at most two timers are armed in one ordered set: its deadline while no two
//! replies agree, and one of resubmit (seq unknown), re-ask (seq known, unanswered) or linger
//! end (answered). So a timeout costs O(log n) per due timer, never a scan of all requests.

mod latency;
mod reads;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::mem;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::verdicts::Reporter;
use crate::wire::{
    batch, Link, Message, NodeId, ReplyEntry, RequestId, Submission, WireStats, TRACE_MAX,
};
use crate::{Destination, ReplicaId, Timeouts, Transmit, REPLICAS};

use latency::SlidingMax;

/// Re-ask intervals double up to this (or up to the configured interval, if larger).
const BACKOFF_CAP: Duration = Duration::from_secs(1);

/// Submit retransmission intervals double up to this (or up to the configured interval, if
/// larger). Lower than re-asks': after a sequencer failover a request is ordered at its next
/// retransmission to the new primary, so this bounds what clients wait beyond the takeover.
const SUBMIT_BACKOFF_CAP: Duration = Duration::from_millis(250);
/// Retransmission intervals are raised to at least this, so that a zero in the configuration
/// cannot make a timer due again at the instant it fired.
const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// Configured durations are lowered to at most this, keeping `Instant` arithmetic far from
/// overflow.
const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);
/// How many recent reply latencies the linger window is computed from.
const LATENCY_SAMPLES: usize = 1000;
/// Per-replica arrays are indexed by `ReplicaId::index`.
const PER_REPLICA: usize = REPLICAS as usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontEndConfig {
    pub timeouts: Timeouts,
    /// `RequestId.front_end`: unique per start of a front end; chosen by the shell.
    pub incarnation: u64,
    /// The shell's bound address, sent in every `Submission`: where replies come back to.
    pub reply_to: SocketAddr,
    /// The sequencer nodes, highest priority first. A request goes to the one that last
    /// answered `Ordered` (at first the first); a retransmission to every one, since the
    /// primary may have changed.
    pub sequencers: Vec<u8>,
    /// A read takes the fast path only while fewer calls than this are in flight here
    /// (`usize::MAX`: always). Beyond it the cores, not the hops, bound the cluster, and an
    /// ordered read, riding in the writes' batches, costs less than a fast read's datagrams
    /// of its own (`docs/performance.md`, "Fast reads under load").
    pub fast_read_limit: usize,
    /// The cluster has no other front end (the cluster file lists none): after the primary's
    /// first index, fast reads take the index from what this front end knows committed
    /// (`reads::OwnIndex`). Every front end of a cluster must list every other.
    pub only_front_end: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontEndEvent {
    /// The first reply two replicas sent byte-identical. Exactly once per id.
    Answered {
        id: RequestId,
        seq: u64,
        reply: Vec<u8>,
        /// Replies that had arrived when two agreed, the agreeing pair included: 2 when the
        /// first two agree, up to 4 when a replica differed or answered late.
        replies: u8,
    },
    /// No two replicas agreed within `request_timeout`. Never a guess. Exactly once per id,
    /// and never after `Answered` for the same id. A request that was `sent` may still take
    /// effect: `seq` is where the sequencer ordered it, if this front end learnt that (then it
    /// is in the log, and the replicas apply it once they can); `None` proves nothing, since
    /// the sequencer may have ordered it and its `Ordered` been lost. One never sent (larger
    /// than any message the cluster accepts) cannot.
    Unavailable {
        id: RequestId,
        seq: Option<u64>,
        sent: bool,
    },
}

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FrontEndStats {
    /// Calls to [`FrontEnd::submit`].
    pub submitted: u64,
    /// `Answered` events.
    pub answered: u64,
    /// `Unavailable` events.
    pub unavailable: u64,
    /// Submissions sent again because their seq was not known yet (one per request per
    /// retransmission, however many share a datagram).
    pub submit_retransmits: u64,
    /// Seqs re-asked, one per (seq, replica manager) per round.
    pub reasks: u64,
    /// Fault reports issued (`wrong + missing`); each one goes to all four replica managers.
    pub faults_reported: u64,
    /// Replicas reported for a reply that differed from the answer.
    pub wrong: u64,
    /// Replicas reported for not replying within the linger window.
    pub missing: u64,
    /// `wrong`, per replica (indexed by `ReplicaId::index`).
    pub wrong_by_replica: [u64; PER_REPLICA],
    /// `missing`, per replica.
    pub missing_by_replica: [u64; PER_REPLICA],
    /// Reads started on the fast path ([`FrontEnd::submit_read`]), those answered on it,
    /// and those that fell back to being ordered (no read index, or no two replies alike in
    /// time).
    pub fast_reads: u64,
    pub fast_answered: u64,
    pub fast_fallbacks: u64,
    /// Read-only calls given to [`FrontEnd::submit_read`] and ordered at once, because
    /// `fast_read_limit` calls were in flight.
    pub reads_ordered_under_load: u64,
    /// Fast reads that took this front end's own index, not the primary's (`only_front_end`).
    pub fast_own_index: u64,
    /// Fast reads whose read index was asked for again: no answer within a re-ask interval
    /// (a lost question or answer, or a new primary).
    pub fast_index_asked_again: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Timer {
    /// `request_timeout` after submit, while unanswered.
    Deadline,
    /// Send the submission again; while the seq is unknown.
    Resubmit,
    /// Re-ask the replica managers that have not replied; while the seq is known and no two
    /// replies agree.
    Reask,
    /// Stop collecting and report; after answering.
    LingerEnd,
    /// A fast read has no answer yet: order it instead.
    ReadFallback,
    /// The managers a fast read asked first have not given two alike: ask the others.
    ReadEscalate,
    /// A fast read's read index has not come: ask for it again.
    ReadIndexAgain,
}

enum Stage {
    /// Waiting for two replicas to agree. `replies[r - 1]`: replica r's reply; its first
    /// one counts.
    Collecting {
        replies: [Option<Vec<u8>>; PER_REPLICA],
    },
    /// Answered. `agrees[r - 1]`: whether replica r's reply equals the answer, once it replied.
    Lingering {
        answer: Vec<u8>,
        agrees: [Option<bool>; PER_REPLICA],
    },
}

struct Pending {
    submitted: Instant,
    /// Armed as a timer while `Collecting`.
    deadline: Instant,
    /// The encoded client request, kept for retransmission until the seq is known.
    request: Vec<u8>,
    /// The caller's request id, for the managers' logs ([`Submission::trace`]).
    trace: String,
    seq: Option<u64>,
    stage: Stage,
    /// The armed non-deadline timer, if any.
    wake: Option<(Instant, Timer)>,
    /// The interval until `wake`, doubled each time it fires.
    rto: Duration,
}

pub struct FrontEnd {
    link: Link,
    timeouts: Timeouts,
    incarnation: u64,
    reply_to: SocketAddr,
    next_number: u64,
    /// Submitted requests not yet answered or unavailable, and answered ones still lingering.
    requests: HashMap<u64, Pending>,
    /// Request numbers whose seq is not known yet; the lowest is the floor.
    unordered: BTreeSet<u64>,
    /// Requests not yet answered or unavailable.
    collecting: usize,
    timers: BTreeSet<(Instant, u64, Timer)>,
    latencies: SlidingMax,
    /// Request numbers to submit at the next flush, to the primary.
    submit_queue: Vec<u64>,
    /// Request numbers to submit again at the next flush, to every sequencer node.
    resubmit_queue: Vec<u64>,
    /// The sequencer node that last ordered one of our requests.
    primary: u8,
    sequencers: Vec<u8>,
    /// Seqs to re-ask, per replica manager.
    reask_queue: [Vec<u64>; PER_REPLICA],
    /// Answered requests still lingering for a replica's reply, per replica, by (seq, number).
    awaiting: [BTreeSet<(u64, u64)>; PER_REPLICA],
    /// What this front end tells the managers about each replica's answers.
    verdicts: Reporter,
    /// The latest time any call was given (flushes, which are given none, happen after one).
    now: Option<Instant>,
    out: VecDeque<Transmit>,
    events: VecDeque<FrontEndEvent>,
    stats: FrontEndStats,
    /// Fast reads in progress (`reads`).
    fast: reads::FastReads,
    fast_read_limit: usize,
}

impl FrontEnd {
    pub fn new(link: Link, cfg: FrontEndConfig) -> Self {
        let mut timeouts = cfg.timeouts;
        let interval = |d: Duration| d.clamp(MIN_INTERVAL, MAX_INTERVAL);
        timeouts.submit_retransmit = interval(timeouts.submit_retransmit);
        timeouts.reask = interval(timeouts.reask);
        timeouts.retransmit = interval(timeouts.retransmit);
        timeouts.request_timeout = timeouts.request_timeout.min(MAX_INTERVAL);
        timeouts.linger_floor = timeouts.linger_floor.min(MAX_INTERVAL);
        timeouts.linger_cap = timeouts.linger_cap.min(MAX_INTERVAL);
        FrontEnd {
            link,
            timeouts,
            incarnation: cfg.incarnation,
            reply_to: cfg.reply_to,
            next_number: 1,
            requests: HashMap::new(),
            unordered: BTreeSet::new(),
            collecting: 0,
            timers: BTreeSet::new(),
            latencies: SlidingMax::new(LATENCY_SAMPLES),
            submit_queue: Vec::new(),
            resubmit_queue: Vec::new(),
            primary: cfg.sequencers.first().copied().unwrap_or(1),
            sequencers: if cfg.sequencers.is_empty() {
                vec![1]
            } else {
                cfg.sequencers.clone()
            },
            reask_queue: Default::default(),
            awaiting: Default::default(),
            verdicts: Reporter::default(),
            now: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            stats: FrontEndStats::default(),
            fast: reads::FastReads::new(cfg.incarnation, cfg.only_front_end),
            fast_read_limit: cfg.fast_read_limit,
        }
    }

    /// Starts one request. `request`: `tessera_types::Request::encode()` bytes; the front end
    /// does not look inside. Its `Submit` goes out at the next [`poll_transmit`], batched with
    /// everything else submitted before it.
    ///
    /// [`poll_transmit`]: FrontEnd::poll_transmit
    pub fn submit(&mut self, now: Instant, request: Vec<u8>) -> RequestId {
        self.submit_traced(now, request, String::new())
    }

    /// [`submit`](Self::submit), naming the caller's request id (the gateway's), which the
    /// managers log next to the seq; cut to [`TRACE_MAX`] bytes.
    pub fn submit_traced(
        &mut self,
        now: Instant,
        request: Vec<u8>,
        mut trace: String,
    ) -> RequestId {
        if trace.len() > TRACE_MAX {
            let mut end = TRACE_MAX;
            while !trace.is_char_boundary(end) {
                end -= 1;
            }
            trace.truncate(end);
        }
        self.now = Some(now);
        let number = self.next_number;
        self.next_number = number.saturating_add(1);
        self.collecting += 1;
        self.stats.submitted += 1;
        self.order(now, number, now, request, trace);
        self.id(number)
    }

    /// Starts ordering request `number`, submitted at `submitted` (a fast read falling back
    /// keeps its number and its deadline).
    fn order(
        &mut self,
        now: Instant,
        number: u64,
        submitted: Instant,
        request: Vec<u8>,
        trace: String,
    ) {
        let deadline = later(submitted, self.timeouts.request_timeout);
        let rto = self.timeouts.submit_retransmit;
        let resubmit = later(now, rto);
        self.requests.insert(
            number,
            Pending {
                submitted,
                deadline,
                request,
                trace,
                seq: None,
                stage: Stage::Collecting {
                    replies: Default::default(),
                },
                wake: Some((resubmit, Timer::Resubmit)),
                rto,
            },
        );
        self.timers.insert((deadline, number, Timer::Deadline));
        self.timers.insert((resubmit, number, Timer::Resubmit));
        self.unordered.insert(number);
        self.submit_queue.push(number);
    }

    /// One datagram received on the shell's socket. `from` is not trusted: the sender is the
    /// one the MAC authenticates.
    pub fn handle_datagram(&mut self, now: Instant, _from: SocketAddr, datagram: &[u8]) {
        self.now = Some(now);
        let Some((sender, msg)) = self.link.receive(now, datagram) else {
            return;
        };
        match (sender, msg) {
            (NodeId::Sequencer(s), Message::Ordered(ordered)) => {
                // Only a primary answers, and only for what a majority of the sequencer nodes
                // hold: whoever says it is primary now, or was when that was true.
                if self.sequencers.contains(&s) {
                    self.primary = s;
                }
                for (id, seq) in ordered {
                    self.on_ordered(now, id, seq);
                }
            }
            (NodeId::ReplicaManager(r), Message::Reply(entries)) => {
                for entry in entries {
                    self.on_reply(now, r, entry);
                }
            }
            (
                NodeId::Sequencer(s),
                Message::ReadIndexIs {
                    nonce, committed, ..
                },
            ) if self.sequencers.contains(&s) => self.on_read_index(now, nonce, committed),
            (NodeId::ReplicaManager(r), Message::ReadReply(entries)) => {
                for entry in entries {
                    self.on_read_reply(now, r, entry);
                }
            }
            // Nothing else is addressed to a front end.
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        // Take what is due first: timers re-armed while handling these wait for the next call.
        let mut due = Vec::new();
        while let Some(&(at, number, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            due.push((at, number, timer));
        }
        for (at, number, timer) in due {
            match timer {
                Timer::Deadline => self.on_deadline(number, at),
                Timer::Resubmit => self.on_resubmit(now, number, at),
                Timer::Reask => self.on_reask(now, number, at),
                Timer::LingerEnd => {
                    if self.wake_matches(number, at, Timer::LingerEnd) {
                        self.finish(number);
                    }
                }
                Timer::ReadFallback => self.on_read_fallback(now, number, at),
                Timer::ReadEscalate => self.on_read_escalate(now, number, at),
                Timer::ReadIndexAgain => self.on_read_index_again(number, at),
            }
        }
        self.verdicts.handle_timeout(now);
        self.now = Some(now);
    }

    /// The next datagram to send. Submissions, re-asks and fault reports queued since the
    /// previous flush are packed into as few datagrams as fit when the queue runs empty.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.out.is_empty() {
            self.flush();
        }
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mine = [
            self.timers.first().map(|&(at, _, _)| at),
            self.verdicts.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        match (mine, self.link.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_event(&mut self) -> Option<FrontEndEvent> {
        self.events.pop_front()
    }

    /// Submitted, not yet answered or unavailable.
    pub fn in_flight(&self) -> usize {
        self.collecting
    }

    pub fn stats(&self) -> &FrontEndStats {
        &self.stats
    }

    pub fn wire_stats(&self) -> &WireStats {
        self.link.stats()
    }

    /// The current linger window: twice the slowest of the last 1,000 reply latencies (submit
    /// to that replica's reply), clamped to [`linger_floor`, `linger_cap`]; `linger_cap`
    /// before any reply has been seen.
    pub fn linger_window(&self) -> Duration {
        let t = &self.timeouts;
        match self.latencies.max() {
            Some(slowest) => slowest
                .saturating_mul(2)
                .max(t.linger_floor)
                .min(t.linger_cap),
            None => t.linger_cap,
        }
    }

    /// Lowest request number whose seq is not known; all below it are ordered (or given up).
    fn floor(&self) -> u64 {
        self.unordered.first().copied().unwrap_or(self.next_number)
    }

    fn id(&self, number: u64) -> RequestId {
        RequestId {
            front_end: self.incarnation,
            number,
        }
    }

    fn on_ordered(&mut self, now: Instant, id: RequestId, seq: u64) {
        if id.front_end != self.incarnation {
            return;
        }
        // A primary announces only committed entries.
        self.fast.own.committed(seq);
        let Some(req) = self.requests.get_mut(&id.number) else {
            return;
        };
        match req.seq {
            None => self.learn_seq(now, id.number, seq),
            Some(known) if known == seq => {}
            Some(_) => {
                // Learned from a reply that disagrees with the sequencer, which is the
                // authority on seqs: believe it, and drop the votes cast for the other seq.
                let old = req.seq.replace(seq);
                self.verdicts.open(seq);
                if let Some(old) = old {
                    self.verdicts.close(old);
                }
                if let Stage::Collecting { replies } = &mut req.stage {
                    *replies = Default::default();
                }
            }
        }
    }

    /// The seq of request `number` is now known: stop resubmitting, start the re-ask timer.
    fn learn_seq(&mut self, now: Instant, number: u64, seq: u64) {
        let Some(req) = self.requests.get_mut(&number) else {
            return;
        };
        req.seq = Some(seq);
        self.verdicts.open(seq);
        req.request = Vec::new();
        req.trace = String::new();
        self.unordered.remove(&number);
        if let Some((at, timer)) = req.wake.take() {
            self.timers.remove(&(at, number, timer));
        }
        if matches!(req.stage, Stage::Collecting { .. }) {
            req.rto = self.timeouts.reask;
            let at = later(now, req.rto);
            req.wake = Some((at, Timer::Reask));
            self.timers.insert((at, number, Timer::Reask));
        }
    }

    fn on_reply(&mut self, now: Instant, sender: ReplicaId, entry: ReplyEntry) {
        // The MAC authenticates the sender: a replica manager speaks only for its own replica.
        if entry.replica != sender || entry.id.front_end != self.incarnation {
            return;
        }
        let number = entry.id.number;
        let slot = entry.replica.index();
        self.passed(now, slot, entry.seq);
        let Some(req) = self.requests.get(&number) else {
            return;
        };
        match req.seq {
            None => self.learn_seq(now, number, entry.seq),
            Some(seq) if seq != entry.seq => return,
            Some(_) => {}
        }
        let Some(req) = self.requests.get_mut(&number) else {
            return;
        };
        let latency = now.saturating_duration_since(req.submitted);
        match &mut req.stage {
            Stage::Collecting { replies } => {
                let Some(vote) = replies.get(slot) else {
                    return;
                };
                if vote.is_some() {
                    return;
                }
                self.latencies.push(latency);
                if replies.iter().flatten().any(|r| *r == entry.reply) {
                    self.answer(now, number, slot, entry.reply);
                } else if let Some(vote) = replies.get_mut(slot) {
                    *vote = Some(entry.reply);
                }
            }
            Stage::Lingering { answer, agrees } => {
                let Some(verdict) = agrees.get_mut(slot) else {
                    return;
                };
                if verdict.is_some() {
                    return;
                }
                *verdict = Some(entry.reply == *answer);
                self.latencies.push(latency);
                if let Some(awaiting) = self.awaiting.get_mut(slot) {
                    awaiting.remove(&(entry.seq, number));
                }
                if agrees.iter().all(Option::is_some) {
                    self.finish(number);
                }
            }
        }
    }

    /// The replica at index `slot` sent `reply`, the same bytes as another replica before it.
    fn answer(&mut self, now: Instant, number: u64, slot: usize, reply: Vec<u8>) {
        let window = self.linger_window();
        let id = self.id(number);
        let Some(req) = self.requests.get_mut(&number) else {
            return;
        };
        let (Some(seq), Stage::Collecting { replies }) = (req.seq, &req.stage) else {
            return;
        };
        let mut agrees = [None; PER_REPLICA];
        for (verdict, r) in agrees.iter_mut().zip(replies) {
            *verdict = r.as_ref().map(|r| *r == reply);
        }
        // The replies held so far and the one that made the pair.
        let arrived = replies.iter().flatten().count() + 1;
        if let Some(verdict) = agrees.get_mut(slot) {
            *verdict = Some(true);
        }
        self.timers.remove(&(req.deadline, number, Timer::Deadline));
        if let Some((at, timer)) = req.wake.take() {
            self.timers.remove(&(at, number, timer));
        }
        // Two replicas executed it there, one of them correct: committed.
        self.fast.own.committed(seq);
        self.events.push_back(FrontEndEvent::Answered {
            id,
            seq,
            reply: reply.clone(),
            replies: u8::try_from(arrived).unwrap_or(u8::MAX),
        });
        self.collecting = self.collecting.saturating_sub(1);
        self.stats.answered += 1;
        let complete = agrees.iter().all(Option::is_some);
        req.stage = Stage::Lingering {
            answer: reply,
            agrees,
        };
        if complete {
            self.finish(number);
        } else {
            let until = later(now, window);
            req.wake = Some((until, Timer::LingerEnd));
            self.timers.insert((until, number, Timer::LingerEnd));
            for (awaiting, verdict) in self.awaiting.iter_mut().zip(agrees) {
                if verdict.is_none() {
                    awaiting.insert((seq, number));
                }
            }
        }
    }

    /// Replica `slot` replied at `seq`: it has executed every earlier seq, so its reply to
    /// any of them that is still awaited was lost, or never sent (it skipped them by state
    /// transfer). Waiting out the linger window for those would only hold back the verdicts
    /// behind them, which are released in seq order: a replica that lies as soon as it has
    /// caught up would be reported up to `linger_cap` late. Their lingering ends
    /// `linger_floor` from now (room for a reply that was merely overtaken), and the missing
    /// verdicts go out. Only the replica's own slot is affected, so a lying manager can only
    /// make its own replica look absent.
    fn passed(&mut self, now: Instant, slot: usize, seq: u64) {
        let Some(awaiting) = self.awaiting.get_mut(slot) else {
            return;
        };
        let until = later(now, self.timeouts.linger_floor);
        while let Some(&(s, number)) = awaiting.first() {
            if s >= seq {
                break;
            }
            awaiting.pop_first();
            let Some(req) = self.requests.get_mut(&number) else {
                continue;
            };
            if let Some((at, Timer::LingerEnd)) = req.wake {
                if at > until {
                    self.timers.remove(&(at, number, Timer::LingerEnd));
                    req.wake = Some((until, Timer::LingerEnd));
                    self.timers.insert((until, number, Timer::LingerEnd));
                }
            }
        }
    }

    /// Lingering is over: forget the request and report the replicas that differed or were
    /// silent.
    fn finish(&mut self, number: u64) {
        let Some(req) = self.requests.remove(&number) else {
            return;
        };
        if let Some((at, timer)) = req.wake {
            self.timers.remove(&(at, number, timer));
        }
        match (req.seq, req.stage) {
            (Some(seq), Stage::Lingering { agrees, .. }) => {
                for (awaiting, verdict) in self.awaiting.iter_mut().zip(agrees) {
                    if verdict.is_none() {
                        awaiting.remove(&(seq, number));
                    }
                }
                self.verdicts.finish(seq, agrees)
            }
            (Some(seq), _) => self.verdicts.close(seq),
            (None, _) => {}
        }
        self.count_verdicts();
    }

    fn count_verdicts(&mut self) {
        let c = self.verdicts.counts();
        self.stats.wrong = c.wrong;
        self.stats.missing = c.missing;
        self.stats.faults_reported = c.reported;
        self.stats.wrong_by_replica = c.wrong_by_replica;
        self.stats.missing_by_replica = c.missing_by_replica;
    }

    fn wake_matches(&self, number: u64, at: Instant, timer: Timer) -> bool {
        self.requests
            .get(&number)
            .is_some_and(|req| req.wake == Some((at, timer)))
    }

    fn on_deadline(&mut self, number: u64, at: Instant) {
        let due = self
            .requests
            .get(&number)
            .is_some_and(|req| req.deadline == at && matches!(req.stage, Stage::Collecting { .. }));
        if due {
            self.give_up(number, true);
        }
    }

    /// No answer: `Unavailable`, and forget the request. Nothing is reported: without a
    /// majority there is no one to blame.
    fn give_up(&mut self, number: u64, sent: bool) {
        let collecting = self
            .requests
            .get(&number)
            .is_some_and(|req| matches!(req.stage, Stage::Collecting { .. }));
        // An answered request is never also unavailable.
        if !collecting {
            return;
        }
        let Some(req) = self.requests.remove(&number) else {
            return;
        };
        self.timers.remove(&(req.deadline, number, Timer::Deadline));
        if let Some((at, timer)) = req.wake {
            self.timers.remove(&(at, number, timer));
        }
        self.unordered.remove(&number);
        if let Some(seq) = req.seq {
            self.verdicts.close(seq);
            self.count_verdicts();
        }
        self.collecting = self.collecting.saturating_sub(1);
        self.stats.unavailable += 1;
        self.events.push_back(FrontEndEvent::Unavailable {
            id: self.id(number),
            seq: req.seq,
            sent,
        });
    }

    fn on_resubmit(&mut self, now: Instant, number: u64, at: Instant) {
        if !self.wake_matches(number, at, Timer::Resubmit) {
            return;
        }
        let base = self.timeouts.submit_retransmit;
        let Some(req) = self.requests.get_mut(&number) else {
            return;
        };
        if req.seq.is_some() {
            req.wake = None;
            return;
        }
        req.rto = backoff(req.rto, base, SUBMIT_BACKOFF_CAP);
        let next = later(now, req.rto);
        req.wake = Some((next, Timer::Resubmit));
        self.timers.insert((next, number, Timer::Resubmit));
        self.resubmit_queue.push(number);
        self.stats.submit_retransmits += 1;
    }

    fn on_reask(&mut self, now: Instant, number: u64, at: Instant) {
        if !self.wake_matches(number, at, Timer::Reask) {
            return;
        }
        let base = self.timeouts.reask;
        let Some(req) = self.requests.get_mut(&number) else {
            return;
        };
        req.wake = None;
        let (Some(seq), Stage::Collecting { replies }) = (req.seq, &req.stage) else {
            return;
        };
        let mut asked = false;
        for (queue, reply) in self.reask_queue.iter_mut().zip(replies) {
            if reply.is_none() {
                queue.push(seq);
                asked = true;
                self.stats.reasks += 1;
            }
        }
        // With all four replies in and still no two alike, asking again changes nothing
        // (replicas answer from their reply cache): wait for the deadline.
        if asked {
            req.rto = backoff(req.rto, base, BACKOFF_CAP);
            let next = later(now, req.rto);
            req.wake = Some((next, Timer::Reask));
            self.timers.insert((next, number, Timer::Reask));
        }
    }

    /// Largest message body that still fits in one datagram.
    fn body_budget(&self, to: Destination) -> usize {
        self.link.max_payload(to)
    }

    fn flush(&mut self) {
        self.flush_reads();
        self.flush_submits();
        self.flush_reasks();
        self.flush_faults();
    }

    fn flush_submits(&mut self) {
        let first = mem::take(&mut self.submit_queue);
        self.flush_submit_queue(first, &[self.primary]);
        let again = mem::take(&mut self.resubmit_queue);
        let every = self.sequencers.clone();
        self.flush_submit_queue(again, &every);
    }

    fn flush_submit_queue(&mut self, mut numbers: Vec<u64>, to: &[u8]) {
        if numbers.is_empty() {
            return;
        }
        numbers.sort_unstable();
        numbers.dedup();
        let floor = self.floor();
        let entries: Vec<Submission> = numbers
            .iter()
            .filter_map(|n| {
                let req = self.requests.get(n)?;
                if req.seq.is_some() {
                    return None;
                }
                Some(Submission {
                    id: self.id(*n),
                    reply_to: self.reply_to,
                    request: req.request.clone(),
                    trace: req.trace.clone(),
                })
            })
            .collect();
        let empty = Message::Submit {
            floor,
            entries: Vec::new(),
        };
        // Every sequencer node's link has the same shape: one tag.
        let budget = self.body_budget(Destination::Sequencer(self.primary));
        let batches = batch::pack(entries, budget, &empty);
        for entries in batches {
            self.send_submit(floor, entries, to);
        }
    }

    fn send_submit(&mut self, floor: u64, entries: Vec<Submission>, to: &[u8]) {
        let msg = Message::Submit { floor, entries };
        let mut encoded = Ok(());
        for &node in to {
            let dest = Destination::Sequencer(node);
            match self.link.encode(&msg, dest) {
                Ok(datagrams) => self.out.extend(
                    datagrams
                        .into_iter()
                        .map(|datagram| Transmit { to: dest, datagram }),
                ),
                Err(e) => encoded = Err(e),
            }
        }
        match encoded {
            Ok(()) => {}
            Err(_) => {
                let Message::Submit { entries, .. } = msg else {
                    return;
                };
                if let [only] = &entries[..] {
                    // Larger than any message the cluster accepts: it can never be ordered.
                    self.give_up(only.id.number, false);
                } else {
                    for entry in entries {
                        self.send_submit(floor, vec![entry], to);
                    }
                }
            }
        }
    }

    fn flush_reasks(&mut self) {
        // Every manager's link has the same shape: one tag for one manager.
        let budget = self.body_budget(Destination::ReplicaManager(ReplicaId::ALL[0]));
        for (replica, queue) in ReplicaId::ALL.into_iter().zip(self.reask_queue.iter_mut()) {
            if queue.is_empty() {
                continue;
            }
            let mut seqs = mem::take(queue);
            seqs.sort_unstable();
            seqs.dedup();
            for batch in batch::pack(seqs, budget, &Message::Reask(Vec::new())) {
                if let Ok(datagrams) = self
                    .link
                    .encode(&Message::Reask(batch), Destination::ReplicaManager(replica))
                {
                    self.out
                        .extend(datagrams.into_iter().map(|datagram| Transmit {
                            to: Destination::ReplicaManager(replica),
                            datagram,
                        }));
                }
            }
        }
    }

    fn flush_faults(&mut self) {
        let Some(now) = self.now.filter(|_| self.verdicts.has_reports()) else {
            return;
        };
        let reports = self.verdicts.take(now, self.timeouts.retransmit);
        let batches = batch::pack(
            reports,
            self.body_budget(Destination::AllReplicaManagers),
            &Message::Faults(Vec::new()),
        );
        for batch in batches {
            // One datagram with a tag for each manager, sent to each.
            let Ok(datagrams) = self
                .link
                .encode(&Message::Faults(batch), Destination::AllReplicaManagers)
            else {
                continue;
            };
            for replica in ReplicaId::ALL {
                self.out.extend(datagrams.iter().map(|datagram| Transmit {
                    to: Destination::ReplicaManager(replica),
                    datagram: datagram.clone(),
                }));
            }
        }
    }
}

fn later(now: Instant, after: Duration) -> Instant {
    now.checked_add(after).unwrap_or(now)
}

fn backoff(rto: Duration, base: Duration, cap: Duration) -> Duration {
    rto.saturating_mul(2).min(cap.max(base))
}
