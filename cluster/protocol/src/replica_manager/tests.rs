use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::ReplicaId;

/// Replica `n` (1..=4), for tests.
fn r(n: u8) -> ReplicaId {
    ReplicaId::new(n).expect("a replica number")
}
use crate::wire::{FaultKind, LinkConfig, ReadEntry, RequestId};

const MS: Duration = Duration::from_millis(1);

fn link(me: NodeId, max_datagram: usize) -> Link {
    crate::wire::testing::shared(
        Link::new(LinkConfig {
            max_datagram,
            max_message: 1 << 20,
            ..crate::wire::testing::link_config(me, "test", 1400)
        })
        .unwrap(),
    )
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

const FE: u16 = 7001;
const FE2: u16 = 7002;
const TOOL: u16 = 7009;
const SEQ: u16 = 7000;

fn entry(seq: u64, reply_to: SocketAddr) -> Sequenced {
    Sequenced {
        seq,
        id: RequestId {
            front_end: 42,
            number: seq.wrapping_add(1000),
        },
        reply_to,
        timestamp_ms: 1_700_000_000_000u64.wrapping_add(seq),
        request: seq.to_le_bytes().to_vec(),
        trace: String::new(),
    }
}

/// A replica manager plus links acting as the sequencer, a front end and a tool, one
/// decoding what the replica manager sends, and a fake replica process that answers in order:
/// everything but `Apply` at once, `Apply` when the test says (or at once, `deliver_all`).
struct Harness {
    rm: ReplicaManager,
    seq: Link,
    fe: Link,
    tool: Link,
    sink: crate::wire::testing::Sniffer,
    t0: Instant,
    /// Written to the replica, not answered yet, in order.
    written: VecDeque<ToReplica>,
    /// Applies written but not yet handed to the test.
    fresh_applies: Vec<u64>,
    /// The fake replica's applied seq.
    replica_applied: u64,
    /// Records the manager asked to persist.
    persisted: Vec<Record>,
}

impl Harness {
    fn new() -> Self {
        Self::with(cfg(2), 0, 1400)
    }

    fn with(cfg: RmConfig, applied: u64, max_datagram: usize) -> Self {
        let t0 = Instant::now();
        let mut rm = ReplicaManager::new(
            link(NodeId::ReplicaManager(cfg.id), max_datagram),
            cfg.clone(),
            Record::default(),
            t0,
        );
        assert_eq!(
            rm.poll_command(),
            Some(Command::StartReplica { fresh: false })
        );
        rm.handle_replica_started(t0, 4321, applied);
        let mut h = Harness {
            rm,
            seq: link(NodeId::Sequencer(1), 1400),
            fe: link(NodeId::FrontEnd(1), 1400),
            tool: link(NodeId::Tool(3), 1400),
            sink: crate::wire::testing::Sniffer::new("test", 1 << 16, 1 << 20),
            t0,
            written: VecDeque::new(),
            fresh_applies: Vec::new(),
            replica_applied: applied,
            persisted: Vec::new(),
        };
        // The hello ack to the sequencer, and a hello to every peer, which they answer.
        let (hellos, rest): (Vec<_>, Vec<_>) = h
            .sent()
            .into_iter()
            .partition(|(_, m)| matches!(m, Message::Hello { .. }));
        assert_eq!(
            rest,
            vec![(
                Destination::Sequencer(1),
                Message::Ack {
                    received: applied,
                    applied
                }
            )]
        );
        assert_eq!(hellos.len(), 3, "{hellos:?}");
        for peer in cfg.id.others() {
            let welcome = Message::Welcome {
                mine: Incarnation::default(),
                yours: Incarnation::default(),
            };
            for g in link(NodeId::ReplicaManager(peer), 1400)
                .encode(&welcome, Destination::AllReplicaManagers)
                .unwrap()
            {
                h.rm.handle_datagram(t0, addr(SEQ), &g);
            }
        }
        assert_eq!(h.sent(), vec![]);
        h.pump(t0);
        h
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + MS * ms as u32
    }

    /// Takes the manager's commands and lets the fake replica answer whatever it can: all
    /// but an `Apply` at the head of its pipe.
    fn pump(&mut self, now: Instant) {
        loop {
            while let Some(cmd) = self.rm.poll_command() {
                match cmd {
                    Command::ToReplica(r) => {
                        if let ToReplica::Apply { seq, .. } = &r {
                            self.fresh_applies.push(*seq);
                        }
                        self.written.push_back(r);
                    }
                    Command::Persist(r) => self.persisted.push(r),
                    other => panic!("unexpected command {other:?}"),
                }
            }
            let answer = match self.written.front() {
                None | Some(ToReplica::Apply { .. }) => return,
                Some(ToReplica::Sync) => FromReplica::Synced {
                    applied: self.replica_applied,
                },
                Some(ToReplica::Digest) => FromReplica::Digest {
                    applied: self.replica_applied,
                    digest: [self.replica_applied as u8; 32],
                },
                Some(ToReplica::Export) => FromReplica::Exported {
                    applied: self.replica_applied,
                    snapshot: tessera_types::Snapshot::default().encode(),
                },
                Some(ToReplica::Import { seq, .. }) => {
                    self.replica_applied = *seq;
                    FromReplica::Imported { applied: *seq }
                }
                Some(ToReplica::SetFault(_) | ToReplica::SetDelay { .. }) => FromReplica::FaultSet,
                Some(ToReplica::Read { request }) => FromReplica::Read {
                    applied: self.replica_applied,
                    reply: Some(
                        [
                            request.as_slice(),
                            b" at ",
                            &self.replica_applied.to_le_bytes(),
                        ]
                        .concat(),
                    ),
                },
            };
            self.written.pop_front();
            self.rm.handle_replica(now, answer);
        }
    }

    fn seq_says(&mut self, ms: u64, msg: &Message) {
        let now = self.at(ms);
        for g in self
            .seq
            .encode(msg, Destination::AllReplicaManagers)
            .unwrap()
        {
            self.rm.handle_datagram(now, addr(SEQ), &g);
        }
        self.pump(now);
    }

    fn data(&mut self, ms: u64, seqs: &[u64]) {
        let entries = seqs.iter().map(|&s| entry(s, addr(FE))).collect();
        self.seq_says(ms, &Message::Data(entries));
    }

    fn fe_says(&mut self, ms: u64, msg: &Message) {
        let now = self.at(ms);
        for g in self
            .fe
            .encode(msg, Destination::AllReplicaManagers)
            .unwrap()
        {
            self.rm.handle_datagram(now, addr(FE), &g);
        }
        self.pump(now);
    }

    fn timeout(&mut self, ms: u64) {
        let now = self.at(ms);
        self.rm.handle_timeout(now);
        self.pump(now);
    }

    /// The seqs written to the replica since the last call, not answered.
    fn deliver(&mut self) -> Vec<u64> {
        self.pump(self.t0);
        std::mem::take(&mut self.fresh_applies)
    }

    /// The replica answers `seq` (the head of its pipe) with `reply`.
    fn reply(&mut self, ms: u64, seq: u64, reply: Vec<u8>) {
        let now = self.at(ms);
        self.pump(now);
        assert!(
            matches!(self.written.front(), Some(ToReplica::Apply { seq: s, .. }) if *s == seq),
            "the replica's next answer is not for {seq}: {:?}",
            self.written.front()
        );
        self.written.pop_front();
        self.replica_applied = seq;
        self.rm
            .handle_replica(now, FromReplica::Applied { seq, reply });
        self.pump(now);
    }

    /// Everything written is answered at once (reply: the seq's low byte); returns the seqs
    /// applied, in order.
    fn deliver_all(&mut self) -> Vec<u64> {
        let mut all = Vec::new();
        loop {
            let batch = self.deliver();
            if batch.is_empty() {
                return all;
            }
            for &seq in &batch {
                self.reply(0, seq, vec![seq as u8]);
            }
            all.extend(batch);
        }
    }

    /// Drains and decodes every datagram sent (reassembling fragments).
    fn sent(&mut self) -> Vec<(Destination, Message)> {
        let mut out = Vec::new();
        while let Some(t) = self.rm.poll_transmit() {
            if let Some((from, msg)) = self.sink.receive(self.t0, &t.datagram) {
                assert_eq!(from, NodeId::ReplicaManager(self.rm.cfg.id));
                out.push((t.to, msg));
            }
        }
        out
    }

    fn sent_datagrams(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.rm.poll_transmit()).collect()
    }

    fn nacks(&mut self) -> Vec<Vec<(u64, u64)>> {
        self.sent()
            .into_iter()
            .filter_map(|(to, m)| match m {
                Message::Nack(r) => {
                    assert_eq!(to, Destination::Sequencer(1));
                    Some(r)
                }
                _ => None,
            })
            .collect()
    }

    fn acks(&mut self) -> Vec<(u64, u64)> {
        self.sent()
            .into_iter()
            .filter_map(|(to, m)| match m {
                Message::Ack { received, applied } => {
                    assert_eq!(to, Destination::Sequencer(1));
                    Some((received, applied))
                }
                _ => None,
            })
            .collect()
    }

    fn events(&mut self) -> Vec<RmEvent> {
        std::iter::from_fn(|| self.rm.poll_event())
            .filter(|e| !matches!(e, RmEvent::Guard(_)))
            .collect()
    }
}

/// Manager `id` as the harness runs it: no group commit unless a test asks (acks then claim
/// nothing applied), so that the protocol's own timing is what the tests see.
fn cfg(id: u8) -> RmConfig {
    RmConfig {
        implementation: "sqlite".into(),
        sync_interval: Duration::from_secs(3600),
        ..RmConfig::new(r(id))
    }
}

#[test]
fn delivers_in_order_exactly_once_despite_shuffling_and_duplicates() {
    let mut h = Harness::new();
    let n = 500u64;
    let mut seqs: Vec<u64> = (1..=n).chain((1..=n).step_by(3)).collect();
    tessera_testkit::Rng::new(1).shuffle(&mut seqs);
    let mut got = Vec::new();
    for (i, chunk) in seqs.chunks(7).enumerate() {
        h.data(i as u64, chunk);
        got.extend(h.deliver_all());
        h.rm.queue.check_invariants();
    }
    // The whole batch again: all duplicates now.
    h.data(1000, &[1, 2, n]);
    got.extend(h.deliver_all());
    assert_eq!(got, (1..=n).collect::<Vec<_>>());
    assert_eq!((h.rm.delivered(), h.rm.received(), h.rm.held()), (n, n, 0));
    assert_eq!(h.rm.counters().duplicates, n.div_ceil(3) + 3);
}

#[test]
fn delivered_entries_carry_the_request() {
    let mut h = Harness::new();
    h.data(0, &[1]);
    assert_eq!(h.deliver(), vec![1]);
    assert_eq!(
        h.written.back(),
        Some(&ToReplica::Apply {
            seq: 1,
            time_ms: entry(1, addr(FE)).timestamp_ms,
            memory: tessera_types::CallMemory::default(),
            request: entry(1, addr(FE)).request
        })
    );
    assert!(h.deliver().is_empty());
}

#[test]
fn resumes_after_applied() {
    let mut h = Harness::with(cfg(1), 10, 1400);
    h.data(0, &[9, 10, 11, 12]);
    assert_eq!(h.deliver_all(), vec![11, 12]);
    assert_eq!(h.rm.counters().duplicates, 2);
    assert!(h.nacks().is_empty());
}

#[test]
fn gap_is_nacked_at_once_then_once_per_interval() {
    let mut h = Harness::new();
    h.data(0, &[1, 2, 5, 8, 9]);
    assert_eq!(h.deliver_all(), vec![1, 2]);
    assert_eq!(h.nacks(), vec![vec![(3, 4), (6, 7)]]);
    assert_eq!(
        h.rm.poll_timeout(),
        Some(h.at(5)),
        "ack of the new received, first"
    );

    // Nothing more before the nack interval (20 ms), even with more traffic.
    h.rm.handle_timeout(h.at(5));
    h.data(6, &[8]);
    h.rm.handle_timeout(h.at(19));
    assert!(h.nacks().is_empty());

    // A new gap beyond the old ones is asked for at once, alone.
    h.data(10, &[12]);
    assert_eq!(h.nacks(), vec![vec![(10, 11)]]);

    // After the interval, the first ones again (the newer ones are not due yet).
    h.rm.handle_timeout(h.at(20));
    assert_eq!(h.nacks(), vec![vec![(3, 4), (6, 7)]]);
    h.rm.handle_timeout(h.at(29));
    assert!(h.nacks().is_empty());
    h.rm.handle_timeout(h.at(30));
    assert_eq!(h.nacks(), vec![vec![(10, 11)]]);

    // Partly filled: only what is still missing, at the next interval.
    h.data(31, &[3, 4, 6]);
    assert_eq!(h.deliver_all(), vec![3, 4, 5, 6]);
    assert!(h.nacks().is_empty());
    // (A keep-alive ack went out at 29, so this change is acked 5 ms after it.)
    assert_eq!(h.rm.poll_timeout(), Some(h.at(34)), "ack due");
    h.rm.handle_timeout(h.at(34));
    assert_eq!(h.acks(), vec![(6, 0)]);
    assert_eq!(h.rm.poll_timeout(), Some(h.at(40)), "re-nack due");
    h.rm.handle_timeout(h.at(40));
    assert_eq!(h.nacks(), vec![vec![(7, 7)]]);

    // All filled: no more nacks and no nack timer.
    h.data(41, &[7, 10, 11]);
    assert_eq!(h.deliver_all(), (7..=12).collect::<Vec<_>>());
    h.rm.handle_timeout(h.at(100));
    assert!(h.nacks().is_empty());
    assert_eq!(h.rm.nacks.len(), 0);
    assert_eq!(h.rm.counters().nacks_sent, 5);
}

#[test]
fn nack_is_bounded() {
    let mut h = Harness::new();
    let odd: Vec<u64> = (1..=200).map(|i| 2 * i + 1).collect();
    h.data(0, &odd);
    let nacks = h.nacks();
    assert_eq!(nacks.len(), 1);
    let expect: Vec<(u64, u64)> = std::iter::once((1, 2))
        .chain((1..MAX_NACK_RANGES as u64).map(|i| (2 * i + 2, 2 * i + 2)))
        .collect();
    assert_eq!(nacks[0], expect);
    // The rest when the first ones are due again.
    h.rm.handle_timeout(h.at(20));
    let nacks = h.nacks();
    assert_eq!(nacks.len(), 1);
    assert_eq!(nacks[0].first(), Some(&(1, 2)));
}

#[test]
fn heartbeat_reveals_a_lost_tail() {
    let mut h = Harness::new();
    h.data(0, &[1, 2, 3]);
    assert_eq!(h.deliver_all(), vec![1, 2, 3]);
    assert!(h.nacks().is_empty());
    h.seq_says(
        1,
        &Message::Heartbeat {
            view: 0,
            high: 3,
            low: 1,
        },
    );
    assert!(h.nacks().is_empty());
    h.seq_says(
        2,
        &Message::Heartbeat {
            view: 0,
            high: 5,
            low: 1,
        },
    );
    assert_eq!(h.nacks(), vec![vec![(4, 5)]]);
    // The same heartbeat again does not re-nack early; a higher one nacks only the new part.
    h.seq_says(
        3,
        &Message::Heartbeat {
            view: 0,
            high: 5,
            low: 1,
        },
    );
    assert!(h.nacks().is_empty());
    h.seq_says(
        4,
        &Message::Heartbeat {
            view: 0,
            high: 6,
            low: 1,
        },
    );
    assert_eq!(h.nacks(), vec![vec![(6, 6)]]);
    assert!(h.events().is_empty());
}

#[test]
fn behind_retention_starts_one_transfer() {
    let mut h = Harness::new();
    h.data(0, &[1, 2]);
    h.seq_says(
        1,
        &Message::Heartbeat {
            view: 0,
            high: 100,
            low: 3,
        },
    );
    assert!(h.events().is_empty(), "low = received + 1 is fine");
    h.seq_says(
        2,
        &Message::Heartbeat {
            view: 0,
            high: 100,
            low: 50,
        },
    );
    assert_eq!(
        h.events(),
        vec![RmEvent::BehindRetention {
            low: 50,
            delivered: 2
        }]
    );
    assert!(h.rm.is_recovering(), "a state transfer catches it up");
    h.seq_says(
        3,
        &Message::Heartbeat {
            view: 0,
            high: 100,
            low: 50,
        },
    );
    assert!(h.events().is_empty());
    h.seq_says(
        4,
        &Message::Heartbeat {
            view: 0,
            high: 100,
            low: 60,
        },
    );
    assert!(
        h.events().is_empty(),
        "the transfer under way covers a rising low: one line per transfer, not per heartbeat"
    );
    // Only what is still retained is nacked.
    let nacks = h.nacks();
    assert_eq!(
        nacks.first(),
        Some(&vec![(3, 100)]),
        "before the low was known"
    );
    assert_eq!(nacks.get(1), None, "later ranges are still recent");
    h.rm.handle_timeout(h.at(30));
    assert_eq!(h.nacks(), vec![vec![(60, 100)]]);
}

#[test]
fn a_replica_given_less_than_the_sequencer_retains_catches_up_although_its_manager_holds_the_rest()
{
    // A slow replica: its manager has received everything, but only MAX_IN_FLIGHT went to the
    // replica (none answered yet), and the sequencer has moved its window past that.
    let mut h = Harness::new();
    h.data(0, &(1..=300).collect::<Vec<_>>());
    assert_eq!(h.rm.received(), 300);
    assert_eq!(h.rm.delivered(), MAX_IN_FLIGHT as u64);
    h.seq_says(
        1,
        &Message::Heartbeat {
            view: 0,
            high: 300,
            low: 257,
        },
    );
    assert!(
        h.events().is_empty(),
        "everything after what it was given is retained"
    );
    h.seq_says(
        2,
        &Message::Heartbeat {
            view: 0,
            high: 300,
            low: 280,
        },
    );
    assert_eq!(
        h.events(),
        vec![RmEvent::BehindRetention {
            low: 280,
            delivered: MAX_IN_FLIGHT as u64
        }]
    );
    assert!(
        h.rm.is_recovering(),
        "it jumps to a checkpoint instead of replaying what it holds"
    );
}

/// Found by tests/flow_control.rs: a replica taking longer than the hang threshold over each
/// request fell behind the window, started a transfer, and was then never found hung: the
/// stall counted as zero while the transfer waited for the requests it had been given.
#[test]
fn a_replica_stalled_behind_a_state_transfer_is_still_found_hung() {
    let mut h = Harness::new();
    h.data(0, &(1..=300).collect::<Vec<_>>());
    h.seq_says(
        1,
        &Message::Heartbeat {
            view: 0,
            high: 300,
            low: 280,
        },
    );
    assert!(h.rm.is_recovering());
    h.sent();
    let probe = Message::Probe { nonce: 9 };
    for g in link(NodeId::ReplicaManager(r(1)), 1400)
        .encode(&probe, Destination::AllReplicaManagers)
        .unwrap()
    {
        h.rm.handle_datagram(h.at(2000), addr(SEQ), &g);
    }
    let stalled = h
        .sent()
        .into_iter()
        .find_map(|(_, m)| match m {
            Message::ProbeReply { stalled_ms, .. } => Some(stalled_ms),
            _ => None,
        })
        .expect("the probe is answered");
    assert!(stalled >= 1999, "stalled {stalled} ms");
}

#[test]
fn holdback_is_bounded_and_refetched() {
    let cfg = RmConfig {
        holdback_max: 10,
        ..cfg(3)
    };
    let mut h = Harness::with(cfg, 0, 1400);
    h.data(0, &(2..=20).collect::<Vec<_>>());
    assert_eq!(h.rm.held(), 9);
    assert_eq!(h.rm.counters().beyond_holdback, 10);
    assert_eq!(
        h.nacks(),
        vec![vec![(1, 1)]],
        "nothing beyond the window is asked for"
    );
    h.seq_says(
        1,
        &Message::Heartbeat {
            view: 0,
            high: 20,
            low: 1,
        },
    );
    assert!(h.nacks().is_empty(), "window unchanged");
    h.data(2, &[1]);
    assert_eq!(h.deliver_all(), (1..=10).collect::<Vec<_>>());
    // The window moved: the rest is asked for at once.
    h.rm.handle_timeout(h.at(3));
    assert_eq!(h.nacks(), vec![vec![(11, 20)]]);
    h.data(4, &(11..=20).collect::<Vec<_>>());
    assert_eq!(h.deliver_all(), (11..=20).collect::<Vec<_>>());
}

#[test]
fn holdback_never_exceeds_its_bound_without_delivery() {
    let cfg = RmConfig {
        holdback_max: 5,
        ..cfg(3)
    };
    let mut h = Harness::with(cfg, 0, 1400);
    h.data(0, &(1..=50).collect::<Vec<_>>());
    // What lies beyond the window is dropped (and fetched again later), the rest goes on to
    // the replica.
    assert_eq!(h.rm.received(), 5);
    assert_eq!(h.rm.counters().beyond_holdback, 45);
    assert_eq!(h.deliver_all(), (1..=5).collect::<Vec<_>>());
}

#[test]
fn ack_when_changed_every_ack_interval_and_as_keep_alive() {
    let mut h = Harness::with(
        RmConfig {
            sync_interval: Duration::ZERO,
            ..cfg(2)
        },
        0,
        1400,
    );
    assert_eq!(
        h.rm.poll_timeout(),
        Some(h.at(20)),
        "keep-alive after the hello"
    );
    h.timeout(1);
    assert!(h.sent().is_empty());

    h.data(1, &[1, 2, 3]);
    assert!(
        h.sent().is_empty(),
        "the hello was less than an ack interval ago"
    );
    assert_eq!(h.rm.poll_timeout(), Some(h.at(5)));
    h.timeout(5);
    assert_eq!(h.acks(), vec![(3, 0)]);

    assert_eq!(h.deliver(), vec![1, 2, 3]);
    for s in 1..=3 {
        // Each answer is synced at once (no group-commit interval here).
        h.reply(6, s, vec![s as u8]);
    }
    h.sent();
    assert_eq!(h.rm.applied(), 3);
    assert_eq!(h.rm.poll_timeout(), Some(h.at(10)));
    h.timeout(10);
    assert_eq!(h.acks(), vec![(3, 3)]);

    // Unchanged: keep-alive one heartbeat later.
    assert_eq!(h.rm.poll_timeout(), Some(h.at(30)));
    h.timeout(29);
    assert!(h.acks().is_empty());
    h.timeout(30);
    assert_eq!(h.acks(), vec![(3, 3)]);

    // Long idle, then a change: acked at once (no ack was sent within the ack interval).
    h.data(100, &[4]);
    assert_eq!(h.acks(), vec![(4, 3)]);
    assert_eq!(h.rm.counters().acks_sent, 5);
}

/// The replica is synced at most once per `sync_interval` (group commit), and acks claim
/// applied only what a sync covered, never beyond what was delivered.
#[test]
fn group_commit_syncs_at_most_every_interval() {
    let mut h = Harness::with(
        RmConfig {
            sync_interval: Duration::from_millis(10),
            ..cfg(2)
        },
        0,
        1400,
    );
    h.data(0, &(1..=5).collect::<Vec<_>>());
    for s in h.deliver() {
        h.reply(1, s, vec![1]);
    }
    assert_eq!(h.rm.applied(), 0, "the first sync waits for the interval");
    assert_eq!(h.rm.poll_timeout(), Some(h.at(5)), "ack first");
    h.timeout(5);
    assert_eq!(h.acks(), vec![(5, 0)]);
    assert_eq!(h.rm.poll_timeout(), Some(h.at(10)), "then the sync");
    h.timeout(10);
    assert_eq!(h.rm.applied(), 5);
    h.data(11, &[6, 7]);
    for s in h.deliver() {
        h.reply(12, s, vec![1]);
    }
    h.timeout(15);
    assert_eq!(h.rm.applied(), 5, "not twice within 10 ms");
    h.timeout(20);
    assert_eq!(h.rm.applied(), 7);
    // A replica that claims more than it was given is not believed.
    h.data(21, &[8]);
    assert_eq!(h.deliver(), vec![8]);
    h.reply(22, 8, vec![1]);
    h.replica_applied = 99;
    h.timeout(30);
    assert_eq!(h.rm.applied(), 8);
}

#[test]
fn replies_go_to_reply_to_batched_per_address() {
    let mut h = Harness::new();
    let entries: Vec<Sequenced> = (1..=5)
        .map(|s| entry(s, if s % 2 == 0 { addr(FE2) } else { addr(FE) }))
        .collect();
    h.seq_says(0, &Message::Data(entries.clone()));
    h.sent();
    assert_eq!(h.deliver(), vec![1, 2, 3, 4, 5]);
    for s in 1..=5 {
        h.reply(1, s, format!("reply {s}").into_bytes());
    }
    let sent = h.sent();
    let reply = |s: u64| ReplyEntry {
        seq: s,
        id: entries[s as usize - 1].id,
        replica: r(2),
        reply: format!("reply {s}").into_bytes(),
    };
    assert_eq!(
        sent,
        vec![
            (
                Destination::Addr(addr(FE)),
                Message::Reply(vec![reply(1), reply(3), reply(5)])
            ),
            (
                Destination::Addr(addr(FE2)),
                Message::Reply(vec![reply(2), reply(4)])
            ),
        ]
    );
    assert_eq!(h.rm.status().last_seq, 5);

    // Each poll cycle flushes: a reply after a poll goes out on its own.
    h.data(2, &[6]);
    assert_eq!(h.deliver(), vec![6]);
    h.reply(3, 6, vec![6]);
    let replies: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Reply(_)))
        .collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(h.rm.counters().reply_messages, 3);
}

#[test]
fn reply_batches_fit_in_a_datagram() {
    let mut h = Harness::with(cfg(4), 0, 600);
    let n = 40u64;
    h.data(0, &(1..=n).collect::<Vec<_>>());
    h.sent();
    assert_eq!(h.deliver().len(), n as usize);
    for s in 1..=n {
        h.reply(1, s, vec![s as u8; 100]);
    }
    // One oversized reply still goes out (fragmented), on its own.
    h.data(2, &[n + 1]);
    h.deliver();
    h.reply(2, n + 1, vec![7; 3000]);
    let grams = h.sent_datagrams();
    assert!(grams.iter().all(|g| g.datagram.len() <= 600));
    let mut seqs = Vec::new();
    let mut messages = 0;
    for g in &grams {
        if let Some((_, Message::Reply(entries))) = h.sink.receive(h.t0, &g.datagram) {
            messages += 1;
            seqs.extend(entries.iter().map(|e| e.seq));
        }
    }
    assert_eq!(seqs, (1..=n + 1).collect::<Vec<_>>());
    // 100-byte replies, ~107 bytes encoded: four per 600-byte datagram, whose MAC vector
    // for a front end's address has eight tags in the test roster (seven front ends and the
    // operator).
    assert_eq!(messages, n.div_ceil(4) as usize + 1);
    // Each batch but the oversized one went out as a single datagram, packed full.
    assert!(grams.len() > messages);
}

#[test]
fn reask_is_served_from_the_cache_without_redelivery() {
    let cfg = RmConfig {
        reply_cache: 3,
        ..cfg(2)
    };
    let mut h = Harness::with(cfg, 0, 1400);
    h.data(0, &[1, 2, 3, 4]);
    assert_eq!(h.deliver().len(), 4);
    for s in 1..=4 {
        h.reply(1, s, vec![s as u8]);
    }
    h.sent();
    // 1 fell out of the cache; 9 was never executed.
    h.fe_says(2, &Message::Reask(vec![4, 1, 2, 9]));
    assert!(h.deliver().is_empty());
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    let (to, msg) = &sent[0];
    assert_eq!(*to, Destination::Addr(addr(FE)));
    let Message::Reply(entries) = msg else {
        panic!("{msg:?}")
    };
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.seq, e.reply.clone()))
            .collect::<Vec<_>>(),
        vec![(4, vec![4]), (2, vec![2])]
    );
    assert!(entries
        .iter()
        .all(|e| e.replica == r(2) && e.id.number == e.seq + 1000));
    assert_eq!(h.rm.counters().reasked, 2);
    // Delivered but not replied yet: nothing to resend.
    h.data(3, &[5]);
    h.deliver();
    h.sent();
    h.fe_says(4, &Message::Reask(vec![5]));
    assert!(h.sent().is_empty());
}

#[test]
fn faults_become_deduplicated_events() {
    let mut h = Harness::new();
    let f = |seq, replica, kind| FaultReport {
        seq,
        replica: r(replica),
        kind,
    };
    h.fe_says(
        0,
        &Message::Faults(vec![
            f(5, 2, FaultKind::Wrong),
            f(5, 2, FaultKind::Wrong),
            f(5, 3, FaultKind::Missing),
            f(0, 1, FaultKind::Wrong),
        ]),
    );
    assert_eq!(
        h.events(),
        vec![
            RmEvent::Fault(f(5, 2, FaultKind::Wrong)),
            RmEvent::Fault(f(5, 3, FaultKind::Missing))
        ]
    );
    h.fe_says(
        1,
        &Message::Faults(vec![f(5, 2, FaultKind::Wrong), f(5, 2, FaultKind::Missing)]),
    );
    assert_eq!(
        h.events(),
        vec![RmEvent::Fault(f(5, 2, FaultKind::Missing))]
    );
    assert_eq!(h.rm.counters().dropped_faults, 3);
    // Silence of another replica is checked with its owner, once per retry interval.
    let probes: Vec<_> = h
        .sent()
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Probe { .. }))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(probes, vec![Destination::ReplicaManager(r(3))]);
}

#[test]
fn fault_dedup_window_is_bounded() {
    let mut d = FaultDedup {
        seen: HashSet::new(),
        order: VecDeque::new(),
    };
    let r = |seq| FaultReport {
        seq,
        replica: r(1),
        kind: FaultKind::Wrong,
    };
    for s in 1..=FAULT_DEDUP_WINDOW as u64 + 10 {
        assert!(d.insert(r(s)));
    }
    assert_eq!(d.seen.len(), FAULT_DEDUP_WINDOW);
    assert!(!d.insert(r(FAULT_DEDUP_WINDOW as u64)));
    assert!(d.insert(r(1)), "forgotten");
}

#[test]
fn status_query_is_answered() {
    let mut h = Harness::new();
    h.data(0, &[1, 2]);
    h.deliver();
    h.reply(0, 1, vec![1]);
    h.sent();
    let q = h
        .tool
        .encode(
            &Message::StatusQuery { nonce: 77 },
            Destination::AllReplicaManagers,
        )
        .unwrap();
    // The shell hands in the free space it read; the core only reports it.
    let disk = crate::wire::DiskSpace {
        available: 7 << 30,
        size: 64 << 30,
    };
    h.rm.set_disk(Some(disk));
    h.rm.handle_datagram(h.at(1), addr(TOOL), &q[0]);
    let status = RmStatus {
        id: r(2),
        implementation: "sqlite".into(),
        pid: 4321,
        state: ReplicaState::Up,
        last_seq: 1,
        consecutive_faults: 0,
        generation: 0,
        last_wrong_ms_ago: None,
        // Not idle (seq 2 is outstanding): no digest at last_seq yet.
        digest: None,
        executed: 1,
        dropped_datagrams: 0,
        // Nothing synced yet; seq 2 is known and outstanding.
        synced: 0,
        high: 2,
        checkpoint: None,
        transfers: 0,
        instance: 0,
        notices: Vec::new(),
        disk: Some(disk),
    };
    assert_eq!(
        h.sent(),
        vec![(
            Destination::Addr(addr(TOOL)),
            Message::RmStatus {
                nonce: 77,
                status: status.clone()
            }
        )]
    );
    assert_eq!(h.rm.status(), status);
    // Idle: the digest at last_seq, asked for at most every 200 ms.
    h.reply(2, 2, vec![2]);
    h.timeout(200);
    assert_eq!(h.rm.status().digest, Some([2; 32]));
}

#[test]
fn reset_to_skips_ahead() {
    let mut h = Harness::with(
        RmConfig {
            sync_interval: Duration::ZERO,
            ..cfg(2)
        },
        0,
        1400,
    );
    h.data(0, &[1, 2, 4, 5, 7, 8, 9, 10, 12]);
    assert_eq!(h.deliver_all(), vec![1, 2]);
    h.sent();
    h.rm.reset_to(h.at(1), 8);
    h.replica_applied = 8;
    h.rm.queue.check_invariants();
    assert_eq!(h.rm.status().last_seq, 8);
    // What follows 8 goes to the replica at once.
    assert_eq!((h.rm.delivered(), h.rm.received()), (10, 10));
    assert_eq!(h.deliver(), vec![9, 10]);
    h.data(2, &[6, 8, 11]);
    assert_eq!(h.deliver(), vec![11, 12]);
    assert_eq!(h.rm.counters().duplicates, 2);
    for s in 9..=12 {
        h.reply(3, s, vec![s as u8]);
    }
    assert_eq!(h.rm.status().last_seq, 12);
    h.timeout(30);
    assert_eq!(h.acks(), vec![(12, 12)]);
}

#[test]
fn reset_to_can_rewind() {
    let mut h = Harness::with(
        RmConfig {
            sync_interval: Duration::ZERO,
            ..cfg(2)
        },
        0,
        1400,
    );
    h.data(0, &(1..=10).collect::<Vec<_>>());
    h.deliver_all();
    assert_eq!(h.rm.applied(), 10);
    h.seq_says(
        0,
        &Message::Heartbeat {
            view: 0,
            high: 10,
            low: 1,
        },
    );
    h.sent();
    h.rm.reset_to(h.at(1), 4);
    assert_eq!(h.nacks(), vec![vec![(5, 10)]]);
    assert_eq!(h.rm.applied(), 4);
    // Replies above 4 are no longer cached (they will be recomputed).
    h.fe_says(2, &Message::Reask(vec![4, 5]));
    let sent = h.sent();
    assert!(matches!(&sent[..], [(_, Message::Reply(e))] if e.len() == 1 && e[0].seq == 4));
    h.replica_applied = 4;
    h.data(3, &(5..=10).collect::<Vec<_>>());
    assert_eq!(h.deliver_all(), (5..=10).collect::<Vec<_>>());
}

/// The replica's answers come in the order of what was written: anything else means it is
/// broken, and it is replaced; whatever the old process still says is ignored.
#[test]
fn an_answer_out_of_order_replaces_the_replica() {
    let mut h = Harness::new();
    h.data(0, &[1, 2, 3]);
    h.deliver();
    h.sent();
    let now = h.at(1);
    h.rm.handle_replica(
        now,
        FromReplica::Applied {
            seq: 2,
            reply: vec![2],
        },
    );
    assert_eq!(
        std::iter::from_fn(|| h.rm.poll_command()).collect::<Vec<_>>(),
        vec![
            Command::Persist(Record {
                generation: 1,
                from_seq: 3,
                recovering: true
            }),
            Command::StartReplica { fresh: true },
        ]
    );
    assert!(matches!(
        &h.events()[..],
        [RmEvent::Replacing {
            reason: ReplaceReason::Failed(_),
            incarnation: Incarnation {
                generation: 1,
                from_seq: 3
            }
        }]
    ));
    h.rm.handle_replica(
        now,
        FromReplica::Applied {
            seq: 3,
            reply: vec![3],
        },
    );
    assert_eq!(h.rm.counters().stale_answers, 1);
    assert_eq!(h.rm.status().state, ReplicaState::Recovering);
    assert!(
        !h.sent().iter().any(|(_, m)| matches!(m, Message::Reply(_))),
        "no reply from a replica being replaced"
    );
}

#[test]
fn garbage_and_nonsense_are_counted_and_ignored() {
    let mut h = Harness::new();
    let now = h.at(1);
    let good = h
        .seq
        .encode(
            &Message::Data(vec![entry(1, addr(FE))]),
            Destination::AllReplicaManagers,
        )
        .unwrap()
        .remove(0);
    let mut bad_mac = good.clone();
    bad_mac[crate::wire::HEADER_LEN] ^= 1;
    let other = Link::new(crate::wire::testing::impostor_config(
        NodeId::Sequencer(1),
        "test",
        1400,
    ))
    .unwrap()
    .encode(
        &Message::Data(vec![entry(1, addr(FE))]),
        Destination::AllReplicaManagers,
    )
    .unwrap()
    .remove(0);
    for g in [
        &good[..3],
        &bad_mac[..],
        &other[..],
        b"hello world, this is not a datagram at all",
        &[],
    ] {
        h.rm.handle_datagram(now, addr(SEQ), g);
    }
    assert_eq!(h.rm.stats().dropped(), 5);

    // Authentic but senseless: Data from a front end, an Ack to an RM, Faults from the
    // sequencer, Reask from another RM.
    h.fe_says(1, &Message::Data(vec![entry(1, addr(FE))]));
    h.fe_says(
        1,
        &Message::Ack {
            received: 5,
            applied: 5,
        },
    );
    h.seq_says(
        1,
        &Message::Faults(vec![FaultReport {
            seq: 1,
            replica: r(1),
            kind: FaultKind::Wrong,
        }]),
    );
    let rm = link(NodeId::ReplicaManager(r(1)), 1400)
        .encode(&Message::Reask(vec![1]), Destination::AllReplicaManagers)
        .unwrap();
    h.rm.handle_datagram(now, addr(FE), &rm[0]);
    assert_eq!(h.rm.counters().ignored, 4);
    // Impossible seqs in Data.
    h.seq_says(
        1,
        &Message::Data(vec![entry(0, addr(FE)), entry(u64::MAX, addr(FE))]),
    );
    assert_eq!(h.rm.counters().invalid_entries, 2);

    assert!(h.deliver().is_empty());
    assert!(h.events().is_empty());
    assert!(h.sent().is_empty());
    assert_eq!(h.rm.received(), 0);
    // The good one still works.
    h.rm.handle_datagram(now, addr(SEQ), &good);
    assert_eq!(h.deliver_all(), vec![1]);
}

#[test]
fn extreme_heartbeats_do_not_panic() {
    let mut h = Harness::new();
    h.seq_says(
        0,
        &Message::Heartbeat {
            view: 0,
            high: u64::MAX,
            low: u64::MAX,
        },
    );
    h.seq_says(
        1,
        &Message::Heartbeat {
            view: 0,
            high: u64::MAX,
            low: 0,
        },
    );
    h.rm.handle_timeout(h.at(50));
    let nacks = h.nacks();
    assert!(nacks
        .iter()
        .flatten()
        .all(|&(a, b)| a >= 1 && a <= b && b <= DEFAULT_HOLDBACK_MAX as u64));
    h.rm.reset_to(h.at(60), u64::MAX);
    h.timeout(100);
    h.sent();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any arrival order, with any duplicates, in any packing into messages, delivers
    /// exactly 1..=n in order; interleaved delivery polls and heartbeats change nothing.
    #[test]
    fn any_permutation_with_duplicates_delivers_exactly_once_in_order(
        n in 1u64..300,
        seed in any::<u64>(),
        dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..200),
        chunk in 1usize..20,
        poll_every in 1usize..10,
    ) {
        let mut h = Harness::new();
        let mut seqs: Vec<u64> = (1..=n).collect();
        seqs.extend(dups.iter().map(|i| i.index(n as usize) as u64 + 1));
        tessera_testkit::Rng::new(seed).shuffle(&mut seqs);
        let mut got = Vec::new();
        for (i, c) in seqs.chunks(chunk).enumerate() {
            h.data(i as u64, c);
            if i % poll_every == 0 {
                got.extend(h.deliver_all());
            }
            if i % 5 == 0 {
                h.seq_says(i as u64, &Message::Heartbeat { view: 0, high: n, low: 1 });
            }
            h.rm.queue.check_invariants();
            prop_assert!(h.rm.delivered() <= h.rm.received());
            h.sent();
        }
        got.extend(h.deliver_all());
        prop_assert_eq!(got, (1..=n).collect::<Vec<_>>());
        prop_assert_eq!(h.rm.counters().duplicates, dups.len() as u64);
        prop_assert_eq!(h.rm.received(), n);
    }
}

#[test]
fn at_most_max_in_flight_requests_are_written_to_the_replica() {
    let mut h = Harness::new();
    let n = MAX_IN_FLIGHT as u64 + 44;
    h.data(0, &(1..=n).collect::<Vec<_>>());
    let first = h.deliver();
    assert_eq!(first.len(), MAX_IN_FLIGHT);
    assert_eq!(h.rm.held(), 44, "the rest waits in the hold-back queue");
    h.reply(1, 1, vec![1]);
    assert_eq!(h.deliver(), vec![MAX_IN_FLIGHT as u64 + 1]);
}

#[test]
fn a_checkpoint_is_exported_right_after_its_seq_and_its_digest_broadcast() {
    let mut h = Harness::with(
        RmConfig {
            checkpoint_interval: 3,
            ..cfg(2)
        },
        0,
        1400,
    );
    h.data(0, &[1, 2, 3, 4]);
    h.deliver();
    let order: Vec<_> = h
        .written
        .iter()
        .map(|r| match r {
            ToReplica::Apply { seq, .. } => format!("apply {seq}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        order,
        ["apply 1", "apply 2", "apply 3", "Export", "apply 4"]
    );
    for s in 1..=3 {
        h.reply(1, s, vec![1]);
    }
    let digest = Digest::of_state(&tessera_types::Snapshot::default().encode()).0;
    let checkpoints: Vec<_> = h
        .sent()
        .into_iter()
        .filter_map(|(to, m)| match m {
            Message::Checkpoint { seq, digest: d, .. } => Some((to, seq, d)),
            _ => None,
        })
        .collect();
    assert_eq!(
        checkpoints,
        [1, 3, 4].map(|p| (Destination::ReplicaManager(r(p)), 3, digest))
    );
}

/// Three votes against our replica: the new incarnation is persisted (marked recovering)
/// before the shell is asked to start a fresh replica on wiped storage, and both before the
/// `Replaced` announcement leaves; once a snapshot is installed, the record says so.
#[test]
fn a_replacement_persists_its_incarnation_before_it_wipes_and_announces() {
    let mut h = Harness::new();
    h.data(0, &[1, 2]);
    h.deliver_all();
    h.sent();
    for voter in [1, 3, 4] {
        let vote = Message::Vote {
            replica: r(2),
            generation: 0,
            reason: VoteReason::Wrong,
        };
        for g in link(NodeId::ReplicaManager(r(voter)), 1400)
            .encode(&vote, Destination::AllReplicaManagers)
            .unwrap()
        {
            h.rm.handle_datagram(h.at(1), addr(SEQ), &g);
        }
    }
    let commands: Vec<_> = std::iter::from_fn(|| h.rm.poll_command()).collect();
    let persisted = Record {
        generation: 1,
        from_seq: 2,
        recovering: true,
    };
    assert_eq!(
        commands,
        vec![
            Command::Persist(persisted),
            Command::StartReplica { fresh: true },
        ]
    );
    let sent = h.sent();
    assert!(sent.iter().any(|(_, m)| *m
        == Message::Replaced {
            incarnation: persisted.incarnation()
        }));
    assert_eq!(h.rm.status().state, ReplicaState::Recovering);
    // The fresh replica starts; two peers offer the empty state at 0 (seq 1 is retained):
    // it is installed, and delivery resumes from 1.
    h.rm.handle_replica_started(h.at(2), 5555, 0);
    h.replica_applied = 0;
    let nonce = sent
        .iter()
        .find_map(|(_, m)| match m {
            Message::SnapshotQuery { nonce, .. } => Some(*nonce),
            _ => None,
        })
        .expect("the state transfer asks its peers");
    for peer in [1, 3] {
        let offer = Message::SnapshotOffer {
            nonce,
            checkpoints: Vec::new(),
            snapshot: None,
        };
        for g in link(NodeId::ReplicaManager(r(peer)), 1400)
            .encode(&offer, Destination::AllReplicaManagers)
            .unwrap()
        {
            h.rm.handle_datagram(h.at(3), addr(SEQ), &g);
        }
    }
    h.pump(h.at(3));
    assert!(!h.rm.is_recovering());
    assert_eq!(
        h.persisted.last(),
        Some(&Record {
            recovering: false,
            ..persisted
        })
    );
    assert_eq!(h.rm.status().pid, 5555);
    assert_eq!(h.rm.status().generation, 1);
    // Watchers see the replacement and the transfer that followed (the empty state's
    // canonical snapshot is two bytes: no slots, no remembered calls), 2 ms after it began,
    // in that order.
    let notices: Vec<_> = h.rm.status().notices.iter().map(|n| n.notice).collect();
    assert_eq!(
        notices,
        vec![
            Notice::Replaced {
                incarnation: persisted.incarnation(),
                cause: ReplaceCause::Voted(VoteReason::Wrong),
            },
            Notice::Transferred {
                seq: 0,
                bytes: 2,
                millis: 2,
            },
        ]
    );
    assert_eq!(h.rm.status().transfers, 1);
    assert_eq!(h.rm.counters().transfers, 1);
    assert_eq!(h.rm.guard_counters().votes_received, 3);
}

#[test]
fn a_restart_after_a_cut_short_transfer_wipes_and_transfers_again() {
    let t0 = Instant::now();
    let record = Record {
        generation: 4,
        from_seq: 900,
        recovering: true,
    };
    let mut rm = ReplicaManager::new(link(NodeId::ReplicaManager(r(3)), 1400), cfg(3), record, t0);
    assert_eq!(
        rm.poll_command(),
        Some(Command::StartReplica { fresh: true })
    );
    assert!(rm.is_recovering());
    assert_eq!(rm.poll_event(), Some(RmEvent::ResumedTransfer));
    rm.handle_replica_started(t0, 1, 0);
    assert_eq!(rm.status().state, ReplicaState::Recovering);
    assert_eq!(rm.generation(), 4);
}

#[test]
fn a_replica_that_exits_is_replaced_without_a_vote() {
    let mut h = Harness::new();
    h.data(0, &[1]);
    h.deliver_all();
    h.rm.handle_replica_exited(h.at(1));
    assert_eq!(
        std::iter::from_fn(|| h.rm.poll_command()).collect::<Vec<_>>(),
        vec![
            Command::Persist(Record {
                generation: 1,
                from_seq: 1,
                recovering: true
            }),
            Command::StartReplica { fresh: true },
        ]
    );
    assert!(matches!(
        &h.events()[..],
        [RmEvent::Replacing {
            reason: ReplaceReason::Exited,
            ..
        }]
    ));
}

/// Status tells the truth: a replica whose latest answers are wrong is `lying`, one that a
/// manager voted against is `voted-out`, and the time since its last wrong answer is shown.
#[test]
fn status_shows_a_lying_replica_and_one_being_voted_out() {
    let mut h = Harness::new();
    let wrong = |seq| FaultReport {
        seq,
        replica: r(2),
        kind: FaultKind::Wrong,
    };
    h.fe_says(10, &Message::Faults(vec![wrong(1), wrong(2)]));
    let s = h.rm.status();
    assert_eq!((s.state, s.consecutive_faults), (ReplicaState::Up, 2));
    h.fe_says(20, &Message::Faults(vec![wrong(3)]));
    let q = h
        .tool
        .encode(
            &Message::StatusQuery { nonce: 1 },
            Destination::AllReplicaManagers,
        )
        .unwrap();
    h.rm.handle_datagram(h.at(70), addr(TOOL), &q[0]);
    let s = h.rm.status();
    assert_eq!((s.state, s.consecutive_faults), (ReplicaState::Lying, 3));
    assert_eq!(s.last_wrong_ms_ago, Some(50));
    // One notice for the run, at its first wrong answer, 60 ms before the query.
    assert_eq!(
        s.notices
            .iter()
            .map(|n| (n.notice, n.ms_ago))
            .collect::<Vec<_>>(),
        vec![(Notice::Wrong { seq: 1 }, 60)]
    );
    let vote = Message::Vote {
        replica: r(2),
        generation: 0,
        reason: VoteReason::Wrong,
    };
    let mut vote_from = |manager: u8| {
        for g in link(NodeId::ReplicaManager(r(manager)), 1400)
            .encode(&vote, Destination::AllReplicaManagers)
            .unwrap()
        {
            h.rm.handle_datagram(h.at(80), addr(SEQ), &g);
        }
        h.rm.status().state
    };
    // One vote may be a Byzantine manager's: not enough to show it.
    assert_eq!(vote_from(1), ReplicaState::Lying);
    assert_eq!(vote_from(3), ReplicaState::VotedOut);
}

/// A peer fetching a snapshot part by part keeps getting it after newer checkpoints pushed it
/// out of the two kept: a large snapshot takes longer to send than a checkpoint lasts.
#[test]
fn a_snapshot_being_fetched_is_served_after_newer_checkpoints_replace_it() {
    let mut h = Harness::with(
        RmConfig {
            checkpoint_interval: 3,
            ..cfg(2)
        },
        0,
        1400,
    );
    let snapshot = tessera_types::Snapshot::default().encode();
    let digest = Digest::of_state(&snapshot).0;
    let peer = link(NodeId::ReplicaManager(r(1)), 1400);
    let ask = |h: &mut Harness, ms: u64, msg: &Message| {
        for g in peer.encode(msg, Destination::AllReplicaManagers).unwrap() {
            h.rm.handle_datagram(h.at(ms), addr(SEQ), &g);
        }
        h.pump(h.at(ms));
        h.sent()
    };
    h.data(0, &[1, 2, 3]);
    assert_eq!(h.deliver_all(), vec![1, 2, 3]);
    h.sent();
    let fetch = Message::SnapshotFetch {
        nonce: 5,
        seq: 3,
        offset: 0,
    };
    let part = Message::SnapshotPart {
        nonce: 5,
        seq: 3,
        total: snapshot.len() as u64,
        offset: 0,
        bytes: snapshot.clone(),
    };
    assert!(ask(&mut h, 1, &fetch).iter().any(|(_, m)| *m == part));
    // Checkpoints 6 and 9 replace 3 among the two kept...
    h.data(2, &(4..=9).collect::<Vec<_>>());
    assert_eq!(h.deliver_all(), (4..=9).collect::<Vec<_>>());
    h.sent();
    // ...but 3 is still offered and served to the peer fetching it.
    let query = Message::SnapshotQuery {
        nonce: 6,
        fetch: None,
    };
    let offered = ask(&mut h, 3, &query)
        .into_iter()
        .find_map(|(_, m)| match m {
            Message::SnapshotOffer { checkpoints, .. } => Some(checkpoints),
            _ => None,
        })
        .expect("an offer");
    assert_eq!(offered, vec![(6, digest), (9, digest), (3, digest)]);
    assert!(ask(&mut h, 4, &fetch).iter().any(|(_, m)| *m == part));
    // A snapshot it never held: it says what it holds instead.
    let unknown = Message::SnapshotFetch {
        nonce: 5,
        seq: 4,
        offset: 0,
    };
    assert!(ask(&mut h, 5, &unknown)
        .iter()
        .any(|(_, m)| matches!(m, Message::SnapshotOffer { snapshot: None, .. })));
}

/// The checkpoint a manager installed is one it serves: two peers vouched for it, and it is
/// its replica's state. Without that, replicas replaced one after another while the cluster
/// was idle left ever fewer peers holding the latest checkpoint, and the third replacement
/// found no two to agree (the catch-up bench).
#[test]
fn an_installed_snapshot_is_served_like_a_checkpoint() {
    let mut h = Harness::new();
    h.data(0, &(1..=300).collect::<Vec<_>>());
    h.seq_says(
        1,
        &Message::Heartbeat {
            view: 0,
            high: 300,
            low: 280,
        },
    );
    assert!(h.rm.is_recovering());
    let nonce = h
        .sent()
        .into_iter()
        .find_map(|(_, m)| match m {
            Message::SnapshotQuery { nonce, .. } => Some(nonce),
            _ => None,
        })
        .expect("the transfer asks its peers");
    let snapshot = tessera_types::Snapshot::default().encode();
    let digest = Digest::of_state(&snapshot).0;
    let from = |h: &mut Harness, peer: u8, ms: u64, msg: &Message| {
        for g in link(NodeId::ReplicaManager(r(peer)), 1400)
            .encode(msg, Destination::AllReplicaManagers)
            .unwrap()
        {
            h.rm.handle_datagram(h.at(ms), addr(SEQ), &g);
        }
        h.pump(h.at(ms));
        h.sent()
    };
    for peer in [1, 3] {
        let offer = Message::SnapshotOffer {
            nonce,
            checkpoints: vec![(290, digest)],
            snapshot: None,
        };
        from(&mut h, peer, 2, &offer);
    }
    let part = Message::SnapshotPart {
        nonce,
        seq: 290,
        total: snapshot.len() as u64,
        offset: 0,
        bytes: snapshot.clone(),
    };
    from(&mut h, 1, 3, &part);
    // The import waits for the requests already in the replica's pipe.
    h.deliver_all();
    h.pump(h.at(4));
    assert!(!h.rm.is_recovering());
    let query = Message::SnapshotQuery {
        nonce: 77,
        fetch: None,
    };
    let offered = from(&mut h, 4, 5, &query)
        .into_iter()
        .find_map(|(_, m)| match m {
            Message::SnapshotOffer { checkpoints, .. } => Some(checkpoints),
            _ => None,
        })
        .expect("an offer");
    assert_eq!(offered, vec![(290, digest)]);
}

fn read_entry(number: u64, at_least: u64) -> ReadEntry {
    ReadEntry {
        id: RequestId {
            front_end: 42,
            number,
        },
        at_least,
        request: format!("read {number}").into_bytes(),
    }
}

/// The fast-read answers in `sent`: (to, number, seq, reply).
fn read_replies(sent: &[(Destination, Message)]) -> Vec<(Destination, u64, u64, Vec<u8>)> {
    sent.iter()
        .filter_map(|(to, m)| match m {
            Message::ReadReply(entries) => Some(entries.iter().map(move |e| {
                assert_eq!(e.replica, r(2));
                (*to, e.id.number, e.seq, e.reply.clone())
            })),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_fast_read_waits_until_its_index_was_given_to_the_replica() {
    let mut h = Harness::new();
    h.data(0, &[1, 2, 3]);
    assert_eq!(h.deliver(), vec![1, 2, 3]);
    h.fe_says(1, &Message::Read(vec![read_entry(7, 5), read_entry(8, 2)]));
    // Read 8's index was written: it goes behind seq 3 in the pipe. Read 7 waits for 5.
    let reads: Vec<_> = h
        .written
        .iter()
        .filter(|w| matches!(w, ToReplica::Read { .. }))
        .collect();
    assert_eq!(reads.len(), 1, "{:?}", h.written);
    for seq in 1..=3 {
        h.reply(1, seq, vec![seq as u8]);
    }
    let sent = h.sent();
    let at = |seq: u64| seq.to_le_bytes();
    assert_eq!(
        read_replies(&sent),
        vec![(
            Destination::Addr(addr(FE)),
            8,
            3,
            [&b"read 8 at "[..], &at(3)].concat()
        )]
    );
    h.data(2, &[4, 5]);
    h.deliver_all();
    assert_eq!(
        read_replies(&h.sent()),
        vec![(
            Destination::Addr(addr(FE)),
            7,
            5,
            [&b"read 7 at "[..], &at(5)].concat()
        )]
    );
    assert_eq!(h.rm.counters().reads_served, 2);
    // A read is never ordered: nothing about it goes to the sequencer, and seqs are not used.
    assert_eq!(h.rm.status().last_seq, 5);
}

#[test]
fn a_fast_read_answered_below_its_index_is_not_sent() {
    // The replica says it read at 3 although 5 was written before the read: a correct replica
    // cannot, so the manager keeps quiet and the front end orders the read.
    let mut h = Harness::new();
    h.data(0, &[1, 2, 3, 4, 5]);
    h.deliver_all();
    h.sent();
    h.replica_applied = 3;
    h.fe_says(1, &Message::Read(vec![read_entry(9, 5)]));
    h.deliver_all();
    assert!(read_replies(&h.sent()).is_empty());
}

/// The digests this manager sent its peers: (to, seq, digest).
fn digests_sent(sent: Vec<(Destination, Message)>) -> Vec<(Destination, u64, [u8; 32])> {
    sent.into_iter()
        .filter_map(|(to, m)| match m {
            Message::Checkpoint { seq, digest, .. } => Some((to, seq, digest)),
            _ => None,
        })
        .collect()
}

/// A replica idle between the calls of a steady trickle is not asked for its digest: every
/// replica walking its whole state at about the same time held up the next call. Once it
/// has been quiet for `DIGEST_QUIET` it is, and the digest at the seq it stopped at goes to
/// the other managers, to be compared like a checkpoint's.
#[test]
fn an_idle_replica_is_asked_for_its_digest_once_quiet_and_the_peers_are_told() {
    let mut h = Harness::new();
    let quiet = pipeline::DIGEST_QUIET.as_millis() as u64;
    let every = quiet / 2;
    // Longer than `DIGEST_EVERY`, the least time between two digests.
    let calls = 2 * pipeline::DIGEST_EVERY.as_millis() as u64 / every;
    for k in 1..=calls {
        let ms = k * every;
        h.data(ms, &[k]);
        assert_eq!(h.deliver(), vec![k]);
        h.reply(ms, k, vec![1]);
        h.timeout(ms + every - 1);
        assert_eq!(digests_sent(h.sent()), vec![], "call {k}: not quiet yet");
    }
    let last = calls * every;
    h.timeout(last + quiet - 1);
    assert_eq!(digests_sent(h.sent()), vec![]);
    h.timeout(last + quiet);
    assert_eq!(
        digests_sent(h.sent()),
        [1, 3, 4].map(|p| (Destination::ReplicaManager(r(p)), calls, [calls as u8; 32]))
    );
    // Once per seq: nothing more while nothing more is applied.
    h.timeout(last + 10 * quiet);
    assert_eq!(digests_sent(h.sent()), vec![]);
}
