//! Persistence: everything about saving providers and loading them back.
//!
//! - [`record`]: the versioned on-disk record, its own DTO with explicit mapping to and from the
//!   domain types (the domain carries no serde for storage, so renaming a domain field cannot change
//!   the format on disk).
//! - [`Journal`]: one provider's event numbering, the trimming of its history and whether its
//!   current state is what the store holds (so a change that alters nothing saved costs no write).
//! - [`Store`]: the seam the actors call — [`Store::load_all`], [`Store::commit`], [`Store::probe`] —
//!   and the views read, [`Store::events`], with one implementation per backend side by side:
//!   [`redb::RedbStore`] (one machine, the default) and [`postgres::PgStore`] (state shared by
//!   replicas, commits fenced by the owner's epoch).
//!
//! A provider's history lives only in the store: it is written with every change and read back
//! from there when asked for, never held in memory (with thousands of providers it was the
//! largest part of their memory, for a view that is seldom asked for).
//!
//! A backend knows keys, records and events as bytes ([`Op`], [`Loaded`]); it never sees a rule.

mod error;
mod journal;
pub mod postgres;
pub mod record;
pub mod redb;
mod worker;

use std::path::Path;

use tokio::sync::oneshot;

pub use self::postgres::{redact_url, Fence, Leadership, PgOptions, PgStore, ValidUntil};
pub use self::redb::RedbStore;
use crate::domain::{Event, LeaseSettings, ProviderKey, ProviderState, Time};
pub use error::StoreError;
pub use journal::Journal;
pub use record::{RecordError, HISTORY_CAPACITY, SCHEMA_VERSION};

/// One change. The ops of one [`Store::commit`] call, and of every call batched with it, land in a
/// single transaction, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Replace the provider's record; append `events` (seq, bytes) and drop that provider's events with
    /// seq < keep_events_from.
    Put {
        key: String,
        record: Vec<u8>,
        events: Vec<(u64, Vec<u8>)>,
        keep_events_from: u64,
    },
    /// Remove the provider's record and all its events.
    Delete { key: String },
}

/// Stored events as a backend returns them: (seq, bytes).
pub type RawEvents = Vec<(u64, Vec<u8>)>;

/// One provider's record as a backend stores it (its events are read apart: [`Store::events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub key: String,
    pub record: Vec<u8>,
}

/// One provider as loaded at start: decoded, its runtime times resumed.
#[derive(Debug)]
pub struct SavedProvider {
    pub key: ProviderKey,
    /// The settings the state was saved under (informative: the configuration wins).
    pub settings: LeaseSettings,
    pub state: ProviderState,
    pub journal: Journal,
}

/// Why loading at start, or reading a provider's history, failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Providers read from the store at a time while loading at start.
const LOAD_CHUNK: usize = 256;

/// The seam between the actors and the disk. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Store {
    Redb(RedbStore),
    Postgres(PgStore),
}

impl Store {
    /// Opens (or creates) the redb file in `dir`; see [`RedbStore::open`].
    pub fn open_redb(dir: &Path) -> Result<Store, StoreError> {
        RedbStore::open(dir).map(Store::Redb)
    }

    /// Connects to PostgreSQL and applies the missing migrations; see [`PgStore::connect`].
    pub async fn connect_postgres(url: &str) -> Result<Store, StoreError> {
        PgStore::connect(url).await.map(Store::Postgres)
    }

    /// Where the data lives, for messages (a PostgreSQL URL without its password).
    pub fn location(&self) -> String {
        match self {
            Store::Redb(s) => s.path().display().to_string(),
            Store::Postgres(s) => s.location().to_owned(),
        }
    }

    /// Every stored provider, decoded, with its runtime times resumed at `now`, in key order.
    /// Blocks the calling thread: meant for startup (`web::block`). On an async thread use
    /// [`Store::load_all_async`].
    pub fn load_all(&self, now: Time) -> Result<Vec<SavedProvider>, LoadError> {
        match self {
            Store::Redb(s) => load_redb_chunked(s, now),
            Store::Postgres(s) => decode_all(s.load_all_blocking()?, now),
        }
    }

    /// [`Store::load_all`] without blocking the calling thread (the redb read runs on a blocking
    /// thread of the current tokio runtime, the PostgreSQL one on the store's own thread). Must be
    /// called inside a tokio runtime (an actix thread is one).
    pub async fn load_all_async(&self, now: Time) -> Result<Vec<SavedProvider>, LoadError> {
        match self {
            Store::Redb(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || load_redb_chunked(&s, now))
                    .await
                    .map_err(|_| StoreError::Closed)?
            }
            Store::Postgres(s) => decode_all(s.load_all().await?, now),
        }
    }

    /// Queues a batch (see [`Journal::prepare`]) and returns at once; the receiver yields `Ok(())` only
    /// once all of it is durably stored, or the error that made the whole batch fail.
    pub fn commit(&self, batch: Vec<Op>) -> oneshot::Receiver<Result<(), StoreError>> {
        match self {
            Store::Redb(s) => s.commit(batch),
            Store::Postgres(s) => s.commit(batch),
        }
    }

    /// The newest `limit` history events of `key`, newest first, as committed: an answer a
    /// provider sent after its commit has its events here. Never blocks the calling thread (the
    /// redb read runs on the store's writer thread, the PostgreSQL one on the store's own
    /// thread within its call bound). An event this build cannot decode is an error naming the
    /// provider and the event, not a gap.
    pub async fn events(&self, key: &ProviderKey, limit: usize) -> Result<Vec<Event>, LoadError> {
        let key = key.to_string();
        let raw = match self {
            Store::Redb(s) => s.events(&key, limit).await?,
            Store::Postgres(s) => s.events(&key, limit).await?,
        };
        let mut events = Vec::with_capacity(raw.len());
        for (seq, bytes) in &raw {
            events.push(record::decode_event(&key, *seq, bytes)?);
        }
        Ok(events)
    }

    /// A small check that the store answers, for `/readyz`.
    pub async fn probe(&self) -> Result<(), StoreError> {
        match self {
            Store::Redb(s) => s.probe().await,
            Store::Postgres(s) => s.probe().await,
        }
    }

    /// Finishes what is queued and releases the store (blocks: call from `main`).
    pub fn shutdown(&self) {
        match self {
            Store::Redb(s) => s.shutdown(),
            Store::Postgres(s) => s.shutdown(),
        }
    }
}

/// Chunk by chunk: only one chunk's raw bytes are held while the decoded state grows.
fn load_redb_chunked(s: &RedbStore, now: Time) -> Result<Vec<SavedProvider>, LoadError> {
    let mut providers = Vec::new();
    let mut after = None;
    loop {
        let chunk = s.load_chunk(after.take(), LOAD_CHUNK)?;
        let Some(last) = chunk.last() else {
            return Ok(providers);
        };
        after = Some(last.key.clone());
        for l in &chunk {
            providers.push(saved(l, now)?);
        }
    }
}

/// One provider as a backend returned it, ready to serve: decoded, its times resumed at
/// `now`, its journal numbering on from the saved events.
fn saved(l: &Loaded, now: Time) -> Result<SavedProvider, RecordError> {
    let (key, settings, state, next_event_seq) = record::load(l, now)?;
    Ok(SavedProvider {
        key,
        settings,
        state,
        journal: Journal::loaded(next_event_seq),
    })
}

fn decode_all(loaded: Vec<Loaded>, now: Time) -> Result<Vec<SavedProvider>, LoadError> {
    let mut providers = Vec::with_capacity(loaded.len());
    for l in loaded {
        providers.push(saved(&l, now)?);
    }
    Ok(providers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn load_all_async_on_redb_gives_what_load_all_gives() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_redb(dir.path()).unwrap();
        let key = ProviderKey::parse("o:r:main").unwrap();
        let state = ProviderState::new(Time(1_000));
        let op = Journal::fresh().prepare(&key, &LeaseSettings::default(), &state, &[]);
        store.commit(vec![op]).await.unwrap().unwrap();

        let blocking = store.load_all(Time(2_000)).unwrap();
        let async_ = store.load_all_async(Time(2_000)).await.unwrap();

        assert_eq!(async_.len(), 1);
        assert_eq!(async_[0].key, blocking[0].key);
        assert!(record::same_record(&async_[0].state, &blocking[0].state));
        store.shutdown();
    }
}
