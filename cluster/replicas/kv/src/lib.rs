//! `replica-kv`: a Tessera replica on the embedded key-value store redb.
//!
//! The state lives in redb tables whose composite byte keys sort in exactly the orders the
//! queries need (see `keys.rs`), so every check and every reply list is a point lookup or one
//! range scan. Each request runs in one redb write transaction that also records its sequence
//! number, so state and `applied_seq` are committed, or lost, together.
//!
//! # Durability and crashes
//!
//! redb commits are atomic, and on reopen after a crash redb rolls back to the last commit that
//! was made durable (its commit slots are checksummed; a torn commit is discarded).
//!
//! - [`Durability::Sync`]: every commit uses redb's immediate durability (fsync before
//!   `commit` returns), so after a crash the replica resumes exactly at its last `apply`.
//! - [`Durability::Deferred`]: commits are non-durable (`redb::Durability::None`: visible in
//!   this process, not fsynced) and [`Replica::sync`] makes a durable commit, which persists
//!   every earlier non-durable one. After a crash, redb reopens at the last durable commit: an
//!   older but consistent (state, applied_seq) pair, never a partial one. A clean drop also
//!   persists pending commits (redb promotes them when the database closes). Until a durable
//!   commit, redb cannot reuse pages freed by non-durable ones, so hosts should sync
//!   periodically.

mod calendar;
mod keys;
mod ops;
mod store;
#[cfg(test)]
mod tests;

use std::fmt::Display;
use std::path::Path;

use redb::backends::InMemoryBackend;
use redb::{Database, ReadableDatabase, WriteTransaction};
use tessera_types::{Durability, Replica, ReplicaError, Reply, Request, Snapshot};

/// File name of the database inside the replica's directory.
const DB_FILE: &str = "replica.redb";

/// A replica whose state is a redb database.
pub struct KvReplica {
    db: Database,
    durability: Durability,
    /// Cached copy of the stored sequence number, which only changes in our own commits.
    applied: u64,
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
        // Without a disk durability means nothing, but redb's durable commits still cost more
        // than twice as much as non-durable ones; `sync` remains useful to let redb reclaim
        // pages freed since the last durable commit.
        Self::with_database(db, Durability::Deferred)
    }

    fn with_database(db: Database, durability: Durability) -> Result<Self, ReplicaError> {
        let mut txn = db.begin_write().map_err(storage)?;
        // Creating the tables must outlive a crash, or reads after a reopen could fail.
        txn.set_durability(redb::Durability::Immediate)
            .map_err(storage)?;
        let applied = store::init(&txn).map_err(storage)?;
        txn.commit().map_err(storage)?;
        Ok(KvReplica {
            db,
            durability,
            applied,
        })
    }

    /// A write transaction committing with the configured durability.
    fn begin(&self) -> Result<WriteTransaction, ReplicaError> {
        let mut txn = self.db.begin_write().map_err(storage)?;
        let level = match self.durability {
            Durability::Sync => redb::Durability::Immediate,
            Durability::Deferred => redb::Durability::None,
        };
        txn.set_durability(level).map_err(storage)?;
        Ok(txn)
    }
}

impl Replica for KvReplica {
    fn apply(&mut self, seq: u64, request: &Request) -> Result<Reply, ReplicaError> {
        let expected = self.applied.wrapping_add(1);
        if seq != expected {
            return Err(ReplicaError::Sequence { expected, got: seq });
        }
        let txn = self.begin()?;
        let reply = {
            let mut tables = store::Tables::open(&txn).map_err(storage)?;
            ops::apply(&mut tables, request).map_err(storage)?
        };
        // An error before this point drops `txn`, which aborts it: nothing applied.
        store::set_applied_seq(&txn, seq).map_err(storage)?;
        txn.commit().map_err(storage)?;
        self.applied = seq;
        Ok(reply)
    }

    fn applied_seq(&self) -> u64 {
        self.applied
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let records = store::read_all(&txn).map_err(storage)?;
        Ok(Snapshot::new(records)?)
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        let txn = self.begin()?;
        store::clear(&txn).map_err(storage)?;
        {
            let mut tables = store::Tables::open(&txn).map_err(storage)?;
            for record in snapshot.slots() {
                tables.insert_record(record).map_err(storage)?;
            }
        }
        store::set_applied_seq(&txn, seq).map_err(storage)?;
        txn.commit().map_err(storage)?;
        self.applied = seq;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), ReplicaError> {
        if self.durability == Durability::Sync {
            return Ok(());
        }
        // An empty durable commit persists every non-durable commit before it.
        let mut txn = self.db.begin_write().map_err(storage)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(storage)?;
        txn.commit().map_err(storage)
    }
}
