use serde::{Deserialize, Serialize};

/// Largest frame either side accepts: a full snapshot must fit.
pub const MAX_FRAME: usize = 256 << 20;

/// Manager → replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostRequest {
    /// Apply request `seq` (`tessera_types::Request::encode()` bytes).
    Apply { seq: u64, request: Vec<u8> },
    /// Make everything applied so far durable.
    Sync,
    /// Report the digest of the current state.
    Digest,
    /// Export the canonical snapshot.
    Export,
    /// Replace the whole state with this snapshot, taken after `seq`.
    Import { seq: u64, snapshot: Vec<u8> },
    /// Byzantine mode on (`Some(seed, corrupt_state, corrupt_replies)`) or off.
    SetByzantine(Option<(u64, bool, bool)>),
}

impl HostRequest {
    /// The canonical empty state, installed when state transfer starts from seq 0.
    pub fn import_empty() -> HostRequest {
        HostRequest::Import {
            seq: 0,
            snapshot: tessera_types::Snapshot::default().encode(),
        }
    }
}

/// Replica → manager; one per request, in order, after an initial `Ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostResponse {
    /// First frame: the replica is open and has applied everything up to `applied`.
    Ready {
        applied: u64,
    },
    Applied {
        seq: u64,
        reply: Vec<u8>,
    },
    Synced {
        applied: u64,
    },
    Digest {
        applied: u64,
        digest: [u8; 32],
    },
    Exported {
        applied: u64,
        snapshot: Vec<u8>,
    },
    Imported {
        applied: u64,
    },
    ByzantineSet,
    /// The request could not be carried out; the replica should be replaced.
    Failed(String),
}
