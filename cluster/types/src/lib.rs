//! The contract shared by every part of Tessera and by the four replica implementations.
//!
//! Deliberately holds *no* domain rules: the replicas are N-version programmed, so anything
//! placed here is a common-mode failure for all four. What lives here is what must be identical
//! by definition: the request and reply types, identifier syntax, the canonical byte encodings
//! of replies and of state, and the [`Replica`] trait. "When", "week", capacity accounting and
//! every check of `docs/domain.md` are left to each implementation.

pub mod call;
pub mod fault;
pub mod ids;
pub mod replica;
pub mod reply;
pub mod request;
pub mod snapshot;

pub use call::{
    Call, CallMemory, CallRecord, MessageId, MessageIdError, Ordered, Outcome, MESSAGE_ID_MAX,
};
pub use fault::{FaultConfig, Faulty};
pub use ids::{Capacity, City, EventId, EventType, IdError, Role, TimeSlot, UserId, MAX_CAPACITY};
pub use replica::{Durability, Replica, ReplicaError};
pub use reply::{Answer, Booking, Code, Reply, ReplyBody, SlotAvailability};
pub use request::{ArgumentError, Request, OPERATIONS};
pub use snapshot::{Digest, SlotRecord, Snapshot, SnapshotError};

/// Errors decoding one of the canonical binary encodings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}: {source}")]
pub struct DecodeError {
    what: &'static str,
    #[source]
    source: postcard::Error,
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    // `from_bytes` accepts trailing bytes; a canonical encoding has none.
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok(_) => Err(DecodeError {
            what,
            source: postcard::Error::DeserializeBadEncoding,
        }),
        Err(source) => Err(DecodeError { what, source }),
    }
}

#[expect(
    clippy::expect_used,
    reason = "an invariant: plain data (no maps, no unsized sequences, serializers that never \
              fail) always encodes; empty bytes instead would be voted on as a reply"
)]
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("plain data always encodes")
}
