//! The relational model of the domain and everything about the database file itself:
//! pragmas, schema creation and the `applied_seq` bookkeeping.
//!
//! The schema derives every domain notion it can from the event ID in SQL, so the rules in
//! `ops.rs` are written against named columns (`day`, `part`, `week`, `city`) instead of
//! re-parsing identifiers: an event's date, its time of day and its Monday-to-Sunday week are
//! generated columns computed by SQLite's own date functions.

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension};
use tessera_types::EventType;

use crate::error::{Result, StorageError};

/// Bumped whenever the schema changes; a file with a newer version is refused rather than
/// misread, an older one is brought up to date (see [`install`]).
///
/// - 1: slots, reservations, `meta`.
/// - 2: `remembered_call` (`docs/domain.md`, "Repeated calls").
const SCHEMA_VERSION: i64 = 2;

/// The oldest version [`install`] can bring up to date.
const OLDEST_UPGRADABLE: i64 = 1;

/// The whole schema. Idempotent, so it runs on every open.
///
/// Ordering is deliberately explicit rather than textual: `kind`, `city_rank` and `part` are
/// ranks in the spec's orders (ArtGallery < Concerts < Theatre, MTL < TOR < VAN, M < A < E),
/// so no `ORDER BY` depends on the accident that some names happen to sort alphabetically.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    only        INTEGER PRIMARY KEY CHECK (only = 1),
    applied_seq INTEGER NOT NULL CHECK (applied_seq >= 0)
);
INSERT OR IGNORE INTO meta (only, applied_seq) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS slot (
    -- Event type as its rank: 0 ArtGallery, 1 Concerts, 2 Theatre.
    kind      INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),
    event_id  TEXT    NOT NULL,
    capacity  INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 100000),
    -- Kept by the triggers below so that SLOT_FULL and availability never count rows.
    booked    INTEGER NOT NULL DEFAULT 0,
    city      TEXT    GENERATED ALWAYS AS (substr(event_id, 1, 3)) STORED,
    city_rank INTEGER GENERATED ALWAYS AS (
                  CASE substr(event_id, 1, 3) WHEN 'MTL' THEN 0 WHEN 'TOR' THEN 1 WHEN 'VAN' THEN 2 END
              ) STORED,
    -- ISO date from DDMMYY; ISO text compares chronologically.
    day       TEXT    GENERATED ALWAYS AS (
                  '20' || substr(event_id, 9, 2) || '-' || substr(event_id, 7, 2) || '-' || substr(event_id, 5, 2)
              ) STORED,
    -- Time of day as its rank: 1 M, 2 A, 3 E. A when is the pair (day, part).
    part      INTEGER GENERATED ALWAYS AS (instr('MAE', substr(event_id, 4, 1))) STORED,
    -- The Monday starting the event's week: 'weekday 0' moves forward to the Sunday ending
    -- the week (a Sunday stays put), six days before that is its Monday. Crosses month and
    -- year ends like any other date arithmetic.
    week      TEXT    GENERATED ALWAYS AS (date(day, 'weekday 0', '-6 days')) STORED,
    PRIMARY KEY (kind, event_id),
    CHECK (booked BETWEEN 0 AND capacity),
    -- SQLite normalises impossible dates (30 February becomes 2 March), so a date that does
    -- not survive a round trip was never a real one.
    CHECK (date(day) IS day),
    CHECK (city_rank IS NOT NULL AND part > 0)
) WITHOUT ROWID;

-- Slots of one type by city, then when: the listing's order, and removal's search for the
-- earliest later slot of one type in one city.
CREATE INDEX IF NOT EXISTS slot_by_when ON slot (kind, city_rank, day, part);

CREATE TABLE IF NOT EXISTS reservation (
    participant TEXT    NOT NULL CHECK (substr(participant, 4, 1) = 'P'),
    kind        INTEGER NOT NULL,
    event_id    TEXT    NOT NULL,
    PRIMARY KEY (participant, kind, event_id),
    FOREIGN KEY (kind, event_id) REFERENCES slot (kind, event_id)
) WITHOUT ROWID;

-- Holders of one slot in ascending participant order (removal, export, foreign keys).
CREATE INDEX IF NOT EXISTS reservation_by_slot ON reservation (kind, event_id, participant);

CREATE TRIGGER IF NOT EXISTS reservation_added AFTER INSERT ON reservation BEGIN
    UPDATE slot SET booked = booked + 1 WHERE kind = NEW.kind AND event_id = NEW.event_id;
END;

CREATE TRIGGER IF NOT EXISTS reservation_released AFTER DELETE ON reservation BEGIN
    UPDATE slot SET booked = booked - 1 WHERE kind = OLD.kind AND event_id = OLD.event_id;
END;

-- A participant's reservations with the when, week and city of each event.
CREATE VIEW IF NOT EXISTS holding AS
    SELECT r.participant, s.kind, s.event_id, s.city, s.city_rank, s.day, s.part, s.week
    FROM reservation AS r
    JOIN slot AS s ON s.kind = r.kind AND s.event_id = r.event_id;

-- The calls answered with a message id (docs/domain.md, 'Repeated calls'). `seq` is the
-- rowid, so the lowest seqs (the oldest calls: times never decrease along seqs) are a rowid
-- range to delete; the message id is unique because a remembered id is never executed
-- again. Request and reply are their canonical encodings (`encode`), which decode to exactly
-- the values that were stored and so compare and rebuild exactly.
CREATE TABLE IF NOT EXISTS remembered_call (
    seq        INTEGER PRIMARY KEY CHECK (seq > 0),
    message_id TEXT    NOT NULL UNIQUE,
    time_ms    INTEGER NOT NULL CHECK (time_ms >= 0),
    request    BLOB    NOT NULL,
    reply      BLOB    NOT NULL
);
";

/// Removes what replacing every reservation would otherwise maintain row by row: the
/// holder-count triggers (an `UPDATE` of the slot, with its generated columns, per row
/// deleted or inserted) and the by-slot index. [`restore_after_bulk_load`] puts them back;
/// between the two the caller must keep `booked` right itself. Both run inside the caller's
/// transaction, so a failure rolls the schema back with the data.
pub(crate) fn prepare_bulk_load(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS reservation_added;
         DROP TRIGGER IF EXISTS reservation_released;
         DROP INDEX IF EXISTS reservation_by_slot;",
    )?;
    Ok(())
}

/// Recreates what [`prepare_bulk_load`] removed, from the one schema text: building the index
/// once over sorted rows costs a fraction of maintaining it per insert.
pub(crate) fn restore_after_bulk_load(conn: &Connection) -> Result<()> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// Rank of an event type in the spec's order, as stored in `kind`.
pub(crate) fn kind_of(event_type: EventType) -> i64 {
    match event_type {
        EventType::ArtGallery => 0,
        EventType::Concerts => 1,
        EventType::Theatre => 2,
    }
}

/// Inverse of [`kind_of`]; `None` only for a value the `CHECK` on `kind` forbids.
pub(crate) fn event_type_of(kind: i64) -> Option<EventType> {
    match kind {
        0 => Some(EventType::ArtGallery),
        1 => Some(EventType::Concerts),
        2 => Some(EventType::Theatre),
        _ => None,
    }
}

/// Connection settings for a database file. WAL: a commit is one append to the log, and a
/// crash rolls back to the last complete commit, so state and `applied_seq` (which share
/// every transaction) always agree. `synchronous = FULL`: a commit fsyncs the log before it
/// returns, every request's in `Sync` mode, every batch's (`Replica::sync`) in `Deferred`
/// mode. Checkpoints are SQLite's own (every 1,000 log pages), fsynced as well.
pub(crate) fn configure_file(conn: &Connection) -> Result<()> {
    // One replica owns its file: a second process opening it would fork the state. The
    // exclusive lock also lets WAL keep its index in heap memory instead of a shared file.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::new(format!(
            "cannot switch to WAL journal (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    configure_common(conn)
}

/// Settings for every connection, file-backed or in memory.
pub(crate) fn configure_common(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", true)?;
    // Query planner stability: plans never depend on bound values. Without it SQLite marks
    // some parameters (e.g. `?` compared by `=`/`IS` in a term no index consumes, for the
    // planner's truth-probability guess) as "re-prepare when rebound", and because the
    // statement cache clears bindings whenever a statement goes back (`sqlite3_clear_bindings`
    // expires any statement with such a mark), `ops::refusal`'s query was re-parsed on every run.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // More than the number of distinct statements, so none is ever re-prepared.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Creates, checks or upgrades the schema and returns the persisted `applied_seq`.
///
/// Every version so far only added tables, so the idempotent [`SCHEMA`] is the whole
/// upgrade: a version 1 file gets an empty `remembered_call`, as it should be: the release
/// that wrote it remembered no calls. A change that alters an existing table will
/// need its own migration step here.
pub(crate) fn install(conn: &mut Connection) -> Result<u64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let has_tables = tx
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if has_tables && !(OLDEST_UPGRADABLE..=SCHEMA_VERSION).contains(&version) {
        return Err(StorageError::new(format!(
            "database has schema version {version}, this replica understands \
             {OLDEST_UPGRADABLE} to {SCHEMA_VERSION}"
        )));
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    let seq = read_applied_seq(&tx)?;
    tx.commit()?;
    Ok(seq)
}

fn read_applied_seq(conn: &Connection) -> Result<u64> {
    let seq: i64 = conn
        .prepare_cached("SELECT applied_seq FROM meta WHERE only = 1")?
        .query_row([], |r| r.get(0))?;
    // The CHECK on the column keeps it non-negative.
    u64::try_from(seq).map_err(|_| StorageError::new(format!("negative applied_seq {seq}")))
}

/// Records `seq` as applied; called inside the transaction that applied it.
pub(crate) fn write_applied_seq(conn: &Connection, seq: u64) -> Result<()> {
    let seq = i64::try_from(seq)
        .map_err(|_| StorageError::new(format!("sequence number {seq} exceeds SQLite's range")))?;
    conn.prepare_cached("UPDATE meta SET applied_seq = ?1 WHERE only = 1")?
        .execute([seq])?;
    Ok(())
}
