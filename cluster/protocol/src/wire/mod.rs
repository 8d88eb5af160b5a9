//! The datagram format shared by every node of a cluster.
//!
//! ```text
//! | magic "TSRA" | version u8 | cluster u64 | kind u8 | sender u32 | epoch u64 | counter u64 |
//! | audience u32 | flag u8 | body ... | tag 16 × (receivers in audience) |
//!                flag 1: | msg u64 | index u32 | count u32 | chunk |
//! ```
//! Each node has its own X25519 key; the configuration lists every node's public key (the
//! [`Roster`]). Each tag is keyed BLAKE3, with the key the sender shares with that one
//! receiver, over a BLAKE3 digest of everything before the tags; a receiver checks only its
//! own. So a datagram that is garbled, forged (also by another member of the cluster), from
//! another cluster or of another version is dropped and counted ([`WireStats`]) before any
//! payload is decoded, and so is one replayed or from an older start (epoch) of its sender.
//! Bodies are postcard-encoded [`Message`]s.
//! A message larger than one datagram is split into fragments whose message id is a hash of
//! the message bytes: a retransmission of the same message fills the holes left by the
//! previous attempt instead of starting over, which is what lets a long reply through a
//! lossy network.

pub mod batch;
mod frame;
mod identity;
mod link;
mod message;
mod reassembly;
mod replay;
pub mod testing;

pub use frame::{
    unseal, ClusterId, FrameBody, Header, Reject, Sealed, HEADER_LEN, MAC_LEN, MAGIC, VERSION,
};
pub use identity::{identity_of, KeyError, PublicKey, Roster, SecretKey, KEY_LEN, MAX_IDENTITIES};
pub use link::{Link, LinkConfig, WireStats};
pub use message::{
    ChaosAction, CheckpointView, DiskSpace, FaultKind, FaultReport, Incarnation, Message, NodeId,
    Notice, NoticeEntry, ReadEntry, ReadReplyEntry, ReplaceCause, ReplicaState, ReplyEntry,
    RequestId, RmStatus, Sequenced, SequencerStatus, Submission, VoteReason, TRACE_MAX,
};
pub use reassembly::Reassembler;
pub use reassembly::MIN_FRAGMENT;
pub use replay::WINDOW as REPLAY_WINDOW;

/// Errors building datagrams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message of {size} bytes exceeds the configured maximum of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("max_datagram_bytes {0} is too small to carry any payload")]
    DatagramTooSmall(usize),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("no node of the roster is at {0:?}")]
    NoRecipient(crate::Destination),
}
