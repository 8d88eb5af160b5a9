//! Issue 10: a seeded chaos soak on real processes. A `tesserad up --chaos` cluster with the
//! default timeouts serves eight clients that contend for a few small slots without pause,
//! while every round (10 s) hits it with faults inside the failure model: one crash-type fault
//! (`kill -9` of a replica, `kill -9` of its replica manager, or `SIGSTOP` of a replica for
//! 5 s), and in half of the rounds a lying replica (Byzantine replies, or a corrupted state
//! behind right replies) elsewhere. Rounds follow each other, so every fault also meets the
//! after-effects of earlier manager restarts.
//!
//! It checks that every call is answered; that the answers are linearizable
//! (`tessera_tests::history`: writes at distinct seqs in real-time order, each reply what a
//! plain model of `docs/domain.md` gives applying them in seq order, and every read, fast or
//! ordered, what the model reads at a state it may legally see); that every lying or hung replica
//! is replaced within the bounds of `docs/recovery.md`; and that the four replicas end on one
//! digest.
//!
//! ```text
//! cargo test --test chaos_soak -- --nocapture                       # CI: 150 s, seed 1
//! TESSERA_SOAK_SEED=42 TESSERA_SOAK_SECS=600 cargo test --test chaos_soak -- --nocapture
//! tests/soak                                                        # 30 minutes, release build
//! ```
//! The seed decides the fault schedule (which faults, on which replicas, in which order and
//! with which delays) and the request stream; a failing seed replays the same schedule.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;
#[path = "cluster/workload.rs"]
mod workload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{alive, Options, Role, TestCluster};
use tessera_node::FrontEndClient;
use tessera_protocol::wire::ChaosAction;
use tessera_testkit::Rng;
use tessera_tests::history;
use tessera_types::{Reply, Request};
use tokio::sync::RwLock;
use workload::Requests;

/// Contending clients, each calling without pause.
const CLIENTS: usize = 8;
/// A fault round.
const ROUND: Duration = Duration::from_secs(10);
/// How long a `SIGSTOP`ped replica stays stopped before `SIGCONT` (if it still exists).
const HANG_FOR: Duration = Duration::from_secs(5);
/// The bounds of `docs/recovery.md` "Bounded repair", for the default configuration.
const WRONG_BOUND: Duration = Duration::from_secs(2);
const HANG_THRESHOLD: Duration = Duration::from_millis(1500);
const CHECKPOINT_INTERVAL: u64 = 10_000;
/// `[exactly_once] max_entries` of the soak's cluster.
const REMEMBERED: u64 = 2_000;
/// Calls issued by all clients, numbering the message ids.
static ISSUED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The watchers' status query timeout and pause between queries: a generation change shows in
/// the timeline at most their sum after it happened.
const WATCH_QUERY: Duration = Duration::from_millis(200);
const WATCH_PAUSE: Duration = Duration::from_millis(20);
/// A round may start only once the cluster is whole again; not within this, the soak fails.
const CONVERGE_WITHIN: Duration = Duration::from_secs(60);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

/// One client call, as the client saw it.
struct Call {
    request: Request,
    start: Instant,
    end: Instant,
    outcome: Result<(u64, Reply), String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    ReplicaKill,
    ManagerKill,
    Hang,
    /// `kill -9` of the primary sequencer node (of three): a standby takes over.
    PrimaryKill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lie {
    Byzantine,
    CorruptState,
}

/// A seeded stream of choices.
struct Dice(Rng);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }
    fn replica(&mut self) -> u8 {
        1 + self.below(4) as u8
    }
}

/// A fault whose repair is timed: which replica, what was done, when, and by when its
/// replacement must be seen.
struct Expect {
    replica: u8,
    what: String,
    at: Instant,
    generation_before: u32,
    bound: Bound,
}

enum Bound {
    /// Replaced within this of the fault.
    After(Duration),
    /// Replaced within this of the moment the sequencer passed `seq` (a checkpoint).
    AfterSeq(u64, Duration),
}

impl Bound {
    /// What the repair's clock starts at, for a violation's text.
    fn clock_start(&self) -> String {
        match self {
            Bound::AfterSeq(seq, _) => format!("the checkpoint at seq {seq}"),
            Bound::After(_) => "the fault".into(),
        }
    }
}

#[derive(Default)]
struct Tally {
    rounds: u32,
    replica_kills: u32,
    manager_kills: u32,
    primary_kills: u32,
    hangs: u32,
    byzantine: u32,
    corrupt: u32,
    /// (what, time from the fault to the replacement, time within its bound) for every
    /// timed repair.
    repairs: Vec<(String, Duration, Duration)>,
    violations: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak() {
    let seed = env_u64("TESSERA_SOAK_SEED", 1);
    let secs = env_u64("TESSERA_SOAK_SECS", 150);
    println!("chaos soak: seed {seed}, {secs} s (replay: TESSERA_SOAK_SEED={seed} TESSERA_SOAK_SECS={secs} cargo test --test chaos_soak -- --nocapture)");
    let opts = Options {
        supervised: true,
        chaos: true,
        request_timeout_ms: 5_000,
        seed,
        ..Options::default()
    };
    // Every fifth call carries a message id (docs/domain.md, "Repeated calls"): remembered
    // calls are state that crashes, lies, corrupted states and transfers must keep right too,
    // and a small memory keeps them being forgotten by count all along.
    // Three sequencer nodes: the primary is among the victims (a standby takes over, and the
    // supervisor restarts the killed one, which comes back as a standby).
    let cluster = TestCluster::start_with(opts, |cfg| {
        cfg.exactly_once.max_entries = REMEMBERED;
        tessera_testkit::cluster::add_sequencer_nodes(cfg, 3);
        // As deployed by default: one front end, which takes its reads' index from what it
        // knows committed.
        harness::only_one_front_end(cfg);
    });
    assert_eq!(
        cluster.cfg.recovery.hang_threshold_ms,
        HANG_THRESHOLD.as_millis() as u64
    );
    assert_eq!(
        cluster.cfg.recovery.checkpoint_interval,
        CHECKPOINT_INTERVAL
    );
    let fe = cluster.only_front_end_with_fast_reads();
    let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
    // Clients hold it shared for each call; a round start takes it to quiesce the cluster.
    let gate = Arc::new(RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let watchers = watch(&cluster, timeline.clone(), stop.clone());
    let requests = Arc::new(Mutex::new(Requests::new(seed ^ 0x5eed)));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (fe, calls, gate, stop, requests) = (
                fe.clone(),
                calls.clone(),
                gate.clone(),
                stop.clone(),
                requests.clone(),
            );
            tokio::spawn(async move { client(fe, calls, gate, stop, requests).await })
        })
        .collect();

    // Its own stream, apart from the clients' requests.
    let mut dice = Dice(Rng::new(seed).fork());
    let mut expects = Vec::new();
    let mut tally = Tally::default();
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    while Instant::now() + ROUND <= end {
        let round_start = Instant::now();
        tally.rounds += 1;
        let r = tally.rounds;
        // The cluster is whole: four replicas up on one digest (clients paused meanwhile).
        {
            let _quiet = gate.write().await;
            if let Err(why) = converged(&cluster, CONVERGE_WITHIN).await {
                tally
                    .violations
                    .push(format!("round {r}: not whole again: {why}"));
                break;
            }
        }
        let crash = match dice.below(4) {
            0 => Crash::ReplicaKill,
            1 => Crash::ManagerKill,
            2 => Crash::Hang,
            _ => Crash::PrimaryKill,
        };
        let victim = dice.replica();
        // No lie with a failover: the ordering pause (about `liveness`) would hold up the
        // wrong answers that get a liar replaced, and its bound does not allow for it.
        let lie = (dice.below(2) == 0 && crash != Crash::PrimaryKill).then(|| {
            let liar = 1 + (victim + dice.below(3) as u8) % 4;
            let lie = if dice.below(4) == 0 {
                Lie::CorruptState
            } else {
                Lie::Byzantine
            };
            (liar, lie)
        });
        let crash_first = dice.below(2) == 0;
        let gap = Duration::from_millis(dice.below(1500));
        let t = started.elapsed().as_secs_f64();
        println!(
            "[{t:7.1} s] round {r}: {crash:?} on {victim}, {lie:?}, {} first, then {gap:?}",
            if crash_first { "crash" } else { "lie" }
        );

        let mut hung = None;
        for step in 0..2 {
            if step == 1 {
                tokio::time::sleep(gap).await;
            }
            if (step == 0) == crash_first {
                let (expect, stopped) = inject_crash(&cluster, crash, victim, &mut tally).await;
                expects.extend(expect);
                hung = stopped.map(|pid| (pid, Instant::now()));
            } else if let Some((liar, lie)) = lie {
                expects.push(inject_lie(&cluster, liar, lie, &mut tally).await);
            }
        }
        if let Some((pid, at)) = hung {
            tokio::time::sleep_until((at + HANG_FOR).into()).await;
            // Replaced meanwhile, as it should have been; the old process is gone then.
            if alive(pid) {
                let _ = std::process::Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status();
            }
        }
        tokio::time::sleep_until((round_start + ROUND).into()).await;
    }

    // Wind down: stop the clients, then everything must agree.
    stop.store(true, Ordering::Relaxed);
    // The watchers stop with the clients: the timeline shows no repair after this.
    let watched_until = Instant::now();
    for c in clients {
        c.await.expect("client task");
    }
    if let Err(why) = converged(&cluster, CONVERGE_WITHIN).await {
        tally.violations.push(format!("at the end: {why}"));
    }
    for w in watchers {
        w.await.expect("watcher task");
    }
    let calls = std::mem::take(&mut *calls.lock().unwrap());
    // Each view's primary ordered a no-op first: at most that many seqs answer no call.
    let views = cluster
        .status()
        .await
        .sequencers
        .iter()
        .filter_map(|n| n.view)
        .max()
        .unwrap_or(0);
    check_history(&calls, views, &mut tally.violations);
    check_repairs(
        &expects,
        &timeline.lock().unwrap(),
        &calls,
        watched_until,
        &mut tally,
    );
    report(&tally, &calls, seed, started.elapsed());
    assert!(
        tally.violations.is_empty(),
        "chaos soak seed {seed}: {} violation(s):\n  - {}\n(replay: TESSERA_SOAK_SEED={seed} TESSERA_SOAK_SECS={secs} cargo test --test chaos_soak -- --nocapture)",
        tally.violations.len(),
        tally.violations.join("\n  - ")
    );
}

async fn client(
    fe: FrontEndClient,
    calls: Arc<Mutex<Vec<Call>>>,
    gate: Arc<RwLock<()>>,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Requests>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let _open = gate.read().await;
        let request = requests.lock().unwrap().next().expect("endless");
        let n = ISSUED.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        // Each id is used once here: no repeats, so every write is answered at a seq of its
        // own and the history check stays as it is.
        let call = tessera_types::Call {
            request,
            message_id: n.is_multiple_of(5).then(|| {
                tessera_types::MessageId::parse(&format!("urn:soak:{n}")).expect("printable")
            }),
        };
        let outcome = fe
            .submit_call(&call, String::new())
            .await
            .map(|a| (a.seq, a.reply))
            .map_err(|e| e.to_string());
        let request = call.request;
        let end = Instant::now();
        calls.lock().unwrap().push(Call {
            request,
            start,
            end,
            outcome,
        });
    }
}

async fn inject_crash(
    cluster: &TestCluster,
    crash: Crash,
    victim: u8,
    tally: &mut Tally,
) -> (Option<Expect>, Option<u32>) {
    if crash == Crash::PrimaryKill {
        tally.primary_kills += 1;
        let s = cluster
            .wait_status(Duration::from_secs(10), |s| {
                s.sequencers.iter().any(|n| n.state == "primary")
            })
            .await
            .unwrap_or_else(|s| s);
        if let Some(primary) = s.sequencers.iter().find(|n| n.state == "primary") {
            let pid = cluster
                .supervised_pid(Role::sequencer(primary.id))
                .expect("the sequencer node runs under the supervisor");
            harness::signal_pid(pid, "KILL");
        }
        return (None, None);
    }
    let before = generation(cluster, victim).await;
    let pid = cluster.replica_pid(victim).await;
    let at = Instant::now();
    match crash {
        Crash::ReplicaKill => {
            tally.replica_kills += 1;
            harness::signal_pid(pid, "KILL");
            // Its manager sees the process gone and replaces it without a vote.
            let expect = Expect {
                replica: victim,
                what: format!("replica {victim} killed"),
                at,
                generation_before: before,
                bound: Bound::After(WRONG_BOUND),
            };
            (Some(expect), None)
        }
        Crash::ManagerKill => {
            tally.manager_kills += 1;
            let rm = cluster
                .supervised_pid(Role::Rm(victim))
                .expect("the replica manager runs under the supervisor");
            harness::signal_pid(rm, "KILL");
            (None, None)
        }
        Crash::PrimaryKill => (None, None),
        Crash::Hang => {
            tally.hangs += 1;
            harness::signal_pid(pid, "STOP");
            let expect = Expect {
                replica: victim,
                what: format!("replica {victim} hung"),
                at,
                generation_before: before,
                bound: Bound::After(HANG_THRESHOLD + WRONG_BOUND),
            };
            (Some(expect), Some(pid))
        }
    }
}

async fn inject_lie(cluster: &TestCluster, liar: u8, lie: Lie, tally: &mut Tally) -> Expect {
    let before = generation(cluster, liar).await;
    let seq = cluster.status().await.next_seq.unwrap_or(1);
    let at = Instant::now();
    let (action, bound, what) = match lie {
        Lie::Byzantine => {
            tally.byzantine += 1;
            (
                ChaosAction::Byzantine,
                Bound::After(WRONG_BOUND),
                format!("replica {liar} Byzantine"),
            )
        }
        Lie::CorruptState => {
            tally.corrupt += 1;
            // Its state goes wrong with its next request; the first checkpoint after that
            // is the first that can give it away.
            let checkpoint = (seq / CHECKPOINT_INTERVAL + 1) * CHECKPOINT_INTERVAL;
            (
                ChaosAction::CorruptState,
                Bound::AfterSeq(checkpoint, WRONG_BOUND),
                format!("replica {liar} corrupt-state"),
            )
        }
    };
    cluster.chaos(liar, action).await;
    Expect {
        replica: liar,
        what,
        at,
        generation_before: before,
        bound,
    }
}

/// Every replica's generation over time, as its manager reported it: polled by one task
/// per replica manager, each answer stamped when it arrived.
#[derive(Default)]
struct Timeline {
    /// Per replica: (when seen, generation), one entry per change.
    seen: [Vec<(Instant, u32)>; 4],
}

impl Timeline {
    fn record(&mut self, id: u8, at: Instant, generation: u32) {
        let v = &mut self.seen[usize::from(id) - 1];
        if v.last().is_none_or(|(_, g)| *g != generation) {
            v.push((at, generation));
        }
    }

    /// When replica `id` was first seen beyond generation `before`, at or after `since`.
    fn replaced(&self, id: u8, before: u32, since: Instant) -> Option<Instant> {
        let seen = &self.seen[usize::from(id) - 1];
        // The generation in force at `since` counts too: it may have been recorded earlier.
        let from = seen
            .partition_point(|(at, _)| *at < since)
            .saturating_sub(1);
        seen[from..]
            .iter()
            .find(|(_, g)| *g > before)
            .map(|(at, _)| (*at).max(since))
    }
}

fn watch(
    cluster: &TestCluster,
    timeline: Arc<Mutex<Timeline>>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (1..=4u8)
        .map(|id| {
            let (cfg, timeline, stop) = (cluster.cfg.clone(), timeline.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(Some(s)) = tessera_node::status::query_rm(&cfg, id, WATCH_QUERY).await
                    {
                        timeline
                            .lock()
                            .unwrap()
                            .record(id, Instant::now(), s.generation);
                    }
                    tokio::time::sleep(WATCH_PAUSE).await;
                }
            })
        })
        .collect()
}

/// Checks every timed repair against its bound, from the timeline and the history (a
/// checkpoint "passed" when the first call with that seq or a later one was answered). A
/// repair whose clock had not run out when the watchers stopped (`watched_until`) is not
/// judged here: the final convergence (four replicas on one digest) requires it done.
fn check_repairs(
    expects: &[Expect],
    timeline: &Timeline,
    calls: &[Call],
    watched_until: Instant,
    tally: &mut Tally,
) {
    for e in expects {
        let (start, bound) = match e.bound {
            Bound::After(b) => (Some(e.at), b),
            Bound::AfterSeq(seq, b) => (
                calls
                    .iter()
                    .filter(|c| c.outcome.as_ref().is_ok_and(|(s, _)| *s >= seq))
                    .map(|c| c.end)
                    .min(),
                b,
            ),
        };
        let Some(start) = start else {
            // The run ended before the checkpoint that would reveal it.
            continue;
        };
        let Some(replaced) = timeline.replaced(e.replica, e.generation_before, e.at) else {
            if start + bound + WATCH_QUERY + WATCH_PAUSE <= watched_until {
                tally.violations.push(format!(
                    "{} (at {:?}) was not replaced within {bound:?} of {}",
                    e.what,
                    e.at,
                    e.bound.clock_start()
                ));
            }
            continue;
        };
        let took = replaced.saturating_duration_since(e.at);
        let late = replaced.saturating_duration_since(start);
        if late > bound {
            tally.violations.push(format!(
                "{} was replaced {late:?} after {}, bound {bound:?}",
                e.what,
                e.bound.clock_start()
            ));
        }
        tally.repairs.push((e.what.clone(), took, late));
    }
}

async fn generation(cluster: &TestCluster, id: u8) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let s = tessera_node::status::query_rm(&cluster.cfg, id, Duration::from_millis(500))
            .await
            .expect("status query");
        if let Some(s) = s {
            return s.generation;
        }
    }
    panic!("replica manager {id} does not answer");
}

/// Four replicas up, at the sequencer's last seq, on one digest.
async fn converged(cluster: &TestCluster, within: Duration) -> Result<(), String> {
    cluster
        .wait_status(within, harness::whole)
        .await
        .map(drop)
        .map_err(|s| format!("{s:#?}"))
}

/// Every call answered, and the history what the model allows (`tessera_tests::history`:
/// writes at distinct seqs in real-time order, replaying to the same replies with the new
/// primaries' no-ops, at most `noops`, where no write was answered; every read, fast or
/// ordered, the model's answer at a state it may legally see).
fn check_history(calls: &[Call], noops: u64, v: &mut Vec<String>) {
    let failed: Vec<_> = calls.iter().filter(|c| c.outcome.is_err()).collect();
    if !failed.is_empty() {
        v.push(format!(
            "{} of {} calls not answered, e.g. {:?}",
            failed.len(),
            calls.len(),
            failed
                .iter()
                .take(3)
                .map(|c| (&c.request, &c.outcome))
                .collect::<Vec<_>>()
        ));
        return;
    }
    let answered: Vec<history::Answered<'_>> = calls
        .iter()
        .filter_map(|c| {
            let (seq, reply) = c.outcome.as_ref().ok()?;
            Some(history::Answered {
                request: &c.request,
                seq: *seq,
                reply,
                start: c.start,
                end: c.end,
            })
        })
        .collect();
    if let Err(found) = history::check(&answered, noops) {
        v.extend(found);
    }
}

fn report(t: &Tally, calls: &[Call], seed: u64, ran: Duration) {
    let longest = |prefix: &str| {
        t.repairs
            .iter()
            .filter(|(w, _, _)| w.ends_with(prefix))
            .map(|(_, d, _)| *d)
            .max()
    };
    println!(
        "chaos soak seed {seed}: {:.0} s, {} rounds, {} calls ({:.0}/s); faults: {} replica kill -9, {} manager kill -9, {} primary sequencer kill -9, {} hang, {} Byzantine, {} corrupt-state; {} timed repairs, longest: killed {:?}, hung {:?}, Byzantine {:?}, corrupt-state {:?}; {} violation(s)",
        ran.as_secs_f64(),
        t.rounds,
        calls.len(),
        calls.len() as f64 / ran.as_secs_f64(),
        t.replica_kills,
        t.manager_kills,
        t.primary_kills,
        t.hangs,
        t.byzantine,
        t.corrupt,
        t.repairs.len(),
        longest("killed"),
        longest("hung"),
        longest("Byzantine"),
        longest("corrupt-state"),
        t.violations.len()
    );
}
