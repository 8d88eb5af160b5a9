//! Issue 16, fast reads, on real `tesserad` processes: a read-heavy, contending workload from
//! many concurrent callers while datagrams are lost on every link, one replica lies (its reads
//! too) and another is `kill -9`'d, and, in the second test, while the primary sequencer is
//! `kill -9`'d. Every call's invocation and response instants are recorded, and the history
//! checker (`tessera_tests::history`, against the test model) proves every read linearizable:
//! its answer is the state after some prefix of the writes (in the order the sequencer chose)
//! that includes every write answered before the read began and none begun after it was
//! answered. Reads answered on the fast path and reads
//! that fell back to ordering are checked alike; the test also requires that most reads took
//! the fast path, so it cannot pass by never using it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;
#[path = "cluster/workload.rs"]
mod workload;

use std::time::Duration;

use harness::{signal_pid, Options, Role, TestCluster};
use tessera_node::FrontEndClient;
use tessera_protocol::wire::ChaosAction;
use tessera_tests::history;
use tessera_types::Request;
use workload::{run_workload_timed, Requests, Timed};

/// Half reads, half the contention-heavy mix (itself a fifth reads), over the same small
/// space of participants, admins and events, so that reads see writes land.
fn read_heavy(n: usize, seed: u64) -> Vec<Request> {
    let mut mix = Requests::new(seed);
    (0..n)
        .map(|i| {
            let r = mix.next().unwrap();
            if i % 2 == 0 {
                return r;
            }
            match r {
                Request::AddReservationSlot {
                    admin_id,
                    event_type,
                    ..
                }
                | Request::RemoveReservationSlot {
                    admin_id,
                    event_type,
                    ..
                } => Request::ListReservationSlotAvailable {
                    admin_id,
                    event_type,
                },
                Request::ReserveTicket { participant_id, .. }
                | Request::CancelTicket { participant_id, .. }
                | Request::ExchangeTicket { participant_id, .. } => {
                    Request::GetEventSchedule { participant_id }
                }
                read => read,
            }
        })
        .collect()
}

/// Checks the history (`tessera_tests::history`); `noops`: views that may have ordered one.
/// Returns how many reads were checked.
fn check_history(calls: &[Timed], noops: u64) -> usize {
    let answered: Vec<history::Answered<'_>> = calls
        .iter()
        .map(|t| history::Answered {
            request: &t.answered.request,
            seq: t.answered.seq,
            reply: &t.answered.reply,
            start: t.done - t.took,
            end: t.done,
        })
        .collect();
    match history::check(&answered, noops) {
        Ok(reads) => reads,
        Err(violations) => panic!(
            "{} violation(s):\n  {}",
            violations.len(),
            violations.join("\n  ")
        ),
    }
}

/// Keeps replica `id` Byzantine for as long as the returned task runs: it is replaced after
/// three wrong ordered replies, and the fresh one is turned Byzantine again.
fn keep_lying(cluster: &TestCluster, id: u8) -> tokio::task::JoinHandle<()> {
    let cfg = cluster.cfg.clone();
    tokio::spawn(async move {
        for _ in 0..600 {
            // Refused while the replica is being replaced; the next round catches it.
            let _ =
                tessera_node::chaos::send(&cfg, id, ChaosAction::Byzantine, Duration::from_secs(1))
                    .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

fn report(fe: &FrontEndClient, what: &str, reads: usize) {
    let s = fe.stats();
    println!(
        "{what}: {reads} reads checked; fast path: {} started, {} answered on it, {} fell back to ordering, {} on the front end's own index, {} asked for an index again",
        s.fast_reads, s.fast_answered, s.fast_fallbacks, s.fast_own_index, s.fast_index_asked_again
    );
    assert!(
        s.fast_answered * 2 > s.fast_reads,
        "most reads should be answered on the fast path: {s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_reads_stay_linearizable_with_a_lying_and_a_crashed_replica_and_lost_datagrams() {
    // The cluster's only front end: after the primary's first index, its reads take the
    // index from what it knows committed.
    let cluster = TestCluster::start_with(
        Options {
            chaos: true,
            drop: 0.02,
            seed: 16,
            ..Options::default()
        },
        harness::only_one_front_end,
    );
    let fe = cluster.only_front_end_with_fast_reads();
    let mut events = run_workload_timed(fe.clone(), read_heavy(200, 160), 8).await;
    let liar = keep_lying(&cluster, 1);
    let work = tokio::spawn(run_workload_timed(fe.clone(), read_heavy(2400, 161), 16));
    // Replica 4 crashes twice while the work runs (its manager replaces it each time).
    for _ in 0..2 {
        let before = fe.stats().answered;
        assert!(
            harness::eventually(Duration::from_secs(60), || fe.stats().answered
                > before + 600)
            .await,
            "the workload stalled"
        );
        signal_pid(cluster.replica_pid(4).await, "KILL");
    }
    events.extend(work.await.unwrap());
    liar.abort();
    let reads = check_history(&events, 1);
    report(&fe, "lying replica 1, crashed replica 4, 2% loss", reads);
    assert!(
        fe.stats().fast_own_index * 2 > fe.stats().fast_reads,
        "most reads should take the only front end's own index: {:?}",
        fe.stats()
    );
    let s = cluster.status().await;
    assert!(
        s.replicas[0].replacements.unwrap_or(0) >= 1
            && s.replicas[3].replacements.unwrap_or(0) >= 1,
        "the faults were in effect: {s:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_reads_stay_linearizable_across_a_sequencer_failover() {
    // Several front ends listed: every read asks the primary for its index.
    across_a_sequencer_failover(false, 17).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_reads_of_the_only_front_end_stay_linearizable_across_a_sequencer_failover() {
    across_a_sequencer_failover(true, 18).await;
}

async fn across_a_sequencer_failover(only_front_end: bool, seed: u64) {
    let mut cluster = TestCluster::start_with(
        Options {
            drop: 0.01,
            seed,
            ..Options::default()
        },
        |cfg| {
            cfg.timeouts.liveness_ms = 1_000;
            tessera_testkit::cluster::add_sequencer_nodes(cfg, 3);
            if only_front_end {
                harness::only_one_front_end(cfg);
            }
        },
    );
    let primary = match cluster
        .wait_status(Duration::from_secs(20), |s| {
            s.sequencers.iter().filter(|n| n.state == "primary").count() == 1
        })
        .await
    {
        Ok(s) => {
            s.sequencers
                .iter()
                .find(|n| n.state == "primary")
                .unwrap()
                .id
        }
        Err(s) => panic!("no primary: {s:#?}"),
    };
    let fe = if only_front_end {
        cluster.only_front_end_with_fast_reads()
    } else {
        cluster.front_end_with_fast_reads()
    };
    let work = tokio::spawn(run_workload_timed(
        fe.clone(),
        read_heavy(2000, 170 + seed),
        16,
    ));
    assert!(
        harness::eventually(Duration::from_secs(60), || fe.stats().answered > 600).await,
        "the workload stalled"
    );
    cluster.kill9(Role::sequencer(primary));
    let events = work.await.unwrap();
    let reads = check_history(&events, 4);
    report(&fe, "primary sequencer killed, 1% loss", reads);
    let own = fe.stats().fast_own_index;
    assert_eq!(
        own > 0,
        only_front_end,
        "reads on the front end's own index: {own}"
    );
    // Reads that asked the killed primary for their index asked again, not only fell back.
    let again = fe.stats().fast_index_asked_again;
    assert!(
        only_front_end || again > 0,
        "no read index asked for again: {:?}",
        fe.stats()
    );
    let s = cluster.status().await;
    assert!(
        s.sequencers
            .iter()
            .any(|n| n.id != primary && n.state == "primary"),
        "another node took over: {s:#?}"
    );
}
