//! Issue 3 acceptance tests, on real `tesserad` processes over loopback: reliable ordered
//! delivery under loss, duplication and reordering; a silent replica; a `kill -9`'d
//! sequencer; hostile datagrams; two clusters side by side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;
#[path = "cluster/workload.rs"]
mod workload;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use harness::{Options, Role, TestCluster};
use tessera_protocol::wire::{
    FaultKind, Link, Message, NodeId, ReplyEntry, RequestId, Submission, VoteReason,
};
use tessera_protocol::Destination;
use tessera_types::Request;
use workload::{check_against_single_replica, run_workload, workload};

/// An incarnation of the spare front end as one starting now would have: request ids name
/// their front end, and the sequencer takes a front end's only under its own identity.
fn spare_incarnation() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    RequestId::incarnation(
        now.as_millis() as u64,
        tessera_testkit::cluster::SPARE_FRONT_END,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_links_deliver_every_request_exactly_once_in_order() {
    let cluster = TestCluster::start(Options {
        drop: 0.2,
        duplicate: 0.05,
        reorder: 0.05,
        seed: 42,
        ..Options::default()
    });
    let fe = cluster.front_end();
    let requests = workload(2000, 7);
    let answers = run_workload(&fe, requests, 32).await;
    let n = answers.len() as u64;
    assert_eq!(n, 2000);
    // Every request got its own sequence number, and together they are exactly 1..=2000:
    // nothing ordered twice, nothing skipped.
    let seqs: BTreeSet<u64> = answers.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, (1..=n).collect::<BTreeSet<_>>());
    check_against_single_replica(&answers);
    let status = cluster.wait_converged(n, Duration::from_secs(30)).await;
    for r in &status.replicas {
        assert_eq!(
            r.executed,
            Some(n),
            "replica {} executed each request exactly once",
            r.id
        );
    }
    let stats = fe.stats();
    assert!(
        stats.submit_retransmits > 0,
        "20% loss must have forced retransmissions: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_replica_changes_nothing_for_clients_and_is_reported() {
    let cluster = TestCluster::start(Options::default());
    let fe = cluster.front_end();
    let warmup = run_workload(&fe, workload(50, 1), 8).await;
    cluster
        .wait_converged(warmup.len() as u64, Duration::from_secs(20))
        .await;

    cluster.pause(Role::Rm(3));
    let mut all = warmup;
    all.extend(run_workload(&fe, workload(300, 2), 16).await);
    assert_eq!(all.len(), 350);
    check_against_single_replica(&all);
    let reported = harness::eventually(Duration::from_secs(10), || fe.stats().missing > 0).await;
    assert!(
        reported,
        "the front end must report the silent replica: {:?}",
        fe.stats()
    );

    // Once it runs again it catches up from the sequencer's retransmission buffer.
    cluster.resume(Role::Rm(3));
    cluster.wait_converged(350, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sequencer_never_reuses_or_skips_a_number() {
    let mut cluster = TestCluster::start(Options {
        drop: 0.05,
        seed: 3,
        ..Options::default()
    });
    let fe = cluster.front_end();
    let load = tokio::spawn({
        let fe = fe.clone();
        async move { run_workload(&fe, workload(1500, 9), 16).await }
    });
    assert!(harness::eventually(Duration::from_secs(20), || fe.stats().answered >= 300).await);
    cluster.kill9(Role::Sequencer);
    tokio::time::sleep(Duration::from_millis(100)).await;
    cluster.restart(Role::Sequencer);
    let answers = load.await.unwrap();
    let n = answers.len() as u64;
    assert_eq!(n, 1500);
    let seqs: BTreeSet<u64> = answers.iter().map(|a| a.seq).collect();
    assert_eq!(
        seqs,
        (1..=n).collect::<BTreeSet<_>>(),
        "gap-free and unique across the restart"
    );
    check_against_single_replica(&answers);
    let status = cluster.wait_converged(n, Duration::from_secs(30)).await;
    assert_eq!(status.next_seq, Some(n + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_datagrams_are_dropped_and_counted() {
    let cluster = TestCluster::start(Options::default());
    let fe = cluster.front_end();
    let first = run_workload(&fe, workload(20, 4), 4).await;
    // Every node is up and listening before the garbage goes out: two replies answer a call,
    // so a slow-starting replica manager may not have bound its socket yet (datagrams to a
    // closed port vanish, and it would count none).
    cluster
        .wait_converged(first.len() as u64, Duration::from_secs(20))
        .await;

    let cfg = &cluster.cfg;
    let mut targets = vec![cfg.sequencer.address, fe.local_addr(), cfg.network.group];
    targets.extend(cfg.replica_manager.iter().map(|r| r.address));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_multicast_ttl_v4(0).unwrap();

    // A valid submission, encoded with a real front end key, to replay.
    let spare = NodeId::FrontEnd(tessera_testkit::cluster::SPARE_FRONT_END);
    let honest = Link::new(tessera_node::node_link_config(cfg, spare, None).unwrap()).unwrap();
    let submit = honest
        .encode(
            &Message::Submit {
                floor: 0,
                entries: vec![Submission {
                    id: RequestId {
                        front_end: spare_incarnation(),
                        number: 1,
                    },
                    reply_to: sock.local_addr().unwrap(),
                    request: Request::GetEventSchedule {
                        participant_id: "MTLP0001".parse().unwrap(),
                    }
                    .encode(),
                    trace: String::new(),
                }],
            },
            Destination::Sequencer(1),
        )
        .unwrap()
        .remove(0);
    // The sequencer's identity with a key that is not the sequencer's: what a node holding
    // only its own key can make.
    let impostor = tessera_node::keys::generate().unwrap();
    let mut wrong_key =
        tessera_node::link_config(cfg, NodeId::Sequencer(1), impostor.clone(), 1).unwrap();
    wrong_key
        .roster
        .insert(NodeId::Sequencer(1), impostor.public())
        .unwrap();
    let heartbeat = Message::Heartbeat {
        view: 0,
        high: 1_000_000,
        low: 1,
    };
    let forged = Link::new(wrong_key)
        .unwrap()
        .encode(&heartbeat, Destination::AllReplicaManagers)
        .unwrap()
        .remove(0);
    let mut other_cluster_cfg = cfg.clone();
    other_cluster_cfg.cluster.name = "someone-else".into();
    let foreign = Link::new(
        tessera_node::node_link_config(&other_cluster_cfg, NodeId::Sequencer(1), None).unwrap(),
    )
    .unwrap()
    .encode(&heartbeat, Destination::AllReplicaManagers)
    .unwrap()
    .remove(0);
    // A node the configuration does not list, with a key of its own.
    let stranger = NodeId::FrontEnd(4242);
    let stranger_key = tessera_node::keys::generate().unwrap();
    let mut stranger_cfg =
        tessera_node::link_config(cfg, stranger, stranger_key.clone(), 1).unwrap();
    stranger_cfg
        .roster
        .insert(stranger, stranger_key.public())
        .unwrap();
    let unknown = Link::new(stranger_cfg)
        .unwrap()
        .encode(&heartbeat, Destination::AllReplicaManagers)
        .unwrap()
        .remove(0);
    let mut flipped = submit.clone();
    flipped[30] ^= 0x01;
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        b"TSRA".to_vec(),
        (0..1500u32).map(|i| (i * 31 % 251) as u8).collect(),
        submit[..submit.len() / 2].to_vec(),
        flipped,
        forged,
        foreign,
        unknown,
    ];
    for t in &targets {
        for g in &garbage {
            sock.send_to(g, t).unwrap();
        }
    }
    // Replay the valid submission many times: it is ordered exactly once.
    for _ in 0..20 {
        sock.send_to(&submit, cfg.sequencer.address).unwrap();
    }

    let second = run_workload(&fe, workload(20, 5), 4).await;
    let total = (first.len() + second.len() + 1) as u64;
    let status = cluster.wait_converged(total, Duration::from_secs(20)).await;
    assert_eq!(
        status.next_seq,
        Some(total + 1),
        "the replayed submission was ordered once"
    );
    let dropped = cluster.wire_drops().await;
    // Every node got the same 9 undecodable, unauthenticated or unknown datagrams (the empty
    // one never arrives as a datagram on some stacks, so count at least 8), the sequencer the
    // 19 replays of the submission besides, and nothing crashed.
    for (node, n) in &dropped {
        let least = if node == "sequencer" { 8 + 19 } else { 8 };
        assert!(
            *n >= least,
            "{node} counted {n} dropped datagrams: {dropped:?}"
        );
    }
    assert!(fe.stats().wire_dropped >= 8, "front end: {:?}", fe.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clusters_on_one_machine_do_not_see_each_other() {
    let a = TestCluster::start(Options::default());
    let b = TestCluster::start(Options {
        multicast: false,
        ..Options::default()
    });
    let (fa, fb) = (Arc::new(a.front_end()), Arc::new(b.front_end()));
    let (ra, rb) = tokio::join!(
        run_workload(&fa, workload(300, 11), 8),
        run_workload(&fb, workload(120, 12), 8)
    );
    check_against_single_replica(&ra);
    check_against_single_replica(&rb);
    let sa = a.wait_converged(300, Duration::from_secs(20)).await;
    let sb = b.wait_converged(120, Duration::from_secs(20)).await;
    assert_ne!(sa.replicas[0].digest, sb.replicas[0].digest);
    for (node, n) in a.wire_drops().await.into_iter().chain(b.wire_drops().await) {
        assert_eq!(n, 0, "{node} received foreign or damaged datagrams");
    }
}

/// Manager 3's host is compromised: the attacker has `rm-3.key` and the cluster file, nothing
/// else, and speaks on the real network of a running cluster. It claims to be managers 1, 2
/// and 4 (two wrong replies, three votes against a healthy replica, a checkpoint digest, a
/// snapshot offer) and the sequencer (data for seqs that do not exist yet). Every such datagram
/// fails its receiver's tag and is counted; clients get only right answers; nobody is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_manager_can_lie_only_as_itself() {
    use tessera_protocol::wire::{
        FaultKind, Incarnation, LinkConfig, ReplyEntry, Sequenced, VoteReason,
    };
    use tessera_protocol::ReplicaId;

    let cluster = TestCluster::start(Options {
        chaos: true,
        recovery: harness::quick_recovery(25),
        ..Options::default()
    });
    let fe = cluster.front_end();
    let first = run_workload(&fe, workload(60, 91), 8).await;
    let cfg = &cluster.cfg;
    let rm = |n: u8| ReplicaId::new(n).unwrap();
    let stolen = tessera_node::keys::read_secret(&tessera_node::keys::key_path(
        cfg,
        NodeId::ReplicaManager(rm(3)),
    ))
    .unwrap();
    // The attacker's best: a link claiming `who`, keyed with the only key it has (its own
    // roster says that key is `who`'s, so the link starts).
    let as_ = |who: NodeId| -> Link {
        let mut lc: LinkConfig =
            tessera_node::link_config(cfg, who, stolen.clone(), u64::MAX / 2).unwrap();
        lc.roster.insert(who, stolen.public()).unwrap();
        Link::new(lc).unwrap()
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rms: Vec<_> = cfg.replica_manager.iter().map(|r| r.address).collect();
    let next = first.len() as u64 + 1;
    let mut sent_to_rms = 0u64;
    let mut send_rms = |grams: Vec<Vec<u8>>| {
        for g in &grams {
            for a in &rms {
                sock.send_to(g, a).unwrap();
            }
        }
        sent_to_rms += grams.len() as u64;
    };
    for claimed in [1, 2, 4] {
        let liar = as_(NodeId::ReplicaManager(rm(claimed)));
        let all = Destination::AllReplicaManagers;
        let vote = Message::Vote {
            replica: rm(2),
            generation: 0,
            reason: VoteReason::Wrong,
        };
        send_rms(liar.encode(&vote, all).unwrap());
        let checkpoint = Message::Checkpoint {
            seq: 50,
            incarnation: Incarnation::default(),
            digest: [7; 32],
        };
        send_rms(liar.encode(&checkpoint, all).unwrap());
        let offer = Message::SnapshotOffer {
            nonce: 1,
            checkpoints: vec![(50, [7; 32])],
            snapshot: Some((50, vec![1, 2, 3])),
        };
        send_rms(liar.encode(&offer, all).unwrap());
        let faults = Message::Faults(
            (next..next + 5)
                .map(|seq| tessera_protocol::wire::FaultReport {
                    seq,
                    replica: rm(2),
                    kind: FaultKind::Wrong,
                })
                .collect(),
        );
        send_rms(liar.encode(&faults, all).unwrap());
    }
    let fake_sequencer = as_(NodeId::Sequencer(1));
    let data = Message::Data(
        (next..next + 3)
            .map(|seq| Sequenced {
                seq,
                id: RequestId {
                    front_end: 0xbad,
                    number: seq,
                },
                reply_to: sock.local_addr().unwrap(),
                timestamp_ms: 0,
                request: Request::GetEventSchedule {
                    participant_id: "MTLP0001".parse().unwrap(),
                }
                .encode(),
                trace: String::new(),
            })
            .collect(),
    );
    send_rms(
        fake_sequencer
            .encode(&data, Destination::AllReplicaManagers)
            .unwrap(),
    );
    // Wrong replies "from" managers 1 and 2 to the test's front end, for the seqs its next
    // requests will get.
    let mut replies = 0u64;
    for claimed in [1, 2] {
        let liar = as_(NodeId::ReplicaManager(rm(claimed)));
        let entries = (next..next + 40)
            .map(|seq| ReplyEntry {
                seq,
                id: RequestId {
                    front_end: 0,
                    number: seq,
                },
                replica: rm(claimed),
                reply: b"wrong".to_vec(),
            })
            .collect();
        for g in liar
            .encode(&Message::Reply(entries), Destination::Addr(fe.local_addr()))
            .unwrap()
        {
            sock.send_to(&g, fe.local_addr()).unwrap();
            replies += 1;
        }
    }

    let second = run_workload(&fe, workload(100, 92), 8).await;
    let mut answers = first;
    answers.extend(second);
    check_against_single_replica(&answers);
    let status = cluster
        .wait_converged(answers.len() as u64, Duration::from_secs(30))
        .await;
    assert!(
        status.replicas.iter().all(|r| r.replacements == Some(0)),
        "nobody replaced: {status:#?}"
    );
    for (node, n) in cluster.wire_drops().await {
        if node != "sequencer" {
            assert!(
                n >= sent_to_rms,
                "{node} dropped {n} of {sent_to_rms} forgeries"
            );
        }
    }
    assert!(
        fe.stats().wire_dropped >= replies,
        "the front end dropped {} of {replies} forged replies",
        fe.stats().wire_dropped
    );

    // A real fault now (replica 4 lies, is voted out and replaced), while the attacker keeps
    // offering a poisoned snapshot and checkpoint as managers 1 and 2: the replacement still
    // installs a correct state, agreed by digest with the others.
    let spray = Spray::start(
        [1, 2].map(|n| as_(NodeId::ReplicaManager(rm(n)))).into(),
        rms.clone(),
    );
    cluster
        .chaos(4, tessera_protocol::wire::ChaosAction::Byzantine)
        .await;
    answers.extend(run_workload(&fe, workload(20, 93), 1).await);
    let replaced = cluster
        .wait_replacements(4, 1, Duration::from_secs(20))
        .await;
    assert!(
        replaced
            .replicas
            .iter()
            .all(|r| r.id == 4 || r.replacements == Some(0)),
        "{replaced:#?}"
    );
    answers.extend(run_workload(&fe, workload(100, 94), 8).await);
    let sprayed = spray.stop();
    assert!(sprayed > 0);
    check_against_single_replica(&answers);
    let status = cluster
        .wait_converged(answers.len() as u64, Duration::from_secs(30))
        .await;
    assert_eq!(status.replicas[3].replacements, Some(1), "{status:#?}");
}

/// Forged snapshot offers and checkpoints, sent every few milliseconds from a thread until
/// stopped (also when the test fails: dropping it stops and joins the thread).
struct Spray {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Spray {
    fn start(liars: Vec<Link>, to: Vec<std::net::SocketAddr>) -> Spray {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let mut sent = 0u64;
            let mut nonce = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                for liar in &liars {
                    nonce += 1;
                    let poison = [
                        Message::SnapshotOffer {
                            nonce,
                            checkpoints: vec![(25, [9; 32]), (50, [9; 32])],
                            snapshot: Some((25, vec![9; 64])),
                        },
                        Message::Checkpoint {
                            seq: 25 * (nonce % 8 + 1),
                            incarnation: tessera_protocol::wire::Incarnation::default(),
                            digest: [9; 32],
                        },
                    ];
                    for m in &poison {
                        for g in liar.encode(m, Destination::AllReplicaManagers).unwrap() {
                            for a in &to {
                                let _ = sock.send_to(&g, a);
                                sent += 1;
                            }
                        }
                    }
                }
                // Paces the stream; nothing waits on it.
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        });
        Spray {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the stream; returns how many datagrams it sent.
    fn stop(mut self) -> u64 {
        self.halt()
    }

    fn halt(&mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

impl Drop for Spray {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A captured `Submit`, replayed after the sequencer restarts (its replay windows are gone),
/// after so many later requests that the sequencer no longer remembers the captured one's seq,
/// after its front end restarts (a newer epoch and incarnation), and many times over, is never
/// ordered again: by the link's epochs and windows while the sequencer runs, and after its
/// restart by what its log restores (request ids, those beyond the window as ordered long ago).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_submit_replayed_after_restarts_never_executes_twice() {
    const WINDOW: usize = 200;
    let mut cluster = TestCluster::start(Options {
        sequencer_retain: Some((WINDOW, 100)),
        recovery: harness::quick_recovery(25),
        ..Options::default()
    });
    let fe = cluster.front_end();
    let first = run_workload(&fe, workload(20, 93), 4).await;
    let cfg = cluster.cfg.clone();
    let spare = NodeId::FrontEnd(tessera_testkit::cluster::SPARE_FRONT_END);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let submit = |incarnation: u64, number: u64| Message::Submit {
        floor: 0,
        entries: vec![Submission {
            id: RequestId {
                front_end: incarnation,
                number,
            },
            reply_to: sock.local_addr().unwrap(),
            request: Request::GetEventSchedule {
                participant_id: "MTLP0001".parse().unwrap(),
            }
            .encode(),
            trace: String::new(),
        }],
    };
    let old_incarnation = spare_incarnation();
    let old_start = Link::new(tessera_node::node_link_config(&cfg, spare, None).unwrap()).unwrap();
    let captured = old_start
        .encode(&submit(old_incarnation, 1), Destination::Sequencer(1))
        .unwrap()
        .remove(0);
    sock.send_to(&captured, cfg.sequencer.address).unwrap();
    let mut total = first.len() as u64 + 1;
    cluster.wait_converged(total, Duration::from_secs(20)).await;

    // More than the window's worth of requests: the sequencer no longer knows the captured
    // request's seq.
    let _ = run_workload(&fe, workload(WINDOW + 50, 96), 8).await;
    total += WINDOW as u64 + 50;
    cluster.wait_converged(total, Duration::from_secs(30)).await;

    cluster.kill9(Role::Sequencer);
    cluster.restart(Role::Sequencer);
    // Replayed only once the restarted sequencer answers: to a port nobody listens on, a
    // replay would prove nothing.
    cluster
        .wait_status(Duration::from_secs(20), |s| s.next_seq.is_some())
        .await
        .expect("the sequencer comes back");
    for _ in 0..5 {
        sock.send_to(&captured, cfg.sequencer.address).unwrap();
    }
    // One ordinary request after the replays: once it is executed everywhere, a replay that
    // had been ordered would have been executed too.
    let _ = run_workload(&fe, workload(1, 97), 1).await;
    total += 1;
    let status = cluster.wait_converged(total, Duration::from_secs(30)).await;
    assert_eq!(
        status.next_seq,
        Some(total + 1),
        "a replay reaching the restarted sequencer was not ordered again"
    );

    // The front end restarts: a newer epoch and incarnation, one new request.
    let new_start = Link::new(tessera_node::node_link_config(&cfg, spare, None).unwrap()).unwrap();
    let fresh = new_start
        .encode(&submit(spare_incarnation(), 1), Destination::Sequencer(1))
        .unwrap()
        .remove(0);
    // Resent (the same bytes: the copies after the first are replays) until ordered.
    total += 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        sock.send_to(&fresh, cfg.sequencer.address).unwrap();
        if cluster.status().await.next_seq >= Some(total + 1) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new request was not ordered"
        );
    }
    let _ = run_workload(&fe, workload(10, 94), 4).await;
    total += 10;
    for _ in 0..5 {
        sock.send_to(&captured, cfg.sequencer.address).unwrap();
    }
    let _ = run_workload(&fe, workload(5, 95), 4).await;
    total += 5;
    let status = cluster.wait_converged(total, Duration::from_secs(30)).await;
    assert_eq!(
        status.next_seq,
        Some(total + 1),
        "the captured submission was ordered once, the new one once"
    );
    for r in &status.replicas {
        assert_eq!(
            r.executed,
            Some(total),
            "replica {} executed each request once",
            r.id
        );
    }
}

/// Several status queries at once from one process (the gateway's dashboard watcher next to
/// a `/status` call; a test's watchers next to its own queries) are each answered: every
/// endpoint has a wire identity of its own, so none looks like an older epoch of another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_status_queries_from_one_process_are_all_answered() {
    let cluster = TestCluster::start(Options::default());
    cluster
        .wait_status(Duration::from_secs(30), harness::whole)
        .await
        .expect("cluster up");
    let tasks: Vec<_> = (0..8u8)
        .map(|t| {
            let cfg = cluster.cfg.clone();
            tokio::spawn(async move {
                let mut unanswered = 0;
                for _ in 0..10 {
                    let id = t % 4 + 1;
                    match tessera_node::status::query_rm(&cfg, id, Duration::from_secs(2)).await {
                        Ok(Some(_)) => {}
                        _ => unanswered += 1,
                    }
                }
                unanswered
            })
        })
        .collect();
    let mut unanswered = 0;
    for t in tasks {
        unanswered += t.await.expect("query task");
    }
    assert_eq!(unanswered, 0, "status queries left unanswered");
    let drops = cluster.wire_drops().await;
    assert!(drops.iter().all(|(_, n)| *n == 0), "{drops:?}");
}

/// What the rogue manager of [`Rogue`] did and heard, for the test's assertions.
#[derive(Debug, Default)]
struct RogueLog {
    /// Sequenced entries it received from the sequencer (each answered wrongly).
    entries: u64,
    /// Wrong reply entries it sent to front ends, as itself and in replica 1's name.
    wrong_replies: u64,
    /// Votes against the healthy replicas 2 and 4.
    votes: u64,
    faults: u64,
    checkpoints: u64,
    offers: u64,
    /// Fetches of a snapshot it answered with poisoned bytes.
    poisoned_fetches: u64,
    acks: u64,
    /// Honest managers that voted to replace its replica (replica 3): they caught the liar.
    voted_against_me: BTreeSet<u8>,
}

/// Replica manager 3 turned Byzantine *as a manager*: its process is gone, and this thread,
/// bound to its address with its real key (so every tag it makes verifies as manager 3's),
/// plays its part wrongly. For every request the sequencer sends it, it answers the front end
/// with a wrong reply as replica 3, and the same wrong reply again in replica 1's name (the
/// entry a front end must not count: a manager speaks only for its own replica; while
/// replica 1 is down the two would otherwise agree). Every 20 ms it votes to replace the
/// healthy replicas 2 and 4, reports them wrong (`Faults`, a front end's message), broadcasts
/// a wrong checkpoint digest, offers poisoned snapshots, and acks everything it got. Asked
/// for snapshots it offers the checkpoints it overheard from honest managers (so that it
/// vouches next to them) plus poisoned ones, and serves poisoned bytes for any fetch.
/// Stopped and joined on [`stop`](Self::stop) or drop, so a failing test leaves no thread.
struct Rogue {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<RogueLog>>,
}

impl Rogue {
    fn start(cfg: tessera_node::Config, checkpoint_interval: u64) -> Rogue {
        use tessera_protocol::ReplicaId;
        let rm = |n: u8| ReplicaId::new(n).unwrap();
        let me = NodeId::ReplicaManager(rm(3));
        let secret =
            tessera_node::keys::read_secret(&tessera_node::keys::key_path(&cfg, me)).unwrap();
        // A newer epoch than the dead process's (the wall clock, as the shells choose it), so
        // that the managers take it for manager 3 restarted.
        let lc =
            tessera_node::link_config(&cfg, me, secret, tessera_node::clock::unix_us()).unwrap();
        let mut link = Link::new(lc).unwrap();
        let my_addr = cfg.replica_manager[2].address;
        // The killed process's port is free at once (UDP has no TIME_WAIT).
        let sock = UdpSocket::bind(my_addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut log = RogueLog::default();
            let addr_of = |to: Destination| -> Vec<std::net::SocketAddr> {
                match to {
                    Destination::Sequencer(id) => cfg
                        .sequencer_nodes()
                        .into_iter()
                        .filter(|(n, _)| *n == id)
                        .map(|(_, a)| a)
                        .collect(),
                    Destination::ReplicaManager(r) => vec![cfg.replica_manager[r.index()].address],
                    Destination::AllReplicaManagers => cfg
                        .replica_manager
                        .iter()
                        .map(|r| r.address)
                        .filter(|a| *a != my_addr)
                        .collect(),
                    Destination::Addr(a) => vec![a],
                }
            };
            let send = |link: &Link, msg: &Message, to: Destination| {
                for g in link.encode(msg, to).unwrap() {
                    for a in addr_of(to) {
                        let _ = sock.send_to(&g, a);
                    }
                }
            };
            // Well formed, so that a front end fooled into agreeing on it would hand it to the
            // client (and the model check would catch it), and never right: nothing in the
            // workload moves or drops 4242 bookings.
            let wrong = tessera_types::Reply {
                code: tessera_types::Code::Removed,
                body: tessera_types::ReplyBody::Removed {
                    moved: 4242,
                    dropped: 4242,
                },
            }
            .encode();
            let poison = vec![0xab; 512];
            let mut high = 0u64;
            // Recent entries by seq, to answer a front end's `Reask` just as wrongly.
            let mut recent: std::collections::BTreeMap<u64, (RequestId, std::net::SocketAddr)> =
                Default::default();
            // Honest managers' latest checkpoint digests, overheard.
            let mut overheard: std::collections::BTreeMap<u64, [u8; 32]> = Default::default();
            let mut next_tick = std::time::Instant::now();
            let mut nonce = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let got = link.receive(std::time::Instant::now(), &buf[..n]);
                    match got {
                        Some((NodeId::Sequencer(1), Message::Data(entries))) => {
                            let mut by_fe: std::collections::BTreeMap<_, Vec<_>> =
                                Default::default();
                            for e in entries {
                                log.entries += 1;
                                high = high.max(e.seq);
                                recent.insert(e.seq, (e.id, e.reply_to));
                                for replica in [rm(3), rm(1)] {
                                    by_fe.entry(e.reply_to).or_default().push(ReplyEntry {
                                        seq: e.seq,
                                        id: e.id,
                                        replica,
                                        reply: wrong.clone(),
                                    });
                                }
                            }
                            while recent.len() > 4096 {
                                recent.pop_first();
                            }
                            for (to, entries) in by_fe {
                                log.wrong_replies += entries.len() as u64;
                                send(&link, &Message::Reply(entries), Destination::Addr(to));
                            }
                        }
                        Some((NodeId::FrontEnd(_), Message::Reask(seqs))) => {
                            let entries: Vec<_> = seqs
                                .iter()
                                .filter_map(|s| recent.get(s).map(|(id, _)| (*s, *id)))
                                .map(|(seq, id)| ReplyEntry {
                                    seq,
                                    id,
                                    replica: rm(3),
                                    reply: wrong.clone(),
                                })
                                .collect();
                            if !entries.is_empty() {
                                log.wrong_replies += entries.len() as u64;
                                send(&link, &Message::Reply(entries), Destination::Addr(from));
                            }
                        }
                        Some((
                            NodeId::ReplicaManager(_),
                            Message::Checkpoint { seq, digest, .. },
                        )) => {
                            overheard.insert(seq, digest);
                            while overheard.len() > 4 {
                                overheard.pop_first();
                            }
                        }
                        Some((NodeId::ReplicaManager(p), Message::Vote { replica, .. }))
                            if replica == rm(3) =>
                        {
                            log.voted_against_me.insert(p.get());
                        }
                        Some((NodeId::ReplicaManager(p), Message::Probe { nonce })) => {
                            // "Nothing outstanding": a lie about its own replica only.
                            let reply = Message::ProbeReply {
                                nonce,
                                incarnation: tessera_protocol::wire::Incarnation::default(),
                                stalled_ms: 0,
                            };
                            send(&link, &reply, Destination::ReplicaManager(p));
                        }
                        Some((
                            NodeId::ReplicaManager(p),
                            Message::SnapshotQuery { nonce, fetch },
                        )) => {
                            let mut checkpoints: Vec<_> =
                                overheard.iter().map(|(s, d)| (*s, *d)).collect();
                            // A checkpoint past anything honest, which only it vouches for.
                            let past = (high / checkpoint_interval + 1) * checkpoint_interval;
                            checkpoints.push((past, [0xab; 32]));
                            let snapshot = fetch.map(|seq| {
                                log.poisoned_fetches += 1;
                                (seq, poison.clone())
                            });
                            log.offers += 1;
                            let offer = Message::SnapshotOffer {
                                nonce,
                                checkpoints,
                                snapshot,
                            };
                            send(&link, &offer, Destination::ReplicaManager(p));
                        }
                        _ => {}
                    }
                }
                let now = std::time::Instant::now();
                if now < next_tick {
                    continue;
                }
                next_tick = now + Duration::from_millis(20);
                nonce += 1;
                let all = Destination::AllReplicaManagers;
                for (replica, reason) in [(rm(2), VoteReason::Wrong), (rm(4), VoteReason::Digest)] {
                    let vote = Message::Vote {
                        replica,
                        generation: 0,
                        reason,
                    };
                    send(&link, &vote, all);
                    log.votes += 1;
                }
                let faults = Message::Faults(
                    (high.saturating_sub(3)..=high)
                        .flat_map(|seq| {
                            [rm(2), rm(4)].map(|replica| tessera_protocol::wire::FaultReport {
                                seq,
                                replica,
                                kind: FaultKind::Wrong,
                            })
                        })
                        .collect(),
                );
                send(&link, &faults, all);
                log.faults += 1;
                let checkpoint = Message::Checkpoint {
                    seq: high / checkpoint_interval * checkpoint_interval,
                    incarnation: tessera_protocol::wire::Incarnation::default(),
                    digest: [0xab; 32],
                };
                send(&link, &checkpoint, all);
                log.checkpoints += 1;
                // Unasked offers, guessing at a recovering manager's nonce.
                let offer = Message::SnapshotOffer {
                    nonce: nonce % 16,
                    checkpoints: vec![(checkpoint_interval, [0xab; 32])],
                    snapshot: Some((checkpoint_interval, poison.clone())),
                };
                send(&link, &offer, all);
                log.offers += 1;
                let ack = Message::Ack {
                    received: high,
                    applied: high,
                };
                send(&link, &ack, Destination::Sequencer(1));
                log.acks += 1;
            }
            log
        });
        Rogue {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> RogueLog {
        self.halt().expect("the rogue thread panicked")
    }

    fn halt(&mut self) -> Option<RogueLog> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Replicas 1, 2 and 4 answering at the sequencer's last seq, on one digest (replica 3's
/// manager is the rogue, which answers no status). Answering: up, or "voted-out", which is
/// what a replica with one standing vote against it shows (`ReplicaState::VotedOut`: at least
/// one manager voted), and the rogue's votes against 2 and 4 stand for as long as it runs.
fn whole_but_3(s: &tessera_node::status::ClusterStatus) -> bool {
    use tessera_protocol::wire::ReplicaState;
    let honest = [0usize, 1, 3].map(|i| &s.replicas[i]);
    let first = honest[0].digest.clone();
    s.next_seq.is_some_and(|next| {
        first.is_some()
            && honest.iter().all(|r| {
                matches!(r.state, ReplicaState::Up | ReplicaState::VotedOut)
                    && r.last_seq == Some(next - 1)
                    && r.digest == first
            })
    })
}

/// Issue 13: manager 3 itself is Byzantine, lying *as itself* with its own key (see
/// [`Rogue`]), while replica 1 crashes: clients get only right answers, replica 1 is replaced
/// and brought back by state transfer to the digest of 2 and 4, and the rogue's one voice
/// never evicts a healthy replica however often it repeats itself. Unicast mode, so that the
/// sequencer's data reaches the rogue on manager 3's address (in multicast mode it would have
/// to join the group; what it does with the data is the same).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byzantine_manager_and_a_crashed_replica_elsewhere_leave_answers_right_and_repaired() {
    const INTERVAL: u64 = 25;
    let mut cluster = TestCluster::start(Options {
        multicast: false,
        recovery: harness::quick_recovery(INTERVAL),
        ..Options::default()
    });
    let fe = cluster.front_end();
    let mut answers = run_workload(&fe, workload(60, 101), 8).await;
    cluster.wait_converged(60, Duration::from_secs(20)).await;

    // Manager 3 goes for good: this cluster runs each role as its own process and restarts
    // nothing by itself; its replica child exits on the EOF of its stdin.
    let replica3 = cluster.replica_pid(3).await;
    cluster.kill9(Role::Rm(3));
    assert!(
        harness::eventually(Duration::from_secs(10), || !harness::alive(replica3)).await,
        "replica 3 outlived its manager"
    );
    let rogue = Rogue::start(cluster.cfg.clone(), INTERVAL);
    // Asked now: each status round waits out the rogue's silence.
    let replica1 = cluster.replica_pid(1).await;

    let load = tokio::spawn({
        let fe = fe.clone();
        async move { run_workload(&fe, workload(400, 102), 8).await }
    });
    assert!(
        harness::eventually(Duration::from_secs(30), || fe.stats().answered >= 160).await,
        "{:?}",
        fe.stats()
    );
    harness::signal_pid(replica1, "KILL");
    answers.extend(load.await.unwrap());
    cluster
        .wait_replacements(1, 1, Duration::from_secs(30))
        .await;
    // After the transfer, with the rogue still at it.
    answers.extend(run_workload(&fe, workload(150, 103), 8).await);
    check_against_single_replica(&answers);
    let status = match cluster
        .wait_status(Duration::from_secs(60), whole_but_3)
        .await
    {
        Ok(s) => s,
        Err(s) => panic!("replicas 1, 2 and 4 did not converge: {s:#?}"),
    };
    assert_eq!(status.next_seq, Some(answers.len() as u64 + 1));
    assert_ne!(
        status.replicas[0].pid,
        Some(replica1),
        "replica 1 restarted"
    );
    assert_eq!(
        status.replicas[0].replacements,
        Some(1),
        "replica 1 replaced once: {status:#?}"
    );
    for i in [1, 3] {
        assert_eq!(
            status.replicas[i].replacements,
            Some(0),
            "healthy replica {} replaced: {status:#?}",
            i + 1
        );
    }

    let log = rogue.stop();
    // The rogue did speak: it answered every request after its start wrongly (twice), and
    // repeated its votes, reports, checkpoints and offers many times, each datagram with a
    // fresh counter, so each one authentic.
    assert!(log.entries >= 500, "{log:?}");
    assert!(log.wrong_replies >= 2 * log.entries, "{log:?}");
    assert!(
        log.votes >= 20 && log.checkpoints >= 10 && log.acks >= 10,
        "{log:?}"
    );
    // And the honest managers saw through it.
    assert!(
        log.voted_against_me.contains(&2) && log.voted_against_me.contains(&4),
        "{log:?}"
    );
    eprintln!("rogue: {log:?}");
}

/// Resident memory of process `pid`, in KiB (`VmRSS` of `/proc/PID/status`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or_else(|| panic!("no VmRSS for {pid}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The forged fragments of [`forged_fragment_counts_are_dropped_counted_and_cost_no_memory`]
/// that each receiver must drop and count, by `n % 5`: counts far beyond and just beyond the
/// largest message, an index past the count, a count of zero, and a fragment too short to be
/// anything but a message's last.
fn counted_forgery(n: u64, max_message: usize) -> (u32, u32, Vec<u8>) {
    let beyond = u32::try_from(max_message / 1024 + 2).unwrap();
    match n % 5 {
        0 => (0, u32::MAX, vec![1; 1024]),
        1 => (0, beyond, vec![2; 1024]),
        2 => (7, 7, vec![3; 1024]),
        3 => (0, 0, vec![4; 1024]),
        _ => (0, 3, vec![5; 32]),
    }
}

/// Issue 13: "datagrams with forged fragment counts are dropped and counted", on the real
/// nodes. The forger holds a valid key (the spare front end's, which no process uses), so
/// every tag verifies and only reassembly stands between its headers and the receivers'
/// memory. Each of the sequencer, the four managers and the test's front end gets thousands
/// of fragments whose counts are impossible (dropped and counted, one by one); the daemons
/// also get 20,000 empty last fragments of messages claiming 2^32 - 1 fragments (no bytes
/// against the reassembly budget: the partial cap must hold them), then maximum-size messages
/// filled but for their last fragment, more than the budget, whose eviction then meets the
/// whole flood (before `MAX_PARTIALS` every daemon stalled there for tens of seconds). Their
/// memory stays bounded, and clients get right answers afterwards.
/// Sent in bursts, each ended by counted forgeries that the test waits to see counted: a
/// node has then read the whole burst (one socket, in order), so no socket buffer overflows
/// and every count is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_fragment_counts_are_dropped_counted_and_cost_no_memory() {
    use std::collections::BTreeMap;
    use tessera_protocol::ReplicaId;
    const COUNTED: u64 = 2500;
    const HUGE_LAST: u64 = 20_000;
    const FILLED: u64 = 5;
    const RSS_SLACK_KIB: u64 = 64 << 10;

    // Incomplete messages are kept for a minute instead of 5 s, so that none expires during
    // the test: what bounds them must be the reassembly's limits, not the test's pace.
    let cluster = TestCluster::start_with(Options::default(), |cfg| {
        cfg.timeouts.reassembly_ms = 60_000;
    });
    let fe = cluster.front_end();
    let first = run_workload(&fe, workload(30, 111), 4).await;
    cluster.wait_converged(30, Duration::from_secs(20)).await;

    let cfg = cluster.cfg.clone();
    let max_message = cfg.cluster.max_message_bytes;
    let spare = NodeId::FrontEnd(tessera_testkit::cluster::SPARE_FRONT_END);
    let forger = Link::new(tessera_node::node_link_config(&cfg, spare, None).unwrap()).unwrap();
    // A front end's kind: nothing looks at it before a message is whole.
    let kind = Message::Reask(vec![]).kind();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut daemons = vec![(
        "sequencer".to_string(),
        cfg.sequencer.address,
        Destination::Sequencer(1),
    )];
    for r in ReplicaId::ALL {
        daemons.push((
            format!("rm{}", r.get()),
            cfg.replica_manager[r.index()].address,
            Destination::ReplicaManager(r),
        ));
    }
    let pids: BTreeMap<String, u32> = cluster
        .pids()
        .into_iter()
        .filter(|(name, _)| daemons.iter().any(|(n, _, _)| n == name))
        .collect();
    assert_eq!(pids.len(), daemons.len(), "{pids:?}");
    let rss_before: BTreeMap<&String, u64> = pids.iter().map(|(n, p)| (n, rss_kib(*p))).collect();
    let want: std::cell::RefCell<BTreeMap<String, u64>> =
        std::cell::RefCell::new(cluster.wire_drops().await.into_iter().collect());
    let fe_dropped_before = fe.stats().wire_dropped;

    // Fresh message ids for every forged message, unlike any real one (those are hashes).
    let mut next_id = 0xf0f0_0000_0000_0000u64;
    let counted_sent = std::cell::Cell::new(0u64);
    // Sends `burst` fragments (index, count, chunk) of message `id` to every daemon, then `tail`
    // counted forgeries, and waits until every daemon counted them.
    let send_burst = async |burst: &[(u64, u32, u32, Vec<u8>)], tail: u64| {
        for (_, addr, to) in &daemons {
            for (id, index, count, chunk) in burst {
                let d = forger
                    .seal_fragment(kind, *to, *id, *index, *count, chunk)
                    .unwrap();
                sock.send_to(&d, addr).unwrap();
            }
            for n in counted_sent.get()..counted_sent.get() + tail {
                let (index, count, chunk) = counted_forgery(n, max_message);
                let d = forger
                    .seal_fragment(kind, *to, n, index, count, &chunk)
                    .unwrap();
                sock.send_to(&d, addr).unwrap();
            }
        }
        counted_sent.set(counted_sent.get() + tail);
        for n in want.borrow_mut().values_mut() {
            *n += tail;
        }
        let want = want.borrow().clone();
        let drained = cluster
            .wait_status(Duration::from_secs(30), |s| {
                s.sequencer_dropped >= Some(want["sequencer"])
                    && s.replicas
                        .iter()
                        .all(|r| r.dropped >= Some(want[&format!("rm{}", r.id)]))
            })
            .await;
        if let Err(s) = drained {
            panic!("forged fragments not all counted (want {want:?}): {s:#?}");
        }
    };

    // Impossible counts only, in bursts of 100 per daemon.
    while counted_sent.get() < COUNTED {
        send_burst(&[], 100).await;
    }
    // Last fragments of messages claiming u32::MAX fragments, each a message of its own:
    // empty, so they hold no bytes against the budget, yet each is an incomplete message.
    let mut sent = 0;
    while sent < HUGE_LAST {
        let burst: Vec<_> = (0..400)
            .map(|_| {
                next_id += 1;
                (next_id, u32::MAX - 1, u32::MAX, Vec::new())
            })
            .collect();
        sent += burst.len() as u64;
        send_burst(&burst, 4).await;
    }
    // Maximum-size messages, every fragment but the last: more than the reassembly budget
    // (four maximum messages) in all, so the last one makes room by evicting the least
    // recently touched incomplete messages, the flood's first.
    let chunk = 4000usize;
    let count = u32::try_from(max_message / chunk + 1).unwrap();
    for _ in 0..FILLED {
        next_id += 1;
        let fragments: Vec<_> = (0..count - 1)
            .map(|i| (next_id, i, count, vec![i as u8; chunk]))
            .collect();
        for burst in fragments.chunks(24) {
            send_burst(burst, 2).await;
        }
    }
    let rss_peak: BTreeMap<&String, u64> = pids.iter().map(|(n, p)| (n, rss_kib(*p))).collect();

    // The test's front end: impossible counts, until it counted them all.
    let fe_addr = fe.local_addr();
    let mut fe_sent = 0u64;
    while fe_sent < COUNTED {
        for n in fe_sent..fe_sent + 100 {
            let (index, count, chunk) = counted_forgery(n, max_message);
            let d = forger
                .seal_fragment(kind, Destination::Addr(fe_addr), n, index, count, &chunk)
                .unwrap();
            sock.send_to(&d, fe_addr).unwrap();
        }
        fe_sent += 100;
        let want = fe_dropped_before + fe_sent;
        assert!(
            harness::eventually(Duration::from_secs(30), || fe.stats().wire_dropped >= want).await,
            "the front end counted {} of {want} forged fragments",
            fe.stats().wire_dropped
        );
    }

    let second = run_workload(&fe, workload(50, 112), 4).await;
    let mut answers = first;
    answers.extend(second);
    check_against_single_replica(&answers);
    cluster
        .wait_converged(answers.len() as u64, Duration::from_secs(30))
        .await;
    for (name, pid) in &pids {
        let (before, peak, after) = (rss_before[name], rss_peak[name], rss_kib(*pid));
        eprintln!("{name}: VmRSS {before} KiB before, {peak} KiB after the forgeries, {after} KiB at the end");
        assert!(
            peak.max(after) <= before + RSS_SLACK_KIB,
            "{name} grew from {before} KiB to {peak} KiB / {after} KiB"
        );
    }
    eprintln!(
        "counted forgeries per node: {} (front end {fe_sent})",
        counted_sent.get()
    );
}
