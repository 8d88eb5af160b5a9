//! What nodes say to each other. Every message is one postcard-encoded [`Message`]; the
//! header's kind byte repeats its variant so that captures and counters can tell kinds apart
//! without decoding.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::ReplicaId;

/// Who sent a datagram. Authenticated by the sender's tag in the datagram's MAC vector, which
/// only that node's key can make, so a node can trust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodeId {
    /// A sequencer node (id 1..=[`NodeId::MAX_SEQUENCERS`]); one of them is the primary of a
    /// view at a time (`docs/protocol.md`, "Sequencer failover").
    Sequencer(u8),
    ReplicaManager(ReplicaId),
    /// A front end instance (24-bit id).
    FrontEnd(u32),
    /// An operator tool such as `tesserad status` (24-bit id).
    Tool(u32),
}

impl NodeId {
    /// The operator's identity: every tool (`tesserad status`, `chaos`) signs with its key,
    /// whatever its own `Tool` number.
    pub const OPERATOR: NodeId = NodeId::Tool(0);

    /// Sequencer node ids are 1..=this: one audience bit each, and a majority of at most
    /// four failures is plenty.
    pub const MAX_SEQUENCERS: u8 = 7;

    pub(crate) fn to_wire(self) -> u32 {
        match self {
            NodeId::Sequencer(n) => u32::from(n),
            NodeId::ReplicaManager(r) => 0x0100_0000 | u32::from(r.get()),
            NodeId::FrontEnd(n) => 0x0200_0000 | (n & 0x00ff_ffff),
            NodeId::Tool(n) => 0x0300_0000 | (n & 0x00ff_ffff),
        }
    }

    pub(crate) fn from_wire(v: u32) -> Option<Self> {
        let low = v & 0x00ff_ffff;
        match v >> 24 {
            0 => u8::try_from(low)
                .ok()
                .filter(|n| (1..=Self::MAX_SEQUENCERS).contains(n))
                .map(NodeId::Sequencer),
            1 => u8::try_from(low)
                .ok()
                .and_then(ReplicaId::new)
                .map(NodeId::ReplicaManager),
            2 => Some(NodeId::FrontEnd(low)),
            3 => Some(NodeId::Tool(low)),
            _ => None,
        }
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeId::Sequencer(n) => write!(f, "sequencer {n}"),
            NodeId::ReplicaManager(r) => write!(f, "replica manager {r}"),
            NodeId::FrontEnd(n) => write!(f, "front end {n}"),
            NodeId::Tool(_) => f.write_str("the operator"),
        }
    }
}

/// Identifies one client request across retransmissions: the front end's incarnation and a
/// number it never reuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The front end's incarnation: see [`RequestId::incarnation`].
    pub front_end: u64,
    pub number: u64,
}

impl RequestId {
    /// Low bits of an incarnation that hold the front end's id.
    pub const FRONT_END_BITS: u32 = 20;
    /// Largest front-end id an incarnation can carry.
    pub const MAX_FRONT_END: u32 = (1 << Self::FRONT_END_BITS) - 1;

    /// The incarnation of front end `front_end` started at `start_ms` (Unix ms): the start
    /// above, the id below. Two front ends never share one, and a later start of one front
    /// end compares greater, which is how the sequencer tells an older start's requests.
    pub fn incarnation(start_ms: u64, front_end: u32) -> u64 {
        (start_ms << Self::FRONT_END_BITS) | u64::from(front_end & Self::MAX_FRONT_END)
    }

    /// The id of the front end whose incarnation issued this request.
    pub fn front_end_id(&self) -> u32 {
        Self::front_end_id_of(self.front_end)
    }

    /// The id of the front end that `incarnation` is a start of.
    pub fn front_end_id_of(incarnation: u64) -> u32 {
        (incarnation & u64::from(Self::MAX_FRONT_END)) as u32
    }
}

/// A request on its way from a front end to the sequencer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub id: RequestId,
    /// Where replica managers send their replies.
    pub reply_to: SocketAddr,
    /// `tessera_types::Request::encode()`; the sequencer does not look inside.
    pub request: Vec<u8>,
    /// The gateway's request id for this call (at most [`TRACE_MAX`] bytes; empty when there
    /// is none), carried to the managers only so that their log lines name the same id as the
    /// gateway's. Nobody decides anything by it.
    pub trace: String,
}

/// A fast read on its way from a front end to a replica manager (`docs/protocol.md`,
/// "Fast reads").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadEntry {
    pub id: RequestId,
    /// Answer only from a state that includes every seq up to here: the primary's commit
    /// point when the read's index was asked for.
    pub at_least: u64,
    /// `tessera_types::Call::encode()` of a read-only call without a message id.
    pub request: Vec<u8>,
}

/// One replica's answer to one fast read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadReplyEntry {
    pub id: RequestId,
    pub replica: ReplicaId,
    /// The replica's applied seq when it answered (at least the read's `at_least`).
    pub seq: u64,
    /// `tessera_types::Outcome::encode()`: the bytes voted on, as for an ordered reply.
    pub reply: Vec<u8>,
}

/// Longest [`Submission::trace`] a front end sends; longer ones are cut.
pub const TRACE_MAX: usize = 64;

/// A request with its place in the total order, as multicast to the replica managers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequenced {
    pub seq: u64,
    pub id: RequestId,
    pub reply_to: SocketAddr,
    /// Milliseconds since the Unix epoch on the sequencer's clock: the only time replicas see.
    pub timestamp_ms: u64,
    pub request: Vec<u8>,
    /// The submission's [`Submission::trace`].
    pub trace: String,
}

/// One replica's reply to one sequenced request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyEntry {
    pub seq: u64,
    pub id: RequestId,
    pub replica: ReplicaId,
    /// `tessera_types::Reply::encode()`: the canonical bytes voted on.
    pub reply: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaultKind {
    /// Answered, but differently from the majority.
    Wrong,
    /// Did not answer within the front end's adaptive window.
    Missing,
    /// Answered like the majority after this front end had reported it `Wrong`: ends a run of
    /// consecutive wrong answers. (Sent only then, so correct replicas cost no reports.)
    Correct,
}

/// Why a replica manager votes to replace a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VoteReason {
    /// Three consecutive wrong answers.
    Wrong,
    /// Its checkpoint digest differs from the majority's.
    Digest,
    /// It stopped answering (probed: work outstanding beyond the hang threshold).
    Hung,
}

/// Which process of a replica answers: its generation (bumped by every replacement) and the
/// first seq after which the current process answered (fault reports about seqs up to
/// `from_seq` concern an earlier one). Only the replica's owner ever bumps it; every other
/// manager adopts the highest it hears of, so views only move forward and a manager that
/// restarted or missed an announcement catches up from the next message that carries it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Incarnation {
    pub generation: u32,
    pub from_seq: u64,
}

/// Fault injection, for demos and tests; honoured only by a cluster started with `--chaos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChaosAction {
    /// Wrong but well-formed replies from now on.
    Byzantine,
    /// Abrupt exit of the replica process.
    Crash,
    /// The replica process stops (SIGSTOP) without exiting.
    Hang,
    /// Back to correct replies; a hung replica continues.
    Heal,
    /// Replies stay right, but the state is damaged after every request: only checkpoint
    /// digests can tell.
    CorruptState,
    /// The replica process waits `ms` before each request it applies (0: full speed again):
    /// a replica that cannot keep up, to exercise flow control. `Heal` also ends it.
    Slow { ms: u32 },
}

impl ChaosAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ChaosAction::Byzantine => "byzantine",
            ChaosAction::Crash => "crash",
            ChaosAction::Hang => "hang",
            ChaosAction::Heal => "heal",
            ChaosAction::CorruptState => "corrupt-state",
            ChaosAction::Slow { .. } => "slow",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FaultReport {
    pub seq: u64,
    pub replica: ReplicaId,
    pub kind: FaultKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicaState {
    Up,
    /// Answering, but its latest consecutive wrong answers reach the replacement threshold.
    Lying,
    /// At least two managers (so at least one correct one) voted to replace its current
    /// generation.
    VotedOut,
    /// Being brought up to date by state transfer (after a replacement, or too far behind).
    Recovering,
    Down,
}

impl ReplicaState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaState::Up => "up",
            ReplicaState::Lying => "lying",
            ReplicaState::VotedOut => "voted-out",
            ReplicaState::Recovering => "recovering",
            ReplicaState::Down => "down",
        }
    }
}

/// A replica manager's view of itself and its replica, for `tesserad status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RmStatus {
    pub id: ReplicaId,
    pub implementation: String,
    pub pid: u32,
    pub state: ReplicaState,
    pub last_seq: u64,
    pub consecutive_faults: u32,
    /// The replica's generation: how many times it was replaced since the cluster was created
    /// (persisted by its manager, so a manager restart does not reset it).
    pub generation: u32,
    /// How long ago this manager last heard of a wrong answer from the current generation.
    pub last_wrong_ms_ago: Option<u64>,
    /// State digest at `last_seq`, if known.
    pub digest: Option<[u8; 32]>,
    /// Requests executed by the current replica process since it started.
    pub executed: u64,
    /// Datagrams this manager dropped as undecodable or unauthenticated.
    pub dropped_datagrams: u64,
    /// Everything up to here is applied durably by the replica (what acks claim).
    pub synced: u64,
    /// The highest seq this manager knows exists (announced by the sequencer, or held).
    pub high: u64,
    /// Its replica's latest checkpoint that this manager compared, and whether its digest
    /// agreed with the majority (`None`: no majority yet).
    pub checkpoint: Option<CheckpointView>,
    /// State transfers this manager completed since it started.
    pub transfers: u32,
    /// Tells this start of the manager from others (its start time in Unix ms).
    pub instance: u64,
    /// What recently happened, newest last (at most `replica_manager::NOTICES_KEPT`).
    pub notices: Vec<NoticeEntry>,
    /// The file system of this manager's directory (its record and its replica's storage),
    /// as the node last read it; `None` until it could.
    pub disk: Option<DiskSpace>,
}

/// Free space where a node writes: a full disk stops it (`docs/recovery.md`, "A full disk"),
/// so `tesserad status` and the dashboard show it coming, as the metrics do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpace {
    /// Bytes an unprivileged process can still write (statvfs `f_bavail` × `f_frsize`).
    pub available: u64,
    /// The file system's size (`f_blocks` × `f_frsize`).
    pub size: u64,
}

/// A replica's latest compared checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointView {
    pub seq: u64,
    /// `Some(true)`: its digest is the one at least two agree on; `Some(false)`: it differs
    /// from it; `None`: no two digests agree yet.
    pub agrees: Option<bool>,
}

/// Why a replica was replaced, for watchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplaceCause {
    Voted(VoteReason),
    /// Its process exited.
    Exited,
    /// It could not carry out a request, or answered what was not asked.
    Failed,
}

/// Something a replica manager did or saw that an operator watches for (the dashboard's
/// timeline). Each is reported by the manager that knows it first-hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// Its replica was reported wrong at `seq`, the first of a run of wrong answers.
    Wrong { seq: u64 },
    /// This manager voted to replace `replica` in `generation`.
    Voted {
        replica: ReplicaId,
        generation: u32,
        reason: VoteReason,
    },
    /// Its replica was replaced by `incarnation`.
    Replaced {
        incarnation: Incarnation,
        cause: ReplaceCause,
    },
    /// A state transfer into its replica finished: a snapshot of `bytes` at `seq`, `millis`
    /// after it began.
    Transferred { seq: u64, bytes: u64, millis: u64 },
    /// Fault injection into its replica.
    Chaos { action: ChaosAction },
}

/// A notice, numbered per manager instance, and how long ago it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeEntry {
    pub number: u64,
    pub ms_ago: u64,
    pub notice: Notice,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequencerStatus {
    pub next_seq: u64,
    pub lowest_retained: u64,
    /// Datagrams the sequencer dropped as undecodable or unauthenticated.
    pub dropped_datagrams: u64,
    /// Entries kept for retransmission.
    pub retained: u64,
    /// Tells this start of the sequencer from others (its start time in Unix ms): a change
    /// means it restarted.
    pub instance: u64,
    /// `next_seq` when this instance started, after reading its log.
    pub started_at: u64,
    /// The view this node is in, and the primary of it it knows (`None`: no primary known,
    /// an election is under way).
    pub view: u64,
    pub primary: Option<u8>,
    /// Highest seq a majority of the sequencer nodes hold durably: everything up to it has
    /// been (or may be) sent to the managers.
    pub committed: u64,
    /// The file system of this node's log directory, as the node last read it.
    pub disk: Option<DiskSpace>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Front end → sequencer. `floor`: every request number of this front end below it has
    /// been acknowledged, so the sequencer may forget their assignments.
    Submit {
        floor: u64,
        entries: Vec<Submission>,
    },
    /// Sequencer → front end: these requests have these sequence numbers (durably).
    Ordered(Vec<(RequestId, u64)>),
    /// Sequencer → replica managers: consecutive or retransmitted sequenced requests.
    Data(Vec<Sequenced>),
    /// Sequencer → replica managers: highest assigned and lowest retained sequence number,
    /// so that a lost last message is noticed and a laggard knows what it can still get.
    /// `view`: the sender is its primary; a manager follows the primary of the highest view
    /// it has seen.
    Heartbeat {
        view: u64,
        high: u64,
        low: u64,
    },
    /// Primary → standby sequencer: the entries after `prev_seq` of its log (empty: a
    /// heartbeat), where the standby's log must hold `prev_seq` from view `prev_view`, and
    /// its views (`boundaries`, see `sequencer::views`) for these entries; `committed`: the
    /// highest seq a majority holds.
    Replicate {
        view: u64,
        prev_seq: u64,
        prev_view: u64,
        committed: u64,
        /// (first seq, view) of each view among `entries`, ascending.
        boundaries: Vec<(u64, u64)>,
        entries: Vec<Sequenced>,
    },
    /// Standby → primary: my log matches yours up to `durable` and holds it durably
    /// (`matched`), or does not hold `prev_seq` of your last `Replicate` from that view
    /// (`!matched`: resend from `durable + 1`, where my log still may).
    Replicated {
        view: u64,
        matched: bool,
        durable: u64,
    },
    /// Candidate sequencer → the others: make me primary of `view`; my log ends at
    /// `last_seq`, written in `last_view`.
    Candidacy {
        view: u64,
        last_view: u64,
        last_seq: u64,
    },
    /// Sequencer → candidate: whether it has this node's vote for `view`.
    Ballot {
        view: u64,
        granted: bool,
    },
    /// Replica manager → sequencer: cumulative; everything up to `received` is in hand and
    /// everything up to `applied` has been applied durably by the replica.
    Ack {
        received: u64,
        applied: u64,
    },
    /// Replica manager → sequencer: these inclusive ranges are missing.
    Nack(Vec<(u64, u64)>),
    /// Replica manager → front end.
    Reply(Vec<ReplyEntry>),
    /// Front end → replica manager: send the replies for these sequence numbers again.
    Reask(Vec<u64>),
    /// Front end → all replica managers.
    Faults(Vec<FaultReport>),
    /// Tool → any node.
    StatusQuery {
        nonce: u64,
    },
    SequencerStatus {
        nonce: u64,
        status: SequencerStatus,
    },
    RmStatus {
        nonce: u64,
        status: RmStatus,
    },
    /// Replica manager → all replica managers: my replica's state digest after `seq`, at a
    /// checkpoint seq or, when it went idle, at the seq it stopped at (a quiet digest).
    Checkpoint {
        seq: u64,
        incarnation: Incarnation,
        digest: [u8; 32],
    },
    /// Replica manager → all replica managers: replica `replica` in its `generation` should
    /// be replaced. Its owner replaces it once a majority of managers voted so.
    Vote {
        replica: ReplicaId,
        generation: u32,
        reason: VoteReason,
    },
    /// Replica manager → the owner of a replica reported missing: is it answering?
    Probe {
        nonce: u64,
    },
    /// Owner → prober: how long its replica has had work outstanding without answering
    /// (0: nothing outstanding, or it is answering).
    ProbeReply {
        nonce: u64,
        incarnation: Incarnation,
        stalled_ms: u64,
    },
    /// Owner → all replica managers: its replica was replaced (or, sent to one manager, is
    /// still) at `incarnation`.
    Replaced {
        incarnation: Incarnation,
    },
    /// A replica manager that just started → its peers: my replica is at `incarnation`; tell
    /// me where yours are and where you think mine is, and resend your votes against mine.
    /// Resent until every peer answered: a restarted manager trusts no memory but its own
    /// persisted incarnation.
    Hello {
        incarnation: Incarnation,
    },
    /// Peer → a manager that sent `Hello`.
    Welcome {
        mine: Incarnation,
        yours: Incarnation,
    },
    /// Recovering replica manager → peers: which checkpoints can you serve, and (`fetch`)
    /// send me the snapshot after that seq.
    SnapshotQuery {
        nonce: u64,
        fetch: Option<u64>,
    },
    /// Peer → recovering replica manager.
    SnapshotOffer {
        nonce: u64,
        /// (seq, digest) of the checkpoint snapshots this manager holds.
        checkpoints: Vec<(u64, [u8; 32])>,
        /// The canonical snapshot bytes after `seq`, when fetched.
        snapshot: Option<(u64, Vec<u8>)>,
    },
    /// Tool → replica manager.
    Chaos {
        nonce: u64,
        action: ChaosAction,
    },
    ChaosReply {
        nonce: u64,
        accepted: bool,
        detail: String,
    },
    /// Recovering replica manager → the peer it chose: send the part of your snapshot after
    /// `seq` that starts at byte `offset`. A snapshot outgrows one message (1,000,000
    /// reservations are about 9 MB, a message at most `cluster.max_message_bytes`), so it
    /// travels in parts, asked for one after another.
    SnapshotFetch {
        nonce: u64,
        seq: u64,
        offset: u64,
    },
    /// Peer → recovering replica manager: `bytes` of the snapshot after `seq`, which is
    /// `total` bytes long, from byte `offset` on. A peer that no longer holds that snapshot
    /// answers with a `SnapshotOffer` of what it holds instead.
    SnapshotPart {
        nonce: u64,
        seq: u64,
        total: u64,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// Front end → sequencer node: what is your commit point? Answered by a primary only,
    /// once it knows it still is one (`docs/protocol.md`, "Fast reads").
    ReadIndex {
        nonce: u64,
    },
    /// Primary sequencer → front end: every seq announced before your `ReadIndex` arrived
    /// is at most `committed`.
    ReadIndexIs {
        nonce: u64,
        view: u64,
        committed: u64,
    },
    /// Front end → replica manager: answer these reads from a state at or after their
    /// `at_least`, without ordering them.
    Read(Vec<ReadEntry>),
    /// Replica manager → front end (the address the `Read` came from).
    ReadReply(Vec<ReadReplyEntry>),
    /// Primary → standby sequencer: do you still follow me in `view`? Sent after a
    /// `ReadIndex` arrived; `round` numbers the question.
    ReadConfirm {
        view: u64,
        round: u64,
    },
    /// Standby → primary: yes, I was in your `view` when your `ReadConfirm` of `round` came.
    ReadConfirmed {
        view: u64,
        round: u64,
    },
}

impl Message {
    /// The header's kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Submit { .. } => 1,
            Message::Ordered(_) => 2,
            Message::Data(_) => 3,
            Message::Heartbeat { .. } => 4,
            Message::Ack { .. } => 5,
            Message::Nack(_) => 6,
            Message::Reply(_) => 7,
            Message::Reask(_) => 8,
            Message::Faults(_) => 9,
            Message::StatusQuery { .. } => 10,
            Message::SequencerStatus { .. } => 11,
            Message::RmStatus { .. } => 12,
            Message::Checkpoint { .. } => 13,
            Message::Vote { .. } => 14,
            Message::Probe { .. } => 15,
            Message::ProbeReply { .. } => 16,
            Message::Replaced { .. } => 17,
            Message::SnapshotQuery { .. } => 18,
            Message::SnapshotOffer { .. } => 19,
            Message::Chaos { .. } => 20,
            Message::ChaosReply { .. } => 21,
            Message::Hello { .. } => 22,
            Message::Welcome { .. } => 23,
            Message::Replicate { .. } => 24,
            Message::Replicated { .. } => 25,
            Message::Candidacy { .. } => 26,
            Message::Ballot { .. } => 27,
            Message::SnapshotFetch { .. } => 28,
            Message::SnapshotPart { .. } => 29,
            Message::ReadIndex { .. } => 30,
            Message::ReadIndexIs { .. } => 31,
            Message::Read(_) => 32,
            Message::ReadReply(_) => 33,
            Message::ReadConfirm { .. } => 34,
            Message::ReadConfirmed { .. } => 35,
        }
    }

    pub fn kind_name(kind: u8) -> &'static str {
        match kind {
            1 => "submit",
            2 => "ordered",
            3 => "data",
            4 => "heartbeat",
            5 => "ack",
            6 => "nack",
            7 => "reply",
            8 => "reask",
            9 => "faults",
            10 => "status-query",
            11 => "sequencer-status",
            12 => "rm-status",
            13 => "checkpoint",
            14 => "vote",
            15 => "probe",
            16 => "probe-reply",
            17 => "replaced",
            18 => "snapshot-query",
            19 => "snapshot-offer",
            20 => "chaos",
            21 => "chaos-reply",
            22 => "hello",
            23 => "welcome",
            24 => "replicate",
            25 => "replicated",
            26 => "candidacy",
            27 => "ballot",
            28 => "snapshot-fetch",
            29 => "snapshot-part",
            30 => "read-index",
            31 => "read-index-is",
            32 => "read",
            33 => "read-reply",
            34 => "read-confirm",
            35 => "read-confirmed",
            _ => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_round_trip() {
        for n in [
            NodeId::Sequencer(1),
            NodeId::ReplicaManager(ReplicaId::ALL[0]),
            NodeId::ReplicaManager(ReplicaId::ALL[3]),
            NodeId::FrontEnd(7),
            NodeId::Tool(0x00ff_ffff),
        ] {
            assert_eq!(NodeId::from_wire(n.to_wire()), Some(n));
        }
        assert_eq!(NodeId::from_wire(0x0400_0000), None);
        assert_eq!(NodeId::from_wire(0x0100_0005), None, "no replica manager 5");
        assert_eq!(NodeId::from_wire(0x0100_0000), None, "nor 0");
        assert_eq!(NodeId::from_wire(0x0000_0003), Some(NodeId::Sequencer(3)));
        assert_eq!(NodeId::from_wire(0x0000_0000), None, "no sequencer 0");
        assert_eq!(NodeId::from_wire(0x0000_0008), None, "nor 8");
    }
}
