//! `tesserad up`: runs every role of a cluster on this machine as child processes of one
//! supervisor, restarts any that exits, and stops them all on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::config::{Config, LocalGateway};

/// A line on stdout. A reader that went away (`tesserad up | head`) must not make the
/// supervisor panic, taking the whole cluster down with it.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// One supervised role.
#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub args: Vec<String>,
    pub address: String,
    /// Where its metrics are scraped (`GET /metrics`), if it serves them.
    pub metrics: Option<String>,
}

/// How `tesserad up` runs the roles.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The configuration file every role is given (`None`: the embedded default).
    pub config: Option<PathBuf>,
    /// Fault injection: the managers honour it, the dashboard offers it.
    pub chaos: bool,
    /// Every role logs JSON lines.
    pub json_logs: bool,
    /// Gateways beyond the first (`--gateways N`), already listed in the configuration.
    pub gateways: Vec<LocalGateway>,
}

/// A free TCP port on loopback, for a role without a configured metrics address. (It is
/// released before the role binds it; should another process take it meanwhile, the role logs
/// that and runs without metrics.)
fn free_loopback() -> Option<SocketAddr> {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .ok()
}

/// The gateway's URL for `path` (`/dashboard`, `/metrics`), from its public URL.
pub fn gateway_url(cfg: &Config, path: &str) -> String {
    let url = &cfg.gateway.public_url;
    let host_end = url
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| url[start..].find('/').map(|j| start + j))
        .unwrap_or(url.len());
    format!("{}{path}", &url[..host_end])
}

/// The roles `tesserad up` runs for `cfg`. Each role gets a metrics address: its configured
/// one, or a free loopback port.
pub fn roles(cfg: &Config, chaos: bool, gateways: &[LocalGateway]) -> Vec<Role> {
    let metrics_args = |configured: Option<SocketAddr>| {
        let address = configured.or_else(free_loopback);
        let args = address
            .map(|a| vec!["--metrics-address".to_owned(), a.to_string()])
            .unwrap_or_default();
        (args, address.map(|a| format!("http://{a}/metrics")))
    };
    let mut roles = Vec::new();
    let several = cfg.sequencer_nodes().len() > 1;
    for (id, address) in cfg.sequencer_nodes() {
        let configured = cfg.sequencer_node(id).and_then(|(_, m)| m);
        let (args, metrics) = metrics_args(configured);
        roles.push(Role {
            name: if several {
                format!("sequencer {id}")
            } else {
                "sequencer".into()
            },
            args: ["sequencer", "--id", &id.to_string()]
                .into_iter()
                .map(String::from)
                .chain(args)
                .collect(),
            address: address.to_string(),
            metrics,
        });
    }
    let gateway_metrics = |listen: SocketAddr, metrics_listen: Option<SocketAddr>| {
        cfg.gateway.metrics.then(|| match metrics_listen {
            Some(a) => format!("http://{a}/metrics"),
            None if gateways.is_empty() => gateway_url(cfg, "/metrics"),
            None => format!("http://{listen}/metrics"),
        })
    };
    roles.push(Role {
        name: if gateways.is_empty() {
            "gateway".into()
        } else {
            format!("gateway (fe {})", cfg.front_end.id)
        },
        args: std::iter::once("gateway")
            .chain(chaos.then_some("--chaos"))
            .map(String::from)
            .collect(),
        address: format!("{} (SOAP {})", cfg.gateway.listen, cfg.gateway.public_url),
        metrics: gateway_metrics(cfg.gateway.listen, cfg.gateway.metrics_listen),
    });
    for g in gateways {
        let mut args = vec![
            "gateway".to_owned(),
            "--front-end-id".to_owned(),
            g.front_end.to_string(),
            "--listen".to_owned(),
            g.listen.to_string(),
        ];
        if let Some(m) = g.metrics_listen {
            args.extend(["--metrics-listen".to_owned(), m.to_string()]);
        }
        if chaos {
            args.push("--chaos".to_owned());
        }
        roles.push(Role {
            name: format!("gateway (fe {})", g.front_end),
            args,
            address: g.listen.to_string(),
            metrics: gateway_metrics(g.listen, g.metrics_listen),
        });
    }
    for rm in &cfg.replica_manager {
        let (args, metrics) = metrics_args(rm.metrics_address);
        roles.push(Role {
            name: format!("rm{} ({})", rm.id, rm.implementation.as_str()),
            args: ["rm", "--id", &rm.id.to_string()]
                .into_iter()
                .chain(chaos.then_some("--chaos"))
                .map(String::from)
                .chain(args)
                .collect(),
            address: rm.address.to_string(),
            metrics,
        });
    }
    roles
}

struct Running {
    role: Role,
    child: Option<Child>,
    started: Instant,
    backoff: Duration,
    restart_at: Option<Instant>,
    restarts: u32,
}

fn spawn(exe: &PathBuf, options: &Options, role: &Role) -> std::io::Result<Child> {
    let mut cmd = Command::new(exe);
    cmd.args(&role.args).env(SUPERVISED_ENV, "1");
    if let Some(c) = &options.config {
        cmd.arg("--config").arg(c);
    }
    if options.json_logs {
        cmd.env("TESSERA_LOG_FORMAT", "json");
    }
    cmd.stdin(Stdio::null()).kill_on_drop(true).spawn()
}

/// Set for roles started by `tesserad up`: they ask the kernel to stop them if the
/// supervisor dies, so a killed supervisor leaves no orphaned cluster behind.
pub const SUPERVISED_ENV: &str = "TESSERA_SUPERVISED";

/// Called by a role at start: if supervised, die with the supervisor (Linux).
pub fn follow_supervisor() {
    if std::env::var_os(SUPERVISED_ENV).is_some() {
        if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM) {
            tracing::warn!(error = %e, "cannot tie this role's life to the supervisor");
        }
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A role that ran this long before exiting is restarted without delay.
const STABLE: Duration = Duration::from_secs(10);

pub async fn run(
    cfg: &Config,
    options: Options,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let chaos = options.chaos;
    let exe = std::env::current_exe().context("locating the tesserad binary")?;
    std::fs::create_dir_all(&cfg.cluster.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.cluster.data_dir.display()))?;
    let mut running = Vec::new();
    say!(
        "tessera cluster {:?} (data in {})",
        cfg.cluster.name,
        cfg.cluster.data_dir.display()
    );
    if chaos {
        say!("  fault injection enabled (tesserad chaos byzantine|crash|hang|heal --replica N)");
    }
    if !options.gateways.is_empty() {
        say!(
            "  {} gateways, each its own front end; clients reach them through a load balancer \
             (deploy/haproxy/) at gateway.public_url ({})",
            options.gateways.len() + 1,
            cfg.gateway.public_url
        );
    }
    for role in roles(cfg, chaos, &options.gateways) {
        let child =
            spawn(&exe, &options, &role).with_context(|| format!("starting {}", role.name))?;
        say!(
            "  {:<16} pid {:<8} {}",
            role.name,
            child.id().unwrap_or(0),
            role.address
        );
        running.push(Running {
            role,
            child: Some(child),
            started: Instant::now(),
            backoff: MIN_BACKOFF,
            restart_at: None,
            restarts: 0,
        });
    }
    match cfg.network.mode {
        crate::config::MulticastMode::Multicast => say!(
            "  multicast group {} on {} (ttl {})",
            cfg.network.group,
            cfg.network.interface,
            cfg.network.ttl
        ),
        crate::config::MulticastMode::Unicast => {
            say!("  unicast fan-out to the replica managers")
        }
    }
    say!("metrics (Prometheus text format):");
    for r in &running {
        if let Some(m) = &r.role.metrics {
            say!("  {:<16} {m}", r.role.name);
        }
    }
    let auth = if cfg.gateway_auth_mode() == crate::config::AuthMode::Required {
        " (operator grant required)"
    } else {
        ""
    };
    say!(
        "dashboard: {}{auth}{}",
        gateway_url(cfg, "/dashboard"),
        if chaos {
            " (with fault injection buttons)"
        } else {
            ""
        }
    );
    say!("Ctrl-C stops the cluster.");

    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        let now = Instant::now();
        for r in &mut running {
            if let Some(child) = &mut r.child {
                if let Ok(Some(status)) = child.try_wait() {
                    let ran = now - r.started;
                    if ran >= STABLE {
                        r.backoff = MIN_BACKOFF;
                    }
                    eprintln!(
                        "tesserad: {} exited ({status}); restarting in {:?}",
                        r.role.name, r.backoff
                    );
                    r.child = None;
                    r.restart_at = Some(now + r.backoff);
                    r.backoff = (r.backoff * 2).min(MAX_BACKOFF);
                }
            }
            if r.child.is_none() && r.restart_at.is_some_and(|t| now >= t) {
                match spawn(&exe, &options, &r.role) {
                    Ok(child) => {
                        r.restarts += 1;
                        eprintln!(
                            "tesserad: {} restarted as pid {} (restart {})",
                            r.role.name,
                            child.id().unwrap_or(0),
                            r.restarts
                        );
                        r.child = Some(child);
                        r.started = now;
                        r.restart_at = None;
                    }
                    Err(e) => {
                        eprintln!("tesserad: cannot restart {}: {e}", r.role.name);
                        r.restart_at = Some(now + r.backoff);
                    }
                }
            }
        }
    }

    say!("stopping...");
    for r in &running {
        if let Some(pid) = r.child.as_ref().and_then(Child::id) {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for r in &mut running {
        if let Some(child) = &mut r.child {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
    say!("stopped.");
    Ok(())
}
