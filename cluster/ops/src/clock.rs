//! The wall clock, read only by the shells. Replicas never see it except as the sequencer's
//! timestamp carried in each sequenced request.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
