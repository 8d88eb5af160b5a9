//! Issue 16, flow control, on real `tesserad` processes: a replica that cannot keep up (made
//! slow by `tesserad chaos slow`) must leave the cluster running at the pace of the other
//! three, every call answered right, the sequencer's retention within `retain_max`, and its
//! manager's and its own memory bounded; it either keeps up by state transfer, or, slower than
//! the hang threshold, is replaced as hung.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;
#[path = "cluster/workload.rs"]
mod workload;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{quick_recovery, Options, Role, TestCluster};
use tessera_node::status;
use tessera_node::FrontEndClient;
use tessera_protocol::wire::ChaosAction;
use workload::{check_against_single_replica, Answered, Requests};

/// A small retention window, so that a slow replica falls out of it within seconds.
const RETAIN_MAX: usize = 3000;
const RETAIN_MIN: usize = 1000;
/// `retain_min` must exceed it.
const CHECKPOINT_INTERVAL: u64 = 250;
/// The slow replica: manager 3 (the event-log replica).
const SLOW: u8 = 3;
/// Resident memory allowed to the slow replica's manager and to its replica process. Either
/// uses a few tens of MB in this test; a manager holding back everything the replica has not
/// executed grew by about 1 KB per entry, so an unbounded backlog shows within the run.
const RSS_BOUND_KB: u64 = 256 * 1024;
/// Clients calling without pause.
const CLIENTS: usize = 16;

fn opts() -> Options {
    Options {
        chaos: true,
        recovery: quick_recovery(CHECKPOINT_INTERVAL),
        sequencer_retain: Some((RETAIN_MAX, RETAIN_MIN)),
        ..Options::default()
    }
}

/// `CLIENTS` clients calling from `requests` without pause until `until`; every call must be
/// answered. Returns the answers and the calls per second.
async fn load_until(
    fe: &FrontEndClient,
    requests: &Arc<Mutex<Requests>>,
    until: Instant,
) -> (Vec<Answered>, f64) {
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let fe = fe.clone();
        let requests = Arc::clone(requests);
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            while Instant::now() < until {
                let request = requests.lock().unwrap().next().expect("endless");
                match fe.submit(&request).await {
                    Ok(a) => done.push(Answered {
                        seq: a.seq,
                        request,
                        reply: a.reply,
                    }),
                    Err(e) => panic!("request {request:?} failed: {e}"),
                }
            }
            done
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let rate = all.len() as f64 / began.elapsed().as_secs_f64();
    (all, rate)
}

/// `VmRSS` of `pid` in KB, `None` if it is gone.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The most seen while sampling the cluster under load.
#[derive(Debug, Default)]
struct Peaks {
    retained: u64,
    manager_rss_kb: u64,
    replica_rss_kb: u64,
    /// How far the slow replica's last answered seq was behind the sequencer.
    lag: u64,
    samples: u32,
}

/// Samples the sequencer's retention, the slow replica's lag and its processes' memory every
/// 100 ms until `until`.
async fn watch(cluster: &TestCluster, until: Instant) -> Peaks {
    let manager = cluster.pid(Role::Rm(SLOW)).expect("the slow manager runs");
    let mut peaks = Peaks::default();
    while Instant::now() < until {
        let (sequencer, rms) = status::query_nodes(&cluster.cfg, Duration::from_millis(300))
            .await
            .expect("status query");
        if let Some(s) = sequencer {
            peaks.retained = peaks.retained.max(s.retained);
            if let Some(Some(rm)) = rms.get(usize::from(SLOW) - 1) {
                peaks.lag = peaks
                    .lag
                    .max(s.next_seq.saturating_sub(1).saturating_sub(rm.last_seq));
                if let Some(kb) = rss_kb(rm.pid) {
                    peaks.replica_rss_kb = peaks.replica_rss_kb.max(kb);
                }
            }
        }
        if let Some(kb) = rss_kb(manager) {
            peaks.manager_rss_kb = peaks.manager_rss_kb.max(kb);
        }
        peaks.samples += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peaks
}

fn assert_bounded(peaks: &Peaks) {
    assert!(peaks.samples >= 10, "too few samples: {peaks:?}");
    assert!(
        peaks.retained <= RETAIN_MAX as u64,
        "the sequencer retained more than retain_max: {peaks:?}"
    );
    assert!(
        peaks.manager_rss_kb > 0 && peaks.manager_rss_kb <= RSS_BOUND_KB,
        "the slow replica's manager: {peaks:?}"
    );
    assert!(
        peaks.replica_rss_kb <= RSS_BOUND_KB,
        "the slow replica: {peaks:?}"
    );
}

async fn rm_status(cluster: &TestCluster, id: u8) -> tessera_protocol::wire::RmStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = status::query_rm(&cluster.cfg, id, Duration::from_millis(500))
            .await
            .expect("status query")
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "replica manager {id} does not answer"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_replica_keeps_up_by_state_transfer_without_slowing_the_cluster() {
    let cluster = TestCluster::start(opts());
    let fe = cluster.front_end();
    let requests = Arc::new(Mutex::new(Requests::new(161)));

    // Warm-up, then the pace of four replicas.
    let (mut answers, _) =
        load_until(&fe, &requests, Instant::now() + Duration::from_secs(1)).await;
    let (more, before) = load_until(&fe, &requests, Instant::now() + Duration::from_secs(4)).await;
    answers.extend(more);

    // 4 ms a request: a few hundred requests a second, far below what the others do, yet
    // every answer well inside the hang threshold.
    cluster.chaos(SLOW, ChaosAction::Slow { ms: 4 }).await;
    let until = Instant::now() + Duration::from_secs(12);
    let load = tokio::spawn({
        let fe = fe.clone();
        let requests = Arc::clone(&requests);
        async move { load_until(&fe, &requests, until).await }
    });
    let peaks = watch(&cluster, until).await;
    let (more, during) = load.await.expect("load");
    answers.extend(more);
    let slow = rm_status(&cluster, SLOW).await;
    eprintln!(
        "calls/s: {before:.0} with four replicas, {during:.0} with replica {SLOW} slowed; \
         {peaks:?}; replica {SLOW}: {} transfers, generation {}",
        slow.transfers, slow.generation
    );

    check_against_single_replica(&answers);
    assert_bounded(&peaks);
    // Generous: the machine is shared and noisy; what must not happen is a collapse to the
    // slow replica's pace (a few hundred a second) or a stall.
    assert!(
        during >= before * 0.3,
        "throughput collapsed with one slow replica: {before:.0} -> {during:.0} calls/s"
    );
    assert!(
        slow.transfers >= 1 || slow.generation >= 1,
        "the slow replica neither caught up by state transfer nor was replaced: {slow:?}"
    );
    // Its backlog stays within the sequencer's window plus what arrives while a transfer
    // runs (at worst its pipe of requests, 256 × 4 ms, and a few checkpoint rounds).
    let lag_bound = RETAIN_MAX as u64 + (during * 5.0) as u64;
    assert!(
        peaks.lag <= lag_bound,
        "the slow replica fell {} behind (bound {lag_bound}): {peaks:?}",
        peaks.lag
    );

    // At full speed again it converges with the others.
    cluster.chaos(SLOW, ChaosAction::Slow { ms: 0 }).await;
    let (more, _) = load_until(&fe, &requests, Instant::now() + Duration::from_secs(1)).await;
    answers.extend(more);
    check_against_single_replica(&answers);
    cluster
        .wait_converged(answers.len() as u64, Duration::from_secs(30))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_slower_than_the_hang_threshold_is_replaced_as_hung() {
    let cluster = TestCluster::start(opts());
    let fe = cluster.front_end();
    let requests = Arc::new(Mutex::new(Requests::new(162)));
    let (mut answers, before) =
        load_until(&fe, &requests, Instant::now() + Duration::from_secs(3)).await;
    let generation = rm_status(&cluster, SLOW).await.generation;

    // Each request takes longer than the hang threshold (700 ms here): hung, not slow.
    cluster.chaos(SLOW, ChaosAction::Slow { ms: 2000 }).await;
    let until = Instant::now() + Duration::from_secs(10);
    let load = tokio::spawn({
        let fe = fe.clone();
        let requests = Arc::clone(&requests);
        async move { load_until(&fe, &requests, until).await }
    });
    let peaks = watch(&cluster, until).await;
    let (more, during) = load.await.expect("load");
    answers.extend(more);
    eprintln!("calls/s: {before:.0} before, {during:.0} with replica {SLOW} slowed; {peaks:?}");

    check_against_single_replica(&answers);
    assert_bounded(&peaks);
    assert!(
        during >= before * 0.3,
        "throughput collapsed with one hung replica: {before:.0} -> {during:.0} calls/s"
    );
    // The replacement is a new process, at full speed: it converges with the others.
    cluster
        .wait_replacements(SLOW, generation + 1, Duration::from_secs(20))
        .await;
    let (more, _) = load_until(&fe, &requests, Instant::now() + Duration::from_secs(1)).await;
    answers.extend(more);
    check_against_single_replica(&answers);
    cluster
        .wait_converged(answers.len() as u64, Duration::from_secs(30))
        .await;
}
