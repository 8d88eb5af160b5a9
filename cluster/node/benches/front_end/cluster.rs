//! The replicated cluster: release-built `tesserad` processes on loopback, started by
//! tessera-testkit's `LocalCluster` from a `Config` value, and what the bench reads about
//! them from `/proc` (CPU time by process, the machine's busy time).

use super::*;

use tessera_testkit::cluster::{self, Launch, LocalCluster, Pki};

/// The cluster and the gateway processes started on it; dropping it terminates and reaps
/// every one of them.
pub(crate) struct Cluster {
    pub(crate) local: LocalCluster,
}

impl Cluster {
    pub(crate) fn start() -> anyhow::Result<Cluster> {
        Self::start_with_sequencers(1)
    }

    /// A cluster with `n` sequencer nodes (further ones on free loopback ports).
    pub(crate) fn start_with_sequencers(n: u8) -> anyhow::Result<Cluster> {
        let dir = tempfile::tempdir().context("creating a temp dir")?;
        // Own ports and group: no other cluster on this host (tests, other benches) sees us.
        let mut cfg = cluster::loopback(dir.path());
        cfg.cluster.name = format!("bench-{}", std::process::id());
        // Front ends 1 (the benchmark's), 2 (the baseline's) and 3 (the gateway) are the
        // loopback cluster's; the secure gateway and the one without metrics are a fourth and
        // a fifth identity.
        for id in [4, 5] {
            cfg.front_end
                .others
                .push(tessera_node::config::FrontEndIdentity {
                    id,
                    public_key: None,
                });
        }
        cfg.cluster.max_datagram_bytes = Some(MAX_DATAGRAM);
        cluster::add_sequencer_nodes(&mut cfg, n);
        let local = LocalCluster::start_with(
            PathBuf::from(env!("CARGO_BIN_EXE_tesserad")),
            cfg,
            dir,
            Launch::default(),
        )?;
        Ok(Cluster { local })
    }

    pub(crate) fn cfg(&self) -> &Config {
        &self.local.cfg
    }

    /// Starts a `tesserad gateway` process in front of this cluster: the cluster's own
    /// configuration plus front end id 3 (the benchmark's front end is 1, the baseline's 2)
    /// and a gateway on a free loopback TCP port. Returns the address it listens on.
    pub(crate) fn start_gateway(&mut self) -> anyhow::Result<SocketAddr> {
        self.start_gateway_with(3, None, true)
    }

    /// As [`start_gateway`](Self::start_gateway) with front end id 5 and `[gateway] metrics =
    /// false`: no metrics collected, by the gateway or its front end.
    pub(crate) fn start_gateway_without_metrics(&mut self) -> anyhow::Result<SocketAddr> {
        self.start_gateway_with(5, None, false)
    }

    /// A gateway with TLS and authentication required: a `tesserad dev-cert` pair and a user
    /// file with one service account (`*`). Returns its address and the CA's PEM.
    pub(crate) fn start_secure_gateway(&mut self) -> anyhow::Result<(SocketAddr, Vec<u8>)> {
        let pki = cluster::make_pki_and_user(
            Path::new(env!("CARGO_BIN_EXE_tesserad")),
            self.local.dir(),
            BENCH_USER,
            "*",
            BENCH_PASSWORD,
        )?;
        let addr = self.start_gateway_with(4, Some(&pki), true)?;
        let ca = std::fs::read(&pki.ca).context("reading ca.pem")?;
        Ok((addr, ca))
    }

    /// A `tesserad gateway` with front end `id`, over TLS with authentication when `pki`,
    /// collecting metrics when `metrics`.
    fn start_gateway_with(
        &mut self,
        id: u32,
        pki: Option<&Pki>,
        metrics: bool,
    ) -> anyhow::Result<SocketAddr> {
        let mut cfg = cluster::as_front_end(&self.local.cfg, id);
        cfg.gateway.metrics = metrics;
        let listen = SocketAddr::from(([127, 0, 0, 1], cluster::free_port()));
        cluster::set_gateway(&mut cfg, listen, false);
        if let Some(pki) = pki {
            pki.secure(&mut cfg);
        }
        let path = self.local.dir().join(format!("gateway-{id}.toml"));
        cluster::write_config(&path, &cfg)?;
        let mut cmd = self.local.command(&["gateway"]);
        cmd.arg("--config").arg(&path);
        self.local.spawn_extra(&format!("gateway{id}"), cmd)?;
        Ok(listen)
    }

    /// (role, pid) of every process of the cluster, replica children included.
    pub(crate) fn pids(&self) -> Vec<(String, u32)> {
        self.local.pids()
    }
}

/// CPU time all processors spent busy so far, from `/proc/stat` (Linux; `None` elsewhere).
pub(crate) fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = cpu
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3)? + f.get(4)?;
    Some(Duration::from_millis(total.saturating_sub(idle) * 10))
}

/// CPU time (user + system) of a process so far, from `/proc` (Linux; `None` elsewhere).
pub(crate) fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}
