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
use tessera_protocol::wire::{Link, Message, NodeId, RequestId, Submission};
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
            Destination::Sequencer,
        )
        .unwrap()
        .remove(0);
    // The sequencer's identity with a key that is not the sequencer's: what a node holding
    // only its own key can make.
    let impostor = tessera_node::keys::generate().unwrap();
    let mut wrong_key =
        tessera_node::link_config(cfg, NodeId::Sequencer, impostor.clone(), 1).unwrap();
    wrong_key
        .roster
        .insert(NodeId::Sequencer, impostor.public())
        .unwrap();
    let heartbeat = Message::Heartbeat {
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
        tessera_node::node_link_config(&other_cluster_cfg, NodeId::Sequencer, None).unwrap(),
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
    let fake_sequencer = as_(NodeId::Sequencer);
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
        .encode(&submit(old_incarnation, 1), Destination::Sequencer)
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
        .encode(&submit(spare_incarnation(), 1), Destination::Sequencer)
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
