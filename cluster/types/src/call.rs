//! Calls as the cluster orders them: a request, and the caller's WS-Addressing `MessageID` when
//! it sent one. A call with a message id is executed at most once: each replica remembers the
//! calls it answered (in its state, its snapshot and its digest) and answers a repeat with the
//! first answer. The rules are in `docs/domain.md` ("Repeated calls"); each replica implements
//! them on its own, like every other rule.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::reply::Reply;
use crate::request::Request;
use crate::DecodeError;

/// Longest message id accepted, in bytes (a `urn:uuid:` id is 45).
pub const MESSAGE_ID_MAX: usize = 256;

/// A caller's id for one call, kept across its retries: printable ASCII, 1 to
/// [`MESSAGE_ID_MAX`] bytes (WS-Addressing makes it a URI; this is all Tessera relies on).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MessageId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageIdError {
    #[error("a message id may not be empty")]
    Empty,
    #[error("a message id may be at most {MESSAGE_ID_MAX} bytes, not {0}")]
    TooLong(usize),
    #[error("a message id may hold only printable ASCII (no spaces)")]
    NotPrintable,
}

impl MessageId {
    pub fn parse(s: &str) -> Result<MessageId, MessageIdError> {
        if s.is_empty() {
            return Err(MessageIdError::Empty);
        }
        if s.len() > MESSAGE_ID_MAX {
            return Err(MessageIdError::TooLong(s.len()));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MessageIdError::NotPrintable);
        }
        Ok(MessageId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MessageId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({:?})", self.0)
    }
}

/// What the sequencer orders and every replica applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// First, so that a call without a message id encodes as its request followed by one
    /// byte, and bytes of a bare request (what was ordered before calls had ids) are told
    /// apart by length alone.
    pub request: Request,
    pub message_id: Option<MessageId>,
}

impl Call {
    /// What a new primary sequencer orders first (Raft's no-op, `docs/protocol.md`,
    /// "Sequencer failover"): every replica executes every seq, so it is a read, which changes
    /// nothing; nobody waits for its reply.
    pub fn noop() -> Call {
        let nobody = UserId::parse("MTLP0000").unwrap_or_else(|_| unreachable!("a valid id"));
        Call::plain(Request::GetEventSchedule {
            participant_id: nobody,
        })
    }

    /// A call without a message id.
    pub fn plain(request: Request) -> Call {
        Call {
            request,
            message_id: None,
        }
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        Self::encode_parts(&self.request, self.message_id.as_ref())
    }

    /// The encoding of the call of `request` with `message_id`, without building one.
    pub fn encode_parts(request: &Request, message_id: Option<&MessageId>) -> Vec<u8> {
        // Serializes exactly as `Call` does: the same fields, in the same order.
        #[derive(Serialize)]
        struct Parts<'a> {
            request: &'a Request,
            message_id: Option<&'a MessageId>,
        }
        crate::encode(&Parts {
            request,
            message_id,
        })
    }

    /// Decodes a call, or the bare request of an older release (as a call without an id),
    /// so that an upgraded cluster still applies what its sequencer logged before.
    pub fn decode(bytes: &[u8]) -> Result<Call, DecodeError> {
        match crate::decode::<Call>("call", bytes) {
            Ok(call) => Ok(call),
            Err(e) => Request::decode(bytes).map(Call::plain).map_err(|_| e),
        }
    }
}

/// What a replica answers for a call: the reply, and for a call whose message id names one
/// answered before, the seq at which that one took effect (its `revision`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub reply: Reply,
    pub repeat_of: Option<u64>,
}

impl Outcome {
    /// The outcome of a call executed now.
    pub fn fresh(reply: Reply) -> Outcome {
        Outcome {
            reply,
            repeat_of: None,
        }
    }

    /// The canonical encoding: what replicas send and the front end compares byte for byte.
    pub fn encode(&self) -> Vec<u8> {
        crate::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Outcome, DecodeError> {
        crate::decode("outcome", bytes)
    }
}

/// How many answered calls a replica remembers, and for how long (in sequencer time). Every
/// replica of a cluster must use the same values: they decide what is in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallMemory {
    pub max_age_ms: u64,
    pub max_entries: u64,
}

impl Default for CallMemory {
    fn default() -> Self {
        CallMemory {
            max_age_ms: 3_600_000,
            max_entries: 100_000,
        }
    }
}

/// One call in the total order, as a replica applies it.
#[derive(Debug, Clone, Copy)]
pub struct Ordered<'a> {
    pub seq: u64,
    /// The sequencer's clock when it ordered the call (ms since the Unix epoch; never
    /// decreasing along the order): the only time a replica sees.
    pub time_ms: u64,
    pub message_id: Option<&'a MessageId>,
    pub request: &'a Request,
    pub memory: CallMemory,
}

/// A remembered call, as the canonical snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallRecord {
    pub message_id: MessageId,
    /// Where the call took effect.
    pub seq: u64,
    pub time_ms: u64,
    pub request: Request,
    /// The reply it got then.
    pub reply: Reply,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Request {
        Request::GetEventSchedule {
            participant_id: "MTLP0001".parse().unwrap(),
        }
    }

    #[test]
    fn message_ids_are_printable_and_bounded() {
        assert!(MessageId::parse("urn:uuid:6b29fc40-ca47-1067-b31d-00dd010662da").is_ok());
        assert_eq!(MessageId::parse(""), Err(MessageIdError::Empty));
        assert_eq!(MessageId::parse("a b"), Err(MessageIdError::NotPrintable));
        assert_eq!(MessageId::parse("é"), Err(MessageIdError::NotPrintable));
        let long = "x".repeat(MESSAGE_ID_MAX + 1);
        assert_eq!(
            MessageId::parse(&long),
            Err(MessageIdError::TooLong(MESSAGE_ID_MAX + 1))
        );
    }

    #[test]
    fn calls_round_trip_and_bare_requests_still_decode() {
        let with = Call {
            request: schedule(),
            message_id: Some(MessageId::parse("urn:uuid:1").unwrap()),
        };
        assert_eq!(Call::decode(&with.encode()).unwrap(), with);
        let plain = Call::plain(schedule());
        assert_eq!(Call::decode(&plain.encode()).unwrap(), plain);
        assert_eq!(Call::decode(&schedule().encode()).unwrap(), plain);
        assert!(Call::decode(&[0xff, 0xff]).is_err());
        // An invalid message id inside does not decode.
        let mut bad = Call::plain(schedule()).encode();
        bad.pop();
        bad.extend([1, 1, b' ']);
        assert!(Call::decode(&bad).is_err());
    }
}
