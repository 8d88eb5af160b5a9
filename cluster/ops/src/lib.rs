//! What an operator tool needs to talk to a running Tessera cluster, and nothing of what runs
//! inside it: `tesserad` and the `tessera` CLI share it, and it links no replica
//! implementation, database or allocator (`cargo tree -p tessera-ops`).
//!
//! | module | what |
//! |---|---|
//! | [`config`] | the cluster TOML file, its defaults and checks; `deploy/local.toml` is embedded |
//! | [`transport`] | UDP sockets, multicast or unicast fan-out, loss injection for tests |
//! | [`endpoint`] | a tool's own socket and wire identity |
//! | [`status`] | the status query to every node, its rows and table |
//! | [`chaos`] | fault injection requests to `--chaos` clusters |
//! | [`keys`] | node key files: generate, read (mode 0600 only), write |
//! | [`clock`] | the wall clock |
//!
//! Errors are typed ([`config::ConfigError`], [`endpoint::EndpointError`],
//! [`chaos::ChaosError`]) so that callers match on what went wrong, not on its text.

pub mod chaos;
pub mod clock;
pub mod config;
pub mod endpoint;
pub mod keys;
pub mod status;
pub mod transport;

use std::time::Duration;

use tessera_protocol::wire::{LinkConfig, NodeId, SecretKey};

pub use config::Config;

/// Why a node could not take its place on the wire.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    KeyFile(#[from] keys::KeyFileError),
}

/// The wire settings of node `me` of `cfg`, holding `secret`, started at `epoch`.
pub fn link_config(
    cfg: &Config,
    me: NodeId,
    secret: SecretKey,
    epoch: u64,
) -> Result<LinkConfig, IdentityError> {
    Ok(LinkConfig {
        cluster: cfg.cluster_id(),
        me,
        secret,
        roster: cfg.roster()?,
        epoch,
        max_datagram: cfg.max_datagram_bytes(),
        max_message: cfg.cluster.max_message_bytes,
        reassembly_timeout: Duration::from_millis(cfg.timeouts.reassembly_ms),
    })
}

/// [`link_config`] for node `me` with its key from `key` or else its key file in
/// `cluster.key_dir`, and a new epoch: the clock in microseconds, so a restart (seconds later
/// at least) starts a greater one.
pub fn node_link_config(
    cfg: &Config,
    me: NodeId,
    key: Option<&std::path::Path>,
) -> Result<LinkConfig, IdentityError> {
    let path = key.map_or_else(|| keys::key_path(cfg, me), std::path::Path::to_path_buf);
    let secret = keys::read_secret(&path)?;
    link_config(cfg, me, secret, clock::unix_us())
}
