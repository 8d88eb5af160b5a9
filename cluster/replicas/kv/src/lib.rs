//! `replica-kv`: a Tessera replica on the embedded key-value store redb.
//!
//! The state lives in redb tables whose composite byte keys sort in exactly the orders the
//! queries need (see `keys.rs`), so every check and every reply list is a point lookup or one
//! range scan. Every redb commit also records the sequence number of the last request it
//! contains, so state and `applied_seq` are committed, or lost, together. The remembered calls
//! of "Repeated calls" are two more tables of the same database (see `calls.rs`), written by
//! the transaction that applies the call, so they too are committed or lost with the state.
//!
//! # Durability and crashes
//!
//! redb commits are atomic, and on reopen after a crash redb rolls back to the last commit that
//! was made durable (its commit slots are checksummed; a torn commit is discarded).
//!
//! - [`Durability::Sync`]: each request runs in its own write transaction, committed with
//!   redb's immediate durability (fsync before `commit` returns), so after a crash the replica
//!   resumes exactly at its last `apply`.
//! - [`Durability::Deferred`] (group commit): a redb write transaction costs far more than the
//!   work of a typical request, so the replica keeps one write transaction open across
//!   requests, with the domain tables open in it (opening a table costs more than most
//!   requests too; `pending.rs`), and [`Replica::sync`] commits it durably; the next request
//!   opens a new one.
//!   After a crash, redb reopens at the last sync: an older but consistent (state,
//!   applied_seq) pair, never a partial one. Dropping the replica commits the open
//!   transaction durably, so a clean shutdown loses nothing. `export` and `digest` read
//!   through the open transaction, so they see every applied request.
//!
//! # Atomicity of a request inside the open transaction
//!
//! redb cannot roll back part of a write transaction (its savepoints can only be taken before
//! the transaction's first write), so each request is atomic by construction instead: every
//! operation does all its checks, which only read, before its first write (see `ops.rs`), so a
//! request that fails a check writes nothing. A storage error, however, may strike between
//! two writes of one request. On any storage error in this mode the replica aborts the whole open transaction, which also
//! discards the earlier requests applied since the last sync; `applied_seq` falls back to the
//! last synced sequence number (what the database now holds), and the replica is *failed*:
//! every later `apply`, `sync`, `export`, `import` and `digest` returns
//! [`ReplicaError::Storage`], so the host replaces it (and never counts the lost requests as
//! durable). Reopening the directory yields a working replica at the last sync.

mod calendar;
mod calls;
mod keys;
mod ops;
mod pending;
mod store;
#[cfg(test)]
mod tests;

use std::fmt::Display;
use std::path::Path;

use redb::backends::InMemoryBackend;
use redb::{Database, ReadableDatabase, WriteTransaction};
use tessera_types::{
    Durability, Ordered, Outcome, Replica, ReplicaError, Reply, Request, Snapshot,
};

use crate::calls::Summary;
use crate::pending::Pending;
use crate::store::Tables;

/// File name of the database inside the replica's directory.
const DB_FILE: &str = "replica.redb";

/// A replica whose state is a redb database.
pub struct KvReplica {
    /// [`Durability::Deferred`] only: the write transaction holding every request applied
    /// since the last sync, if any, with the domain tables open in it. Declared before `db`
    /// so that it is dropped first.
    pending: Option<Pending>,
    db: Database,
    durability: Durability,
    /// Cached copy of the stored sequence number, which only changes in our own transactions.
    applied: u64,
    /// Sequence number of the last commit (in `Sync` mode always equal to `applied`).
    committed: u64,
    /// Cached summary of the remembered calls as of `applied`, so that a call without a message
    /// id needs no lookup in their tables unless one is old enough to forget.
    calls: Summary,
    /// The same as of `committed`, what a failed replica's database still holds.
    committed_calls: Summary,
    /// Set by any storage error in `Deferred` mode, which aborts the open transaction; see the
    /// crate documentation.
    failed: Option<String>,
}

fn storage(e: impl Display) -> ReplicaError {
    ReplicaError::Storage(e.to_string())
}

impl KvReplica {
    /// Opens the replica stored in `dir`, creating the directory and database if needed; a
    /// reopened replica resumes at its last durable commit.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, ReplicaError> {
        std::fs::create_dir_all(dir).map_err(storage)?;
        let db = Database::create(dir.join(DB_FILE)).map_err(storage)?;
        Self::with_database(db, durability)
    }

    /// A replica held entirely in memory, for tests and tools.
    pub fn in_memory() -> Result<Self, ReplicaError> {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .map_err(storage)?;
        // Without a disk durability means nothing, but deferred mode batches the requests
        // between syncs into one transaction, which is much cheaper than one per request.
        Self::with_database(db, Durability::Deferred)
    }

    fn with_database(db: Database, durability: Durability) -> Result<Self, ReplicaError> {
        let mut txn = db.begin_write().map_err(storage)?;
        // Creating the tables must outlive a crash, or reads after a reopen could fail.
        txn.set_durability(redb::Durability::Immediate)
            .map_err(storage)?;
        let applied = store::init(&txn).map_err(storage)?;
        let calls = calls::init(&txn).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(KvReplica {
            pending: None,
            db,
            durability,
            applied,
            committed: applied,
            calls,
            committed_calls: calls,
            failed: None,
        })
    }

    /// A write transaction committing durably: per request in `Sync` mode, per sync in
    /// `Deferred` mode.
    fn begin(&self) -> Result<WriteTransaction, ReplicaError> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(storage)?;
        Ok(txn)
    }

    fn check_failed(&self) -> Result<(), ReplicaError> {
        match &self.failed {
            Some(e) => Err(ReplicaError::Storage(format!(
                "replica failed earlier: {e}"
            ))),
            None => Ok(()),
        }
    }

    /// `Deferred` mode: runs `work` in the open transaction, opening one if needed. An error
    /// aborts the transaction and fails the replica (see the crate documentation).
    fn in_pending<T>(
        &mut self,
        work: impl FnOnce(&WriteTransaction, &mut Tables<'_>) -> Result<T, ReplicaError>,
    ) -> Result<T, ReplicaError> {
        self.check_failed()?;
        let result = match self.pending.take() {
            Some(pending) => Ok(pending),
            None => self
                .begin()
                .and_then(|txn| Pending::open(txn).map_err(storage)),
        }
        .and_then(|mut pending| {
            let out = pending.with_dependent_mut(|txn, tables| work(txn, tables))?;
            self.pending = Some(pending);
            Ok(out)
        });
        result.map_err(|e| self.fail(e))
    }

    /// Records a storage error after which the open transaction (already dropped, hence
    /// aborted) is lost.
    fn fail(&mut self, e: ReplicaError) -> ReplicaError {
        self.pending = None;
        self.applied = self.committed;
        self.calls = self.committed_calls;
        self.failed = Some(e.to_string());
        e
    }

    /// Commits the open transaction, if any, durably.
    fn commit_pending(&mut self) -> Result<(), ReplicaError> {
        self.check_failed()?;
        if let Some(pending) = self.pending.take() {
            let txn = pending.close();
            // The sequence number is only read back after a reopen, so it is recorded once,
            // in the commit, rather than by every request.
            let commit = store::set_applied_seq(&txn, self.applied)
                .map_err(storage)
                .and_then(|()| txn.commit().map_err(storage));
            if let Err(e) = commit {
                return Err(self.fail(e));
            }
            self.committed = self.applied;
            self.committed_calls = self.calls;
        }
        Ok(())
    }
}

impl Drop for KvReplica {
    /// A clean shutdown keeps every applied request.
    fn drop(&mut self) {
        // Nothing to report an error to: the requests are lost as in a crash.
        let _ = self.commit_pending();
    }
}

impl KvReplica {
    /// Runs `work` in a write transaction of its own (`Sync`) or in the open one (`Deferred`),
    /// records `seq` as applied, and caches the summary of the remembered calls it returns.
    /// On an error nothing is recorded: in `Sync` mode the dropped transaction is aborted, in
    /// `Deferred` mode the replica fails (see the crate documentation).
    fn write<T>(
        &mut self,
        seq: u64,
        work: impl FnOnce(&WriteTransaction, &mut Tables<'_>) -> Result<(T, Summary), ReplicaError>,
    ) -> Result<T, ReplicaError> {
        let (out, calls) = match self.durability {
            Durability::Sync => {
                let txn = self.begin()?;
                // An error before the commit drops `txn`, which aborts it: nothing applied.
                let (out, calls) = {
                    let mut tables = Tables::open(&txn).map_err(storage)?;
                    work(&txn, &mut tables)?
                };
                store::set_applied_seq(&txn, seq).map_err(storage)?;
                txn.commit().map_err(storage)?;
                self.committed = seq;
                self.committed_calls = calls;
                (out, calls)
            }
            Durability::Deferred => self.in_pending(work)?,
        };
        self.applied = seq;
        self.calls = calls;
        Ok(out)
    }
}

impl Replica for KvReplica {
    fn call(&mut self, call: &Ordered<'_>) -> Result<Outcome, ReplicaError> {
        self.check_failed()?;
        let expected = self.applied.wrapping_add(1);
        if call.seq != expected {
            return Err(ReplicaError::Sequence {
                expected,
                got: call.seq,
            });
        }
        let summary = self.calls;
        self.write(call.seq, |txn, tables| {
            calls::answer(txn, tables, summary, call).map_err(storage)
        })
    }

    fn applied_seq(&self) -> u64 {
        self.applied
    }

    fn read(&self, request: &Request) -> Result<Option<Reply>, ReplicaError> {
        self.check_failed()?;
        if !request.is_read_only() {
            return Ok(None);
        }
        // The open batch holds the writes after the last commit; without one, a write
        // transaction that is dropped unused (aborted) sees the committed state. The two
        // read-only operations only read the tables.
        match &self.pending {
            Some(pending) => pending
                .with_dependent(|_, tables| ops::read(tables, request))
                .map_err(storage),
            None => {
                let txn = self.begin()?;
                let reply = {
                    let tables = Tables::open(&txn).map_err(storage)?;
                    ops::read(&tables, request).map_err(storage)?
                };
                txn.abort().map_err(storage)?;
                Ok(reply)
            }
        }
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        self.check_failed()?;
        let (slots, calls) = match &self.pending {
            Some(pending) => pending.with_dependent(|txn, tables| {
                Ok::<_, ReplicaError>((
                    tables.read_all().map_err(storage)?,
                    calls::read_all_pending(txn).map_err(storage)?,
                ))
            })?,
            None => {
                // One read transaction for both, so they come from the same commit.
                let txn = self.db.begin_read().map_err(storage)?;
                (
                    store::read_all(&txn).map_err(storage)?,
                    calls::read_all(&txn).map_err(storage)?,
                )
            }
        };
        Ok(Snapshot::with_calls(slots, calls)?)
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        self.check_failed()?;
        self.write(seq, |txn, tables| {
            tables.clear().map_err(storage)?;
            for record in snapshot.slots() {
                tables.insert_record(record).map_err(storage)?;
            }
            let calls = calls::replace(txn, snapshot.calls()).map_err(storage)?;
            Ok(((), calls))
        })
    }

    fn sync(&mut self) -> Result<(), ReplicaError> {
        self.commit_pending()
    }
}
