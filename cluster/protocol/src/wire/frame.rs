//! Header, MAC and fragment framing of one datagram.

use super::message::NodeId;

pub const MAGIC: [u8; 4] = *b"TSRA";
pub const VERSION: u8 = 2;
pub const MAC_LEN: usize = 16;
/// magic 4 + version 1 + cluster 8 + kind 1 + sender 4 + flag 1.
pub const HEADER_LEN: usize = 19;
/// message id 8 + index 4 + count 4.
pub const FRAGMENT_HEADER_LEN: usize = 16;

const FLAG_WHOLE: u8 = 0;
const FLAG_FRAGMENT: u8 = 1;

/// The cluster key: every node of a cluster shares it; it authenticates every datagram.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Key(bytes)
    }

    /// Derives a key from a configured secret string.
    pub fn derive(secret: &str) -> Self {
        Key(blake3::derive_key(
            "tessera cluster key v1",
            secret.as_bytes(),
        ))
    }

    fn mac(&self, data: &[u8]) -> [u8; MAC_LEN] {
        let full = blake3::keyed_hash(&self.0, data);
        let mut out = [0; MAC_LEN];
        out.copy_from_slice(&full.as_bytes()[..MAC_LEN]);
        out
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Identifies one cluster, so that two clusters sharing a network (or a key) ignore each
/// other's datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClusterId(pub u64);

impl ClusterId {
    pub fn from_name(name: &str) -> Self {
        let h = blake3::derive_key("tessera cluster id v1", name.as_bytes());
        let mut b = [0; 8];
        b.copy_from_slice(&h[..8]);
        ClusterId(u64::from_le_bytes(b))
    }
}

/// Why a datagram was dropped before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Truncated,
    BadMagic,
    BadVersion,
    WrongCluster,
    BadMac,
    /// Authenticated, but the sender field names no node (no such role or replica).
    UnknownSender,
    Malformed,
}

/// An authenticated datagram, borrowed from the receive buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: u8,
    pub sender: NodeId,
    pub body: FrameBody<'a>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum FrameBody<'a> {
    Whole(&'a [u8]),
    Fragment {
        message: u64,
        index: u32,
        count: u32,
        chunk: &'a [u8],
    },
}

pub(crate) fn write_header(
    out: &mut Vec<u8>,
    cluster: ClusterId,
    kind: u8,
    sender: NodeId,
    fragment: bool,
) {
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&cluster.0.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&sender.to_wire().to_le_bytes());
    out.push(if fragment { FLAG_FRAGMENT } else { FLAG_WHOLE });
}

pub(crate) fn seal(out: &mut Vec<u8>, key: &Key) {
    let mac = key.mac(out);
    out.extend_from_slice(&mac);
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// Checks header and MAC and splits the datagram. Checks run cheapest first, and the MAC is
/// checked before anything after the header is interpreted.
pub fn open<'a>(datagram: &'a [u8], cluster: ClusterId, key: &Key) -> Result<Frame<'a>, Reject> {
    if datagram.len() < HEADER_LEN + MAC_LEN {
        return Err(Reject::Truncated);
    }
    if datagram[..4] != MAGIC {
        return Err(Reject::BadMagic);
    }
    if datagram[4] != VERSION {
        return Err(Reject::BadVersion);
    }
    if le_u64(&datagram[5..13]) != cluster.0 {
        return Err(Reject::WrongCluster);
    }
    let (signed, mac) = datagram.split_at(datagram.len() - MAC_LEN);
    // Constant-time, so response timing reveals nothing about how much of a forged tag matched.
    let diff = key
        .mac(signed)
        .iter()
        .zip(mac)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Err(Reject::BadMac);
    }
    let kind = signed[13];
    let sender = NodeId::from_wire(le_u32(&signed[14..18])).ok_or(Reject::UnknownSender)?;
    let rest = &signed[HEADER_LEN..];
    let body = match signed[18] {
        FLAG_WHOLE => FrameBody::Whole(rest),
        FLAG_FRAGMENT => {
            if rest.len() < FRAGMENT_HEADER_LEN {
                return Err(Reject::Truncated);
            }
            let count = le_u32(&rest[12..16]);
            let index = le_u32(&rest[8..12]);
            if count == 0 || index >= count {
                return Err(Reject::Malformed);
            }
            FrameBody::Fragment {
                message: le_u64(&rest[..8]),
                index,
                count,
                chunk: &rest[FRAGMENT_HEADER_LEN..],
            }
        }
        _ => return Err(Reject::Malformed),
    };
    Ok(Frame { kind, sender, body })
}

pub(crate) fn fragment_header(out: &mut Vec<u8>, message: u64, index: u32, count: u32) {
    out.extend_from_slice(&message.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
}

/// Content-derived message id: identical retransmissions share fragments.
pub(crate) fn message_id(bytes: &[u8]) -> u64 {
    le_u64(blake3::hash(bytes).as_bytes())
}
