//! Remembered calls (`docs/domain.md`, "Repeated calls"): the calls answered with a message id,
//! kept in two redb tables of the same database as the domain state, so a call's effect and its
//! memory are written by the same transaction and committed, or lost, together.
//!
//! | table      | key        | value                                   | serves                    |
//! |------------|------------|-----------------------------------------|---------------------------|
//! | calls      | seq        | time, message id, request, reply        | oldest first; export      |
//! | call_ids   | message id | seq                                     | finding a repeat          |
//!
//! Requests and replies are stored in their canonical encodings from `tessera_types`.
//!
//! Most calls carry no message id, so the replica keeps a [`Summary`] (count and oldest call)
//! in memory: a call without a message id opens these tables only when the oldest remembered
//! call is old enough to forget. Times never decrease along seqs, so the calls to forget by
//! age are always the lowest seqs, as are the ones to forget by count.

use redb::{
    ReadTransaction, ReadableTable, StorageError, Table, TableDefinition, TableError,
    WriteTransaction,
};
use tessera_types::{CallRecord, Code, MessageId, Ordered, Outcome, Reply, Request};

use crate::ops;
use crate::store::Tables;

/// The stored form of a remembered call, without its seq (the key): time, message id, encoded
/// request, encoded reply.
type Stored = (u64, &'static str, &'static [u8], &'static [u8]);

/// seq → the remembered call answered at that seq.
const CALLS: TableDefinition<u64, Stored> = TableDefinition::new("calls");
/// message id → seq of its remembered call.
const CALL_IDS: TableDefinition<&str, u64> = TableDefinition::new("call_ids");

/// What the replica caches of the remembered calls, so that most calls need no lookup in
/// their tables. Kept equal to what the tables hold: it is read from them at open, rebuilt by
/// an import, and updated by every write through [`Calls`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    count: u64,
    /// Time of the call with the lowest seq, which is also the oldest.
    oldest_ms: Option<u64>,
}

impl Summary {
    /// Whether step 1 forgets anything at `now_ms`.
    fn any_older(self, now_ms: u64, max_age_ms: u64) -> bool {
        self.oldest_ms
            .is_some_and(|t| now_ms.saturating_sub(t) > max_age_ms)
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupted(format!("replica-kv: malformed remembered call ({what})"))
}

/// Creates the tables if missing (a database from before calls were remembered has none)
/// and reads their summary.
pub(crate) fn init(txn: &WriteTransaction) -> Result<Summary, TableError> {
    txn.open_table(CALL_IDS)?;
    summarize(&txn.open_table(CALLS)?)
}

fn summarize(calls: &impl ReadableTable<u64, Stored>) -> Result<Summary, TableError> {
    Ok(Summary {
        count: calls.len()?,
        oldest_ms: oldest_ms(calls)?,
    })
}

fn oldest_ms(calls: &impl ReadableTable<u64, Stored>) -> Result<Option<u64>, StorageError> {
    Ok(calls.first()?.map(|(_, value)| value.value().0))
}

/// Applies one call whose seq was already checked, by the steps of "Repeated calls" in
/// order, and returns its outcome and the summary of the remembered calls after it.
pub(crate) fn answer(
    txn: &WriteTransaction,
    tables: &mut Tables<'_>,
    summary: Summary,
    call: &Ordered<'_>,
) -> Result<(Outcome, Summary), TableError> {
    let memory = call.memory;
    let Some(id) = call.message_id else {
        let summary = forget_older(txn, summary, call.time_ms, memory.max_age_ms)?;
        return Ok((Outcome::fresh(ops::apply(tables, call.request)?), summary));
    };
    let mut calls = Calls::open(txn, summary)?;
    calls.forget_older(call.time_ms, memory.max_age_ms)?;
    if let Some(first) = calls.get(id)? {
        return Ok((repeat(first, call.request), calls.summary));
    }
    let reply = ops::apply(tables, call.request)?;
    calls.remember(id, call, &reply)?;
    calls.trim(memory.max_entries)?;
    Ok((Outcome::fresh(reply), calls.summary))
}

/// Step 1 for a call without a message id, the common case: the tables are opened only when
/// the summary says some call is old enough to forget, so such a call usually costs nothing
/// more than its request.
fn forget_older(
    txn: &WriteTransaction,
    summary: Summary,
    now_ms: u64,
    max_age_ms: u64,
) -> Result<Summary, TableError> {
    if !summary.any_older(now_ms, max_age_ms) {
        return Ok(summary);
    }
    let mut calls = Calls::open(txn, summary)?;
    calls.forget_older(now_ms, max_age_ms)?;
    Ok(calls.summary)
}

/// The outcome of a call whose message id is remembered: the first reply again, or, for a
/// different request under the same id, `MESSAGE_ID_REUSED`.
fn repeat(first: CallRecord, request: &Request) -> Outcome {
    if first.request == *request {
        Outcome {
            reply: first.reply,
            repeat_of: Some(first.seq),
        }
    } else {
        Outcome::fresh(Reply::code(Code::MessageIdReused))
    }
}

/// Reads every remembered call, in seq order, from the committed state.
pub(crate) fn read_all(txn: &ReadTransaction) -> Result<Vec<CallRecord>, TableError> {
    read_records(&txn.open_table(CALLS)?)
}

/// Like [`read_all`], but through an open write transaction, uncommitted writes included.
pub(crate) fn read_all_pending(txn: &WriteTransaction) -> Result<Vec<CallRecord>, TableError> {
    read_records(&txn.open_table(CALLS)?)
}

fn read_records(calls: &impl ReadableTable<u64, Stored>) -> Result<Vec<CallRecord>, TableError> {
    let mut out = Vec::new();
    for row in calls.range::<u64>(..)? {
        let (seq, value) = row?;
        out.push(decode(seq.value(), value.value())?);
    }
    Ok(out)
}

fn decode(
    seq: u64,
    (time_ms, id, request, reply): (u64, &str, &[u8], &[u8]),
) -> Result<CallRecord, StorageError> {
    Ok(CallRecord {
        message_id: MessageId::parse(id).map_err(|_| corrupt("message id"))?,
        seq,
        time_ms,
        request: Request::decode(request).map_err(|_| corrupt("request"))?,
        reply: Reply::decode(reply).map_err(|_| corrupt("reply"))?,
    })
}

/// Replaces the remembered calls with a snapshot's (already in seq order with unique ids, which
/// the snapshot guarantees), in the transaction that imports its slots.
pub(crate) fn replace(
    txn: &WriteTransaction,
    records: &[CallRecord],
) -> Result<Summary, TableError> {
    // Deleted and reopened (which recreates them), so that they exist even when left empty.
    txn.delete_table(CALLS)?;
    txn.delete_table(CALL_IDS)?;
    let mut calls = Calls::open(txn, Summary::default())?;
    for r in records {
        calls.insert(r.seq, r.time_ms, &r.message_id, &r.request, &r.reply)?;
    }
    Ok(calls.summary)
}

/// The two tables open in one write transaction, with the summary of what they hold.
struct Calls<'t> {
    by_seq: Table<'t, u64, Stored>,
    by_id: Table<'t, &'static str, u64>,
    summary: Summary,
}

impl<'t> Calls<'t> {
    fn open(txn: &'t WriteTransaction, summary: Summary) -> Result<Self, TableError> {
        Ok(Calls {
            by_seq: txn.open_table(CALLS)?,
            by_id: txn.open_table(CALL_IDS)?,
            summary,
        })
    }

    fn get(&self, id: &MessageId) -> Result<Option<CallRecord>, StorageError> {
        let Some(seq) = self.by_id.get(id.as_str())?.map(|g| g.value()) else {
            return Ok(None);
        };
        match self.by_seq.get(seq)? {
            Some(value) => decode(seq, value.value()).map(Some),
            // Each table names every entry of the other.
            None => Err(corrupt("id without call")),
        }
    }

    /// Step 1: forgets every call more than `max_age_ms` older than `now_ms`.
    fn forget_older(&mut self, now_ms: u64, max_age_ms: u64) -> Result<(), StorageError> {
        while self.summary.any_older(now_ms, max_age_ms) {
            self.forget_oldest()?;
        }
        Ok(())
    }

    /// Step 3, after remembering: forgets the lowest seqs until at most `max_entries` remain.
    fn trim(&mut self, max_entries: u64) -> Result<(), StorageError> {
        while self.summary.count > max_entries {
            self.forget_oldest()?;
        }
        Ok(())
    }

    fn forget_oldest(&mut self) -> Result<(), StorageError> {
        let id = match self.by_seq.pop_first()? {
            Some((_, value)) => value.value().1.to_owned(),
            None => return Err(corrupt("count above the stored calls")),
        };
        if self.by_id.remove(id.as_str())?.is_none() {
            return Err(corrupt("call without id"));
        }
        self.summary = Summary {
            count: self.summary.count.saturating_sub(1),
            oldest_ms: oldest_ms(&self.by_seq)?,
        };
        Ok(())
    }

    /// Step 3: remembers a call just executed (its seq above every remembered one).
    fn remember(
        &mut self,
        id: &MessageId,
        call: &Ordered<'_>,
        reply: &Reply,
    ) -> Result<(), StorageError> {
        self.insert(call.seq, call.time_ms, id, call.request, reply)
    }

    fn insert(
        &mut self,
        seq: u64,
        time_ms: u64,
        id: &MessageId,
        request: &Request,
        reply: &Reply,
    ) -> Result<(), StorageError> {
        let (request, reply) = (request.encode(), reply.encode());
        self.by_seq.insert(
            seq,
            (time_ms, id.as_str(), request.as_slice(), reply.as_slice()),
        )?;
        self.by_id.insert(id.as_str(), seq)?;
        self.summary = Summary {
            count: self.summary.count.saturating_add(1),
            oldest_ms: self.summary.oldest_ms.or(Some(time_ms)),
        };
        Ok(())
    }
}
