//! Real `tesserad` clusters on loopback for tests, the bench and the CLI's demo test, built
//! from a [`Config`] value rather than a pasted TOML template.
//!
//! [`loopback`] gives a configuration whose ports, multicast group (TTL 0, on 127.0.0.1) and
//! data directory belong to this cluster alone, so that clusters started side by side (tests
//! in parallel, a bench next to the suite) never see each other. A caller changes what it
//! needs on the value and hands it to [`LocalCluster::start`], which writes it as TOML and
//! starts every role as its own process, or all of them under one `tesserad up`. Every
//! process it started is stopped and reaped when the [`LocalCluster`] is dropped, also when a
//! test fails.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tessera_ops::config::{Config, ConfigError, FrontEndIdentity, MulticastMode};

/// The `tesserad` next to the running test or bench executable (`target/<profile>/deps/<exe>`
/// → `target/<profile>/tesserad`). `cargo test` builds it whenever it builds the workspace's
/// tests (tessera-node has integration tests of its own); `TESSERAD` overrides the path.
pub fn tesserad() -> PathBuf {
    if let Some(p) = std::env::var_os("TESSERAD") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join("tesserad");
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build --bins` (tests/run does) or set TESSERAD",
        bin.display()
    );
    bin
}

static PORTS: AtomicU32 = AtomicU32::new(0);
static CLUSTERS: AtomicU32 = AtomicU32::new(0);

/// A port free for UDP (nodes) and TCP (gateways) alike, below the kernel's ephemeral range
/// (32768 and up) so that no socket bound to port 0 (a front end, a status query) can be
/// handed it between this check and the node's bind. The start is spread by pid so that
/// processes running side by side walk different stretches.
pub fn free_port() -> u16 {
    const LOW: u32 = 14_000;
    const SPAN: u32 = 18_000;
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let n = PORTS.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + n) % SPAN) as u16;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN);
}

/// A four-replica cluster on loopback with everything its own: fresh ports for the sequencer,
/// the replica managers and the gateway, a multicast group of its own (TTL 0 on 127.0.0.1), a
/// name no other cluster shares, and its data under `dir/data` (node keys in `dir/data/keys`,
/// made when it starts). Every other key keeps its default.
pub fn loopback(dir: &Path) -> Config {
    let pid = std::process::id();
    let n = CLUSTERS.fetch_add(1, Ordering::Relaxed);
    let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let mut cfg = Config::default();
    cfg.cluster.name = format!("test-{pid}-{n}");
    cfg.cluster.data_dir = dir.join("data");
    cfg.network.mode = MulticastMode::Multicast;
    cfg.network.group = SocketAddr::from((
        [239, 255, (pid % 250 + 1) as u8, (n % 250 + 1) as u8],
        free_port(),
    ));
    cfg.network.ttl = 0;
    cfg.sequencer.address = local(free_port());
    for rm in &mut cfg.replica_manager {
        rm.address = local(free_port());
    }
    cfg.front_end.address = local(0);
    // Front end 1 is the gateway's; a test's own front end is 2 ([`as_front_end`]), and 3 is
    // for whatever else a test sends as a front end. Two processes must never share one
    // identity: each start is a new epoch, and a peer drops the older one's datagrams.
    cfg.front_end.others = [TEST_FRONT_END, SPARE_FRONT_END]
        .map(|id| FrontEndIdentity {
            id,
            public_key: None,
        })
        .to_vec();
    set_gateway(&mut cfg, local(free_port()), false);
    cfg
}

/// Lists sequencer nodes 2..=`n` in `cfg` (`[[sequencer.others]]`), each on a free loopback
/// port: a cluster with failover (one node: nothing changes).
pub fn add_sequencer_nodes(cfg: &mut Config, n: u8) {
    for id in 2..=n {
        cfg.sequencer
            .others
            .push(tessera_ops::config::SequencerNode {
                id,
                address: SocketAddr::from(([127, 0, 0, 1], free_port())),
                metrics_address: None,
                public_key: None,
            });
    }
}

/// The first of `n` consecutive free loopback ports, all taken from [`free_port`]'s
/// sequence, so that no other cluster of this process is handed one of them later (checking
/// that `p + 1` binds is not enough: the next `free_port` call would return it).
pub fn free_ports_in_a_row(n: u16) -> u16 {
    for _ in 0..1000 {
        let first = free_port();
        if (1..n).all(|k| free_port() == first.wrapping_add(k)) {
            return first;
        }
    }
    panic!("no {n} consecutive free ports");
}

/// The front end id of a test's in-process front end in a [`loopback`] cluster.
pub const TEST_FRONT_END: u32 = 2;
/// Another front end id of a [`loopback`] cluster, for a test's hand-made datagrams.
pub const SPARE_FRONT_END: u32 = 3;

/// `cfg` as front end `id` of the same cluster sees it ([`Config::as_front_end`]); `id`
/// must be one of its front ends.
pub fn as_front_end(cfg: &Config, id: u32) -> Config {
    match cfg.as_front_end(id) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Points the gateway of `cfg` at `listen`, with the matching public URL.
pub fn set_gateway(cfg: &mut Config, listen: SocketAddr, https: bool) {
    let scheme = if https { "https" } else { "http" };
    cfg.gateway.listen = listen;
    cfg.gateway.public_url = format!("{scheme}://{listen}/ws/reservation");
}

/// One process role of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sequencer node 1 (the only one unless the file lists `[[sequencer.others]]`).
    Sequencer,
    /// Sequencer node 2..=7 of `[[sequencer.others]]`.
    OtherSequencer(u8),
    Rm(u8),
}

/// Process slots: sequencer 1, the four managers, sequencer nodes 2..=7.
const SLOTS: usize = 5 + 6;

impl Role {
    /// Sequencer node `id`.
    pub fn sequencer(id: u8) -> Role {
        match id {
            1 => Role::Sequencer,
            n => Role::OtherSequencer(n),
        }
    }

    /// The roles of sequencer node 1 and the managers, in start order (further sequencer
    /// nodes start after them).
    pub const ALL: [Role; 5] = [
        Role::Sequencer,
        Role::Rm(1),
        Role::Rm(2),
        Role::Rm(3),
        Role::Rm(4),
    ];

    /// The `tesserad` subcommand and its arguments.
    pub fn args(self) -> Vec<String> {
        match self {
            Role::Sequencer => vec!["sequencer".into(), "--id".into(), "1".into()],
            Role::OtherSequencer(id) => vec!["sequencer".into(), "--id".into(), id.to_string()],
            Role::Rm(id) => vec!["rm".into(), "--id".into(), id.to_string()],
        }
    }

    fn index(self) -> usize {
        match self {
            Role::Sequencer => 0,
            Role::Rm(id) => usize::from(id),
            Role::OtherSequencer(id) => 3 + usize::from(id),
        }
    }
}

/// How a [`LocalCluster`] runs its roles.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// All roles (and the gateway) under one `tesserad up`, instead of one process per role.
    pub supervised: bool,
    /// Replica managers accept fault injection (`--chaos`).
    pub chaos: bool,
    /// Supervised only: `tesserad up --gateways N` when above 1.
    pub gateways: u16,
    /// Where the processes' stderr goes; inherited when `None`.
    pub log: Option<PathBuf>,
    /// The processes' log filter (`TESSERA_LOG`); the test run's own, or `warn`, when `None`.
    pub log_level: Option<String>,
}

/// A running cluster of `tesserad` processes; stopping and reaping them all on drop.
pub struct LocalCluster {
    pub cfg: Config,
    pub config_path: PathBuf,
    launch: Launch,
    tesserad: PathBuf,
    /// One slot per [`Role`], `None` while the role is stopped.
    procs: Vec<Option<Child>>,
    /// `Some` when the roles run under one `tesserad up`.
    supervisor: Option<Child>,
    /// Further processes on this cluster's files (gateways), reaped like the roles.
    extra: Vec<(String, Child)>,
    // Last: removed only after every process using it is gone.
    dir: tempfile::TempDir,
}

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the configuration does not load back: {0}")]
    Config(#[from] ConfigError),
    #[error("making the node keys: {0}")]
    Keys(#[from] tessera_ops::keys::KeyFileError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

impl LocalCluster {
    /// Writes `cfg` into `dir` and starts every role with `tesserad` ([`tesserad()`]).
    pub fn start(
        cfg: Config,
        dir: tempfile::TempDir,
        launch: Launch,
    ) -> Result<LocalCluster, StartError> {
        Self::start_with(tesserad(), cfg, dir, launch)
    }

    /// As [`start`](Self::start), with a given `tesserad` binary (the bench's release build).
    pub fn start_with(
        tesserad: PathBuf,
        cfg: Config,
        dir: tempfile::TempDir,
        launch: Launch,
    ) -> Result<LocalCluster, StartError> {
        let config_path = dir.path().join("cluster.toml");
        // Every node's key, as `tesserad up` makes them, also for the roles started one by
        // one; the nodes and the test's own tools read them from `cluster.key_dir`.
        tessera_ops::keys::ensure_all(&cfg, &cfg.key_dir())?;
        // What the processes read must be what the caller holds: load the file back.
        let cfg = write_config(&config_path, &cfg)?;
        let mut cluster = LocalCluster {
            cfg,
            config_path,
            launch,
            tesserad,
            procs: (0..SLOTS).map(|_| None).collect(),
            supervisor: None,
            extra: Vec::new(),
            dir,
        };
        if cluster.launch.supervised {
            let mut cmd = cluster.command(&["up"]);
            if cluster.launch.chaos {
                cmd.arg("--chaos");
            }
            if cluster.launch.gateways > 1 {
                cmd.arg("--gateways")
                    .arg(cluster.launch.gateways.to_string());
            }
            cmd.arg("--config").arg(&cluster.config_path);
            cluster.supervisor = Some(cmd.spawn().map_err(io_err("starting tesserad up"))?);
        } else {
            let others: Vec<Role> = cluster
                .cfg
                .sequencer
                .others
                .iter()
                .map(|o| Role::sequencer(o.id))
                .collect();
            for role in Role::ALL.into_iter().chain(others) {
                cluster.spawn(role)?;
            }
        }
        Ok(cluster)
    }

    /// The cluster's own directory (its configuration, data, and whatever a test puts there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `tesserad ARGS` with the log level of the test run (`TESSERA_LOG`, `warn` by default),
    /// no stdin, and stderr to the launch's log file.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.tesserad);
        cmd.args(args)
            .env(
                "TESSERA_LOG",
                self.launch.log_level.clone().unwrap_or_else(|| {
                    std::env::var("TESSERA_LOG").unwrap_or_else(|_| "warn".into())
                }),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if let Some(log) = &self.launch.log {
            if let Ok(f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
            {
                cmd.stderr(f);
            }
        }
        cmd
    }

    /// Starts `role` as its own process.
    pub fn spawn(&mut self, role: Role) -> Result<(), StartError> {
        let args = role.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.command(&args);
        if self.launch.chaos && matches!(role, Role::Rm(_)) {
            cmd.arg("--chaos");
        }
        cmd.arg("--config").arg(&self.config_path);
        let child = cmd
            .spawn()
            .map_err(io_err(format!("starting tesserad {role:?}")))?;
        self.procs[role.index()] = Some(child);
        Ok(())
    }

    /// Starts a further process on this cluster (a `tesserad gateway` on a configuration
    /// derived from the cluster's), stopped and reaped with the rest.
    pub fn spawn_extra(&mut self, name: &str, mut cmd: Command) -> Result<u32, StartError> {
        let child = cmd.spawn().map_err(io_err(format!("starting {name}")))?;
        let pid = child.id();
        self.extra.push((name.to_owned(), child));
        Ok(pid)
    }

    /// The pid of `role` when this cluster started it as its own process.
    pub fn pid(&self, role: Role) -> Option<u32> {
        self.procs[role.index()].as_ref().map(Child::id)
    }

    /// The pid of a role started by the `tesserad up` supervisor, found by its command line.
    pub fn supervised_pid(&self, role: Role) -> Option<u32> {
        let mut want = role.args();
        if self.launch.chaos && matches!(role, Role::Rm(_)) {
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

    /// (name, pid) of every process this cluster started, their replica children included.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let others = self
            .cfg
            .sequencer
            .others
            .iter()
            .map(|o| Role::sequencer(o.id));
        let all: Vec<Role> = Role::ALL.into_iter().chain(others).collect();
        let roles = all.into_iter().filter_map(|r| {
            let name = match r {
                Role::Sequencer => "sequencer".to_owned(),
                Role::OtherSequencer(id) => format!("sequencer{id}"),
                Role::Rm(id) => format!("rm{id}"),
            };
            Some((name, self.pid(r)?))
        });
        let extra = self.extra.iter().map(|(n, c)| (n.clone(), c.id()));
        let mut out = Vec::new();
        for (name, pid) in roles.chain(extra) {
            out.push((name.clone(), pid));
            for c in children(pid) {
                out.push((format!("{name}-replica"), c));
            }
        }
        out
    }

    /// `kill -9` of `role` (started as its own process), and reaps it.
    pub fn kill9(&mut self, role: Role) {
        if let Some(mut c) = self.procs[role.index()].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts `role` again after [`kill9`](Self::kill9).
    pub fn restart(&mut self, role: Role) -> Result<(), StartError> {
        assert!(
            self.procs[role.index()].is_none(),
            "{role:?} is still running"
        );
        self.spawn(role)
    }

    /// SIGSTOP: the process stays alive but silent.
    pub fn pause(&self, role: Role) {
        if let Some(pid) = self.pid(role) {
            signal(pid, "STOP");
        }
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&self, role: Role) {
        if let Some(pid) = self.pid(role) {
            signal(pid, "CONT");
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // SIGTERM first, so that a replica manager kills and reaps its replica child and a
        // supervisor takes its roles with it; SIGKILL whatever has not exited in time (a
        // replica whose manager died sees EOF on stdin and exits).
        let mut all: Vec<&mut Child> = self
            .supervisor
            .iter_mut()
            .chain(self.procs.iter_mut().flatten())
            .chain(self.extra.iter_mut().map(|(_, c)| c))
            .collect();
        for c in &all {
            // A paused process must be continued to act on SIGTERM.
            signal(c.id(), "CONT");
            signal(c.id(), "TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for c in &mut all {
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writes `cfg` to `path` as TOML and returns what `tesserad` will read from it.
pub fn write_config(path: &Path, cfg: &Config) -> Result<Config, StartError> {
    let text = cfg.to_toml_string()?;
    std::fs::write(path, text).map_err(io_err(format!("writing {}", path.display())))?;
    Ok(Config::load(Some(path))?)
}

/// `kill -SIG pid`; a process that is already gone is not an error.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Whether `pid` is a live (not zombie) process.
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

/// Direct children of `pid` (Linux; empty elsewhere).
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// A trial PKI (`tesserad dev-cert`) in `dir/pki` and a user file `dir/users` with one
/// account `name` allowed to act for `ids`; returns (cert, key, CA certificate, users) paths.
pub fn make_pki_and_user(
    tesserad: &Path,
    dir: &Path,
    name: &str,
    ids: &str,
    password: &str,
) -> Result<Pki, StartError> {
    let pki = dir.join("pki");
    let users = dir.join("users");
    let ok = Command::new(tesserad)
        .arg("dev-cert")
        .arg("--out")
        .arg(&pki)
        .stdout(Stdio::null())
        .status()
        .map_err(io_err("running tesserad dev-cert"))?;
    if !ok.success() {
        return Err(StartError::Io {
            what: "tesserad dev-cert".into(),
            source: io::Error::other(format!("exited with {ok}")),
        });
    }
    let mut add = Command::new(tesserad)
        .args(["user", "add", "--name", name, "--ids", ids, "--users"])
        .arg(&users)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(io_err("running tesserad user add"))?;
    if let Some(mut stdin) = add.stdin.take() {
        use std::io::Write as _;
        writeln!(stdin, "{password}").map_err(io_err("writing the password"))?;
    }
    let ok = add.wait().map_err(io_err("tesserad user add"))?;
    if !ok.success() {
        return Err(StartError::Io {
            what: "tesserad user add".into(),
            source: io::Error::other(format!("exited with {ok}")),
        });
    }
    Ok(Pki {
        cert: pki.join("cert.pem"),
        key: pki.join("key.pem"),
        ca: pki.join("ca.pem"),
        users,
    })
}

/// What [`make_pki_and_user`] made.
#[derive(Debug, Clone)]
pub struct Pki {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub users: PathBuf,
}

impl Pki {
    /// `cfg`'s gateway over HTTPS with this certificate, authentication required against
    /// this user file.
    pub fn secure(&self, cfg: &mut Config) {
        use tessera_ops::config::{AuthMode, AuthSection, TlsSection};
        cfg.gateway.tls = Some(TlsSection {
            cert: self.cert.clone(),
            key: self.key.clone(),
        });
        cfg.gateway.auth = Some(AuthSection {
            mode: AuthMode::Required,
            users: Some(self.users.clone()),
        });
        let listen = cfg.gateway.listen;
        set_gateway(cfg, listen, true);
    }
}
