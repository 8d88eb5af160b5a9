//! The calls this replica answered with a message id (`docs/domain.md`, "Repeated calls"), and
//! the log events that change them.
//!
//! Remembered calls are state like the slots: they change only by folding events that were
//! first written to the log with the request's own events, under its commit marker, so a
//! crash can never keep a request's effect without the memory of it, or the other way round.
//!
//! Calls are remembered in seq order and always forgotten oldest first (by age, because
//! times never decrease along seqs; by count, by definition), so they sit in a queue: a new
//! one goes on the back, forgetting takes from the front, and both cost nothing that grows
//! with the number remembered.

use std::collections::{HashMap, VecDeque};

use tessera_types::{CallRecord, MessageId, Reply, Request};

/// A change to the remembered calls, logged with the request at whose seq it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// Every remembered call up to and including seq `through` is forgotten (a prefix of the
    /// queue: the ones too old, and the oldest beyond the count limit).
    Forgotten { through: u64 },
    /// The call answered at this request's seq is remembered. Its seq is the seq of the
    /// request it is logged with, so the record does not repeat it.
    Remembered(CallRecord),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallDecodeError {
    #[error("unknown call event tag {0}")]
    Tag(u8),
    #[error("call event record has the wrong length")]
    Length,
    #[error("call event record holds an invalid message id")]
    MessageId,
    #[error("call event record holds an invalid request or reply")]
    Body,
}

/// Why a call event could not be folded: the log is not one this replica wrote, or a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFoldError {
    #[error("forgetting calls through seq {0}, which is not remembered")]
    NotRemembered(u64),
    #[error("remembering seq {0} after seq {1}")]
    OutOfOrder(u64, u64),
    #[error("message id {0} is already remembered")]
    Duplicate(MessageId),
}

const FORGOTTEN: u8 = 1;
const REMEMBERED: u8 = 2;

impl CallEvent {
    /// Appends the encoding of `self` to `out`:
    ///
    /// ```text
    /// forgotten  := 1 through:u64le
    /// remembered := 2 time_ms:u64le id_len:u16le id request_len:u32le request reply
    /// ```
    ///
    /// The request and reply are in their canonical encodings; the reply runs to the end.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            CallEvent::Forgotten { through } => {
                out.push(FORGOTTEN);
                out.extend_from_slice(&through.to_le_bytes());
            }
            CallEvent::Remembered(record) => {
                out.push(REMEMBERED);
                out.extend_from_slice(&record.time_ms.to_le_bytes());
                let id = record.message_id.as_str().as_bytes();
                // A message id is at most `MESSAGE_ID_MAX` (256) bytes, so it fits; a longer
                // one would saturate and then fail to decode rather than alias.
                let id_len = u16::try_from(id.len()).unwrap_or(u16::MAX);
                out.extend_from_slice(&id_len.to_le_bytes());
                out.extend_from_slice(id);
                let request = record.request.encode();
                let request_len = u32::try_from(request.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&request_len.to_le_bytes());
                out.extend_from_slice(&request);
                out.extend_from_slice(&record.reply.encode());
            }
        }
    }

    /// Decodes a call event logged with request `seq`.
    pub fn decode(seq: u64, bytes: &[u8]) -> Result<CallEvent, CallDecodeError> {
        let (&tag, rest) = bytes.split_first().ok_or(CallDecodeError::Length)?;
        let mut r = Reader(rest);
        let event = match tag {
            FORGOTTEN => CallEvent::Forgotten { through: r.u64()? },
            REMEMBERED => {
                let time_ms = r.u64()?;
                let id_len = usize::from(r.u16()?);
                let id = std::str::from_utf8(r.take(id_len)?)
                    .ok()
                    .and_then(|s| MessageId::parse(s).ok())
                    .ok_or(CallDecodeError::MessageId)?;
                let request_len = usize::try_from(r.u32()?).map_err(|_| CallDecodeError::Length)?;
                let request =
                    Request::decode(r.take(request_len)?).map_err(|_| CallDecodeError::Body)?;
                // The canonical decoders refuse trailing bytes, so the reply is the rest.
                let reply = Reply::decode(r.rest()).map_err(|_| CallDecodeError::Body)?;
                CallEvent::Remembered(CallRecord {
                    message_id: id,
                    seq,
                    time_ms,
                    request,
                    reply,
                })
            }
            other => return Err(CallDecodeError::Tag(other)),
        };
        if r.0.is_empty() {
            Ok(event)
        } else {
            Err(CallDecodeError::Length)
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CallDecodeError> {
        if self.0.len() < n {
            return Err(CallDecodeError::Length);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    fn u16(&mut self) -> Result<u16, CallDecodeError> {
        let b: [u8; 2] = self
            .take(2)?
            .try_into()
            .map_err(|_| CallDecodeError::Length)?;
        Ok(u16::from_le_bytes(b))
    }

    fn u32(&mut self) -> Result<u32, CallDecodeError> {
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| CallDecodeError::Length)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, CallDecodeError> {
        let b: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| CallDecodeError::Length)?;
        Ok(u64::from_le_bytes(b))
    }
}

/// The remembered calls.
#[derive(Debug, Clone, Default)]
pub struct Answered {
    /// In seq order (so also in time order).
    queue: VecDeque<CallRecord>,
    /// Message id to seq. Only ever looked up by key, never iterated, so hash order cannot
    /// leak into replies or snapshots.
    seqs: HashMap<MessageId, u64>,
}

impl Answered {
    /// From a snapshot's calls, which its type guarantees are in seq order with unique ids.
    pub fn from_records(records: &[CallRecord]) -> Answered {
        Answered {
            queue: records.iter().cloned().collect(),
            seqs: records
                .iter()
                .map(|r| (r.message_id.clone(), r.seq))
                .collect(),
        }
    }

    /// In seq order, as the canonical snapshot lists them.
    pub fn records(&self) -> impl Iterator<Item = &CallRecord> {
        self.queue.iter()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// How many of the oldest calls are more than `max_age_ms` older than `now_ms`. Times
    /// never decrease along seqs, so they are a prefix; counting stops at the first one
    /// young enough, and every one counted is about to be forgotten, so the work is paid
    /// once per remembered call, not per request.
    pub fn too_old(&self, now_ms: u64, max_age_ms: u64) -> usize {
        self.queue
            .iter()
            .take_while(|r| now_ms.saturating_sub(r.time_ms) > max_age_ms)
            .count()
    }

    /// The remembered call with message id `id` and its place in the queue (0 = oldest).
    pub fn find(&self, id: &MessageId) -> Option<(usize, &CallRecord)> {
        let seq = *self.seqs.get(id)?;
        let at = self.queue.binary_search_by_key(&seq, |r| r.seq).ok()?;
        Some((at, &self.queue[at]))
    }

    /// The seq of the call at place `at` (0 = oldest).
    pub fn seq_at(&self, at: usize) -> Option<u64> {
        self.queue.get(at).map(|r| r.seq)
    }

    pub fn apply(&mut self, event: CallEvent) -> Result<(), CallFoldError> {
        match event {
            CallEvent::Forgotten { through } => self.forget_through(through),
            CallEvent::Remembered(record) => self.remember(record),
        }
    }

    /// Forgets the oldest calls up to seq `through`, which must be remembered: a log that
    /// says to forget a call this replica never had is not its own.
    fn forget_through(&mut self, through: u64) -> Result<(), CallFoldError> {
        let at = self
            .queue
            .binary_search_by_key(&through, |r| r.seq)
            .map_err(|_| CallFoldError::NotRemembered(through))?;
        for record in self.queue.drain(..=at) {
            self.seqs.remove(&record.message_id);
        }
        Ok(())
    }

    fn remember(&mut self, record: CallRecord) -> Result<(), CallFoldError> {
        if let Some(last) = self.queue.back() {
            if last.seq >= record.seq {
                return Err(CallFoldError::OutOfOrder(record.seq, last.seq));
            }
        }
        if self.seqs.contains_key(&record.message_id) {
            return Err(CallFoldError::Duplicate(record.message_id));
        }
        self.seqs.insert(record.message_id.clone(), record.seq);
        self.queue.push_back(record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::{Code, UserId};

    fn record(id: &str, seq: u64, time_ms: u64) -> CallRecord {
        CallRecord {
            message_id: MessageId::parse(id).unwrap(),
            seq,
            time_ms,
            request: Request::GetEventSchedule {
                participant_id: UserId::parse("MTLP0001").unwrap(),
            },
            reply: Reply::schedule(Vec::new()),
        }
    }

    fn encoded(event: &CallEvent) -> Vec<u8> {
        let mut out = Vec::new();
        event.encode_into(&mut out);
        out
    }

    #[test]
    fn call_events_round_trip() {
        let longest = "x".repeat(tessera_types::MESSAGE_ID_MAX);
        for event in [
            CallEvent::Forgotten { through: u64::MAX },
            CallEvent::Remembered(record("urn:uuid:1", 7, 1_700_000_000_000)),
            CallEvent::Remembered(CallRecord {
                reply: Reply::code(Code::SlotFull),
                ..record(&longest, 7, 0)
            }),
        ] {
            assert_eq!(CallEvent::decode(7, &encoded(&event)), Ok(event));
        }
    }

    #[test]
    fn damaged_call_events_are_refused() {
        let event = CallEvent::Remembered(record("a", 3, 10));
        let bytes = encoded(&event);
        for cut in 0..bytes.len() {
            assert!(CallEvent::decode(3, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(CallEvent::decode(3, &longer).is_err());
        let mut spaced = bytes.clone();
        // Tag, time and length come first; the id's one byte follows.
        spaced[1 + 8 + 2] = b' ';
        assert_eq!(
            CallEvent::decode(3, &spaced),
            Err(CallDecodeError::MessageId)
        );
        assert_eq!(CallEvent::decode(3, &[9]), Err(CallDecodeError::Tag(9)));
        assert_eq!(
            CallEvent::decode(3, &[FORGOTTEN, 0]),
            Err(CallDecodeError::Length)
        );
    }

    #[test]
    fn folding_keeps_seq_order_unique_ids_and_known_prefixes() {
        let mut a = Answered::default();
        a.apply(CallEvent::Remembered(record("a", 3, 10))).unwrap();
        a.apply(CallEvent::Remembered(record("b", 5, 10))).unwrap();
        assert_eq!(
            a.apply(CallEvent::Remembered(record("c", 5, 10))),
            Err(CallFoldError::OutOfOrder(5, 5))
        );
        assert!(matches!(
            a.apply(CallEvent::Remembered(record("a", 6, 10))),
            Err(CallFoldError::Duplicate(_))
        ));
        assert_eq!(
            a.apply(CallEvent::Forgotten { through: 4 }),
            Err(CallFoldError::NotRemembered(4))
        );
        a.apply(CallEvent::Forgotten { through: 3 }).unwrap();
        assert_eq!(a.len(), 1);
        assert!(a.find(&MessageId::parse("a").unwrap()).is_none());
        // A forgotten id may be remembered again, at a later seq.
        a.apply(CallEvent::Remembered(record("a", 6, 11))).unwrap();
        let (at, found) = a.find(&MessageId::parse("a").unwrap()).unwrap();
        assert_eq!((at, found.seq), (1, 6));
        // Exactly `max_age_ms` old is not too old; counting stops at the first young one.
        assert_eq!(a.too_old(20, 10), 0);
        assert_eq!(a.too_old(21, 10), 1);
        assert_eq!(a.too_old(22, 10), 2);
        assert_eq!(a.too_old(5, 0), 0);
    }
}
