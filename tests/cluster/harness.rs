//! Real-process test clusters: a [`tessera_testkit::cluster::LocalCluster`] (a sequencer and
//! four replica managers as separate `tesserad` processes on loopback, each cluster with its
//! own ports, multicast group and data directory, every process reaped on drop) with what the
//! suites ask of it: a front end, status polling, waits for convergence and replacement.

// Each suite uses a part of the harness.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use tessera_node::config::{Config, RecoverySection};
use tessera_node::status::{self, ClusterStatus, ReplicaState};
use tessera_node::FrontEndClient;
use tessera_testkit::cluster::{self, Launch, LocalCluster};

pub use tessera_testkit::cluster::{alive, tesserad, Role};

/// What differs between test clusters.
#[derive(Debug, Clone)]
pub struct Options {
    pub multicast: bool,
    /// Loss injection on every link (`[faults]`), applied by every node including the
    /// in-process front end.
    pub drop: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub seed: u64,
    pub request_timeout_ms: u64,
    pub max_datagram_bytes: usize,
    /// Run every role under one `tesserad up` instead of as separate processes.
    pub supervised: bool,
    /// Start replica managers with `--chaos` (fault injection).
    pub chaos: bool,
    /// Supervised only: this many gateways (`tesserad up --gateways N`).
    pub gateways: u16,
    /// `sequencer.retain_max` and `retain_min`, when not the defaults.
    pub sequencer_retain: Option<(usize, usize)>,
    /// `[recovery]`, when not the defaults.
    pub recovery: Option<RecoverySection>,
    /// The processes' stderr into this file, at this log filter (both: see [`Launch`]).
    pub log: Option<std::path::PathBuf>,
    pub log_level: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            multicast: true,
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            seed: 1,
            request_timeout_ms: 10_000,
            max_datagram_bytes: 8192,
            supervised: false,
            chaos: false,
            gateways: 1,
            sequencer_retain: None,
            recovery: None,
            log: None,
            log_level: None,
        }
    }
}

impl Options {
    /// The cluster's configuration: a fresh loopback one ([`cluster::loopback`]) with these
    /// options applied.
    pub fn config(&self, dir: &std::path::Path) -> Config {
        use tessera_node::config::MulticastMode;
        let mut cfg = cluster::loopback(dir);
        cfg.cluster.max_datagram_bytes = Some(self.max_datagram_bytes);
        if !self.multicast {
            cfg.network.mode = MulticastMode::Unicast;
        }
        if let Some((max, min)) = self.sequencer_retain {
            cfg.sequencer.retain_max = max;
            cfg.sequencer.retain_min = min;
        }
        cfg.timeouts.request_timeout_ms = self.request_timeout_ms;
        cfg.faults.drop = self.drop;
        cfg.faults.duplicate = self.duplicate;
        cfg.faults.reorder = self.reorder;
        cfg.faults.max_delay_ms = 5;
        cfg.faults.seed = self.seed;
        if let Some(recovery) = &self.recovery {
            cfg.recovery = recovery.clone();
        }
        cfg
    }
}

/// Small checkpoints and a short hang threshold, so that recovery scenarios take seconds;
/// `checkpoint_interval` as given.
pub fn quick_recovery(checkpoint_interval: u64) -> Option<RecoverySection> {
    Some(RecoverySection {
        checkpoint_interval,
        hang_threshold_ms: 700,
        retry_ms: 100,
    })
}

pub struct TestCluster {
    local: LocalCluster,
}

impl Deref for TestCluster {
    type Target = LocalCluster;
    fn deref(&self) -> &LocalCluster {
        &self.local
    }
}

impl DerefMut for TestCluster {
    fn deref_mut(&mut self) -> &mut LocalCluster {
        &mut self.local
    }
}

impl TestCluster {
    pub fn start(opts: Options) -> TestCluster {
        Self::start_with(opts, |_| {})
    }

    /// As [`start`](Self::start), with `configure` applied to the configuration last.
    pub fn start_with(opts: Options, configure: impl FnOnce(&mut Config)) -> TestCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cfg = opts.config(dir.path());
        configure(&mut cfg);
        let launch = Launch {
            supervised: opts.supervised,
            chaos: opts.chaos,
            gateways: opts.gateways,
            log: opts.log.clone(),
            log_level: opts.log_level.clone(),
        };
        let local = LocalCluster::start(cfg, dir, launch).expect("test cluster starts");
        TestCluster { local }
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self, role: Role) {
        assert!(self.pid(role).is_some(), "{role:?} is not running");
        self.local.kill9(role);
    }

    pub fn restart(&mut self, role: Role) {
        self.local.restart(role).expect("tesserad restarts");
    }

    /// A front end that orders every call, reads too (`[front_end] fast_reads = false`): its
    /// answers take the seqs 1..=n, one each, which the checks of ordering rely on.
    pub fn front_end(&self) -> FrontEndClient {
        self.front_end_reading(false)
    }

    /// A front end as configured by default, answering reads on the fast path
    /// (`docs/protocol.md`, "Fast reads"): a fast read's revision is the seq of a state it
    /// read, not one of its own; check such histories with `tessera_tests::history`.
    pub fn front_end_with_fast_reads(&self) -> FrontEndClient {
        self.front_end_reading(true)
    }

    /// The cluster's only front end, with fast reads (start the cluster with
    /// [`only_one_front_end`]): it takes its reads' index from what it knows committed
    /// once the primary has given it one (`docs/protocol.md`, "Fast reads").
    pub fn only_front_end_with_fast_reads(&self) -> FrontEndClient {
        assert!(
            self.cfg.front_end.others.is_empty(),
            "start the cluster with only_one_front_end"
        );
        start_front_end(self.cfg.clone(), true)
    }

    fn front_end_reading(&self, fast_reads: bool) -> FrontEndClient {
        let cfg = tessera_testkit::cluster::as_front_end(
            &self.cfg,
            tessera_testkit::cluster::TEST_FRONT_END,
        );
        start_front_end(cfg, fast_reads)
    }

    pub async fn status(&self) -> ClusterStatus {
        status::query(&self.cfg, Duration::from_millis(500))
            .await
            .expect("status query")
    }

    /// Polls status until `done` holds or `within` passes; returns the last status seen.
    pub async fn wait_status(
        &self,
        within: Duration,
        done: impl Fn(&ClusterStatus) -> bool,
    ) -> Result<ClusterStatus, ClusterStatus> {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status().await;
            if done(&s) {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(s);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every replica reports `last_seq == seq` and all digests are equal.
    pub async fn wait_converged(&self, seq: u64, within: Duration) -> ClusterStatus {
        match self
            .wait_status(within, |s| {
                let first = s.replicas[0].digest.clone();
                first.is_some()
                    && s.replicas
                        .iter()
                        .all(|r| r.last_seq == Some(seq) && r.digest == first)
            })
            .await
        {
            Ok(s) => s,
            Err(s) => panic!("replicas did not converge on seq {seq} within {within:?}: {s:#?}"),
        }
    }

    /// Waits until every replica is up at the sequencer's last seq, on one digest: for when
    /// the last seq is not known in advance (requests in flight at a crash).
    pub async fn wait_converged_at_high(&self, within: Duration) -> ClusterStatus {
        match self.wait_status(within, whole).await {
            Ok(s) => s,
            Err(s) => panic!("replicas did not converge within {within:?}: {s:#?}"),
        }
    }

    pub fn sequencer_addr(&self) -> SocketAddr {
        self.cfg.sequencer.address
    }
}

/// Every replica up at the sequencer's last seq, on one digest.
pub fn whole(s: &ClusterStatus) -> bool {
    let first = s.replicas[0].digest.clone();
    s.next_seq.is_some_and(|next| {
        first.is_some()
            && s.replicas.iter().all(|r| {
                r.state == ReplicaState::Up && r.last_seq == Some(next - 1) && r.digest == first
            })
    })
}

/// Polls `cond` every 20 ms until it holds or `within` passes.
pub async fn eventually(within: Duration, cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

impl TestCluster {
    /// Datagrams each node dropped as undecodable or unauthenticated, by node name.
    pub async fn wire_drops(&self) -> Vec<(String, u64)> {
        let s = self.status().await;
        let mut out = vec![(
            "sequencer".to_string(),
            s.sequencer_dropped.expect("sequencer answered"),
        )];
        for r in &s.replicas {
            out.push((
                format!("rm{}", r.id),
                r.dropped.expect("replica manager answered"),
            ));
        }
        out
    }
}

/// `kill -SIG pid`, for processes the cluster started itself (replica children).
pub fn signal_pid(pid: u32, sig: &str) {
    assert!(alive(pid), "kill -{sig} {pid}: no such process");
    cluster::signal(pid, sig);
}

impl TestCluster {
    /// The pid of replica `id`'s process, from status. One status round may miss a manager's
    /// answer (a datagram lost, or late on a loaded machine), so this polls for up to 10 s.
    pub async fn replica_pid(&self, id: u8) -> u32 {
        let i = usize::from(id) - 1;
        match self
            .wait_status(Duration::from_secs(10), |s| s.replicas[i].pid.is_some())
            .await
        {
            Ok(s) => s.replicas[i].pid.unwrap_or_default(),
            Err(s) => panic!("replica manager {id} reported no replica pid within 10 s: {s:#?}"),
        }
    }

    /// Waits until replica `id` reports at least `n` replacements.
    pub async fn wait_replacements(&self, id: u8, n: u32, within: Duration) -> ClusterStatus {
        let i = usize::from(id) - 1;
        match self
            .wait_status(within, |s| {
                s.replicas[i].replacements.is_some_and(|r| r >= n)
            })
            .await
        {
            Ok(s) => s,
            Err(s) => panic!("replica {id} not replaced {n} time(s) within {within:?}: {s:#?}"),
        }
    }

    pub async fn chaos(&self, replica: u8, action: tessera_protocol::wire::ChaosAction) -> String {
        tessera_node::chaos::send(&self.cfg, replica, action, Duration::from_secs(5))
            .await
            .expect("chaos accepted")
    }
}

impl TestCluster {
    /// The SOAP endpoint of the gateway role (started by `tesserad up`).
    pub fn endpoint(&self) -> String {
        self.cfg.gateway.public_url.clone()
    }

    /// Waits until the gateway answers `/health`.
    pub async fn wait_gateway(&self, within: Duration) {
        let addr = self.cfg.gateway.listen;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(addr).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway at {addr} did not come up within {within:?}");
    }
}

pub use tessera_testkit::python;

/// A front end of `cfg`'s cluster, answering reads on the fast path or not.
fn start_front_end(mut cfg: Config, fast_reads: bool) -> FrontEndClient {
    cfg.front_end.fast_reads = fast_reads;
    // Every read of the fast-read tests' concurrent workloads takes the fast path.
    cfg.front_end.fast_reads_max_in_flight = u32::MAX;
    FrontEndClient::start(&cfg).expect("front end starts")
}

/// For [`TestCluster::start_with`]: the cluster file lists one front end, which the test runs
/// ([`TestCluster::only_front_end_with_fast_reads`]).
pub fn only_one_front_end(cfg: &mut Config) {
    cfg.front_end.others.clear();
}
