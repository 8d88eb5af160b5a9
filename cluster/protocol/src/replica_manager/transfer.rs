//! State transfer: brings a fresh replica (or one too far behind to replay) to the current
//! state from a checkpoint snapshot, never by trusting its own old state.
//!
//! 1. Ask every peer which checkpoint snapshots it holds (`SnapshotQuery`).
//! 2. Choose the highest checkpoint seq S for which at least two peers report the same
//!    digest, and after which the sequencer still retains every request (so S + 1 can be
//!    replayed). Before any checkpoint exists, the empty state at 0 is that checkpoint.
//! 3. Fetch S's bytes from one of those peers, part after part (`SnapshotFetch`,
//!    `SnapshotPart`: a snapshot outgrows one message), and accept them only if their digest
//!    is the agreed one; otherwise try another peer.
//!
//! The manager then installs the snapshot and replays from S + 1 (buffered meanwhile).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use tessera_types::Digest;

use crate::wire::Message;
use crate::{Destination, ReplicaId};

/// What to install: `None` is the empty state at seq 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    pub seq: u64,
    pub snapshot: Option<Vec<u8>>,
}

/// A peer asked for a snapshot this many retry intervals without delivering it is passed over.
const FETCH_TRIES: u32 = 5;

/// Largest snapshot accepted: what a replica's pipe carries in one frame. A peer announcing
/// more is not believed (it would make us reserve memory for a lie).
pub const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

/// One part of a snapshot, as a peer sent it (`Message::SnapshotPart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The checkpoint seq the snapshot stands for.
    pub seq: u64,
    /// The snapshot's whole length.
    pub total: u64,
    /// Where in the snapshot `bytes` begin.
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// The snapshot being fetched.
struct Fetch {
    seq: u64,
    digest: [u8; 32],
    peer: ReplicaId,
    /// When the peer was last asked and answered with progress (or first asked).
    progress: Instant,
    /// The bytes received so far, in order.
    bytes: Vec<u8>,
    /// The length the peer announced with its first part.
    total: Option<u64>,
}

pub struct StateTransfer {
    me: ReplicaId,
    nonce: u64,
    retry: Duration,
    offers: BTreeMap<ReplicaId, Vec<(u64, [u8; 32])>>,
    fetch: Option<Fetch>,
    /// Peers whose bytes failed verification: not asked again.
    distrusted: Vec<ReplicaId>,
    next_query: Instant,
    /// When the snapshot being fetched is asked for again.
    next_fetch: Instant,
    done: Option<Install>,
    /// The outcome was decided (and perhaps already taken): nothing more is asked or offered,
    /// so one transfer installs exactly one snapshot.
    finished: bool,
    out: VecDeque<(Destination, Message)>,
}

impl StateTransfer {
    pub fn start(me: ReplicaId, nonce: u64, retry: Duration, now: Instant) -> Self {
        let mut t = StateTransfer {
            me,
            nonce,
            retry,
            offers: BTreeMap::new(),
            fetch: None,
            distrusted: Vec::new(),
            next_query: now,
            next_fetch: now,
            done: None,
            finished: false,
            out: VecDeque::new(),
        };
        t.query(now);
        t
    }

    fn peers(&self) -> impl Iterator<Item = ReplicaId> + '_ {
        self.me.others().filter(|p| !self.distrusted.contains(p))
    }

    fn query(&mut self, now: Instant) {
        let nonce = self.nonce;
        let peers: Vec<ReplicaId> = self.peers().collect();
        for p in peers {
            self.out.push_back((
                Destination::ReplicaManager(p),
                Message::SnapshotQuery { nonce, fetch: None },
            ));
        }
        self.next_query = now + self.retry;
    }

    /// A peer's offer. `replay_floor` is the lowest seq the sequencer still retains (0 if not
    /// known yet).
    pub fn on_offer(
        &mut self,
        now: Instant,
        from: ReplicaId,
        nonce: u64,
        checkpoints: Vec<(u64, [u8; 32])>,
        snapshot: Option<(u64, Vec<u8>)>,
        replay_floor: u64,
    ) {
        if nonce != self.nonce
            || self.finished
            || from == self.me
            || self.distrusted.contains(&from)
        {
            return;
        }
        let still_held = |seq: u64| checkpoints.iter().any(|(s, _)| *s == seq);
        if let Some(f) = &self.fetch {
            if f.peer == from && snapshot.is_none() && !still_held(f.seq) {
                // It no longer keeps that checkpoint (it keeps only its latest two): choose
                // again now from what it holds, instead of waiting for the fetch to time out.
                self.fetch = None;
            }
        }
        self.offers.insert(from, checkpoints);
        // A whole snapshot in one offer: what a peer of an earlier version sends when it fits
        // one message.
        if let Some((got_seq, bytes)) = snapshot {
            let wanted = self
                .fetch
                .as_ref()
                .is_some_and(|f| f.peer == from && f.seq == got_seq);
            if wanted {
                self.verify(from, bytes);
                if self.finished {
                    return;
                }
            }
        }
        if self.fetch.is_none() {
            self.choose(now, replay_floor);
        }
    }

    /// A part of the snapshot being fetched. Parts come in order, one asked for at a time; a
    /// part at any other offset (a duplicate, or a late answer to an earlier ask) is ignored.
    /// `replay_floor` as for [`on_offer`](Self::on_offer).
    pub fn on_part(
        &mut self,
        now: Instant,
        from: ReplicaId,
        nonce: u64,
        part: Part,
        replay_floor: u64,
    ) {
        if nonce != self.nonce || self.finished {
            return;
        }
        let Some(f) = self.fetch.as_mut() else { return };
        let Part {
            seq,
            total,
            offset,
            bytes,
        } = part;
        if f.peer != from || f.seq != seq || offset != f.bytes.len() as u64 {
            return;
        }
        let end = offset.saturating_add(bytes.len() as u64);
        let consistent = f.total.is_none_or(|t| t == total);
        if !consistent
            || total > MAX_SNAPSHOT_BYTES
            || end > total
            || (bytes.is_empty() && end < total)
        {
            self.distrust(from);
            self.choose(now, replay_floor);
            return;
        }
        // The claimed total reserves nothing: the bytes grow as they arrive.
        f.total = Some(total);
        f.bytes.extend_from_slice(&bytes);
        f.progress = now;
        if end == total {
            let whole = std::mem::take(&mut f.bytes);
            self.verify(from, whole);
            if !self.finished {
                self.choose(now, replay_floor);
            }
        } else {
            self.ask_for(now);
        }
    }

    /// The whole snapshot from `from`: installed if its digest is the agreed one, otherwise
    /// that peer is not asked again.
    fn verify(&mut self, from: ReplicaId, bytes: Vec<u8>) {
        let Some(f) = &self.fetch else { return };
        if Digest::of_state(&bytes).0 == f.digest {
            let seq = f.seq;
            self.finish(Install {
                seq,
                snapshot: Some(bytes),
            });
        } else {
            self.distrust(from);
        }
    }

    fn distrust(&mut self, peer: ReplicaId) {
        self.distrusted.push(peer);
        self.offers.remove(&peer);
        self.fetch = None;
    }

    fn choose(&mut self, now: Instant, replay_floor: u64) {
        let mut support: BTreeMap<(u64, [u8; 32]), Vec<ReplicaId>> = BTreeMap::new();
        for (peer, cps) in &self.offers {
            for cp in cps {
                support.entry(*cp).or_default().push(*peer);
            }
        }
        let replayable = |seq: u64| replay_floor == 0 || seq + 1 >= replay_floor;
        let best = support
            .iter()
            .rev()
            .find(|((seq, _), peers)| peers.len() >= 2 && replayable(*seq))
            .map(|((seq, digest), peers)| (*seq, *digest, peers[0]));
        match best {
            Some((seq, digest, peer)) => {
                self.fetch = Some(Fetch {
                    seq,
                    digest,
                    peer,
                    progress: now,
                    bytes: Vec::new(),
                    total: None,
                });
                self.ask_for(now);
            }
            // Nothing vouched for yet, but everything since the start can still be replayed:
            // the empty state is the checkpoint every replica agrees on.
            None if replay_floor <= 1 && self.offers.len() >= 2 => {
                self.finish(Install {
                    seq: 0,
                    snapshot: None,
                });
            }
            None => {}
        }
    }

    /// Asks the chosen peer for the next part of the snapshot, and sets when to ask again.
    fn ask_for(&mut self, now: Instant) {
        let Some(f) = &self.fetch else { return };
        self.next_fetch = now + self.retry;
        self.out.push_back((
            Destination::ReplicaManager(f.peer),
            Message::SnapshotFetch {
                nonce: self.nonce,
                seq: f.seq,
                offset: f.bytes.len() as u64,
            },
        ));
    }

    fn finish(&mut self, install: Install) {
        self.finished = true;
        self.fetch = None;
        self.done = Some(install);
    }

    pub fn handle_timeout(&mut self, now: Instant, replay_floor: u64) {
        if self.finished {
            return;
        }
        if let Some(f) = &self.fetch {
            let waited = now.saturating_duration_since(f.progress);
            if waited >= self.retry * FETCH_TRIES {
                // That peer is gone or slow: forget its offer and choose again.
                let peer = f.peer;
                self.offers.remove(&peer);
                self.fetch = None;
                self.choose(now, replay_floor);
            } else if now >= self.next_fetch {
                // Ask again: the peer resends identical fragments, which fill the holes a
                // lossy network left in the previous copy.
                self.ask_for(now);
            }
        }
        if self.fetch.is_none() && now >= self.next_query {
            self.query(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        Some(match &self.fetch {
            Some(f) => (f.progress + self.retry * FETCH_TRIES).min(self.next_fetch),
            None => self.next_query,
        })
    }

    pub fn poll_out(&mut self) -> Option<(Destination, Message)> {
        self.out.pop_front()
    }

    pub fn take_done(&mut self) -> Option<Install> {
        self.done.take()
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

    fn snap(n: u8) -> (Vec<u8>, [u8; 32]) {
        let bytes = vec![n; 10];
        let d = Digest::of_state(&bytes).0;
        (bytes, d)
    }

    /// What the transfer asked: `None` for "which checkpoints do you hold", `Some(seq)` for
    /// a part of the snapshot after seq.
    fn fetches(t: &mut StateTransfer) -> Vec<(Destination, Option<u64>)> {
        std::iter::from_fn(|| t.poll_out())
            .filter_map(|(to, m)| match m {
                Message::SnapshotQuery { fetch, .. } => Some((to, fetch)),
                Message::SnapshotFetch { seq, .. } => Some((to, Some(seq))),
                _ => None,
            })
            .collect()
    }

    /// The offsets of the parts asked for.
    fn offsets(t: &mut StateTransfer) -> Vec<u64> {
        std::iter::from_fn(|| t.poll_out())
            .filter_map(|(_, m)| match m {
                Message::SnapshotFetch { offset, .. } => Some(offset),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_snapshot_arrives_in_parts_in_order_and_is_checked_whole() {
        let now = Instant::now();
        let mut t = StateTransfer::start(r(1), 7, Duration::from_millis(100), now);
        fetches(&mut t);
        let bytes: Vec<u8> = (0..=255).cycle().take(2500).collect();
        let digest = Digest::of_state(&bytes).0;
        t.on_offer(now, r(2), 7, vec![(100, digest)], None, 0);
        t.on_offer(now, r(3), 7, vec![(100, digest)], None, 0);
        assert_eq!(offsets(&mut t), vec![0]);
        let part = |at: usize, len: usize| bytes[at..(at + len).min(bytes.len())].to_vec();
        t.on_part(
            now,
            r(2),
            7,
            Part {
                seq: 100,
                total: 2500,
                offset: 0,
                bytes: part(0, 1000),
            },
            0,
        );
        assert_eq!(
            offsets(&mut t),
            vec![1000],
            "the next part is asked for at once"
        );
        // A repeat of the first part, a part from another peer, another seq or nonce: ignored.
        t.on_part(
            now,
            r(2),
            7,
            Part {
                seq: 100,
                total: 2500,
                offset: 0,
                bytes: part(0, 1000),
            },
            0,
        );
        t.on_part(
            now,
            r(3),
            7,
            Part {
                seq: 100,
                total: 2500,
                offset: 1000,
                bytes: part(1000, 1000),
            },
            0,
        );
        t.on_part(
            now,
            r(2),
            7,
            Part {
                seq: 99,
                total: 2500,
                offset: 1000,
                bytes: part(1000, 1000),
            },
            0,
        );
        t.on_part(
            now,
            r(2),
            8,
            Part {
                seq: 100,
                total: 2500,
                offset: 1000,
                bytes: part(1000, 1000),
            },
            0,
        );
        assert!(offsets(&mut t).is_empty());
        // A lost part is asked for again after a retry interval.
        t.handle_timeout(now + Duration::from_millis(100), 0);
        assert_eq!(offsets(&mut t), vec![1000]);
        t.on_part(
            now,
            r(2),
            7,
            Part {
                seq: 100,
                total: 2500,
                offset: 1000,
                bytes: part(1000, 1000),
            },
            0,
        );
        assert!(t.take_done().is_none());
        t.on_part(
            now,
            r(2),
            7,
            Part {
                seq: 100,
                total: 2500,
                offset: 2000,
                bytes: part(2000, 1000),
            },
            0,
        );
        assert_eq!(
            t.take_done(),
            Some(Install {
                seq: 100,
                snapshot: Some(bytes)
            })
        );
    }

    #[test]
    fn a_peer_whose_parts_do_not_add_up_is_passed_over() {
        let now = Instant::now();
        let mut t = StateTransfer::start(r(1), 7, Duration::from_millis(100), now);
        fetches(&mut t);
        let (good, digest) = snap(5);
        for p in 2..=4 {
            t.on_offer(now, r(p), 7, vec![(100, digest)], None, 0);
        }
        assert_eq!(
            fetches(&mut t),
            vec![(Destination::ReplicaManager(r(2)), Some(100))]
        );
        // Peer 2 changes its story about the length: distrusted, peer 3 is asked.
        t.on_part(
            now,
            r(2),
            7,
            Part {
                seq: 100,
                total: 10,
                offset: 0,
                bytes: vec![5; 4],
            },
            0,
        );
        t.on_part(
            now,
            r(2),
            7,
            Part {
                seq: 100,
                total: 12,
                offset: 4,
                bytes: vec![5; 4],
            },
            0,
        );
        assert_eq!(
            fetches(&mut t),
            vec![
                (Destination::ReplicaManager(r(2)), Some(100)),
                (Destination::ReplicaManager(r(3)), Some(100))
            ]
        );
        // Peer 3 claims more than any snapshot may be: distrusted. Peer 4 alone vouches for
        // 100 now, which is not enough: nothing is fetched until more offers come.
        t.on_part(
            now,
            r(3),
            7,
            Part {
                seq: 100,
                total: MAX_SNAPSHOT_BYTES + 1,
                offset: 0,
                bytes: vec![5; 4],
            },
            0,
        );
        assert!(fetches(&mut t).is_empty());
        // Peer 2's parts are no longer listened to.
        t.on_part(
            now,
            r(2),
            7,
            Part {
                seq: 100,
                total: 10,
                offset: 0,
                bytes: good,
            },
            0,
        );
        assert!(t.take_done().is_none());
    }

    #[test]
    fn installs_the_highest_replayable_checkpoint_two_peers_vouch_for() {
        let now = Instant::now();
        let mut t = StateTransfer::start(r(1), 7, Duration::from_millis(100), now);
        assert_eq!(fetches(&mut t).len(), 3, "asks every peer");
        let (b100, d100) = snap(1);
        let (_, d200) = snap(2);
        let (_, bad) = snap(3);
        t.on_offer(now, r(2), 7, vec![(100, d100), (200, d200)], None, 50);
        assert!(fetches(&mut t).is_empty(), "one peer alone is not enough");
        t.on_offer(now, r(3), 7, vec![(100, d100), (200, bad)], None, 50);
        assert_eq!(
            fetches(&mut t),
            vec![(Destination::ReplicaManager(r(2)), Some(100))]
        );
        // Bytes that do not match the agreed digest are refused, and that peer is dropped.
        t.on_offer(now, r(2), 7, vec![], Some((100, vec![9; 10])), 50);
        assert!(t.take_done().is_none());
        t.on_offer(now, r(4), 7, vec![(100, d100)], None, 50);
        assert_eq!(
            fetches(&mut t),
            vec![(Destination::ReplicaManager(r(3)), Some(100))]
        );
        t.on_offer(
            now,
            r(3),
            7,
            vec![(100, d100)],
            Some((100, b100.clone())),
            50,
        );
        assert_eq!(
            t.take_done(),
            Some(Install {
                seq: 100,
                snapshot: Some(b100)
            })
        );
    }

    #[test]
    fn a_checkpoint_the_sequencer_can_no_longer_replay_from_is_not_chosen() {
        let now = Instant::now();
        let mut t = StateTransfer::start(r(1), 7, Duration::from_millis(100), now);
        fetches(&mut t);
        let (_, d) = snap(1);
        t.on_offer(now, r(2), 7, vec![(100, d)], None, 500);
        t.on_offer(now, r(3), 7, vec![(100, d)], None, 500);
        assert!(fetches(&mut t).is_empty());
        assert!(t.take_done().is_none());
        // It asks again later, when newer checkpoints may exist.
        t.handle_timeout(now + Duration::from_millis(100), 500);
        assert_eq!(fetches(&mut t).len(), 3);
    }

    #[test]
    fn before_any_checkpoint_the_empty_state_is_the_start() {
        let now = Instant::now();
        let mut t = StateTransfer::start(r(4), 1, Duration::from_millis(100), now);
        t.on_offer(now, r(1), 1, vec![], None, 1);
        assert!(t.take_done().is_none());
        t.on_offer(now, r(2), 1, vec![], None, 1);
        assert_eq!(
            t.take_done(),
            Some(Install {
                seq: 0,
                snapshot: None
            })
        );
    }

    #[test]
    fn one_transfer_installs_exactly_once() {
        let now = Instant::now();
        let mut t = StateTransfer::start(r(4), 1, Duration::from_millis(100), now);
        t.on_offer(now, r(1), 1, vec![], None, 1);
        t.on_offer(now, r(2), 1, vec![], None, 1);
        assert!(t.take_done().is_some());
        fetches(&mut t);
        // Later offers and timers change nothing: no second install, no new queries.
        t.on_offer(now, r(3), 1, vec![], None, 1);
        t.handle_timeout(now + Duration::from_secs(5), 1);
        assert!(t.take_done().is_none());
        assert!(fetches(&mut t).is_empty());
        assert!(t.poll_timeout().is_none());
    }

    /// Found by the simulation (small checkpoint intervals under load): the chosen peer had
    /// rotated the checkpoint out before the fetch reached it, and the transfer sat out the
    /// whole fetch timeout before choosing again.
    #[test]
    fn a_peer_that_no_longer_holds_the_checkpoint_is_passed_over_at_once() {
        let now = Instant::now();
        let mut t = StateTransfer::start(r(1), 7, Duration::from_millis(100), now);
        fetches(&mut t);
        let (_, d10) = snap(1);
        let (b20, d20) = snap(2);
        t.on_offer(now, r(2), 7, vec![(10, d10)], None, 0);
        t.on_offer(now, r(3), 7, vec![(10, d10)], None, 0);
        assert_eq!(
            fetches(&mut t),
            vec![(Destination::ReplicaManager(r(2)), Some(10))]
        );
        // Peer 3 moved on to 20, then peer 2 answers the fetch: it has moved on too, and
        // 20 is vouched for by both, so 20 is fetched at once.
        t.on_offer(now, r(3), 7, vec![(20, d20)], None, 0);
        assert!(fetches(&mut t).is_empty(), "still waiting for peer 2");
        t.on_offer(now, r(2), 7, vec![(20, d20)], None, 0);
        assert_eq!(
            fetches(&mut t),
            vec![(Destination::ReplicaManager(r(2)), Some(20))]
        );
        t.on_offer(now, r(2), 7, vec![(20, d20)], Some((20, b20.clone())), 0);
        assert_eq!(
            t.take_done(),
            Some(Install {
                seq: 20,
                snapshot: Some(b20)
            })
        );
    }

    #[test]
    fn a_silent_peer_is_replaced_by_another() {
        let now = Instant::now();
        let mut t = StateTransfer::start(r(1), 7, Duration::from_millis(100), now);
        fetches(&mut t);
        let (_, d) = snap(1);
        for p in 2..=4 {
            t.on_offer(now, r(p), 7, vec![(10, d)], None, 0);
        }
        assert_eq!(
            fetches(&mut t),
            vec![(Destination::ReplicaManager(r(2)), Some(10))]
        );
        // Asked again every retry interval (a lossy network may have eaten fragments)...
        for i in 1..5 {
            t.handle_timeout(now + Duration::from_millis(100 * i), 0);
            assert_eq!(
                fetches(&mut t),
                vec![(Destination::ReplicaManager(r(2)), Some(10))]
            );
        }
        // ...then passed over for another peer.
        t.handle_timeout(now + Duration::from_millis(500), 0);
        assert_eq!(
            fetches(&mut t),
            vec![(Destination::ReplicaManager(r(3)), Some(10))]
        );
    }
}
