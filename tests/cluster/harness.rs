//! Real-process test clusters: a sequencer and four replica managers started as separate
//! `tesserad` processes on loopback, each cluster with its own ports, multicast group and
//! data directory so that tests running in parallel never see each other. Every process is
//! killed and reaped when the `TestCluster` is dropped, also when a test fails.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tessera_node::config::Config;
use tessera_node::status::{self, ClusterStatus, ReplicaState};
use tessera_node::FrontEndClient;

/// The `tesserad` binary built by `cargo build` (tests/run builds it before testing).
pub fn tesserad() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_tesserad") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test> → target/<profile>/tesserad
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("tesserad");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --bins` first (tests/run does)",
        bin.display()
    );
    bin
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Sequencer,
    Rm(u8),
}

impl Role {
    /// Every role of a cluster, in start order.
    pub const ALL: [Role; 5] = [
        Role::Sequencer,
        Role::Rm(1),
        Role::Rm(2),
        Role::Rm(3),
        Role::Rm(4),
    ];

    fn args(self) -> Vec<String> {
        match self {
            Role::Sequencer => vec!["sequencer".into()],
            Role::Rm(id) => vec!["rm".into(), "--id".into(), id.to_string()],
        }
    }
    fn index(self) -> usize {
        match self {
            Role::Sequencer => 0,
            Role::Rm(id) => usize::from(id),
        }
    }
}

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
    /// `sequencer.retain_max` and `retain_min`, when not the defaults.
    pub sequencer_retain: Option<(usize, usize)>,
    /// The gateway's public URL is `https://` (for a `[gateway.tls]` in `extra_toml`).
    pub https: bool,
    /// Give the sequencer and every replica manager a `metrics_address` (see
    /// [`TestCluster::metrics_urls`]).
    pub metrics: bool,
    pub extra_toml: String,
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
            sequencer_retain: None,
            https: false,
            metrics: false,
            extra_toml: String::new(),
        }
    }
}

static CLUSTERS: AtomicU32 = AtomicU32::new(0);

static PORTS: AtomicU32 = AtomicU32::new(0);

/// A free UDP port below the kernel's ephemeral range (32768 and up), so that no socket
/// bound to port 0 (a front end, a status query, another test's client) can be handed it
/// between our check and the node's bind. The start is spread by pid so that test processes
/// running side by side walk different stretches.
pub fn free_udp_port() -> u16 {
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let n = PORTS.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + n) % SPAN) as u16;
        // Free for UDP (nodes) and TCP (the gateway) alike.
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free UDP port in {LOW}..{}", LOW + SPAN);
}

pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub cfg: Config,
    chaos: bool,
    procs: Vec<Option<Child>>,
    /// `Some` when the roles run under one `tesserad up` supervisor instead.
    supervisor: Option<Child>,
}

impl TestCluster {
    pub fn start(opts: Options) -> TestCluster {
        let n = CLUSTERS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = tempfile::tempdir().expect("temp dir");
        let ports: Vec<u16> = (0..7).map(|_| free_udp_port()).collect();
        // The metrics listeners (TCP) of the sequencer and replica managers 1..=4.
        let metrics: Vec<String> = (0..5)
            .map(|_| {
                if opts.metrics {
                    format!("metrics_address = \"127.0.0.1:{}\"\n", free_udp_port())
                } else {
                    String::new()
                }
            })
            .collect();
        // A group per cluster: derived from the pid and a counter, inside 239.255.0.0/16.
        let group = format!("239.255.{}.{}:{}", (pid % 250) + 1, (n % 250) + 1, ports[5]);
        let mode = if opts.multicast {
            "multicast"
        } else {
            "unicast"
        };
        let text = format!(
            r#"
[cluster]
name = "test-{pid}-{n}"
secret = "test-secret-{pid}-{n}"
data_dir = "{data}"
max_datagram_bytes = {dgram}

[network]
mode = "{mode}"
group = "{group}"
interface = "127.0.0.1"
ttl = 0

[sequencer]
address = "127.0.0.1:{p0}"
{m0}{retain}

[[replica_manager]]
id = 1
implementation = "memory"
address = "127.0.0.1:{p1}"
{m1}
[[replica_manager]]
id = 2
implementation = "sqlite"
address = "127.0.0.1:{p2}"
{m2}
[[replica_manager]]
id = 3
implementation = "eventlog"
address = "127.0.0.1:{p3}"
{m3}
[[replica_manager]]
id = 4
implementation = "kv"
address = "127.0.0.1:{p4}"
{m4}
[front_end]
address = "127.0.0.1:0"

[gateway]
listen = "127.0.0.1:{gw}"
public_url = "{scheme}://127.0.0.1:{gw}/ws/reservation"

[timeouts]
request_timeout_ms = {timeout}

[faults]
drop = {drop}
duplicate = {dup}
reorder = {reorder}
max_delay_ms = 5
seed = {seed}
{extra}
"#,
            data = dir.path().join("data").display(),
            dgram = opts.max_datagram_bytes,
            p0 = ports[0],
            m0 = metrics[0],
            m1 = metrics[1],
            m2 = metrics[2],
            m3 = metrics[3],
            m4 = metrics[4],
            p1 = ports[1],
            p2 = ports[2],
            p3 = ports[3],
            p4 = ports[4],
            gw = ports[6],
            scheme = if opts.https { "https" } else { "http" },
            timeout = opts.request_timeout_ms,
            drop = opts.drop,
            dup = opts.duplicate,
            reorder = opts.reorder,
            seed = opts.seed,
            extra = opts.extra_toml,
            retain = opts
                .sequencer_retain
                .map(|(max, min)| format!("retain_max = {max}\nretain_min = {min}"))
                .unwrap_or_default(),
        );
        let config_path = dir.path().join("cluster.toml");
        std::fs::write(&config_path, &text).expect("write config");
        let cfg = Config::load(Some(&config_path)).expect("test config is valid");
        let mut cluster = TestCluster {
            dir,
            config_path,
            cfg,
            chaos: opts.chaos,
            procs: (0..5).map(|_| None).collect(),
            supervisor: None,
        };
        if opts.supervised {
            let mut cmd = Command::new(tesserad());
            cmd.arg("up").arg("--config").arg(&cluster.config_path);
            if opts.chaos {
                cmd.arg("--chaos");
            }
            let child = cmd
                .env(
                    "TESSERA_LOG",
                    std::env::var("TESSERA_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn tesserad up");
            cluster.supervisor = Some(child);
        } else {
            for role in Role::ALL {
                cluster.spawn(role);
            }
        }
        cluster
    }

    /// Pid of a role started by the `tesserad up` supervisor, found by its command line.
    pub fn supervised_pid(&self, role: Role) -> Option<u32> {
        let mut want: Vec<String> = role.args();
        if self.chaos && matches!(role, Role::Rm(_)) {
            want.push("--chaos".into());
        }
        want.push("--config".into());
        want.push(self.config_path.display().to_string());
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let mut args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .skip(1)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            // `tesserad up` gives every role a metrics port of its own choosing.
            if let Some(i) = args.iter().position(|a| a == "--metrics-address") {
                args.drain(i..(i + 2).min(args.len()));
            }
            (args == want && alive(pid)).then_some(pid)
        })
    }

    fn spawn(&mut self, role: Role) {
        let mut args = role.args();
        if self.chaos && matches!(role, Role::Rm(_)) {
            args.push("--chaos".into());
        }
        let child = Command::new(tesserad())
            .args(args)
            .arg("--config")
            .arg(&self.config_path)
            .env(
                "TESSERA_LOG",
                std::env::var("TESSERA_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn tesserad");
        self.procs[role.index()] = Some(child);
    }

    pub fn pid(&self, role: Role) -> Option<u32> {
        self.procs[role.index()].as_ref().map(Child::id)
    }

    fn signal(&self, role: Role, sig: &str) {
        signal_pid(self.pid(role).expect("role is running"), sig);
    }

    /// `kill -9` and reap.
    pub fn kill9(&mut self, role: Role) {
        self.signal(role, "KILL");
        if let Some(mut c) = self.procs[role.index()].take() {
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self, role: Role) {
        assert!(
            self.procs[role.index()].is_none(),
            "{role:?} is still running"
        );
        self.spawn(role);
    }

    /// SIGSTOP: the process stays alive but silent.
    pub fn pause(&self, role: Role) {
        self.signal(role, "STOP");
    }

    pub fn resume(&self, role: Role) {
        self.signal(role, "CONT");
    }

    pub fn front_end(&self) -> FrontEndClient {
        FrontEndClient::start(&self.cfg).expect("front end starts")
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

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(mut sup) = self.supervisor.take() {
            // A clean stop takes its roles with it; SIGKILL only if it does not come.
            signal_pid(sup.id(), "TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(sup.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = sup.kill();
            let _ = sup.wait();
        }
        for c in self.procs.iter_mut().flatten() {
            // A paused process must be continued or SIGKILL still works; SIGKILL always does.
            let _ = c.kill();
            let _ = c.wait();
        }
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
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill -{sig} {pid}");
}

/// Whether `pid` is still a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

impl TestCluster {
    /// The pid of replica `id`'s process, from status.
    pub async fn replica_pid(&self, id: u8) -> u32 {
        let s = self.status().await;
        s.replicas[usize::from(id) - 1]
            .pid
            .expect("replica manager answered with a pid")
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

    /// Every role's `GET /metrics` URL, by role name: the gateway's on its listener, then
    /// the sequencer's and each replica manager's configured `metrics_address`.
    pub fn metrics_urls(&self) -> Vec<(String, String)> {
        let mut urls = vec![(
            "gateway".to_owned(),
            format!("http://{}/metrics", self.cfg.gateway.listen),
        )];
        if let Some(a) = self.cfg.sequencer.metrics_address {
            urls.push(("sequencer".to_owned(), format!("http://{a}/metrics")));
        }
        for rm in &self.cfg.replica_manager {
            if let Some(a) = rm.metrics_address {
                urls.push((format!("rm{}", rm.id), format!("http://{a}/metrics")));
            }
        }
        urls
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

/// The Python that `tests/run` set up with zeep and lxml.
pub fn python() -> String {
    std::env::var("TESSERA_PYTHON").unwrap_or_else(|_| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
        if venv.exists() {
            venv.display().to_string()
        } else {
            "python3".into()
        }
    })
}
