//! A full disk, on real processes: `tesserad up` with its data directory on a small tmpfs that
//! the test fills to the last byte under a steady load of writes, then empties. While it is
//! full the sequencer is `kill -9`'d, so that its restarts meet the full disk too.
//!
//! While the disk is full every call still gets an answer or a fault within the deadline, and
//! no write is said not to have taken effect; once there is room again the cluster comes back
//! by itself (the supervisor restarts what stopped, the managers replace what failed) with
//! every replica on one state, every acknowledged write in it, and each write whose fault said
//! it may still take effect there at most once: its retry with the same `wsa:MessageID` gets
//! one answer, and the participant holds one ticket.
//!
//! A tmpfs needs `mount` (root, or CAP_SYS_ADMIN); where it is not allowed the test says so
//! and passes without running, as the network-namespace tests do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cluster/harness.rs"]
mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Options, Role, TestCluster};
use tessera_protocol::wire::ReplicaState;
use tessera_testkit::cluster::signal;
use tessera_testkit::soap_client::{
    element, envelope, envelope_with_message_id, CallError, SoapClient, SOAP_PATH,
};
use tessera_types::{Capacity, EventId, EventType, Request, UserId};

/// The tmpfs's size: room for the cluster's start and first writes (the sequencer's first
/// log segment is preallocated at 4 MiB, each durable replica a few MiB).
const DISK_MB: u64 = 48;
/// Concurrent callers, each on its own participants.
const CALLERS: u16 = 6;
/// Calls per caller at most: `MTLP` ids have four digits.
const PER_CALLER: u16 = 1_500;

/// A tmpfs mounted for the test, unmounted (lazily: a process may still hold a file) when
/// dropped, also when the test fails.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` where mounting is not allowed.
    fn mount(megabytes: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m")])
            .arg("tessera-disk-full")
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk { dir }),
            Ok(o) => {
                eprintln!(
                    "disk_full: SKIPPED, cannot mount a tmpfs here: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("disk_full: SKIPPED, cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Takes every byte left: 1 MiB writes, then 4 KiB ones, until the disk refuses.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.filler()).unwrap();
        let big = vec![0x5au8; 1 << 20];
        let small = vec![0x5au8; 4096];
        for chunk in [&big, &small] {
            for _ in 0..=(DISK_MB << 8) {
                if f.write_all(chunk).is_err() {
                    break;
                }
            }
        }
        let left = free_bytes(self.path());
        assert!(left < 64 * 1024, "the disk still has {left} bytes free");
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Free bytes on the filesystem holding `path`, from `df`.
fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

/// What became of one write.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Answered, with this result code.
    Answered(String),
    /// A fault that says it may still take effect, or no answer at all.
    InDoubt(String),
}

fn participant(caller: u16, k: u16) -> UserId {
    format!("MTLP{:04}", caller * PER_CALLER + k + 1)
        .parse()
        .unwrap()
}

fn message_id(p: &UserId) -> String {
    format!("urn:tessera:disk-full:{p}")
}

/// One reserve, with its message id, bounded by twice the gateway's deadline.
async fn reserve(client: &SoapClient, request: &Request, id: &str) -> Outcome {
    let body = envelope_with_message_id(request, id);
    match tokio::time::timeout(Duration::from_secs(25), client.post(&body)).await {
        Ok(Ok(body)) => Outcome::Answered(element(&body, "code").unwrap_or("?").to_owned()),
        Ok(Err(CallError::Fault { fault, .. })) => {
            assert!(
                !fault.contains("did not take effect"),
                "a write was said not to have taken effect: {fault}"
            );
            Outcome::InDoubt(fault)
        }
        Ok(Err(e)) => Outcome::InDoubt(e.to_string()),
        Err(_) => panic!("a call got neither an answer nor a fault within 25 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_nothing_and_the_cluster_comes_back_when_there_is_room() {
    let Some(disk) = SmallDisk::mount(DISK_MB) else {
        return;
    };
    let data = disk.path().join("data");
    // Off the small disk: what the processes say about it.
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("tesserad.log");
    // Declared after the disk: dropped (every process killed) before it is unmounted.
    let cluster = TestCluster::start_with(
        Options {
            supervised: true,
            request_timeout_ms: 2_000,
            log: Some(log.clone()),
            ..Options::default()
        },
        |cfg| cfg.cluster.data_dir = data,
    );
    let client = Arc::new(SoapClient::new(cluster.cfg.gateway.listen, SOAP_PATH));
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.health().await.is_err() {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (t, event): (EventType, EventId) =
        ("Concerts".parse().unwrap(), "MTLE311226".parse().unwrap());
    let add = Request::AddReservationSlot {
        admin_id: "MTLA0001".parse().unwrap(),
        event_type: t,
        event_id: event,
        capacity: Capacity::new(50_000).unwrap(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.post(&envelope(&add)).await {
            Ok(body) => {
                assert_eq!(element(&body, "code"), Some("CREATED"), "{body}");
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "no slot: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Callers reserve, one participant per call, until told to stop; the disk fills under
    // them once each has made a few calls.
    let stop = Arc::new(AtomicBool::new(false));
    let unanswered = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for c in 0..CALLERS {
        let (client, stop, unanswered) = (client.clone(), stop.clone(), unanswered.clone());
        callers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for k in 0..PER_CALLER {
                if stop.load(Relaxed) {
                    break;
                }
                let p = participant(c, k);
                let request = Request::ReserveTicket {
                    participant_id: p,
                    event_type: t,
                    event_id: event,
                };
                let outcome = reserve(&client, &request, &message_id(&p)).await;
                if matches!(outcome, Outcome::InDoubt(_)) {
                    unanswered.fetch_add(1, Relaxed);
                }
                outcomes.push((p, outcome));
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    disk.fill();
    // Once three replicas have been down at once (the durable ones cannot commit; between
    // their restarts they still answer for a moment, so most writes are answered, slowly,
    // even now), the sequencer is killed: its log segment still had room, but the one it
    // restarts with must be written, so it stops again at every restart. The disk stays full
    // until a write has gone without an answer and the sequencer has restarted twice, or 20 s.
    let full_since = Instant::now();
    let mut most_down = 0;
    let mut sequencers = BTreeSet::new();
    // The least free space any node reported meanwhile (`tesserad status`, the dashboard).
    let mut least_free: Option<u64> = None;
    loop {
        let s = cluster.status().await;
        let free = s.replicas.iter().map(|r| r.disk_available_bytes);
        let free = free.chain(s.sequencers.iter().map(|n| n.disk_available_bytes));
        least_free = least_free.into_iter().chain(free.flatten()).min();
        let down = s
            .replicas
            .iter()
            .filter(|r| r.state != ReplicaState::Up)
            .count();
        most_down = most_down.max(down);
        if let Some(pid) = cluster.supervised_pid(Role::Sequencer) {
            if most_down >= 3 && sequencers.is_empty() {
                signal(pid, "KILL");
            }
            if most_down >= 3 {
                sequencers.insert(pid);
            }
        }
        let long = full_since.elapsed();
        let doubted = unanswered.load(Relaxed) > 0;
        if (sequencers.len() >= 3 && doubted) || long > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    disk.free();
    let freed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Relaxed);
    let mut outcomes: BTreeMap<UserId, Outcome> = BTreeMap::new();
    for c in callers {
        outcomes.extend(c.await.unwrap());
    }
    let status = cluster
        .wait_converged_at_high(Duration::from_secs(90))
        .await;
    let back_in = freed_at.elapsed();

    let answered = outcomes
        .values()
        .filter(|o| matches!(o, Outcome::Answered(_)))
        .count();
    let in_doubt: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::InDoubt(_)))
        .collect();
    eprintln!(
        "disk_full: {} writes, {answered} answered, {} in doubt; {most_down} of 4 replicas \
         down at once with the disk full, {} sequencer processes after its kill -9; whole again \
         {back_in:?} after it had room (seq {:?}); least free space a node reported while \
         full {least_free:?} bytes",
        outcomes.len(),
        in_doubt.len(),
        sequencers.len(),
        status.next_seq,
    );
    assert!(
        most_down >= 3,
        "the full disk must have stopped the durable replicas for this test to show anything"
    );
    // The nodes' status showed the disk full, and shows it with room again: the readings are
    // of the small disk (its size exactly), not of the file system the test runs on.
    let small = DISK_MB << 20;
    assert!(
        least_free.is_some_and(|b| b < small / 12),
        "with the disk full the least free space reported was {least_free:?} of {small}"
    );
    for r in &status.replicas {
        assert_eq!(r.disk_size_bytes, Some(small), "replica {}: {r:?}", r.id);
        assert!(
            r.disk_available_bytes.is_some_and(|b| b > small / 3),
            "replica {} once there was room: {r:?}",
            r.id
        );
    }
    for n in &status.sequencers {
        assert_eq!(n.disk_size_bytes, Some(small), "sequencer {}: {n:?}", n.id);
    }
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("sequencer log write failed: No space left on device"),
        "the restarted sequencer must have stopped on the full disk: {said}"
    );

    // Every write is in the state once: an answered one as answered, one in doubt after its
    // retry (which answers from the replicas' memory if it took effect, or executes it now).
    for (p, outcome) in &outcomes {
        let code = match outcome {
            Outcome::Answered(code) => code.clone(),
            Outcome::InDoubt(_) => {
                let request = Request::ReserveTicket {
                    participant_id: *p,
                    event_type: t,
                    event_id: event,
                };
                match reserve(&client, &request, &message_id(p)).await {
                    Outcome::Answered(code) => code,
                    other => panic!("{p}: its retry after the disk had room: {other:?}"),
                }
            }
        };
        assert_eq!(code, "RESERVED", "{p}: {outcome:?}");
        let schedule = Request::GetEventSchedule { participant_id: *p };
        let body = client.post(&envelope(&schedule)).await.unwrap();
        assert_eq!(body.matches("<reservation>").count(), 1, "{p}: {body}");
    }
}
