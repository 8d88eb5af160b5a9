//! Header, MAC vector and fragment framing of one datagram.

use super::message::NodeId;

pub const MAGIC: [u8; 4] = *b"TSRA";
pub const VERSION: u8 = 3;
/// One receiver's tag in the MAC vector.
pub const MAC_LEN: usize = 16;
/// magic 4 + version 1 + cluster 8 + kind 1 + sender 4 + epoch 8 + counter 8 + audience 4 +
/// flag 1.
pub const HEADER_LEN: usize = 39;
/// message id 8 + index 4 + count 4.
pub const FRAGMENT_HEADER_LEN: usize = 16;

const FLAG_WHOLE: u8 = 0;
const FLAG_FRAGMENT: u8 = 1;

/// Identifies one cluster, so that two clusters sharing a network ignore each other's
/// datagrams before any MAC is computed.
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
    /// The sender is not in this node's roster (no public key for it in the configuration).
    UnknownSender,
    /// The datagram carries no tag for this node.
    NotForMe,
    BadMac,
    /// Authentic, but from an epoch of its sender older than one already seen.
    OldEpoch,
    /// Authentic, but its counter was seen already (or is too old to tell).
    Replayed,
    Malformed,
}

/// What the header says, before anything is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub sender: NodeId,
    pub epoch: u64,
    pub counter: u64,
    /// One bit per roster identity the datagram carries a tag for, in roster order.
    pub audience: u32,
}

/// A datagram whose header parsed, split into the authenticated part and the MAC vector.
#[derive(Debug)]
pub struct Sealed<'a> {
    pub header: Header,
    /// Everything the tags authenticate: header, fragment header and body.
    pub signed: &'a [u8],
    pub tags: &'a [u8],
}

/// An authenticated datagram's body, borrowed from the receive buffer.
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

pub(crate) fn write_header(out: &mut Vec<u8>, cluster: ClusterId, header: &Header, fragment: bool) {
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&cluster.0.to_le_bytes());
    out.push(header.kind);
    out.extend_from_slice(&header.sender.to_wire().to_le_bytes());
    out.extend_from_slice(&header.epoch.to_le_bytes());
    out.extend_from_slice(&header.counter.to_le_bytes());
    out.extend_from_slice(&header.audience.to_le_bytes());
    out.push(if fragment { FLAG_FRAGMENT } else { FLAG_WHOLE });
}

/// The one pass over the datagram's bytes: every tag is a MAC of this 32-byte digest, so a
/// datagram for four receivers costs one hash of its length plus four of 32 bytes.
pub(crate) fn digest(signed: &[u8]) -> [u8; 32] {
    *blake3::hash(signed).as_bytes()
}

pub(crate) fn tag(key: &[u8; 32], digest: &[u8; 32]) -> [u8; MAC_LEN] {
    let full = blake3::keyed_hash(key, digest);
    let mut out = [0; MAC_LEN];
    out.copy_from_slice(&full.as_bytes()[..MAC_LEN]);
    out
}

/// Constant-time, so response timing reveals nothing about how much of a forged tag matched.
pub(crate) fn tags_equal(a: &[u8; MAC_LEN], b: &[u8]) -> bool {
    b.len() == MAC_LEN && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// Parses the header and finds the MAC vector. Checks run cheapest first; nothing after the
/// header is interpreted until a tag has been checked.
pub fn unseal(datagram: &[u8], cluster: ClusterId) -> Result<Sealed<'_>, Reject> {
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
    let sender = NodeId::from_wire(le_u32(&datagram[14..18])).ok_or(Reject::Malformed)?;
    let audience = le_u32(&datagram[34..38]);
    let tags_len = audience.count_ones() as usize * MAC_LEN;
    if audience == 0 {
        return Err(Reject::Malformed);
    }
    if datagram.len() < HEADER_LEN + tags_len {
        return Err(Reject::Truncated);
    }
    let (signed, tags) = datagram.split_at(datagram.len() - tags_len);
    Ok(Sealed {
        header: Header {
            kind: datagram[13],
            sender,
            epoch: le_u64(&datagram[18..26]),
            counter: le_u64(&datagram[26..34]),
            audience,
        },
        signed,
        tags,
    })
}

/// The tag for the receiver with bit `index` of the audience, if the datagram has one.
pub(crate) fn tag_for<'a>(sealed: &Sealed<'a>, index: usize) -> Option<&'a [u8]> {
    let bit = 1u32.checked_shl(u32::try_from(index).ok()?)?;
    if sealed.header.audience & bit == 0 {
        return None;
    }
    let before = (sealed.header.audience & (bit - 1)).count_ones() as usize;
    sealed.tags.get(before * MAC_LEN..(before + 1) * MAC_LEN)
}

/// The body of an authenticated datagram.
pub(crate) fn body<'a>(signed: &'a [u8]) -> Result<FrameBody<'a>, Reject> {
    let rest = &signed[HEADER_LEN..];
    match signed[HEADER_LEN - 1] {
        FLAG_WHOLE => Ok(FrameBody::Whole(rest)),
        FLAG_FRAGMENT => {
            if rest.len() < FRAGMENT_HEADER_LEN {
                return Err(Reject::Truncated);
            }
            let count = le_u32(&rest[12..16]);
            let index = le_u32(&rest[8..12]);
            if count == 0 || index >= count {
                return Err(Reject::Malformed);
            }
            Ok(FrameBody::Fragment {
                message: le_u64(&rest[..8]),
                index,
                count,
                chunk: &rest[FRAGMENT_HEADER_LEN..],
            })
        }
        _ => Err(Reject::Malformed),
    }
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
