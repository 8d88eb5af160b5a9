//! `tesserad`: every role of a Tessera cluster, and the tools to run and inspect one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tessera_node::config::{Config, Implementation};
use tessera_node::{replica_host, replica_manager, sequencer, shutdown_signal, status, supervisor};

// Every role allocates per datagram and per call (buffers, decoded requests, replies); glibc's
// malloc was ~9% of the gateway's CPU under load, mimalloc's thread-local free lists cost a
// fraction of that (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tesserad",
    version,
    about = "Tessera cluster daemon: a fault-tolerant, replicated ticket-reservation service"
)]
struct Cli {
    /// Cluster configuration (TOML). Default: the embedded deploy/local.toml.
    #[arg(long, global = true, value_name = "FILE", env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    /// Log lines as text (one per event; colours only on a terminal) or json (one JSON
    /// object per line, for log shippers). Which lines: TESSERA_LOG or RUST_LOG, e.g.
    /// `info`, `warn,access=info`, `debug` (default `info`).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "TESSERA_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole service on this machine (sequencer, four replica managers, SOAP gateway), restarting any role that exits.
    Up {
        /// Enable fault injection (`tesserad chaos`); refused otherwise.
        #[arg(long)]
        chaos: bool,
        /// Run this many gateways, each an independent front end: gateway k listens on
        /// `gateway.listen`'s port + k - 1 (put a load balancer in front: deploy/haproxy/).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        gateways: u16,
        /// Run this many sequencer nodes (failover: one is primary, the others take over if
        /// it fails; three survive one lost): node k listens on `sequencer.address`'s port
        /// - (k - 1). Ignored if the file lists [[sequencer.others]] (they all run).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=7))]
        sequencers: u8,
    },
    /// Run only a sequencer node.
    Sequencer {
        /// Which node: 1 is `[sequencer]`, others are `[[sequencer.others]]` ids.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=7))]
        id: u8,
        /// Serve Prometheus metrics here (default: `[sequencer] metrics_address`, if set).
        #[arg(long, value_name = "ADDR")]
        metrics_address: Option<SocketAddr>,
    },
    /// Run only the SOAP gateway (with its front end, the metrics and the dashboard).
    Gateway {
        /// Offer fault injection on the dashboard (the replica managers must run with
        /// --chaos too).
        #[arg(long)]
        chaos: bool,
        /// Be this front end of the cluster file (one of `[front_end] id` and
        /// `[[front_end.others]]`), so that several gateways can share one file.
        #[arg(long, value_name = "ID")]
        front_end_id: Option<u32>,
        /// Listen here instead of `gateway.listen`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Serve the scrape-only metrics listener here instead of `gateway.metrics_listen`.
        #[arg(long, value_name = "ADDR")]
        metrics_listen: Option<SocketAddr>,
    },
    /// Run only replica manager N (it starts its own replica process).
    Rm {
        /// Replica manager id, 1..=4.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
        id: u8,
        /// Enable fault injection for this replica.
        #[arg(long)]
        chaos: bool,
        /// Serve Prometheus metrics here (default: this manager's `metrics_address`, if set).
        #[arg(long, value_name = "ADDR")]
        metrics_address: Option<SocketAddr>,
    },
    /// Inject a fault into a replica of a cluster started with --chaos.
    Chaos {
        /// byzantine (wrong replies), crash (abrupt exit), hang (SIGSTOP), heal, corrupt-state
        /// (right replies over a damaged state: caught by checkpoint digests), or slow (the
        /// replica waits --ms before each request; heal or --ms 0 ends it).
        #[arg(value_parser = tessera_node::chaos::parse_action)]
        action: tessera_protocol::wire::ChaosAction,
        /// Replica 1..=4.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
        replica: u8,
        /// For slow: milliseconds the replica waits before each request.
        #[arg(long, value_name = "MS", default_value_t = tessera_node::chaos::DEFAULT_SLOW_MS)]
        ms: u32,
        /// The operator's secret key file (default: `operator.key` in `cluster.key_dir`,
        /// where `tesserad up` makes it).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Show every node's state.
    Status {
        /// Print JSON (keys: next_seq, replicas[id, implementation, pid, state (up, lying, voted-out, recovering, down), last_seq, consecutive_faults, replacements (the generation), last_wrong_unix_ms, digest], sequencers[id, state (primary, standby, electing, down), view, next_seq]).
        #[arg(long)]
        json: bool,
        /// How long to wait for nodes to answer, in milliseconds.
        #[arg(long, default_value_t = 1500)]
        wait_ms: u64,
        /// The operator's secret key file (default: `operator.key` in `cluster.key_dir`).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Make a secret key (DIR/NAME.key, mode 0600) and public key (DIR/NAME.pub) for every
    /// node of the configuration that has none in DIR, and print the public keys to list in
    /// the cluster file. Copy each NAME.key to its own node's `cluster.key_dir` only.
    Keygen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// (internal) A replica process, started by its replica manager; speaks frames on stdin/stdout.
    #[command(hide = true)]
    Replica {
        #[arg(long = "impl", value_parser = parse_impl)]
        implementation: Implementation,
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print the embedded default configuration (deploy/local.toml).
    DefaultConfig,
    /// Write a trial certificate authority and a certificate for localhost and 127.0.0.1
    /// signed by it: DIR/ca.pem, DIR/cert.pem, DIR/key.pem (mode 0600). Not for production.
    DevCert {
        /// Directory to write the three files into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Another name the certificate is for (DNS name or IP address; repeatable), e.g. the
        /// gateway's LAN address.
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Manage the gateway's user file ([gateway.auth] users): names, argon2id password hashes
    /// and the IDs each may act as.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is the first line of stdin (prompted without echo on a
    /// terminal), never an argument.
    Add {
        /// The user file (created, mode 0600, if missing).
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// User name: 1 to 64 of A-Z a-z 0-9 . _ @ -
        #[arg(long)]
        name: String,
        /// What the user may act as: user IDs (MTLP0001,TORA0002), `*` for every ID (service
        /// accounts), `operator` for the gateway's /status.
        #[arg(long, value_name = "ID[,ID...]")]
        ids: String,
        /// Replace an existing user's password and grants.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a user.
    Remove {
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        #[arg(long)]
        name: String,
    },
    /// List users and their grants (never the hashes).
    List {
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
    },
}

/// The password for `user add`: a no-echo prompt on a terminal, else stdin's first line.
fn read_password(name: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("password for {name}: "))
            .context("reading the password from the terminal");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn user_command(command: UserCommand) -> anyhow::Result<()> {
    use tessera_node::user_admin;
    match command {
        UserCommand::Add {
            users,
            name,
            ids,
            replace,
        } => {
            let grants = user_admin::parse_grants(&ids)?;
            let password = read_password(&name)?;
            user_admin::add(&users, &name, &password, grants, replace)?;
            println!("user {name} saved in {}", users.display());
        }
        UserCommand::Remove { users, name } => {
            user_admin::remove(&users, &name)?;
            println!("user {name} removed from {}", users.display());
        }
        UserCommand::List { users } => print!("{}", user_admin::list(&users)?),
    }
    Ok(())
}

fn parse_impl(s: &str) -> Result<Implementation, String> {
    match s {
        "memory" => Ok(Implementation::Memory),
        "sqlite" => Ok(Implementation::Sqlite),
        "eventlog" => Ok(Implementation::Eventlog),
        "kv" => Ok(Implementation::Kv),
        _ => Err(format!(
            "unknown implementation {s:?} (expected memory, sqlite, eventlog or kv)"
        )),
    }
}

/// Logs to stderr: text (colours only on a terminal: not in journald or a log file) or JSON
/// lines, filtered by `TESSERA_LOG`, else `RUST_LOG`, else `info` (the `EnvFilter` syntax:
/// `warn`, `info,access=info`, `tessera_gateway=debug`, ...).
fn init_logging(role: &str, format: LogFormat) {
    let filter = ["TESSERA_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|var| tracing_subscriber::EnvFilter::try_from_env(var).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
            .compact()
            .init(),
        // One object per line; the fields of the span a line belongs to (a call's request_id,
        // op and seq) under "span".
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    tracing::debug!(role, "logging initialised");
}

fn main() -> std::process::ExitCode {
    // No transparent huge pages in this process or the ones it starts: mimalloc asks for them
    // on its segments, and then every fresh 2 MiB page is zeroed (and compacted for) inside
    // the page fault. A checkpoint's export allocates a few fresh MiB in all four replicas at
    // the same seq, which stalled every call in flight for 40 ms or more (docs/performance.md,
    // "Checkpoints and huge pages"). Where the kernel has no such switch, nothing changes.
    let _ = nix::sys::prctl::set_thp_disable(true);
    // One clear line per error, with its causes; never a backtrace dump.
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tesserad: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Replica {
        implementation,
        dir,
    } = &cli.command
    {
        // No async runtime, no logging to stdout: stdout is the frame pipe.
        return replica_host::run_child(*implementation, dir);
    }
    let command = match cli.command {
        Command::DefaultConfig => {
            print!("{}", tessera_node::config::LOCAL_TOML);
            return Ok(());
        }
        Command::DevCert { out, hosts, force } => {
            let paths = tessera_node::dev_cert::write(&out, &hosts, force)?;
            for p in &paths {
                println!("wrote {}", p.display());
            }
            println!(
                "for trials and tests only, not for production. Gateway: [gateway.tls] cert = \
                 \"{}\", key = \"{}\"; clients trust {}",
                paths[1].display(),
                paths[2].display(),
                paths[0].display()
            );
            return Ok(());
        }
        Command::User { command } => return user_command(command),
        command => command,
    };
    let cli = Cli {
        config: cli.config,
        log_format: cli.log_format,
        command,
    };
    let log_format = cli.log_format;
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Command::Keygen { out } = &cli.command {
        let keys = tessera_node::keys::ensure_all(&cfg, out)?;
        println!(
            "keys in {} (NAME.key: secret, mode 0600, for that node's host only; NAME.pub: public)",
            out.display()
        );
        println!("list these in the cluster file:");
        print!("{}", tessera_node::keys::public_keys_toml(&keys));
        return Ok(());
    }
    if let Command::Status { key: Some(k), .. } | Command::Chaos { key: Some(k), .. } = &cli.command
    {
        cfg.operator.key = Some(k.clone());
    }
    let origin = cli.config.as_ref().map_or_else(
        || "deploy/local.toml (embedded)".to_owned(),
        |p| p.display().to_string(),
    );
    if let Command::Gateway {
        front_end_id,
        listen,
        metrics_listen,
        ..
    } = &cli.command
    {
        if let Some(id) = front_end_id {
            cfg = cfg.as_front_end(*id)?;
        }
        if let Some(a) = listen {
            cfg.gateway.listen = *a;
        }
        if let Some(a) = metrics_listen {
            cfg.gateway.metrics_listen = Some(*a);
        }
    }
    // `up --gateways N`: the further gateways' front ends join the cluster file that every
    // role is given, written beside the data (paths in it stay relative to this directory).
    let mut extra_gateways = Vec::new();
    let mut up_config = None;
    if let Command::Up {
        gateways,
        sequencers,
        ..
    } = &cli.command
    {
        extra_gateways = cfg.add_local_gateways(usize::from(*gateways))?;
        let none_listed = cfg.sequencer.others.is_empty();
        if none_listed {
            cfg.add_local_sequencers(usize::from(*sequencers))?;
        }
        if !extra_gateways.is_empty() || (none_listed && *sequencers > 1) {
            let path = cfg.cluster.data_dir.join("up-cluster.toml");
            std::fs::create_dir_all(&cfg.cluster.data_dir).with_context(|| {
                format!("creating data directory {}", cfg.cluster.data_dir.display())
            })?;
            std::fs::write(&path, cfg.to_toml_string()?)
                .with_context(|| format!("writing {}", path.display()))?;
            up_config = Some(path);
        }
    }
    if matches!(cli.command, Command::Up { .. }) {
        // Refuse before any role starts: `up` would otherwise restart a refusing gateway
        // forever. (`tesserad gateway` checks the same as it starts.)
        tessera_node::gateway::prepare(&cfg, &origin)?;
        // On first start, one key per node (and the operator's) in the key directory, so
        // that the first command of the README needs no setup; later starts keep them.
        let dir = cfg.key_dir();
        tessera_node::keys::ensure_all(&cfg, &dir)
            .with_context(|| format!("making the node keys in {}", dir.display()))?;
        cfg.roster()?;
    }
    // The sequencer and a replica manager are one event loop each (plus the sequencer's log
    // thread): a single-threaded runtime runs them without handing every datagram and replica
    // answer to a second worker thread, which on a small machine shared by the whole cluster
    // costs more CPU than it saves (measured: about 40% less CPU per request in each).
    let mut builder = match cli.command {
        Command::Sequencer { .. } | Command::Rm { .. } => {
            tokio::runtime::Builder::new_current_thread()
        }
        // The same holds for the gateway on a shared machine (measured: ~20% less CPU per
        // call); on a host of its own, `gateway.threads` lets it use more cores.
        Command::Gateway { .. } if cfg.gateway.threads <= 1 => {
            tokio::runtime::Builder::new_current_thread()
        }
        Command::Gateway { .. } => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(cfg.gateway.threads);
            b
        }
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Up { chaos, .. } => {
                init_logging("up", log_format);
                let options = supervisor::Options {
                    config: up_config.or(cli.config.clone()),
                    chaos,
                    json_logs: log_format == LogFormat::Json,
                    gateways: extra_gateways,
                };
                supervisor::run(&cfg, options, shutdown_signal()).await
            }
            Command::Sequencer {
                id,
                metrics_address,
            } => {
                init_logging("sequencer", log_format);
                supervisor::follow_supervisor();
                let configured = cfg.sequencer_node(id).and_then(|(_, m)| m);
                let metrics = metrics_address.or(configured);
                sequencer::run(cfg, id, metrics, shutdown_signal()).await
            }
            Command::Gateway { chaos, .. } => {
                init_logging("gateway", log_format);
                supervisor::follow_supervisor();
                tessera_node::gateway::run(cfg, &origin, chaos, shutdown_signal()).await
            }
            Command::Rm {
                id,
                chaos,
                metrics_address,
            } => {
                init_logging("rm", log_format);
                supervisor::follow_supervisor();
                let metrics = metrics_address
                    .or_else(|| cfg.replica_manager(id).and_then(|r| r.metrics_address));
                replica_manager::run(cfg, id, chaos, metrics, shutdown_signal()).await
            }
            Command::Chaos {
                action,
                replica,
                ms,
                ..
            } => {
                let action = match action {
                    tessera_protocol::wire::ChaosAction::Slow { .. } => {
                        tessera_protocol::wire::ChaosAction::Slow { ms }
                    }
                    other => other,
                };
                let answer =
                    tessera_node::chaos::send(&cfg, replica, action, Duration::from_secs(3))
                        .await?;
                println!("{answer}");
                Ok(())
            }
            Command::Status { json, wait_ms, .. } => {
                let s = status::query(&cfg, Duration::from_millis(wait_ms)).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    print!("{}", status::table(&s));
                }
                Ok(())
            }
            Command::Replica { .. }
            | Command::DefaultConfig
            | Command::DevCert { .. }
            | Command::Keygen { .. }
            | Command::User { .. } => Ok(()),
        }
    })
}
