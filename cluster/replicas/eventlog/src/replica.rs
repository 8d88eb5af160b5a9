//! The replica: decide, append to the log, then fold into the projection.
//!
//! The order is what makes the log the source of truth: a request's events reach the log
//! (with its commit marker) before the in-memory state changes, so the state in memory is
//! never ahead of what a reopen would rebuild. The remembered calls follow the same path:
//! their changes are logged with the request's events and folded after them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tessera_types::{
    Durability, Ordered, Outcome, Replica, ReplicaError, Reply, Request, Snapshot, SnapshotError,
};

use crate::answered::{Answered, CallEvent};
use crate::decide::decide_call;
use crate::events::Event;
use crate::log::{self, Kind, Scanner, Step, Writer, LOG_FILE};
use crate::projection::Projection;

struct Disk {
    dir: PathBuf,
    durability: Durability,
    writer: Writer,
}

/// A reservation replica whose state is a projection of an append-only event log.
pub struct EventLogReplica {
    state: Projection,
    /// The calls answered with a message id and still remembered.
    answered: Answered,
    applied: u64,
    /// `None` for an in-memory replica.
    disk: Option<Disk>,
    /// Reused for every request's events, to keep allocation off the hot path.
    events: Vec<Event>,
    /// Reused likewise for each request's changes to the remembered calls (usually none).
    call_events: Vec<CallEvent>,
    /// Set once the log may no longer match memory (a failed append, or an event that did
    /// not fold). Everything but a full `import` is refused from then on: the replica must
    /// be replaced or re-seeded, never carry on silently.
    broken: Option<String>,
}

fn storage(what: &str, err: impl std::fmt::Display) -> ReplicaError {
    ReplicaError::Storage(format!("{what}: {err}"))
}

impl EventLogReplica {
    /// Opens (creating if needed) the replica stored in `dir`, rebuilding its state by
    /// replaying the log. A torn tail left by a crash is cut off, so the state is exactly
    /// that after the last request whose commit marker reached the disk intact.
    pub fn open(dir: &Path, durability: Durability) -> Result<Self, ReplicaError> {
        fs::create_dir_all(dir).map_err(|e| storage("creating the replica directory", e))?;
        log::remove_stale_tmp(dir).map_err(|e| storage("removing a stale temporary log", e))?;
        let path = dir.join(LOG_FILE);
        let exists = path
            .try_exists()
            .map_err(|e| storage("looking for the log", e))?;
        if !exists {
            log::replace(dir, None).map_err(|e| storage("creating the log", e))?;
        }
        let Recovered {
            state,
            answered,
            applied,
            valid_len,
        } = recover(&path)?;
        let writer = Writer::open(&path, valid_len, durability)
            .map_err(|e| storage("opening the log for append", e))?;
        Ok(EventLogReplica {
            state,
            answered,
            applied,
            disk: Some(Disk {
                dir: dir.to_path_buf(),
                durability,
                writer,
            }),
            events: Vec::new(),
            call_events: Vec::new(),
            broken: None,
        })
    }

    /// A replica that keeps nothing on disk.
    pub fn in_memory() -> Self {
        EventLogReplica {
            state: Projection::default(),
            answered: Answered::default(),
            applied: 0,
            disk: None,
            events: Vec::new(),
            call_events: Vec::new(),
            broken: None,
        }
    }

    /// The log file, for a persistent replica.
    pub fn log_path(&self) -> Option<&Path> {
        self.disk.as_ref().map(|d| d.writer.path())
    }

    /// Rewrites the log as a single snapshot of the current state, discarding the history
    /// that led to it.
    pub fn compact(&mut self) -> Result<(), ReplicaError> {
        let snapshot = self.export()?;
        self.import(self.applied, &snapshot)
    }

    fn healthy(&self) -> Result<(), ReplicaError> {
        match &self.broken {
            None => Ok(()),
            Some(why) => Err(ReplicaError::Storage(format!(
                "replica unusable after an earlier failure: {why}"
            ))),
        }
    }

    fn break_with(&mut self, err: ReplicaError) -> ReplicaError {
        self.broken = Some(err.to_string());
        err
    }
}

/// What replaying a log yields.
struct Recovered {
    state: Projection,
    answered: Answered,
    /// The last committed request.
    applied: u64,
    /// The file length up to that commit (anything after it is a torn tail).
    valid_len: u64,
}

/// Reads a snapshot record. One written before calls were remembered holds the canonical
/// encoding of that time, which ended after the slots; the canonical encoding of an empty
/// list of calls is the one byte 0 (a length), so with it appended those bytes are a
/// snapshot without calls, and old logs that start from a snapshot still replay.
fn decode_snapshot(payload: &[u8]) -> Result<Snapshot, SnapshotError> {
    Snapshot::decode(payload).or_else(|err| {
        let mut upgraded = Vec::with_capacity(payload.len() + 1);
        upgraded.extend_from_slice(payload);
        upgraded.push(0);
        Snapshot::decode(&upgraded).map_err(|_| err)
    })
}

/// Replays the log at `path`: the state, remembered calls and sequence number after its last
/// committed request.
fn recover(path: &Path) -> Result<Recovered, ReplicaError> {
    let corrupt = |what: String| ReplicaError::Storage(format!("{}: {what}", path.display()));
    let read_err = |e: io::Error| storage("reading the log", e);
    let mut scan = Scanner::open(path)
        .map_err(read_err)?
        .ok_or_else(|| corrupt("not an event log".into()))?;
    let mut state = Projection::default();
    let mut answered = Answered::default();
    let mut applied = 0u64;
    let mut valid_len = scan.offset();
    // Events of the request being read; they count only once its commit marker is read.
    let mut pending = Vec::new();
    let mut pending_calls = Vec::new();
    let mut first = true;
    // `End` and `Torn` both stop the replay; the caller cuts the file at `valid_len`.
    while let Step::Record(record) = scan.next_record().map_err(read_err)? {
        let next = applied.checked_add(1);
        match record.kind {
            Kind::Snapshot if first => {
                let snapshot = decode_snapshot(record.payload)
                    .map_err(|e| corrupt(format!("snapshot record: {e}")))?;
                state = Projection::from_records(snapshot.slots());
                answered = Answered::from_records(snapshot.calls());
                applied = record.seq;
                valid_len = record.end;
            }
            Kind::Event if Some(record.seq) == next => {
                let event = Event::decode(record.payload)
                    .map_err(|e| corrupt(format!("event of request {}: {e}", record.seq)))?;
                pending.push(event);
            }
            Kind::Call if Some(record.seq) == next => {
                let event = CallEvent::decode(record.seq, record.payload)
                    .map_err(|e| corrupt(format!("call event of request {}: {e}", record.seq)))?;
                pending_calls.push(event);
            }
            Kind::Commit if Some(record.seq) == next => {
                for event in pending.drain(..) {
                    state
                        .apply(&event)
                        .map_err(|e| corrupt(format!("request {}: {e}", record.seq)))?;
                }
                for event in pending_calls.drain(..) {
                    answered
                        .apply(event)
                        .map_err(|e| corrupt(format!("request {}: {e}", record.seq)))?;
                }
                applied = record.seq;
                valid_len = record.end;
            }
            // Intact records out of order are not a crash artifact: refuse rather than
            // guess which part of the history is right.
            kind => {
                return Err(corrupt(format!(
                    "{kind:?} record for request {} after request {applied}",
                    record.seq
                )))
            }
        }
        first = false;
    }
    Ok(Recovered {
        state,
        answered,
        applied,
        valid_len,
    })
}

impl EventLogReplica {
    fn expect_next(&self, seq: u64) -> Result<(), ReplicaError> {
        let expected = self.applied.checked_add(1);
        if expected == Some(seq) {
            Ok(())
        } else {
            Err(ReplicaError::Sequence {
                expected: expected.unwrap_or(u64::MAX),
                got: seq,
            })
        }
    }

    /// Makes the decided events of request `seq` (in `events` and `call_events`) durable,
    /// then folds them in.
    fn commit(&mut self, seq: u64) -> Result<(), ReplicaError> {
        if let Some(disk) = &mut self.disk {
            // Requests that changed nothing are logged too (a bare commit marker): the log
            // is what tells a reopened replica its sequence number.
            if let Err(e) = disk.writer.append(seq, &self.events, &self.call_events) {
                // Part of the request may be in the file; appending more after it would
                // corrupt the history, so stop here.
                return Err(self.break_with(storage("appending to the log", e)));
            }
        }
        for event in &self.events {
            if let Err(e) = self.state.apply(event) {
                let err = storage("folding a decided event", e);
                return Err(self.break_with(err));
            }
        }
        let answered = &mut self.answered;
        let folded = self
            .call_events
            .drain(..)
            .try_for_each(|event| answered.apply(event));
        if let Err(e) = folded {
            let err = storage("folding a decided call event", e);
            return Err(self.break_with(err));
        }
        self.applied = seq;
        Ok(())
    }
}

impl Replica for EventLogReplica {
    fn call(&mut self, call: &Ordered<'_>) -> Result<Outcome, ReplicaError> {
        self.healthy()?;
        self.expect_next(call.seq)?;
        self.events.clear();
        self.call_events.clear();
        let outcome = decide_call(
            &self.state,
            &self.answered,
            call,
            &mut self.events,
            &mut self.call_events,
        );
        self.commit(call.seq)?;
        Ok(outcome)
    }

    fn applied_seq(&self) -> u64 {
        self.applied
    }

    fn read(&self, request: &Request) -> Result<Option<Reply>, ReplicaError> {
        self.healthy()?;
        if !request.is_read_only() {
            return Ok(None);
        }
        // Deciding a read emits no event; the events go to a scratch list, never the log.
        let mut events = Vec::new();
        let reply = crate::decide::decide(&self.state, request, &mut events);
        if !events.is_empty() {
            return Err(ReplicaError::Storage(
                "a read-only request decided events".to_owned(),
            ));
        }
        Ok(Some(reply))
    }

    fn export(&self) -> Result<Snapshot, ReplicaError> {
        let calls = self.answered.records().cloned().collect();
        Ok(Snapshot::with_calls(self.state.to_records(), calls)?)
    }

    fn import(&mut self, seq: u64, snapshot: &Snapshot) -> Result<(), ReplicaError> {
        let state = Projection::from_records(snapshot.slots());
        let answered = Answered::from_records(snapshot.calls());
        if let Some(disk) = &mut self.disk {
            // If this fails the old log is still in place and still matches memory.
            let len = log::replace(&disk.dir, Some((seq, &snapshot.encode())))
                .map_err(|e| storage("writing the snapshot log", e))?;
            match Writer::open(&disk.dir.join(LOG_FILE), len, disk.durability) {
                // The requests the old writer still buffers are in the snapshot.
                Ok(writer) => std::mem::replace(&mut disk.writer, writer).discard(),
                Err(e) => {
                    // The new log is in place but memory still holds the old state.
                    return Err(self.break_with(storage("reopening the snapshot log", e)));
                }
            }
        }
        self.state = state;
        self.answered = answered;
        self.applied = seq;
        self.broken = None;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), ReplicaError> {
        self.healthy()?;
        let synced = match &mut self.disk {
            Some(disk) => disk.writer.sync(),
            None => Ok(()),
        };
        // The requests written out may be partly in the file: nothing may follow them, and
        // memory is ahead of what the log would replay.
        synced.map_err(|e| self.break_with(storage("syncing the log", e)))
    }
}
