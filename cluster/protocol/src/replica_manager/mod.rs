//! The replica manager: turns the sequencer's `Data` into an exactly-once, in-order stream of
//! requests for one replica, and the replica's replies into `Reply` datagrams for the front
//! ends. See "Replica manager" in `docs/protocol.md`.
//!
//! IO-free, in the style of quinn-proto's `Connection`: the shell feeds datagrams
//! ([`ReplicaManager::handle_datagram`]), the replica's replies
//! ([`ReplicaManager::handle_reply`], [`ReplicaManager::handle_durable`]) and timer expiries
//! ([`ReplicaManager::handle_timeout`]), each with the current time, and drains
//! [`ReplicaManager::poll_deliver`], [`ReplicaManager::poll_transmit`] and
//! [`ReplicaManager::poll_event`] after every call, re-arming its timer from
//! [`ReplicaManager::poll_timeout`].
//!
//! Costs per message are logarithmic in the hold-back queue and reply cache sizes: the queue
//! indexes its out-of-order runs so that gaps are found without walking entries.

pub mod guard;
mod holdback;
mod nack;
#[cfg(test)]
mod tests;
pub mod transfer;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tessera_types::Digest;

use crate::wire::{
    ChaosAction, FaultReport, Incarnation, Link, Message, NodeId, ReplicaState, ReplyEntry,
    RequestId, RmStatus, Sequenced, VoteReason, WireStats, HEADER_LEN, MAC_LEN,
};
use crate::{Destination, Timeouts, Transmit, REPLICAS};

use guard::{Guard, GuardConfig, GuardEvent, WRONG_LIMIT};
use holdback::{HoldBack, Offer, MAX_SEQ};
use nack::RecentNacks;
use transfer::{Install, StateTransfer};

/// Default bound of the hold-back queue, in entries.
pub const DEFAULT_HOLDBACK_MAX: usize = 200_000;
/// Default number of replies kept for `Reask`.
pub const DEFAULT_REPLY_CACHE: usize = 100_000;
/// Most ranges in one `Nack` (a few hundred bytes at most).
pub const MAX_NACK_RANGES: usize = 32;
/// Most seqs of one `Reask` that are served.
pub const MAX_REASK: usize = 4096;
/// How many distinct fault reports are remembered for deduplication.
pub const FAULT_DEDUP_WINDOW: usize = 65_536;

/// How many missing ranges are looked at per NACK decision (some may have been NACKed
/// recently and be skipped).
const NACK_SCAN: usize = 4 * MAX_NACK_RANGES;

#[derive(Debug, Clone)]
pub struct RmConfig {
    /// This replica manager's (and its replica's) number, 1..=4.
    pub id: u8,
    pub timeouts: Timeouts,
    /// Most entries held back waiting for a lower seq; entries further ahead than this beyond
    /// the last delivered seq are dropped and fetched again by NACK later.
    pub holdback_max: usize,
    /// Replies kept (by seq) to answer `Reask` without re-executing.
    pub reply_cache: usize,
    /// Every this many seqs the replica's state is exported, digested and compared; 0: never.
    pub checkpoint_interval: u64,
    /// A replica with work outstanding this long without answering is hung.
    pub hang_threshold: Duration,
    /// Resend interval of votes, probes and snapshot queries.
    pub retry: Duration,
    /// Honour authenticated `Chaos` messages (fault injection for tests and demos).
    pub chaos: bool,
}

impl RmConfig {
    pub fn new(id: u8) -> Self {
        RmConfig {
            id,
            ..RmConfig::default()
        }
    }
}

impl Default for RmConfig {
    /// Replica manager 1 with the default timeouts and bounds; set `id`.
    fn default() -> Self {
        RmConfig {
            id: 1,
            timeouts: Timeouts::default(),
            holdback_max: DEFAULT_HOLDBACK_MAX,
            reply_cache: DEFAULT_REPLY_CACHE,
            checkpoint_interval: 1000,
            hang_threshold: Duration::from_millis(1500),
            retry: Duration::from_millis(200),
            chaos: false,
        }
    }
}

/// What the shell knows about the replica process, for status answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaInfo {
    pub implementation: String,
    pub pid: u32,
    pub state: ReplicaState,
    pub digest: Option<[u8; 32]>,
    pub executed: u64,
}

impl Default for ReplicaInfo {
    /// Nothing known yet: no process, state `Down`.
    fn default() -> Self {
        ReplicaInfo {
            implementation: String::new(),
            pid: 0,
            state: ReplicaState::Down,
            digest: None,
            executed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RmEvent {
    /// A front end reports that a replica (any replica, not only ours) answered `seq` wrongly
    /// or not at all. Each distinct (seq, replica, kind) is reported once (within a window of
    /// [`FAULT_DEDUP_WINDOW`] reports).
    Fault(FaultReport),
    /// The sequencer no longer retains seqs we are missing (its lowest retained is `low`, we
    /// hold everything up to [`ReplicaManager::received`] only): state transfer is needed.
    /// Reported once per distinct `low`.
    BehindRetention { low: u64 },
    /// A majority of managers decided our replica must be replaced (kill it, start a fresh
    /// one, then [`ReplicaManager::begin_recovery`]).
    Replace(VoteReason),
    /// State transfer found a vouched-for snapshot: import it into the replica, then call
    /// [`ReplicaManager::finish_recovery`] with its seq.
    Install(Install),
    /// An authenticated operator asked for fault injection (only with `chaos` enabled).
    Chaos(ChaosAction),
    /// This manager voted, or learnt of a replica's newer incarnation (for the log).
    Guard(GuardEvent),
}

/// Snapshots kept to serve state transfers.
const SNAPSHOTS_KEPT: usize = 2;

/// Counters beyond the link's [`WireStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RmCounters {
    /// Data entries already delivered or already held.
    pub duplicates: u64,
    /// Data entries beyond the hold-back window, dropped (they are NACKed again later).
    pub beyond_holdback: u64,
    /// Data entries with an impossible seq (0 or `u64::MAX`).
    pub invalid_entries: u64,
    /// Authenticated messages that make no sense for a replica manager (wrong kind or sender).
    pub ignored: u64,
    /// `handle_reply` calls for a seq not awaiting a reply.
    pub unmatched_replies: u64,
    /// Fault reports dropped as repeats, or for seq 0 or an impossible replica number.
    pub dropped_faults: u64,
    /// Messages that could not be encoded (a reply larger than the link's maximum).
    pub encode_errors: u64,
    pub acks_sent: u64,
    pub nacks_sent: u64,
    /// `Reply` messages sent (each may carry several entries).
    pub reply_messages: u64,
    /// Replies resent from the cache for `Reask`.
    pub reasked: u64,
}

/// A delivered request whose reply has not come back yet.
struct Awaiting {
    seq: u64,
    id: RequestId,
    reply_to: SocketAddr,
}

/// Replies for one front end address, being batched into one datagram.
struct Batch {
    to: SocketAddr,
    entries: Vec<ReplyEntry>,
    /// Encoded body size of `Message::Reply(entries)` (a slight overestimate).
    size: usize,
}

/// Body bytes of `Message::Reply` beyond its entries: variant index (1) and entry count
/// (at most 3 bytes for any count that fits in one datagram).
const REPLY_OVERHEAD: usize = 4;

fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Postcard-encoded size of one `ReplyEntry`.
fn entry_size(e: &ReplyEntry) -> usize {
    varint_len(e.seq)
        + varint_len(e.id.front_end)
        + varint_len(e.id.number)
        + 1
        + varint_len(e.reply.len() as u64)
        + e.reply.len()
}

/// Bounded memory of fault reports already passed on.
struct FaultDedup {
    seen: HashSet<FaultReport>,
    order: VecDeque<FaultReport>,
}

impl FaultDedup {
    /// True when `r` is new.
    fn insert(&mut self, r: FaultReport) -> bool {
        if !self.seen.insert(r) {
            return false;
        }
        self.order.push_back(r);
        if self.order.len() > FAULT_DEDUP_WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

pub struct ReplicaManager {
    link: Link,
    cfg: RmConfig,
    queue: HoldBack,
    /// Everything up to here is applied durably by the replica.
    applied: u64,
    /// The last seq whose reply came back (or the snapshot seq after `reset_to`).
    last_replied: u64,
    awaiting: VecDeque<Awaiting>,
    /// The last `reply_cache` replies, by seq.
    cache: BTreeMap<u64, ReplyEntry>,
    batches: Vec<Batch>,
    batch_index: HashMap<SocketAddr, usize>,
    /// Largest postcard body that still goes out as one datagram.
    body_capacity: usize,
    transmits: VecDeque<Transmit>,
    events: VecDeque<RmEvent>,

    /// From the sequencer's heartbeats: highest assigned, lowest retained.
    seq_high: u64,
    seq_low: u64,
    behind_reported: Option<u64>,

    nacks: RecentNacks,
    /// The NACK horizon at the last decision; new gaps can only appear when it grows.
    nack_horizon: u64,

    ack_sent_at: Instant,
    ack_sent: (u64, u64),

    faults: FaultDedup,
    info: ReplicaInfo,
    counters: RmCounters,

    guard: Guard,
    /// `Some` while a state transfer is running; delivery is paused meanwhile.
    transfer: Option<StateTransfer>,
    recovering: bool,
    /// Our latest checkpoint snapshots: (seq, digest, canonical bytes).
    snapshots: VecDeque<(u64, [u8; 32], Vec<u8>)>,
    /// When the replica last made progress (answered, or was handed work while idle).
    last_progress: Instant,
    /// The latest `now` seen, for calls that are not given one.
    now: Instant,
    next_nonce: u64,
    chaos_seen: VecDeque<u64>,
}

impl ReplicaManager {
    /// `applied`: the replica's last applied seq at start (0 for a fresh cluster); delivery
    /// resumes at `applied + 1`. `mine`: the replica's incarnation as persisted by the shell
    /// (the default for a fresh cluster). The first `Ack` is queued at once, so the sequencer
    /// learns where this replica stands, and a `Hello` to every peer.
    pub fn new(link: Link, cfg: RmConfig, applied: u64, mine: Incarnation, now: Instant) -> Self {
        let body_capacity = link.max_datagram().saturating_sub(HEADER_LEN + MAC_LEN);
        let applied = applied.min(MAX_SEQ);
        let mut rm = ReplicaManager {
            queue: HoldBack::new(applied, cfg.holdback_max),
            nacks: RecentNacks::new(cfg.timeouts.nack),
            link,
            applied,
            last_replied: applied,
            awaiting: VecDeque::new(),
            cache: BTreeMap::new(),
            batches: Vec::new(),
            batch_index: HashMap::new(),
            body_capacity,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            seq_high: 0,
            seq_low: 0,
            behind_reported: None,
            nack_horizon: applied,
            ack_sent_at: now,
            ack_sent: (applied, applied),
            faults: FaultDedup {
                seen: HashSet::new(),
                order: VecDeque::new(),
            },
            info: ReplicaInfo::default(),
            counters: RmCounters::default(),
            guard: Guard::new(
                GuardConfig {
                    me: cfg.id,
                    hang_threshold: cfg.hang_threshold,
                    retry: cfg.retry,
                },
                mine,
                now,
            ),
            transfer: None,
            recovering: false,
            snapshots: VecDeque::new(),
            last_progress: now,
            now,
            next_nonce: 1,
            chaos_seen: VecDeque::new(),
            cfg,
        };
        rm.send_ack(now);
        rm.drive(now);
        rm
    }

    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = now;
        let Some((sender, msg)) = self.link.receive(now, datagram) else {
            return;
        };
        match (sender, msg) {
            (NodeId::ReplicaManager(peer), msg) if peer != self.cfg.id => {
                self.on_peer(now, from, peer, msg)
            }
            (NodeId::Tool(_), Message::Chaos { nonce, action }) => {
                self.on_chaos(from, nonce, action)
            }
            (NodeId::Sequencer, Message::Data(entries)) => self.on_data(entries),
            (NodeId::Sequencer, Message::Heartbeat { high, low }) => self.on_heartbeat(high, low),
            (NodeId::FrontEnd(_) | NodeId::Tool(_), Message::Reask(seqs)) => {
                self.on_reask(from, &seqs)
            }
            (NodeId::FrontEnd(_), Message::Faults(reports)) => self.on_faults(now, &reports),
            (_, Message::StatusQuery { nonce }) => {
                let status = self.status();
                self.send(
                    Destination::Addr(from),
                    &Message::RmStatus { nonce, status },
                );
            }
            _ => self.counters.ignored += 1,
        }
        self.drive(now);
    }

    /// Next request to hand to the replica, strictly in order, each seq exactly once.
    pub fn poll_deliver(&mut self) -> Option<Sequenced> {
        if self.recovering {
            return None;
        }
        let entry = self.queue.pop_next()?;
        if self.awaiting.is_empty() {
            self.last_progress = self.now;
        }
        self.awaiting.push_back(Awaiting {
            seq: entry.seq,
            id: entry.id,
            reply_to: entry.reply_to,
        });
        Some(entry)
    }

    /// The replica's canonical reply bytes for a delivered seq (replies come back in delivery
    /// order). Queues a `Reply` to the entry's `reply_to` (batched with other replies to the
    /// same address until the next `poll_transmit`) and caches it. A seq that is not awaiting
    /// a reply is ignored (counted); earlier seqs still awaiting are given up on.
    pub fn handle_reply(&mut self, now: Instant, seq: u64, reply: Vec<u8>) {
        self.now = now;
        self.last_progress = now;
        // Sorted by seq: delivery order, also across `reset_to`.
        let Ok(i) = self.awaiting.binary_search_by_key(&seq, |a| a.seq) else {
            self.counters.unmatched_replies += 1;
            return;
        };
        self.awaiting.drain(..i);
        let Some(a) = self.awaiting.pop_front() else {
            return;
        };
        let to = a.reply_to;
        let entry = ReplyEntry {
            seq,
            id: a.id,
            replica: self.cfg.id,
            reply,
        };
        self.last_replied = seq;
        if self.cfg.reply_cache > 0 {
            self.cache.insert(seq, entry.clone());
            while self.cache.len() > self.cfg.reply_cache {
                self.cache.pop_first();
            }
        }
        self.queue_reply(to, entry);
        self.drive(now);
    }

    /// Everything up to `upto` is applied durably by the replica (reported in `Ack.applied`).
    /// Never moves backwards, and never beyond what was delivered.
    pub fn handle_durable(&mut self, upto: u64) {
        let upto = upto.min(self.queue.delivered());
        self.applied = self.applied.max(upto);
    }

    /// Skips (or rewinds) to a snapshot installed at `seq` by state transfer: drops held
    /// entries ≤ `seq`, delivers from `seq + 1` on, forgets cached replies and awaited replies
    /// above `seq`, and takes `seq` as the last replied seq.
    pub fn reset_to(&mut self, now: Instant, seq: u64) {
        let seq = seq.min(MAX_SEQ);
        self.queue.reset_to(seq);
        while self.awaiting.back().is_some_and(|a| a.seq > seq) {
            self.awaiting.pop_back();
        }
        self.cache.split_off(&(seq + 1));
        self.last_replied = seq;
        self.applied = self.applied.min(seq);
        self.nacks.clear();
        self.nack_horizon = seq;
        self.behind_reported = None;
        self.drive(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.link.handle_timeout(now);
        let stall = self.stalled(now);
        self.guard.handle_timeout(now, stall);
        let floor = self.seq_low;
        if let Some(t) = &mut self.transfer {
            t.handle_timeout(now, floor);
        }
        self.drive(now);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.batches.is_empty() {
            self.flush_replies();
        }
        self.transmits.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.ack_due();
        if self.has_gap() {
            if let Some(t) = self.nacks.next_expiry() {
                next = next.min(t);
            }
        }
        if let Some(t) = self.link.poll_timeout() {
            next = next.min(t);
        }
        let recovery = self.transfer.as_ref().and_then(StateTransfer::poll_timeout);
        for t in [self.guard.poll_timeout(), recovery].into_iter().flatten() {
            next = next.min(t);
        }
        Some(next)
    }

    pub fn poll_event(&mut self) -> Option<RmEvent> {
        self.events.pop_front()
    }

    pub fn set_replica_info(&mut self, info: ReplicaInfo) {
        self.info = info;
    }

    /// `last_seq` is the last seq whose reply came back.
    pub fn status(&self) -> RmStatus {
        let i = &self.info;
        let me = self.cfg.id;
        let faults = self.guard.consecutive_faults(me);
        let state = if self.recovering {
            ReplicaState::Recovering
        } else if i.state != ReplicaState::Up {
            i.state
        } else if self.guard.votes_against(me) > 0 {
            ReplicaState::VotedOut
        } else if faults >= WRONG_LIMIT {
            ReplicaState::Lying
        } else {
            ReplicaState::Up
        };
        RmStatus {
            id: me,
            implementation: i.implementation.clone(),
            pid: i.pid,
            state,
            last_seq: self.last_replied,
            consecutive_faults: faults,
            generation: self.guard.generation(me),
            last_wrong_ms_ago: self.guard.last_wrong(me).map(|at| {
                u64::try_from(self.now.saturating_duration_since(at).as_millis())
                    .unwrap_or(u64::MAX)
            }),
            digest: i.digest,
            executed: i.executed,
            dropped_datagrams: self.link.stats().dropped(),
        }
    }

    pub fn stats(&self) -> &WireStats {
        self.link.stats()
    }

    pub fn counters(&self) -> &RmCounters {
        &self.counters
    }

    /// The last seq handed out by `poll_deliver`.
    pub fn delivered(&self) -> u64 {
        self.queue.delivered()
    }

    /// Highest seq such that it and every lower one is delivered or held.
    pub fn received(&self) -> u64 {
        self.queue.received()
    }

    /// Everything up to here is applied durably (as last reported by `handle_durable`).
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Entries in the hold-back queue (received but not delivered, or waiting for a gap).
    pub fn held(&self) -> usize {
        self.queue.len()
    }

    // ---- incoming ----

    fn on_data(&mut self, entries: Vec<Sequenced>) {
        for e in entries {
            match self.queue.offer(e) {
                Offer::Held => {}
                Offer::Duplicate => self.counters.duplicates += 1,
                Offer::TooFar => self.counters.beyond_holdback += 1,
                Offer::Invalid => self.counters.invalid_entries += 1,
            }
        }
    }

    fn on_heartbeat(&mut self, high: u64, low: u64) {
        self.seq_high = self.seq_high.max(high.min(MAX_SEQ));
        self.seq_low = low;
        let next = self.queue.received() + 1;
        if low > next && self.behind_reported != Some(low) {
            self.behind_reported = Some(low);
            self.events.push_back(RmEvent::BehindRetention { low });
        }
    }

    fn on_reask(&mut self, from: SocketAddr, seqs: &[u64]) {
        for seq in seqs.iter().take(MAX_REASK) {
            if let Some(entry) = self.cache.get(seq) {
                let entry = entry.clone();
                self.counters.reasked += 1;
                self.queue_reply(from, entry);
            }
        }
    }

    fn on_faults(&mut self, now: Instant, reports: &[FaultReport]) {
        for &r in reports {
            if r.seq == 0 || r.replica == 0 || r.replica > REPLICAS || !self.faults.insert(r) {
                self.counters.dropped_faults += 1;
                continue;
            }
            let stall = self.stalled(now);
            self.guard.on_report(now, r, stall);
            self.events.push_back(RmEvent::Fault(r));
        }
    }

    /// Messages between replica managers: detection, agreement and state transfer.
    fn on_peer(&mut self, now: Instant, from: SocketAddr, peer: u8, msg: Message) {
        match msg {
            Message::Checkpoint {
                seq,
                incarnation,
                digest,
            } => self
                .guard
                .on_checkpoint(now, peer, seq, incarnation, digest),
            Message::Vote {
                replica,
                generation,
                reason,
            } => self.guard.on_vote(peer, replica, generation, reason),
            Message::Probe { nonce } => {
                let reply = Message::ProbeReply {
                    nonce,
                    incarnation: self.guard.incarnation(self.cfg.id),
                    stalled_ms: self.stalled(now).as_millis() as u64,
                };
                self.send(Destination::ReplicaManager(peer), &reply);
            }
            Message::ProbeReply {
                nonce,
                incarnation,
                stalled_ms,
            } => self
                .guard
                .on_probe_reply(now, peer, nonce, incarnation, stalled_ms),
            Message::Replaced { incarnation } => {
                self.guard.learn(peer, incarnation);
            }
            Message::Hello { incarnation } => self.guard.on_hello(now, peer, incarnation),
            Message::Welcome { mine, yours } => self.guard.on_welcome(peer, mine, yours),
            // A recovering replica has nothing trustworthy to offer.
            Message::SnapshotQuery { nonce, fetch } if !self.recovering => {
                let checkpoints = self.snapshots.iter().map(|(s, d, _)| (*s, *d)).collect();
                let snapshot = fetch.and_then(|want| {
                    self.snapshots
                        .iter()
                        .find(|(s, _, _)| *s == want)
                        .map(|(s, _, b)| (*s, b.clone()))
                });
                self.send(
                    Destination::Addr(from),
                    &Message::SnapshotOffer {
                        nonce,
                        checkpoints,
                        snapshot,
                    },
                );
            }
            Message::SnapshotOffer {
                nonce,
                checkpoints,
                snapshot,
            } => {
                let floor = self.seq_low;
                if let Some(t) = &mut self.transfer {
                    t.on_offer(now, peer, nonce, checkpoints, snapshot, floor);
                }
            }
            _ => self.counters.ignored += 1,
        }
    }

    fn on_chaos(&mut self, from: SocketAddr, nonce: u64, action: ChaosAction) {
        let (accepted, detail) = if !self.cfg.chaos {
            (
                false,
                "fault injection is disabled: start the cluster with --chaos".to_owned(),
            )
        } else if self.chaos_seen.contains(&nonce) {
            (true, "already applied".to_owned())
        } else {
            self.chaos_seen.push_back(nonce);
            if self.chaos_seen.len() > 64 {
                self.chaos_seen.pop_front();
            }
            self.events.push_back(RmEvent::Chaos(action));
            (
                true,
                format!("replica {}: {}", self.cfg.id, action.as_str()),
            )
        };
        self.send(
            Destination::Addr(from),
            &Message::ChaosReply {
                nonce,
                accepted,
                detail,
            },
        );
    }

    /// How long our replica has had work outstanding without answering.
    fn stalled(&self, now: Instant) -> Duration {
        if self.awaiting.is_empty() || self.recovering {
            Duration::ZERO
        } else {
            now.saturating_duration_since(self.last_progress)
        }
    }

    // ---- timers ----

    fn ack_due(&self) -> Instant {
        let changed = (self.queue.received(), self.applied) != self.ack_sent;
        let t = &self.cfg.timeouts;
        self.ack_sent_at + if changed { t.ack } else { t.heartbeat }
    }

    /// The highest seq worth NACKing: the end of what we know exists (held, or announced by
    /// heartbeat), within the hold-back window.
    fn nack_horizon(&self) -> u64 {
        let known = self.queue.highest_held().unwrap_or(0).max(self.seq_high);
        known.min(self.queue.window_end())
    }

    fn has_gap(&self) -> bool {
        self.nack_horizon() > self.queue.received()
    }

    /// Sends whatever the timers and the current state call for.
    fn drive(&mut self, now: Instant) {
        self.maybe_nack(now);
        if now >= self.ack_due() {
            self.send_ack(now);
        }
        while let Some(reason) = self.guard.poll_decision() {
            self.events.push_back(RmEvent::Replace(reason));
        }
        while let Some((to, msg)) = self.guard.poll_out() {
            self.send(to, &msg);
        }
        while let Some(ev) = self.guard.poll_event() {
            self.events.push_back(RmEvent::Guard(ev));
        }
        if let Some(t) = &mut self.transfer {
            let mut out = Vec::new();
            while let Some(o) = t.poll_out() {
                out.push(o);
            }
            let done = t.take_done();
            for (to, msg) in out {
                self.send(to, &msg);
            }
            if let Some(install) = done {
                self.events.push_back(RmEvent::Install(install));
            }
        }
    }

    // ---- checkpoints and recovery ----

    /// Whether the replica's state after `seq` should be exported as a checkpoint.
    pub fn checkpoint_due(&self, seq: u64) -> bool {
        self.cfg.checkpoint_interval > 0
            && seq > 0
            && seq.is_multiple_of(self.cfg.checkpoint_interval)
    }

    /// The replica's canonical snapshot after `seq` (a checkpoint): kept to serve state
    /// transfers, and its digest compared with every other replica's.
    pub fn handle_checkpoint(&mut self, now: Instant, seq: u64, snapshot: Vec<u8>) -> [u8; 32] {
        self.now = now;
        let digest = Digest::of_state(&snapshot).0;
        self.snapshots.push_back((seq, digest, snapshot));
        while self.snapshots.len() > SNAPSHOTS_KEPT {
            self.snapshots.pop_front();
        }
        self.guard.my_checkpoint(now, seq, digest);
        self.drive(now);
        digest
    }

    /// Stops delivery and starts a state transfer. `replaced`: the replica process was just
    /// replaced by a fresh one (a new generation; every manager is told). Replies the old
    /// process still owed will never come.
    pub fn begin_recovery(&mut self, now: Instant, replaced: bool) {
        self.now = now;
        self.recovering = true;
        self.awaiting.clear();
        if replaced {
            self.guard.replaced_mine(self.queue.delivered());
            // A fresh replica's snapshots come from its new state only.
            self.snapshots.clear();
        }
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        self.transfer = Some(StateTransfer::start(
            self.cfg.id,
            nonce,
            self.cfg.retry,
            now,
        ));
        self.drive(now);
    }

    /// The replica installed the state after `seq`: deliver from `seq + 1` on.
    pub fn finish_recovery(&mut self, now: Instant, seq: u64) {
        self.recovering = false;
        self.transfer = None;
        self.last_progress = now;
        self.reset_to(now, seq);
    }

    pub fn is_recovering(&self) -> bool {
        self.recovering
    }

    /// This manager's (and its replica's) number.
    pub fn id(&self) -> u8 {
        self.cfg.id
    }

    pub fn generation(&self) -> u32 {
        self.guard.generation(self.cfg.id)
    }

    /// Our replica's incarnation: what the shell persists (with [`Self::is_recovering`]) so
    /// that a restarted manager agrees with its peers.
    pub fn incarnation(&self) -> Incarnation {
        self.guard.incarnation(self.cfg.id)
    }

    fn maybe_nack(&mut self, now: Instant) {
        let expired = self.nacks.expire(now);
        let horizon = self.nack_horizon();
        if horizon <= self.queue.received() {
            self.nacks.clear();
            self.nack_horizon = horizon;
            return;
        }
        if !expired && horizon <= self.nack_horizon {
            // No new gap and nothing NACKed long enough ago: every gap was asked for recently.
            return;
        }
        self.nack_horizon = horizon;
        // What the sequencer no longer retains cannot be fetched; state transfer covers it.
        let floor = self.seq_low;
        let mut ranges = Vec::new();
        for (a, b) in self.queue.missing(floor, horizon).take(NACK_SCAN) {
            self.nacks.eligible(a, b, &mut ranges, MAX_NACK_RANGES);
            if ranges.len() >= MAX_NACK_RANGES {
                break;
            }
        }
        if ranges.is_empty() {
            return;
        }
        self.nacks.record(&ranges, now);
        self.counters.nacks_sent += 1;
        self.send(Destination::Sequencer, &Message::Nack(ranges));
    }

    fn send_ack(&mut self, now: Instant) {
        let received = self.queue.received();
        let applied = self.applied;
        self.ack_sent = (received, applied);
        self.ack_sent_at = now;
        self.counters.acks_sent += 1;
        self.send(Destination::Sequencer, &Message::Ack { received, applied });
    }

    // ---- outgoing ----

    fn send(&mut self, to: Destination, msg: &Message) {
        match self.link.encode(msg) {
            Ok(grams) => self
                .transmits
                .extend(grams.into_iter().map(|datagram| Transmit { to, datagram })),
            Err(_) => self.counters.encode_errors += 1,
        }
    }

    fn queue_reply(&mut self, to: SocketAddr, entry: ReplyEntry) {
        let size = entry_size(&entry);
        let i = match self.batch_index.get(&to) {
            Some(&i) => i,
            None => {
                self.batches.push(Batch {
                    to,
                    entries: Vec::new(),
                    size: REPLY_OVERHEAD,
                });
                self.batch_index.insert(to, self.batches.len() - 1);
                self.batches.len() - 1
            }
        };
        let Some(batch) = self.batches.get_mut(i) else {
            return;
        };
        if !batch.entries.is_empty() && batch.size + size > self.body_capacity {
            // Full: this one goes out now, the new entry starts the next datagram.
            let entries = std::mem::take(&mut batch.entries);
            batch.size = REPLY_OVERHEAD;
            self.send_replies(to, entries);
        }
        if let Some(batch) = self.batches.get_mut(i) {
            batch.size += size;
            batch.entries.push(entry);
        }
    }

    fn flush_replies(&mut self) {
        self.batch_index.clear();
        let mut batches = std::mem::take(&mut self.batches);
        for batch in batches.drain(..) {
            if !batch.entries.is_empty() {
                self.send_replies(batch.to, batch.entries);
            }
        }
        // Keep the allocation for the next cycle.
        self.batches = batches;
    }

    fn send_replies(&mut self, to: SocketAddr, entries: Vec<ReplyEntry>) {
        self.counters.reply_messages += 1;
        self.send(Destination::Addr(to), &Message::Reply(entries));
    }
}
