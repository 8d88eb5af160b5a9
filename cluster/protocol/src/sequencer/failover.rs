//! Several sequencer nodes: the primary of a view orders, the standbys keep its log, and when
//! the primary is gone a standby takes over in the next view. This is Raft's log replication
//! and leader election with views for terms (`docs/protocol.md`, "Sequencer failover", has
//! the argument):
//!
//! - an entry counts (is *committed*, and only then announced to front ends and managers)
//!   once a majority of the nodes hold it durably, and only from an entry of the primary's
//!   own view on (hence the new primary's no-op);
//! - a standby appends only where its log matches the primary's (same seq from the same view
//!   before the new entries), replacing anything that conflicts;
//! - a node votes once per view, persisted before the vote is sent, and only for a candidate
//!   whose log is at least as up to date as its own, so that every primary holds every
//!   committed entry and the managers never need to be asked what was ordered;
//! - a node that still hears its primary ignores candidates (a returning or cut-off node
//!   cannot depose a working primary), and a primary that stops hearing a majority steps
//!   down, so that it stops announcing.
//!
//! Timing has no randomness: a standby stands once it has not heard the primary for
//! `liveness`, later by a quarter of `liveness` per standby of higher priority, so the
//! highest-priority live standby usually wins the first round; after a round nobody won,
//! each stands again after its own interval, no two alike (`stand_again_after`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{batch, views::Meta, InFlight, Retained, Sequencer, SequencerConfig};
use crate::wire::{Message, RequestId, Sequenced};
use crate::Destination;

/// Most entry bytes in one `Replicate`, well within any message limit: a bigger batch goes as
/// several.
const REPLICATE_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Primary,
    Standby { primary: Option<u8> },
    Candidate { votes: BTreeSet<u8> },
}

/// What the primary knows of another sequencer node.
struct Peer {
    id: u8,
    /// Its log matches ours durably up to here (in this view).
    matched: u64,
    /// Next seq to send it.
    next: u64,
    heard: Option<Instant>,
    /// Highest read round it confirmed in this node's current view as primary (`reads`).
    read_round: u64,
}

pub(super) struct State {
    pub(super) view: u64,
    voted_for: Option<u8>,
    role: Role,
    /// The meta changed and must be written before anything that depends on it.
    pub(super) meta_dirty: bool,
    /// A log truncation to hand out (before the meta).
    pub(super) truncate_to: Option<u64>,
    /// Messages to other sequencer nodes held until the meta they depend on is durable.
    held: Vec<(u8, Message)>,
    me: u8,
    nodes: Vec<u8>,
    peers: Vec<Peer>,
    /// When a standby stands for the next view, unless it hears the primary first.
    stand_at: Instant,
    /// When a standby last heard its primary.
    primary_heard: Option<Instant>,
    /// The primary this node last followed or was, which the others' stagger skips.
    last_primary: Option<u8>,
    /// Standby: its log matches the primary's up to here (known from this view's messages).
    confirmed: u64,
    /// Primary: last time it heard a majority (itself included).
    quorum_at: Instant,
    /// Primary: since when.
    primary_since: Instant,
    next_beat: Instant,
    timeouts: crate::Timeouts,
}

impl State {
    pub(super) fn new(cfg: &SequencerConfig, meta: &Meta, now: Instant) -> Self {
        let nodes: Vec<u8> = if cfg.nodes.contains(&cfg.me) {
            cfg.nodes.clone()
        } else {
            vec![cfg.me]
        };
        let peers = nodes
            .iter()
            .filter(|&&n| n != cfg.me)
            .map(|&id| Peer {
                id,
                matched: 0,
                next: 1,
                heard: None,
                read_round: 0,
            })
            .collect::<Vec<_>>();
        let single = peers.is_empty();
        let mut s = State {
            view: meta.view,
            voted_for: meta.voted_for,
            role: if single {
                Role::Primary
            } else {
                Role::Standby { primary: None }
            },
            meta_dirty: false,
            truncate_to: None,
            held: Vec::new(),
            me: cfg.me,
            nodes,
            peers,
            stand_at: now,
            primary_heard: None,
            last_primary: None,
            confirmed: 0,
            quorum_at: now,
            primary_since: now,
            next_beat: now,
            timeouts: cfg.timeouts,
        };
        // A node of a cluster that never had a primary stands at once (after its stagger);
        // a restarted one first listens for the primary it may have missed.
        let wait = if meta.view == 0 {
            Duration::ZERO
        } else {
            s.timeouts.liveness
        };
        s.stand_at = now + wait + s.stagger();
        s
    }

    pub(super) fn single(&self) -> bool {
        self.peers.is_empty()
    }

    pub(super) fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }

    pub(super) fn primary(&self) -> Option<u8> {
        match self.role {
            Role::Primary => Some(self.me),
            Role::Standby { primary } => primary,
            Role::Candidate { .. } => None,
        }
    }

    pub(super) fn peer_ids(&self) -> Vec<u8> {
        self.peers.iter().map(|p| p.id).collect()
    }

    pub(super) fn confirm_read_round(&mut self, peer: u8, round: u64) {
        if let Some(p) = self.peers.iter_mut().find(|p| p.id == peer) {
            p.read_round = p.read_round.max(round);
        }
    }

    /// The highest read round that this node and enough standbys to make a majority have
    /// confirmed (with one node: every round).
    pub(super) fn confirmed_read_round(&self) -> u64 {
        let mut rounds: Vec<u64> = self.peers.iter().map(|p| p.read_round).collect();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        match self.majority().checked_sub(2) {
            // The majority is this node and the (majority - 1) standbys of highest rounds.
            Some(i) => rounds.get(i).copied().unwrap_or(0),
            None => u64::MAX,
        }
    }

    fn majority(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// This node's wait beyond `liveness` before it stands: a quarter of `liveness` per node
    /// of higher priority, the primary it lost counted last (that may be itself, stepped down
    /// for a reason that may still hold).
    fn stagger(&self) -> Duration {
        let rank = self
            .nodes
            .iter()
            .filter(|&&n| Some(n) != self.last_primary)
            .chain(self.last_primary.as_ref())
            .position(|&n| n == self.me)
            .unwrap_or(0);
        self.timeouts.liveness / 4 * rank as u32
    }

    /// When a node stands again after a round nobody won: half a `liveness` and its stagger
    /// later, and a little more per node before it in the configured order (less, all told,
    /// than one step of the stagger, so that a difference in order never cancels one in
    /// stagger). Two nodes that disagree on the last primary (one restarted without knowing
    /// it was) may have the same stagger; without the difference they would stand at the
    /// same moments again, each for itself, round after round, and no view would be won.
    fn stand_again_after(&self) -> Duration {
        let nodes = self.nodes.len().max(1) as u32;
        let index = self.nodes.iter().position(|&n| n == self.me).unwrap_or(0) as u32;
        self.timeouts.liveness / 2 + self.stagger() + self.timeouts.liveness / 4 / nodes * index
    }

    fn listen_until(&mut self, now: Instant) {
        self.stand_at = now + self.timeouts.liveness + self.stagger();
    }

    fn peer(&mut self, id: u8) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.id == id)
    }
}

impl Sequencer {
    pub(super) fn meta(&self) -> Meta {
        Meta {
            view: self.fo.view,
            voted_for: self.fo.voted_for,
            boundaries: self.views.boundaries().to_vec(),
        }
    }

    /// Everything to other sequencer nodes waits while a meta change is unwritten: a vote,
    /// or an acknowledgement in a new view, must survive a crash of its sender.
    fn send_peer(&mut self, to: u8, msg: Message) {
        if self.fo.meta_dirty || self.inflight == Some(InFlight::Meta) {
            self.fo.held.push((to, msg));
        } else {
            self.send(Destination::Sequencer(to), &msg);
        }
    }

    pub(super) fn on_meta_durable(&mut self) {
        if self.fo.meta_dirty {
            return;
        }
        for (to, msg) in std::mem::take(&mut self.fo.held) {
            self.send(Destination::Sequencer(to), &msg);
        }
    }

    pub(super) fn on_peer(&mut self, now: Instant, peer: u8, msg: Message) {
        if let Some(p) = self.fo.peer(peer) {
            p.heard = Some(now);
        } else {
            return;
        }
        match msg {
            Message::Replicate {
                view,
                prev_seq,
                prev_view,
                committed,
                boundaries,
                entries,
            } => self.on_replicate(
                now,
                peer,
                view,
                (prev_seq, prev_view),
                committed,
                boundaries,
                entries,
            ),
            Message::Replicated {
                view,
                matched,
                durable,
            } => self.on_replicated(now, peer, view, matched, durable),
            Message::Candidacy {
                view,
                last_view,
                last_seq,
            } => self.on_candidacy(now, peer, view, (last_view, last_seq)),
            Message::Ballot { view, granted } => self.on_ballot(now, peer, view, granted),
            Message::ReadConfirm { view, round } => self.on_read_confirm(peer, view, round),
            Message::ReadConfirmed { view, round } => self.on_read_confirmed(peer, view, round),
            _ => {}
        }
    }

    /// A node of a later view exists: follow it (as a standby that does not know the
    /// primary yet). A standby's or candidate's own time to stand stays as it was (Raft
    /// restarts that clock only for a vote given or a primary heard): a candidate whose log
    /// cannot win must not keep the one whose log can from ever standing.
    fn adopt_view(&mut self, now: Instant, view: u64) {
        if view > self.fo.view {
            self.fo.view = view;
            self.fo.voted_for = None;
            self.fo.meta_dirty = true;
            self.fo.confirmed = 0;
            if self.fo.is_primary() {
                self.step_down(now);
            } else {
                self.fo.role = Role::Standby { primary: None };
            }
        }
    }

    fn step_down(&mut self, now: Instant) {
        if self.fo.is_primary() {
            self.fo.last_primary = Some(self.fo.me);
            // Front ends resubmit what was not ordered to whoever is primary next.
            self.awaiting.clear();
            // And fall back to ordering the reads whose index was not given.
            self.read_waiting.clear();
        }
        self.fo.role = Role::Standby { primary: None };
        self.fo.listen_until(now);
    }

    fn last_entry(&self) -> (u64, u64) {
        let last = self.next_seq - 1;
        (self.views.view_of(last), last)
    }

    // ---- standby ----

    #[allow(clippy::too_many_arguments)]
    fn on_replicate(
        &mut self,
        now: Instant,
        from: u8,
        view: u64,
        (prev_seq, prev_view): (u64, u64),
        committed: u64,
        boundaries: Vec<(u64, u64)>,
        entries: Vec<Sequenced>,
    ) {
        if view < self.fo.view {
            // Tell the old primary there is a later view.
            let msg = Message::Replicated {
                view: self.fo.view,
                matched: false,
                durable: self.durable,
            };
            self.send_peer(from, msg);
            return;
        }
        self.adopt_view(now, view);
        if self.fo.is_primary() {
            // One primary per view: this cannot come from a correct node.
            return;
        }
        self.fo.role = Role::Standby {
            primary: Some(from),
        };
        self.fo.last_primary = Some(from);
        self.fo.primary_heard = Some(now);
        self.fo.listen_until(now);

        let last = self.next_seq - 1;
        let checkable =
            prev_seq == 0 || (prev_seq >= self.base.saturating_sub(1) && prev_seq <= last);
        if !checkable {
            // Ask for what follows the log's end, or its oldest entry in memory.
            let hint = if prev_seq > last {
                last
            } else {
                self.base.saturating_sub(1).min(last)
            };
            self.reject(from, hint);
            return;
        }
        if prev_seq > 0 && self.views.view_of(prev_seq) != prev_view {
            // That entry, and everything after it, is not the primary's: replace it. Ask
            // from the start of its view's run, where the logs may still agree.
            let hint = self.views.run_start(prev_seq).saturating_sub(1);
            self.truncate_log_after(prev_seq - 1);
            self.reject(from, hint.min(prev_seq - 1));
            return;
        }
        let incoming = super::views::Views::new(boundaries);
        let mut end = prev_seq;
        for entry in entries {
            if entry.seq != end + 1 {
                break;
            }
            end = entry.seq;
            let entry_view = incoming.view_of(entry.seq);
            if entry.seq < self.next_seq {
                if self.views.view_of(entry.seq) == entry_view {
                    continue;
                }
                self.truncate_log_after(entry.seq - 1);
            }
            self.append_entry(entry, entry_view);
        }
        self.fo.confirmed = self.fo.confirmed.max(end);
        let known = committed.min(self.fo.confirmed);
        if known > self.committed {
            self.committed = known;
        }
        // New entries are acknowledged once durable (`handle_persisted`); a heartbeat, a
        // duplicate or a conflict's repair is answered now, so that the primary hears this
        // node and learns how far it matches.
        if self.durable >= self.fo.confirmed {
            self.acknowledge_primary();
        }
    }

    fn reject(&mut self, to: u8, hint: u64) {
        let msg = Message::Replicated {
            view: self.fo.view,
            matched: false,
            durable: hint,
        };
        self.send_peer(to, msg);
    }

    /// Appends one entry to the in-memory log (the shell persists it next).
    fn append_entry(&mut self, entry: Sequenced, view: u64) {
        if self.views.append(entry.seq, view) {
            self.fo.meta_dirty = true;
        }
        self.wall_ms = self.wall_ms.max(entry.timestamp_ms);
        self.dedup.insert(entry.id, entry.seq);
        self.next_seq = entry.seq + 1;
        let size = batch::encoded_size(&entry);
        self.retained.push_back(Retained { entry, size });
        self.dedup.prune_window(self.next_seq);
    }

    /// Entries above `seq` are not the primary's: gone from memory now, from the log before
    /// anything appended after them.
    fn truncate_log_after(&mut self, seq: u64) {
        if seq >= self.next_seq - 1 {
            return;
        }
        while self.next_seq - 1 > seq {
            if self.retained.pop_back().is_none() {
                break;
            }
            self.next_seq -= 1;
        }
        self.next_seq = seq + 1;
        self.base = self.base.min(self.next_seq);
        self.views.truncate_after(seq);
        self.dedup.remove_above(seq);
        self.durable = self.durable.min(seq);
        self.persist_next = self.persist_next.min(seq + 1);
        self.fo.confirmed = self.fo.confirmed.min(seq);
        if let Some(InFlight::Append { valid, .. }) = &mut self.inflight {
            *valid = (*valid).min(seq);
        }
        self.fo.truncate_to = Some(self.fo.truncate_to.map_or(seq, |t| t.min(seq)));
        // The meta names the views of what is left; written after the truncation.
        self.fo.meta_dirty = true;
    }

    /// Tells the primary how far this log matches its own durably.
    pub(super) fn acknowledge_primary(&mut self) {
        let Role::Standby {
            primary: Some(primary),
        } = self.fo.role
        else {
            return;
        };
        let msg = Message::Replicated {
            view: self.fo.view,
            matched: true,
            durable: self.durable.min(self.fo.confirmed),
        };
        self.send_peer(primary, msg);
    }

    // ---- primary ----

    fn on_replicated(&mut self, now: Instant, from: u8, view: u64, matched: bool, durable: u64) {
        if view > self.fo.view {
            self.adopt_view(now, view);
            return;
        }
        if view < self.fo.view || !self.fo.is_primary() {
            return;
        }
        let last = self.next_seq - 1;
        let Some(peer) = self.fo.peer(from) else {
            return;
        };
        if matched {
            let durable = durable.min(last);
            peer.matched = peer.matched.max(durable);
            peer.next = peer.next.max(durable + 1);
            self.advance_commit(now);
        } else {
            peer.next = durable.min(last) + 1;
            let next = peer.next;
            let sent = self.send_replicate(from, next, last, super::RESEND_BUDGET);
            if let Some(p) = self.fo.peer(from) {
                p.next = sent;
            }
        }
    }

    /// The primary's commit point: the highest seq a majority holds durably, if it is of this
    /// view (Raft's rule: an earlier view's entry is committed only below one of this view).
    pub(super) fn advance_commit(&mut self, now: Instant) {
        if !self.fo.is_primary() {
            return;
        }
        let mut held: Vec<u64> = self.fo.peers.iter().map(|p| p.matched).collect();
        held.push(self.durable);
        held.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&upto) = held.get(self.fo.majority() - 1) else {
            return;
        };
        if upto > self.committed && self.views.view_of(upto) == self.fo.view {
            self.commit(now, upto);
        }
    }

    /// A new batch was handed out to the log: send it to every standby that is caught up.
    pub(super) fn replicate_new(&mut self, first: u64, end: u64) {
        if !self.fo.is_primary() {
            return;
        }
        let ids: Vec<u8> = self
            .fo
            .peers
            .iter()
            .filter(|p| p.next == first)
            .map(|p| p.id)
            .collect();
        for id in ids {
            let next = self.send_replicate(id, first, end, usize::MAX);
            if let Some(p) = self.fo.peer(id) {
                p.next = next;
            }
        }
    }

    /// Sends entries `from..=to` (as far as `budget` bytes go, at least one entry; none is a
    /// heartbeat) and returns the seq after the last sent. Entries no longer in memory cannot
    /// be sent: such a standby stays behind (it no longer counts for the majority).
    fn send_replicate(&mut self, to: u8, from: u64, to_seq: u64, budget: usize) -> u64 {
        let from = from.max(1);
        let prev_seq = from - 1;
        if prev_seq + 1 < self.base && prev_seq > 0 && from <= to_seq {
            return from;
        }
        let prev_view = self.views.view_of(prev_seq);
        let mut chunks: Vec<Vec<Sequenced>> = Vec::new();
        let mut chunk = Vec::new();
        let (mut bytes, mut left) = (0, budget);
        if let (Some(a), Some(b)) = (self.index(from), self.index(to_seq)) {
            for kept in self.retained.range(a..=b) {
                if left == 0 {
                    break;
                }
                left = left.saturating_sub(kept.size);
                if bytes + kept.size > REPLICATE_BYTES && !chunk.is_empty() {
                    chunks.push(std::mem::take(&mut chunk));
                    bytes = 0;
                }
                bytes += kept.size;
                chunk.push(kept.entry.clone());
            }
        }
        chunks.push(chunk);
        let mut prev = (prev_seq, prev_view);
        for entries in chunks {
            let last = entries.last().map_or(prev.0, |e| e.seq);
            let boundaries = match entries.first() {
                Some(e) => self.views.slice(e.seq, last),
                None => Vec::new(),
            };
            let msg = Message::Replicate {
                view: self.fo.view,
                prev_seq: prev.0,
                prev_view: prev.1,
                committed: self.committed,
                boundaries,
                entries,
            };
            self.send_peer(to, msg);
            prev = (last, self.views.view_of(last));
        }
        prev.0 + 1
    }

    /// Lowest seq a live standby still needs from memory (`u64::MAX`: none).
    pub(super) fn peers_floor(&self, now: Instant) -> u64 {
        if !self.fo.is_primary() {
            return u64::MAX;
        }
        self.fo
            .peers
            .iter()
            .filter(|p| p.heard.is_some_and(|h| self.is_live_at(h, now)))
            .map(|p| p.matched + 1)
            .min()
            .unwrap_or(u64::MAX)
    }

    // ---- elections ----

    fn on_candidacy(&mut self, now: Instant, from: u8, view: u64, their_last: (u64, u64)) {
        // Raft's guard against disruption: while the primary is heard, nobody else may be
        // elected. "Heard" is within half of `liveness`: the first standby stands when it has
        // not heard the primary for `liveness`, and the others last heard it at about the
        // same time, so by then each of them must already count it as silent.
        let recently = self.fo.timeouts.liveness / 2;
        let hears_primary = match self.fo.role {
            Role::Primary => true,
            Role::Standby { primary: Some(_) } => self
                .fo
                .primary_heard
                .is_some_and(|h| now.saturating_duration_since(h) < recently),
            _ => false,
        };
        if view < self.fo.view || hears_primary {
            let msg = Message::Ballot {
                view: self.fo.view.max(view),
                granted: false,
            };
            self.send_peer(from, msg);
            return;
        }
        self.adopt_view(now, view);
        let granted =
            their_last >= self.last_entry() && self.fo.voted_for.is_none_or(|v| v == from);
        if granted && self.fo.voted_for.is_none() {
            self.fo.voted_for = Some(from);
            self.fo.meta_dirty = true;
        }
        if granted {
            self.fo.listen_until(now);
        }
        self.send_peer(from, Message::Ballot { view, granted });
    }

    fn on_ballot(&mut self, now: Instant, from: u8, view: u64, granted: bool) {
        if view > self.fo.view {
            self.adopt_view(now, view);
            return;
        }
        let majority = self.fo.majority();
        if let Role::Candidate { votes } = &mut self.fo.role {
            if view == self.fo.view && granted {
                votes.insert(from);
                if votes.len() + 1 >= majority {
                    self.become_primary(now);
                }
            }
        }
    }

    fn stand(&mut self, now: Instant) {
        self.fo.view += 1;
        self.fo.voted_for = Some(self.fo.me);
        self.fo.meta_dirty = true;
        self.fo.confirmed = 0;
        self.fo.role = Role::Candidate {
            votes: BTreeSet::new(),
        };
        // If no one wins this round, stand again later, after an interval no other node has.
        self.fo.stand_at = now + self.fo.stand_again_after();
        let (last_view, last_seq) = self.last_entry();
        let ids: Vec<u8> = self.fo.peers.iter().map(|p| p.id).collect();
        for id in ids {
            let msg = Message::Candidacy {
                view: self.fo.view,
                last_view,
                last_seq,
            };
            self.send_peer(id, msg);
        }
    }

    fn become_primary(&mut self, now: Instant) {
        self.fo.role = Role::Primary;
        self.fo.last_primary = Some(self.fo.me);
        self.fo.quorum_at = now;
        self.fo.primary_since = now;
        self.fo.next_beat = now;
        let next = self.next_seq;
        for p in &mut self.fo.peers {
            p.matched = 0;
            p.next = next;
            p.read_round = 0;
        }
        // Read indexes wait for this view's first entry, the no-op below.
        self.view_first = next;
        self.read_waiting.clear();
        // The managers are heard afresh; the new view is announced at once.
        self.rms = std::array::from_fn(|_| super::Rm::new(now));
        self.next_heartbeat = now;
        self.fresh = true;
        let noop = Sequenced {
            seq: self.next_seq,
            id: RequestId {
                front_end: 0,
                number: self.fo.view,
            },
            reply_to: self.cfg.noop_reply_to,
            timestamp_ms: self.wall_ms,
            request: self.cfg.noop.clone(),
            trace: format!("view {}", self.fo.view),
        };
        self.append_entry(noop, self.fo.view);
    }

    /// Elections and the primary's standby heartbeats.
    pub(super) fn failover_timeout(&mut self, now: Instant) {
        if self.fo.single() {
            return;
        }
        if self.fo.is_primary() {
            let liveness = self.fo.timeouts.liveness;
            let heard = 1 + self
                .fo
                .peers
                .iter()
                .filter(|p| {
                    p.heard
                        .is_some_and(|h| now.saturating_duration_since(h) <= liveness)
                })
                .count();
            if heard >= self.fo.majority() {
                self.fo.quorum_at = now;
            } else if now.saturating_duration_since(self.fo.quorum_at) > liveness {
                // Cut off from a majority: a new primary may be taking over; stop announcing.
                self.step_down(now);
                return;
            }
            // Cut off from the managers (an answer needs two): a standby that reaches them
            // may do better. Stepping down stops this node's heartbeats, so the standbys
            // stand after `liveness`, this node last.
            let managers = self
                .rms
                .iter()
                .filter(|rm| rm.heard && self.is_live(rm, now))
                .count();
            if managers < 2 && now.saturating_duration_since(self.fo.primary_since) > liveness {
                self.step_down(now);
                return;
            }
            if now >= self.fo.next_beat {
                let last = self.next_seq - 1;
                let targets: Vec<(u8, u64)> =
                    self.fo.peers.iter().map(|p| (p.id, p.next)).collect();
                for (id, next) in targets {
                    let sent = self.send_replicate(id, next, last, super::RESEND_BUDGET);
                    if let Some(p) = self.fo.peer(id) {
                        p.next = sent;
                    }
                }
                self.fo.next_beat = now + super::heartbeat_interval(&self.fo.timeouts);
            }
        } else if now >= self.fo.stand_at {
            self.stand(now);
        }
    }

    pub(super) fn failover_deadline(&self) -> Instant {
        if self.fo.single() {
            return self.now + Duration::from_secs(3600);
        }
        if self.fo.is_primary() {
            self.fo
                .next_beat
                .min(self.fo.quorum_at + self.fo.timeouts.liveness + super::MIN_INTERVAL)
        } else {
            self.fo.stand_at
        }
    }
}
