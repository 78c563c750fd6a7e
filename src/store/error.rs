//! `StoreError`: everything that can go wrong below the provider actors.
//!
//! Messages name the database file but never a record's contents. The variants are `Clone` (the causes sit
//! behind an `Arc`) because one failed group commit has to answer every op that was in it.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database file is locked by another open (another process, or another `Store` in this one).
    #[error(
        "the store {path} is locked: another mq-lease-service seems to be using this data directory \
         (stop it, or give this one its own data directory)"
    )]
    Locked { path: PathBuf },

    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {error}")]
    CreateDir {
        path: PathBuf,
        error: Arc<io::Error>,
    },

    /// The database file could not be opened (not a redb file, needs an upgrade, I/O error, ...).
    #[error("cannot open the store {path}: {error}")]
    Open {
        path: PathBuf,
        error: Arc<redb::DatabaseError>,
    },

    /// The file was written by a newer (or unknown) layout of this store.
    #[error("the store {path} has layout version {found}, this build understands {expected}")]
    Layout {
        path: PathBuf,
        found: u64,
        expected: u64,
    },

    /// A read or write transaction failed. When a commit fails, nothing of its batch was applied.
    #[error("store transaction failed: {error}")]
    Storage { error: Arc<redb::Error> },

    /// The writer thread is gone (shut down, or stopped after a panic); nothing was written.
    #[error("the store writer has stopped; nothing was written")]
    Closed,

    /// The writer thread could not be started.
    #[error("cannot start the store writer thread: {error}")]
    Spawn { error: Arc<io::Error> },

    /// This replica does not own the state (another replica took over, or its lease may have run
    /// out by its own clock): nothing was written. Never retry the same change.
    #[error("this replica does not own the state right now; nothing was written")]
    NotOwner,

    /// PostgreSQL could not be reached, timed out, or refused a statement. The text names what was
    /// being done and the database's answer; it never contains credentials (see
    /// `postgres::redact`). When a commit fails this way its batch may or may not have landed only
    /// if the failure hit the `COMMIT` itself (see `PgStore::commit`).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
}

impl StoreError {
    pub(crate) fn storage(error: impl Into<redb::Error>) -> Self {
        StoreError::Storage {
            error: Arc::new(error.into()),
        }
    }
}

/// A reply channel that was dropped without an answer means the writer went away.
impl From<tokio::sync::oneshot::error::RecvError> for StoreError {
    fn from(_: tokio::sync::oneshot::error::RecvError) -> Self {
        StoreError::Closed
    }
}
