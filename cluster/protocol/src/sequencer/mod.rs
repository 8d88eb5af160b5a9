//! The sequencer: gives every submitted request the next number of the total order, makes the
//! assignment durable (through the shell) before telling anyone, then tells the submitting
//! front end (`Ordered`) and the replica managers (`Data`), and keeps what the replica
//! managers may still need for retransmission. See `docs/protocol.md`.
//!
//! With several sequencer nodes configured, one is the primary of a view and the others are
//! standbys that keep a copy of its log; an entry is announced only once a majority of the
//! nodes hold it durably, and a standby that stops hearing the primary stands for the next
//! view (`failover`, and `docs/protocol.md`, "Sequencer failover"). With one node it is the
//! primary of view 0 for good, and nothing of this happens.
//!
//! IO-free, in the style of quinn-proto's `Connection`: the shell feeds datagrams
//! ([`Sequencer::handle_datagram`]), timer expiries ([`Sequencer::handle_timeout`]) and log
//! write completions ([`Sequencer::handle_persisted`]) in, and drains log writes
//! ([`Sequencer::poll_persist`]), datagrams ([`Sequencer::poll_transmit`]) and log truncation
//! points ([`Sequencer::poll_truncate`]). No sockets, clocks, threads or randomness: the wall
//! clock used for request timestamps is handed in by [`Sequencer::set_wall_clock_ms`].
//!
//! The shell loop, roughly:
//!
//! ```text
//! on datagram:  seq.set_wall_clock_ms(unix_ms()); seq.handle_datagram(now, from, &buf)
//! on timer:     seq.handle_timeout(now)
//! always after: if no log write running { if let Some(op) = seq.poll_persist() { carry it out, fsync } }
//!               on write done: seq.handle_persisted(now)
//!               while let Some(t) = seq.poll_transmit() { send t }
//!               if let Some(upto) = seq.poll_truncate() { delete log entries <= upto }
//!               arm the timer at seq.poll_timeout()
//! ```

mod dedup;
mod failover;
mod reads;
#[cfg(test)]
mod tests;
pub mod views;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::batch::{self, Batch};
use crate::wire::{
    DiskSpace, Link, Message, NodeId, RequestId, Sequenced, SequencerStatus, Submission, WireStats,
};
use crate::{Destination, ReplicaId, Timeouts, Transmit, REPLICAS};

use dedup::{Dedup, Lookup};
pub use views::Meta;
use views::Views;

/// At most this many assigned entries may wait for their fsync; further submissions are
/// dropped (the front ends retransmit them) until the log catches up.
pub const PENDING_MAX: usize = 1 << 16;

/// Bytes of entries resent for one `Nack`, or in one proactive retransmission, so that a
/// small datagram cannot trigger an unbounded burst.
pub const RESEND_BUDGET: usize = 256 * 1024;

/// When idle and everyone is caught up, a heartbeat still goes out every this many heartbeat
/// intervals, so that a restarted replica manager learns `high`.
const IDLE_HEARTBEATS: u32 = 10;

#[derive(Debug, Clone)]
pub struct SequencerConfig {
    pub timeouts: Timeouts,
    /// Most durable entries kept in memory for retransmission; also the number of most recent
    /// assignments whose ids are remembered for de-duplication (and kept in the log, see
    /// [`Sequencer::poll_truncate`]).
    pub retain_max: usize,
    /// Most recent durable entries kept even when every live RM has them: a replaced replica
    /// installs a checkpoint snapshot and replays what follows it from here, so this must
    /// exceed the checkpoint interval with room to spare.
    pub retain_min: usize,
    /// Tells this start of the sequencer from any other (the shell uses its start time in Unix
    /// ms), reported in status so that watchers can tell a restart.
    pub instance: u64,
    /// Whether a submitted request may be ordered at all. The protocol carries requests as
    /// opaque bytes; `tesserad` passes a check that they decode as a `tessera_types::Request`,
    /// so that nothing every replica would fail on (and be replaced for, forever) is ever
    /// ordered.
    pub accepts: fn(&[u8]) -> bool,
    /// This node's id, and every sequencer node's, itself included, highest priority first.
    /// One node: it is the primary, always.
    pub me: u8,
    pub nodes: Vec<u8>,
    /// The request a new primary orders first (Raft's no-op: entries of earlier views count
    /// as committed only below one of the current view). Every replica executes every seq, so
    /// it is a request that changes nothing (`tesserad` uses a read); its reply goes to
    /// `noop_reply_to`, this node's own address, which ignores it.
    pub noop: Vec<u8>,
    pub noop_reply_to: SocketAddr,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            timeouts: Timeouts::default(),
            retain_max: 100_000,
            retain_min: 30_000,
            instance: 0,
            accepts: |_| true,
            me: 1,
            nodes: vec![1],
            noop: Vec::new(),
            noop_reply_to: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A write to the log for the shell, which carries them out one at a time, in order, each
/// durable before it reports [`Sequencer::handle_persisted`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogOp {
    /// Append these consecutive entries.
    Append(Vec<Sequenced>),
    /// Delete every entry above this seq (a standby's entries the primary's log replaces).
    TruncateAfter(u64),
    /// Replace the node's [`Meta`] (atomically).
    Meta(Meta),
}

/// The log write handed out and not yet reported done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlight {
    /// Entries up to `end`; none above `valid` may count once done (they were replaced
    /// while being written).
    Append {
        end: u64,
        valid: u64,
    },
    Truncate,
    Meta,
}

/// One assigned entry and the size of its postcard encoding (cached for packing).
struct Retained {
    entry: Sequenced,
    size: usize,
}

/// What the sequencer knows about one replica manager.
struct Rm {
    /// Heard from since the sequencer started. Before that its `received` is unknown and it
    /// holds back retention and truncation for one `liveness` period.
    heard: bool,
    last_heard: Instant,
    received: u64,
    applied: u64,
    /// Last time `received` advanced, the RM fell behind from being caught up, or it was
    /// sent a proactive retransmission.
    progress_at: Instant,
}

impl Rm {
    fn new(now: Instant) -> Self {
        Rm {
            heard: false,
            last_heard: now,
            received: 0,
            applied: 0,
            progress_at: now,
        }
    }
}

pub struct Sequencer {
    link: Link,
    cfg: SequencerConfig,
    /// Body bytes that fit in one unfragmented datagram.
    /// Largest `Data` body to all managers, and `Ordered` body to a front end.
    payload: usize,
    ordered_payload: usize,
    /// Latest `now` seen; `poll_truncate` has no `now` of its own.
    now: Instant,
    wall_ms: u64,
    /// Free space of the log's directory, as the shell last read it (for status).
    disk: Option<DiskSpace>,

    next_seq: u64,
    /// Seq of `retained[0]`; `retained` holds exactly `base..next_seq`.
    base: u64,
    retained: VecDeque<Retained>,
    /// Highest seq in this node's log durably.
    durable: u64,
    /// Highest seq a majority of the sequencer nodes hold durably (with one node: `durable`).
    /// Everything above it is pending: assigned, not yet announced.
    committed: u64,
    /// First seq not yet handed out by `poll_persist`.
    persist_next: u64,
    /// The log write handed out by `poll_persist` and not yet done.
    inflight: Option<InFlight>,
    /// (submit source, id, seq) of pending entries that were submitted (not recovered), in
    /// seq order: who gets `Ordered` once they are committed.
    awaiting: VecDeque<(SocketAddr, RequestId, u64)>,
    /// Failover state: role, view, vote, the other sequencer nodes (`failover`).
    fo: failover::State,
    /// The views of the log's entries.
    views: Views,
    dedup: Dedup,

    rms: [Rm; REPLICAS as usize],
    transmits: VecDeque<Transmit>,
    next_heartbeat: Instant,
    last_heartbeat: Option<Instant>,
    /// Entries became durable since the last multicast heartbeat.
    fresh: bool,
    /// Highest truncation point reported (or the log's start - 1).
    truncated: u64,
    /// Submissions refused (not accepted, too large for one message, or too many pending).
    refused: u64,
    /// `next_seq` when this instance started (after reading the log).
    started_at: u64,
    counters: SequencerCounters,
    /// Fast reads (`reads`): the last read round asked of the standbys, the questions
    /// waiting for theirs, and this view's first seq (no read index before it is committed).
    read_round: u64,
    read_waiting: VecDeque<reads::Waiting>,
    view_first: u64,
}

/// What the sequencer did since it started, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SequencerCounters {
    /// `Nack` messages answered.
    pub nacks_served: u64,
    /// Entries resent in answer to NACKs.
    pub nacked_entries: u64,
    /// Entries resent to a replica manager whose acks stalled (proactive retransmission).
    pub retransmitted_entries: u64,
    /// `Data` entries sent to the group, first transmissions.
    pub multicast_entries: u64,
}

/// What the sequencer's durable log holds at start-up.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// The entries read back, consecutive and ascending (may be empty).
    pub entries: Vec<Sequenced>,
    /// The node's persisted view, vote and entry views (default for a new node, or a log
    /// from before failover).
    pub meta: Meta,
    /// Per front end, the highest request id among the entries the log has deleted: ordered
    /// long ago, so neither it nor an earlier one of its incarnation is ever ordered again.
    pub forgotten: Vec<RequestId>,
}

impl Sequencer {
    /// `next_seq` = last recovered seq + 1, or `first_seq` if nothing was recovered (1 for a
    /// new cluster; 0 is treated as 1).
    ///
    /// Should the recovered entries not be consecutive, entries that go backwards are skipped
    /// and only the consecutive run ending at the last entry is kept for retransmission; all
    /// of them still count for de-duplication.
    pub fn new(
        link: Link,
        cfg: SequencerConfig,
        recovered: Recovered,
        first_seq: u64,
        now: Instant,
    ) -> Self {
        let Recovered {
            entries,
            forgotten,
            meta,
        } = recovered;
        let first_seq = first_seq.max(1);
        let start = entries.first().map_or(first_seq, |e| e.seq.max(1));
        // A resend to one manager carries fewer tags than the multicast, but packing both
        // alike keeps one retained entry's batches the same everywhere.
        let payload = link.max_payload(Destination::AllReplicaManagers).max(1);
        let ordered_payload = link
            .max_payload(Destination::Addr(SocketAddr::from(([0, 0, 0, 0], 0))))
            .max(1);
        let mut s = Sequencer {
            link,
            payload,
            ordered_payload,
            now,
            wall_ms: 0,
            disk: None,
            next_seq: start,
            base: start,
            retained: VecDeque::new(),
            durable: start - 1,
            committed: start - 1,
            persist_next: start,
            inflight: None,
            awaiting: VecDeque::new(),
            fo: failover::State::new(&cfg, &meta, now),
            views: Views::new(meta.boundaries),
            dedup: Dedup::new(cfg.retain_max.max(1)),
            rms: std::array::from_fn(|_| Rm::new(now)),
            transmits: VecDeque::new(),
            // A restarted sequencer announces `high` at once.
            next_heartbeat: now,
            last_heartbeat: None,
            fresh: true,
            truncated: start - 1,
            refused: 0,
            started_at: start,
            counters: SequencerCounters::default(),
            read_round: 0,
            read_waiting: VecDeque::new(),
            view_first: 0,
            cfg,
        };
        for id in forgotten {
            s.dedup.forget(id);
        }
        for entry in entries {
            if entry.seq < s.next_seq || entry.seq == u64::MAX {
                continue;
            }
            if entry.seq != s.next_seq {
                // A hole in the log: what lies before it cannot be retransmitted consistently.
                s.retained.clear();
                s.base = entry.seq;
            }
            s.wall_ms = s.wall_ms.max(entry.timestamp_ms);
            s.dedup.insert(entry.id, entry.seq);
            s.next_seq = entry.seq + 1;
            let size = batch::encoded_size(&entry);
            s.retained.push_back(Retained { entry, size });
        }
        s.durable = s.next_seq - 1;
        s.views.truncate_after(s.durable);
        if s.fo.single() {
            s.committed = s.durable;
        }
        s.persist_next = s.next_seq;
        s.started_at = s.next_seq;
        s.dedup.prune_window(s.next_seq);
        s.advance_low(now);
        s
    }

    /// The wall clock (ms since the Unix epoch) to stamp the next assigned entries with. The
    /// shell calls it before `handle_datagram`; the value used never decreases, so replicas
    /// see non-decreasing timestamps even if the clock steps back (also across restarts: it
    /// starts at the last recovered timestamp).
    pub fn set_wall_clock_ms(&mut self, ms: u64) {
        self.wall_ms = self.wall_ms.max(ms);
    }

    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = now;
        let Some((sender, msg)) = self.link.receive(now, datagram) else {
            return;
        };
        let primary = self.fo.is_primary();
        match (sender, msg) {
            (NodeId::Sequencer(peer), msg) => self.on_peer(now, peer, msg),
            // Only the primary orders and serves the managers; a standby's log is the
            // primary's, and a front end that finds no primary asks every node.
            (NodeId::FrontEnd(fe), Message::Submit { floor, entries }) if primary => {
                self.on_submit(from, fe, floor, entries)
            }
            (NodeId::ReplicaManager(r), Message::Ack { received, applied }) if primary => {
                self.on_ack(now, r.index(), received, applied)
            }
            (NodeId::ReplicaManager(r), Message::Nack(ranges)) if primary => {
                self.on_nack(now, r, &ranges)
            }
            (NodeId::FrontEnd(_), Message::ReadIndex { nonce }) if primary => {
                self.on_read_index(from, nonce)
            }
            // Only the operator's tools may ask: status is not for any node to read.
            (NodeId::Tool(_), Message::StatusQuery { nonce }) => {
                let msg = Message::SequencerStatus {
                    nonce,
                    status: self.status(),
                };
                self.send(Destination::Addr(from), &msg);
            }
            _ => {}
        }
    }

    /// Next write for the shell to make durable in the log. At most one is outstanding: after
    /// `Some(..)` it returns `None` until [`handle_persisted`](Self::handle_persisted) reports
    /// it done. Entries assigned meanwhile form the next batch (group commit). A truncation
    /// goes before the meta that may name views of entries after it, and both before entries
    /// appended after them.
    pub fn poll_persist(&mut self) -> Option<LogOp> {
        if self.inflight.is_some() {
            return None;
        }
        if let Some(upto) = self.fo.truncate_to.take() {
            self.inflight = Some(InFlight::Truncate);
            return Some(LogOp::TruncateAfter(upto));
        }
        if self.fo.meta_dirty {
            self.fo.meta_dirty = false;
            self.inflight = Some(InFlight::Meta);
            return Some(LogOp::Meta(self.meta()));
        }
        if self.persist_next >= self.next_seq {
            return None;
        }
        let from = self.index(self.persist_next)?;
        let batch: Vec<Sequenced> = self
            .retained
            .range(from..)
            .map(|s| s.entry.clone())
            .collect();
        let end = self.next_seq - 1;
        self.inflight = Some(InFlight::Append { end, valid: end });
        self.persist_next = self.next_seq;
        self.replicate_new(batch.first().map_or(end, |e| e.seq), end);
        Some(LogOp::Append(batch))
    }

    /// The write handed out by `poll_persist` is durable. Entries count once a majority of
    /// the sequencer nodes hold them: then `Ordered` goes to the front ends and `Data` to the
    /// managers.
    pub fn handle_persisted(&mut self, now: Instant) {
        self.now = now;
        match self.inflight.take() {
            None => {}
            Some(InFlight::Truncate) => {}
            Some(InFlight::Meta) => self.on_meta_durable(),
            Some(InFlight::Append { end, valid }) => {
                let upto = end.min(valid);
                if upto > self.durable {
                    self.durable = upto;
                    if self.fo.is_primary() {
                        self.advance_commit(now);
                    } else {
                        self.acknowledge_primary();
                    }
                }
            }
        }
    }

    /// Everything up to `upto` is committed: send `Ordered` to the front ends and multicast
    /// `Data`.
    fn commit(&mut self, now: Instant, upto: u64) {
        if upto <= self.committed {
            return;
        }
        let old = self.committed;
        self.committed = upto;
        self.fresh = true;
        for rm in &mut self.rms {
            if rm.heard && rm.received >= old {
                // Was caught up: its retransmission clock starts now.
                rm.progress_at = now;
            }
        }

        // Data first: the replicas are the critical path.
        let (_, sent) = self.send_range(Destination::AllReplicaManagers, old + 1, upto, usize::MAX);
        self.counters.multicast_entries += sent;

        let mut by_addr: BTreeMap<SocketAddr, Vec<(RequestId, u64)>> = BTreeMap::new();
        while let Some(&(addr, id, seq)) = self.awaiting.front() {
            if seq > upto {
                break;
            }
            self.awaiting.pop_front();
            by_addr.entry(addr).or_default().push((id, seq));
        }
        for (addr, pairs) in by_addr {
            self.send_ordered(Destination::Addr(addr), pairs);
        }
        self.answer_reads();
        self.advance_low(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.link.handle_timeout(now);
        self.failover_timeout(now);
        self.advance_low(now);
        if !self.fo.is_primary() {
            return;
        }
        let t = self.cfg.timeouts;

        if now >= self.next_heartbeat {
            let behind = self
                .rms
                .iter()
                .any(|rm| rm.heard && self.is_live(rm, now) && rm.received < self.committed);
            let keepalive = self.last_heartbeat.is_none_or(|last| {
                now.saturating_duration_since(last) >= heartbeat_interval(&t) * IDLE_HEARTBEATS
            });
            if self.fresh || behind || keepalive {
                let hb = self.heartbeat();
                self.send(Destination::AllReplicaManagers, &hb);
                self.fresh = false;
                self.last_heartbeat = Some(now);
            }
            self.next_heartbeat = now + heartbeat_interval(&t);
        }

        for r in ReplicaId::ALL {
            let idx = r.index();
            if self.retransmit_due(idx, now) {
                self.rms[idx].progress_at = now;
                let from = self.rms[idx].received.saturating_add(1);
                let to = Destination::ReplicaManager(r);
                if from < self.base {
                    let hb = self.heartbeat();
                    self.send(to, &hb);
                } else {
                    let (_, sent) = self.send_range(to, from, self.committed, RESEND_BUDGET);
                    self.counters.retransmitted_entries += sent;
                }
            }
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.failover_deadline();
        if let Some(t) = self.link.poll_timeout() {
            next = next.min(t);
        }
        if !self.fo.is_primary() {
            return Some(next);
        }
        next = next.min(self.next_heartbeat);
        let rt = retransmit_interval(&self.cfg.timeouts);
        for rm in &self.rms {
            if self.behind_and_live(rm, self.now) {
                next = next.min(rm.progress_at + rt);
            }
        }
        Some(next)
    }

    /// The shell may delete log entries with seq <= the returned value: every live replica
    /// manager has applied them, no live one can still ask for them, and they are older than
    /// the `retain_max` most recent assignments (which the log keeps so that a restarted
    /// sequencer still recognises retransmitted submissions; it also means the log is never
    /// emptied once it holds an entry, so `next_seq` survives a restart). `None`: nothing new,
    /// or no replica manager is live.
    ///
    /// A standby knows nothing of the managers: it keeps the `retain_max` most recent
    /// committed entries (a manager further behind when it takes over catches up by state
    /// transfer).
    pub fn poll_truncate(&mut self) -> Option<u64> {
        let now = self.now;
        let keep = self.cfg.retain_max.max(1) as u64;
        let mut upto = self.committed.saturating_sub(keep).min(self.base - 1);
        if !self.fo.is_primary() {
            let upto = upto.min(self.durable.saturating_sub(keep));
            if upto <= self.truncated {
                return None;
            }
            self.truncated = upto;
            self.views.forget_below(upto);
            return Some(upto);
        }
        let mut any_live = false;
        for rm in &self.rms {
            if self.is_live(rm, now) {
                any_live = true;
                upto = upto.min(if rm.heard { rm.applied } else { 0 });
            }
        }
        if !any_live || upto <= self.truncated {
            return None;
        }
        self.truncated = upto;
        self.views.forget_below(upto);
        Some(upto)
    }

    pub fn status(&self) -> SequencerStatus {
        SequencerStatus {
            next_seq: self.next_seq,
            lowest_retained: self.base,
            dropped_datagrams: self.link.stats().dropped(),
            retained: self.retained.len() as u64,
            instance: self.cfg.instance,
            started_at: self.started_at,
            view: self.fo.view,
            primary: self.fo.primary(),
            committed: self.committed,
            disk: self.disk,
        }
    }

    /// The free space of the log's directory, for status: the core does no IO, so the shell
    /// reads it and hands it in.
    pub fn set_disk(&mut self, disk: Option<DiskSpace>) {
        self.disk = disk;
    }

    pub fn counters(&self) -> SequencerCounters {
        self.counters
    }

    /// Entries kept for retransmission.
    pub fn retained(&self) -> usize {
        self.retained.len()
    }

    /// Wire drop counters of the sequencer's link.
    pub fn stats(&self) -> &WireStats {
        self.link.stats()
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether this node orders and announces (always, with one node).
    pub fn is_primary(&self) -> bool {
        self.fo.is_primary()
    }

    /// The view this node is in, and the primary of it it knows (`None`: an election is under
    /// way): cheaper than [`status`](Self::status), for a shell that watches for changes.
    pub fn role(&self) -> (u64, Option<u8>) {
        (self.fo.view, self.fo.primary())
    }

    /// Submissions refused so far: not accepted by `SequencerConfig::accepts`, larger than
    /// one message can carry once sequenced, or arriving while [`PENDING_MAX`] entries wait for
    /// their fsync.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    // ---- message handlers ----

    fn on_submit(&mut self, from: SocketAddr, fe: u32, floor: u64, entries: Vec<Submission>) {
        // A front end speaks only for its own incarnations: one that names another front end's
        // could move that one's floor or have its own requests taken for that one's.
        let entries: Vec<Submission> = entries
            .into_iter()
            .filter(|sub| sub.id.front_end_id() == fe)
            .collect();
        let mut incarnation = None;
        for sub in &entries {
            if incarnation != Some(sub.id.front_end) {
                incarnation = Some(sub.id.front_end);
                self.dedup.raise_floor(sub.id.front_end, floor);
            }
        }
        let mut again = Vec::new();
        for sub in entries {
            match self.dedup.lookup(sub.id) {
                Lookup::Stale => continue,
                Lookup::Known(seq) => {
                    if seq <= self.committed {
                        again.push((sub.id, seq));
                    }
                    // Not yet committed: the Ordered follows.
                    continue;
                }
                Lookup::New => {}
            }
            if self.next_seq - 1 - self.committed >= PENDING_MAX as u64 || self.next_seq == u64::MAX
            {
                self.refused += 1;
                continue;
            }
            let entry = Sequenced {
                seq: self.next_seq,
                id: sub.id,
                reply_to: sub.reply_to,
                timestamp_ms: self.wall_ms,
                request: sub.request,
                trace: sub.trace,
            };
            if !(self.cfg.accepts)(&entry.request) {
                self.refused += 1;
                continue;
            }
            let size = batch::encoded_size(&entry);
            // A Data message of this entry alone must be within the message limit.
            let alone = batch::list_size(batch::encoded_size(&Message::Data(Vec::new())), 1, size);
            if alone > self.link.max_message() {
                self.refused += 1;
                continue;
            }
            self.dedup.insert(entry.id, entry.seq);
            self.awaiting.push_back((from, entry.id, entry.seq));
            self.retained.push_back(Retained { entry, size });
            self.next_seq += 1;
        }
        self.dedup.prune_window(self.next_seq);
        if !again.is_empty() {
            self.send_ordered(Destination::Addr(from), again);
        }
    }

    fn on_ack(&mut self, now: Instant, idx: usize, received: u64, applied: u64) {
        let committed = self.committed;
        let was_live = self.is_live(&self.rms[idx], now);
        let rm = &mut self.rms[idx];
        // Claims beyond what was ever sent are clamped; a lower value than before is taken at
        // face value (the RM may have restarted).
        let received = received.min(committed);
        if !rm.heard || !was_live || received > rm.received {
            rm.progress_at = now;
        }
        rm.heard = true;
        rm.last_heard = now;
        rm.received = received;
        rm.applied = applied.min(committed);
        self.advance_low(now);
    }

    fn on_nack(&mut self, now: Instant, id: ReplicaId, ranges: &[(u64, u64)]) {
        let idx = id.index();
        if !self.is_live(&self.rms[idx], now) {
            self.rms[idx].progress_at = now;
        }
        self.rms[idx].last_heard = now;
        let to = Destination::ReplicaManager(id);
        self.counters.nacks_served += 1;
        let mut budget = RESEND_BUDGET;
        let mut below = false;
        for &(a, b) in ranges {
            let b = b.min(self.committed);
            if a > b {
                continue;
            }
            let a = if a < self.base {
                below = true;
                self.base
            } else {
                a
            };
            if budget > 0 && a <= b {
                let (left, sent) = self.send_range(to, a, b, budget);
                budget = left;
                self.counters.nacked_entries += sent;
            }
        }
        if below {
            let hb = self.heartbeat();
            self.send(to, &hb);
        }
    }

    // ---- retention ----

    /// Drops retained entries every live RM and standby has received, except the last
    /// `retain_min`, and any beyond `retain_max`.
    /// Never drops a pending (not yet committed, so not yet sent) entry; never moves back.
    fn advance_low(&mut self, now: Instant) {
        let mut target = self.committed.saturating_add(1).min(self.peers_floor(now));
        let mut any_live = false;
        for rm in &self.rms {
            if self.is_live(rm, now) {
                any_live = true;
                let wants = if rm.heard {
                    rm.received.min(self.committed) + 1
                } else {
                    0
                };
                target = target.min(wants);
            }
        }
        if !any_live {
            target = self.base;
        }
        let floor = self
            .committed
            .saturating_add(1)
            .saturating_sub(self.cfg.retain_min as u64);
        target = target.min(floor.max(self.base));
        let cap = self
            .committed
            .saturating_add(1)
            .saturating_sub(self.cfg.retain_max as u64);
        let target = target.max(cap).min(self.committed.saturating_add(1));
        while self.base < target && self.retained.pop_front().is_some() {
            self.base += 1;
        }
    }

    // ---- helpers ----

    fn heartbeat(&self) -> Message {
        Message::Heartbeat {
            view: self.fo.view,
            high: self.committed,
            low: self.base,
        }
    }

    fn is_live_at(&self, last_heard: Instant, now: Instant) -> bool {
        now.saturating_duration_since(last_heard) <= self.cfg.timeouts.liveness
    }

    fn is_live(&self, rm: &Rm, now: Instant) -> bool {
        self.is_live_at(rm.last_heard, now)
    }

    fn behind_and_live(&self, rm: &Rm, now: Instant) -> bool {
        rm.heard && rm.received < self.committed && self.is_live(rm, now)
    }

    fn retransmit_due(&self, idx: usize, now: Instant) -> bool {
        let rm = &self.rms[idx];
        self.behind_and_live(rm, now)
            && now >= rm.progress_at + retransmit_interval(&self.cfg.timeouts)
    }

    fn index(&self, seq: u64) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        (i < self.retained.len()).then_some(i)
    }

    fn send(&mut self, to: Destination, msg: &Message) {
        // Encoding fails only for a message beyond the link's limit, which the sequencer
        // never builds (submissions are checked on arrival): nothing to do but not send.
        if let Ok(grams) = self.link.encode(msg, to) {
            self.transmits
                .extend(grams.into_iter().map(|datagram| Transmit { to, datagram }));
        }
    }

    /// Sends the retained entries `from..=to` as `Data`, as many per datagram as fit, until
    /// about `budget` bytes of entries went out (at least one entry). Returns the budget left
    /// and the number of entries sent.
    fn send_range(&mut self, dest: Destination, from: u64, to: u64, budget: usize) -> (usize, u64) {
        let (Some(first), Some(last)) = (self.index(from.max(self.base)), self.index(to)) else {
            return (budget, 0);
        };
        let mut left = budget;
        let mut sent = 0;
        let mut data = Batch::new(self.payload, &Message::Data(Vec::new()));
        let mut full = Vec::new();
        for kept in self.retained.range(first..=last) {
            if left == 0 {
                break;
            }
            left = left.saturating_sub(kept.size);
            sent += 1;
            full.extend(data.push_sized(kept.entry.clone(), kept.size));
        }
        full.extend(data.take());
        for entries in full {
            self.send(dest, &Message::Data(entries));
        }
        (left, sent)
    }

    fn send_ordered(&mut self, dest: Destination, pairs: Vec<(RequestId, u64)>) {
        for pairs in batch::pack(pairs, self.ordered_payload, &Message::Ordered(Vec::new())) {
            self.send(dest, &Message::Ordered(pairs));
        }
    }
}

const MIN_INTERVAL: Duration = Duration::from_millis(1);

fn heartbeat_interval(t: &Timeouts) -> Duration {
    t.heartbeat.max(MIN_INTERVAL)
}

fn retransmit_interval(t: &Timeouts) -> Duration {
    t.retransmit.max(MIN_INTERVAL)
}
