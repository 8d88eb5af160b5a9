//! The datagram format shared by every node of a cluster.
//!
//! ```text
//! | magic "TSRA" | version u8 | cluster u64 | kind u8 | sender u32 | flag u8 | body ... | MAC 16 |
//!                                                            flag 1: | msg u64 | index u32 | count u32 | chunk |
//! ```
//! The MAC is keyed BLAKE3 (cluster key) over everything before it, so a datagram that is
//! garbled, forged, from another cluster or of another version is dropped and counted
//! ([`WireStats`]) before any payload is decoded. Bodies are postcard-encoded [`Message`]s.
//! A message larger than one datagram is split into fragments whose message id is a hash of
//! the message bytes: a retransmission of the same message fills the holes left by the
//! previous attempt instead of starting over, which is what lets a long reply through a
//! lossy network.

pub mod batch;
mod frame;
mod link;
mod message;
mod reassembly;

pub use frame::{ClusterId, Frame, FrameBody, Key, Reject, HEADER_LEN, MAC_LEN, MAGIC, VERSION};
pub use link::{Link, LinkConfig, WireStats};
pub use message::{
    ChaosAction, CheckpointView, FaultKind, FaultReport, Incarnation, Message, NodeId, Notice,
    NoticeEntry, ReplaceCause, ReplicaState, ReplyEntry, RequestId, RmStatus, Sequenced,
    SequencerStatus, Submission, VoteReason,
};
pub use reassembly::Reassembler;

/// Errors building datagrams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("message of {size} bytes exceeds the configured maximum of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("max_datagram_bytes {0} is too small to carry any payload")]
    DatagramTooSmall(usize),
}
