//! The pipe protocol: frames `len u32 LE | postcard body`, in both directions.

use std::io;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest frame either side accepts: a full snapshot must fit.
pub const MAX_FRAME: usize = 256 << 20;

/// `msg` as one frame, header included (serialized after a placeholder header, so the body
/// is not copied).
pub(crate) fn encode<T: Serialize>(msg: &T) -> io::Result<Vec<u8>> {
    let mut frame = postcard::to_extend(msg, vec![0u8; 4]).map_err(io::Error::other)?;
    let len = frame.len() - 4;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let len = u32::try_from(len).map_err(io::Error::other)?;
    frame[..4].copy_from_slice(&len.to_le_bytes());
    Ok(frame)
}

/// The body length a frame header announces; refused beyond [`MAX_FRAME`].
pub(crate) fn body_len(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    Ok(len)
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> io::Result<T> {
    postcard::from_bytes(body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversize_headers_are_refused() {
        let msg = HostRequest::Apply {
            seq: 7,
            request: vec![1, 2, 3],
        };
        let frame = encode(&msg).unwrap();
        let header: [u8; 4] = frame[..4].try_into().unwrap();
        assert_eq!(body_len(header).unwrap(), frame.len() - 4);
        assert_eq!(decode::<HostRequest>(&frame[4..]).unwrap(), msg);
        let too_big = u32::try_from(MAX_FRAME + 1).unwrap().to_le_bytes();
        assert!(body_len(too_big).is_err());
        assert!(decode::<HostRequest>(&[0xff, 0xff, 0xff]).is_err());
    }
}
