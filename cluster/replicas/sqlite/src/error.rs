//! The crate's internal error. Every failure below the rules is a storage failure to the
//! replica manager; this type exists only because `?` cannot convert `rusqlite::Error` into
//! the foreign `ReplicaError` directly.

use tessera_types::ReplicaError;

#[derive(Debug)]
pub(crate) struct StorageError(String);

impl StorageError {
    /// A failure SQLite did not report: the file holds something the schema should forbid,
    /// or is in a state this replica cannot work with.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        StorageError(message.into())
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError(e.to_string())
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError(e.to_string())
    }
}

impl From<StorageError> for ReplicaError {
    fn from(e: StorageError) -> Self {
        ReplicaError::Storage(e.0)
    }
}

pub(crate) type Result<T> = std::result::Result<T, StorageError>;
