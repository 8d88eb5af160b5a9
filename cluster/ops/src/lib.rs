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
//! | [`clock`] | the wall clock |
//!
//! Errors are typed ([`config::ConfigError`], [`endpoint::EndpointError`],
//! [`chaos::ChaosError`]) so that callers match on what went wrong, not on its text.

pub mod chaos;
pub mod clock;
pub mod config;
pub mod endpoint;
pub mod status;
pub mod transport;

use std::time::Duration;

use tessera_protocol::wire::{LinkConfig, NodeId};

pub use config::Config;

/// The wire settings every node of `cfg` shares.
pub fn link_config(cfg: &Config, me: NodeId) -> LinkConfig {
    LinkConfig {
        cluster: cfg.cluster_id(),
        key: cfg.key(),
        me,
        max_datagram: cfg.max_datagram_bytes(),
        max_message: cfg.cluster.max_message_bytes,
        reassembly_timeout: Duration::from_millis(cfg.timeouts.reassembly_ms),
    }
}
