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

/// A replica, and the replica manager that owns it: 1..=[`REPLICAS`]. Out-of-range numbers
/// cannot be built, so nothing downstream checks them or converts with `- 1` by hand; on the
/// wire it is one byte, and a message naming another number does not decode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct ReplicaId(u8);

impl ReplicaId {
    /// Every replica, in order.
    pub const ALL: [ReplicaId; REPLICAS as usize] =
        [ReplicaId(1), ReplicaId(2), ReplicaId(3), ReplicaId(4)];

    pub const fn new(n: u8) -> Option<ReplicaId> {
        if n >= 1 && n <= REPLICAS {
            Some(ReplicaId(n))
        } else {
            None
        }
    }

    /// The number, 1..=4.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Its position in a per-replica array, 0..4.
    pub const fn index(self) -> usize {
        self.0 as usize - 1
    }

    /// Every replica but this one.
    pub fn others(self) -> impl Iterator<Item = ReplicaId> {
        Self::ALL.into_iter().filter(move |r| *r != self)
    }
}

impl TryFrom<u8> for ReplicaId {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        ReplicaId::new(n).ok_or_else(|| format!("no replica {n} (expected 1..={REPLICAS})"))
    }
}

impl From<ReplicaId> for u8 {
    fn from(r: ReplicaId) -> u8 {
        r.0
    }
}

impl std::fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a datagram should go. Node destinations are resolved to addresses by the shell,
/// from the cluster configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    Addr(SocketAddr),
    /// The sequencer node with this id.
    Sequencer(u8),
    ReplicaManager(ReplicaId),
    /// All replica managers: one IP multicast datagram, or a unicast fan-out, per config.
    AllReplicaManagers,
}

/// One datagram a state machine wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: Destination,
    pub datagram: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_id_is_one_of_four_on_the_wire_too() {
        assert_eq!(ReplicaId::ALL.map(ReplicaId::get), [1, 2, 3, 4]);
        assert_eq!(ReplicaId::new(0), None);
        assert_eq!(ReplicaId::new(5), None);
        for n in 0..=u8::MAX {
            let decoded = postcard::from_bytes::<ReplicaId>(&[n]).ok();
            assert_eq!(decoded, ReplicaId::new(n), "{n}");
        }
        let three = ReplicaId::ALL[2];
        assert_eq!(postcard::to_allocvec(&three).ok(), Some(vec![3]));
        assert_eq!(
            three.others().map(ReplicaId::get).collect::<Vec<_>>(),
            [1, 2, 4]
        );
        assert_eq!(three.index(), 2);
    }
}
