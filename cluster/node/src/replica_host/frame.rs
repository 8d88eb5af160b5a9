//! The pipe protocol: frames `len u32 LE | postcard body`, in both directions, carrying the
//! replica manager's `ToReplica` one way and the replica's `FromReplica` the other
//! (`tessera_protocol::replica_manager::host`).

use std::io;

use serde::de::DeserializeOwned;
use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_protocol::replica_manager::ToReplica;

    #[test]
    fn frames_round_trip_and_oversize_headers_are_refused() {
        let msg = ToReplica::Apply {
            seq: 7,
            time_ms: 1_000,
            memory: tessera_types::CallMemory::default(),
            request: vec![1, 2, 3],
        };
        let frame = encode(&msg).unwrap();
        let header: [u8; 4] = frame[..4].try_into().unwrap();
        assert_eq!(body_len(header).unwrap(), frame.len() - 4);
        assert_eq!(decode::<ToReplica>(&frame[4..]).unwrap(), msg);
        let too_big = u32::try_from(MAX_FRAME + 1).unwrap().to_le_bytes();
        assert!(body_len(too_big).is_err());
        assert!(decode::<ToReplica>(&[0xff, 0xff, 0xff]).is_err());
    }
}
