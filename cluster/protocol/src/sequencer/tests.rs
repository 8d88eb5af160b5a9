//! The sequencer driven by real sealed datagrams from `Link`s acting as front ends, replica
//! managers and tools.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::ReplicaId;

/// Replica `n` (1..=4), for tests.
fn r(n: u8) -> ReplicaId {
    ReplicaId::new(n).expect("a replica number")
}
use crate::wire::LinkConfig;

const MAX_DATAGRAM: usize = 1200;

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

/// The incarnation of the harness's front end, `FrontEnd(5)`.
const FE: u64 = (77 << RequestId::FRONT_END_BITS) | 5;
const FE_ADDR: u16 = 9000;
const REPLY_TO: u16 = 9001;

fn id(number: u64) -> RequestId {
    RequestId {
        front_end: FE,
        number,
    }
}

fn sub(number: u64) -> Submission {
    Submission {
        id: id(number),
        reply_to: addr(REPLY_TO),
        request: format!("request {number}").into_bytes(),
        trace: String::new(),
    }
}

fn entry(seq: u64, number: u64, ts: u64) -> Sequenced {
    Sequenced {
        seq,
        id: id(number),
        reply_to: addr(REPLY_TO),
        timestamp_ms: ts,
        request: format!("request {number}").into_bytes(),
        trace: String::new(),
    }
}

/// A sequencer plus peer links to build its input and decode its output.
struct H {
    s: Sequencer,
    now: Instant,
    fe: Link,
    rms: Vec<Link>,
    tool: Link,
}

impl H {
    fn new(retain_max: usize) -> Self {
        Self::recovered(retain_max, Vec::new(), 1)
    }

    fn recovered(retain_max: usize, recovered: Vec<Sequenced>, first_seq: u64) -> Self {
        Self::with(retain_max, recovered, first_seq, MAX_DATAGRAM)
    }

    fn with(
        retain_max: usize,
        recovered: Vec<Sequenced>,
        first_seq: u64,
        max_datagram: usize,
    ) -> Self {
        let now = Instant::now();
        // Most tests check that acknowledged entries are freed; `retain_min` has its own test.
        let cfg = SequencerConfig {
            timeouts: Timeouts::default(),
            retain_max,
            retain_min: 0,
            instance: 0,
            ..SequencerConfig::default()
        };
        let mut s = Sequencer::new(
            link(NodeId::Sequencer(1), max_datagram),
            cfg,
            Recovered {
                entries: recovered,
                ..Recovered::default()
            },
            first_seq,
            now,
        );
        s.set_wall_clock_ms(1_000);
        H {
            s,
            now,
            fe: link(NodeId::FrontEnd(5), max_datagram),
            rms: (1..=REPLICAS)
                .map(|i| link(NodeId::ReplicaManager(r(i)), max_datagram))
                .collect(),
            tool: link(NodeId::Tool(1), max_datagram),
        }
    }

    fn t(&self) -> &Timeouts {
        &self.s.cfg.timeouts
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    fn deliver(&mut self, from: &Link, port: u16, msg: &Message) {
        for g in from.encode(msg, Destination::Sequencer(1)).unwrap() {
            self.s.handle_datagram(self.now, addr(port), &g);
        }
    }

    /// Delivers `msg` from the harness's own link of a front end (`None`) or manager `i`.
    fn deliver_from(&mut self, rm: Option<u8>, port: u16, msg: &Message) {
        let from = match rm {
            None => &self.fe,
            Some(i) => &self.rms[usize::from(i - 1)],
        };
        for g in from.encode(msg, Destination::Sequencer(1)).unwrap() {
            self.s.handle_datagram(self.now, addr(port), &g);
        }
    }

    fn submit_from(&mut self, port: u16, floor: u64, numbers: &[u64]) {
        let msg = Message::Submit {
            floor,
            entries: numbers.iter().map(|&n| sub(n)).collect(),
        };
        self.deliver_from(None, port, &msg);
    }

    fn submit(&mut self, floor: u64, numbers: &[u64]) {
        self.submit_from(FE_ADDR, floor, numbers);
    }

    fn rm_says(&mut self, i: u8, msg: Message) {
        self.deliver_from(Some(i), 7400 + u16::from(i), &msg);
    }

    fn ack(&mut self, i: u8, received: u64, applied: u64) {
        self.rm_says(i, Message::Ack { received, applied });
    }

    fn ack_all(&mut self, received: u64, applied: u64) {
        for i in 1..=REPLICAS {
            self.ack(i, received, applied);
        }
    }

    /// Persists whatever is pending, in as many batches as it takes.
    fn persist_all(&mut self) {
        while appended(self.s.poll_persist()).is_some() {
            self.s.handle_persisted(self.now);
        }
    }

    fn raw(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.s.poll_transmit()).collect()
    }

    /// Drains and decodes every transmit with the link of its recipient.
    fn out(&mut self) -> Vec<(Destination, Message)> {
        let raw = self.raw();
        self.decode(raw)
    }

    fn decode(&mut self, raw: Vec<Transmit>) -> Vec<(Destination, Message)> {
        let now = self.now;
        let mut got = Vec::new();
        for t in raw {
            let receiver = match t.to {
                Destination::Addr(a) if a.port() == 7777 => &mut self.tool,
                Destination::Addr(_) => &mut self.fe,
                Destination::ReplicaManager(i) => &mut self.rms[i.index()],
                Destination::AllReplicaManagers => &mut self.rms[0],
                Destination::Sequencer(_) => panic!("a single sequencer sent to a peer"),
            };
            if let Some((sender, msg)) = receiver.receive(now, &t.datagram) {
                assert_eq!(sender, NodeId::Sequencer(1));
                got.push((t.to, msg));
            }
        }
        got
    }

    fn tick(&mut self, d: Duration) -> Vec<(Destination, Message)> {
        self.advance(d);
        self.s.handle_timeout(self.now);
        self.out()
    }
}

/// The entries of a log write that is an append.
fn appended(op: Option<LogOp>) -> Option<Vec<Sequenced>> {
    match op? {
        LogOp::Append(batch) => Some(batch),
        other => panic!("a single sequencer writes only entries, not {other:?}"),
    }
}

fn data_seqs(out: &[(Destination, Message)], to: Destination) -> Vec<u64> {
    out.iter()
        .filter(|(d, _)| *d == to)
        .flat_map(|(_, m)| match m {
            Message::Data(es) => es.iter().map(|e| e.seq).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn ordered(out: &[(Destination, Message)]) -> Vec<(Destination, RequestId, u64)> {
    out.iter()
        .flat_map(|(d, m)| match m {
            Message::Ordered(ps) => ps.iter().map(|&(i, s)| (*d, i, s)).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn heartbeats(out: &[(Destination, Message)]) -> Vec<(Destination, u64, u64)> {
    out.iter()
        .filter_map(|(d, m)| match m {
            Message::Heartbeat { view: 0, high, low } => Some((*d, *high, *low)),
            _ => None,
        })
        .collect()
}

const ALL: Destination = Destination::AllReplicaManagers;

#[test]
fn assigns_consecutive_seqs_without_gaps() {
    let mut h = H::new(1000);
    h.submit(1, &[1, 2, 3]);
    h.submit(1, &[4]);
    h.submit(1, &[5, 6]);
    assert_eq!(h.s.next_seq(), 7);
    let batch = appended(h.s.poll_persist()).unwrap();
    let seqs: Vec<u64> = batch.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
    let numbers: Vec<u64> = batch.iter().map(|e| e.id.number).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4, 5, 6], "arrival order");
    assert!(batch
        .iter()
        .all(|e| e.timestamp_ms == 1_000 && e.reply_to == addr(REPLY_TO)));
    assert_eq!(batch[3].request, b"request 4");
}

#[test]
fn nothing_is_sent_before_the_fsync() {
    let mut h = H::new(1000);
    h.submit(1, &[1, 2]);
    assert!(h.raw().is_empty());
    assert_eq!(appended(h.s.poll_persist()).map(|b| b.len()), Some(2));
    // Heartbeats meanwhile announce only durable seqs.
    let out = h.tick(h.t().heartbeat);
    assert_eq!(heartbeats(&out), vec![(ALL, 0, 1)]);
    assert!(data_seqs(&out, ALL).is_empty() && ordered(&out).is_empty());

    h.s.handle_persisted(h.now);
    let out = h.out();
    assert_eq!(data_seqs(&out, ALL), vec![1, 2]);
    assert_eq!(
        ordered(&out),
        vec![
            (Destination::Addr(addr(FE_ADDR)), id(1), 1),
            (Destination::Addr(addr(FE_ADDR)), id(2), 2)
        ]
    );
    let Message::Data(es) = &out.iter().find(|(d, _)| *d == ALL).unwrap().1 else {
        panic!()
    };
    assert_eq!(es[1], entry(2, 2, 1_000));
}

#[test]
fn ordered_goes_to_each_submitting_address() {
    let mut h = H::new(1000);
    h.submit_from(9100, 0, &[1]);
    h.submit_from(9200, 0, &[2]);
    h.submit_from(9100, 0, &[3]);
    h.persist_all();
    let mut got = ordered(&h.out());
    got.sort_by_key(|&(_, _, s)| s);
    let a = Destination::Addr(addr(9100));
    let b = Destination::Addr(addr(9200));
    assert_eq!(got, vec![(a, id(1), 1), (b, id(2), 2), (a, id(3), 3)]);
}

#[test]
fn group_commit_one_outstanding_batch() {
    let mut h = H::new(100_000);
    h.submit(0, &[1]);
    let first = appended(h.s.poll_persist()).unwrap();
    assert_eq!(first.len(), 1);
    for n in 2..=200 {
        h.submit(0, &[n]);
    }
    assert_eq!(h.s.poll_persist(), None, "one batch outstanding at a time");
    h.s.handle_persisted(h.now);
    let out = h.out();
    assert_eq!(data_seqs(&out, ALL), vec![1]);
    let second = appended(h.s.poll_persist()).unwrap();
    assert_eq!(second.len(), 199, "everything assigned during the fsync");
    assert_eq!(second[0].seq, 2);
    h.submit(0, &[201]);
    assert_eq!(h.s.poll_persist(), None);
    h.s.handle_persisted(h.now);
    let raw = h.raw();
    let datagrams = raw.iter().filter(|t| t.to == ALL).count();
    let out = h.decode(raw);
    assert_eq!(data_seqs(&out, ALL), (2..=200).collect::<Vec<_>>());
    assert!(
        datagrams < 40,
        "packed: {datagrams} datagrams for 199 entries"
    );
    assert_eq!(ordered(&out).len(), 199);
    assert_eq!(appended(h.s.poll_persist()).unwrap().len(), 1);
    // A completion reported twice is ignored.
    h.s.handle_persisted(h.now);
    h.raw();
    h.s.handle_persisted(h.now);
    assert!(h.raw().is_empty());
}

#[test]
fn data_is_packed_into_full_unfragmented_datagrams() {
    let mut h = H::new(100_000);
    let numbers: Vec<u64> = (1..=500).collect();
    for chunk in numbers.chunks(20) {
        h.submit(0, chunk);
    }
    h.persist_all();
    let raw = h.raw();
    let data: Vec<&Transmit> = raw.iter().filter(|t| t.to == ALL).collect();
    assert!(data.iter().all(|t| t.datagram.len() <= MAX_DATAGRAM));
    let mut rm = link(NodeId::ReplicaManager(r(1)), MAX_DATAGRAM);
    let mut seqs = Vec::new();
    for (k, t) in data.iter().enumerate() {
        // Unfragmented: every datagram decodes on its own.
        let Some((_, Message::Data(es))) = rm.receive(h.now, &t.datagram) else {
            panic!("datagram {k} did not decode alone")
        };
        // Full: the next entry would not have fit.
        if k + 1 < data.len() {
            let last = es.last().unwrap().seq;
            let next = entry(last + 1, last + 1, 1_000);
            assert!(t.datagram.len() + crate::wire::batch::encoded_size(&next) + 1 > MAX_DATAGRAM);
        }
        seqs.extend(es.iter().map(|e| e.seq));
    }
    assert_eq!(seqs, numbers);
    let ordered_datagrams = raw.iter().filter(|t| t.to != ALL).count();
    assert!(
        ordered_datagrams <= 20,
        "{ordered_datagrams} Ordered datagrams"
    );
}

#[test]
fn retransmitted_submit_keeps_its_seq() {
    let mut h = H::new(1000);
    h.submit(1, &[1, 2]);
    assert!(appended(h.s.poll_persist()).is_some());
    // Before the fsync: silent, no new seq.
    h.submit(1, &[2, 1]);
    assert_eq!(h.s.next_seq(), 3);
    assert!(h.raw().is_empty());
    h.s.handle_persisted(h.now);
    h.out();
    assert_eq!(appended(h.s.poll_persist()), None);
    // After: Ordered again, to wherever the retransmission came from; and a new one in the
    // same Submit gets the next seq.
    h.submit_from(9300, 1, &[2, 3]);
    assert_eq!(h.s.next_seq(), 4);
    let out = h.out();
    assert_eq!(
        ordered(&out),
        vec![(Destination::Addr(addr(9300)), id(2), 2)]
    );
    assert!(data_seqs(&out, ALL).is_empty());
    assert_eq!(appended(h.s.poll_persist()).unwrap().len(), 1);
}

#[test]
fn floor_forgets_and_drops_stale_duplicates() {
    let mut h = H::new(1000);
    h.submit(1, &[1, 2, 3]);
    h.persist_all();
    h.out();
    assert_eq!(h.s.dedup.remembered(), 3);
    // The front end settled 1 and 2.
    h.submit(3, &[4]);
    assert_eq!(h.s.dedup.remembered(), 2);
    h.persist_all();
    h.out();
    // A late duplicate below the floor is dropped, not ordered again.
    h.submit(3, &[1]);
    assert!(h.out().is_empty());
    assert_eq!(h.s.next_seq(), 5);
    // A new request below the floor is equally stale.
    h.submit(6, &[5]);
    assert_eq!(h.s.next_seq(), 5);
    assert_eq!(h.s.dedup.remembered(), 0);
    // Another front end (its incarnation names front end 6) is unaffected by this one's floor.
    let other = Message::Submit {
        floor: 0,
        entries: vec![Submission {
            id: RequestId {
                front_end: FE + 1,
                number: 1,
            },
            reply_to: addr(REPLY_TO),
            request: vec![1],
            trace: String::new(),
        }],
    };
    let fe = link(NodeId::FrontEnd(6), MAX_DATAGRAM);
    h.deliver(&fe, FE_ADDR, &other);
    assert_eq!(h.s.next_seq(), 6);
}

#[test]
fn ids_are_remembered_for_a_window_of_retain_max_assignments() {
    let mut h = H::new(10);
    for n in 1..=30 {
        h.submit(0, &[n]);
    }
    assert_eq!(h.s.dedup.remembered(), 10);
    h.persist_all();
    h.out();
    h.submit(0, &[25]);
    assert_eq!(
        ordered(&h.out()),
        vec![(Destination::Addr(addr(FE_ADDR)), id(25), 25)]
    );
    // 20 is outside the window: its seq is forgotten, but not that it was ordered.
    h.submit(0, &[20]);
    assert!(h.out().is_empty());
    assert_eq!(h.s.next_seq(), 31, "20 is never ordered again");
    h.submit(0, &[31]);
    assert_eq!(h.s.next_seq(), 32);
}

/// What a restarted sequencer knows: the ids of its log's entries, those beyond the window
/// as forgotten, and its log's summary of deleted segments.
#[test]
fn a_restart_never_orders_again_what_its_log_or_summary_names() {
    let recovered: Vec<Sequenced> = (1..=30).map(|n| entry(100 + n, n, 5_000)).collect();
    let other_fe = RequestId {
        front_end: FE + 1,
        number: 7,
    };
    let h = H::recovered(10, recovered.clone(), 1);
    assert_eq!(h.s.dedup.lookup(id(25)), Lookup::Known(125));
    assert_eq!(h.s.dedup.lookup(id(3)), Lookup::Stale, "beyond the window");
    assert_eq!(h.s.dedup.lookup(id(31)), Lookup::New);
    assert_eq!(h.s.dedup.lookup(other_fe), Lookup::New);

    // The log deleted the segment holding front end 6's requests up to 7.
    let cfg = h.s.cfg.clone();
    let s = Sequencer::new(
        link(NodeId::Sequencer(1), MAX_DATAGRAM),
        cfg,
        Recovered {
            entries: recovered,
            forgotten: vec![other_fe],
            ..Recovered::default()
        },
        1,
        h.now,
    );
    assert_eq!(s.dedup.lookup(other_fe), Lookup::Stale);
    assert_eq!(
        s.dedup.lookup(RequestId {
            number: 1,
            ..other_fe
        }),
        Lookup::Stale
    );
    assert_eq!(
        s.dedup.lookup(RequestId {
            number: 8,
            ..other_fe
        }),
        Lookup::New
    );
    // A later start of front end 6 is new altogether; an earlier one is stale.
    let later = RequestId {
        front_end: other_fe.front_end + (1 << RequestId::FRONT_END_BITS),
        number: 1,
    };
    let earlier = RequestId {
        front_end: other_fe.front_end - (1 << RequestId::FRONT_END_BITS),
        number: 100,
    };
    assert_eq!(s.dedup.lookup(later), Lookup::New);
    assert_eq!(s.dedup.lookup(earlier), Lookup::Stale);
}

#[test]
fn a_newer_incarnation_starts_afresh_and_the_older_one_is_stale() {
    let mut h = H::new(1000);
    h.submit(3, &[3]);
    assert_eq!(h.s.next_seq(), 2);
    let restarted = |number: u64| Submission {
        id: RequestId {
            front_end: FE + (1 << RequestId::FRONT_END_BITS),
            number,
        },
        ..sub(number)
    };
    let msg = Message::Submit {
        floor: 0,
        entries: vec![restarted(1)],
    };
    h.deliver_from(None, FE_ADDR, &msg);
    assert_eq!(h.s.next_seq(), 3, "the new start's first request");
    assert_eq!(h.s.dedup.front_ends(), 1);
    // The old start's requests, new or old, are stale now.
    h.submit(0, &[4, 3]);
    assert_eq!(h.s.next_seq(), 3);
}

#[test]
fn a_front_end_submits_only_under_its_own_id() {
    let mut h = H::new(1000);
    let as_other = Message::Submit {
        floor: 50,
        entries: vec![Submission {
            id: RequestId {
                front_end: FE + 1,
                number: 60,
            },
            ..sub(60)
        }],
    };
    // The harness's front end is 5; the incarnation names 6.
    h.deliver_from(None, FE_ADDR, &as_other);
    assert_eq!(h.s.next_seq(), 1, "not ordered");
    assert_eq!(h.s.dedup.front_ends(), 0, "front end 6's floor not touched");
    let six = link(NodeId::FrontEnd(6), MAX_DATAGRAM);
    h.deliver(&six, FE_ADDR, &as_other);
    assert_eq!(h.s.next_seq(), 2, "front end 6 itself may");
}

#[test]
fn recovery_continues_after_the_log_and_remembers_its_ids() {
    let recovered = vec![entry(5, 1, 4_000), entry(6, 2, 4_100), entry(7, 3, 4_200)];
    let mut h = H::recovered(1000, recovered, 1);
    assert_eq!(h.s.next_seq(), 8);
    assert_eq!(
        h.s.status(),
        SequencerStatus {
            next_seq: 8,
            lowest_retained: 5,
            dropped_datagrams: 0,
            retained: 3,
            instance: 0,
            started_at: 8,
            view: 0,
            primary: Some(1),
            committed: 7,
            disk: None,
        }
    );
    // A restarted sequencer says where it stands at once.
    let out = h.tick(Duration::ZERO);
    assert_eq!(heartbeats(&out), vec![(ALL, 7, 5)]);
    // A front end retransmitting a request the log holds gets its old seq, at once.
    h.submit(0, &[2]);
    assert_eq!(
        ordered(&h.out()),
        vec![(Destination::Addr(addr(FE_ADDR)), id(2), 6)]
    );
    assert_eq!(appended(h.s.poll_persist()), None);
    // A new request continues at last + 1, with a timestamp not before the log's last one
    // even though the shell's clock (1 000) is behind it.
    h.submit(0, &[4]);
    let batch = appended(h.s.poll_persist()).unwrap();
    assert_eq!((batch[0].seq, batch[0].timestamp_ms), (8, 4_200));
    h.s.handle_persisted(h.now);
    // A replica manager that missed the tail before the crash can fetch it.
    h.rm_says(2, Message::Nack(vec![(5, 7)]));
    assert_eq!(
        data_seqs(&h.out(), Destination::ReplicaManager(r(2))),
        vec![5, 6, 7]
    );
}

#[test]
fn empty_log_starts_at_first_seq() {
    let mut h = H::recovered(1000, Vec::new(), 500);
    assert_eq!(h.s.next_seq(), 500);
    h.submit(0, &[1]);
    assert_eq!(appended(h.s.poll_persist()).unwrap()[0].seq, 500);
    assert_eq!(h.s.poll_truncate(), None);
    let h0 = H::recovered(1000, Vec::new(), 0);
    assert_eq!(h0.s.next_seq(), 1);
}

#[test]
fn inconsistent_recovery_does_not_panic() {
    let recovered = vec![
        entry(3, 1, 0),
        entry(2, 9, 0),
        entry(4, 2, 0),
        entry(9, 3, 0),
        entry(10, 4, 0),
    ];
    let mut h = H::recovered(1000, recovered, 1);
    assert_eq!(h.s.next_seq(), 11);
    assert_eq!(h.s.status().lowest_retained, 9);
    h.submit(0, &[2]);
    assert_eq!(
        ordered(&h.out()),
        vec![(Destination::Addr(addr(FE_ADDR)), id(2), 4)]
    );
}

#[test]
fn timestamps_never_decrease() {
    let mut h = H::new(1000);
    h.s.set_wall_clock_ms(5_000);
    h.submit(0, &[1]);
    h.s.set_wall_clock_ms(4_000);
    h.submit(0, &[2]);
    h.s.set_wall_clock_ms(6_000);
    h.submit(0, &[3]);
    let ts: Vec<u64> = appended(h.s.poll_persist())
        .unwrap()
        .iter()
        .map(|e| e.timestamp_ms)
        .collect();
    assert_eq!(ts, vec![5_000, 5_000, 6_000]);
}

fn with_entries(retain_max: usize, n: u64) -> H {
    let mut h = H::new(retain_max);
    h.ack_all(0, 0);
    let numbers: Vec<u64> = (1..=n).collect();
    for chunk in numbers.chunks(50) {
        h.submit(0, chunk);
    }
    h.persist_all();
    h.out();
    h
}

#[test]
fn nack_is_answered_to_that_rm_only() {
    let mut h = with_entries(1000, 20);
    h.rm_says(3, Message::Nack(vec![(4, 6), (10, 10), (18, 99)]));
    let out = h.out();
    assert!(out
        .iter()
        .all(|(d, _)| *d == Destination::ReplicaManager(r(3))));
    assert_eq!(
        data_seqs(&out, Destination::ReplicaManager(r(3))),
        vec![4, 5, 6, 10, 18, 19, 20]
    );
    assert!(heartbeats(&out).is_empty());
    assert_eq!(
        (h.s.counters().nacks_served, h.s.counters().nacked_entries),
        (1, 7)
    );
    // Nonsense ranges are ignored.
    h.rm_says(
        3,
        Message::Nack(vec![(9, 4), (21, 30), (u64::MAX, u64::MAX)]),
    );
    assert!(h.out().is_empty());
    // A Nack from a node that is not a replica manager is ignored.
    let fe = link(NodeId::FrontEnd(5), MAX_DATAGRAM);
    h.deliver(&fe, FE_ADDR, &Message::Nack(vec![(1, 5)]));
    assert!(h.out().is_empty());
}

#[test]
fn nack_resends_are_bounded() {
    let mut h = H::new(100_000);
    h.ack_all(0, 0);
    let big = vec![7u8; 1000];
    for n in 1..=1000u64 {
        let msg = Message::Submit {
            floor: 0,
            entries: vec![Submission {
                id: id(n),
                reply_to: addr(REPLY_TO),
                request: big.clone(),
                trace: String::new(),
            }],
        };
        let fe = link(NodeId::FrontEnd(5), MAX_DATAGRAM);
        h.deliver(&fe, FE_ADDR, &msg);
    }
    h.persist_all();
    h.out();
    h.rm_says(1, Message::Nack(vec![(1, 1000)]));
    let raw = h.raw();
    let bytes: usize = raw.iter().map(|t| t.datagram.len()).sum();
    assert!(
        bytes <= RESEND_BUDGET * 11 / 10 + MAX_DATAGRAM,
        "{bytes} bytes for one Nack"
    );
    let seqs = data_seqs(&h.decode(raw), Destination::ReplicaManager(r(1)));
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "from the start of the range"
    );
    assert!(seqs.len() > 200);
}

#[test]
fn nack_below_retention_gets_a_heartbeat() {
    let mut h = with_entries(5, 20);
    assert_eq!(h.s.status().lowest_retained, 16);
    h.rm_says(2, Message::Nack(vec![(3, 17)]));
    let out = h.out();
    assert!(out
        .iter()
        .all(|(d, _)| *d == Destination::ReplicaManager(r(2))));
    assert_eq!(
        data_seqs(&out, Destination::ReplicaManager(r(2))),
        vec![16, 17]
    );
    assert_eq!(
        heartbeats(&out),
        vec![(Destination::ReplicaManager(r(2)), 20, 16)]
    );
    h.rm_says(2, Message::Nack(vec![(1, 2)]));
    assert_eq!(
        heartbeats(&h.out()),
        vec![(Destination::ReplicaManager(r(2)), 20, 16)]
    );
}

#[test]
fn heartbeats_while_something_to_say_silence_when_idle() {
    let mut h = H::new(1000);
    let hb = h.t().heartbeat;
    assert_eq!(heartbeats(&h.tick(Duration::ZERO)), vec![(ALL, 0, 1)]);
    h.ack_all(0, 0);
    // Idle and caught up: silent.
    for _ in 0..5 {
        assert!(h.tick(hb).is_empty());
    }
    h.submit(0, &[1, 2, 3]);
    h.persist_all();
    h.out();
    // New entries since the last heartbeat: one heartbeat, then silence once acked...
    assert_eq!(heartbeats(&h.tick(hb)), vec![(ALL, 3, 1)]);
    h.ack_all(3, 3);
    assert!(h.tick(hb).is_empty());
    // ...but while a live RM is behind, every interval.
    h.submit(0, &[4]);
    h.persist_all();
    h.out();
    h.ack(1, 4, 4);
    h.ack(2, 4, 4);
    h.ack(3, 4, 4);
    for _ in 0..2 {
        assert_eq!(heartbeats(&h.tick(hb)), vec![(ALL, 4, 4)]);
    }
    // Once that RM is dead it is no reason to talk; when idle a keep-alive still goes out
    // every IDLE_HEARTBEATS intervals.
    let liveness = h.t().liveness;
    h.advance(liveness);
    h.ack(1, 4, 4);
    h.ack(2, 4, 4);
    h.ack(3, 4, 4);
    let mut sent = Vec::new();
    for k in 0..(3 * IDLE_HEARTBEATS) {
        if !heartbeats(&h.tick(hb)).is_empty() {
            sent.push(k);
        }
    }
    assert_eq!(sent.len(), 3, "keep-alives at {sent:?}");
    assert_eq!(sent[1] - sent[0], IDLE_HEARTBEATS);
}

#[test]
fn stalled_rm_gets_a_proactive_retransmission() {
    let mut h = with_entries(1000, 10);
    h.ack(1, 10, 10);
    h.ack(2, 10, 10);
    h.ack(3, 10, 10);
    h.ack(4, 6, 6);
    let rt = h.t().retransmit;
    let deadline = h.s.poll_timeout().unwrap();
    assert!(deadline <= h.now + rt);
    h.advance(rt);
    h.s.handle_timeout(h.now);
    let out = h.out();
    assert_eq!(
        data_seqs(&out, Destination::ReplicaManager(r(4))),
        vec![7, 8, 9, 10]
    );
    assert!(data_seqs(&out, ALL).is_empty());
    assert_eq!(h.s.counters().retransmitted_entries, 4);
    for i in 1..=3 {
        assert!(data_seqs(&out, Destination::ReplicaManager(r(i))).is_empty());
    }
    // Not again before another interval without progress.
    h.ack(1, 10, 10);
    h.ack(2, 10, 10);
    h.ack(3, 10, 10);
    assert!(data_seqs(&h.tick(rt / 2), Destination::ReplicaManager(r(4))).is_empty());
    h.ack(4, 8, 8);
    assert!(data_seqs(&h.tick(rt / 2), Destination::ReplicaManager(r(4))).is_empty());
    let out = h.tick(rt);
    assert_eq!(
        data_seqs(&out, Destination::ReplicaManager(r(4))),
        vec![9, 10]
    );
    // An RM that just fell behind because of new entries is not resent to at once.
    h.ack_all(10, 10);
    h.advance(Duration::from_secs(1));
    h.ack_all(10, 10);
    h.submit(0, &[100]);
    h.persist_all();
    h.out();
    let out = h.tick(rt / 2);
    assert!((1..=4).all(|i| data_seqs(&out, Destination::ReplicaManager(r(i))).is_empty()));
}

#[test]
fn retention_follows_live_rms_and_the_cap() {
    let mut h = with_entries(1000, 10);
    assert_eq!(h.s.status().lowest_retained, 1);
    h.ack(1, 10, 10);
    h.ack(2, 10, 10);
    h.ack(3, 7, 7);
    assert_eq!(h.s.status().lowest_retained, 1, "RM 4 has received nothing");
    h.ack(4, 9, 9);
    assert_eq!(h.s.status().lowest_retained, 8);
    // Received beyond what was sent is clamped.
    h.ack(3, 1_000, 1_000);
    assert_eq!(h.s.status().lowest_retained, 10);
    // RM 4 goes silent: once it is dead it is not waited for.
    let liveness = h.t().liveness;
    h.advance(liveness / 2);
    h.ack(1, 10, 10);
    h.ack(2, 10, 10);
    h.ack(3, 10, 10);
    h.advance(liveness / 2 + Duration::from_millis(1));
    h.ack(1, 10, 10);
    h.ack(2, 10, 10);
    h.ack(3, 10, 10);
    assert_eq!(h.s.status().lowest_retained, 11);
    // No longer served what is gone: told to state-transfer instead.
    h.rm_says(4, Message::Nack(vec![(10, 10)]));
    assert_eq!(
        heartbeats(&h.out()),
        vec![(Destination::ReplicaManager(r(4)), 10, 11)]
    );

    // The cap drops the oldest regardless of acks.
    let mut h = with_entries(7, 30);
    assert_eq!(h.s.status().lowest_retained, 24);
    assert_eq!(h.s.retained.len(), 7);
    h.ack_all(30, 30);
    assert_eq!(h.s.retained.len(), 0);
    assert_eq!(
        h.s.status(),
        SequencerStatus {
            next_seq: 31,
            lowest_retained: 31,
            dropped_datagrams: 0,
            retained: 0,
            instance: 0,
            started_at: 1,
            view: 0,
            primary: Some(1),
            committed: 30,
            disk: None,
        }
    );
}

#[test]
fn until_heard_from_rms_hold_retention_for_one_liveness_period() {
    let mut h = H::new(1000);
    h.submit(0, &[1, 2, 3]);
    h.persist_all();
    h.ack(1, 3, 3);
    assert_eq!(h.s.status().lowest_retained, 1);
    let liveness = h.t().liveness;
    h.tick(liveness + Duration::from_millis(1));
    h.ack(1, 3, 3);
    assert_eq!(h.s.status().lowest_retained, 4);
}

#[test]
fn pending_entries_are_never_dropped() {
    let mut h = H::new(2);
    h.ack_all(0, 0);
    h.submit(0, &[1, 2, 3, 4, 5]);
    let batch = appended(h.s.poll_persist()).unwrap();
    assert_eq!(batch.len(), 5);
    h.ack_all(1_000, 1_000);
    h.tick(h.t().liveness * 2);
    h.s.handle_persisted(h.now);
    assert_eq!(data_seqs(&h.out(), ALL), vec![1, 2, 3, 4, 5]);
    assert_eq!(h.s.status().lowest_retained, 4);
}

#[test]
fn truncation_point() {
    let mut h = with_entries(5, 20);
    assert_eq!(h.s.poll_truncate(), None, "nobody has applied anything");
    h.ack_all(20, 12);
    // min(applied 12, high 20 - retain_max 5) = 12.
    assert_eq!(h.s.poll_truncate(), Some(12));
    assert_eq!(h.s.poll_truncate(), None, "nothing new");
    h.ack(1, 20, 20);
    h.ack(2, 20, 20);
    h.ack(3, 20, 20);
    assert_eq!(h.s.poll_truncate(), None, "RM 4 has applied only 12");
    h.ack(4, 20, 20);
    // The log keeps the retain_max most recent assignments.
    assert_eq!(h.s.poll_truncate(), Some(15));
    // A dead RM does not hold truncation back; with all of them dead nothing is truncated.
    let numbers: Vec<u64> = (21..=40).collect();
    h.submit(0, &numbers);
    h.persist_all();
    h.ack(1, 40, 40);
    h.ack(2, 40, 40);
    h.ack(3, 40, 30);
    h.ack(4, 40, 22);
    assert_eq!(h.s.poll_truncate(), Some(22));
    let liveness = h.t().liveness;
    h.advance(liveness / 2);
    h.ack(1, 40, 40);
    h.ack(2, 40, 40);
    h.ack(3, 40, 30);
    h.advance(liveness / 2 + Duration::from_millis(1));
    h.s.handle_timeout(h.now);
    assert_eq!(h.s.poll_truncate(), Some(30));
    h.advance(liveness);
    h.s.handle_timeout(h.now);
    assert_eq!(h.s.poll_truncate(), None);
}

#[test]
fn garbage_is_counted_and_ignored() {
    let mut h = with_entries(1000, 3);
    let before = h.s.stats().dropped();
    let now = h.now;
    h.s.handle_datagram(now, addr(1), b"");
    h.s.handle_datagram(now, addr(1), b"GET / HTTP/1.1\r\n\r\n and some more bytes");
    let mut forged =
        h.fe.encode(
            &Message::Submit {
                floor: 0,
                entries: vec![sub(9)],
            },
            Destination::Sequencer(1),
        )
        .unwrap()
        .remove(0);
    *forged.last_mut().unwrap() ^= 1;
    h.s.handle_datagram(now, addr(1), &forged);
    let other = Link::new(crate::wire::testing::impostor_config(
        NodeId::ReplicaManager(r(1)),
        "test",
        MAX_DATAGRAM,
    ))
    .unwrap();
    h.deliver(
        &other,
        1,
        &Message::Ack {
            received: 3,
            applied: 3,
        },
    );
    assert_eq!(h.s.stats().dropped(), before + 4);
    assert_eq!(h.s.stats().bad_mac, 2);
    assert!(h.out().is_empty());
    assert_eq!(h.s.next_seq(), 4);
    assert_eq!(h.s.status().lowest_retained, 1);

    // Authentic messages that make no sense for a sequencer are ignored too.
    let rm = link(NodeId::ReplicaManager(r(1)), MAX_DATAGRAM);
    h.deliver(
        &rm,
        1,
        &Message::Submit {
            floor: 0,
            entries: vec![sub(9)],
        },
    );
    h.deliver(&rm, 1, &Message::Data(vec![entry(4, 9, 0)]));
    h.deliver(
        &rm,
        1,
        &Message::Heartbeat {
            view: 0,
            high: 100,
            low: 1,
        },
    );
    h.deliver(&rm, 1, &Message::Ordered(vec![(id(9), 4)]));
    let fe = link(NodeId::FrontEnd(5), MAX_DATAGRAM);
    h.deliver(
        &fe,
        1,
        &Message::Ack {
            received: 3,
            applied: 3,
        },
    );
    let seq = link(NodeId::Sequencer(1), MAX_DATAGRAM);
    h.deliver(
        &seq,
        1,
        &Message::Submit {
            floor: 0,
            entries: vec![sub(9)],
        },
    );
    assert!(h.out().is_empty());
    assert_eq!(h.s.next_seq(), 4);
    assert_eq!(appended(h.s.poll_persist()), None);
}

#[test]
fn status_is_only_for_the_operator() {
    let mut h = with_entries(1000, 3);
    h.deliver_from(None, 7777, &Message::StatusQuery { nonce: 42 });
    h.deliver_from(Some(2), 7777, &Message::StatusQuery { nonce: 43 });
    assert!(h.out().is_empty(), "a front end or a manager may not ask");
}

#[test]
fn status_query_is_answered() {
    let mut h = with_entries(1000, 3);
    let tool = link(NodeId::Tool(1), MAX_DATAGRAM);
    let disk = crate::wire::DiskSpace {
        available: 1 << 20,
        size: 1 << 30,
    };
    h.s.set_disk(Some(disk));
    h.deliver(&tool, 7777, &Message::StatusQuery { nonce: 42 });
    assert_eq!(
        h.out(),
        vec![(
            Destination::Addr(addr(7777)),
            Message::SequencerStatus {
                nonce: 42,
                status: SequencerStatus {
                    next_seq: 4,
                    lowest_retained: 1,
                    dropped_datagrams: 0,
                    retained: 3,
                    instance: 0,
                    started_at: 1,
                    view: 0,
                    primary: Some(1),
                    committed: 3,
                    disk: Some(disk),
                }
            }
        )]
    );
}

#[test]
fn large_entries_go_alone_and_fragmented() {
    let mut h = H::new(1000);
    h.ack_all(0, 0);
    h.submit(0, &[1]);
    let big = Message::Submit {
        floor: 0,
        entries: vec![Submission {
            id: id(2),
            reply_to: addr(REPLY_TO),
            request: (0..10_000u32).map(|i| i as u8).collect(),
            trace: String::new(),
        }],
    };
    h.deliver(&link(NodeId::FrontEnd(5), MAX_DATAGRAM), FE_ADDR, &big);
    h.submit(0, &[3]);
    h.persist_all();
    let raw = h.raw();
    let data: Vec<Transmit> = raw.into_iter().filter(|t| t.to == ALL).collect();
    assert!(data.len() > 8, "fragmented: {} datagrams", data.len());
    assert!(data.iter().all(|t| t.datagram.len() <= MAX_DATAGRAM));
    let mut rm = link(NodeId::ReplicaManager(r(1)), MAX_DATAGRAM);
    let msgs: Vec<Vec<u64>> = data
        .iter()
        .filter_map(|t| match rm.receive(h.now, &t.datagram) {
            Some((_, Message::Data(es))) => Some(es.iter().map(|e| e.seq).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(msgs, vec![vec![1], vec![2], vec![3]]);
    // A Nack for it gets it again, as the same fragments (new counters and tags, the same
    // message id, indexes and chunks), so they fill each other's holes.
    h.rm_says(1, Message::Nack(vec![(2, 2)]));
    let fragment = |d: &[u8]| -> Vec<u8> {
        let cluster = crate::wire::ClusterId::from_name("test");
        crate::wire::unseal(d, cluster).expect("a datagram").signed[crate::wire::HEADER_LEN..]
            .to_vec()
    };
    let again: Vec<Vec<u8>> = h.raw().iter().map(|t| fragment(&t.datagram)).collect();
    assert_eq!(
        again,
        data[1..data.len() - 1]
            .iter()
            .map(|t| fragment(&t.datagram))
            .collect::<Vec<_>>()
    );
}

#[test]
fn submissions_too_large_to_sequence_are_refused() {
    let small = Link::new(LinkConfig {
        max_datagram: MAX_DATAGRAM,
        max_message: 2000,
        ..crate::wire::testing::link_config(NodeId::Sequencer(1), "test", MAX_DATAGRAM)
    })
    .unwrap();
    let now = Instant::now();
    let mut s = Sequencer::new(
        small,
        SequencerConfig::default(),
        Recovered::default(),
        1,
        now,
    );
    let fe = link(NodeId::FrontEnd(5), MAX_DATAGRAM);
    let mut request = vec![0u8; 1990 - 40];
    loop {
        let msg = Message::Submit {
            floor: 0,
            entries: vec![Submission {
                id: id(request.len() as u64),
                reply_to: addr(REPLY_TO),
                request: request.clone(),
                trace: String::new(),
            }],
        };
        // The largest Submit the sequencer's link accepts...
        if postcard::to_stdvec(&msg).unwrap().len() > 2000 {
            break;
        }
        for g in fe.encode(&msg, Destination::Sequencer(1)).unwrap() {
            s.handle_datagram(now, addr(FE_ADDR), &g);
        }
        request.push(0);
    }
    // ...is accepted only while its Data message still fits.
    assert!(s.refused() > 0);
    assert!(s.next_seq() > 1);
    while appended(s.poll_persist()).is_some() {
        s.handle_persisted(now);
    }
    let mut sent = 0;
    while let Some(t) = s.poll_transmit() {
        sent += usize::from(t.to == ALL);
    }
    assert!(sent as u64 >= s.next_seq() - 1);
}

#[test]
fn too_many_pending_entries_are_refused_until_the_fsync() {
    let mut h = H::new(100);
    let numbers: Vec<u64> = (1..=PENDING_MAX as u64 + 10).collect();
    for chunk in numbers.chunks(40) {
        h.submit(0, chunk);
    }
    assert_eq!(h.s.next_seq(), PENDING_MAX as u64 + 1);
    assert_eq!(h.s.refused(), 10);
    h.persist_all();
    h.raw();
    h.submit(0, &[PENDING_MAX as u64 + 1]);
    assert_eq!(h.s.next_seq(), PENDING_MAX as u64 + 2);
}

#[test]
fn requests_the_config_does_not_accept_are_never_ordered() {
    let mut h = H::new(100);
    // Requests are "request N": refuse the odd ones.
    h.s.cfg.accepts = |b| b.last().is_some_and(|d| d % 2 == 0);
    h.submit(0, &[1, 2, 3, 4]);
    assert_eq!(h.s.refused(), 2);
    assert_eq!(h.s.next_seq(), 3, "only 2 and 4 got numbers, without a gap");
    h.persist_all();
    let out = h.out();
    assert_eq!(data_seqs(&out, ALL), vec![1, 2]);
    let ordered: Vec<u64> = ordered(&out).into_iter().map(|(_, _, seq)| seq).collect();
    assert_eq!(ordered, vec![1, 2]);
}

#[test]
fn poll_timeout_is_always_armed_and_bounded() {
    let mut h = with_entries(1000, 5);
    let t = h.s.poll_timeout().unwrap();
    assert!(t <= h.now + h.t().heartbeat);
    h.s.handle_timeout(t);
    assert!(h.s.poll_timeout().unwrap() > t);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary bytes, and arbitrary authentic messages from any node, never panic, never
    /// create gaps, and never make it send anything not durable.
    #[test]
    fn never_panics_on_any_input(
        garbage in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20),
        acks in proptest::collection::vec((1u8..=4, any::<u64>(), any::<u64>()), 0..20),
        nacks in proptest::collection::vec((1u8..=4, proptest::collection::vec((any::<u64>(), any::<u64>()), 0..8)), 0..10),
        submits in proptest::collection::vec((any::<u64>(), proptest::collection::vec((0u64..3, any::<u64>()), 0..5)), 0..10),
        steps in proptest::collection::vec(0u64..3000, 0..10),
    ) {
        let mut h = with_entries(4, 6);
        for g in &garbage {
            h.s.handle_datagram(h.now, addr(1), g);
        }
        for (i, r, a) in acks {
            h.rm_says(i, Message::Ack { received: r, applied: a });
        }
        for (i, ranges) in nacks {
            h.rm_says(i, Message::Nack(ranges));
        }
        for (floor, ids) in submits {
            let entries = ids
                .into_iter()
                .map(|(fe, n)| Submission { id: RequestId { front_end: fe, number: n }, reply_to: addr(1), request: vec![], trace: String::new() })
                .collect();
            h.deliver(&link(NodeId::FrontEnd(1), MAX_DATAGRAM), FE_ADDR, &Message::Submit { floor, entries });
        }
        let mut persisted = Vec::new();
        let mut truncated = 0;
        for ms in steps {
            if let Some(b) = appended(h.s.poll_persist()) {
                persisted.extend(b.iter().map(|e| e.seq));
                h.s.handle_persisted(h.now);
            }
            let out = h.tick(Duration::from_millis(ms));
            let durable = h.s.durable;
            for (d, m) in out {
                if let Message::Data(es) = m {
                    prop_assert!(es.iter().all(|e| e.seq <= durable), "{:?}", d);
                }
            }
            if let Some(t) = h.s.poll_truncate() {
                prop_assert!(t > truncated && t < durable);
                truncated = t;
            }
        }
        let expected: Vec<u64> = (7..7 + persisted.len() as u64).collect();
        prop_assert_eq!(persisted, expected);
        prop_assert_eq!(h.s.base + h.s.retained.len() as u64, h.s.next_seq);
    }
}

#[test]
fn the_last_retain_min_entries_stay_for_replay_after_a_checkpoint() {
    let mut h = with_entries(100, 30);
    h.s.cfg.retain_min = 5;
    h.ack_all(30, 30);
    assert_eq!(
        h.s.status().lowest_retained,
        26,
        "everyone has all 30, yet 26..=30 stay"
    );
    assert_eq!(h.s.retained.len(), 5);
    // A replaced replica rewound to checkpoint 25 gets the rest by NACK.
    h.rm_says(2, Message::Nack(vec![(26, 30)]));
    assert_eq!(
        data_seqs(&h.out(), Destination::ReplicaManager(r(2))),
        vec![26, 27, 28, 29, 30]
    );
}

#[test]
fn a_single_node_gives_the_read_index_at_once_and_only_what_is_committed() {
    let mut h = H::new(100);
    h.submit(1, &[1, 2, 3]);
    h.persist_all();
    h.out();
    // Assigned but not yet durable: not committed, not in the index.
    h.submit(1, &[4]);
    h.deliver_from(None, FE_ADDR, &Message::ReadIndex { nonce: 9 });
    let out = h.out();
    let answers: Vec<_> = out
        .iter()
        .filter_map(|(d, m)| match m {
            Message::ReadIndexIs {
                nonce, committed, ..
            } => Some((*d, *nonce, *committed)),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec![(Destination::Addr(addr(FE_ADDR)), 9, 3)],
        "{out:?}"
    );
    // Only front ends ask.
    h.rm_says(1, Message::ReadIndex { nonce: 10 });
    assert!(h
        .out()
        .iter()
        .all(|(_, m)| !matches!(m, Message::ReadIndexIs { .. })));
}
