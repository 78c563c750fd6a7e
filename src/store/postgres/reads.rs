//! Reads: [`PgStore::load_all`] (and [`PgStore::load_all_blocking`]), [`PgStore::events`] and
//! [`PgStore::probe`], each one statement on the control connection, and their SQL.

use tokio_postgres::Client;

use super::{PgStore, LOAD_TIMEOUT};
use crate::store::{Loaded, RawEvents, StoreError};

impl PgStore {
    /// Every stored provider's record, in key order: one statement, so one consistent snapshot.
    pub async fn load_all(&self) -> Result<Vec<Loaded>, StoreError> {
        self.run(|shared| async move {
            shared
                .control_within(LOAD_TIMEOUT, "loading the providers", |client| async move {
                    load_all(&client).await
                })
                .await
        })
        .await
    }

    /// The newest `limit` events of `key` as (seq, bytes), newest first: one statement on the
    /// control connection, on the store's thread, within [`OP_TIMEOUT`]. A commit answered
    /// before this call is in it (its transaction committed before the answer).
    pub async fn events(&self, key: &str, limit: usize) -> Result<RawEvents, StoreError> {
        let key = key.to_owned();
        self.run(|shared| async move {
            shared
                .control("reading a provider's history", |client| async move {
                    events(&client, &key, limit).await
                })
                .await
        })
        .await
    }

    /// Checks that the writer is running and the database answers a `SELECT 1`. For `/readyz`.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let writer_alive = self
            .inner
            .writer
            .queue()
            .as_ref()
            .is_some_and(|tx| !tx.is_closed());
        if !writer_alive {
            return Err(StoreError::Closed);
        }
        self.run(|shared| async move {
            shared
                .control("probing the database", |client| async move {
                    client.simple_query("SELECT 1").await.map(|_| ())
                })
                .await
        })
        .await
    }

    /// [`PgStore::load_all`] for a caller on a blocking thread.
    pub fn load_all_blocking(&self) -> Result<Vec<Loaded>, StoreError> {
        self.block_on(|shared| async move {
            shared
                .control_within(LOAD_TIMEOUT, "loading the providers", |client| async move {
                    load_all(&client).await
                })
                .await
        })
    }
}

/// Every provider's record, one statement (one snapshot), keys in byte order.
async fn load_all(client: &Client) -> Result<Vec<Loaded>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT key, record FROM mq_lease_providers ORDER BY key COLLATE \"C\"",
            &[],
        )
        .await?;
    let mut loaded = Vec::with_capacity(rows.len());
    for row in rows {
        loaded.push(Loaded {
            key: row.try_get(0)?,
            record: row.try_get(1)?,
        });
    }
    Ok(loaded)
}

/// The newest `limit` events of `key` as (seq, bytes), newest first.
async fn events(
    client: &Client,
    key: &str,
    limit: usize,
) -> Result<RawEvents, tokio_postgres::Error> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT seq, event FROM mq_lease_events WHERE key = $1 ORDER BY seq DESC LIMIT $2",
            &[&key, &limit],
        )
        .await?;
    let mut newest = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get(0)?;
        // A negative seq is never written (they come from u64); skip rather than wrap.
        if let Ok(seq) = u64::try_from(seq) {
            newest.push((seq, row.try_get(1)?));
        }
    }
    Ok(newest)
}
