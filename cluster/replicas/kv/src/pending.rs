//! The write transaction that [`Durability::Deferred`](tessera_types::Durability) keeps open
//! across requests, with the domain tables kept open in it. Opening a redb table costs more
//! than a typical request (a third of this replica's time under load when every request
//! opened its three), so they are opened once per batch and closed only to commit.

use redb::{TableError, WriteTransaction};

use crate::store::Tables;

self_cell::self_cell!(
    /// An open write transaction and its domain tables.
    pub(crate) struct Pending {
        owner: WriteTransaction,
        #[not_covariant]
        dependent: Tables,
    }
);

impl Pending {
    /// Opens the domain tables in `txn`; on an error `txn` is dropped, hence aborted.
    pub(crate) fn open(txn: WriteTransaction) -> Result<Self, TableError> {
        Pending::try_new(txn, |txn| Tables::open(txn))
    }

    /// Closes the tables (their writes stay in the transaction) and returns the transaction.
    pub(crate) fn close(self) -> WriteTransaction {
        self.into_owner()
    }
}
