//! Tessera's cluster protocols, written as plain state machines in the style of quinn-proto:
//! datagrams and timer ticks go in (each call takes `now`), datagrams and actions come out
//! (`poll_transmit`, `poll_timeout`, `poll_event`). Nothing here opens a socket, reads a
//! clock or spawns a thread, so a seeded simulation can drive the real protocol code and a
//! failing seed replays exactly. The tokio shells live in `tessera-node`.
//!
//! `docs/protocol.md` describes what the machines say to each other and why.

pub mod front_end;
pub mod replica_manager;
pub mod sequencer;
mod timeouts;
pub mod verdicts;
pub mod wire;

use std::net::SocketAddr;

pub use timeouts::Timeouts;

/// Number of replicas (and replica managers) in a cluster.
pub const REPLICAS: u8 = 4;

/// Where a datagram should go. Node destinations are resolved to addresses by the shell,
/// from the cluster configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    Addr(SocketAddr),
    Sequencer,
    ReplicaManager(u8),
    /// All replica managers: one IP multicast datagram, or a unicast fan-out, per config.
    AllReplicaManagers,
}

/// One datagram a state machine wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: Destination,
    pub datagram: Vec<u8>,
}
