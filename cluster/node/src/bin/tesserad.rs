//! `tesserad`: every role of a Tessera cluster, and the tools to run and inspect one.

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole service on this machine (sequencer, four replica managers, SOAP gateway), restarting any role that exits.
    Up {
        /// Enable fault injection (`tesserad chaos`); refused otherwise.
        #[arg(long)]
        chaos: bool,
    },
    /// Run only the sequencer.
    Sequencer,
    /// Run only the SOAP gateway (with its front end).
    Gateway,
    /// Run only replica manager N (it starts its own replica process).
    Rm {
        /// Replica manager id, 1..=4.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
        id: u8,
        /// Enable fault injection for this replica.
        #[arg(long)]
        chaos: bool,
    },
    /// Inject a fault into a replica of a cluster started with --chaos.
    Chaos {
        /// byzantine (wrong replies), crash (abrupt exit), hang (SIGSTOP), heal, or corrupt-state
        /// (right replies over a damaged state: caught by checkpoint digests).
        #[arg(value_parser = tessera_node::chaos::parse_action)]
        action: tessera_protocol::wire::ChaosAction,
        /// Replica 1..=4.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
        replica: u8,
    },
    /// Show every node's state.
    Status {
        /// Print JSON (keys: next_seq, replicas[id, implementation, pid, state (up, lying, voted-out, recovering, down), last_seq, consecutive_faults, replacements (the generation), last_wrong_unix_ms, digest]).
        #[arg(long)]
        json: bool,
        /// How long to wait for nodes to answer, in milliseconds.
        #[arg(long, default_value_t = 1500)]
        wait_ms: u64,
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

fn init_logging(role: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .init();
    tracing::debug!(role, "logging initialised");
}

fn main() -> std::process::ExitCode {
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
    if let Command::DefaultConfig = cli.command {
        print!("{}", tessera_node::config::LOCAL_TOML);
        return Ok(());
    }
    let cfg = Config::load(cli.config.as_deref())?;
    // The sequencer and a replica manager are one event loop each (plus the sequencer's log
    // thread): a single-threaded runtime runs them without handing every datagram and replica
    // answer to a second worker thread, which on a small machine shared by the whole cluster
    // costs more CPU than it saves (measured: about 40% less CPU per request in each).
    let mut builder = match cli.command {
        Command::Sequencer | Command::Rm { .. } => tokio::runtime::Builder::new_current_thread(),
        // The same holds for the gateway on a shared machine (measured: ~20% less CPU per
        // call); on a host of its own, `gateway.threads` lets it use more cores.
        Command::Gateway if cfg.gateway.threads <= 1 => {
            tokio::runtime::Builder::new_current_thread()
        }
        Command::Gateway => {
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
            Command::Up { chaos } => {
                init_logging("up");
                supervisor::run(&cfg, cli.config.clone(), chaos, shutdown_signal()).await
            }
            Command::Sequencer => {
                init_logging("sequencer");
                supervisor::follow_supervisor();
                sequencer::run(cfg, shutdown_signal()).await
            }
            Command::Gateway => {
                init_logging("gateway");
                supervisor::follow_supervisor();
                tessera_node::gateway::run(cfg, shutdown_signal()).await
            }
            Command::Rm { id, chaos } => {
                init_logging("rm");
                supervisor::follow_supervisor();
                replica_manager::run(cfg, id, chaos, shutdown_signal()).await
            }
            Command::Chaos { action, replica } => {
                let answer =
                    tessera_node::chaos::send(&cfg, replica, action, Duration::from_secs(3))
                        .await?;
                println!("{answer}");
                Ok(())
            }
            Command::Status { json, wait_ms } => {
                let s = status::query(&cfg, Duration::from_millis(wait_ms)).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    print!("{}", status::table(&s));
                }
                Ok(())
            }
            Command::Replica { .. } | Command::DefaultConfig => Ok(()),
        }
    })
}
