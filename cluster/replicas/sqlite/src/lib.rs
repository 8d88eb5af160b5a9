//! A Tessera replica that keeps its state in SQLite and states the rules of
//! `docs/domain.md` as SQL.
//!
//! - `schema`: tables for slots and reservations, with the event's date, time of day, week and
//!   city derived from the event ID by generated columns; a `meta` row holds `applied_seq`.
//! - `command`: step 0, argument syntax.
//! - `ops`: the seven operations, each a handful of cached statements.
//! - `state`: export and import of the canonical snapshot.
//!
//! Every request is one transaction that also advances `applied_seq`, so after a crash the
//! database holds exactly the state after its recorded sequence number.

mod command;
mod error;
mod ops;
mod schema;
mod state;

#[cfg(test)]
mod tests;

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use tessera_types::{Code, Durability, Replica, ReplicaError, Reply, Request, Snapshot};

use crate::command::Command;
use crate::error::StorageError;

/// Name of the database file inside the replica's directory.
pub const DATABASE_FILE: &str = "replica.sqlite3";

/// A replica backed by one SQLite database, in a directory or in memory.
#[derive(Debug)]
pub struct SqliteReplica {
    conn: Connection,
    /// Mirror of `meta.applied_seq`, updated only after the commit that wrote it.
    applied_seq: u64,
    /// Only a file has a log to checkpoint on `sync`.
    on_disk: bool,
}

impl SqliteReplica {
    /// Opens the replica stored in `dir`, creating the directory and an empty database if
    /// needed. A reopened replica resumes with the state and `applied_seq` it had.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, ReplicaError> {
        Ok(Self::open_file(dir, durability)?)
    }

    /// A replica that lives only as long as the value; for tests.
    pub fn in_memory() -> Result<Self, ReplicaError> {
        let mut conn = Connection::open_in_memory().map_err(StorageError::from)?;
        schema::configure_common(&conn)?;
        let applied_seq = schema::install(&mut conn)?;
        Ok(SqliteReplica {
            conn,
            applied_seq,
            on_disk: false,
        })
    }

    fn open_file(dir: &Path, durability: Durability) -> error::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut conn = Connection::open(dir.join(DATABASE_FILE))?;
        schema::configure_file(&conn, durability)?;
        let applied_seq = schema::install(&mut conn)?;
        sync_directory(dir)?;
        Ok(SqliteReplica {
            conn,
            applied_seq,
            on_disk: true,
        })
    }

    /// Runs `work` and records `seq` as applied, both in one transaction: either both happen
    /// or neither does.
    fn transact<T>(
        &mut self,
        seq: u64,
        work: impl FnOnce(&Connection) -> error::Result<T>,
    ) -> error::Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = work(&tx)?;
        schema::write_applied_seq(&tx, seq)?;
        tx.commit()?;
        self.applied_seq = seq;
        Ok(out)
    }
}

/// A new database file's directory entry is only durable once the directory itself is
/// synced; SQLite syncs directories for its journals but not for the main file.
#[cfg(unix)]
fn sync_directory(dir: &Path) -> error::Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn sync_directory(_dir: &Path) -> error::Result<()> {
    Ok(())
}

impl Replica for SqliteReplica {
    fn apply(&mut self, seq: u64, request: &Request) -> Result<Reply, ReplicaError> {
        let expected = self
            .applied_seq
            .checked_add(1)
            .ok_or_else(|| StorageError::new("sequence numbers exhausted"))?;
        if seq != expected {
            return Err(ReplicaError::Sequence { expected, got: seq });
        }
        let command = Command::parse(request);
        Ok(self.transact(seq, |conn| match &command {
            Some(command) => ops::execute(conn, command),
            // A malformed request still consumes its sequence number.
            None => Ok(Reply::code(Code::InvalidArgument)),
        })?)
    }

    fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        Ok(state::export(&self.conn)?)
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        Ok(self.transact(seq, |conn| state::import(conn, snapshot))?)
    }

    fn sync(&mut self) -> Result<(), ReplicaError> {
        if self.on_disk {
            schema::checkpoint(&self.conn)?;
        }
        Ok(())
    }
}
