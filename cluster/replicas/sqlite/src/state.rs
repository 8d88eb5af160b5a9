//! Export and import of the canonical [`Snapshot`], the implementation-neutral state: the
//! slots with their holders, then the remembered calls.

use rusqlite::Connection;
use tessera_types::{SlotRecord, Snapshot, UserId};

use crate::calls::{self, Summary};
use crate::error::{Result, StorageError};
use crate::ops::{stored_event_id, stored_event_type};
use crate::schema::{self, kind_of};

/// Reads the whole state. `digest` hashes this too, so the calls count exactly as the
/// canonical snapshot has them.
pub(crate) fn export(conn: &Connection) -> Result<Snapshot> {
    let slots = export_slots(conn)?;
    let calls = calls::export(conn)?;
    // `Snapshot::with_calls` re-establishes canonical order and re-checks the invariants the
    // schema already enforces; a failure here means the file was damaged behind SQLite's back.
    Snapshot::with_calls(slots, calls)
        .map_err(|e| StorageError::new(format!("stored state is invalid: {e}")))
}

/// Reads every slot with its holders. One pass over a LEFT JOIN: a slot without holders
/// yields one row with a NULL participant.
fn export_slots(conn: &Connection) -> Result<Vec<SlotRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.kind, s.event_id, s.capacity, r.participant
         FROM slot AS s
         LEFT JOIN reservation AS r ON r.kind = s.kind AND r.event_id = s.event_id
         ORDER BY s.kind, s.event_id, r.participant",
    )?;
    let mut rows = stmt.query([])?;
    let mut slots: Vec<SlotRecord> = Vec::new();
    while let Some(row) = rows.next()? {
        let kind: i64 = row.get(0)?;
        let id: String = row.get(1)?;
        let capacity: i64 = row.get(2)?;
        let holder: Option<String> = row.get(3)?;
        let event_type = stored_event_type(kind)?;
        let event_id = stored_event_id(&id)?;
        let same_slot = slots
            .last()
            .is_some_and(|s| s.event_type == event_type && s.event_id == event_id);
        if !same_slot {
            slots.push(SlotRecord {
                event_type,
                event_id,
                capacity: u32::try_from(capacity)
                    .map_err(|_| StorageError::new(format!("slot {id} has capacity {capacity}")))?,
                holders: Vec::new(),
            });
        }
        if let (Some(holder), Some(slot)) = (holder, slots.last_mut()) {
            slot.holders.push(
                UserId::parse(&holder).map_err(|e| {
                    StorageError::new(format!("stored participant {holder:?}: {e}"))
                })?,
            );
        }
    }
    Ok(slots)
}

/// Replaces the whole state with `snapshot` and returns the summary of its calls. The caller
/// supplies the transaction, which also records the snapshot's sequence number.
pub(crate) fn import(conn: &Connection, snapshot: &Snapshot) -> Result<Summary> {
    import_slots(conn, snapshot)?;
    calls::import(conn, snapshot.calls())
}

/// Loads the slots, each with `booked` set to its holder count (the `CHECK` on `booked` vets
/// that against the capacity, as the trigger would for each live reservation), then every
/// holder in primary-key order without the trigger and the by-slot index, which are rebuilt
/// once at the end. Inserting 1,000,000 holders slot by slot through the trigger took 10.4 s;
/// this way it takes a fraction of that (`docs/performance.md`, "Catch-up").
fn import_slots(conn: &Connection, snapshot: &Snapshot) -> Result<()> {
    schema::prepare_bulk_load(conn)?;
    conn.execute_batch("DELETE FROM reservation; DELETE FROM slot;")?;
    {
        let mut add_slot = conn.prepare(
            "INSERT INTO slot (kind, event_id, capacity, booked) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut holders = Vec::new();
        for slot in snapshot.slots() {
            let kind = kind_of(slot.event_type);
            let id = slot.event_id.as_str();
            let booked = i64::try_from(slot.holders.len())
                .map_err(|_| StorageError::new("more holders than SQLite counts"))?;
            add_slot.execute((kind, id, i64::from(slot.capacity), booked))?;
            holders.extend(slot.holders.iter().map(|h| (h.as_str(), kind, id)));
        }
        // The table's key order: each insert appends to the B-tree instead of splitting
        // pages all over it.
        holders.sort_unstable();
        let mut add_holder = conn
            .prepare("INSERT INTO reservation (participant, kind, event_id) VALUES (?1, ?2, ?3)")?;
        for holder in holders {
            add_holder.execute(holder)?;
        }
    }
    schema::restore_after_bulk_load(conn)
}
