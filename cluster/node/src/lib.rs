//! Tessera's cluster nodes: thin tokio shells around the IO-free protocol machines of
//! `tessera-protocol`, plus what only a real process has: configuration, sockets, the
//! sequencer's durable log, replica child processes and supervision.
//!
//! | module | what |
//! |---|---|
//! | [`config`] | the cluster TOML file; `deploy/local.toml` is embedded as the default |
//! | [`transport`] | UDP sockets, multicast or unicast fan-out, loss injection for tests |
//! | [`sequencer`] | the sequencer node and its durable log |
//! | [`replica_manager`] | the replica manager node |
//! | [`replica_host`] | the replica child process and the pipe protocol to it |
//! | [`front_end`] | the front-end core as a library: `FrontEndClient::submit` |
//! | [`gateway`] | `tesserad gateway`: the SOAP endpoint in front of the front end |
//! | [`status`] | `tesserad status`: asks every node over the wire |
//! | [`metrics`] | Prometheus metrics of every role, and the `/metrics` listener |
//! | [`chaos`] | fault injection messages for `--chaos` clusters |
//! | [`supervisor`] | `tesserad up`: starts and restarts every role on one machine |
//! | [`dev_cert`] | `tesserad dev-cert`: a trial CA and localhost certificate |
//! | [`user_admin`] | `tesserad user add\|remove\|list`: the gateway's user file |
//! | [`watch`] | the cluster as the gateway's dashboard shows it: status and a timeline |

pub mod chaos;
pub mod clock;
pub mod config;
pub mod dev_cert;
pub mod front_end;
pub mod gateway;
pub mod metrics;
pub mod replica_host;
pub mod replica_manager;
pub mod sequencer;
pub mod status;
pub mod supervisor;
pub mod transport;
pub mod user_admin;
pub mod watch;

use std::time::{Duration, Instant};

use tessera_protocol::wire::{LinkConfig, NodeId};

pub use config::Config;
pub use front_end::{Answer, FrontEndClient, FrontEndError};

/// The wire settings every node of `cfg` shares.
pub fn link_config(cfg: &Config, me: NodeId) -> LinkConfig {
    LinkConfig {
        cluster: cfg.cluster_id(),
        key: cfg.key(),
        me,
        max_datagram: cfg.cluster.max_datagram_bytes,
        max_message: cfg.cluster.max_message_bytes,
        reassembly_timeout: Duration::from_millis(cfg.timeouts.reassembly_ms),
    }
}

/// Sleeps until `deadline`, or forever if there is none.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// A watch channel that turns true on SIGINT or SIGTERM.
pub fn shutdown_signal() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = tx.send(true);
    });
    rx
}
