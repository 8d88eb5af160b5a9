//! The canonical, implementation-neutral state: what replicas export and import during state
//! transfer, and what checkpoint digests are computed over. Any implementation can seed any
//! other, so the snapshot says nothing about how a replica stores things.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::call::{CallRecord, MessageId};
use crate::ids::{check_capacity, EventId, EventType, Role, UserId};
use crate::DecodeError;

/// One reservation slot and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlotRecord {
    pub event_type: EventType,
    pub event_id: EventId,
    pub capacity: u32,
    /// Participants holding a reservation; sorted and unique in a [`Snapshot`].
    pub holders: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("slot {0} {1} appears twice")]
    DuplicateSlot(EventType, EventId),
    #[error("slot {0} {1} lists holder {2} twice")]
    DuplicateHolder(EventType, EventId, UserId),
    #[error("slot {0} {1} has holder {2}, who is not a participant")]
    NotAParticipant(EventType, EventId, UserId),
    #[error("slot {0} {1} has capacity {2}, outside 1..=100000")]
    Capacity(EventType, EventId, u32),
    #[error("slot {0} {1} has more holders than its capacity {2}")]
    Overbooked(EventType, EventId, u32),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("snapshot bytes are not in canonical order")]
    NotCanonical,
    #[error("remembered calls must be in seq order with non-decreasing times (at seq {0})")]
    CallsOutOfOrder(u64),
    #[error("message id {0} is remembered twice")]
    DuplicateMessageId(MessageId),
}

/// Canonical state: slots sorted by (event type, event ID in string order), holders sorted;
/// then the remembered calls (`docs/domain.md`, "Repeated calls") in seq order. The only way
/// to build one is [`Snapshot::new`], [`Snapshot::with_calls`] or [`Snapshot::decode`], which
/// establish that order and the structural invariants, so two snapshots of the same state
/// are equal and encode to the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    slots: Vec<SlotRecord>,
    calls: Vec<CallRecord>,
}

impl Snapshot {
    /// A state with no remembered calls.
    pub fn new(slots: Vec<SlotRecord>) -> Result<Self, SnapshotError> {
        Self::with_calls(slots, Vec::new())
    }

    /// `calls` must already be in seq order (the order they were answered in).
    pub fn with_calls(
        mut slots: Vec<SlotRecord>,
        calls: Vec<CallRecord>,
    ) -> Result<Self, SnapshotError> {
        let mut ids = std::collections::BTreeSet::new();
        for (i, c) in calls.iter().enumerate() {
            if i > 0 && (c.seq <= calls[i - 1].seq || c.time_ms < calls[i - 1].time_ms) {
                return Err(SnapshotError::CallsOutOfOrder(c.seq));
            }
            if !ids.insert(&c.message_id) {
                return Err(SnapshotError::DuplicateMessageId(c.message_id.clone()));
            }
        }
        for s in &mut slots {
            s.holders.sort_unstable();
            if let Some(w) = s.holders.windows(2).find(|w| w[0] == w[1]) {
                return Err(SnapshotError::DuplicateHolder(
                    s.event_type,
                    s.event_id,
                    w[0],
                ));
            }
            if let Some(h) = s.holders.iter().find(|h| h.role() != Role::Participant) {
                return Err(SnapshotError::NotAParticipant(s.event_type, s.event_id, *h));
            }
            let capacity = i32::try_from(s.capacity).unwrap_or(i32::MAX);
            if check_capacity(capacity).is_err() {
                return Err(SnapshotError::Capacity(
                    s.event_type,
                    s.event_id,
                    s.capacity,
                ));
            }
            if s.holders.len() > s.capacity as usize {
                return Err(SnapshotError::Overbooked(
                    s.event_type,
                    s.event_id,
                    s.capacity,
                ));
            }
        }
        slots.sort_unstable_by_key(|s| (s.event_type, s.event_id));
        if let Some(w) = slots
            .windows(2)
            .find(|w| (w[0].event_type, w[0].event_id) == (w[1].event_type, w[1].event_id))
        {
            return Err(SnapshotError::DuplicateSlot(w[0].event_type, w[0].event_id));
        }
        Ok(Snapshot { slots, calls })
    }

    pub fn slots(&self) -> &[SlotRecord] {
        &self.slots
    }

    pub fn into_slots(self) -> Vec<SlotRecord> {
        self.slots
    }

    /// The remembered calls, in seq order.
    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    pub fn into_parts(self) -> (Vec<SlotRecord>, Vec<CallRecord>) {
        (self.slots, self.calls)
    }

    pub fn encode(&self) -> Vec<u8> {
        crate::encode(self)
    }

    /// Decodes and re-validates; bytes that are not exactly the canonical encoding of a valid
    /// snapshot are refused, so a digest check on the bytes is a check on the state.
    pub fn decode(bytes: &[u8]) -> Result<Self, SnapshotError> {
        #[derive(Deserialize)]
        struct Raw {
            slots: Vec<SlotRecord>,
            calls: Vec<CallRecord>,
        }
        let raw: Raw = crate::decode("snapshot", bytes)?;
        let snap = Snapshot::with_calls(raw.slots, raw.calls)?;
        if snap.encode() != bytes {
            return Err(SnapshotError::NotCanonical);
        }
        Ok(snap)
    }

    pub fn digest(&self) -> Digest {
        Digest::of_state(&self.encode())
    }
}

/// BLAKE3 digest of a canonical snapshot encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Domain-separated so a state digest can never collide with another use of BLAKE3 here.
    pub fn of_state(canonical: &[u8]) -> Self {
        Digest(blake3::derive_key("tessera state snapshot v1", canonical))
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", &self.to_hex()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: EventType, e: &str, cap: u32, holders: &[&str]) -> SlotRecord {
        SlotRecord {
            event_type: t,
            event_id: EventId::parse(e).unwrap(),
            capacity: cap,
            holders: holders.iter().map(|h| UserId::parse(h).unwrap()).collect(),
        }
    }

    #[test]
    fn order_does_not_matter() {
        let a = Snapshot::new(vec![
            rec(
                EventType::Theatre,
                "MTLE101226",
                2,
                &["TORP0002", "MTLP0001"],
            ),
            rec(EventType::ArtGallery, "VANM010126", 5, &[]),
        ])
        .unwrap();
        let b = Snapshot::new(vec![
            rec(EventType::ArtGallery, "VANM010126", 5, &[]),
            rec(
                EventType::Theatre,
                "MTLE101226",
                2,
                &["MTLP0001", "TORP0002"],
            ),
        ])
        .unwrap();
        assert_eq!(a.encode(), b.encode());
        assert_eq!(a.digest(), b.digest());
        assert_eq!(Snapshot::decode(&a.encode()).unwrap(), a);
    }

    #[test]
    fn invariants() {
        let dup = Snapshot::new(vec![
            rec(EventType::Theatre, "MTLE101226", 2, &[]),
            rec(EventType::Theatre, "MTLE101226", 3, &[]),
        ]);
        assert!(matches!(dup, Err(SnapshotError::DuplicateSlot(..))));
        let over = Snapshot::new(vec![rec(
            EventType::Theatre,
            "MTLE101226",
            1,
            &["MTLP0001", "MTLP0002"],
        )]);
        assert!(matches!(over, Err(SnapshotError::Overbooked(..))));
        let admin = Snapshot::new(vec![rec(
            EventType::Theatre,
            "MTLE101226",
            1,
            &["MTLA0001"],
        )]);
        assert!(matches!(admin, Err(SnapshotError::NotAParticipant(..))));
        let zero = Snapshot::new(vec![rec(EventType::Theatre, "MTLE101226", 0, &[])]);
        assert!(matches!(zero, Err(SnapshotError::Capacity(..))));
    }

    #[test]
    fn remembered_calls_are_checked_and_round_trip() {
        use crate::reply::{Code, Reply};
        let call = |id: &str, seq: u64, time_ms: u64| CallRecord {
            message_id: MessageId::parse(id).unwrap(),
            seq,
            time_ms,
            request: crate::Request::GetEventSchedule {
                participant_id: UserId::parse("MTLP0001").unwrap(),
            },
            reply: Reply::code(Code::Ok),
        };
        let s = Snapshot::with_calls(Vec::new(), vec![call("a", 3, 10), call("b", 5, 10)]).unwrap();
        assert_eq!(Snapshot::decode(&s.encode()).unwrap(), s);
        assert_ne!(s.digest(), Snapshot::default().digest());
        assert_eq!(
            Snapshot::with_calls(Vec::new(), vec![call("a", 5, 10), call("b", 3, 10)]),
            Err(SnapshotError::CallsOutOfOrder(3))
        );
        assert_eq!(
            Snapshot::with_calls(Vec::new(), vec![call("a", 3, 10), call("b", 5, 9)]),
            Err(SnapshotError::CallsOutOfOrder(5))
        );
        assert!(matches!(
            Snapshot::with_calls(Vec::new(), vec![call("a", 3, 10), call("a", 5, 10)]),
            Err(SnapshotError::DuplicateMessageId(_))
        ));
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        let s = Snapshot::new(vec![
            rec(EventType::ArtGallery, "VANM010126", 5, &[]),
            rec(EventType::Theatre, "MTLE101226", 2, &[]),
        ])
        .unwrap();
        let mut reversed = s.slots().to_vec();
        reversed.reverse();
        let bytes = crate::encode(&Snapshot {
            slots: reversed,
            calls: Vec::new(),
        });
        assert!(matches!(
            Snapshot::decode(&bytes),
            Err(SnapshotError::NotCanonical)
        ));
        let mut trailing = s.encode();
        trailing.push(0);
        assert!(Snapshot::decode(&trailing).is_err());
    }
}
