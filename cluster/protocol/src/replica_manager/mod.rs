//! The replica manager: turns the sequencer's `Data` into an exactly-once, in-order stream of
//! requests for one replica process, the replica's replies into `Reply` datagrams for the front
//! ends, and failures into replacements. See "Replica manager" in `docs/protocol.md` and
//! `docs/recovery.md`.
//!
//! IO-free, in the style of quinn-proto's `Connection`, and the whole of the manager's logic:
//! the shell (`tessera-node`, or the simulation) only feeds in what happened, each with the
//! current time, and carries out what comes out.
//!
//! | in | out |
//! |---|---|
//! | [`handle_datagram`](ReplicaManager::handle_datagram) | [`poll_transmit`](ReplicaManager::poll_transmit): datagrams |
//! | [`handle_replica_started`](ReplicaManager::handle_replica_started), [`handle_replica`](ReplicaManager::handle_replica), [`handle_replica_exited`](ReplicaManager::handle_replica_exited) | [`poll_command`](ReplicaManager::poll_command): persist a record, start a replica, write to it, signal it |
//! | [`handle_timeout`](ReplicaManager::handle_timeout) at [`poll_timeout`](ReplicaManager::poll_timeout) | [`poll_event`](ReplicaManager::poll_event): what to log |
//!
//! The shell drains commands before transmits: a `Persist` then always reaches the disk before
//! any datagram that depends on it leaves, and before a `StartReplica { fresh: true }` wipes
//! the old replica's storage.
//!
//! Costs per message are logarithmic in the hold-back queue and reply cache sizes: the queue
//! indexes its out-of-order runs so that gaps are found without walking entries.

pub mod guard;
mod holdback;
pub mod host;
mod nack;
mod pipeline;
mod reads;
mod replies;
#[cfg(test)]
mod tests;
pub mod transfer;

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tessera_types::{CallMemory, Digest};

use crate::wire::{
    ChaosAction, CheckpointView, DiskSpace, FaultKind, FaultReport, Incarnation, Link, Message,
    NodeId, Notice, NoticeEntry, ReadEntry, ReadReplyEntry, ReplaceCause, ReplicaState, ReplyEntry,
    RmStatus, Sequenced, VoteReason, WireStats,
};
use crate::{Destination, ReplicaId, Timeouts, Transmit};

use guard::{DigestAt, Guard, GuardConfig, GuardCounters, GuardEvent, WRONG_LIMIT};
use holdback::{HoldBack, Offer, MAX_SEQ};
pub use host::{execute, FaultMode, FromReplica, ToReplica};
use nack::RecentNacks;
pub use pipeline::MAX_IN_FLIGHT;
use pipeline::{Owed, Pipeline, DIGEST_EVERY};
use reads::{HeldReads, OwedRead};
use replies::Replies;
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

/// Snapshots kept to serve state transfers.
const SNAPSHOTS_KEPT: usize = 2;

/// Largest part of a snapshot sent in one `SnapshotPart`: a few hundred datagrams at most,
/// which a receiver's socket buffer takes in one burst.
const SNAPSHOT_PART_MAX: usize = 1 << 20;

/// How long a snapshot that a peer is fetching stays available after its last part was
/// asked for, although newer checkpoints replaced it.
const SERVING_KEPT: Duration = Duration::from_secs(10);

/// Notices kept for status (the dashboard's timeline polls them, so a burst between two polls
/// must fit).
pub const NOTICES_KEPT: usize = 32;

#[derive(Debug, Clone)]
pub struct RmConfig {
    /// This replica manager (and its replica).
    pub id: ReplicaId,
    /// The replica's implementation, for status.
    pub implementation: String,
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
    /// Least time between two syncs of the replica (group commit).
    pub sync_interval: Duration,
    /// Honour authenticated `Chaos` messages (fault injection for tests and demos).
    pub chaos: bool,
    /// Tells this start of the manager from others in status (the shell uses its start time
    /// in Unix ms).
    pub instance: u64,
    /// How many answered calls with a message id the replica remembers, and how long
    /// (`[exactly_once]`): part of the replicated state, so the same for every manager.
    pub call_memory: CallMemory,
    /// The sequencer node taken for the primary until a heartbeat of a later view names
    /// another (the first configured).
    pub sequencer: u8,
}

impl RmConfig {
    pub fn new(id: ReplicaId) -> Self {
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
            id: ReplicaId::ALL[0],
            implementation: String::new(),
            timeouts: Timeouts::default(),
            holdback_max: DEFAULT_HOLDBACK_MAX,
            reply_cache: DEFAULT_REPLY_CACHE,
            checkpoint_interval: 10_000,
            hang_threshold: Duration::from_millis(1500),
            retry: Duration::from_millis(200),
            sync_interval: Duration::from_millis(50),
            chaos: false,
            instance: 0,
            call_memory: CallMemory::default(),
            sequencer: 1,
        }
    }
}

/// What a manager must not forget across `kill -9` (`docs/recovery.md`, "Restarts"): its
/// replica's incarnation, and whether a state transfer into it was under way (its storage is
/// then not trusted: wiped, and transferred again).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub generation: u32,
    pub from_seq: u64,
    pub recovering: bool,
}

impl Record {
    pub fn incarnation(&self) -> Incarnation {
        Incarnation {
            generation: self.generation,
            from_seq: self.from_seq,
        }
    }
}

/// What the shell does for the manager, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Store this record durably before carrying out anything that follows.
    Persist(Record),
    /// Kill the replica process, if one runs, and start a new one of our implementation, on
    /// emptied storage if `fresh`; then report [`ReplicaManager::handle_replica_started`].
    StartReplica { fresh: bool },
    /// Write this to the replica; it answers in order ([`ReplicaManager::handle_replica`]).
    ToReplica(ToReplica),
    /// Signal the replica process (fault injection).
    Signal(ReplicaSignal),
    /// Nothing to do but log: request `seq`, which the gateway knows as `request_id`, goes to
    /// the replica now (so that one call can be followed from the gateway's log to the
    /// managers'). Only for requests that came with a request id.
    Delivered { seq: u64, request_id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaSignal {
    /// `SIGKILL`: it dies, and its exit is reported like any other.
    Kill,
    /// `SIGSTOP`: it hangs.
    Stop,
    /// `SIGCONT`.
    Continue,
}

/// Why a replica is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaceReason {
    /// A majority of managers voted against it.
    Voted(VoteReason),
    /// Its process exited.
    Exited,
    /// It could not carry out a request, or answered what was not asked.
    Failed(String),
}

/// What happened, for the shell's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RmEvent {
    /// A front end reports that a replica (any replica, not only ours) answered `seq` wrongly
    /// or not at all. Each distinct (seq, replica, kind) is reported once (within a window of
    /// [`FAULT_DEDUP_WINDOW`] reports).
    Fault(FaultReport),
    /// This manager voted, or learnt of a replica's newer incarnation.
    Guard(GuardEvent),
    /// The sequencer no longer retains seqs we are missing (its lowest retained is `low`):
    /// state transfer. Reported once per distinct `low`.
    BehindRetention { low: u64, delivered: u64 },
    /// Our replica is being replaced by `incarnation`; a state transfer follows.
    Replacing {
        reason: ReplaceReason,
        incarnation: Incarnation,
    },
    /// A state transfer after a restart that cut the previous one short.
    ResumedTransfer,
    /// A vouched-for snapshot (`bytes` long) is being installed at `seq`.
    Installing { seq: u64, bytes: usize },
    /// The replica installed the state at `seq` (a snapshot of `bytes`) and replays what
    /// follows; the transfer took `took` from its start.
    Installed {
        seq: u64,
        bytes: u64,
        took: Duration,
    },
    /// An authenticated operator asked for fault injection (only with `chaos` enabled).
    Chaos(ChaosAction),
}

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
    /// Fault reports dropped as repeats, or for seq 0.
    pub dropped_faults: u64,
    /// Answers of a replica process that was being replaced.
    pub stale_answers: u64,
    /// Messages that could not be encoded (a reply larger than the link's maximum).
    pub encode_errors: u64,
    pub acks_sent: u64,
    pub nacks_sent: u64,
    /// `Reply` messages sent (each may carry several entries).
    pub reply_messages: u64,
    /// Replies resent from the cache for `Reask`.
    pub reasked: u64,
    /// State transfers completed, and the snapshot bytes they installed.
    pub transfers: u64,
    pub transfer_bytes: u64,
    /// Fast reads given to the replica, and those dropped unanswered (replica not serving,
    /// or too many held).
    pub reads_served: u64,
    pub reads_refused: u64,
}

/// A snapshot a peer is fetching, and when it last asked for a part.
struct Serving {
    seq: u64,
    digest: [u8; 32],
    bytes: Arc<Vec<u8>>,
    asked: Instant,
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
    /// Everything up to here is applied durably by the replica (what acks claim).
    applied: u64,
    /// The last seq whose reply came back (or the snapshot seq after an install).
    last_replied: u64,
    replica: Pipeline,
    replies: Replies,
    transmits: VecDeque<Transmit>,
    commands: VecDeque<Command>,
    events: VecDeque<RmEvent>,

    /// From the sequencer's heartbeats: highest assigned, lowest retained.
    seq_high: u64,
    seq_low: u64,
    /// The sequencer's view this manager follows, and that view's primary: ordering comes
    /// from it alone, acks and NACKs go to it.
    seq_view: u64,
    primary: u8,
    behind_reported: Option<u64>,

    nacks: RecentNacks,
    /// The NACK horizon at the last decision; new gaps can only appear when it grows.
    nack_horizon: u64,

    ack_sent_at: Instant,
    ack_sent: (u64, u64),
    /// No ack before the first replica said where it stands.
    acking: bool,

    faults: FaultDedup,
    counters: RmCounters,

    guard: Guard,
    /// `Some` while a state transfer is running; delivery is paused meanwhile.
    transfer: Option<StateTransfer>,
    /// When the running transfer began, and the size of the snapshot it is installing.
    transfer_began: Instant,
    transfer_bytes: u64,
    /// The snapshot being installed (seq, bytes): once the replica has it, it is one of our
    /// checkpoints to serve.
    installing: Option<(u64, Arc<Vec<u8>>)>,
    /// Recent notices for status: (number, when, what).
    notices: VecDeque<(u64, Instant, Notice)>,
    next_notice: u64,
    /// The last record handed out to be persisted.
    persisted: Record,
    /// Our latest checkpoint snapshots: (seq, digest, canonical bytes).
    snapshots: VecDeque<(u64, [u8; 32], Arc<Vec<u8>>)>,
    /// The snapshot a peer is fetching part by part, and when it last asked: kept while it
    /// does, even after checkpoints newer than it pushed it out of `snapshots` (at high rates
    /// a checkpoint lasts well under the time a large snapshot takes to send).
    serving: Option<Serving>,
    /// The latest `now` seen, for calls that are not given one.
    now: Instant,
    /// Free space of this manager's directory, as the shell last read it (for status).
    disk: Option<DiskSpace>,
    next_nonce: u64,
    chaos_seen: VecDeque<u64>,
    /// Fast reads waiting for their `at_least`, and answers to send, per front end address.
    reads: HeldReads,
    read_replies: Vec<(SocketAddr, ReadReplyEntry)>,
}

impl ReplicaManager {
    /// A manager starting from its persisted `record` (the default for a fresh cluster). It
    /// asks at once for its replica to be started (on emptied storage if a state transfer was
    /// cut short) and greets its peers; delivery and acks begin once the replica is ready.
    pub fn new(link: Link, cfg: RmConfig, record: Record, now: Instant) -> Self {
        // Replies go to a front end's address.
        let budget = link.max_payload(Destination::Addr(SocketAddr::from(([0, 0, 0, 0], 0))));
        let mut rm = ReplicaManager {
            queue: HoldBack::new(0, cfg.holdback_max),
            nacks: RecentNacks::new(cfg.timeouts.nack),
            replies: Replies::new(cfg.reply_cache, budget),
            link,
            applied: 0,
            last_replied: 0,
            replica: Pipeline::new(now),
            transmits: VecDeque::new(),
            commands: VecDeque::from([Command::StartReplica {
                fresh: record.recovering,
            }]),
            events: VecDeque::new(),
            seq_high: 0,
            seq_low: 0,
            seq_view: 0,
            primary: cfg.sequencer,
            behind_reported: None,
            nack_horizon: 0,
            ack_sent_at: now,
            ack_sent: (0, 0),
            acking: false,
            faults: FaultDedup {
                seen: HashSet::new(),
                order: VecDeque::new(),
            },
            counters: RmCounters::default(),
            guard: Guard::new(
                GuardConfig {
                    me: cfg.id,
                    hang_threshold: cfg.hang_threshold,
                    retry: cfg.retry,
                },
                record.incarnation(),
                now,
            ),
            transfer: None,
            transfer_began: now,
            transfer_bytes: 0,
            installing: None,
            notices: VecDeque::new(),
            next_notice: 1,
            persisted: record,
            snapshots: VecDeque::new(),
            serving: None,
            now,
            disk: None,
            next_nonce: 1,
            chaos_seen: VecDeque::new(),
            reads: HeldReads::default(),
            read_replies: Vec::new(),
            cfg,
        };
        if record.recovering {
            rm.events.push_back(RmEvent::ResumedTransfer);
            rm.start_transfer(now);
        }
        rm.drive(now);
        rm
    }

    // ---- inputs ----

    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.now = now;
        let Some((sender, msg)) = self.link.receive(now, datagram) else {
            return;
        };
        match (sender, msg) {
            (NodeId::ReplicaManager(peer), msg) if peer != self.cfg.id => {
                self.on_peer(now, peer, msg)
            }
            (NodeId::Tool(_), Message::Chaos { nonce, action }) => {
                self.on_chaos(from, nonce, action)
            }
            (NodeId::Sequencer(s), Message::Data(entries)) if s == self.primary => {
                self.on_data(entries)
            }
            (NodeId::Sequencer(s), Message::Heartbeat { view, high, low })
                if self.follows(s, view) =>
            {
                self.on_heartbeat(high, low)
            }
            (NodeId::FrontEnd(_) | NodeId::Tool(_), Message::Reask(seqs)) => {
                self.on_reask(from, &seqs)
            }
            (NodeId::FrontEnd(_), Message::Faults(reports)) => self.on_faults(now, &reports),
            (NodeId::FrontEnd(_), Message::Read(entries)) => self.on_read(now, from, entries),
            (NodeId::Tool(_), Message::StatusQuery { nonce }) => {
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

    /// The replica process the last `StartReplica` asked for runs (`pid`) and has applied
    /// everything up to `applied`.
    pub fn handle_replica_started(&mut self, now: Instant, pid: u32, applied: u64) {
        self.now = now;
        let applied = applied.min(MAX_SEQ);
        self.replica.started(now, pid, applied);
        self.replica.next_sync = now + self.cfg.sync_interval;
        if !self.acking {
            // The first start: delivery resumes after what the replica has, and the
            // sequencer learns where we stand.
            self.acking = true;
            self.queue = HoldBack::new(applied, self.cfg.holdback_max);
            self.applied = applied;
            self.last_replied = applied;
            self.nack_horizon = applied;
            self.send_ack(now);
        }
        self.drive(now);
    }

    /// The replica's next answer (they come in the order requests were written). Answers
    /// after a replacement began, from the process being replaced, are ignored.
    pub fn handle_replica(&mut self, now: Instant, answer: FromReplica) {
        self.now = now;
        if self.replica.ready.is_none() {
            self.counters.stale_answers += 1;
            return;
        }
        if let FromReplica::Failed(why) = answer {
            self.replace(now, ReplaceReason::Failed(why));
            self.drive(now);
            return;
        }
        let Some(owed) = self.replica.owed.pop_front() else {
            self.replace(
                now,
                ReplaceReason::Failed(format!("answered {answer:?} where nothing was owed")),
            );
            self.drive(now);
            return;
        };
        match (owed, answer) {
            (Owed::Applied { seq, id, reply_to }, FromReplica::Applied { seq: got, reply })
                if got == seq =>
            {
                self.replica.last_progress = now;
                self.replica.last_applied = seq;
                self.replica.executed += 1;
                // Status promises the digest *at* last_seq.
                self.replica.digest = None;
                self.last_replied = seq;
                let entry = ReplyEntry {
                    seq,
                    id,
                    replica: self.cfg.id,
                    reply,
                };
                if let Some(full) = self.replies.send(reply_to, entry) {
                    self.send_replies(reply_to, full);
                }
            }
            (Owed::Synced, FromReplica::Synced { applied }) => {
                self.replica.synced = applied;
                // Never beyond what was delivered, never backwards.
                self.applied = self.applied.max(applied.min(self.queue.delivered()));
            }
            (Owed::Checkpoint(seq), FromReplica::Exported { applied, snapshot })
                if applied == seq =>
            {
                self.checkpoint(now, seq, snapshot);
            }
            (Owed::Digest, FromReplica::Digest { applied, digest }) => {
                self.replica.digest = (applied == self.replica.last_applied).then_some(digest);
                // Compared like a checkpoint's: when the cluster goes quiet every replica is
                // idle at the same seq, so a state gone wrong behind right replies is found
                // then, without waiting for load to bring the next checkpoint seq.
                if self.replica.digest.is_some() && applied > 0 {
                    let at = self.digest_at(applied);
                    self.guard.my_digest(now, at, digest);
                }
            }
            (Owed::Imported, FromReplica::Imported { applied }) => {
                self.finish_recovery(now, applied);
            }
            (Owed::FaultSet, FromReplica::FaultSet) => {}
            (Owed::Read(read), FromReplica::Read { applied, reply }) => {
                self.replica.last_progress = now;
                // Only a state that includes every seq the front end asked for answers it; a
                // replica that does not serve reads says nothing, and the read is ordered.
                if let Some(reply) = reply.filter(|_| applied >= read.at_least) {
                    self.read_replies.push((
                        read.to,
                        ReadReplyEntry {
                            id: read.id,
                            replica: self.cfg.id,
                            seq: applied,
                            reply,
                        },
                    ));
                }
            }
            (owed, answer) => self.replace(
                now,
                ReplaceReason::Failed(format!("answered {answer:?} where {owed:?} was due")),
            ),
        }
        self.drive(now);
    }

    /// The replica process exited (EOF on its pipe).
    pub fn handle_replica_exited(&mut self, now: Instant) {
        self.now = now;
        if self.replica.ready.is_some() {
            self.replace(now, ReplaceReason::Exited);
        }
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

    // ---- outputs ----

    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.replies.has_pending() {
            for (to, entries) in self.replies.flush() {
                self.send_replies(to, entries);
            }
        }
        if !self.read_replies.is_empty() {
            self.flush_read_replies();
        }
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<RmEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.acking.then(|| self.ack_due());
        let mut at = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        if self.has_gap() {
            at(self.nacks.next_expiry());
        }
        at(self.link.poll_timeout());
        at(self.guard.poll_timeout());
        at(self.transfer.as_ref().and_then(StateTransfer::poll_timeout));
        at(self.sync_wanted().then_some(self.replica.next_sync));
        at(self.digest_wanted().then(|| self.replica.digest_due()));
        next
    }

    // ---- queries ----

    /// Our view for `tesserad status`; `last_seq` is the last seq whose reply came back.
    pub fn status(&self) -> RmStatus {
        let me = self.cfg.id;
        let faults = self.guard.consecutive_faults(me);
        let state = if self.transfer.is_some() {
            ReplicaState::Recovering
        } else if self.replica.ready.is_none() {
            ReplicaState::Down
        } else if self.guard.votes_against(me) >= guard::SHOWN_VOTED_OUT {
            ReplicaState::VotedOut
        } else if faults >= WRONG_LIMIT {
            ReplicaState::Lying
        } else {
            ReplicaState::Up
        };
        RmStatus {
            id: me,
            implementation: self.cfg.implementation.clone(),
            pid: self.replica.ready.unwrap_or(0),
            state,
            last_seq: self.last_replied,
            consecutive_faults: faults,
            generation: self.guard.generation(me),
            last_wrong_ms_ago: self.guard.last_wrong(me).map(|at| {
                u64::try_from(self.now.saturating_duration_since(at).as_millis())
                    .unwrap_or(u64::MAX)
            }),
            digest: self.replica.digest,
            executed: self.replica.executed,
            dropped_datagrams: self.link.stats().dropped(),
            synced: self.applied,
            high: self.high(),
            checkpoint: self
                .guard
                .checkpoint_view(me)
                .map(|(seq, agrees)| CheckpointView { seq, agrees }),
            transfers: u32::try_from(self.counters.transfers).unwrap_or(u32::MAX),
            instance: self.cfg.instance,
            notices: self
                .notices
                .iter()
                .map(|&(number, at, notice)| NoticeEntry {
                    number,
                    ms_ago: u64::try_from(self.now.saturating_duration_since(at).as_millis())
                        .unwrap_or(u64::MAX),
                    notice,
                })
                .collect(),
            disk: self.disk,
        }
    }

    /// The free space of this manager's directory, for status: the core does no IO, so the
    /// shell reads it and hands it in.
    pub fn set_disk(&mut self, disk: Option<DiskSpace>) {
        self.disk = disk;
    }

    /// The highest seq known to exist: announced by the sequencer's heartbeats, or held.
    pub fn high(&self) -> u64 {
        self.seq_high
            .max(self.queue.highest_held().unwrap_or(0))
            .max(self.queue.received())
    }

    pub fn guard_counters(&self) -> GuardCounters {
        self.guard.counters()
    }

    fn notice(&mut self, now: Instant, notice: Notice) {
        self.notices.push_back((self.next_notice, now, notice));
        self.next_notice += 1;
        while self.notices.len() > NOTICES_KEPT {
            self.notices.pop_front();
        }
    }

    pub fn stats(&self) -> &WireStats {
        self.link.stats()
    }

    pub fn counters(&self) -> &RmCounters {
        &self.counters
    }

    /// This manager (and its replica).
    pub fn id(&self) -> ReplicaId {
        self.cfg.id
    }

    /// The last seq handed to the replica.
    pub fn delivered(&self) -> u64 {
        self.queue.delivered()
    }

    /// Highest seq such that it and every lower one is delivered or held.
    pub fn received(&self) -> u64 {
        self.queue.received()
    }

    /// Everything up to here is applied durably.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Entries in the hold-back queue (received but not delivered, or waiting for a gap).
    pub fn held(&self) -> usize {
        self.queue.len()
    }

    pub fn is_recovering(&self) -> bool {
        self.transfer.is_some()
    }

    pub fn generation(&self) -> u32 {
        self.guard.generation(self.cfg.id)
    }

    /// Our replica's incarnation.
    pub fn incarnation(&self) -> Incarnation {
        self.guard.incarnation(self.cfg.id)
    }

    // ---- the replica ----

    /// Writes everything the hold-back queue releases (up to [`MAX_IN_FLIGHT`] outstanding),
    /// a checkpoint export after each checkpoint seq, and a sync or a status digest when due.
    fn feed_replica(&mut self, now: Instant) {
        if self.transfer.is_some() {
            return;
        }
        while self.replica.room() {
            let Some(entry) = self.queue.pop_next() else {
                break;
            };
            if !self.replica.owes_a_reply() {
                self.replica.last_progress = now;
            }
            let seq = entry.seq;
            if !entry.trace.is_empty() {
                self.commands.push_back(Command::Delivered {
                    seq,
                    request_id: entry.trace,
                });
            }
            self.replica.owed.push_back(Owed::Applied {
                seq,
                id: entry.id,
                reply_to: entry.reply_to,
            });
            self.commands
                .push_back(Command::ToReplica(ToReplica::Apply {
                    seq,
                    time_ms: entry.timestamp_ms,
                    memory: self.cfg.call_memory,
                    request: entry.request,
                }));
            if self.checkpoint_due(seq) {
                self.ask_replica(ToReplica::Export, Owed::Checkpoint(seq));
            }
        }
        if self.sync_wanted() && now >= self.replica.next_sync {
            self.replica.next_sync = now + self.cfg.sync_interval;
            self.ask_replica(ToReplica::Sync, Owed::Synced);
        }
        if self.digest_wanted() && now >= self.replica.digest_due() {
            self.replica.next_digest = now + DIGEST_EVERY;
            self.replica.digest_seq = Some(self.replica.last_applied);
            self.ask_replica(ToReplica::Digest, Owed::Digest);
        }
    }

    /// Fast reads from a front end: held until their `at_least` was written to the replica.
    /// A replica being replaced or brought up to date answers none.
    fn on_read(&mut self, now: Instant, from: SocketAddr, entries: Vec<ReadEntry>) {
        if !self.serves_reads() {
            self.counters.reads_refused += entries.len() as u64;
            return;
        }
        for entry in entries {
            if !self.reads.hold(now, from, entry) {
                self.counters.reads_refused += 1;
            }
        }
    }

    fn serves_reads(&self) -> bool {
        self.transfer.is_none() && self.replica.ready.is_some() && self.acking
    }

    /// Writes the held reads whose `at_least` the replica has been given.
    fn feed_reads(&mut self, now: Instant) {
        if self.reads.len() == 0 {
            return;
        }
        if !self.serves_reads() {
            self.reads.clear();
            return;
        }
        for read in self.reads.release(now, self.queue.delivered()) {
            if self.replica.owed.is_empty() {
                self.replica.last_progress = now;
            }
            self.counters.reads_served += 1;
            let owed = OwedRead {
                id: read.entry.id,
                to: read.from,
                at_least: read.entry.at_least,
            };
            self.ask_replica(
                ToReplica::Read {
                    request: read.entry.request,
                },
                Owed::Read(owed),
            );
        }
    }

    fn flush_read_replies(&mut self) {
        let mut by_addr: std::collections::BTreeMap<SocketAddr, Vec<ReadReplyEntry>> =
            std::collections::BTreeMap::new();
        for (to, entry) in std::mem::take(&mut self.read_replies) {
            by_addr.entry(to).or_default().push(entry);
        }
        let budget = self
            .link
            .max_payload(Destination::Addr(SocketAddr::from(([0, 0, 0, 0], 0))));
        for (to, entries) in by_addr {
            for batch in crate::wire::batch::pack(entries, budget, &Message::ReadReply(Vec::new()))
            {
                self.send(Destination::Addr(to), &Message::ReadReply(batch));
            }
        }
    }

    fn ask_replica(&mut self, request: ToReplica, owed: Owed) {
        self.replica.owed.push_back(owed);
        self.commands.push_back(Command::ToReplica(request));
    }

    fn sync_wanted(&self) -> bool {
        self.transfer.is_none() && self.replica.sync_wanted()
    }

    fn digest_wanted(&self) -> bool {
        self.transfer.is_none() && self.replica.digest_wanted()
    }

    /// A digest at `seq`, of a checkpoint or of a replica gone quiet there: every manager has
    /// the same interval, so the seq says which.
    fn digest_at(&self, seq: u64) -> (u64, DigestAt) {
        let at = if self.checkpoint_due(seq) {
            DigestAt::Checkpoint
        } else {
            DigestAt::Quiet
        };
        (seq, at)
    }

    /// Whether the replica's state after `seq` is exported as a checkpoint.
    fn checkpoint_due(&self, seq: u64) -> bool {
        self.cfg.checkpoint_interval > 0
            && seq > 0
            && seq.is_multiple_of(self.cfg.checkpoint_interval)
    }

    /// The replica's canonical snapshot after `seq`: kept to serve state transfers, and its
    /// digest compared with every other replica's.
    fn checkpoint(&mut self, now: Instant, seq: u64, snapshot: Vec<u8>) {
        let digest = Digest::of_state(&snapshot).0;
        self.snapshots.push_back((seq, digest, Arc::new(snapshot)));
        while self.snapshots.len() > SNAPSHOTS_KEPT {
            self.snapshots.pop_front();
        }
        if self
            .serving
            .as_ref()
            .is_some_and(|s| now.saturating_duration_since(s.asked) > SERVING_KEPT)
        {
            self.serving = None;
        }
        self.guard.my_checkpoint(now, seq, digest);
    }

    /// How long our replica has had work outstanding without answering. Also while a state
    /// transfer runs: a replica too slow to keep up starts one (it falls behind the
    /// sequencer's window), and its snapshot is installed only after the requests it was
    /// already given; one that takes longer than the hang threshold over each of them must
    /// still be found hung, not shelter in the transfer for as long as they take.
    fn stalled(&self, now: Instant) -> Duration {
        if !self.replica.owes_a_reply() {
            Duration::ZERO
        } else {
            now.saturating_duration_since(self.replica.last_progress)
        }
    }

    // ---- replacement and state transfer ----

    /// Kills our replica and starts a fresh one of the next generation, which a state
    /// transfer then brings up to date. The new incarnation is persisted, marked recovering,
    /// before the old storage is wiped.
    fn replace(&mut self, now: Instant, reason: ReplaceReason) {
        self.replica.stopped(now);
        let incarnation = self.guard.replaced_mine(self.queue.delivered());
        // A fresh replica's snapshots come from its new state only.
        self.snapshots.clear();
        self.serving = None;
        self.installing = None;
        let cause = match &reason {
            ReplaceReason::Voted(why) => ReplaceCause::Voted(*why),
            ReplaceReason::Exited => ReplaceCause::Exited,
            ReplaceReason::Failed(_) => ReplaceCause::Failed,
        };
        self.notice(now, Notice::Replaced { incarnation, cause });
        self.events.push_back(RmEvent::Replacing {
            reason,
            incarnation,
        });
        self.start_transfer(now);
        self.persist();
        self.commands
            .push_back(Command::StartReplica { fresh: true });
    }

    fn start_transfer(&mut self, now: Instant) {
        self.transfer_began = now;
        self.transfer_bytes = 0;
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        self.transfer = Some(StateTransfer::start(
            self.cfg.id,
            nonce,
            self.cfg.retry,
            now,
        ));
    }

    /// The replica installed the state after `seq`: deliver from `seq + 1` on.
    fn finish_recovery(&mut self, now: Instant, seq: u64) {
        self.transfer = None;
        // What we installed is a checkpoint two peers vouched for, and now our replica's state:
        // we serve it too. Otherwise, when replicas are replaced one after another while the
        // cluster is idle (no new checkpoint), each replacement leaves one peer fewer that
        // holds the latest checkpoint, and the third one found no two peers to agree and
        // waited for load to bring the next checkpoint (seen in the catch-up bench).
        if let Some((at, bytes)) = self.installing.take() {
            if at == seq {
                let digest = Digest::of_state(&bytes).0;
                self.snapshots.push_back((seq, digest, bytes));
                while self.snapshots.len() > SNAPSHOTS_KEPT {
                    self.snapshots.pop_front();
                }
            }
        }
        self.replica.last_progress = now;
        self.replica.last_applied = seq;
        self.replica.synced = seq;
        self.replica.digest_seq = None;
        let took = now.saturating_duration_since(self.transfer_began);
        let bytes = self.transfer_bytes;
        self.counters.transfers += 1;
        self.counters.transfer_bytes += bytes;
        self.notice(
            now,
            Notice::Transferred {
                seq,
                bytes,
                millis: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            },
        );
        self.events
            .push_back(RmEvent::Installed { seq, bytes, took });
        self.reset_to(now, seq);
    }

    /// Skips (or rewinds) to a snapshot installed at `seq`: drops held entries ≤ `seq`,
    /// delivers from `seq + 1` on, forgets cached replies above `seq`, and takes `seq` as the
    /// last replied seq.
    fn reset_to(&mut self, now: Instant, seq: u64) {
        let seq = seq.min(MAX_SEQ);
        self.queue.reset_to(seq);
        self.replies.forget_after(seq);
        self.last_replied = seq;
        self.applied = self.applied.min(seq);
        self.nacks.clear();
        self.nack_horizon = seq;
        self.behind_reported = None;
        self.drive(now);
    }

    /// Hands the shell a new record to persist when the incarnation or the recovery state
    /// changed.
    fn persist(&mut self) {
        let inc = self.incarnation();
        let record = Record {
            generation: inc.generation,
            from_seq: inc.from_seq,
            recovering: self.transfer.is_some(),
        };
        if record != self.persisted {
            self.persisted = record;
            self.commands.push_back(Command::Persist(record));
        }
    }

    // ---- messages ----

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

    /// Whether `view`'s primary `s` is the one to follow: the highest view heard so far wins,
    /// so a returning or cut-off old primary is ignored once its successor was heard. (An old
    /// primary's `Data` was committed, hence is the same in every later view: what is
    /// refused from it is only the stale view of `high` and `low`.)
    fn follows(&mut self, s: u8, view: u64) -> bool {
        if view > self.seq_view {
            self.seq_view = view;
            self.primary = s;
        }
        view == self.seq_view && s == self.primary
    }

    fn on_heartbeat(&mut self, high: u64, low: u64) {
        self.seq_high = self.seq_high.max(high.min(MAX_SEQ));
        self.seq_low = low;
        // Behind what the sequencer retains, counted from what the replica was *given*, not
        // from what we hold: a replica slower than the cluster never stops the sequencer from
        // dropping entries (retention follows `received`), so measured by `received` it would
        // fall up to `holdback_max` entries behind, held here, before catching up. Measured by
        // `delivered` its lag stays within the sequencer's window, and it jumps ahead to a
        // checkpoint its peers vouch for whenever it falls out of it (flow control,
        // `docs/recovery.md`).
        let next = self.queue.delivered() + 1;
        if self.acking && low > next && self.transfer.is_none() && self.behind_reported != Some(low)
        {
            self.behind_reported = Some(low);
            self.events.push_back(RmEvent::BehindRetention {
                low,
                delivered: self.queue.delivered(),
            });
            self.start_transfer(self.now);
        }
    }

    fn on_reask(&mut self, from: SocketAddr, seqs: &[u64]) {
        for seq in seqs.iter().take(MAX_REASK) {
            if let Some(entry) = self.replies.cached(*seq).cloned() {
                self.counters.reasked += 1;
                if let Some(full) = self.replies.resend(from, entry) {
                    self.send_replies(from, full);
                }
            }
        }
    }

    fn on_faults(&mut self, now: Instant, reports: &[FaultReport]) {
        for &r in reports {
            if r.seq == 0 || !self.faults.insert(r) {
                self.counters.dropped_faults += 1;
                continue;
            }
            let stall = self.stalled(now);
            let mine = r.replica == self.cfg.id && r.kind == FaultKind::Wrong;
            let before = self.guard.consecutive_faults(self.cfg.id);
            self.guard.on_report(now, r, stall);
            if mine && before == 0 && self.guard.consecutive_faults(self.cfg.id) > 0 {
                self.notice(now, Notice::Wrong { seq: r.seq });
            }
            self.events.push_back(RmEvent::Fault(r));
        }
    }

    /// Messages between replica managers: detection, agreement and state transfer.
    fn on_peer(&mut self, now: Instant, peer: ReplicaId, msg: Message) {
        match msg {
            Message::Checkpoint {
                seq,
                incarnation,
                digest,
            } => {
                let at = self.digest_at(seq);
                self.guard.on_digest(now, peer, at, incarnation, digest);
            }
            Message::Vote {
                replica,
                generation,
                reason,
            } => self.guard.on_vote(peer, replica, generation, reason),
            Message::Probe { nonce } => {
                let reply = Message::ProbeReply {
                    nonce,
                    incarnation: self.incarnation(),
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
            Message::SnapshotQuery { nonce, fetch } if self.transfer.is_none() => {
                let checkpoints = self.offered_checkpoints();
                // Whole, as a peer of an earlier version asks for it (too large a snapshot
                // does not encode, and that peer's fetch times out as before).
                let snapshot = fetch.and_then(|want| {
                    self.snapshots
                        .iter()
                        .find(|(s, _, _)| *s == want)
                        .map(|(s, _, b)| (*s, b.to_vec()))
                });
                // To the peer's identity, not its address: only its tag is in the datagram.
                self.send(
                    Destination::ReplicaManager(peer),
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
            Message::SnapshotFetch { nonce, seq, offset } if self.transfer.is_none() => {
                self.serve_part(now, peer, nonce, seq, offset);
            }
            Message::SnapshotPart {
                nonce,
                seq,
                total,
                offset,
                bytes,
            } => {
                let floor = self.seq_low;
                if let Some(t) = &mut self.transfer {
                    let part = transfer::Part {
                        seq,
                        total,
                        offset,
                        bytes,
                    };
                    t.on_part(now, peer, nonce, part, floor);
                }
            }
            _ => self.counters.ignored += 1,
        }
    }

    /// (seq, digest) of every snapshot we can serve.
    fn offered_checkpoints(&self) -> Vec<(u64, [u8; 32])> {
        let mut offered: Vec<_> = self.snapshots.iter().map(|(s, d, _)| (*s, *d)).collect();
        if let Some(serving) = &self.serving {
            if !offered.iter().any(|(s, _)| *s == serving.seq) {
                offered.push((serving.seq, serving.digest));
            }
        }
        offered
    }

    /// One part of the snapshot after `seq` for `peer`, from byte `offset`; if we no longer
    /// hold it, what we hold instead (the peer then chooses again at once).
    fn serve_part(&mut self, now: Instant, peer: ReplicaId, nonce: u64, seq: u64, offset: u64) {
        let held = self
            .snapshots
            .iter()
            .find(|(s, _, _)| *s == seq)
            .map(|(s, d, b)| (*s, *d, Arc::clone(b)))
            .or_else(|| {
                self.serving
                    .as_ref()
                    .filter(|s| s.seq == seq)
                    .map(|s| (s.seq, s.digest, Arc::clone(&s.bytes)))
            });
        let to = Destination::ReplicaManager(peer);
        let Some((seq, digest, bytes)) = held else {
            let offer = Message::SnapshotOffer {
                nonce,
                checkpoints: self.offered_checkpoints(),
                snapshot: None,
            };
            self.send(to, &offer);
            return;
        };
        let part = (self.link.max_message() / 2).clamp(1024, SNAPSHOT_PART_MAX);
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = start.saturating_add(part).min(bytes.len());
        let message = Message::SnapshotPart {
            nonce,
            seq,
            total: bytes.len() as u64,
            offset: start as u64,
            bytes: bytes[start..end].to_vec(),
        };
        self.serving = Some(Serving {
            seq,
            digest,
            bytes,
            asked: now,
        });
        self.send(to, &message);
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
            self.inject(action);
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

    fn inject(&mut self, action: ChaosAction) {
        self.notice(self.now, Notice::Chaos { action });
        self.events.push_back(RmEvent::Chaos(action));
        let seed = 0x7e55_e7a0 ^ u64::from(self.cfg.id.get());
        let mode = |corrupt_state, corrupt_replies| FaultMode {
            seed,
            corrupt_state,
            corrupt_replies,
        };
        match action {
            // Wrong replies.
            ChaosAction::Byzantine => self.set_fault(Some(mode(false, true))),
            // Right-looking replies over a damaged state, which only the checkpoint digests
            // reveal.
            ChaosAction::CorruptState => self.set_fault(Some(mode(true, false))),
            ChaosAction::Crash => self.signal(ReplicaSignal::Kill),
            ChaosAction::Hang => self.signal(ReplicaSignal::Stop),
            ChaosAction::Heal => {
                self.signal(ReplicaSignal::Continue);
                self.set_fault(None);
                self.set_delay(0);
            }
            ChaosAction::Slow { ms } => self.set_delay(ms),
        }
    }

    fn set_delay(&mut self, ms: u32) {
        if self.replica.ready.is_some() {
            self.ask_replica(ToReplica::SetDelay { ms }, Owed::FaultSet);
        }
    }

    fn set_fault(&mut self, mode: Option<FaultMode>) {
        if self.replica.ready.is_some() {
            self.ask_replica(ToReplica::SetFault(mode), Owed::FaultSet);
        }
    }

    fn signal(&mut self, signal: ReplicaSignal) {
        if self.replica.ready.is_some() {
            self.commands.push_back(Command::Signal(signal));
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
        self.acking && self.nack_horizon() > self.queue.received()
    }

    /// Everything the current state calls for: work for the replica, acks and NACKs, the
    /// guard's votes and decisions, the state transfer's queries, and a record to persist.
    fn drive(&mut self, now: Instant) {
        while let Some(reason) = self.guard.poll_decision() {
            self.replace(now, ReplaceReason::Voted(reason));
        }
        let ready = self.replica.ready.is_some();
        if let Some(t) = &mut self.transfer {
            let mut out = Vec::new();
            while let Some(o) = t.poll_out() {
                out.push(o);
            }
            // A replacement may still be starting: the snapshot waits for it.
            let done = if ready { t.take_done() } else { None };
            for (to, msg) in out {
                self.send(to, &msg);
            }
            if let Some(install) = done {
                self.install(install);
            }
        }
        self.feed_replica(now);
        self.feed_reads(now);
        if self.acking {
            self.maybe_nack(now);
            if now >= self.ack_due() {
                self.send_ack(now);
            }
        }
        while let Some((to, msg)) = self.guard.poll_out() {
            self.send(to, &msg);
        }
        while let Some(ev) = self.guard.poll_event() {
            if let GuardEvent::Voted {
                replica,
                generation,
                reason,
            } = ev
            {
                self.notice(
                    now,
                    Notice::Voted {
                        replica,
                        generation,
                        reason,
                    },
                );
            }
            self.events.push_back(RmEvent::Guard(ev));
        }
        self.persist();
    }

    /// State transfer found a vouched-for snapshot: the replica imports it, after whatever
    /// it was already asked to do.
    fn install(&mut self, install: Install) {
        let request = match install.snapshot {
            Some(snapshot) => {
                let kept = Arc::new(snapshot);
                let request = ToReplica::Import {
                    seq: install.seq,
                    snapshot: kept.to_vec(),
                };
                self.installing = Some((install.seq, kept));
                request
            }
            None => ToReplica::import_empty(),
        };
        let bytes = match &request {
            ToReplica::Import { snapshot, .. } => snapshot.len(),
            _ => 0,
        };
        self.transfer_bytes = bytes as u64;
        self.events.push_back(RmEvent::Installing {
            seq: install.seq,
            bytes,
        });
        self.ask_replica(request, Owed::Imported);
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
        self.send(Destination::Sequencer(self.primary), &Message::Nack(ranges));
    }

    fn send_ack(&mut self, now: Instant) {
        let received = self.queue.received();
        let applied = self.applied;
        self.ack_sent = (received, applied);
        self.ack_sent_at = now;
        self.counters.acks_sent += 1;
        self.send(
            Destination::Sequencer(self.primary),
            &Message::Ack { received, applied },
        );
    }

    // ---- outgoing ----

    fn send(&mut self, to: Destination, msg: &Message) {
        match self.link.encode(msg, to) {
            Ok(grams) => self
                .transmits
                .extend(grams.into_iter().map(|datagram| Transmit { to, datagram })),
            Err(_) => self.counters.encode_errors += 1,
        }
    }

    fn send_replies(&mut self, to: SocketAddr, entries: Vec<ReplyEntry>) {
        self.counters.reply_messages += 1;
        self.send(Destination::Addr(to), &Message::Reply(entries));
    }
}
