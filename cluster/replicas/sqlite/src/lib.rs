//! A Tessera replica that keeps its state in SQLite and states the rules of
//! `docs/domain.md` as SQL.
//!
//! - `schema`: tables for slots and reservations, with the event's date, time of day, week and
//!   city derived from the event ID by generated columns; a `meta` row holds `applied_seq`.
//! - `command`: step 0, argument syntax.
//! - `ops`: the seven operations, each a handful of cached statements.
//! - `calls`: the remembered calls of `docs/domain.md`, "Repeated calls", in a table of
//!   their own, with a summary in memory so that most calls need no SQL for them.
//! - `state`: export and import of the canonical snapshot.
//!
//! `applied_seq` is written in the same transaction as the effects it covers (the
//! requests', and remembering or forgetting calls), so after a crash the database holds
//! exactly the state after its recorded sequence number. The database runs in WAL mode with
//! `synchronous = FULL`: a commit is durable when it returns.
//!
//! - `Durability::Sync` (and in memory): every request is one transaction, durable on return.
//! - `Durability::Deferred`: one write transaction stays open across requests and each request
//!   is a savepoint inside it (released on success, rolled back to on error, so a failed
//!   request leaves earlier, still unsynced, requests intact). `sync` records the last
//!   applied seq and commits: one log append and one fsync per batch (group commit). Export,
//!   digest and import run inside the open transaction and so see (or replace) the applied
//!   state; dropping the replica commits. A crash before `sync` loses the open transaction,
//!   and reopening finds the last synced `applied_seq` with its state.
//! - If SQLite rolls back the whole open transaction on an error (it may, e.g. on I/O
//!   errors or a full disk), or a savepoint cannot be rolled back to, the unsynced requests
//!   are gone and the replica can no longer match its `applied_seq`: it is then *poisoned*
//!   and every later call fails with `ReplicaError::Storage`, so the manager replaces it.

mod calls;
mod command;
mod error;
mod ops;
mod schema;
mod state;

#[cfg(test)]
mod tests;

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use tessera_types::{
    Code, Durability, Ordered, Outcome, Replica, ReplicaError, Reply, Request, Snapshot,
};

use crate::calls::Summary;
use crate::error::StorageError;

/// Name of the database file inside the replica's directory.
pub const DATABASE_FILE: &str = "replica.sqlite3";

/// A replica backed by one SQLite database, in a directory or in memory.
#[derive(Debug)]
pub struct SqliteReplica {
    conn: Connection,
    /// Mirror of `meta.applied_seq`, updated only after the commit (or, when deferred, the
    /// savepoint release) that wrote it.
    applied_seq: u64,
    /// Summary of `remembered_call`, updated like `applied_seq`: only after the write that
    /// changed the table took hold.
    calls: Summary,
    /// Requests share one write transaction, committed by `sync`.
    deferred: bool,
    /// The shared write transaction of deferred mode is open.
    in_batch: bool,
    /// Unsynced requests were lost (see the crate documentation); set for good.
    poisoned: bool,
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
        let calls = Summary::load(&conn)?;
        Ok(SqliteReplica {
            conn,
            applied_seq,
            calls,
            deferred: false,
            in_batch: false,
            poisoned: false,
        })
    }

    fn open_file(dir: &Path, durability: Durability) -> error::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut conn = Connection::open(dir.join(DATABASE_FILE))?;
        schema::configure_file(&conn)?;
        let applied_seq = schema::install(&mut conn)?;
        let calls = Summary::load(&conn)?;
        sync_directory(dir)?;
        Ok(SqliteReplica {
            conn,
            applied_seq,
            calls,
            deferred: durability == Durability::Deferred,
            in_batch: false,
            poisoned: false,
        })
    }

    /// Runs `work` and records `seq` as applied, both in one transaction: either both happen
    /// or neither does.
    fn transact<T>(
        &mut self,
        seq: u64,
        work: impl FnOnce(&Connection) -> error::Result<T>,
    ) -> error::Result<T> {
        self.check_usable()?;
        if self.deferred {
            return self.transact_in_batch(seq, work);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = work(&tx)?;
        schema::write_applied_seq(&tx, seq)?;
        tx.commit()?;
        self.applied_seq = seq;
        Ok(out)
    }

    /// Deferred mode: `work` is one savepoint inside the shared write transaction, opened
    /// here if need be. `applied_seq` is written once, by the commit (`commit_batch`): only a
    /// reopen reads it back, and a reopen sees the batch whole or not at all.
    fn transact_in_batch<T>(
        &mut self,
        seq: u64,
        work: impl FnOnce(&Connection) -> error::Result<T>,
    ) -> error::Result<T> {
        if !self.in_batch {
            self.run("BEGIN IMMEDIATE")?;
            self.in_batch = true;
        }
        if let Err(e) = self.run("SAVEPOINT request") {
            if self.conn.is_autocommit() {
                self.poison();
            }
            return Err(e);
        }
        match work(&self.conn) {
            Ok(out) => match self.run("RELEASE request") {
                Ok(()) => {
                    self.applied_seq = seq;
                    Ok(out)
                }
                Err(e) => Err(self.undo_request(e)),
            },
            Err(e) => Err(self.undo_request(e)),
        }
    }

    /// Undoes the current request's savepoint after `cause`, keeping earlier requests of the
    /// batch; poisons the replica if that is no longer possible. Returns `cause`.
    fn undo_request(&mut self, cause: StorageError) -> StorageError {
        // SQLite may already have rolled back the whole transaction (autocommit again);
        // otherwise the savepoint must be undone and then dropped.
        let kept = !self.conn.is_autocommit()
            && self.run("ROLLBACK TO request").is_ok()
            && self.run("RELEASE request").is_ok();
        if !kept {
            self.poison();
        }
        cause
    }

    /// Gives up on the unsynced requests: rolls back whatever is still open, so nothing of
    /// an unknown state can ever be committed, and refuses all further work.
    fn poison(&mut self) {
        self.poisoned = true;
        if !self.conn.is_autocommit() {
            // Best effort: if even this fails, the connection is closed uncommitted on drop.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.in_batch = false;
    }

    fn check_usable(&self) -> error::Result<()> {
        if self.poisoned {
            return Err(StorageError::new(
                "unsynced requests were lost to an earlier storage failure; replace this replica",
            ));
        }
        Ok(())
    }

    /// Runs one statement without results through the statement cache.
    fn run(&self, sql: &str) -> error::Result<()> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    /// Commits the shared write transaction of deferred mode, if open.
    fn commit_batch(&mut self) -> error::Result<()> {
        if self.in_batch {
            let commit = schema::write_applied_seq(&self.conn, self.applied_seq)
                .and_then(|()| self.run("COMMIT"));
            if let Err(e) = commit {
                self.poison();
                return Err(e);
            }
            self.in_batch = false;
        }
        Ok(())
    }
}

impl Drop for SqliteReplica {
    /// A clean shutdown keeps every applied request: the open batch is committed (durable
    /// against process death at once; closing the connection also checkpoints the log).
    fn drop(&mut self) {
        if !self.poisoned {
            let _ = self.commit_batch();
        }
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

impl SqliteReplica {
    /// Calls must come with consecutive sequence numbers.
    fn check_next(&self, seq: u64) -> Result<(), ReplicaError> {
        let expected = self
            .applied_seq
            .checked_add(1)
            .ok_or_else(|| StorageError::new("sequence numbers exhausted"))?;
        if seq != expected {
            return Err(ReplicaError::Sequence { expected, got: seq });
        }
        Ok(())
    }
}

/// The steps of `docs/domain.md`, "Repeated calls", in their order, inside the call's
/// transaction. `calls` is the summary before the call; the one after is returned for the
/// caller to install once the transaction holds.
fn answer(
    conn: &Connection,
    call: &Ordered<'_>,
    calls: Summary,
) -> error::Result<(Outcome, Summary)> {
    let calls = calls::forget_older(conn, calls, call.time_ms, call.memory.max_age_ms)?;
    let Some(id) = call.message_id else {
        return Ok((Outcome::fresh(ops::execute(conn, call.request)?), calls));
    };
    if let Some(first) = calls::find(conn, calls, id)? {
        // A repeat or a reuse changes nothing but what step 1 forgot.
        let outcome = if first.request == *call.request {
            Outcome {
                reply: first.reply,
                repeat_of: Some(first.seq),
            }
        } else {
            Outcome::fresh(Reply::code(Code::MessageIdReused))
        };
        return Ok((outcome, calls));
    }
    let reply = ops::execute(conn, call.request)?;
    let calls = calls::remember(conn, calls, call, id, &reply)?;
    Ok((Outcome::fresh(reply), calls))
}

impl Replica for SqliteReplica {
    fn call(&mut self, call: &Ordered<'_>) -> Result<Outcome, ReplicaError> {
        self.check_next(call.seq)?;
        let before = self.calls;
        let (outcome, after) = self.transact(call.seq, |conn| answer(conn, call, before))?;
        self.calls = after;
        Ok(outcome)
    }

    fn applied_seq(&self) -> u64 {
        self.applied_seq
    }

    fn read(&self, request: &Request) -> Result<Option<Reply>, ReplicaError> {
        if !request.is_read_only() {
            return Ok(None);
        }
        // Inside the open batch, if any: the connection sees its own uncommitted writes, so
        // this is the state after `applied_seq`. The two read-only operations only SELECT.
        self.check_usable()?;
        Ok(Some(ops::execute(&self.conn, request)?))
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        // Inside the open batch, if any: the connection sees its own uncommitted writes.
        self.check_usable()?;
        Ok(state::export(&self.conn)?)
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        self.calls = self.transact(seq, |conn| state::import(conn, snapshot))?;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), ReplicaError> {
        self.check_usable()?;
        Ok(self.commit_batch()?)
    }
}
