//! The calls this replica answered with a message id (`docs/domain.md`, "Repeated calls"):
//! by seq for forgetting the oldest, by message id for finding a repeat.

use std::collections::BTreeMap;

use tessera_types::{CallRecord, MessageId};

#[derive(Debug, Clone, Default)]
pub struct Remembered {
    by_seq: BTreeMap<u64, CallRecord>,
    by_id: BTreeMap<MessageId, u64>,
}

impl Remembered {
    /// From a snapshot's records (unique ids and seqs, which the snapshot guarantees).
    pub fn from_records(records: &[CallRecord]) -> Remembered {
        let mut out = Remembered::default();
        for r in records {
            out.by_id.insert(r.message_id.clone(), r.seq);
            out.by_seq.insert(r.seq, r.clone());
        }
        out
    }

    /// In seq order.
    pub fn records(&self) -> impl Iterator<Item = &CallRecord> {
        self.by_seq.values()
    }

    pub fn get(&self, id: &MessageId) -> Option<&CallRecord> {
        self.by_id.get(id).and_then(|seq| self.by_seq.get(seq))
    }

    /// Forgets every call more than `max_age_ms` older than `now_ms`. Times grow with seqs,
    /// so the ones to forget are the oldest.
    pub fn forget_older(&mut self, now_ms: u64, max_age_ms: u64) {
        while let Some(entry) = self.by_seq.first_entry() {
            if now_ms.saturating_sub(entry.get().time_ms) <= max_age_ms {
                break;
            }
            let record = entry.remove();
            self.by_id.remove(&record.message_id);
        }
    }

    /// Remembers `record` (its seq above every remembered one), then forgets the oldest until
    /// at most `max_entries` remain.
    pub fn remember(&mut self, record: CallRecord, max_entries: u64) {
        self.by_id.insert(record.message_id.clone(), record.seq);
        self.by_seq.insert(record.seq, record);
        while self.by_seq.len() as u64 > max_entries {
            if let Some((_, oldest)) = self.by_seq.pop_first() {
                self.by_id.remove(&oldest.message_id);
            }
        }
    }
}
