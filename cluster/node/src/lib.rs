//! Tessera's cluster nodes: thin tokio shells around the IO-free protocol machines of
//! `tessera-protocol`, plus what only a real process has: configuration, sockets, the
//! sequencer's durable log, replica child processes and supervision.
//!
//! | module | what |
//! |---|---|
//! | [`sequencer`] | the sequencer node and its durable log |
//! | [`replica_manager`] | the replica manager node |
//! | [`replica_host`] | the replica child process and the pipe protocol to it |
//! | [`front_end`] | the front-end core as a library: `FrontEndClient::submit` |
//! | [`gateway`] | `tesserad gateway`: the SOAP endpoint in front of the front end |
//! | [`supervisor`] | `tesserad up`: starts and restarts every role on one machine |
//! | [`dev_cert`] | `tesserad dev-cert`: a trial CA and localhost certificate |
//! | [`user_admin`] | `tesserad user add\|remove\|list`: the gateway's user file |
//! | [`metrics`] | Prometheus metrics of every role, and the `/metrics` listener |
//! | [`watch`] | the cluster as the gateway's dashboard shows it: status and a timeline |
//!
//! What a tool outside the cluster needs as well lives in `tessera-ops` and is re-exported
//! here under its old paths: [`config`] (the cluster file), [`transport`] (UDP sockets, loss
//! injection), [`status`] (`tesserad status`), [`chaos`] (fault injection requests),
//! [`clock`] and [`link_config`].

pub mod dev_cert;
pub mod disk;
pub mod front_end;
pub mod gateway;
pub mod metrics;
pub mod replica_host;
pub mod replica_manager;
pub mod sequencer;
pub mod supervisor;
pub mod user_admin;
pub mod watch;

pub use tessera_ops::{
    chaos, clock, config, keys, link_config, node_link_config, status, transport, Config,
};

use std::time::Instant;

pub use front_end::{FrontEndClient, FrontEndError};
pub use tessera_types::Answer;

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
