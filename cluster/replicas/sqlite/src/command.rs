//! The key of a slot as the schema stores it. (Arguments arrive typed: the rules never see a
//! malformed identifier and SQL never stores one.)

use tessera_types::{EventId, EventType};

use crate::schema::kind_of;

/// A slot key: (event type, event ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotKey {
    pub(crate) event_type: EventType,
    pub(crate) event_id: EventId,
}

impl SlotKey {
    /// The `kind` column value.
    pub(crate) fn kind(&self) -> i64 {
        kind_of(self.event_type)
    }

    pub(crate) fn id(&self) -> &str {
        self.event_id.as_str()
    }
}
