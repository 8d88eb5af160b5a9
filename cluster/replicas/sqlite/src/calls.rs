//! The calls this replica answered with a message id (`docs/domain.md`, "Repeated calls"),
//! kept in the `remembered_call` table. Every function runs inside the caller's transaction,
//! the one that also holds the request's effect and its `applied_seq`, so a call and its
//! memory are written (or lost) together.
//!
//! Most calls carry no message id and find nothing old enough to forget. So that those cost
//! no SQL at all, the replica keeps a [`Summary`] of the table in memory; each function here
//! takes the summary before the change and returns the one after, which the caller installs
//! only once the transaction has committed.
//!
//! Times never decrease along seqs, so the lowest seq is also the oldest call: forgetting by
//! age and by count both delete a range of the lowest seqs, which is a rowid range.

use rusqlite::{Connection, OptionalExtension};
use tessera_types::{CallRecord, MessageId, Ordered, Reply, Request};

use crate::error::{Result, StorageError};

/// One statement text for both writers, so the statement cache holds it once.
const INSERT_SQL: &str = "INSERT INTO remembered_call (seq, message_id, time_ms, request, reply)
     VALUES (?1, ?2, ?3, ?4, ?5)";

/// Step 2's lookup. Named, like [`FIRST_KEPT_SQL`], so that tests can count its runs.
pub(crate) const FIND_SQL: &str =
    "SELECT seq, request, reply FROM remembered_call WHERE message_id = ?1";

/// See [`first_kept`].
pub(crate) const FIRST_KEPT_SQL: &str =
    "SELECT seq, time_ms FROM remembered_call WHERE time_ms >= ?1 ORDER BY seq LIMIT 1";

/// What the replica knows about `remembered_call` without asking SQLite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Rows in the table.
    count: u64,
    /// Time of the row with the lowest seq; `None` when the table is empty.
    oldest_ms: Option<u64>,
}

impl Summary {
    /// Reads the summary of a database just opened.
    pub(crate) fn load(conn: &Connection) -> Result<Summary> {
        let count: i64 = conn
            .prepare_cached("SELECT count(*) FROM remembered_call")?
            .query_row([], |r| r.get(0))?;
        Ok(Summary {
            count: stored_u64("remembered call count", count)?,
            // Every stored time is at least 0: the first kept is the lowest seq.
            oldest_ms: first_kept(conn, 0)?.map(|first| first.time_ms),
        })
    }

    /// The summary of a table holding exactly `records` (in seq order).
    fn of(records: &[CallRecord]) -> Summary {
        Summary {
            count: records.len() as u64,
            oldest_ms: records.first().map(|r| r.time_ms),
        }
    }
}

/// A remembered call found by its message id.
pub(crate) struct Remembered {
    pub(crate) seq: u64,
    pub(crate) request: Request,
    pub(crate) reply: Reply,
}

/// The row a range deletion stops at: the first one that stays.
struct Kept {
    seq: u64,
    time_ms: u64,
}

impl Kept {
    /// The `(seq, time_ms)` columns of a query row.
    fn columns(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, i64)> {
        Ok((row.get(0)?, row.get(1)?))
    }

    fn stored((seq, time_ms): (i64, i64)) -> Result<Kept> {
        Ok(Kept {
            seq: stored_u64("remembered seq", seq)?,
            time_ms: stored_u64("remembered time", time_ms)?,
        })
    }
}

/// Step 1: forgets every call for which `now_ms - time > max_age_ms`.
pub(crate) fn forget_older(
    conn: &Connection,
    summary: Summary,
    now_ms: u64,
    max_age_ms: u64,
) -> Result<Summary> {
    let Some(oldest_ms) = summary.oldest_ms else {
        return Ok(summary);
    };
    if now_ms.saturating_sub(oldest_ms) <= max_age_ms {
        // Not even the oldest is old enough: the common case, decided without SQL.
        return Ok(summary);
    }
    // A call stays when its time is at least `now_ms - max_age_ms` (no underflow: the test
    // above found `now_ms - oldest_ms > max_age_ms`). A bound beyond SQLite's integers is
    // above every stored time, so then nothing stays.
    let keep_from = now_ms - max_age_ms;
    let kept = match i64::try_from(keep_from) {
        Ok(keep_from) => first_kept(conn, keep_from)?,
        Err(_) => None,
    };
    forget_below(conn, summary, kept)
}

/// Step 2: the remembered call with message id `id`, if any.
pub(crate) fn find(
    conn: &Connection,
    summary: Summary,
    id: &MessageId,
) -> Result<Option<Remembered>> {
    if summary.count == 0 {
        return Ok(None);
    }
    conn.prepare_cached(FIND_SQL)?
        .query_row([id.as_str()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })
        .optional()?
        .map(|(seq, request, reply)| {
            Ok(Remembered {
                seq: stored_u64("remembered seq", seq)?,
                request: stored_request(&request)?,
                reply: stored_reply(&reply)?,
            })
        })
        .transpose()
}

/// Step 3, after executing `call` (which has message id `id`) with `reply`: remembers it,
/// then forgets the lowest seqs beyond `call.memory.max_entries`.
pub(crate) fn remember(
    conn: &Connection,
    summary: Summary,
    call: &Ordered<'_>,
    id: &MessageId,
    reply: &Reply,
) -> Result<Summary> {
    conn.prepare_cached(INSERT_SQL)?.execute((
        to_sql(call.seq)?,
        id.as_str(),
        to_sql(call.time_ms)?,
        call.request.encode(),
        reply.encode(),
    ))?;
    let summary = Summary {
        count: summary.count + 1,
        oldest_ms: summary.oldest_ms.or(Some(call.time_ms)),
    };
    if summary.count <= call.memory.max_entries {
        return Ok(summary);
    }
    // The first row to keep is the one after the `excess` lowest; none if all go.
    let excess = summary.count - call.memory.max_entries;
    let kept = conn
        .prepare_cached("SELECT seq, time_ms FROM remembered_call ORDER BY seq LIMIT 1 OFFSET ?1")?
        .query_row([to_sql(excess)?], Kept::columns)
        .optional()?
        .map(Kept::stored)
        .transpose()?;
    forget_below(conn, summary, kept)
}

/// Every remembered call, in seq order, as the canonical snapshot holds them.
pub(crate) fn export(conn: &Connection) -> Result<Vec<CallRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT message_id, seq, time_ms, request, reply FROM remembered_call ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut records = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        records.push(CallRecord {
            message_id: MessageId::parse(&id)
                .map_err(|e| StorageError::new(format!("stored message id {id:?}: {e}")))?,
            seq: stored_u64("remembered seq", row.get(1)?)?,
            time_ms: stored_u64("remembered time", row.get(2)?)?,
            request: stored_request(&row.get::<_, Vec<u8>>(3)?)?,
            reply: stored_reply(&row.get::<_, Vec<u8>>(4)?)?,
        });
    }
    Ok(records)
}

/// Replaces every remembered call with `records` (a snapshot's: in seq order, unique ids).
pub(crate) fn import(conn: &Connection, records: &[CallRecord]) -> Result<Summary> {
    conn.prepare_cached("DELETE FROM remembered_call")?
        .execute([])?;
    let mut add = conn.prepare_cached(INSERT_SQL)?;
    for r in records {
        add.execute((
            to_sql(r.seq)?,
            r.message_id.as_str(),
            to_sql(r.time_ms)?,
            r.request.encode(),
            r.reply.encode(),
        ))?;
    }
    Ok(Summary::of(records))
}

/// The first call (by seq) whose time is at least `from_ms`. Walks the table in rowid order
/// and stops there, so it reads only the rows about to be forgotten, and one more.
fn first_kept(conn: &Connection, from_ms: i64) -> Result<Option<Kept>> {
    conn.prepare_cached(FIRST_KEPT_SQL)?
        .query_row([from_ms], Kept::columns)
        .optional()?
        .map(Kept::stored)
        .transpose()
}

/// Deletes every call with a seq below `kept`'s, or every call if `kept` is `None`.
fn forget_below(conn: &Connection, summary: Summary, kept: Option<Kept>) -> Result<Summary> {
    let Some(kept) = kept else {
        conn.prepare_cached("DELETE FROM remembered_call")?
            .execute([])?;
        return Ok(Summary::default());
    };
    let gone = conn
        .prepare_cached("DELETE FROM remembered_call WHERE seq < ?1")?
        .execute([to_sql(kept.seq)?])?;
    Ok(Summary {
        count: summary.count.saturating_sub(gone as u64),
        oldest_ms: Some(kept.time_ms),
    })
}

/// Seqs and times are stored as SQLite integers; a value beyond them cannot be remembered.
fn to_sql(value: u64) -> Result<i64> {
    i64::try_from(value)
        .map_err(|_| StorageError::new(format!("{value} exceeds SQLite's integer range")))
}

/// Values read back were checked on the way in (and by `CHECK`s); failing to decode one
/// means the file was damaged.
fn stored_u64(what: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StorageError::new(format!("stored {what} is {value}")))
}

fn stored_request(bytes: &[u8]) -> Result<Request> {
    Request::decode(bytes).map_err(|e| StorageError::new(format!("stored request: {e}")))
}

fn stored_reply(bytes: &[u8]) -> Result<Reply> {
    Reply::decode(bytes).map_err(|e| StorageError::new(format!("stored reply: {e}")))
}
