//! Harness shared by Tessera's cross-implementation suites (`conformance`, `differential`,
//! `fault_mode`).
//!
//! - [`implementations`] opens the four independent replica implementations side by side;
//! - [`Cluster`] feeds one request to all of them with the same (consecutive) sequence number
//!   and hands back each one's encoded reply;
//! - [`table`] parses and runs the human-readable conformance scenarios of `scenarios/*.txt`;
//! - [`render_request`] / [`render_reply`] print requests and replies in the table syntax, so
//!   that a failing differential case can be pasted into a scenario file as it is.
//!
//! Nothing here knows the domain rules: the expected results live in the scenario tables,
//! written from `docs/domain.md` alone. (The one exception is test-only: `model.rs`, a plain
//! model of the spec that catches slips in the tables, and that the chaos soak replays a
//! cluster's history through.)

use std::fmt;

use tempfile::TempDir;
use tessera_types::{Digest, Durability, Replica, ReplicaError, Reply, ReplyBody, Request};

pub mod history;
pub mod model;
pub mod table;

/// The four implementations, in the order the suites report them.
pub const NAMES: [&str; 4] = ["memory", "sqlite", "eventlog", "kv"];

/// Where an implementation keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// Persistent implementations open their files in a fresh temporary directory with
    /// [`Durability::Deferred`]: the configuration the conformance suite checks.
    OnDisk,
    /// The in-memory constructor where an implementation has one (`sqlite`, `eventlog`), a
    /// temporary directory otherwise (`kv`), on `/dev/shm` if there is one: for suites that
    /// open thousands of replicas.
    Fast,
}

/// One replica implementation under test.
pub struct Implementation {
    /// The implementation's name, or any label a suite gives it (e.g. `kv<-memory`).
    pub name: String,
    pub replica: Box<dyn Replica>,
    /// Keeps the replica's files alive. Declared after `replica`, so it is dropped (and the
    /// directory deleted) only after the replica has closed them.
    _dir: Option<TempDir>,
}

impl Implementation {
    /// Wraps any replica, e.g. a fake or a model, for the table runner.
    pub fn custom(name: impl Into<String>, replica: Box<dyn Replica>) -> Self {
        Implementation {
            name: name.into(),
            replica,
            _dir: None,
        }
    }

    /// The replica and what keeps its files alive, e.g. to wrap the replica in
    /// [`tessera_types::Faulty`]. Keep both together, the replica dropped first.
    pub fn into_parts(self) -> (Box<dyn Replica>, KeepAlive) {
        (self.replica, KeepAlive { _dir: self._dir })
    }
}

/// Keeps an implementation's files alive once its replica has been taken out with
/// [`Implementation::into_parts`]; drop it only after the replica.
pub struct KeepAlive {
    _dir: Option<TempDir>,
}

impl fmt::Debug for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Implementation")
            .field("name", &self.name)
            .field("applied_seq", &self.replica.applied_seq())
            .finish_non_exhaustive()
    }
}

/// A fresh temporary directory. For [`Storage::Fast`] it is on a RAM file system when the
/// machine has one (`/dev/shm`), where creating and syncing files costs next to nothing.
fn temp_dir(name: &str, storage: Storage) -> Result<TempDir, String> {
    let prefix = format!("tessera-{name}-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    let shm = std::path::Path::new("/dev/shm");
    let dir = if storage == Storage::Fast && shm.is_dir() {
        builder.tempdir_in(shm).or_else(|_| builder.tempdir())
    } else {
        builder.tempdir()
    };
    dir.map_err(|e| format!("{name}: cannot create a temporary directory: {e}"))
}

/// Opens a fresh, empty instance of the implementation called `name` (one of [`NAMES`]).
pub fn open(name: &str, storage: Storage) -> Result<Implementation, String> {
    let fail = |e: ReplicaError| format!("{name}: cannot open: {e}");
    let (label, replica, dir): (&str, Box<dyn Replica>, Option<TempDir>) = match name {
        "memory" => (
            "memory",
            Box::new(replica_memory::MemoryReplica::new()),
            None,
        ),
        "sqlite" if storage == Storage::Fast => (
            "sqlite",
            Box::new(replica_sqlite::SqliteReplica::in_memory().map_err(fail)?),
            None,
        ),
        "sqlite" => {
            let dir = temp_dir(name, storage)?;
            let r = replica_sqlite::SqliteReplica::open(dir.path(), Durability::Deferred)
                .map_err(fail)?;
            ("sqlite", Box::new(r), Some(dir))
        }
        "eventlog" if storage == Storage::Fast => (
            "eventlog",
            Box::new(replica_eventlog::EventLogReplica::in_memory()),
            None,
        ),
        "eventlog" => {
            let dir = temp_dir(name, storage)?;
            let r = replica_eventlog::EventLogReplica::open(dir.path(), Durability::Deferred)
                .map_err(fail)?;
            ("eventlog", Box::new(r), Some(dir))
        }
        "kv" => {
            let dir = temp_dir(name, storage)?;
            let r = replica_kv::KvReplica::open(dir.path(), Durability::Deferred).map_err(fail)?;
            ("kv", Box::new(r), Some(dir))
        }
        other => return Err(format!("no implementation called {other:?}")),
    };
    Ok(Implementation {
        name: label.to_string(),
        replica,
        _dir: dir,
    })
}

/// Fresh instances of all four implementations with the given storage, in [`NAMES`] order.
///
/// # Panics
/// If one cannot be opened: every suite needs all four.
pub fn implementations_with(storage: Storage) -> Vec<Implementation> {
    NAMES
        .iter()
        .map(|name| open(name, storage).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Fresh instances of all four implementations, the persistent ones on disk in temporary
/// directories with [`Durability::Deferred`].
///
/// # Panics
/// If one cannot be opened.
pub fn implementations() -> Vec<Implementation> {
    implementations_with(Storage::OnDisk)
}

/// What one member of a [`Cluster`] made of a request.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    /// The canonical encoding of the reply ([`Reply::encode`]).
    pub reply: Result<Vec<u8>, ReplicaError>,
}

impl Outcome {
    /// The reply decoded back, for messages.
    pub fn decoded(&self) -> Result<Reply, String> {
        match &self.reply {
            Ok(bytes) => Reply::decode(bytes).map_err(|e| format!("undecodable reply: {e}")),
            Err(e) => Err(format!("replica error: {e}")),
        }
    }
}

/// Several replicas fed the same requests with the same consecutive sequence numbers.
pub struct Cluster {
    members: Vec<Implementation>,
    seq: u64,
}

impl Cluster {
    /// A cluster of fresh or equally advanced replicas; numbering continues after the first
    /// member's `applied_seq()`.
    pub fn new(members: Vec<Implementation>) -> Self {
        let seq = members.first().map_or(0, |m| m.replica.applied_seq());
        Cluster { members, seq }
    }

    /// All four implementations, on disk.
    pub fn of_all() -> Self {
        Cluster::new(implementations())
    }

    /// Sequence number of the last request fed.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn members(&self) -> &[Implementation] {
        &self.members
    }

    pub fn members_mut(&mut self) -> &mut [Implementation] {
        &mut self.members
    }

    pub fn into_members(self) -> Vec<Implementation> {
        self.members
    }

    /// Feeds `request` to every member as request number `seq() + 1`.
    pub fn apply(&mut self, request: &Request) -> Vec<Outcome> {
        self.seq += 1;
        let seq = self.seq;
        self.members
            .iter_mut()
            .map(|m| Outcome {
                name: m.name.clone(),
                reply: m.replica.apply(seq, request).map(|r| r.encode()),
            })
            .collect()
    }

    /// Every member's state digest.
    pub fn digests(&self) -> Vec<(String, Result<Digest, ReplicaError>)> {
        self.members
            .iter()
            .map(|m| (m.name.clone(), m.replica.digest()))
            .collect()
    }

    /// `Ok(digest)` if all members report the same digest, else a description of who has what.
    pub fn agreed_digest(&self) -> Result<Digest, String> {
        let digests = self.digests();
        let first = match digests.first() {
            Some((_, Ok(d))) => *d,
            Some((_, Err(_))) | None => return Err(describe_digests(&digests)),
        };
        if digests
            .iter()
            .all(|(_, d)| matches!(d, Ok(x) if *x == first))
        {
            Ok(first)
        } else {
            Err(describe_digests(&digests))
        }
    }
}

/// `memory=1a2b3c4d5e6f7a8b sqlite=...`, or the error in place of a digest.
pub fn describe_digests(digests: &[(String, Result<Digest, ReplicaError>)]) -> String {
    digests
        .iter()
        .map(|(name, d)| match d {
            Ok(d) => format!("{name}={}", &d.to_hex()[..16]),
            Err(e) => format!("{name}=<error: {e}>"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes a table argument if it would not read back as one token.
fn arg(s: &str) -> String {
    if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '#') {
        format!("\"{s}\"")
    } else {
        s.to_string()
    }
}

/// A request in the scenario-table syntax, e.g. `reserve MTLP0001 Concerts MTLE101226`: the
/// table keyword, then the arguments in their order (`Request::arguments`).
pub fn render_request(request: &Request) -> String {
    std::iter::once(table::Op::of(request).keyword().to_owned())
        .chain(request.arguments().into_iter().map(|(_, v)| arg(&v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A reply in the scenario-table syntax: `CREATED`, `REMOVED moved=1 dropped=0`,
/// `OK MTLE101226/Concerts/1 ...` (list rows: event/type/available) or
/// `OK MTLE101226/Concerts ...` (schedule rows: event/type).
///
/// The text does not show which kind of body an `OK` without rows has; compare replies, not
/// renderings (see [`render_reply_exact`]).
pub fn render_reply(reply: &Reply) -> String {
    let mut out = reply.code.as_str().to_string();
    match &reply.body {
        ReplyBody::Empty => {}
        ReplyBody::Removed { moved, dropped } => {
            out.push_str(&format!(" moved={moved} dropped={dropped}"));
        }
        ReplyBody::Slots(rows) => {
            for r in rows {
                out.push_str(&format!(" {}/{}/{}", r.event_id, r.event_type, r.available));
            }
        }
        ReplyBody::Schedule(rows) => {
            for r in rows {
                out.push_str(&format!(" {}/{}", r.event_id, r.event_type));
            }
        }
    }
    out
}

/// [`render_reply`] plus the kind of body, which the table syntax leaves implicit.
pub fn render_reply_exact(reply: &Reply) -> String {
    let kind = match &reply.body {
        ReplyBody::Empty => "no body",
        ReplyBody::Removed { .. } => "Removed body",
        ReplyBody::Slots(_) => "Slots body",
        ReplyBody::Schedule(_) => "Schedule body",
    };
    format!("{} [{kind}]", render_reply(reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::{Booking, Code, EventId, EventType, SlotAvailability};

    #[test]
    fn rendering() {
        let e = EventId::parse("MTLE101226").unwrap();
        assert_eq!(render_reply(&Reply::code(Code::Created)), "CREATED");
        assert_eq!(
            render_reply(&Reply::removed(1, 0)),
            "REMOVED moved=1 dropped=0"
        );
        assert_eq!(
            render_reply(&Reply::slots(vec![SlotAvailability {
                event_id: e,
                event_type: EventType::Concerts,
                available: 1
            }])),
            "OK MTLE101226/Concerts/1"
        );
        assert_eq!(
            render_reply(&Reply::schedule(vec![Booking {
                event_id: e,
                event_type: EventType::Theatre
            }])),
            "OK MTLE101226/Theatre"
        );
        assert_eq!(render_reply_exact(&Reply::slots(vec![])), "OK [Slots body]");
        let r = Request::AddReservationSlot {
            admin_id: "MTLA0001".parse().unwrap(),
            event_type: "ArtGallery".parse().unwrap(),
            event_id: "MTLE101226".parse().unwrap(),
            capacity: tessera_types::Capacity::new(7).unwrap(),
        };
        assert_eq!(render_request(&r), "add MTLA0001 ArtGallery MTLE101226 7");
    }
}
