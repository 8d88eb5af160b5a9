use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::ReplicaId;

/// Replica `n` (1..=4), for tests.
fn r(n: u8) -> ReplicaId {
    ReplicaId::new(n).expect("a replica number")
}
use crate::verdicts::FAULT_COPIES;
use crate::wire::LinkConfig;
use crate::wire::{FaultKind, FaultReport, ReadReplyEntry};

const INC: u64 = 77;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4000))
}

fn link_with(me: NodeId, max_message: usize) -> Link {
    crate::wire::testing::shared(
        Link::new(LinkConfig {
            max_datagram: 1400,
            max_message,
            ..crate::wire::testing::link_config(me, "test", 1400)
        })
        .unwrap(),
    )
}

fn link(me: NodeId) -> Link {
    link_with(me, 1 << 20)
}

/// The nonce of the front end's `k`th read-index question: they count up from its
/// incarnation.
fn question(k: u64) -> u64 {
    INC + k
}

fn id(number: u64) -> RequestId {
    RequestId {
        front_end: INC,
        number,
    }
}

/// A front end plus links acting as the sequencer and the four replica managers, and one
/// that decodes whatever the front end sends.
struct Net {
    fe: FrontEnd,
    sequencer: Link,
    rms: Vec<Link>,
    sniffer: crate::wire::testing::Sniffer,
    t0: Instant,
}

impl Net {
    fn new() -> Self {
        Self::with(Timeouts::default(), link(NodeId::FrontEnd(1)))
    }

    fn with(timeouts: Timeouts, fe_link: Link) -> Self {
        Self::configured(timeouts, fe_link, usize::MAX, false)
    }

    /// A front end that is the cluster's only one.
    fn only() -> Self {
        Self::configured(
            Timeouts::default(),
            link(NodeId::FrontEnd(1)),
            usize::MAX,
            true,
        )
    }

    /// The default timeouts but for `reask` (fast reads escalate after one, fall back after
    /// two).
    fn with_reask(reask: Duration) -> Self {
        Self::with(
            Timeouts {
                reask,
                ..Timeouts::default()
            },
            link(NodeId::FrontEnd(1)),
        )
    }

    fn configured(
        timeouts: Timeouts,
        fe_link: Link,
        fast_read_limit: usize,
        only_front_end: bool,
    ) -> Self {
        let fe = FrontEnd::new(
            fe_link,
            FrontEndConfig {
                timeouts,
                incarnation: INC,
                reply_to: addr(),
                sequencers: vec![1],
                fast_read_limit,
                only_front_end,
            },
        );
        Net {
            fe,
            sequencer: link(NodeId::Sequencer(1)),
            rms: ReplicaId::ALL
                .into_iter()
                .map(|r| link(NodeId::ReplicaManager(r)))
                .collect(),
            sniffer: crate::wire::testing::Sniffer::new("test", 1400, 1 << 20),
            t0: Instant::now(),
        }
    }

    fn at(&self, n: u64) -> Instant {
        self.t0 + ms(n)
    }

    fn deliver(&mut self, now: Instant, from: &Link, msg: &Message) {
        for d in from.encode(msg, Destination::Addr(addr())).unwrap() {
            self.fe.handle_datagram(now, addr(), &d);
        }
    }

    fn ordered(&mut self, now: Instant, pairs: &[(u64, u64)]) {
        let msg = Message::Ordered(pairs.iter().map(|&(n, s)| (id(n), s)).collect());
        let from = link(NodeId::Sequencer(1));
        self.deliver(now, &from, &msg);
    }

    /// Replica manager `rm` sends a reply claiming to be from `replica`.
    fn reply_as(&mut self, now: Instant, rm: u8, replica: u8, number: u64, seq: u64, bytes: &[u8]) {
        let msg = Message::Reply(vec![ReplyEntry {
            seq,
            id: id(number),
            replica: r(replica),
            reply: bytes.to_vec(),
        }]);
        let from = &self.rms[usize::from(rm - 1)];
        for d in from.encode(&msg, Destination::Addr(addr())).unwrap() {
            self.fe.handle_datagram(now, addr(), &d);
        }
    }

    fn reply(&mut self, now: Instant, rm: u8, number: u64, seq: u64, bytes: &[u8]) {
        self.reply_as(now, rm, rm, number, seq, bytes);
    }

    /// Everything the front end wants sent now, decoded.
    fn sent(&mut self) -> Vec<(Destination, Message)> {
        let mut out = Vec::new();
        while let Some(t) = self.fe.poll_transmit() {
            assert!(t.datagram.len() <= 1400);
            if let Some((sender, msg)) = self.sniffer.receive(self.t0, &t.datagram) {
                assert_eq!(sender, NodeId::FrontEnd(1));
                out.push((t.to, msg));
            }
        }
        out
    }

    fn events(&mut self) -> Vec<FrontEndEvent> {
        std::iter::from_fn(|| self.fe.poll_event()).collect()
    }

    /// Runs timers up to and including `end`; returns what was sent, with when.
    fn run_until(&mut self, end: Instant) -> Vec<(Instant, Destination, Message)> {
        let mut out = Vec::new();
        while let Some(t) = self.fe.poll_timeout().filter(|&t| t <= end) {
            self.fe.handle_timeout(t);
            out.extend(self.sent().into_iter().map(|(d, m)| (t, d, m)));
        }
        out
    }

    /// [`run_until`](Self::run_until)'s datagrams without their times.
    fn sent_until(&mut self, end: Instant) -> Vec<(Destination, Message)> {
        self.run_until(end)
            .into_iter()
            .map(|(_, d, m)| (d, m))
            .collect()
    }

    fn assert_forgotten(&self) {
        assert!(self.fe.requests.is_empty());
        assert!(self.fe.timers.is_empty());
        assert!(self.fe.unordered.is_empty());
        assert_eq!(self.fe.in_flight(), 0);
    }
}

/// The reports of the first `Faults` round in `sent`. Every round is one identical message
/// to each of the four managers; later rounds (the copies) are only checked for that shape.
fn faults_to_all(sent: &[(Destination, Message)]) -> Vec<FaultReport> {
    let faults: Vec<_> = sent
        .iter()
        .filter_map(|(to, m)| match m {
            Message::Faults(f) => Some((*to, f.clone())),
            _ => None,
        })
        .collect();
    if faults.is_empty() {
        return Vec::new();
    }
    assert_eq!(
        faults.len() % 4,
        0,
        "one Faults message to each replica manager per round: {faults:?}"
    );
    for round in faults.chunks(4) {
        let dests: Vec<_> = round.iter().map(|(to, _)| *to).collect();
        assert_eq!(
            dests,
            ReplicaId::ALL.map(Destination::ReplicaManager).to_vec()
        );
        assert!(round.iter().all(|(_, f)| *f == round[0].1));
    }
    faults[0].1.clone()
}

/// How often each report went to manager 1, and when first and last.
fn copies_to_rm1(
    sent: &[(Instant, Destination, Message)],
) -> BTreeMap<(u64, u8), (usize, Instant, Instant)> {
    let mut copies = BTreeMap::new();
    for (at, to, m) in sent {
        let (Destination::ReplicaManager(to), Message::Faults(reports)) = (to, m) else {
            continue;
        };
        if *to != r(1) {
            continue;
        }
        for f in reports {
            let e = copies
                .entry((f.seq, f.replica.get()))
                .or_insert((0, *at, *at));
            e.0 += 1;
            e.2 = *at;
        }
    }
    copies
}

fn fault(seq: u64, replica: u8, kind: FaultKind) -> FaultReport {
    FaultReport {
        seq,
        replica: r(replica),
        kind,
    }
}

#[test]
fn answers_only_when_two_replies_are_identical() {
    let mut n = Net::new();
    let rid = n.fe.submit(n.t0, b"req".to_vec());
    assert_eq!(rid, id(1));
    assert_eq!(n.fe.in_flight(), 1);
    assert_eq!(
        n.sent(),
        vec![(
            Destination::Sequencer(1),
            Message::Submit {
                floor: 1,
                entries: vec![Submission {
                    id: id(1),
                    reply_to: addr(),
                    request: b"req".to_vec(),
                    trace: String::new()
                }]
            }
        )]
    );
    n.ordered(n.at(1), &[(1, 10)]);
    n.reply(n.at(2), 1, 1, 10, b"A");
    assert!(n.events().is_empty(), "one reply is not an answer");
    n.reply(n.at(3), 2, 1, 10, b"B");
    assert!(
        n.events().is_empty(),
        "two different replies are not an answer"
    );
    n.reply(n.at(4), 3, 1, 10, b"B");
    assert_eq!(
        n.events(),
        vec![FrontEndEvent::Answered {
            id: id(1),
            seq: 10,
            reply: b"B".to_vec(),
            replies: 3,
        }]
    );
    assert_eq!(n.fe.in_flight(), 0);
    assert!(n.sent().is_empty());
    // The fourth reply completes the set: report at once, no need to wait for the window.
    n.reply(n.at(5), 4, 1, 10, b"B");
    assert!(n.events().is_empty(), "answered exactly once");
    assert_eq!(
        faults_to_all(&n.sent()),
        vec![fault(10, 1, FaultKind::Wrong)]
    );
    n.assert_forgotten();
    let s = n.fe.stats();
    assert_eq!((s.submitted, s.answered, s.unavailable), (1, 1, 0));
    assert_eq!((s.faults_reported, s.wrong, s.missing), (1, 1, 0));
}

#[test]
fn byzantine_reply_is_reported_wrong_after_the_linger_window() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    n.sent();
    n.reply(n.at(5), 1, 1, 10, b"A");
    n.reply(n.at(6), 2, 1, 10, b"A");
    assert_eq!(n.events().len(), 1);
    n.reply(n.at(7), 3, 1, 10, b"X");
    assert!(n.sent().is_empty(), "nothing reported while lingering");
    // Slowest latency 7 ms: 2 x 7 = 14 ms, raised to the 20 ms floor.
    assert_eq!(n.fe.linger_window(), ms(20));
    assert_eq!(n.fe.poll_timeout(), Some(n.at(26)));
    assert!(n.run_until(n.at(25)).is_empty());
    n.fe.handle_timeout(n.at(26));
    assert_eq!(
        faults_to_all(&n.sent()),
        vec![
            fault(10, 3, FaultKind::Wrong),
            fault(10, 4, FaultKind::Missing)
        ]
    );
    n.assert_forgotten();
    // A straggler after the window: ignored, nothing breaks.
    n.reply(n.at(30), 4, 1, 10, b"A");
    assert!(n.events().is_empty());
    assert!(n.sent().is_empty());
    let s = n.fe.stats();
    assert_eq!((s.faults_reported, s.wrong, s.missing), (2, 1, 1));
}

#[test]
fn silent_replica_is_reported_missing() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    n.sent();
    n.ordered(n.at(1), &[(1, 3)]);
    for r in 1..=3 {
        n.reply(n.at(10), r, 1, 3, b"ok");
    }
    assert_eq!(n.events().len(), 1);
    let sent = n.sent_until(n.at(1000));
    assert_eq!(faults_to_all(&sent), vec![fault(3, 4, FaultKind::Missing)]);
    n.assert_forgotten();
}

/// One lost `Faults` datagram must not hide a wrong answer (or the correct one that ends a
/// run) from a manager: `Wrong` and `Correct` go out `FAULT_COPIES` times, spread over
/// retransmission intervals, `Missing` once; then the front end falls quiet (no timer left,
/// nothing more sent).
#[test]
fn fault_reports_are_sent_in_copies_then_stop() {
    let mut n = Net::new();
    let retransmit = Timeouts::default().retransmit;
    for i in 1..=2u64 {
        n.fe.submit(n.t0, vec![i as u8]);
    }
    n.sent();
    // Request 1: replica 3 answers wrong, replica 4 never. Request 2 finishes much later, so
    // its reports ride a timer armed for request 1's.
    for (rm, reply) in [(1, b"ok"), (2, b"ok"), (3, b"no")] {
        n.reply(n.at(10), rm, 1, 101, reply);
    }
    let mut sent = n.run_until(n.at(10 + retransmit.as_millis() as u64 / 2));
    for (rm, reply) in [(1, b"ok"), (2, b"ok"), (3, b"ok"), (4, b"ok")] {
        n.reply(n.at(30), rm, 2, 102, reply);
    }
    sent.extend(n.sent().into_iter().map(|(d, m)| (n.at(30), d, m)));
    sent.extend(n.run_until(n.at(10_000)));
    let copies = copies_to_rm1(&sent);
    let keys: Vec<_> = copies.keys().copied().collect();
    assert_eq!(keys, vec![(101, 3), (101, 4), (102, 3)]);
    for (key, (count, first, last)) in &copies {
        if *key == (101, 4) {
            assert_eq!(*count, 1, "Missing goes once");
            continue;
        }
        assert_eq!(*count, usize::from(FAULT_COPIES), "{key:?}");
        let spread = retransmit * u32::from(FAULT_COPIES - 2);
        assert!(*last >= *first + spread, "{key:?}: {first:?}..{last:?}");
    }
    let plain: Vec<_> = sent.iter().map(|(_, d, m)| (*d, m.clone())).collect();
    faults_to_all(&plain);
    assert_eq!(
        n.fe.poll_timeout(),
        None,
        "no timer left once the copies are out"
    );
    n.assert_forgotten();
}

/// Request 1 got no answer: ordered at `seq` if known, `sent` or never.
fn unanswered(seq: Option<u64>, sent: bool) -> FrontEndEvent {
    FrontEndEvent::Unavailable {
        id: id(1),
        seq,
        sent,
    }
}

#[test]
fn unavailable_at_the_deadline_when_no_two_agree() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    n.sent();
    n.ordered(n.at(1), &[(1, 10)]);
    n.reply(n.at(2), 1, 1, 10, b"A");
    n.reply(n.at(3), 2, 1, 10, b"B");
    n.reply(n.at(4), 3, 1, 10, b"C");
    let sent = n.run_until(n.at(4999));
    assert!(n.events().is_empty());
    // Only the silent replica manager is re-asked; nobody is ever blamed.
    assert!(!sent.is_empty());
    for (_, to, msg) in &sent {
        assert_eq!(*to, Destination::ReplicaManager(r(4)));
        assert_eq!(*msg, Message::Reask(vec![10]));
    }
    assert_eq!(n.fe.poll_timeout(), Some(n.at(5000)));
    let sent = n.run_until(n.at(10_000));
    assert!(
        sent.is_empty(),
        "no faults for a request without a majority: {sent:?}"
    );
    assert_eq!(n.events(), vec![unanswered(Some(10), true)]);
    n.assert_forgotten();
    // Late replies, even agreeing ones, change nothing.
    n.reply(n.at(10_001), 4, 1, 10, b"A");
    n.reply(n.at(10_002), 1, 1, 10, b"A");
    n.ordered(n.at(10_003), &[(1, 10)]);
    assert!(n.events().is_empty());
    assert!(n.sent().is_empty());
    let s = n.fe.stats();
    assert_eq!((s.answered, s.unavailable, s.faults_reported), (0, 1, 0));
}

#[test]
fn unavailable_when_never_ordered_and_floor_moves_past_it() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"lost".to_vec());
    n.sent();
    n.run_until(n.at(5000));
    assert_eq!(n.events(), vec![unanswered(None, true)]);
    n.assert_forgotten();
    n.fe.submit(n.at(5001), b"next".to_vec());
    match &n.sent()[..] {
        [(_, Message::Submit { floor, entries })] => {
            assert_eq!(*floor, 2);
            assert_eq!(entries[0].id, id(2));
        }
        other => panic!("{other:?}"),
    }
}

fn submit_times(sent: &[(Instant, Destination, Message)], t0: Instant) -> Vec<u64> {
    sent.iter()
        .filter(|(_, _, m)| matches!(m, Message::Submit { .. }))
        .map(|(t, to, _)| {
            assert_eq!(*to, Destination::Sequencer(1));
            (*t - t0).as_millis() as u64
        })
        .collect()
}

#[test]
fn submit_is_retransmitted_with_backoff_until_ordered() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    assert_eq!(n.sent().len(), 1);
    let sent = n.run_until(n.at(3000));
    // 30 ms doubling, capped at 250 ms.
    assert_eq!(
        submit_times(&sent, n.t0),
        vec![30, 90, 210, 450, 700, 950, 1200, 1450, 1700, 1950, 2200, 2450, 2700, 2950]
    );
    assert_eq!(n.fe.stats().submit_retransmits, 14);
    for (_, _, m) in &sent {
        assert_eq!(
            *m,
            Message::Submit {
                floor: 1,
                entries: vec![Submission {
                    id: id(1),
                    reply_to: addr(),
                    request: b"req".to_vec(),
                    trace: String::new()
                }]
            }
        );
    }
    n.ordered(n.at(3000), &[(1, 4)]);
    let sent = n.run_until(n.at(4999));
    assert!(submit_times(&sent, n.t0).is_empty());
    // Now it re-asks the replica managers instead.
    assert!(sent.iter().all(|(_, _, m)| *m == Message::Reask(vec![4])));
    assert!(
        n.fe.requests[&1].request.is_empty(),
        "request bytes dropped once ordered"
    );
}

#[test]
fn a_reply_reveals_the_seq_and_stops_retransmission() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    n.sent();
    n.reply(n.at(10), 2, 1, 5, b"A");
    assert!(n.fe.unordered.is_empty());
    let sent = n.run_until(n.at(1000));
    assert!(submit_times(&sent, n.t0).is_empty());
    // The reask targets the three that have not replied, 40 ms after the seq was learned.
    let first: Vec<_> = sent.iter().take_while(|(t, _, _)| *t == n.at(50)).collect();
    assert_eq!(first.len(), 3, "{sent:?}");
    n.fe.submit(n.at(1000), b"two".to_vec());
    match &n.sent()[..] {
        [(_, Message::Submit { floor, .. })] => assert_eq!(*floor, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn floor_advances_as_requests_are_ordered() {
    let mut n = Net::new();
    for i in 1..=3 {
        assert_eq!(n.fe.submit(n.t0, vec![i]), id(u64::from(i)));
    }
    match &n.sent()[..] {
        [(Destination::Sequencer(1), Message::Submit { floor, entries })] => {
            assert_eq!(*floor, 1);
            let ids: Vec<_> = entries.iter().map(|e| e.id.number).collect();
            assert_eq!(
                ids,
                vec![1, 2, 3],
                "one cycle's submissions share a datagram"
            );
        }
        other => panic!("{other:?}"),
    }
    n.ordered(n.at(10), &[(1, 100), (3, 101)]);
    assert_eq!(n.fe.floor(), 2);
    n.fe.handle_timeout(n.at(30));
    match &n.sent()[..] {
        [(_, Message::Submit { floor, entries })] => {
            assert_eq!(*floor, 2);
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].id, id(2));
        }
        other => panic!("{other:?}"),
    }
    n.ordered(n.at(40), &[(2, 102)]);
    n.fe.submit(n.at(41), b"4".to_vec());
    match &n.sent()[..] {
        [(_, Message::Submit { floor, entries })] => {
            assert_eq!(*floor, 4);
            assert_eq!(entries[0].id, id(4));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reask_goes_only_to_replica_managers_that_have_not_replied() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"a".to_vec());
    n.fe.submit(n.t0, b"b".to_vec());
    n.sent();
    n.ordered(n.at(5), &[(1, 20), (2, 21)]);
    n.reply(n.at(10), 1, 1, 20, b"x");
    n.reply(n.at(10), 1, 2, 21, b"y");
    n.reply(n.at(11), 2, 2, 21, b"z");
    assert!(n.run_until(n.at(44)).is_empty());
    let sent = n.run_until(n.at(45));
    let got: HashMap<_, _> = sent
        .iter()
        .map(|(t, to, m)| {
            assert_eq!(*t, n.at(45));
            (*to, m.clone())
        })
        .collect();
    assert_eq!(
        sent.len(),
        3,
        "one batched Reask per replica manager: {sent:?}"
    );
    assert_eq!(
        got[&Destination::ReplicaManager(r(2))],
        Message::Reask(vec![20])
    );
    assert_eq!(
        got[&Destination::ReplicaManager(r(3))],
        Message::Reask(vec![20, 21])
    );
    assert_eq!(
        got[&Destination::ReplicaManager(r(4))],
        Message::Reask(vec![20, 21])
    );
    assert_eq!(n.fe.stats().reasks, 5);
    // Backoff: 40, then 80, 160...
    assert_eq!(n.fe.poll_timeout(), Some(n.at(125)));
    // A re-asked reply arrives and agrees: that request stops being re-asked.
    n.reply(n.at(60), 3, 1, 20, b"x");
    assert_eq!(n.events().len(), 1);
    let sent = n.run_until(n.at(125));
    let got: HashMap<_, _> = sent.iter().map(|(_, to, m)| (*to, m.clone())).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[&Destination::ReplicaManager(r(3))],
        Message::Reask(vec![21])
    );
    assert_eq!(
        got[&Destination::ReplicaManager(r(4))],
        Message::Reask(vec![21])
    );
}

#[test]
fn reask_backoff_is_capped() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"a".to_vec());
    n.sent();
    n.ordered(n.t0, &[(1, 1)]);
    let sent = n.run_until(n.at(4999));
    let mut times: Vec<u64> = sent
        .iter()
        .map(|(t, _, _)| (*t - n.t0).as_millis() as u64)
        .collect();
    times.dedup();
    assert_eq!(times, vec![40, 120, 280, 600, 1240, 2240, 3240, 4240]);
}

#[test]
fn replies_must_come_from_the_replica_they_name() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    n.sent();
    n.reply(n.at(1), 1, 1, 10, b"A");
    // Replica manager 1 speaking for replica 2: not a second vote.
    n.reply_as(n.at(2), 1, 2, 1, 10, b"A");
    // Nodes that are not replica managers.
    for node in [NodeId::Sequencer(1), NodeId::FrontEnd(1), NodeId::Tool(3)] {
        let msg = Message::Reply(vec![ReplyEntry {
            seq: 10,
            id: id(1),
            replica: r(2),
            reply: b"A".to_vec(),
        }]);
        let from = link(node);
        n.deliver(n.at(4), &from, &msg);
    }
    // Replies for other incarnations and unknown requests.
    let other = Message::Reply(vec![
        ReplyEntry {
            seq: 10,
            id: RequestId {
                front_end: INC + 1,
                number: 1,
            },
            replica: r(2),
            reply: b"A".to_vec(),
        },
        ReplyEntry {
            seq: 11,
            id: id(99),
            replica: r(2),
            reply: b"A".to_vec(),
        },
    ]);
    let rm2 = link(NodeId::ReplicaManager(r(2)));
    n.deliver(n.at(5), &rm2, &other);
    // Ordered from anyone but the sequencer is ignored too.
    let fake = Message::Ordered(vec![(id(1), 555)]);
    n.deliver(n.at(5), &rm2, &fake);
    assert!(n.events().is_empty());
    assert_eq!(n.fe.requests[&1].seq, Some(10));
    n.reply(n.at(6), 2, 1, 10, b"A");
    assert_eq!(
        n.events(),
        vec![FrontEndEvent::Answered {
            id: id(1),
            seq: 10,
            reply: b"A".to_vec(),
            replies: 2,
        }]
    );
}

#[test]
fn a_replica_votes_once_and_its_first_reply_counts() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    n.sent();
    n.reply(n.at(1), 1, 1, 10, b"A");
    n.reply(n.at(2), 1, 1, 10, b"A");
    let twice = Message::Reply(vec![
        ReplyEntry {
            seq: 10,
            id: id(1),
            replica: r(1),
            reply: b"A".to_vec(),
        };
        2
    ]);
    let rm1 = link(NodeId::ReplicaManager(r(1)));
    n.deliver(n.at(3), &rm1, &twice);
    assert!(n.events().is_empty(), "duplicates are not votes");
    // Replica 1 changes its mind: ignored.
    n.reply(n.at(4), 1, 1, 10, b"B");
    n.reply(n.at(5), 2, 1, 10, b"B");
    assert!(n.events().is_empty(), "replica 1's first reply was A");
    // A reply for a different seq than the one known does not count either.
    n.reply(n.at(5), 3, 1, 11, b"A");
    assert!(n.events().is_empty());
    n.reply(n.at(6), 3, 1, 10, b"A");
    assert_eq!(
        n.events(),
        vec![FrontEndEvent::Answered {
            id: id(1),
            seq: 10,
            reply: b"A".to_vec(),
            replies: 3,
        }]
    );
    let sent = n.sent_until(n.at(1000));
    assert_eq!(
        faults_to_all(&sent),
        vec![
            fault(10, 2, FaultKind::Wrong),
            fault(10, 4, FaultKind::Missing)
        ]
    );
}

#[test]
fn the_sequencer_overrides_a_seq_learned_from_a_reply() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    n.sent();
    n.reply(n.at(1), 1, 1, 7, b"A");
    n.ordered(n.at(2), &[(1, 8)]);
    n.reply(n.at(3), 2, 1, 7, b"A");
    assert!(n.events().is_empty());
    n.reply(n.at(4), 1, 1, 8, b"A");
    n.reply(n.at(5), 2, 1, 8, b"A");
    assert_eq!(
        n.events(),
        vec![FrontEndEvent::Answered {
            id: id(1),
            seq: 8,
            reply: b"A".to_vec(),
            replies: 2,
        }]
    );
}

#[test]
fn faults_of_one_cycle_share_a_message() {
    let mut n = Net::new();
    for i in 1..=3u64 {
        n.fe.submit(n.t0, vec![i as u8]);
    }
    n.sent();
    for i in 1..=3u64 {
        n.reply(n.at(10), 1, i, 100 + i, b"ok");
        n.reply(n.at(10), 2, i, 100 + i, b"ok");
    }
    assert_eq!(n.events().len(), 3);
    let sent = n.sent_until(n.at(1000));
    let mut want = Vec::new();
    for i in 1..=3u64 {
        want.push(fault(100 + i, 3, FaultKind::Missing));
        want.push(fault(100 + i, 4, FaultKind::Missing));
    }
    assert_eq!(faults_to_all(&sent), want);
}

#[test]
fn many_in_flight_batch_into_full_datagrams() {
    let mut n = Net::new();
    let count = 5000u64;
    for i in 0..count {
        n.fe.submit(n.t0, format!("request number {i}").into_bytes());
    }
    assert_eq!(n.fe.in_flight(), count as usize);
    let mut grams = Vec::new();
    while let Some(t) = n.fe.poll_transmit() {
        assert_eq!(t.to, Destination::Sequencer(1));
        grams.push(t.datagram);
    }
    // ~40 bytes per entry: dozens per datagram, each datagram nearly full.
    assert!(grams.len() < 200, "{} datagrams", grams.len());
    let mut seen = HashSet::new();
    for (i, g) in grams.iter().enumerate() {
        assert!(g.len() <= 1400);
        if i + 1 < grams.len() {
            assert!(g.len() > 1300, "datagram {i} only {} bytes", g.len());
        }
        let Some((_, Message::Submit { floor, entries })) = n.sniffer.receive(n.t0, g) else {
            panic!("not a whole Submit");
        };
        assert_eq!(floor, 1);
        for e in entries {
            assert!(seen.insert(e.id.number));
        }
    }
    assert_eq!(seen.len(), count as usize);

    // Ordered and answered in big batches, in a scrambled order.
    let mut numbers: Vec<u64> = (1..=count).collect();
    numbers.sort_by_key(|n| n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let seq_of = |n: u64| 1000 + n;
    for chunk in numbers.chunks(100) {
        let pairs: Vec<_> = chunk.iter().map(|&n| (n, seq_of(n))).collect();
        n.ordered(n.at(1), &pairs);
    }
    assert_eq!(n.fe.floor(), count + 1);
    for rm in 1..=4u8 {
        for chunk in numbers.chunks(300) {
            let msg = Message::Reply(
                chunk
                    .iter()
                    .map(|&k| ReplyEntry {
                        seq: seq_of(k),
                        id: id(k),
                        replica: r(rm),
                        reply: format!("reply {k}").into_bytes(),
                    })
                    .collect(),
            );
            let from = link(NodeId::ReplicaManager(r(rm)));
            n.deliver(n.at(2 + u64::from(rm)), &from, &msg);
        }
    }
    let events = n.events();
    assert_eq!(events.len(), count as usize);
    let mut answered = HashSet::new();
    for e in events {
        let FrontEndEvent::Answered { id, seq, reply, .. } = e else {
            panic!("{e:?}");
        };
        assert_eq!(seq, seq_of(id.number));
        assert_eq!(reply, format!("reply {}", id.number).into_bytes());
        assert!(answered.insert(id.number));
    }
    // All four agreed: nothing to report, nothing left.
    assert!(n.sent().is_empty());
    n.assert_forgotten();
    assert_eq!(n.fe.stats().answered, count);
}

#[test]
fn linger_window_adapts_to_slow_replies_and_is_clamped() {
    let mut n = Net::new();
    assert_eq!(n.fe.linger_window(), ms(2000), "nothing seen yet: the cap");
    n.fe.submit(n.t0, b"1".to_vec());
    n.reply(n.at(300), 1, 1, 1, b"A");
    n.reply(n.at(300), 2, 1, 1, b"A");
    assert_eq!(n.fe.linger_window(), ms(600));
    // Linger ends 600 ms after the answer...
    assert_eq!(n.fe.requests[&1].wake, Some((n.at(900), Timer::LingerEnd)));
    // ...and a slow reply within it widens the window for later requests.
    n.reply(n.at(800), 3, 1, 1, b"A");
    assert_eq!(n.fe.linger_window(), ms(1600));
    n.fe.submit(n.at(1000), b"2".to_vec());
    n.reply(n.at(2200), 1, 2, 2, b"A");
    assert_eq!(
        n.fe.linger_window(),
        ms(2000),
        "2 x 1200 ms, clamped to the cap"
    );
    // A thousand fast replies push the slow ones out of the window: down to the floor.
    let start = 3000;
    for k in 0..250u64 {
        let t = n.at(start + k);
        let rid = n.fe.submit(t, b"fast".to_vec());
        for rm in 1..=4 {
            n.reply(t + ms(1), rm, rid.number, 10 + k, b"ok");
        }
    }
    assert_eq!(n.fe.linger_window(), ms(20), "2 ms raised to the floor");
}

#[test]
fn memory_stays_bounded_over_many_requests() {
    let mut n = Net::new();
    let mut t = 0;
    let mut seq = 0;
    for round in 0..40u64 {
        let mut ids = Vec::new();
        for _ in 0..500 {
            ids.push(n.fe.submit(n.at(t), b"r".to_vec()));
        }
        n.sent();
        t += 1;
        for (i, rid) in ids.iter().enumerate() {
            seq += 1;
            // One in ten never gets an answer; the rest get three replies (one straggler).
            if i.is_multiple_of(10) {
                n.ordered(n.at(t), &[(rid.number, seq)]);
                continue;
            }
            for rm in 1..=3 {
                n.reply(n.at(t), rm, rid.number, seq, b"ok");
            }
        }
        t += 10;
        n.run_until(n.at(t));
        assert!(n.fe.requests.len() <= 1500 + (round as usize + 1) * 50);
        n.events();
    }
    n.run_until(n.at(t + 10_000));
    let _ = n.events();
    n.assert_forgotten();
    let s = n.fe.stats();
    assert_eq!((s.answered, s.unavailable), (18_000, 2000));
    assert_eq!(s.missing, 18_000);
    assert!(n.fe.latencies.retained() <= LATENCY_SAMPLES);
    assert!(n.fe.out.is_empty() && n.fe.submit_queue.is_empty() && !n.fe.verdicts.has_reports());
    assert!(n.fe.reask_queue.iter().all(Vec::is_empty));
    assert!(n.fe.events.is_empty());
}

#[test]
fn garbage_is_counted_and_harmless() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"req".to_vec());
    n.sent();
    let now = n.at(1);
    n.fe.handle_datagram(now, addr(), b"");
    n.fe.handle_datagram(
        now,
        addr(),
        b"GET / HTTP/1.1\r\nHost: tessera.example\r\n\r\n",
    );
    let mut forged = n.rms[0]
        .encode(
            &Message::Reply(vec![ReplyEntry {
                seq: 1,
                id: id(1),
                replica: r(1),
                reply: b"A".to_vec(),
            }]),
            Destination::Addr(addr()),
        )
        .unwrap()
        .remove(0);
    // A flipped body bit: the front end's own tag no longer matches.
    forged[crate::wire::HEADER_LEN] ^= 1;
    n.fe.handle_datagram(now, addr(), &forged);
    let wrong_key = Link::new(crate::wire::testing::impostor_config(
        NodeId::ReplicaManager(r(2)),
        "test",
        1400,
    ))
    .unwrap();
    let d = wrong_key
        .encode(&Message::Reask(vec![1]), Destination::Addr(addr()))
        .unwrap()
        .remove(0);
    n.fe.handle_datagram(now, addr(), &d);
    // Well-formed messages that make no sense for a front end.
    let seq_link = &n.sequencer;
    let data = seq_link
        .encode(
            &Message::Heartbeat {
                view: 0,
                high: 9,
                low: 1,
            },
            Destination::Addr(addr()),
        )
        .unwrap()
        .remove(0);
    n.fe.handle_datagram(now, addr(), &data);
    assert_eq!(n.fe.wire_stats().dropped(), 4);
    assert_eq!(n.fe.wire_stats().messages, 1);
    assert!(n.events().is_empty());
    assert!(n.sent().is_empty());
    assert_eq!(n.fe.in_flight(), 1);
}

#[test]
fn a_request_too_large_to_send_is_unavailable_at_once() {
    let mut n = Net::with(Timeouts::default(), link_with(NodeId::FrontEnd(1), 10_000));
    n.fe.submit(n.t0, vec![7; 20_000]);
    n.fe.submit(n.t0, b"small".to_vec());
    let sent = n.sent();
    assert_eq!(sent.len(), 1);
    match &sent[0].1 {
        Message::Submit { entries, .. } => assert_eq!(entries[0].id, id(2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(n.events(), vec![unanswered(None, false)]);
    assert_eq!(n.fe.in_flight(), 1);
    assert_eq!(n.fe.floor(), 2);
}

#[test]
fn a_large_request_is_fragmented_alone() {
    let mut n = Net::new();
    n.fe.submit(n.t0, b"small".to_vec());
    n.fe.submit(n.t0, vec![1; 5000]);
    n.fe.submit(n.t0, b"small too".to_vec());
    let sent = n.sent();
    let sizes: Vec<_> = sent
        .iter()
        .map(|(_, m)| match m {
            Message::Submit { entries, .. } => entries.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, vec![1, 1, 1]);
}

#[test]
fn zero_timeouts_do_not_spin() {
    let timeouts = Timeouts {
        submit_retransmit: Duration::ZERO,
        reask: Duration::ZERO,
        request_timeout: Duration::ZERO,
        linger_floor: ms(50),
        linger_cap: ms(10),
        ..Timeouts::default()
    };
    let mut n = Net::with(timeouts, link(NodeId::FrontEnd(1)));
    n.fe.submit(n.t0, b"a".to_vec());
    n.fe.handle_timeout(n.t0);
    assert_eq!(n.events(), vec![unanswered(None, true)]);
    assert_eq!(n.fe.linger_window(), ms(10));
    let timeouts = Timeouts {
        submit_retransmit: Duration::ZERO,
        reask: Duration::ZERO,
        request_timeout: Duration::MAX,
        linger_cap: Duration::MAX,
        ..Timeouts::default()
    };
    let mut n = Net::with(timeouts, link(NodeId::FrontEnd(1)));
    n.fe.submit(n.t0, b"a".to_vec());
    n.run_until(n.at(100));
    assert_eq!(n.fe.stats().submit_retransmits, 6);
    n.ordered(n.at(100), &[(1, 1)]);
    n.run_until(n.at(200));
    n.reply(n.at(200), 1, 1, 1, b"x");
    n.reply(n.at(200), 2, 1, 1, b"x");
    assert_eq!(n.events().len(), 1);
}

// ---------------------------------------------------------------------------------------
// A small fake cluster over a lossy network: the real front end against a toy sequencer and
// toy replica managers (replica 3 Byzantine on some requests, replica 4 crashed).

fn canonical_reply(request: &[u8]) -> Vec<u8> {
    let mut r = b"ok:".to_vec();
    r.extend(request.iter().rev());
    r
}

#[test]
fn fake_cluster_with_loss_answers_everything_and_blames_the_right_replicas() {
    let mut rng = tessera_testkit::Rng::new(0x5eed);
    let mut n = Net::new();
    let mut seq_link = link(NodeId::Sequencer(1));
    let mut rm_links: Vec<Link> = ReplicaId::ALL
        .into_iter()
        .map(|r| link(NodeId::ReplicaManager(r)))
        .collect();
    // Toy sequencer: id -> seq.
    let mut assigned: HashMap<RequestId, u64> = HashMap::new();
    let mut next_seq = 1;
    // Toy replica managers' reply caches: seq -> (id, request).
    let mut executed: BTreeMap<u64, (RequestId, Vec<u8>)> = BTreeMap::new();
    // In flight to the front end: (deliver at, datagram).
    let mut to_fe: Vec<(Instant, Vec<u8>)> = Vec::new();
    let reply_for = |replica: u8, seq: u64, request: &[u8]| {
        let mut r = canonical_reply(request);
        if replica == 3 && seq.is_multiple_of(5) {
            r.push(0xff);
        }
        r
    };

    let total = 300u64;
    let mut submitted = 0;
    let mut answers: HashMap<RequestId, Vec<u8>> = HashMap::new();
    let mut expected: HashMap<RequestId, Vec<u8>> = HashMap::new();
    let mut faults: HashSet<FaultReport> = HashSet::new();
    let mut now = n.t0;
    let end = n.t0 + Duration::from_secs(20);
    while now < end {
        // A few new requests per millisecond for the first 100 ms.
        while submitted < total && submitted < 3 * (now - n.t0).as_millis() as u64 + 3 {
            let body = format!("req-{submitted}").into_bytes();
            let rid = n.fe.submit(now, body.clone());
            expected.insert(rid, canonical_reply(&body));
            submitted += 1;
        }
        // Datagrams due at the front end.
        let (due, later): (Vec<_>, Vec<_>) = to_fe.into_iter().partition(|(t, _)| *t <= now);
        to_fe = later;
        for (_, d) in due {
            if rng.chance(0.10) {
                continue; // lost on the way back
            }
            n.fe.handle_datagram(now, addr(), &d);
        }
        n.fe.handle_timeout(now);
        // What the front end sends, through a network that loses 20%.
        while let Some(t) = n.fe.poll_transmit() {
            if rng.chance(0.20) {
                continue;
            }
            match t.to {
                Destination::Sequencer(1) => {
                    let Some((_, Message::Submit { floor, entries })) =
                        seq_link.receive(now, &t.datagram)
                    else {
                        panic!("sequencer got something else");
                    };
                    let mut ordered = Vec::new();
                    for e in entries {
                        if e.id.number < floor {
                            continue;
                        }
                        let seq = *assigned.entry(e.id).or_insert_with(|| {
                            next_seq += 1;
                            executed.insert(next_seq - 1, (e.id, e.request.clone()));
                            // Replica managers 1..3 execute and reply, with different delays.
                            for r in 1..=3u8 {
                                let s = next_seq - 1;
                                let msg = Message::Reply(vec![ReplyEntry {
                                    seq: s,
                                    id: e.id,
                                    replica: self::r(r),
                                    reply: reply_for(r, s, &e.request),
                                }]);
                                for d in rm_links[usize::from(r - 1)]
                                    .encode(&msg, Destination::Addr(addr()))
                                    .unwrap()
                                {
                                    to_fe.push((now + ms(2 * u64::from(r)), d));
                                }
                            }
                            next_seq - 1
                        });
                        ordered.push((e.id, seq));
                    }
                    for d in seq_link
                        .encode(&Message::Ordered(ordered), Destination::Addr(addr()))
                        .unwrap()
                    {
                        to_fe.push((now + ms(1), d));
                    }
                }
                Destination::ReplicaManager(to) => {
                    let rm = &mut rm_links[to.index()];
                    let r = to.get();
                    match rm.receive(now, &t.datagram) {
                        Some((_, Message::Reask(seqs))) => {
                            if r == 4 {
                                continue; // crashed
                            }
                            let entries = seqs
                                .iter()
                                .filter_map(|s| executed.get(s).map(|(rid, req)| (*s, *rid, req)))
                                .map(|(s, rid, req)| ReplyEntry {
                                    seq: s,
                                    id: rid,
                                    replica: to,
                                    reply: reply_for(r, s, req),
                                })
                                .collect();
                            for d in rm
                                .encode(&Message::Reply(entries), Destination::Addr(addr()))
                                .unwrap()
                            {
                                to_fe.push((now + ms(1), d));
                            }
                        }
                        Some((_, Message::Faults(f))) => faults.extend(f),
                        None => {}
                        other => panic!("replica manager got {other:?}"),
                    }
                }
                other => panic!("unexpected destination {other:?}"),
            }
        }
        while let Some(e) = n.fe.poll_event() {
            match e {
                FrontEndEvent::Answered { id, reply, .. } => {
                    assert!(answers.insert(id, reply).is_none(), "answered twice");
                }
                FrontEndEvent::Unavailable { id, .. } => panic!("{id:?} unavailable"),
            }
        }
        now += ms(1);
    }
    assert_eq!(answers.len(), total as usize);
    assert_eq!(answers, expected);
    n.assert_forgotten();
    // Replica 3's wrong replies and replica 4's silence were noticed (fault reports are best
    // effort over a lossy network, so most but not necessarily all of them arrive).
    // A replica whose reply is lost after the answer is reported missing, never wrong.
    let wrong = faults.iter().filter(|f| f.kind == FaultKind::Wrong).count();
    let missing_4 = faults
        .iter()
        .filter(|f| f.kind == FaultKind::Missing && f.replica.get() == 4)
        .count();
    // Replica 3 is blamed exactly at its wrong seqs, and cleared (`Correct`) only elsewhere.
    assert!(faults.iter().all(|f| match f.kind {
        FaultKind::Missing => true,
        FaultKind::Wrong => f.replica.get() == 3 && f.seq.is_multiple_of(5),
        FaultKind::Correct => f.replica.get() == 3 && !f.seq.is_multiple_of(5),
    }));
    assert!(faults.iter().any(|f| f.kind == FaultKind::Correct));
    let s = n.fe.stats();
    assert!(wrong > 40 && s.wrong <= total / 5, "{wrong} {}", s.wrong);
    assert!(missing_4 > 290, "{missing_4}");
    assert_eq!(s.missing + s.wrong, s.faults_reported);
    assert!(n.fe.stats().submit_retransmits > 0);
    assert!(n.fe.stats().reasks > 0);
}

// ---------------------------------------------------------------------------------------
// Arbitrary input never panics, and each id ends at most once.

#[derive(Debug, Clone)]
enum Input {
    Submit(Vec<u8>),
    Garbage(Vec<u8>),
    Ordered(Vec<(u64, u64)>),
    Reply {
        rm: u8,
        replica: u8,
        number: u64,
        seq: u64,
        reply: u8,
    },
    Advance(u64),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Input::Submit),
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(Input::Garbage),
        proptest::collection::vec((0..12u64, 0..6u64), 0..4).prop_map(Input::Ordered),
        (1..=4u8, 1..=4u8, 0..12u64, 0..6u64, 0..3u8).prop_map(
            |(rm, replica, number, seq, reply)| {
                Input::Reply {
                    rm,
                    replica,
                    number,
                    seq,
                    reply,
                }
            }
        ),
        (0..3000u64).prop_map(Input::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_inputs_never_panic(inputs in proptest::collection::vec(input(), 0..120)) {
        let mut n = Net::new();
        let mut now = n.t0;
        let mut ended = HashSet::new();
        let mut submitted = 0u64;
        for i in inputs {
            match i {
                Input::Submit(body) => {
                    n.fe.submit(now, body);
                    submitted += 1;
                }
                Input::Garbage(bytes) => n.fe.handle_datagram(now, addr(), &bytes),
                Input::Ordered(pairs) => n.ordered(now, &pairs),
                Input::Reply { rm, replica, number, seq, reply } => {
                    n.reply_as(now, rm, replica, number, seq, &[reply]);
                }
                Input::Advance(d) => {
                    now += ms(d);
                    n.fe.handle_timeout(now);
                }
            }
            n.sent();
            while let Some(e) = n.fe.poll_event() {
                let id = match e {
                    FrontEndEvent::Answered { id, .. } | FrontEndEvent::Unavailable { id, .. } => id,
                };
                prop_assert!(ended.insert(id), "{:?} ended twice", id);
            }
            prop_assert_eq!(n.fe.in_flight() as u64 + ended.len() as u64, submitted);
            if let Some(t) = n.fe.poll_timeout() {
                prop_assert!(t >= n.t0);
            }
        }
        n.run_until(now + Duration::from_secs(60));
        let _ = n.events();
        n.assert_forgotten();
    }
}

/// A replica that replies at a later seq has passed the earlier ones: its replies to them
/// were lost or never sent (it skipped them by state transfer). Lingering for them ends after
/// `linger_floor`, so that a wrong answer right after is reported at once, not held in seq
/// order behind a linger window that slow replies have stretched towards `linger_cap`.
#[test]
fn a_later_reply_ends_the_wait_for_a_replicas_earlier_ones() {
    let mut n = Net::new();
    for _ in 0..3 {
        n.fe.submit(n.t0, b"req".to_vec());
    }
    n.sent();
    // Seqs 10 and 11 answered by replicas 1-3 after 400 ms: the window becomes 800 ms.
    for (number, seq) in [(1, 10), (2, 11)] {
        for rm in 1..=3 {
            n.reply(n.at(400), rm, number, seq, b"A");
        }
    }
    assert_eq!(n.fe.linger_window(), ms(800));
    // Replica 4, back after skipping 10 and 11, answers 12 wrong.
    for rm in 1..=3 {
        n.reply(n.at(401), rm, 3, 12, b"A");
    }
    n.reply(n.at(402), 4, 3, 12, b"X");
    assert!(
        faults_to_all(&n.sent_until(n.at(421))).is_empty(),
        "room for an overtaken reply"
    );
    assert_eq!(
        faults_to_all(&n.sent_until(n.at(422))),
        vec![
            fault(10, 4, FaultKind::Missing),
            fault(11, 4, FaultKind::Missing),
            fault(12, 4, FaultKind::Wrong)
        ]
    );
    n.run_until(n.at(5000));
    n.assert_forgotten();
    assert!(n.fe.awaiting.iter().all(BTreeSet::is_empty));
}

/// A reply that was merely overtaken by a later one still counts within `linger_floor`.
#[test]
fn an_overtaken_reply_still_counts() {
    let mut n = Net::new();
    for _ in 0..2 {
        n.fe.submit(n.t0, b"req".to_vec());
    }
    n.sent();
    for rm in 1..=3 {
        n.reply(n.at(400), rm, 1, 10, b"A");
        n.reply(n.at(400), rm, 2, 11, b"A");
    }
    n.reply(n.at(401), 4, 2, 11, b"A");
    n.reply(n.at(405), 4, 1, 10, b"A");
    let sent = n.run_until(n.at(5000));
    assert!(
        sent.iter()
            .all(|(_, _, m)| !matches!(m, Message::Faults(_))),
        "{sent:?}"
    );
    n.assert_forgotten();
}

impl Net {
    /// The sequencer answers the front end's `k`th read-index question with commit point
    /// `committed`.
    fn read_index_is(&mut self, now: Instant, k: u64, committed: u64) {
        let from = link(NodeId::Sequencer(1));
        let msg = Message::ReadIndexIs {
            nonce: question(k),
            view: 1,
            committed,
        };
        self.deliver(now, &from, &msg);
    }

    /// Manager `rm` answers fast read `number` for `replica`, read at `seq`.
    fn read_reply_as(
        &mut self,
        now: Instant,
        rm: u8,
        replica: u8,
        number: u64,
        seq: u64,
        bytes: &[u8],
    ) {
        let msg = Message::ReadReply(vec![ReadReplyEntry {
            id: id(number),
            replica: r(replica),
            seq,
            reply: bytes.to_vec(),
        }]);
        let from = &self.rms[usize::from(rm - 1)];
        for d in from.encode(&msg, Destination::Addr(addr())).unwrap() {
            self.fe.handle_datagram(now, addr(), &d);
        }
    }

    /// With a `reask` of 20 ms, fast read 1 at index 40, and two replies to it that differ
    /// (managers 1 and 2, both at 41), so managers 3 and 4 asked at once and silent.
    fn two_replies_different() -> Self {
        let mut n = Net::with_reask(ms(20));
        n.read_at(40);
        n.read_reply(n.at(2), 1, 1, 41, b"A");
        n.read_reply(n.at(3), 2, 1, 41, b"B");
        assert_eq!(read_targets(&n.sent()), vec![3, 4]);
        n
    }

    /// Starts fast read 1 (alone in flight: asked of managers 1 and 2, none measured yet,
    /// with the question for the index) and gives it commit point `committed`; returns what
    /// was sent then.
    fn read_at(&mut self, committed: u64) -> Vec<(Destination, Message)> {
        assert_eq!(
            self.fe
                .submit_read(self.t0, b"read".to_vec(), String::new()),
            id(1)
        );
        let early = Message::Read(vec![crate::wire::ReadEntry {
            id: id(1),
            at_least: 0,
            request: b"read".to_vec(),
        }]);
        // The managers' longer round trip starts first.
        let mut want: Vec<_> = [r(1), r(2)]
            .map(|r| (Destination::ReplicaManager(r), early.clone()))
            .into();
        want.push((
            Destination::Sequencer(1),
            Message::ReadIndex { nonce: question(1) },
        ));
        assert_eq!(self.sent(), want);
        self.read_index_is(self.at(1), 1, committed);
        self.sent()
    }
}

#[test]
fn a_fast_read_asks_the_index_and_two_managers_at_once_and_answers_with_two_alike() {
    // One read in flight: two managers are asked with the question for the index; when the
    // index comes first they are waited for, not asked again (that would double the
    // replicas' work), and their replies are judged against it as they come.
    let mut n = Net::new();
    let sent = n.read_at(40);
    assert!(sent.is_empty(), "{sent:?}");
    // Nothing goes through the sequencer's log.
    n.read_reply(n.at(2), 1, 1, 41, b"A");
    n.read_reply(n.at(3), 2, 1, 42, b"B");
    assert!(
        n.events().is_empty(),
        "two different replies are not an answer"
    );
    assert_eq!(
        read_targets(&n.sent()),
        vec![3, 4],
        "both asked answered, differently: the other two are asked at once"
    );
    n.read_reply(n.at(4), 3, 1, 45, b"B");
    assert_eq!(
        n.events(),
        vec![FrontEndEvent::Answered {
            id: id(1),
            seq: 42,
            reply: b"B".to_vec(),
            replies: 3,
        }],
        "the revision is the lower of the two states read"
    );
    assert!(n.sent().is_empty(), "no Submit, no fault report");
    n.read_reply(n.at(5), 4, 1, 45, b"B");
    assert!(n.events().is_empty(), "answered once");
    assert_eq!(n.fe.fast_reads_in_flight(), 0);
    n.assert_forgotten();
    let s = n.fe.stats();
    assert_eq!(
        (s.fast_reads, s.fast_answered, s.fast_fallbacks, s.answered),
        (1, 1, 0, 1)
    );
}

#[test]
fn with_fast_read_limit_calls_in_flight_a_read_is_ordered_at_once() {
    let mut n = Net::configured(Timeouts::default(), link(NodeId::FrontEnd(1)), 2, false);
    n.fe.submit(n.t0, b"write".to_vec());
    n.sent();
    // One call in flight, under the limit: the fast path.
    assert_eq!(n.fe.submit_read(n.t0, b"r2".to_vec(), String::new()), id(2));
    assert!(
        n.sent()
            .iter()
            .any(|(_, m)| matches!(m, Message::ReadIndex { .. })),
        "read 2 asks for the read index"
    );
    // Two in flight: the next read goes to the sequencer like a write, and no index is asked.
    assert_eq!(n.fe.submit_read(n.t0, b"r3".to_vec(), String::new()), id(3));
    match &n.sent()[..] {
        [(Destination::Sequencer(1), Message::Submit { entries, .. })] => {
            assert_eq!(
                entries.iter().map(|e| e.id).collect::<Vec<_>>(),
                vec![id(3)]
            );
            assert_eq!(entries[0].request, b"r3");
        }
        other => panic!("expected read 3 submitted for ordering, sent {other:?}"),
    }
    assert_eq!(n.fe.fast_reads_in_flight(), 1);
    n.ordered(n.at(1), &[(1, 10), (3, 11)]);
    for rm in 1..=2 {
        n.reply(n.at(2), rm, 1, 10, b"W");
        n.reply(n.at(2), rm, 3, 11, b"R");
    }
    let answered: Vec<(RequestId, u64)> = n
        .events()
        .into_iter()
        .filter_map(|e| match e {
            FrontEndEvent::Answered { id, seq, .. } => Some((id, seq)),
            FrontEndEvent::Unavailable { .. } => None,
        })
        .collect();
    assert_eq!(answered, vec![(id(1), 10), (id(3), 11)]);
    // Read 2 alone in flight again: under the limit, so the next read is fast once more.
    n.sent();
    n.fe.submit_read(n.at(3), b"r4".to_vec(), String::new());
    assert!(n
        .sent()
        .iter()
        .all(|(_, m)| !matches!(m, Message::Submit { .. })));
    let s = n.fe.stats();
    assert_eq!((s.fast_reads, s.reads_ordered_under_load), (2, 1));
}

#[test]
fn a_manager_asked_with_the_question_and_silent_is_asked_again_after_a_reask_interval() {
    // Manager 2's answer to the question is awaited; manager 1's counts.
    let mut n = Net::with_reask(ms(20));
    n.read_at(40);
    n.read_reply(n.at(2), 1, 1, 41, b"A");
    assert!(n.sent().is_empty());
    let sent = n.run_until(n.at(30));
    let asks: Vec<(Instant, Vec<u8>)> = sent
        .iter()
        .filter_map(|(t, d, m)| match (d, m) {
            (Destination::ReplicaManager(rm), Message::Read(entries)) => {
                assert!(entries.iter().all(|e| e.at_least == 40), "{entries:?}");
                Some((*t, vec![rm.index() as u8 + 1]))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        asks,
        vec![
            (n.at(21), vec![2]),
            (n.at(21), vec![3]),
            (n.at(21), vec![4])
        ],
        "one re-ask interval after the index: the silent one again and the other two, \
         with the index"
    );
    n.read_reply(n.at(31), 3, 1, 42, b"A");
    assert!(matches!(
        n.events()[..],
        [FrontEndEvent::Answered { seq: 41, .. }]
    ));
}

/// Everything in `sent` is a `Read` asked at the index `at_least`.
fn reads_at_least(sent: &[(Destination, Message)], at_least: u64) -> bool {
    sent.iter().all(
        |(_, m)| matches!(m, Message::Read(entries) if entries.iter().all(|e| e.at_least == at_least)),
    )
}

/// The managers each `Read` in `sent` went to, in order (1..=4).
fn read_targets(sent: &[(Destination, Message)]) -> Vec<u8> {
    sent.iter()
        .filter_map(|(d, m)| match (d, m) {
            (Destination::ReplicaManager(rm), Message::Read(_)) => Some(rm.index() as u8 + 1),
            _ => None,
        })
        .collect()
}

impl Net {
    /// Starts fast reads `numbers` together (one index) and gives them commit point
    /// `committed`; returns the managers their `Read` went to.
    fn reads_at(&mut self, at: u64, numbers: &[u64], nonce: u64, committed: u64) -> Vec<u8> {
        for &number in numbers {
            let call = format!("read {number}").into_bytes();
            assert_eq!(
                self.fe.submit_read(self.at(at), call, String::new()),
                id(number)
            );
        }
        assert_eq!(
            self.sent(),
            vec![(
                Destination::Sequencer(1),
                Message::ReadIndex {
                    nonce: question(nonce)
                }
            )]
        );
        self.read_index_is(self.at(at + 1), nonce, committed);
        read_targets(&self.sent())
    }
}

#[test]
fn under_load_a_fast_read_asks_two_managers_then_the_others() {
    let mut n = Net::new();
    assert_eq!(
        n.reads_at(0, &[1, 2, 3], 1, 40),
        vec![1, 2],
        "three reads in flight: two managers first (none measured yet: the first two)"
    );
    for number in 1..=3 {
        n.read_reply(n.at(2), 1, number, 41, b"A");
    }
    assert!(n.sent().is_empty());
    for number in 1..=2 {
        n.read_reply(n.at(3), 2, number, 41, b"A");
    }
    n.read_reply(n.at(3), 2, 3, 42, b"B");
    assert_eq!(n.events().len(), 2, "reads 1 and 2 answered");
    assert_eq!(
        read_targets(&n.sent()),
        vec![3, 4],
        "read 3: both asked answered, differently: the other two are asked at once"
    );
    n.read_reply(n.at(4), 3, 3, 45, b"B");
    assert!(matches!(
        n.events()[..],
        [FrontEndEvent::Answered { seq: 42, .. }]
    ));
    n.assert_forgotten();
}

#[test]
fn fast_reads_go_first_to_the_replicas_that_answered_fastest_and_right() {
    let mut n = Net::with_reask(ms(20));
    // Reads 1-3: managers 1 and 2 asked; 1 is silent, so after a re-ask interval 3 and 4
    // are, and 1 again (its `Read` may have been lost); 2 and 4 agree; 3 answers wrong.
    assert_eq!(n.reads_at(0, &[1, 2, 3], 1, 5), vec![1, 2]);
    for number in 1..=3 {
        n.read_reply(n.at(2), 2, number, 5, b"X");
    }
    let sent: Vec<_> = n.sent_until(n.at(21));
    assert_eq!(
        read_targets(&sent),
        vec![1, 3, 4],
        "the silent one is made up for, and asked again"
    );
    for number in 1..=3 {
        n.read_reply(n.at(22), 3, number, 5, b"wrong");
        n.read_reply(n.at(23), 4, number, 5, b"X");
    }
    assert_eq!(n.events().len(), 3);
    // Reads 4-6: replica 1 missed and replica 3 was wrong: 2 and 4 are asked first.
    assert_eq!(n.reads_at(30, &[4, 5, 6], 2, 5), vec![2, 4]);
    for number in 4..=6 {
        n.read_reply(n.at(32), 2, number, 5, b"Y");
        n.read_reply(n.at(32), 4, number, 5, b"Y");
    }
    assert_eq!(n.events().len(), 3);
    n.assert_forgotten();
}

impl Net {
    fn read_reply(&mut self, now: Instant, rm: u8, number: u64, seq: u64, bytes: &[u8]) {
        self.read_reply_as(now, rm, rm, number, seq, bytes);
    }
}

#[test]
fn a_fast_reply_below_the_index_or_for_another_replica_does_not_count() {
    let mut n = Net::new();
    n.read_at(40);
    // Two alike, but one read before the index (manager 1's answer to the question's ask):
    // it does not count, and manager 1 is asked again, with the index.
    n.read_reply(n.at(2), 1, 1, 39, b"stale");
    n.read_reply(n.at(3), 2, 1, 40, b"stale");
    assert!(n.events().is_empty());
    assert_eq!(read_targets(&n.sent()), vec![1]);
    // Manager 3 speaking for replica 2, manager 2 again, and manager 4, not asked: none
    // counts.
    n.read_reply_as(n.at(4), 3, 2, 1, 40, b"stale");
    n.read_reply(n.at(5), 2, 1, 41, b"stale");
    n.read_reply(n.at(5), 4, 1, 41, b"stale");
    assert!(n.events().is_empty());
    n.read_reply(n.at(6), 1, 1, 44, b"stale");
    assert!(matches!(
        n.events()[..],
        [FrontEndEvent::Answered { seq: 40, .. }]
    ));
}

#[test]
fn a_fast_read_without_two_alike_in_time_is_ordered_under_its_number() {
    let mut n = Net::two_replies_different();
    let sent = n.run_until(n.at(45));
    let submits: Vec<_> = sent
        .iter()
        .filter_map(|(t, d, m)| match m {
            Message::Submit { entries, .. } => Some((*t, *d, entries.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(submits.len(), 1, "{sent:?}");
    let (t, dest, entries) = &submits[0];
    assert_eq!(*t, n.t0 + ms(40), "fallback after two re-ask intervals");
    assert_eq!(*dest, Destination::Sequencer(1));
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].id, &entries[0].request[..]),
        (id(1), &b"read"[..])
    );
    // Late fast replies no longer count; the ordered replies do.
    n.read_reply(n.at(46), 3, 1, 41, b"B");
    assert!(n.events().is_empty());
    n.ordered(n.at(47), &[(1, 50)]);
    n.reply(n.at(48), 1, 1, 50, b"B");
    n.reply(n.at(49), 2, 1, 50, b"B");
    assert!(matches!(
        n.events()[..],
        [FrontEndEvent::Answered { seq: 50, .. }]
    ));
    let s = n.fe.stats();
    assert_eq!((s.fast_reads, s.fast_answered, s.fast_fallbacks), (1, 0, 1));
}

#[test]
fn all_four_fast_replies_different_fall_back_at_once() {
    let mut n = Net::new();
    n.read_at(7);
    for (rm, bytes) in [(1, b"A"), (2, b"B"), (3, b"C")] {
        n.read_reply(n.at(2), rm, 1, 7, bytes);
    }
    assert!(
        n.sent()
            .iter()
            .all(|(_, m)| !matches!(m, Message::Submit { .. })),
        "one reply still to come"
    );
    n.read_reply(n.at(3), 4, 1, 7, b"D");
    assert!(
        n.sent()
            .iter()
            .any(|(d, m)| *d == Destination::Sequencer(1) && matches!(m, Message::Submit { .. })),
        "ordered at once, without waiting for the patience to run out"
    );
}

#[test]
fn reads_without_an_index_ask_again_then_fall_back_and_a_late_index_is_ignored() {
    let mut n = Net::with_reask(ms(20));
    n.fe.submit_read(n.t0, b"r1".to_vec(), String::new());
    n.fe.submit_read(n.t0, b"r2".to_vec(), String::new());
    // One question for both reads started together.
    let questions: Vec<_> = n
        .sent()
        .into_iter()
        .filter(|(_, m)| !matches!(m, Message::Read(_)))
        .collect();
    assert_eq!(
        questions,
        vec![(
            Destination::Sequencer(1),
            Message::ReadIndex { nonce: question(1) }
        )]
    );
    let sent = n.run_until(n.at(45));
    // One re-ask interval on: one question again for both, and no `Read` again (the managers
    // asked with the first question are judged when an index comes).
    let again: Vec<_> = sent
        .iter()
        .filter(|(_, _, m)| matches!(m, Message::ReadIndex { .. } | Message::Read(_)))
        .cloned()
        .collect();
    assert_eq!(
        again,
        vec![(
            n.at(20),
            Destination::Sequencer(1),
            Message::ReadIndex { nonce: question(2) }
        )]
    );
    assert_eq!(n.fe.stats().fast_index_asked_again, 2);
    let ordered: Vec<RequestId> = sent
        .iter()
        .flat_map(|(_, _, m)| match m {
            Message::Submit { entries, .. } => entries.iter().map(|e| e.id).collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(ordered, vec![id(1), id(2)]);
    n.read_index_is(n.at(46), 1, 9);
    assert!(
        n.sent().iter().all(|(_, m)| !matches!(m, Message::Read(_))),
        "no Read for reads already ordered"
    );
}

#[test]
fn a_read_index_asked_again_answers_the_read_and_so_does_a_late_answer_to_the_first() {
    // Either answer serves the read (the first one's was lost, or only slow); the other,
    // coming after, is ignored.
    for (answered, ignored) in [(2, 1), (1, 2)] {
        let mut n = Net::with_reask(ms(20));
        n.fe.submit_read(n.t0, b"r1".to_vec(), String::new());
        assert!(asks_index(&n.sent()));
        n.read_reply(n.at(2), 1, 1, 41, b"A");
        n.read_reply(n.at(3), 2, 1, 41, b"A");
        let sent: Vec<_> = n.sent_until(n.at(20));
        assert_eq!(
            sent,
            vec![(
                Destination::Sequencer(1),
                Message::ReadIndex { nonce: question(2) }
            )],
            "the question again, and not the managers: their replies are in"
        );
        n.read_index_is(n.at(21), answered, 40);
        assert!(matches!(
            n.events()[..],
            [FrontEndEvent::Answered { seq: 41, .. }]
        ));
        n.read_index_is(n.at(22), ignored, 40);
        assert!(n.events().is_empty() && n.sent().is_empty());
        n.assert_forgotten();
    }
}

#[test]
fn replies_to_a_read_asked_with_the_question_count_if_read_at_or_beyond_the_index() {
    let mut n = Net::new();
    n.fe.submit_read(n.t0, b"read".to_vec(), String::new());
    assert_eq!(read_targets(&n.sent()), vec![1, 2]);
    // Before the index: replica 1 at 5; managers 3 and 4, not asked, do not count.
    n.read_reply(n.at(1), 1, 1, 5, b"A");
    n.read_reply(n.at(1), 3, 1, 7, b"A");
    n.read_reply(n.at(1), 4, 1, 7, b"A");
    assert!(n.events().is_empty(), "nothing counts before the index");
    // Index 6: replica 1 read too early and is asked again, with the index; 2, which has not
    // answered yet, is waited for.
    n.read_index_is(n.at(2), 1, 6);
    assert!(n.events().is_empty());
    let sent = n.sent();
    assert_eq!(read_targets(&sent), vec![1]);
    assert!(reads_at_least(&sent, 6));
    // 2's answer to the question comes, from before the index: it is asked again too.
    n.read_reply(n.at(3), 2, 1, 5, b"A");
    assert!(n.events().is_empty());
    let sent = n.sent();
    assert_eq!(read_targets(&sent), vec![2]);
    assert!(reads_at_least(&sent, 6));
    // Asked with the index, a reply below it is a lie: no third ask.
    n.read_reply(n.at(3), 2, 1, 5, b"A");
    assert!(n.sent().is_empty());
    n.read_reply(n.at(4), 2, 1, 7, b"A");
    n.read_reply(n.at(4), 1, 1, 6, b"A");
    assert!(matches!(
        n.events()[..],
        [FrontEndEvent::Answered { seq: 6, .. }]
    ));
    n.assert_forgotten();

    // A second read goes to the two replicas not measured yet, 3 and 4; their early
    // replies are alike and up to date, so it is answered at the index.
    n.fe.submit_read(n.at(10), b"read".to_vec(), String::new());
    assert_eq!(read_targets(&n.sent()), vec![3, 4]);
    n.read_reply(n.at(11), 3, 2, 9, b"C");
    n.read_reply(n.at(11), 4, 2, 9, b"C");
    n.read_index_is(n.at(12), 2, 9);
    assert!(matches!(
        n.events()[..],
        [FrontEndEvent::Answered { seq: 9, .. }]
    ));
    assert!(n.sent().is_empty(), "no second round");
    n.assert_forgotten();
}

#[test]
fn early_replies_that_differ_ask_the_other_two_when_the_index_comes() {
    let mut n = Net::new();
    n.fe.submit_read(n.t0, b"read".to_vec(), String::new());
    n.sent();
    n.read_reply(n.at(1), 1, 1, 9, b"A");
    n.read_reply(n.at(1), 2, 1, 9, b"lie");
    n.read_index_is(n.at(2), 1, 9);
    assert!(n.events().is_empty());
    let sent = n.sent();
    assert_eq!(
        read_targets(&sent),
        vec![3, 4],
        "at once, not after a re-ask"
    );
    assert!(reads_at_least(&sent, 9));
    n.read_reply(n.at(3), 4, 1, 10, b"A");
    assert!(matches!(
        n.events()[..],
        [FrontEndEvent::Answered { seq: 9, .. }]
    ));
    n.assert_forgotten();
    // Replica 2 answered otherwise: not among the first two asked next time.
    n.fe.submit_read(n.at(10), b"read".to_vec(), String::new());
    assert_eq!(read_targets(&n.sent()), vec![1, 3]);
}

impl Net {
    /// Starts fast read `number` alone; returns what was sent for it.
    fn read_now(&mut self, at: u64, number: u64) -> Vec<(Destination, Message)> {
        let call = format!("read {number}").into_bytes();
        assert_eq!(
            self.fe.submit_read(self.at(at), call, String::new()),
            id(number)
        );
        self.sent()
    }
}

/// `sent` asks the primary the front end's `k`th read-index question.
fn asks_question(sent: &[(Destination, Message)], k: u64) -> bool {
    sent.contains(&(
        Destination::Sequencer(1),
        Message::ReadIndex { nonce: question(k) },
    ))
}

fn asks_index(sent: &[(Destination, Message)]) -> bool {
    sent.iter()
        .any(|(_, m)| matches!(m, Message::ReadIndex { .. }))
}

#[test]
fn the_only_front_end_asks_the_primary_once_then_takes_its_own_index() {
    let mut n = Net::only();
    // Started just now: calls answered by an earlier start are known only to the primary.
    n.read_at(40);
    n.read_reply(n.at(2), 1, 1, 40, b"A");
    n.read_reply(n.at(2), 2, 1, 40, b"A");
    assert!(matches!(
        n.events()[..],
        [FrontEndEvent::Answered { seq: 40, .. }]
    ));

    let sent = n.read_now(3, 2);
    assert!(!asks_index(&sent), "{sent:?}");
    // The two not measured yet (the first read's replies came before its index).
    assert_eq!(read_targets(&sent), vec![3, 4]);
    assert!(reads_at_least(&sent, 40), "{sent:?}");
    n.read_reply(n.at(4), 3, 2, 40, b"A");
    n.read_reply(n.at(4), 4, 2, 40, b"A");
    assert_eq!(n.events().len(), 1);

    // A write it orders raises its index as soon as the primary announces it...
    n.fe.submit(n.at(5), b"write".to_vec());
    n.sent();
    n.ordered(n.at(6), &[(3, 43)]);
    let sent = n.read_now(6, 4);
    assert!(!asks_index(&sent) && reads_at_least(&sent, 43), "{sent:?}");
    for rm in read_targets(&sent) {
        n.read_reply(n.at(7), rm, 4, 43, b"A");
    }
    // ...and so does its answer, the Ordered lost.
    n.fe.submit(n.at(8), b"write".to_vec());
    n.sent();
    n.reply(n.at(9), 3, 5, 44, b"W");
    n.reply(n.at(9), 4, 5, 44, b"W");
    assert_eq!(n.events().len(), 2, "read 4 and write 5 answered");
    let sent = n.read_now(10, 6);
    assert!(!asks_index(&sent) && reads_at_least(&sent, 44), "{sent:?}");
    let s = n.fe.stats();
    assert_eq!((s.fast_reads, s.fast_own_index), (4, 3));
}

#[test]
fn a_front_end_that_is_not_the_only_one_asks_the_primary_every_time() {
    let mut n = Net::new();
    n.read_at(40);
    n.read_reply(n.at(2), 1, 1, 40, b"A");
    n.read_reply(n.at(2), 2, 1, 40, b"A");
    n.fe.submit(n.at(3), b"write".to_vec());
    n.sent();
    n.ordered(n.at(3), &[(2, 41)]);
    // Another front end may have answered a write beyond anything this one knows.
    let sent = n.read_now(4, 3);
    assert!(asks_index(&sent), "{sent:?}");
    assert_eq!(n.fe.stats().fast_own_index, 0);
}

#[test]
fn a_fast_read_answered_beyond_what_the_only_front_end_knows_sends_the_next_to_the_primary() {
    let mut n = Net::only();
    n.read_at(40);
    // Alike, one read at 45: the read may have taken effect there (if that replica is the
    // correct one), beyond the 40 this front end knows committed.
    n.read_reply(n.at(2), 1, 1, 40, b"A");
    n.read_reply(n.at(2), 2, 1, 45, b"A");
    assert_eq!(n.events().len(), 1);
    let sent = n.read_now(3, 2);
    assert!(asks_question(&sent, 2), "{sent:?}");
    // A late copy of the answer to the question asked before that read was answered proves
    // nothing about it.
    n.read_index_is(n.at(4), 1, 40);
    let sent = n.read_now(4, 3);
    assert!(asks_question(&sent, 3), "{sent:?}");
    // The answer to a question asked after it does.
    n.read_index_is(n.at(5), 2, 45);
    n.sent();
    let sent = n.read_now(6, 4);
    assert!(!asks_index(&sent) && reads_at_least(&sent, 45), "{sent:?}");
}

#[test]
fn an_answer_to_an_earlier_starts_question_is_not_taken_for_this_ones() {
    let mut n = Net::only();
    n.read_now(0, 1);
    // An earlier start (a lower incarnation) asked with nonces up to at most this start's
    // incarnation; its answer may still be on the way, to the same address.
    let from = link(NodeId::Sequencer(1));
    let stale = Message::ReadIndexIs {
        nonce: INC,
        view: 1,
        committed: 5,
    };
    n.deliver(n.at(1), &from, &stale);
    assert!(
        reads_at_least(&n.sent(), 0),
        "read 1 still waits for its index"
    );
    let sent = n.read_now(2, 2);
    assert!(asks_question(&sent, 2), "no own index yet: {sent:?}");
}
