//! The store's one error type: fatal failures of the store itself kept apart from refused requests.

/// Why a store operation failed.
///
/// [`Io`](StoreError::Io), [`Database`](StoreError::Database) and [`Corrupted`](StoreError::Corrupted)
/// are fatal: the store cannot be trusted to go on ([`StoreError::is_fatal`]). [`OutOfOrder`](StoreError::OutOfOrder)
/// and [`Invalid`](StoreError::Invalid) refuse one request and change nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file system failed.
    #[error("store I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The database engine failed (or its lock is held by another process).
    #[error("store database failed: {0}")]
    Database(String),
    /// Bytes read back are damaged: they do not decode, break a limit, or do not match their hash.
    /// `what` names the item, e.g. `block 7`.
    #[error("{what} is corrupted: {detail}")]
    Corrupted { what: String, detail: String },
    /// A block was offered whose number is not the store's height.
    #[error("block {got} is out of order: the next block is {expected}")]
    OutOfOrder { expected: u64, got: u64 },
    /// A bad argument: a key over its limit, a commit that disagrees with itself.
    #[error("invalid store request: {0}")]
    Invalid(String),
}

impl StoreError {
    /// Whether the failure may pass (the disk or the engine failed: full, an I/O error), so that the
    /// same request may succeed after [`crate::Store::recover`]; not damage, nor a refused request.
    pub fn may_pass(&self) -> bool {
        matches!(self, StoreError::Io(_) | StoreError::Database(_))
    }

    /// Whether the store itself failed (as opposed to refusing one request).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            StoreError::Io(_) | StoreError::Database(_) | StoreError::Corrupted { .. }
        )
    }

    pub(crate) fn corrupted(what: impl Into<String>, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupted {
            what: what.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn block_corrupted(number: u64, detail: impl Into<String>) -> StoreError {
        StoreError::corrupted(format!("block {number}"), detail)
    }
}

impl From<redb::Error> for StoreError {
    fn from(error: redb::Error) -> StoreError {
        match error {
            redb::Error::Io(io) => StoreError::Io(io),
            redb::Error::Corrupted(detail) => StoreError::corrupted("database file", detail),
            redb::Error::ValueTooLarge(len) => {
                StoreError::Invalid(format!("value of {len} bytes is too large to store"))
            }
            other => StoreError::Database(other.to_string()),
        }
    }
}

macro_rules! from_redb_error {
    ($($t:ty),*) => {
        $(impl From<$t> for StoreError {
            fn from(error: $t) -> StoreError {
                StoreError::from(redb::Error::from(error))
            }
        })*
    };
}

from_redb_error!(
    redb::StorageError,
    redb::TableError,
    redb::DatabaseError,
    redb::TransactionError,
    redb::CommitError
);
