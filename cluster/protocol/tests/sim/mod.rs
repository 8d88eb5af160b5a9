//! A seeded, deterministic simulation of a whole Tessera cluster driving the real protocol
//! state machines: one sequencer, four replica managers with in-process `MemoryReplica`s, and
//! a few front ends with many closed-loop submitters, connected by a simulated lossy network.
//!
//! Everything that happens is an [`Event`] in one queue ordered by (virtual time, insertion
//! counter): datagram arrivals, timer expiries, fsync completions, replica apply completions,
//! submissions and fault injections. Time is a `u64` nanosecond clock added to one base
//! `Instant`; nothing sleeps and no decision reads the real clock. All randomness comes from
//! SplitMix64 streams derived from the seed, and no `HashMap` is iterated, so a seed replays
//! exactly (the determinism test checks this with a hash of every delivered datagram).
//!
//! Each node is driven the way its tokio shell in `tessera-node` drives it: after every
//! `handle_*` call the shell's `poll_*` sequence runs (see `drive_sequencer`, `drive_rm`,
//! `drive_fe`), and the node's single timer is re-armed from `poll_timeout`.

mod workload;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use replica_memory::MemoryReplica;
use tessera_protocol::front_end::{FrontEnd, FrontEndConfig, FrontEndEvent};
use tessera_protocol::replica_manager::{
    execute, Command, FromReplica, Record, ReplicaManager, ReplicaSignal, RmConfig, RmEvent,
    ToReplica,
};
use tessera_protocol::sequencer::{LogOp, Meta, Recovered, Sequencer, SequencerConfig};
use tessera_protocol::wire::{
    testing, FaultKind, Link, LinkConfig, Message, NodeId, RequestId, Sequenced,
};
use tessera_protocol::{Destination, ReplicaId, Timeouts, Transmit, REPLICAS};
use tessera_types::{Call, Faulty, Outcome, Replica, Reply, Request};

pub use tessera_testkit::rng::{mix, Rng};
use workload::Workload;

const RMS: usize = REPLICAS as usize;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
/// Wall clock the sequencer stamps entries with at virtual time zero (any fixed value works).
const WALL_EPOCH_MS: u64 = 1_767_225_600_000;
/// Consecutive events at one virtual instant beyond which a node is considered to be spinning
/// (a timer that keeps being due without anything changing).
const SPIN_LIMIT: u64 = 200_000;

// ---------------------------------------------------------------------------------------------
// Scenario: what to simulate.
// ---------------------------------------------------------------------------------------------

/// Per-datagram network behaviour (each copy of a fan-out is decided separately).
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub drop: f64,
    pub dup: f64,
    /// One-way latency, uniform in this range; the spread is what reorders datagrams.
    pub latency_us: (u64, u64),
}

/// Faults triggered by progress (`after` answered requests) rather than at a fixed time, so that
/// they hit the middle of the run whatever its speed.
#[derive(Debug, Clone)]
pub enum FaultSpec {
    /// Replica manager `rm` (1..=4) drops everything it would send or receive for `for_ms`.
    /// Its replica keeps applying what it already has. Keep it below `liveness`: longer, and
    /// the sequencer stops retaining for it and state transfer (not simulated) is needed.
    Silent { rm: u8, after: usize, for_ms: u64 },
    /// Datagrams to and from replica manager `rm` are lost with probability `drop`.
    LossBurst {
        rm: u8,
        after: usize,
        for_ms: u64,
        drop: f64,
    },
    /// The sequencer process (the primary, with several) dies (the fsync in flight leaves a
    /// random prefix of its batch in the log) and restarts `down_ms` later from what the log
    /// holds, with a fresh link.
    SequencerCrash { after: usize, down_ms: u64 },
    /// From `after` answered requests on, the primary sequencer node dies at the next `point`
    /// and restarts `restart_ms` later (never: `None`).
    PrimaryCrash {
        after: usize,
        point: SeqPoint,
        restart_ms: Option<u64>,
    },
    /// The primary sequencer node is cut off from `from` for `for_ms` (every datagram either
    /// way lost), then the cut heals.
    PrimaryCut {
        after: usize,
        from: Cut,
        for_ms: u64,
    },
    /// Replica `rm` returns a wrong (well-formed) reply for about `percent`% of the seqs, chosen
    /// by hashing (seed, seq); its state stays correct.
    Byzantine { rm: u8, percent: u64 },
    /// Replica `rm` returns wrong replies for exactly seqs `first`, `first + 1` and
    /// `first + 2`, right ones otherwise: the shortest run that must get it replaced.
    WrongRun { rm: u8, first: u64 },
    /// Replica `rm` answers wrong on every call from `after` answered requests on, until its
    /// process goes (replaced, or its manager killed): `tesserad chaos byzantine`.
    Liar { rm: u8, after: usize },
    /// Replica `rm` stops applying from `after` answered requests on (`SIGSTOP`), until its
    /// process goes.
    Hang { rm: u8, after: usize },
    /// Replica manager `rm` is killed (with its replica process) when `at` happens, and its
    /// supervisor restarts it `down_ms` later from what it persisted: its incarnation record,
    /// and its replica's storage if `durable` (the persistent replicas; the in-memory one
    /// starts empty).
    ManagerCrash {
        rm: u8,
        at: CrashPoint,
        down_ms: u64,
        durable: bool,
    },
    /// Replica `rm` takes `service_us` over every request it applies, from the start
    /// (`tesserad chaos slow`): slower than the cluster, answering within the hang threshold.
    /// The scenario must make it fall out of the sequencer's window (a small `retain_max`):
    /// it must then catch up by state transfer, without being replaced.
    Slow { rm: u8, service_us: u64 },
}

/// Where in its work a `PrimaryCrash` strikes the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqPoint {
    /// At once.
    Now,
    /// When its next log write is durable, before it acts on it (nothing announced).
    Durable,
    /// Right after it announced entries (`Data` to the managers).
    Announced,
    /// While a log write is in flight (a random prefix of an append survives).
    Writing,
}

/// Whom a `PrimaryCut` separates the primary from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Everyone,
    /// The replica managers (it still hears the standbys and front ends).
    Managers,
    /// The other sequencer nodes (it still reaches the managers and front ends).
    Standbys,
}

/// When a `ManagerCrash` strikes: after some progress, or at a point of the replacement of
/// replica `of` (whose owner may be the victim, or one of its voters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Once this many requests were answered.
    Answered(usize),
    /// When the first vote against `of` is sent.
    FirstVote { of: u8 },
    /// When `of`'s owner has its majority, before it replaces the replica.
    Decided { of: u8 },
    /// Right after `of`'s owner replaced it and persisted its new incarnation, before the
    /// `Replaced` announcement leaves.
    Replaced { of: u8 },
    /// When a snapshot offer for `of`'s state transfer is sent.
    Transferring { of: u8 },
    /// Right after `of`'s replacement installed its state.
    Installed { of: u8 },
}

impl CrashPoint {
    /// Every point of a replacement of `of`, in order.
    pub fn of_replacement(of: u8) -> [CrashPoint; 5] {
        [
            CrashPoint::FirstVote { of },
            CrashPoint::Decided { of },
            CrashPoint::Replaced { of },
            CrashPoint::Transferring { of },
            CrashPoint::Installed { of },
        ]
    }
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub requests: usize,
    /// Sequencer nodes (1: no failover).
    pub sequencers: usize,
    pub submitters: usize,
    pub front_ends: usize,
    pub net: NetConfig,
    /// Submitter pause between an answer and its next request.
    pub think_us: (u64, u64),
    /// Sequencer log append + fsync.
    pub fsync_us: (u64, u64),
    /// Replica apply time per request (requests are applied one at a time, in order).
    pub service_us: (u64, u64),
    pub max_datagram: usize,
    pub retain_max: usize,
    /// Replica managers export, digest and compare a checkpoint every this many seqs.
    pub checkpoint_interval: u64,
    pub timeouts: Timeouts,
    pub faults: Vec<FaultSpec>,
    /// Virtual time by which everything must have been answered and applied.
    pub deadline: Duration,
    /// Read-only requests take the front ends' fast read path (`FrontEnd::submit_read`),
    /// and every fast answer is checked for linearizability.
    pub fast_reads: bool,
    /// Replica managers (ids) whose datagrams from the sequencer arrive this many µs later
    /// than the rest: their replicas run behind the others by about that much, while reads
    /// and everything else reach them on time.
    pub late_ordering: Option<(Vec<u8>, u64)>,
    /// The front ends hear the sequencer nodes this many µs late (`Ordered`, read indexes):
    /// their replicas can be ahead of all a front end knows committed.
    pub late_to_front_ends: u64,
}

impl Scenario {
    /// The lossy baseline: 20% loss, 5% duplication, 0.1..3 ms latency (heavy reordering), 500
    /// requests from 32 concurrent submitters spread over `front_ends` front ends.
    pub fn lossy(front_ends: usize) -> Self {
        Scenario {
            requests: 500,
            sequencers: 1,
            submitters: 32,
            front_ends,
            net: NetConfig {
                drop: 0.20,
                dup: 0.05,
                latency_us: (100, 3_000),
            },
            think_us: (0, 2_000),
            fsync_us: (200, 1_500),
            service_us: (20, 300),
            max_datagram: 1400,
            retain_max: SequencerConfig::default().retain_max,
            // Scenarios are short: a tenth of the default interval so that they see checkpoints.
            checkpoint_interval: RmConfig::default().checkpoint_interval / 10,
            timeouts: Timeouts::default(),
            faults: Vec::new(),
            deadline: Duration::from_secs(120),
            fast_reads: false,
            late_ordering: None,
            late_to_front_ends: 0,
        }
    }

    /// A random scenario: any mix of the supported faults, sizes and network settings.
    pub fn random(seed: u64) -> Self {
        let mut r = Rng::new(mix(seed ^ 0x5ce7_a410));
        let requests = r.range(50, 600) as usize;
        let mut sc = Scenario::lossy(r.range(1, 3) as usize);
        sc.requests = requests;
        // At 30% loss plus a sequencer outage, ten lost retransmissions of one submission in
        // a row happen about once in a thousand seeds, and the front end then rightly gives up
        // after `request_timeout`. A longer timeout keeps extreme loss from looking like a bug.
        sc.timeouts.request_timeout = Duration::from_secs(30);
        sc.submitters = r.range(1, 48) as usize;
        sc.net.drop = r.range(0, 30) as f64 / 100.0;
        sc.net.dup = r.range(0, 10) as f64 / 100.0;
        sc.net.latency_us = (r.range(20, 500), r.range(500, 6_000));
        sc.think_us = (0, r.range(0, 5_000));
        // Small datagrams make long replies (slot lists, schedules) go out in fragments.
        sc.max_datagram = *r.pick(&[1400, 1400, 256]);
        // Frequent checkpoints: digests compared among the managers mid-run.
        sc.checkpoint_interval = *r.pick(&[1000, 100, 37]);
        let after = |r: &mut Rng| r.range(1, requests as u64 * 3 / 4) as usize;
        for _ in 0..r.range(0, 2) {
            sc.faults.push(FaultSpec::SequencerCrash {
                after: after(&mut r),
                down_ms: r.range(1, 400),
            });
        }
        for _ in 0..r.range(0, 2) {
            sc.faults.push(FaultSpec::LossBurst {
                rm: r.range(1, 4) as u8,
                after: after(&mut r),
                for_ms: r.range(10, 500),
                drop: r.range(50, 95) as f64 / 100.0,
            });
        }
        let silent = r.range(0, 4) as u8;
        if silent > 0 {
            sc.faults.push(FaultSpec::Silent {
                rm: silent,
                after: after(&mut r),
                for_ms: r.range(10, 1_000),
            });
        }
        let byzantine = r.chance(0.5).then(|| r.range(1, 4) as u8);
        if let Some(rm) = byzantine {
            sc.faults.push(FaultSpec::Byzantine {
                rm,
                percent: r.range(1, 30),
            });
        }
        // Sometimes three sequencer nodes, whose primary crashes or is cut off once.
        if r.chance(0.3) {
            sc.sequencers = 3;
            sc.faults.push(if r.chance(0.5) {
                FaultSpec::PrimaryCrash {
                    after: after(&mut r),
                    point: *r.pick(&[SeqPoint::Now, SeqPoint::Durable, SeqPoint::Announced]),
                    restart_ms: r.chance(0.5).then(|| r.range(10, 2_000)),
                }
            } else {
                FaultSpec::PrimaryCut {
                    after: after(&mut r),
                    from: *r.pick(&[Cut::Everyone, Cut::Managers, Cut::Standbys]),
                    for_ms: r.range(50, 3_000),
                }
            });
        }
        // A replica manager killed and restarted (not with a silent one: that would be two
        // crashed replicas at once), after some progress or during the Byzantine replica's
        // replacement.
        if silent == 0 && r.chance(0.4) {
            let at = match byzantine {
                Some(of) if r.chance(0.5) => *r.pick(&CrashPoint::of_replacement(of)),
                _ => CrashPoint::Answered(after(&mut r)),
            };
            sc.faults.push(FaultSpec::ManagerCrash {
                rm: r.range(1, 4) as u8,
                at,
                down_ms: r.range(5, 500),
                durable: r.chance(0.5),
            });
        }
        sc
    }

    /// Issue 10: a replica that lies on every call is replaced, its manager is killed at one
    /// point of that replacement (`seed` picks the point, whether the victim is the owner or
    /// a voter, and whether the replica's storage survives), then the owner is killed again
    /// after the replacement and its replica lies once more: with a restarted owner and a
    /// generation above 0, the second lie must be caught as fast as the first.
    pub fn restarts(seed: u64) -> Self {
        let mut r = Rng::new(mix(seed ^ 0x7e57_a7ed));
        let mut sc = Scenario::lossy(1 + r.range(0, 1) as usize);
        sc.requests = 900;
        sc.submitters = 8;
        sc.think_us = (0, 20_000);
        sc.net.drop = r.range(0, 10) as f64 / 100.0;
        sc.checkpoint_interval = *r.pick(&[37, 100, 1000]);
        let liar = r.range(1, 4) as u8;
        let points = CrashPoint::of_replacement(liar);
        let point = points[(seed % points.len() as u64) as usize];
        let victim = if (seed / points.len() as u64).is_multiple_of(2) {
            liar
        } else {
            1 + (liar + r.range(0, 2) as u8) % 4
        };
        let durable = (seed / (2 * points.len() as u64)).is_multiple_of(2);
        sc.faults = vec![
            FaultSpec::Liar {
                rm: liar,
                after: r.range(80, 150) as usize,
            },
            FaultSpec::ManagerCrash {
                rm: victim,
                at: point,
                down_ms: r.range(10, 300),
                durable,
            },
            FaultSpec::ManagerCrash {
                rm: liar,
                at: CrashPoint::Answered(r.range(420, 480) as usize),
                down_ms: r.range(10, 200),
                durable: !durable,
            },
            FaultSpec::Liar {
                rm: liar,
                after: r.range(700, 750) as usize,
            },
        ];
        sc
    }

    /// A replica hangs; its manager, or another one, is killed at one point of its
    /// replacement.
    pub fn hang_restarts(seed: u64) -> Self {
        let mut r = Rng::new(mix(seed ^ 0x4a96_0001));
        let mut sc = Scenario::lossy(1);
        sc.requests = 900;
        sc.submitters = 8;
        sc.think_us = (0, 20_000);
        sc.net.drop = r.range(0, 10) as f64 / 100.0;
        sc.checkpoint_interval = *r.pick(&[37, 100, 1000]);
        let hung = r.range(1, 4) as u8;
        let points = CrashPoint::of_replacement(hung);
        let point = points[(seed % points.len() as u64) as usize];
        let victim = if (seed / points.len() as u64).is_multiple_of(2) {
            hung
        } else {
            1 + (hung + r.range(0, 2) as u8) % 4
        };
        sc.faults = vec![
            FaultSpec::Hang {
                rm: hung,
                after: r.range(100, 300) as usize,
            },
            FaultSpec::ManagerCrash {
                rm: victim,
                at: point,
                down_ms: r.range(10, 300),
                durable: r.chance(0.5),
            },
        ];
        sc
    }

    /// Three sequencer nodes under loss and reordering; the primary is killed at a random
    /// point of its work (before, during or after a log write, right after announcing) and
    /// restarted later or never, or cut off (from everyone, from the managers, or from the
    /// standbys) and healed; with `double`, whoever is primary next fails too. A Byzantine
    /// replica lies meanwhile in some seeds.
    pub fn failover(seed: u64, double: bool) -> Self {
        let mut r = Rng::new(mix(seed ^ 0xfa11_0fe2));
        let mut sc = Scenario::lossy(1 + r.range(0, 2) as usize);
        sc.sequencers = 3;
        sc.requests = r.range(300, 700) as usize;
        sc.submitters = r.range(4, 32) as usize;
        sc.net.drop = r.range(0, 20) as f64 / 100.0;
        sc.fsync_us = (200, r.range(500, 5_000));
        // Failover waits `liveness` for the primary; clients wait for failover.
        sc.timeouts.liveness = Duration::from_millis(*r.pick(&[200, 500, 1000]));
        sc.timeouts.request_timeout = Duration::from_secs(30);
        let points = [
            SeqPoint::Now,
            SeqPoint::Durable,
            SeqPoint::Announced,
            SeqPoint::Writing,
        ];
        // Three nodes survive one lost for good, not two.
        let mut lost_one = false;
        let mut fault = |r: &mut Rng, after: usize| -> FaultSpec {
            if r.chance(0.6) {
                let restart_ms = (lost_one || r.chance(0.6)).then(|| r.range(10, 3_000));
                lost_one |= restart_ms.is_none();
                FaultSpec::PrimaryCrash {
                    after,
                    point: *r.pick(&points),
                    restart_ms,
                }
            } else {
                FaultSpec::PrimaryCut {
                    after,
                    from: *r.pick(&[Cut::Everyone, Cut::Managers, Cut::Standbys]),
                    for_ms: r.range(50, 4_000),
                }
            }
        };
        let first = r.range(20, sc.requests as u64 / 2) as usize;
        sc.faults.push(fault(&mut r, first));
        if double {
            let second = first + r.range(30, sc.requests as u64 / 3) as usize;
            sc.faults.push(fault(&mut r, second));
        }
        if r.chance(0.3) {
            sc.faults.push(FaultSpec::Byzantine {
                rm: r.range(1, 4) as u8,
                percent: r.range(1, 20),
            });
        }
        sc
    }

    /// A lie must end within this of its first wrong answer, a hang within
    /// `hang_threshold` plus this of its start (`docs/recovery.md`, "Bounded repair").
    pub const REPAIR_BOUND: Duration = Duration::from_secs(2);

    /// Replica managers may be killed: a replica may then legitimately fall behind the
    /// sequencer's retention and catch up by state transfer.
    fn manager_crashes(&self) -> bool {
        self.faults
            .iter()
            .any(|f| matches!(f, FaultSpec::ManagerCrash { .. }))
    }

    /// The service time of replica `i` (0-based) when it is slow.
    fn slow(&self, i: usize) -> Option<u64> {
        self.faults.iter().find_map(|f| match *f {
            FaultSpec::Slow { rm, service_us } if usize::from(rm - 1) == i => Some(service_us),
            _ => None,
        })
    }

    /// Replicas whose replacement is legitimate.
    fn faulty(&self) -> BTreeSet<usize> {
        self.faults
            .iter()
            .filter_map(|f| match *f {
                FaultSpec::Byzantine { rm, .. }
                | FaultSpec::WrongRun { rm, .. }
                | FaultSpec::Liar { rm, .. }
                | FaultSpec::Hang { rm, .. } => Some(usize::from(rm - 1)),
                _ => None,
            })
            .collect()
    }

    fn byzantine(&self) -> Option<(usize, u64)> {
        self.faults.iter().find_map(|f| match *f {
            FaultSpec::Byzantine { rm, percent } => Some((usize::from(rm - 1), percent)),
            FaultSpec::WrongRun { rm, .. } => Some((usize::from(rm - 1), 0)),
            _ => None,
        })
    }

    /// The first seq of the `WrongRun`, if there is one.
    fn wrong_run(&self) -> Option<u64> {
        self.faults.iter().find_map(|f| match *f {
            FaultSpec::WrongRun { first, .. } => Some(first),
            _ => None,
        })
    }

    /// Without random loss and without crashes every reply reaches its front end, so the fault
    /// reports are fully predictable: exactly the corrupted seqs are `Wrong`, and `Missing`
    /// appears for the silent replica manager only.
    fn exact_fault_reports(&self) -> bool {
        // Late managers answer after the linger window: `Missing`, though never silent.
        self.net.drop == 0.0
            && self.late_ordering.is_none()
            && self.faults.iter().all(|f| {
                matches!(
                    f,
                    FaultSpec::Silent { .. }
                        | FaultSpec::Byzantine { .. }
                        | FaultSpec::WrongRun { .. }
                )
            })
    }
}

/// Whether the Byzantine replica corrupts its reply for `seq`: a pure function of the seed, so
/// the expected `Wrong` reports can be computed after the run.
fn corrupts(seed: u64, percent: u64, seq: u64) -> bool {
    mix(seed ^ 0xb72a_471e ^ mix(seq)) % 100 < percent
}

// ---------------------------------------------------------------------------------------------
// The simulated cluster.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    /// Sequencer node index (its id is index + 1).
    Sequencer(usize),
    /// Replica manager index 0..4 (its id is index + 1).
    Rm(usize),
    Fe(usize),
}

impl Node {
    /// A fake address per node, as the transport would have from the configuration.
    fn addr(self) -> SocketAddr {
        match self {
            Node::Sequencer(k) => {
                SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1 + k as u8), 7000 - k as u16))
            }
            Node::Rm(i) => {
                SocketAddr::from((Ipv4Addr::new(10, 0, 0, 11 + i as u8), 7001 + i as u16))
            }
            Node::Fe(j) => {
                SocketAddr::from((Ipv4Addr::new(10, 0, 1, 1 + j as u8), 7100 + j as u16))
            }
        }
    }
}

enum Event {
    Datagram {
        to: Node,
        from: Node,
        bytes: Vec<u8>,
    },
    /// A node's timer armed for `at`; stale if the node re-armed since.
    Timer {
        node: Node,
        at: u64,
    },
    /// Sequencer node `node`'s log write completed (`epoch`: which incarnation).
    Persisted {
        node: usize,
        epoch: u64,
    },
    /// Replica `rm` finished the request at the head of its pipe (unless its process,
    /// counted by `process`, was replaced or killed meanwhile).
    ReplicaDone {
        rm: usize,
        process: u64,
    },
    /// Replica `rm`'s process died: its manager sees EOF.
    ReplicaExit {
        rm: usize,
        process: u64,
    },
    /// Submitter wants to issue its next request.
    Submit {
        submitter: usize,
    },
    FaultStart(usize),
    SequencerRestart(usize),
    /// Replica manager `rm` restarts from what it persisted.
    ManagerRestart {
        rm: usize,
    },
}

struct SequencerNode {
    /// `None` while crashed.
    machine: Option<Sequencer>,
    epoch: u64,
    /// The durable log: what a restart recovers.
    log: Vec<Sequenced>,
    /// The durable view, vote and entry views.
    meta: Meta,
    /// Per front end, the highest request id the log truncated away (the real log's
    /// `frontends` summary): also recovered.
    forgotten: BTreeMap<u32, RequestId>,
    /// The log write handed out by `poll_persist` and not yet durable.
    writing: Option<LogOp>,
    /// A `PrimaryCrash` waiting for its point.
    crash_at: Option<(SeqPoint, Option<u64>)>,
    armed: Option<u64>,
}

/// A period during which sequencer node `node` is cut off from `from`.
struct CutWindow {
    node: usize,
    from: Cut,
    since: u64,
    until: u64,
}

struct RmNode {
    machine: ReplicaManager,
    /// The running replica process (`tessera_protocol::replica_manager::execute` over an
    /// in-memory replica), `None` while none runs.
    replica: Option<Faulty<MemoryReplica>>,
    /// The replica's storage: its state as of its last sync, what a restart reopens (unless a
    /// `ManagerCrash` says it is lost, as for the in-memory implementation).
    storage: MemoryReplica,
    /// Bumped whenever the replica process is replaced or dies (its work in progress is void).
    process: u64,
    /// Written to the replica, not yet carried out: its stdin, in effect.
    inbox: VecDeque<ToReplica>,
    busy: bool,
    /// This replica returns wrong replies (the Byzantine fault; a replacement is healthy).
    byzantine: bool,
    /// This replica answers wrong on every call (`FaultSpec::Liar`), until its process goes.
    lying: bool,
    /// This replica stopped (`FaultSpec::Hang`), until its process goes.
    hung: bool,
    /// The manager process is dead (`FaultSpec::ManagerCrash`): it hears and does nothing.
    down: bool,
    /// What the manager's shell persisted.
    record: Record,
    armed: Option<u64>,
    /// The request bytes applied at each seq, and when its reply was first produced.
    applied: BTreeMap<u64, (Vec<u8>, u64)>,
    /// Seqs this replica sent a corrupted reply for, and when (the first time).
    corrupted: BTreeMap<u64, u64>,
}

impl RmNode {
    /// The replica's applied seq (0 while no process runs).
    fn applied_seq(&self) -> u64 {
        self.replica.as_ref().map_or(0, |r| r.applied_seq())
    }

    fn digest(&self) -> Option<tessera_types::Digest> {
        self.replica.as_ref().and_then(|r| r.digest().ok())
    }
}

struct FeNode {
    machine: FrontEnd,
    armed: Option<u64>,
}

struct Issued {
    id: RequestId,
    fe: usize,
    bytes: Vec<u8>,
}

struct Answer {
    seq: u64,
    reply: Vec<u8>,
    at: u64,
}

/// A period during which a replica manager's datagrams are lost with probability `drop`
/// (1.0: silent).
struct Window {
    rm: usize,
    from: u64,
    until: u64,
    drop: f64,
}

/// A replica lying on every call or hung, from `start` (its first wrong answer, or the
/// hang) until `end` (replaced, or its process killed).
struct Episode {
    rm: usize,
    kind: &'static str,
    opened: u64,
    start: Option<u64>,
    end: Option<u64>,
}

impl Episode {
    const LIE: &'static str = "lying";
    const HANG: &'static str = "hung";
}

#[derive(Default)]
struct Episodes {
    all: Vec<Episode>,
}

impl Episodes {
    fn open(&mut self, rm: usize, kind: &'static str, opened: u64, start: Option<u64>) {
        self.all.push(Episode {
            rm,
            kind,
            opened,
            start,
            end: None,
        });
    }

    fn first_wrong(&mut self, rm: usize, at: u64) {
        for e in &mut self.all {
            if e.rm == rm
                && e.kind == Episode::LIE
                && e.opened <= at
                && e.end.is_none_or(|end| at < end)
            {
                e.start = Some(e.start.map_or(at, |s| s.min(at)));
            }
        }
    }

    fn ended(&mut self, rm: usize, at: u64) {
        for e in &mut self.all {
            if e.rm == rm && e.end.is_none() {
                e.end = Some(at);
            }
        }
    }

    /// Every lie that has begun and every hang has ended.
    fn all_ended(&self) -> bool {
        self.all
            .iter()
            .all(|e| e.end.is_some() || e.start.is_none())
    }
}

#[derive(Debug, Default, Clone)]
pub struct NetStats {
    pub sent: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub delivered: u64,
    pub events: u64,
}

/// What one run produced, for the assertions and for the failure message.
pub struct Report {
    pub seed: u64,
    pub trace: [u8; 32],
    pub violations: Vec<String>,
    pub summary: String,
}

pub struct Sim {
    seed: u64,
    sc: Scenario,
    /// Network fates and latencies, think and service times.
    rng: Rng,
    workload: Workload,
    base: Instant,
    now: u64,
    counter: u64,
    queue: BTreeMap<(u64, u64), Event>,
    addrs: BTreeMap<SocketAddr, Node>,
    sequencers: Vec<SequencerNode>,
    cuts: Vec<CutWindow>,
    /// Every entry a sequencer node announced (`Data`), by seq: one request per seq, ever.
    announced: BTreeMap<u64, (RequestId, Vec<u8>)>,
    /// The primary of each view seen: one per view.
    primaries: BTreeMap<u64, usize>,
    rms: Vec<RmNode>,
    fes: Vec<FeNode>,
    /// Decodes what front ends send, to record their fault reports before the network can
    /// lose them.
    sniffer: testing::Sniffer,

    issued: Vec<Issued>,
    by_id: BTreeMap<RequestId, usize>,
    /// Which front end each submitter uses.
    submitter_fe: Vec<usize>,
    /// Request id → submitter waiting for it.
    waiting: BTreeMap<RequestId, usize>,
    answers: BTreeMap<RequestId, Answer>,
    unavailable: Vec<RequestId>,
    /// Fast reads: the highest seq answered (ordered) to any client when each started.
    fast_started: BTreeMap<RequestId, u64>,
    /// Fast reads answered on the fast path: (lo, hi) = (highest seq answered to any client
    /// when it started, highest seq applied anywhere when it was answered).
    fast_answered: BTreeMap<RequestId, (u64, u64)>,
    /// The fast reads answered on the fast path, in the order they were answered.
    fast_order: Vec<RequestId>,
    /// Fast reads: how many of `fast_order` were answered when each started. A read must not
    /// take effect before any of those did: reads are monotonic too.
    fast_after: BTreeMap<RequestId, usize>,
    /// Highest seq answered to any client so far (ordered answers only).
    answered_high: u64,

    windows: Vec<Window>,
    /// (answered count, fault index), ascending.
    triggers: VecDeque<(usize, usize)>,
    byzantine: Option<(usize, u64)>,
    wrong_run: Option<u64>,
    /// Fault reports the front ends sent: (replica, seq).
    wrong: BTreeSet<(u8, u64)>,
    missing: BTreeSet<(u8, u64)>,
    /// Notable events (crashes, replacements, state transfers) for the run summary.
    notes: Vec<String>,
    /// Replicas the managers voted out: (rm index, reason, virtual time).
    replaced: Vec<(usize, String, u64)>,
    /// Lies and hangs, and when each ended, for the bounded-repair check.
    episodes: Episodes,
    /// `ManagerCrash` faults that have struck.
    fired: BTreeSet<usize>,

    violations: Vec<String>,
    /// A retention overrun was reported (once per run is enough).
    retention_overrun: bool,
    trace: blake3::Hasher,
    stats: NetStats,
    same_instant: u64,
}

impl Sim {
    pub fn new(seed: u64, sc: Scenario) -> Self {
        let mut root = Rng::new(seed);
        let rng = root.fork();
        let workload = Workload::new(root.fork());
        let base = Instant::now();
        let link = |me| link(&sc, me, 0);
        let sequencers = (0..sc.sequencers.max(1))
            .map(|k| SequencerNode {
                machine: Some(Sequencer::new(
                    link(NodeId::Sequencer(k as u8 + 1)),
                    sequencer_config(&sc, k),
                    Recovered::default(),
                    1,
                    base,
                )),
                epoch: 0,
                log: Vec::new(),
                meta: Meta::default(),
                forgotten: BTreeMap::new(),
                writing: None,
                crash_at: None,
                armed: None,
            })
            .collect();
        let rms = (0..RMS)
            .map(|i| {
                let id = i as u8 + 1;
                let cfg = rm_config(&sc, id);
                RmNode {
                    machine: ReplicaManager::new(
                        link(NodeId::ReplicaManager(ReplicaId::ALL[i])),
                        cfg,
                        Record::default(),
                        base,
                    ),
                    replica: None,
                    storage: MemoryReplica::new(),
                    process: 0,
                    inbox: VecDeque::new(),
                    busy: false,
                    byzantine: sc.byzantine().is_some_and(|(b, _)| b == i),
                    lying: false,
                    hung: false,
                    down: false,
                    record: Record::default(),
                    armed: None,
                    applied: BTreeMap::new(),
                    corrupted: BTreeMap::new(),
                }
            })
            .collect();
        let fes = (0..sc.front_ends)
            .map(|j| FeNode {
                machine: FrontEnd::new(
                    link(front_end_id(j)),
                    FrontEndConfig {
                        timeouts: sc.timeouts,
                        // Varies with the seed like a clock would.
                        incarnation: RequestId::incarnation(
                            mix(seed) >> RequestId::FRONT_END_BITS,
                            testing::FRONT_ENDS[j],
                        ),
                        reply_to: Node::Fe(j).addr(),
                        sequencers: sequencer_ids(&sc),
                        fast_read_limit: usize::MAX,
                        only_front_end: sc.front_ends == 1,
                    },
                ),
                armed: None,
            })
            .collect();
        let mut addrs = BTreeMap::new();
        for k in 0..sc.sequencers.max(1) {
            addrs.insert(Node::Sequencer(k).addr(), Node::Sequencer(k));
        }
        for i in 0..RMS {
            addrs.insert(Node::Rm(i).addr(), Node::Rm(i));
        }
        for j in 0..sc.front_ends {
            addrs.insert(Node::Fe(j).addr(), Node::Fe(j));
        }
        let mut triggers: Vec<(usize, usize)> = sc
            .faults
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match *f {
                FaultSpec::Silent { after, .. }
                | FaultSpec::LossBurst { after, .. }
                | FaultSpec::SequencerCrash { after, .. }
                | FaultSpec::PrimaryCrash { after, .. }
                | FaultSpec::PrimaryCut { after, .. }
                | FaultSpec::Liar { after, .. }
                | FaultSpec::Hang { after, .. }
                | FaultSpec::ManagerCrash {
                    at: CrashPoint::Answered(after),
                    ..
                } => Some((after, i)),
                FaultSpec::Byzantine { .. }
                | FaultSpec::WrongRun { .. }
                | FaultSpec::Slow { .. }
                | FaultSpec::ManagerCrash { .. } => None,
            })
            .collect();
        triggers.sort_unstable();
        let mut sim = Sim {
            seed,
            rng,
            workload,
            base,
            now: 0,
            counter: 0,
            queue: BTreeMap::new(),
            addrs,
            sequencers,
            cuts: Vec::new(),
            announced: BTreeMap::new(),
            primaries: BTreeMap::new(),
            rms,
            fes,
            sniffer: testing::Sniffer::new("sim", sc.max_datagram, 4 << 20),
            issued: Vec::new(),
            by_id: BTreeMap::new(),
            submitter_fe: (0..sc.submitters).map(|s| s % sc.front_ends).collect(),
            waiting: BTreeMap::new(),
            answers: BTreeMap::new(),
            unavailable: Vec::new(),
            fast_started: BTreeMap::new(),
            fast_answered: BTreeMap::new(),
            fast_order: Vec::new(),
            fast_after: BTreeMap::new(),
            answered_high: 0,
            windows: Vec::new(),
            triggers: triggers.into(),
            byzantine: sc.byzantine(),
            wrong_run: sc.wrong_run(),
            wrong: BTreeSet::new(),
            missing: BTreeSet::new(),
            notes: Vec::new(),
            replaced: Vec::new(),
            episodes: Episodes::default(),
            fired: BTreeSet::new(),
            violations: Vec::new(),
            retention_overrun: false,
            trace: blake3::Hasher::new(),
            stats: NetStats::default(),
            same_instant: 0,
            sc,
        };
        // Start-up: every node gets its first drive (the RMs' hello acks go out), and the
        // submitters start staggered over the first think interval.
        for k in 0..sim.sequencers.len() {
            sim.drive_sequencer(k);
        }
        for i in 0..RMS {
            sim.drive_rm(i);
        }
        for j in 0..sim.fes.len() {
            sim.drive_fe(j);
        }
        for s in 0..sim.sc.submitters {
            let delay = sim.rng.range(0, sim.sc.think_us.1) * US;
            sim.schedule(delay, Event::Submit { submitter: s });
        }
        sim
    }

    fn instant(&self, t: u64) -> Instant {
        self.base + Duration::from_nanos(t)
    }

    fn virtual_ns(&self, i: Instant) -> u64 {
        u64::try_from(i.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn schedule(&mut self, at: u64, ev: Event) {
        self.counter += 1;
        self.queue.insert((at.max(self.now), self.counter), ev);
    }

    fn violation(&mut self, msg: String) {
        self.violations.push(msg);
    }

    fn note(&mut self, msg: String) {
        let ms = self.now as f64 / MS as f64;
        self.notes.push(format!("{ms:.3} ms: {msg}"));
    }

    /// Runs until every request is answered and applied everywhere, plus enough time for the
    /// front ends' linger windows to end (so that their fault reports are in), or until the
    /// virtual deadline.
    pub fn run(&mut self) {
        let deadline = u64::try_from(self.sc.deadline.as_nanos()).unwrap_or(u64::MAX);
        let settle =
            u64::try_from((self.sc.timeouts.linger_cap * 2).as_nanos()).unwrap_or(0) + 500 * MS;
        let mut settle_until = None;
        while self.step() {
            // Durable entries the primary keeps for retransmission to the managers (those
            // still being fsynced come on top: a batch at most).
            let retained = (0..self.sequencers.len())
                .filter(|&k| self.is_primary(k))
                .map(|k| {
                    let node = &self.sequencers[k];
                    let durable = node.log.last().map_or(0, |e| e.seq);
                    node.machine.as_ref().map_or(0, |m| {
                        (durable + 1).saturating_sub(m.status().lowest_retained)
                    })
                })
                .max()
                .unwrap_or(0);
            if retained > self.sc.retain_max as u64 && !self.retention_overrun {
                self.retention_overrun = true;
                let msg = format!(
                    "the sequencer retains {retained} durable entries, more than retain_max {}",
                    self.sc.retain_max
                );
                self.violation(msg);
            }
            // The run ends `settle` after the cluster was last complete: a repair that begins
            // while it settles (a replica voted out late) is waited for, within the deadline.
            if !self.complete() {
                settle_until = None;
            } else if settle_until.is_none() {
                settle_until = Some(self.now + settle);
            }
            if settle_until.is_some_and(|t| self.now >= t) {
                break;
            }
            if self.now > deadline {
                let msg = format!(
                    "virtual deadline of {:?} passed before completion",
                    self.sc.deadline
                );
                self.violation(msg);
                break;
            }
            if self.same_instant > SPIN_LIMIT {
                let msg = format!(
                    "livelock: {SPIN_LIMIT} events at virtual time {} ns",
                    self.now
                );
                self.violation(msg);
                break;
            }
        }
    }

    fn complete(&self) -> bool {
        let n = self.sc.requests;
        // New primaries' no-ops are seqs too; fast reads answered on the fast path are not.
        let top = self
            .announced
            .keys()
            .next_back()
            .map_or(0, |&s| s)
            .max((n - self.fast_answered.len()) as u64);
        self.answers.len() + self.unavailable.len() >= n
            && self
                .rms
                .iter()
                .all(|rm| !rm.down && rm.applied_seq() >= top)
            && self.episodes.all_ended()
    }

    /// Seqs announced for a new primary's no-op (its id is of no front end).
    fn noops(&self) -> BTreeMap<u64, Vec<u8>> {
        self.announced
            .iter()
            .filter(|(_, (id, _))| id.front_end == 0)
            .map(|(&seq, (_, bytes))| (seq, bytes.clone()))
            .collect()
    }

    /// Processes the next event; false when the queue is empty.
    pub fn step(&mut self) -> bool {
        let Some(((at, _), ev)) = self.queue.pop_first() else {
            return false;
        };
        if at == self.now {
            self.same_instant += 1;
        } else {
            self.same_instant = 0;
        }
        self.now = at;
        self.stats.events += 1;
        match ev {
            Event::Datagram { to, from, bytes } => self.on_datagram(to, from, bytes),
            Event::Timer { node, at } => self.on_timer(node, at),
            Event::Persisted { node, epoch } => self.on_persisted(node, epoch),
            Event::ReplicaDone { rm, process } => self.on_replica_done(rm, process),
            Event::ReplicaExit { rm, process } => self.on_replica_exit(rm, process),
            Event::Submit { submitter } => self.on_submit(submitter),
            Event::FaultStart(i) => self.start_fault(i),
            Event::SequencerRestart(k) => self.restart_sequencer(k),
            Event::ManagerRestart { rm } => self.restart_manager(rm),
        }
        true
    }

    // ---- event handlers ----

    fn on_datagram(&mut self, to: Node, from: Node, bytes: Vec<u8>) {
        // A silent node hears nothing either, also what was already in flight.
        if self.loss_between(from, to) >= 1.0 {
            self.stats.dropped += 1;
            return;
        }
        let now = self.instant(self.now);
        let from_addr = from.addr();
        match to {
            Node::Sequencer(k) => {
                let wall = WALL_EPOCH_MS + self.now / MS;
                let Some(seq) = self.sequencers[k].machine.as_mut() else {
                    // Crashed: the datagram hits a closed port.
                    self.stats.dropped += 1;
                    return;
                };
                seq.set_wall_clock_ms(wall);
                seq.handle_datagram(now, from_addr, &bytes);
            }
            Node::Rm(i) if self.rms[i].down => {
                self.stats.dropped += 1;
                return;
            }
            Node::Rm(i) => self.rms[i].machine.handle_datagram(now, from_addr, &bytes),
            Node::Fe(j) => self.fes[j].machine.handle_datagram(now, from_addr, &bytes),
        }
        self.stats.delivered += 1;
        // The trace: every delivered datagram with its time and endpoints.
        self.trace.update(&self.now.to_le_bytes());
        self.trace.update(from_addr.to_string().as_bytes());
        self.trace.update(to.addr().to_string().as_bytes());
        self.trace.update(&(bytes.len() as u64).to_le_bytes());
        self.trace.update(&bytes);
        self.drive(to);
    }

    fn on_timer(&mut self, node: Node, at: u64) {
        let now = self.instant(self.now);
        match node {
            Node::Sequencer(k) => {
                if self.sequencers[k].armed != Some(at) {
                    return;
                }
                self.sequencers[k].armed = None;
                let Some(seq) = self.sequencers[k].machine.as_mut() else {
                    return;
                };
                seq.handle_timeout(now);
            }
            Node::Rm(i) => {
                if self.rms[i].armed != Some(at) {
                    return;
                }
                self.rms[i].armed = None;
                self.rms[i].machine.handle_timeout(now);
            }
            Node::Fe(j) => {
                if self.fes[j].armed != Some(at) {
                    return;
                }
                self.fes[j].armed = None;
                self.fes[j].machine.handle_timeout(now);
            }
        }
        self.drive(node);
    }

    fn on_persisted(&mut self, k: usize, epoch: u64) {
        let node = &mut self.sequencers[k];
        if epoch != node.epoch {
            // The write of a crashed incarnation; the crash already decided what it left.
            return;
        }
        let Some(op) = node.writing.take() else {
            return;
        };
        Self::apply_log_op(node, op);
        if self.strikes(k, SeqPoint::Durable) {
            return;
        }
        let now = self.instant(self.now);
        if let Some(seq) = self.sequencers[k].machine.as_mut() {
            seq.handle_persisted(now);
        }
        self.drive_sequencer(k);
    }

    /// A log write reaching the disk, as `tessera-node`'s sequencer log carries it out.
    fn apply_log_op(node: &mut SequencerNode, op: LogOp) {
        match op {
            LogOp::Append(batch) => node.log.extend(batch),
            LogOp::TruncateAfter(upto) => {
                let keep = node.log.partition_point(|e| e.seq <= upto);
                node.log.truncate(keep);
            }
            LogOp::Meta(meta) => node.meta = meta,
        }
    }

    /// Whether a `PrimaryCrash` waiting for `point` strikes node `k` now (it then is down).
    fn strikes(&mut self, k: usize, point: SeqPoint) -> bool {
        match self.sequencers[k].crash_at {
            Some((p, restart)) if p == point && self.is_primary(k) => {
                self.sequencers[k].crash_at = None;
                self.note(format!("{point:?}: sequencer {} (primary) killed", k + 1));
                self.crash_sequencer(k);
                if let Some(ms) = restart {
                    self.schedule(self.now + ms * MS, Event::SequencerRestart(k));
                }
                true
            }
            _ => false,
        }
    }

    fn is_primary(&self, k: usize) -> bool {
        self.sequencers[k]
            .machine
            .as_ref()
            .is_some_and(|m| m.status().primary == Some(k as u8 + 1))
    }

    /// The node that is primary now, if any (the first, if several think so).
    fn primary(&self) -> Option<usize> {
        (0..self.sequencers.len()).find(|&k| self.is_primary(k))
    }

    /// Replica `i` carries out the request at the head of its pipe, as `tessera-node`'s replica
    /// child does (the same `execute`), with a Byzantine twist on the reply if it lies.
    fn on_replica_done(&mut self, i: usize, process: u64) {
        let now = self.instant(self.now);
        let t = self.now;
        let seed = self.seed;
        let percent = self.byzantine.map_or(0, |(_, p)| p);
        let run = self.wrong_run.map(|first| first..first + 3);
        let rm = &mut self.rms[i];
        if process != rm.process || rm.down {
            // Work of a replica process that was replaced or killed meanwhile.
            return;
        }
        rm.busy = false;
        let (Some(replica), Some(request)) = (rm.replica.as_mut(), rm.inbox.pop_front()) else {
            return;
        };
        let applying = match &request {
            ToReplica::Apply { seq, request, .. } => Some((*seq, request.clone())),
            _ => None,
        };
        let sync = request == ToReplica::Sync;
        let mut answer = execute(replica, request);
        if sync && matches!(answer, FromReplica::Synced { .. }) {
            // What a restart of a persistent replica reopens.
            rm.storage = replica.inner().clone();
        }
        if let (Some((seq, bytes)), FromReplica::Applied { reply, .. }) = (applying, &mut answer) {
            let corrupt =
                corrupts(seed, percent, seq) || run.as_ref().is_some_and(|run| run.contains(&seq));
            if rm.lying || (rm.byzantine && corrupt) {
                rm.corrupted.entry(seq).or_insert(t);
                if let Ok(good) = Outcome::decode(reply) {
                    *reply = Outcome {
                        reply: tessera_types::fault::corrupt_reply(&good.reply, seed, seq),
                        ..good
                    }
                    .encode();
                }
            }
            let first = &rm
                .applied
                .entry(seq)
                .or_insert_with(|| (bytes.clone(), t))
                .0;
            if *first != bytes {
                let msg = format!(
                    "rm {}: seq {seq} applied as {:?}, after a replacement as {:?}",
                    i + 1,
                    Request::decode(first),
                    Request::decode(&bytes)
                );
                self.violations.push(msg);
            }
        }
        if let FromReplica::Read {
            applied,
            reply: Some(reply),
        } = &mut answer
        {
            // A lying replica lies on fast reads too (keyed by the seq it read at).
            if rm.lying || (rm.byzantine && corrupts(seed, percent, *applied)) {
                if let Ok(good) = Outcome::decode(reply) {
                    *reply = Outcome {
                        reply: tessera_types::fault::corrupt_reply(&good.reply, seed, *applied),
                        ..good
                    }
                    .encode();
                }
            }
        }
        let imported = matches!(answer, FromReplica::Imported { .. });
        if let FromReplica::Failed(why) = &answer {
            let msg = format!("rm {}: the replica failed: {why}", i + 1);
            self.violation(msg);
        }
        let rm = &mut self.rms[i];
        rm.machine.handle_replica(now, answer);
        if imported {
            let msg = format!("replica {} installed its state", i + 1);
            self.note(msg);
            if self.crash_point(i, CrashPoint::Installed { of: i as u8 + 1 }) {
                return;
            }
        }
        self.drive_rm(i);
    }

    /// The replica process died (EOF): its manager replaces it.
    fn on_replica_exit(&mut self, i: usize, process: u64) {
        let now = self.instant(self.now);
        let rm = &mut self.rms[i];
        if process != rm.process || rm.down {
            return;
        }
        rm.machine.handle_replica_exited(now);
        self.drive_rm(i);
    }

    /// Starts the next request of replica `i`'s pipe, if it can work.
    fn pump_replica(&mut self, i: usize) {
        let rm = &mut self.rms[i];
        if rm.busy || rm.hung || rm.replica.is_none() {
            return;
        }
        let Some(next) = rm.inbox.front() else { return };
        let us = match next {
            ToReplica::Apply { .. } => match self.sc.slow(i) {
                Some(us) => us,
                None => self.rng.range(self.sc.service_us.0, self.sc.service_us.1),
            },
            ToReplica::Import { .. } | ToReplica::Export => 300,
            _ => 50,
        };
        rm.busy = true;
        let process = rm.process;
        self.schedule(self.now + us * US, Event::ReplicaDone { rm: i, process });
    }

    fn on_submit(&mut self, submitter: usize) {
        if self.issued.len() >= self.sc.requests {
            return;
        }
        let fe = self.submitter_fe[submitter];
        let request = self.workload.next_request();
        let bytes = request.encode();
        let now = self.instant(self.now);
        let id = if self.sc.fast_reads && request.is_read_only() {
            // A bare request decodes as a call without a message id.
            let id = self.fes[fe]
                .machine
                .submit_read(now, bytes.clone(), String::new());
            self.fast_started.insert(id, self.answered_high);
            self.fast_after.insert(id, self.fast_order.len());
            id
        } else {
            self.fes[fe].machine.submit(now, bytes.clone())
        };
        self.by_id.insert(id, self.issued.len());
        self.issued.push(Issued { id, fe, bytes });
        self.waiting.insert(id, submitter);
        self.drive_fe(fe);
    }

    fn start_fault(&mut self, i: usize) {
        match self.sc.faults[i] {
            FaultSpec::Silent { rm, for_ms, .. } => self.windows.push(Window {
                rm: usize::from(rm - 1),
                from: self.now,
                until: self.now + for_ms * MS,
                drop: 1.0,
            }),
            FaultSpec::LossBurst {
                rm, for_ms, drop, ..
            } => self.windows.push(Window {
                rm: usize::from(rm - 1),
                from: self.now,
                until: self.now + for_ms * MS,
                drop,
            }),
            FaultSpec::SequencerCrash { down_ms, .. } => {
                let k = self.primary().unwrap_or(0);
                if self.sequencers[k].machine.is_some() {
                    self.crash_sequencer(k);
                    self.schedule(self.now + down_ms * MS, Event::SequencerRestart(k));
                }
            }
            FaultSpec::PrimaryCrash {
                point, restart_ms, ..
            } => match self.primary() {
                Some(k) => {
                    self.sequencers[k].crash_at = Some((point, restart_ms));
                    if point == SeqPoint::Now
                        || (point == SeqPoint::Writing && self.sequencers[k].writing.is_some())
                    {
                        self.sequencers[k].crash_at = Some((SeqPoint::Now, restart_ms));
                        self.strikes(k, SeqPoint::Now);
                    }
                }
                None => self.note("PrimaryCrash: no primary at that moment".into()),
            },
            FaultSpec::PrimaryCut { from, for_ms, .. } => match self.primary() {
                Some(k) => {
                    self.note(format!(
                        "sequencer {} (primary) cut off from {from:?}",
                        k + 1
                    ));
                    self.cuts.push(CutWindow {
                        node: k,
                        from,
                        since: self.now,
                        until: self.now + for_ms * MS,
                    });
                }
                None => self.note("PrimaryCut: no primary at that moment".into()),
            },
            FaultSpec::Liar { rm, .. } => {
                let i = usize::from(rm - 1);
                if !self.rms[i].down {
                    self.rms[i].lying = true;
                    self.episodes.open(i, Episode::LIE, self.now, None);
                    self.note(format!("replica {rm} starts lying"));
                }
            }
            FaultSpec::Hang { rm, .. } => {
                let i = usize::from(rm - 1);
                if !self.rms[i].down {
                    self.rms[i].hung = true;
                    self.episodes
                        .open(i, Episode::HANG, self.now, Some(self.now));
                    self.note(format!("replica {rm} hangs"));
                }
            }
            FaultSpec::ManagerCrash { rm, .. } => self.crash_manager(i, usize::from(rm - 1)),
            FaultSpec::Byzantine { .. } | FaultSpec::WrongRun { .. } | FaultSpec::Slow { .. } => {}
        }
    }

    /// Fires every pending `ManagerCrash` that waits for `point`; true if `observer` itself
    /// went down (its caller must stop driving it).
    fn crash_point(&mut self, observer: usize, point: CrashPoint) -> bool {
        let due: Vec<usize> = self
            .sc
            .faults
            .iter()
            .enumerate()
            .filter(|(k, f)| {
                matches!(f, FaultSpec::ManagerCrash { at, .. } if *at == point)
                    && !self.fired.contains(k)
            })
            .map(|(k, _)| k)
            .collect();
        for k in due {
            self.fired.insert(k);
            if let FaultSpec::ManagerCrash { rm, .. } = self.sc.faults[k] {
                self.note(format!("{point:?}: manager {rm} killed"));
                self.crash_manager(k, usize::from(rm - 1));
            }
        }
        self.rms[observer].down
    }

    /// `kill -9` of replica manager `i` and its replica process (fault `k`).
    fn crash_manager(&mut self, k: usize, i: usize) {
        let FaultSpec::ManagerCrash {
            down_ms, durable, ..
        } = self.sc.faults[k]
        else {
            return;
        };
        self.fired.insert(k);
        let now = self.now;
        let rm = &mut self.rms[i];
        if rm.down {
            return;
        }
        rm.down = true;
        rm.armed = None;
        Self::stop_process(rm);
        if !durable {
            rm.storage = MemoryReplica::new();
        }
        self.episodes.ended(i, now);
        self.note(format!(
            "manager {} killed ({}), restarts in {down_ms} ms",
            i + 1,
            if durable {
                "its replica keeps what it synced"
            } else {
                "its replica's storage is lost"
            }
        ));
        self.schedule(now + down_ms * MS, Event::ManagerRestart { rm: i });
    }

    /// The replica process of `rm` is gone (killed, or replaced): what it was doing is void,
    /// and a lie or a hang ends with it.
    fn stop_process(rm: &mut RmNode) {
        rm.process += 1;
        rm.replica = None;
        rm.inbox.clear();
        rm.busy = false;
        rm.lying = false;
        rm.hung = false;
    }

    /// The supervisor starts manager `i` again, from its persisted record.
    fn restart_manager(&mut self, i: usize) {
        let now = self.instant(self.now);
        let cfg = rm_config(&self.sc, i as u8 + 1);
        let rm = &mut self.rms[i];
        let record = rm.record;
        rm.machine = ReplicaManager::new(
            link(
                &self.sc,
                NodeId::ReplicaManager(ReplicaId::ALL[i]),
                self.now,
            ),
            cfg,
            record,
            now,
        );
        rm.down = false;
        self.note(format!(
            "manager {} restarted at generation {}{}",
            i + 1,
            record.generation,
            if record.recovering {
                " (transfer cut short)"
            } else {
                ""
            }
        ));
        self.drive_rm(i);
    }

    fn crash_sequencer(&mut self, k: usize) {
        let node = &mut self.sequencers[k];
        let Some(seq) = node.machine.take() else {
            return;
        };
        node.epoch += 1;
        node.armed = None;
        node.crash_at = None;
        let durable = node.log.last().map_or(0, |e| e.seq);
        // The write in flight may have reached the disk partly: any prefix of an append; a
        // truncation or an atomic meta replacement, or not.
        let mut kept = 0;
        match node.writing.take() {
            Some(LogOp::Append(batch)) => {
                kept = self.rng.range(0, batch.len() as u64) as usize;
                node.log.extend(batch.into_iter().take(kept));
            }
            Some(op) if self.rng.chance(0.5) => Self::apply_log_op(node, op),
            Some(_) | None => {}
        }
        let lost = (seq.next_seq() - 1).saturating_sub(durable + kept as u64);
        self.note(format!(
            "sequencer {} crash: log up to {durable}, {kept} of the write in flight kept, {lost} assignments lost",
            k + 1
        ));
    }

    fn restart_sequencer(&mut self, k: usize) {
        let now = self.instant(self.now);
        let node = &self.sequencers[k];
        if node.machine.is_some() {
            return;
        }
        let seq = Sequencer::new(
            link(&self.sc, NodeId::Sequencer(k as u8 + 1), self.now),
            sequencer_config(&self.sc, k),
            Recovered {
                entries: node.log.clone(),
                forgotten: node.forgotten.values().copied().collect(),
                meta: node.meta.clone(),
            },
            1,
            now,
        );
        self.note(format!(
            "sequencer {} restarted at seq {}",
            k + 1,
            seq.next_seq()
        ));
        self.sequencers[k].machine = Some(seq);
        self.drive_sequencer(k);
    }

    // ---- driving the machines as their shells do ----

    fn drive(&mut self, node: Node) {
        match node {
            Node::Sequencer(k) => self.drive_sequencer(k),
            Node::Rm(i) => self.drive_rm(i),
            Node::Fe(j) => self.drive_fe(j),
        }
    }

    /// `tessera-node`'s sequencer loop: hand out the next log write, apply truncation, send,
    /// re-arm the timer.
    fn drive_sequencer(&mut self, k: usize) {
        let Some(seq) = self.sequencers[k].machine.as_mut() else {
            return;
        };
        // At most one write is outstanding: `poll_persist` says None until it is persisted.
        let write = seq.poll_persist();
        let truncate = seq.poll_truncate();
        let out: Vec<Transmit> = std::iter::from_fn(|| seq.poll_transmit()).collect();
        let next = seq.poll_timeout();
        let status = seq.status();
        if status.primary == Some(k as u8 + 1) {
            if let Some(&other) = self.primaries.get(&status.view) {
                if other != k {
                    self.violation(format!(
                        "sequencers {} and {} are both primary of view {}",
                        other + 1,
                        k + 1,
                        status.view
                    ));
                }
            } else {
                self.note(format!(
                    "sequencer {} is primary of view {}",
                    k + 1,
                    status.view
                ));
                self.primaries.insert(status.view, k);
            }
        }
        if let Some(op) = write {
            if self.sequencers[k].writing.is_some() {
                self.violation(
                    "sequencer handed out a second log write before the first was durable".into(),
                );
            }
            self.sequencers[k].writing = Some(op);
            let at = self.now + self.rng.range(self.sc.fsync_us.0, self.sc.fsync_us.1) * US;
            let epoch = self.sequencers[k].epoch;
            self.schedule(at, Event::Persisted { node: k, epoch });
        }
        if let Some(upto) = truncate {
            let node = &mut self.sequencers[k];
            let cut = node.log.partition_point(|e| e.seq <= upto);
            for e in node.log.drain(..cut) {
                let top = node.forgotten.entry(e.id.front_end_id()).or_insert(e.id);
                *top = (*top).max(e.id);
            }
        }
        let mut announced = false;
        for t in out {
            announced |= t.to == Destination::AllReplicaManagers;
            self.send(Node::Sequencer(k), t);
        }
        self.arm(Node::Sequencer(k), next);
        if announced && self.strikes(k, SeqPoint::Announced) {
            return;
        }
        if self.sequencers[k].writing.is_some() {
            self.strikes(k, SeqPoint::Writing);
        }
    }

    /// `tessera-node`'s replica manager loop: carry out commands (persist, start the replica,
    /// write to it, signal it), then transmit, then log; re-arm the timer.
    fn drive_rm(&mut self, i: usize) {
        loop {
            if self.rms[i].down {
                return;
            }
            let Some(cmd) = self.rms[i].machine.poll_command() else {
                break;
            };
            if self.on_rm_command(i, cmd) {
                return;
            }
        }
        self.pump_replica(i);
        let rm = &mut self.rms[i];
        let out: Vec<Transmit> = std::iter::from_fn(|| rm.machine.poll_transmit()).collect();
        let events: Vec<RmEvent> = std::iter::from_fn(|| rm.machine.poll_event()).collect();
        let next = rm.machine.poll_timeout();
        for t in out {
            self.send(Node::Rm(i), t);
        }
        for ev in events {
            self.on_rm_event(i, ev);
        }
        if !self.rms[i].down {
            self.arm(Node::Rm(i), next);
        }
    }

    /// True when the manager went down meanwhile (a crash point struck).
    fn on_rm_command(&mut self, i: usize, cmd: Command) -> bool {
        let now = self.instant(self.now);
        let of = i as u8 + 1;
        match cmd {
            Command::Persist(record) => {
                let replacing = record.generation > self.rms[i].record.generation;
                if replacing && self.crash_point(i, CrashPoint::Decided { of }) {
                    return true;
                }
                self.rms[i].record = record;
                if replacing && self.crash_point(i, CrashPoint::Replaced { of }) {
                    return true;
                }
            }
            Command::StartReplica { fresh } => {
                let rm = &mut self.rms[i];
                Self::stop_process(rm);
                if fresh {
                    // A replacement: a fresh replica on empty storage, healthy.
                    rm.storage = MemoryReplica::new();
                    rm.byzantine = false;
                }
                rm.replica = Some(Faulty::new(rm.storage.clone()));
                let applied = rm.applied_seq();
                let pid = rm.process as u32;
                rm.machine.handle_replica_started(now, pid, applied);
                if fresh {
                    // A replacement: the old process, and whatever fault it had, is gone.
                    self.episodes.ended(i, self.now);
                }
            }
            Command::ToReplica(request) => self.rms[i].inbox.push_back(request),
            // The simulation's front ends name no request ids; nothing to log either way.
            Command::Delivered { .. } => {}
            Command::Signal(signal) => {
                let rm = &mut self.rms[i];
                match signal {
                    ReplicaSignal::Kill => {
                        let process = rm.process;
                        Self::stop_process(rm);
                        self.schedule(
                            self.now,
                            Event::ReplicaExit {
                                rm: i,
                                process: process + 1,
                            },
                        );
                    }
                    ReplicaSignal::Stop => rm.hung = true,
                    ReplicaSignal::Continue => rm.hung = false,
                }
            }
        }
        false
    }

    fn on_rm_event(&mut self, i: usize, ev: RmEvent) {
        match ev {
            RmEvent::Guard(ev) => self.note(format!("rm {}: {ev:?}", i + 1)),
            RmEvent::BehindRetention { low, delivered } => {
                let msg = format!(
                    "rm {} fell behind the sequencer's retention (low {low}, delivered {delivered})",
                    i + 1,
                );
                if self.sc.manager_crashes() || self.sc.slow(i).is_some() {
                    // A restarted manager whose replica lost its state, or a replica slower
                    // than the cluster: it catches up by state transfer.
                    self.note(msg);
                } else {
                    self.violation(msg);
                }
            }
            RmEvent::Replacing {
                reason,
                incarnation,
            } => {
                self.replaced.push((i, format!("{reason:?}"), self.now));
                self.note(format!(
                    "replica {} replaced ({reason:?}) by generation {}",
                    i + 1,
                    incarnation.generation
                ));
            }
            RmEvent::ResumedTransfer => {
                self.note(format!("rm {}: resumes a cut-short transfer", i + 1))
            }
            RmEvent::Fault(_)
            | RmEvent::Installing { .. }
            | RmEvent::Installed { .. }
            | RmEvent::Chaos(_) => {}
        }
    }

    /// `tessera-node`'s front-end loop: transmit first, then hand outcomes to the callers,
    /// re-arm the timer.
    fn drive_fe(&mut self, j: usize) {
        let fe = &mut self.fes[j].machine;
        let out: Vec<Transmit> = std::iter::from_fn(|| fe.poll_transmit()).collect();
        let events: Vec<FrontEndEvent> = std::iter::from_fn(|| fe.poll_event()).collect();
        let next = fe.poll_timeout();
        for t in out {
            self.send(Node::Fe(j), t);
        }
        for ev in events {
            self.on_fe_event(j, ev);
        }
        self.arm(Node::Fe(j), next);
    }

    fn on_fe_event(&mut self, j: usize, ev: FrontEndEvent) {
        let id = match ev {
            FrontEndEvent::Answered { id, seq, reply, .. } => {
                if self.answers.contains_key(&id) {
                    self.violation(format!("fe {}: {id:?} answered twice", j + 1));
                    return;
                }
                let at = self.now;
                // Ordered: its seq carries it. Otherwise it was answered on the fast path.
                let ordered = self.announced.get(&seq).is_some_and(|(i, _)| *i == id);
                match self.fast_started.get(&id) {
                    Some(&lo) if !ordered => {
                        let hi = self
                            .rms
                            .iter()
                            .map(|rm| {
                                let executed = rm.applied.keys().next_back().copied();
                                rm.applied_seq().max(executed.unwrap_or(0))
                            })
                            .max()
                            .unwrap_or(0);
                        self.fast_answered.insert(id, (lo, hi));
                        self.fast_order.push(id);
                    }
                    _ => self.answered_high = self.answered_high.max(seq),
                }
                self.answers.insert(id, Answer { seq, reply, at });
                id
            }
            FrontEndEvent::Unavailable { id, .. } => {
                self.violation(format!(
                    "fe {}: {id:?} unavailable at {:.3} ms",
                    j + 1,
                    self.now as f64 / MS as f64
                ));
                self.unavailable.push(id);
                id
            }
        };
        match self.waiting.remove(&id) {
            Some(submitter) => {
                let think = self.rng.range(self.sc.think_us.0, self.sc.think_us.1) * US;
                self.schedule(self.now + think, Event::Submit { submitter });
            }
            None => self.violation(format!("fe {}: outcome for unknown {id:?}", j + 1)),
        }
        let answered = self.answers.len();
        while self
            .triggers
            .front()
            .is_some_and(|&(after, _)| answered >= after)
        {
            if let Some((_, i)) = self.triggers.pop_front() {
                self.schedule(self.now, Event::FaultStart(i));
            }
        }
    }

    /// One timer per node, like the shells' `sleep_until(poll_timeout())`.
    fn arm(&mut self, node: Node, next: Option<Instant>) {
        let at = next.map(|i| self.virtual_ns(i).max(self.now));
        let armed = match node {
            Node::Sequencer(k) => &mut self.sequencers[k].armed,
            Node::Rm(i) => &mut self.rms[i].armed,
            Node::Fe(j) => &mut self.fes[j].armed,
        };
        if *armed == at {
            return;
        }
        *armed = at;
        if let Some(at) = at {
            self.schedule(at, Event::Timer { node, at });
        }
    }

    // ---- the network ----

    /// Loss probability a replica manager's fault windows add right now.
    fn loss_rate(&self, node: Node) -> f64 {
        let Node::Rm(i) = node else {
            return 0.0;
        };
        self.windows
            .iter()
            .filter(|w| w.rm == i && w.from <= self.now && self.now < w.until)
            .map(|w| w.drop)
            .fold(0.0, f64::max)
    }

    /// Loss probability between two nodes from fault windows: a manager's, and a cut of a
    /// sequencer node.
    fn loss_between(&self, a: Node, b: Node) -> f64 {
        let cut = |x: Node, y: Node| {
            let Node::Sequencer(k) = x else {
                return false;
            };
            self.cuts.iter().any(|c| {
                c.node == k
                    && c.since <= self.now
                    && self.now < c.until
                    && matches!(
                        (c.from, y),
                        (Cut::Everyone, _)
                            | (Cut::Managers, Node::Rm(_))
                            | (Cut::Standbys, Node::Sequencer(_))
                    )
            })
        };
        if cut(a, b) || cut(b, a) {
            return 1.0;
        }
        self.loss_rate(a).max(self.loss_rate(b))
    }

    /// Resolves the destination like the transport (fan-out: one copy per replica manager),
    /// then decides each copy's fate: lost, or delivered once or twice after a random delay.
    fn send(&mut self, from: Node, t: Transmit) {
        if let Node::Fe(_) = from {
            self.sniff_faults(&t.datagram);
        }
        if let Node::Rm(i) = from {
            self.sniff_recovery(i, &t);
        }
        if let Node::Sequencer(k) = from {
            self.sniff_announced(k, &t);
        }
        let targets: Vec<Node> = match t.to {
            Destination::Addr(a) => self.addrs.get(&a).copied().into_iter().collect(),
            Destination::Sequencer(id) => {
                let k = usize::from(id).wrapping_sub(1);
                if k < self.sequencers.len() {
                    vec![Node::Sequencer(k)]
                } else {
                    Vec::new()
                }
            }
            Destination::ReplicaManager(id) => vec![Node::Rm(id.index())],
            Destination::AllReplicaManagers => (0..RMS).map(Node::Rm).collect(),
        };
        if targets.is_empty() {
            self.violation(format!(
                "{from:?} sent to an unknown destination {:?}",
                t.to
            ));
        }
        for to in targets {
            self.stats.sent += 1;
            let loss = self.sc.net.drop.max(self.loss_between(from, to));
            if self.rng.chance(loss) {
                self.stats.dropped += 1;
                continue;
            }
            let copies = if self.rng.chance(self.sc.net.dup) {
                self.stats.duplicated += 1;
                2
            } else {
                1
            };
            let late = match (from, to, &self.sc.late_ordering) {
                (Node::Sequencer(_), Node::Rm(i), Some((rms, us)))
                    if rms.contains(&(i as u8 + 1)) =>
                {
                    *us
                }
                (Node::Sequencer(_), Node::Fe(_), _) => self.sc.late_to_front_ends,
                _ => 0,
            };
            for _ in 0..copies {
                let (lo, hi) = self.sc.net.latency_us;
                let at = self.now + (self.rng.range(lo, hi) + late) * US;
                let bytes = t.datagram.clone();
                self.schedule(at, Event::Datagram { to, from, bytes });
            }
        }
    }

    /// Records every entry a sequencer node announces to the managers (as it sends it): one
    /// request per seq, whichever node announces it, in whichever view.
    fn sniff_announced(&mut self, k: usize, t: &Transmit) {
        if !matches!(
            t.to,
            Destination::AllReplicaManagers | Destination::ReplicaManager(_)
        ) || t.datagram.get(13) != Some(&Message::Data(Vec::new()).kind())
        {
            return;
        }
        let now = self.instant(self.now);
        let Some((_, Message::Data(entries))) = self.sniffer.receive(now, &t.datagram) else {
            return;
        };
        for e in entries {
            match self.announced.get(&e.seq) {
                Some((id, bytes)) if *id != e.id || *bytes != e.request => {
                    let msg = format!(
                        "seq {} announced for {:?} and, by sequencer {}, for {:?}",
                        e.seq,
                        id,
                        k + 1,
                        e.id
                    );
                    self.violation(msg);
                }
                Some(_) => {}
                None => {
                    self.announced.insert(e.seq, (e.id, e.request));
                }
            }
        }
    }

    /// Records the `Faults` a front end sends (as it sends them: the network may lose them,
    /// and each goes to all four replica managers).
    fn sniff_faults(&mut self, datagram: &[u8]) {
        // Byte 13 is the header's kind (after magic 4, version 1, cluster 8): skip decoding
        // everything that is not a fault report.
        if datagram.get(13) != Some(&Message::Faults(Vec::new()).kind()) {
            return;
        }
        let now = self.instant(self.now);
        if let Some((_, Message::Faults(reports))) = self.sniffer.receive(now, datagram) {
            for r in reports {
                if r.kind == FaultKind::Wrong {
                    // A lie's clock starts at the first wrong answer a front end judged (one
                    // sent for a request already done with goes unseen, and nobody can act
                    // on it), from the moment the replica produced it.
                    let i = r.replica.index();
                    if let Some(&at) = self.rms[i].corrupted.get(&r.seq) {
                        self.episodes.first_wrong(i, at);
                    }
                }
                match r.kind {
                    FaultKind::Wrong => self.wrong.insert((r.replica.get(), r.seq)),
                    FaultKind::Missing => self.missing.insert((r.replica.get(), r.seq)),
                    // "Answered right again": resets the managers' count of wrong answers.
                    FaultKind::Correct => false,
                };
            }
        }
    }

    /// Crash points that show on the wire: a vote, a snapshot offer on its way to the
    /// recovering owner.
    fn sniff_recovery(&mut self, i: usize, t: &Transmit) {
        let kind = t.datagram.get(13).copied();
        let vote = Message::Vote {
            replica: ReplicaId::ALL[0],
            generation: 0,
            reason: tessera_protocol::wire::VoteReason::Wrong,
        }
        .kind();
        let offer = Message::SnapshotOffer {
            nonce: 0,
            checkpoints: Vec::new(),
            snapshot: None,
        }
        .kind();
        if kind == Some(vote) {
            let now = self.instant(self.now);
            if let Some((_, Message::Vote { replica, .. })) = self.sniffer.receive(now, &t.datagram)
            {
                self.crash_point(i, CrashPoint::FirstVote { of: replica.get() });
            }
        } else if kind == Some(offer) {
            if let Destination::Addr(a) = t.to {
                if let Some(Node::Rm(owner)) = self.addrs.get(&a).copied() {
                    self.crash_point(
                        i,
                        CrashPoint::Transferring {
                            of: owner as u8 + 1,
                        },
                    );
                }
            }
        }
    }

    // ---- the verdict ----

    /// Checks the run's outcome against a single replica applying the requests in seq order,
    /// and the fault reports against the injected faults.
    fn check(&mut self) {
        let noops = self.noops();
        // Fast reads answered on the fast path have no seq of their own.
        let requests = (self.sc.requests - self.fast_answered.len()) as u64;
        // Every seq is a request's or a new primary's no-op.
        let n = requests + noops.len() as u64;
        let mut v = Vec::new();

        if self.issued.len() < self.sc.requests {
            v.push(format!(
                "only {} of {} requests were issued (submitters stuck waiting)",
                self.issued.len(),
                self.sc.requests
            ));
        }
        let unanswered: Vec<String> = self
            .issued
            .iter()
            .filter(|r| !self.answers.contains_key(&r.id))
            .map(|r| format!("{:?} via fe {}", r.id, r.fe + 1))
            .collect();
        if !unanswered.is_empty() {
            v.push(format!(
                "{} requests unanswered, e.g. {:?}",
                unanswered.len(),
                &unanswered[..unanswered.len().min(5)]
            ));
        }

        // Answered seqs and no-ops: unique and exactly 1..=N.
        let mut by_seq: BTreeMap<u64, RequestId> = BTreeMap::new();
        for (id, a) in &self.answers {
            if self.fast_answered.contains_key(id) {
                continue;
            }
            if let Some(other) = by_seq.insert(a.seq, *id) {
                v.push(format!(
                    "seq {} answered for both {other:?} and {id:?}",
                    a.seq
                ));
            }
            if noops.contains_key(&a.seq) {
                v.push(format!("seq {} is a no-op and answered for {id:?}", a.seq));
            }
        }
        let mut seqs: BTreeSet<u64> = by_seq.keys().copied().collect();
        seqs.extend(noops.keys());
        let contiguous = seqs.iter().copied().eq(1..=n);
        if !contiguous {
            let missing: Vec<u64> = (1..=n).filter(|s| !seqs.contains(s)).take(10).collect();
            let extra: Vec<u64> = seqs
                .iter()
                .copied()
                .filter(|&s| s == 0 || s > n)
                .take(10)
                .collect();
            v.push(format!(
                "answered seqs are not exactly 1..={n}: missing {missing:?}, beyond {extra:?}"
            ));
        }

        // The reference: one replica applying the answered requests (and no-ops) in seq order.
        let mut reference = MemoryReplica::new();
        if contiguous {
            let mut wrong_answers = 0;
            // Fast reads not yet seen right at a seq of their window.
            let mut unseen: BTreeMap<RequestId, (u64, u64)> = self.fast_answered.clone();
            self.linearizable(&reference, 0, &mut unseen);
            for seq in 1..=n {
                if let Some(bytes) = noops.get(&seq) {
                    let noop = Call::decode(bytes).map(|c| c.request);
                    if let Err(e) = noop.map(|r| reference.apply(seq, &r)) {
                        v.push(format!("the no-op at seq {seq} does not decode: {e}"));
                    }
                    self.linearizable(&reference, seq, &mut unseen);
                    continue;
                }
                let Some(id) = by_seq.get(&seq) else {
                    continue;
                };
                let issued = &self.issued[self.by_id[id]];
                let expected = Request::decode(&issued.bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|r| reference.apply(seq, &r).map_err(|e| e.to_string()))
                    .map(|r: Reply| Outcome::fresh(r).encode());
                let answer = &self.answers[id];
                if expected.as_ref() != Ok(&answer.reply) {
                    wrong_answers += 1;
                    if wrong_answers <= 5 {
                        v.push(format!(
                            "seq {seq} ({id:?}): answered {:?}, the reference replica says {:?}",
                            Outcome::decode(&answer.reply),
                            expected.map(|b| Outcome::decode(&b))
                        ));
                    }
                }
                self.linearizable(&reference, seq, &mut unseen);
            }
            if wrong_answers > 5 {
                v.push(format!("... {wrong_answers} wrong answers in all"));
            }
            for (id, (lo, hi)) in unseen.iter().take(5) {
                v.push(format!(
                    "fast read {id:?} ({:?}) answered {:?}: no seq in [{lo}, {hi}] (highest \
                     answered when it started, highest applied when it was answered), and \
                     none where every fast read answered before it started had taken effect, \
                     gives that answer",
                    Request::decode(&self.issued[self.by_id[id]].bytes),
                    Outcome::decode(&self.answers[id].reply),
                ));
            }
            if unseen.len() > 5 {
                v.push(format!(
                    "... {} fast reads not linearizable in all",
                    unseen.len()
                ));
            }
        }
        // A checker that sees no fast answer checks nothing. Even where three datagrams in ten
        // are lost, about half the reads go fast (a read index not come is asked for again, a
        // silent manager asked again), so none of twenty is not chance.
        if self.fast_started.len() >= 20 && self.fast_answered.is_empty() {
            v.push(format!(
                "none of {} fast reads was answered on the fast path",
                self.fast_started.len()
            ));
        }
        let own: u64 = self
            .fes
            .iter()
            .map(|f| f.machine.stats().fast_own_index)
            .sum();
        // Where the front end hears the order late, nearly every fast read is answered from a
        // state beyond what it knows committed, which sends the next read to the primary
        // again (the barrier): there the own index is rare by design (3 of 55 in seed 4244),
        // and none at all is chance (seed 3219).
        let hears_late = self.sc.late_to_front_ends > 0;
        if self.sc.front_ends == 1 && self.fast_started.len() >= 20 && own == 0 && !hears_late {
            v.push(format!(
                "none of {} fast reads of the only front end took its own index",
                self.fast_started.len()
            ));
        }
        let reference_digest = reference.digest().ok();

        for (i, rm) in self.rms.iter().enumerate() {
            let r = i + 1;
            let applied = rm.applied_seq();
            if applied != n {
                v.push(format!(
                    "replica {r}: applied_seq {applied}, expected {n} (rm delivered {}, received {}, held {})",
                    rm.machine.delivered(),
                    rm.machine.received(),
                    rm.machine.held()
                ));
            }
            if contiguous {
                // Compared by request bytes: the replica sees no ids.
                let first_diff = rm.applied.iter().find(|(seq, (bytes, _))| {
                    let expected = match by_seq.get(seq) {
                        Some(id) => Some(&self.issued[self.by_id[id]].bytes),
                        None => noops.get(seq),
                    };
                    expected != Some(bytes)
                });
                if let Some((seq, (bytes, _))) = first_diff {
                    v.push(format!(
                        "replica {r} applied {:?} at seq {seq}, but that seq was answered for {:?}",
                        Request::decode(bytes),
                        by_seq.get(seq)
                    ));
                }
            }
            if contiguous && rm.digest() != reference_digest {
                v.push(format!(
                    "replica {r}: state digest differs from the reference"
                ));
            }
        }

        // Bounded repair: a lie ends (its replica replaced, or its process gone) within
        // `REPAIR_BOUND` of its first wrong answer, a hang within the hang threshold plus
        // that of its start.
        let hang_threshold = RmConfig::default().hang_threshold;
        for e in &self.episodes.all {
            let Some(start) = e.start else { continue };
            let bound = Scenario::REPAIR_BOUND
                + if e.kind == Episode::HANG {
                    hang_threshold
                } else {
                    Duration::ZERO
                };
            let bound_ns = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
            match e.end {
                Some(end) if end - start <= bound_ns => {}
                Some(end) => v.push(format!(
                    "replica {} {} from {:.3} ms ended only after {:.3} ms (bound {bound:?})",
                    e.rm + 1,
                    e.kind,
                    start as f64 / MS as f64,
                    (end - start) as f64 / MS as f64
                )),
                None => v.push(format!(
                    "replica {} {} from {:.3} ms never ended",
                    e.rm + 1,
                    e.kind,
                    start as f64 / MS as f64
                )),
            }
        }

        // A slow replica that fell out of the sequencer's window caught up by state transfer.
        for f in &self.sc.faults {
            if let FaultSpec::Slow { rm, .. } = *f {
                let transfers = self.rms[usize::from(rm - 1)].machine.counters().transfers;
                if transfers == 0 {
                    v.push(format!(
                        "slow replica {rm} never caught up by state transfer"
                    ));
                }
            }
        }

        // Only faulty replicas may be voted out.
        let faulty = self.sc.faulty();
        for (i, reason, at) in &self.replaced {
            if !faulty.contains(i) {
                v.push(format!(
                    "honest replica {} was replaced ({reason}) at {:.3} ms",
                    i + 1,
                    *at as f64 / MS as f64
                ));
            }
        }

        // A run of three wrong answers that the front end saw is caught, whatever the network
        // lost afterwards. (One it did not see, a wrong reply lost and reported `Missing`,
        // is not a run of three for anyone.)
        if let (Some((b, _)), Some(first)) = (self.byzantine, self.wrong_run) {
            let r = b as u8 + 1;
            let seen = (first..first + 3).all(|seq| self.wrong.contains(&(r, seq)));
            if seen && !self.replaced.iter().any(|(i, _, _)| *i == b) {
                v.push(format!(
                    "replica {} answered wrong for seqs {first}..={} and was never replaced",
                    b + 1,
                    first + 2
                ));
            }
        }

        // Wrong: never for a correct reply; with nothing lost, for exactly the corrupted ones.
        let expected_wrong: BTreeSet<(u8, u64)> = self
            .rms
            .iter()
            .enumerate()
            .flat_map(|(i, rm)| rm.corrupted.keys().map(move |&s| (i as u8 + 1, s)))
            .collect();
        let unfounded: Vec<_> = self.wrong.difference(&expected_wrong).take(10).collect();
        if !unfounded.is_empty() {
            v.push(format!(
                "Wrong reported for (replica, seq) that answered correctly: {unfounded:?}"
            ));
        }
        if self.sc.exact_fault_reports() {
            let unreported: Vec<_> = expected_wrong.difference(&self.wrong).take(10).collect();
            if !unreported.is_empty() {
                v.push(format!(
                    "corrupted replies never reported Wrong: {unreported:?} ({} of {})",
                    expected_wrong.difference(&self.wrong).count(),
                    expected_wrong.len()
                ));
            }
            self.check_missing(&mut v);
            // With one front end every verdict is seen in full, so a replacement for wrong
            // answers needs three corrupted answers in a row, in seq order. A missing answer
            // neither counts nor breaks the run (only a correct answer resets the count).
            if self.sc.front_ends == 1 {
                for (i, reason, _) in &self.replaced {
                    let corrupted = &self.rms[*i].corrupted;
                    let r = *i as u8 + 1;
                    let last = corrupted.last_key_value().map_or(0, |(s, _)| *s);
                    let mut streak = 0;
                    let run = (1..=last).any(|seq| {
                        if corrupted.contains_key(&seq) {
                            streak += 1;
                        } else if !self.missing.contains(&(r, seq)) {
                            streak = 0;
                        }
                        streak >= 3
                    });
                    if reason == "Wrong" && !run {
                        v.push(format!(
                            "replica {} replaced for three consecutive wrong answers it never gave",
                            i + 1
                        ));
                    }
                }
            }
        }
        self.violations.extend(v);
    }

    /// Without loss, `Missing` names only a silent replica manager (or a replaced replica, which
    /// answers nothing until its state transfer is done), and always names the silent one for
    /// a seq whose reply it could only have produced while silent, when the answer's linger
    /// window (at most `linger_cap`) certainly ended before the silence did.
    /// The reference replica is at `seq`: every fast read whose window holds `seq` and whose
    /// answer is the reference's read there is linearizable (it could have taken effect then),
    /// if every fast read answered before it started could have taken effect by `seq`. Seqs
    /// come in ascending order, and each read is placed at the first that fits: as early as
    /// it can be, which leaves the reads after it the most room, so a read left over has no
    /// place in any order.
    fn linearizable(
        &self,
        reference: &MemoryReplica,
        seq: u64,
        unseen: &mut BTreeMap<RequestId, (u64, u64)>,
    ) {
        // Placing one read at `seq` may let a read after it be placed there too.
        for _ in 0..=self.fast_order.len() {
            let placed = self
                .fast_order
                .iter()
                .take_while(|id| !unseen.contains_key(id))
                .count();
            let before = unseen.len();
            unseen.retain(|id, &mut (lo, hi)| {
                if seq < lo || seq > hi || self.fast_after[id] > placed {
                    return true;
                }
                let issued = &self.issued[self.by_id[id]];
                let expected = Request::decode(&issued.bytes)
                    .ok()
                    .and_then(|r| reference.read(&r).ok().flatten())
                    .map(|r| Outcome::fresh(r).encode());
                expected.as_ref() != Some(&self.answers[id].reply)
            });
            if unseen.len() == before {
                break;
            }
        }
    }

    fn check_missing(&self, v: &mut Vec<String>) {
        let silent: BTreeSet<u8> = self
            .windows
            .iter()
            .filter(|w| w.drop >= 1.0)
            .map(|w| w.rm as u8 + 1)
            .chain(self.replaced.iter().map(|(i, _, _)| *i as u8 + 1))
            .collect();
        let unfounded: Vec<_> = self
            .missing
            .iter()
            .filter(|(r, _)| !silent.contains(r))
            .take(10)
            .collect();
        if !unfounded.is_empty() {
            v.push(format!(
                "Missing reported for replicas that were never silent: {unfounded:?}"
            ));
        }
        let cap = u64::try_from(self.sc.timeouts.linger_cap.as_nanos()).unwrap_or(u64::MAX);
        let slack = 2 * self.sc.net.latency_us.1 * US;
        for w in self.windows.iter().filter(|w| w.drop >= 1.0) {
            let r = w.rm as u8 + 1;
            let expected: Vec<u64> = self
                .answers
                .values()
                .filter(|a| {
                    let replied = self.rms[w.rm].applied.get(&a.seq);
                    // Strictly after: events at the very instant the silence began may have
                    // run before it did.
                    replied.is_some_and(|&(_, t)| t > w.from)
                        && a.at.saturating_add(cap + slack) < w.until
                })
                .map(|a| a.seq)
                .collect();
            // Only a silence longer than the longest linger window must produce a Missing.
            if expected.is_empty() && w.until - w.from > cap + 2 * slack {
                v.push(format!(
                    "silent window of rm {r} overlapped no answer: the scenario does not exercise Missing"
                ));
            }
            let unreported: Vec<u64> = expected
                .iter()
                .copied()
                .filter(|&s| !self.missing.contains(&(r, s)))
                .collect();
            if !unreported.is_empty() {
                v.push(format!(
                    "rm {r} was silent but not reported Missing for {} of {} seqs, e.g. {:?}",
                    unreported.len(),
                    expected.len(),
                    &unreported[..unreported.len().min(10)]
                ));
            }
        }
    }

    fn summary(&self) -> String {
        let mut s = String::new();
        let fe_stats = self.fes.iter().map(|f| f.machine.stats());
        let (mut resubmits, mut reasks) = (0, 0);
        let (mut own_index, mut index_again) = (0, 0);
        for st in fe_stats {
            resubmits += st.submit_retransmits;
            reasks += st.reasks;
            own_index += st.fast_own_index;
            index_again += st.fast_index_asked_again;
        }
        let nacks: u64 = self
            .rms
            .iter()
            .map(|r| r.machine.counters().nacks_sent)
            .sum();
        let _ = write!(
            s,
            "virtual {:.1} ms, {} events; datagrams sent {}, dropped {}, duplicated {}, delivered {}; \
             answered {}/{}; resubmits {resubmits}, reasks {reasks}, nacks {nacks}; \
             Wrong {} Missing {}; fast reads {}/{} ({own_index} on the front end's own index, \
             {index_again} asked for an index again); \
             replicas applied {:?}",
            self.now as f64 / MS as f64,
            self.stats.events,
            self.stats.sent,
            self.stats.dropped,
            self.stats.duplicated,
            self.stats.delivered,
            self.answers.len(),
            self.sc.requests,
            self.wrong.len(),
            self.missing.len(),
            self.fast_answered.len(),
            self.fast_started.len(),
            self.rms.iter().map(RmNode::applied_seq).collect::<Vec<_>>(),
        );
        let corrupted: usize = self.rms.iter().map(|r| r.corrupted.len()).sum();
        if corrupted > 0 {
            let _ = write!(s, "; {corrupted} corrupted replies sent");
        }
        for note in &self.notes {
            let _ = write!(s, "\n  {note}");
        }
        s
    }

    fn finish(mut self) -> Report {
        self.check();
        Report {
            seed: self.seed,
            trace: *self.trace.finalize().as_bytes(),
            summary: self.summary(),
            violations: self.violations,
        }
    }
}

/// `me`'s link for the start of it at virtual time `now`: the epoch grows with each start,
/// as a real shell's does with the clock, so peers take a restarted node for a new one.
fn link(sc: &Scenario, me: NodeId, now: u64) -> Link {
    Link::new(LinkConfig {
        max_datagram: sc.max_datagram,
        max_message: 4 << 20,
        epoch: now + 1,
        ..testing::link_config(me, "sim", sc.max_datagram)
    })
    .expect("valid link config")
}

/// Front end `j` of the scenario, by an id the test roster knows.
fn front_end_id(j: usize) -> NodeId {
    NodeId::FrontEnd(testing::FRONT_ENDS[j])
}

fn rm_config(sc: &Scenario, id: u8) -> RmConfig {
    RmConfig {
        id: ReplicaId::new(id).expect("replica managers are 1..=4"),
        timeouts: sc.timeouts,
        checkpoint_interval: sc.checkpoint_interval,
        ..RmConfig::default()
    }
}

/// The ids of the scenario's sequencer nodes, highest priority first.
fn sequencer_ids(sc: &Scenario) -> Vec<u8> {
    (1..=sc.sequencers.max(1) as u8).collect()
}

fn sequencer_config(sc: &Scenario, k: usize) -> SequencerConfig {
    SequencerConfig {
        timeouts: sc.timeouts,
        retain_max: sc.retain_max,
        me: k as u8 + 1,
        nodes: sequencer_ids(sc),
        noop: Call::noop().encode(),
        noop_reply_to: Node::Sequencer(k).addr(),
        ..SequencerConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Running seeds.
// ---------------------------------------------------------------------------------------------

/// Runs one seed; a panic inside the protocol code becomes a violation, so the seed is reported.
pub fn simulate(seed: u64, sc: Scenario) -> Report {
    match catch_unwind(AssertUnwindSafe(|| {
        let mut sim = Sim::new(seed, sc);
        sim.run();
        sim.finish()
    })) {
        Ok(report) => report,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            Report {
                seed,
                trace: [0; 32],
                violations: vec![format!("panicked: {msg}")],
                summary: String::new(),
            }
        }
    }
}

/// The seeds a test runs: `TESSERA_SIM_SEED=n` replays exactly one, `TESSERA_SIM_SEEDS=c` runs
/// c seeds from `TESSERA_SIM_FIRST_SEED` (default 1, so that a new soak can explore seeds no
/// earlier one ran), otherwise the test's default count (small, for CI).
pub fn seeds(default_count: u64) -> Vec<u64> {
    let var = |name| {
        std::env::var(name).ok().map(|v| {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
    };
    if let Some(seed) = var("TESSERA_SIM_SEED") {
        return vec![seed];
    }
    let first = var("TESSERA_SIM_FIRST_SEED").unwrap_or(1);
    let count = var("TESSERA_SIM_SEEDS").unwrap_or(default_count);
    (first..first.saturating_add(count)).collect()
}

/// Runs every seed (on all cores: runs are independent), then fails listing every failing seed
/// with the command that replays it.
pub fn run_seeds(test: &str, seeds: &[u64], scenario: impl Fn(u64) -> Scenario + Sync) {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(seeds.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut reports: Vec<(Report, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&seed) = seeds.get(k) else {
                            break;
                        };
                        let sc = scenario(seed);
                        let desc = format!("{sc:?}");
                        out.push((simulate(seed, sc), desc));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread"))
            .collect()
    });
    reports.sort_by_key(|(r, _)| r.seed);
    let mut failures = String::new();
    let mut failed = Vec::new();
    for (r, desc) in &reports {
        // Shown with `--nocapture`: what each seed exercised (and when replaying one seed, the
        // whole scenario).
        println!("{test} seed {}: {}", r.seed, r.summary);
        if reports.len() == 1 {
            println!("  scenario: {desc}");
        }
        if r.violations.is_empty() {
            continue;
        }
        failed.push(r.seed);
        let _ = writeln!(
            failures,
            "\n=== {test}: seed {seed} FAILED (replay: TESSERA_SIM_SEED={seed} cargo test -p tessera-protocol --test simulation {test})",
            seed = r.seed
        );
        for v in r.violations.iter().take(20) {
            let _ = writeln!(failures, "  - [seed {}] {v}", r.seed);
        }
        let _ = writeln!(failures, "  run: {}\n  scenario: {desc}", r.summary);
    }
    assert!(
        failed.is_empty(),
        "{test}: {} of {} seeds failed: {failed:?}{failures}",
        failed.len(),
        reports.len()
    );
}
