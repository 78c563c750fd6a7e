//! The PostgreSQL backend: the same records and events as redb, in tables shared by every replica,
//! plus the leader row that says which replica owns the state.
//!
//! - Everything that talks to the database runs on the store's own thread, inside its own
//!   current-thread tokio runtime, so no actor or HTTP thread ever waits on the network: callers on
//!   any runtime await a channel.
//! - [`PgStore::commit`] queues a batch for the writer task, which takes every queued batch (up to
//!   [`writer::MAX_BATCH`]) and lands them in ONE transaction (group commit), `synchronous_commit`
//!   left as the server has it (on by default). A *fenced* handle ([`PgStore::fenced`]) makes that
//!   transaction start with `SELECT … FROM mq_lease_leader WHERE epoch = $e AND owner_id = $o AND
//!   expires_at > now() FOR SHARE`: no row means another replica owns the state, and nothing is
//!   written ([`StoreError::NotOwner`]). The row lock makes a concurrent claim wait for the commit.
//! - The leader row primitives ([`PgStore::claim`], [`PgStore::resign`]) are each one statement,
//!   judged by the database clock.
//! - Every database call has a bound ([`CONNECT_TIMEOUT`], [`OP_TIMEOUT`]); a lost connection is
//!   dropped and made again on the next call, so a restarted database needs no restarted store.
//! - The URL's password never appears in an error or a log line: [`PgStore::location`] is rebuilt
//!   without it and every error text goes through [`Redactor`]. The password may also come from
//!   a file or `PGPASSWORD` ([`PgOptions`]).
//! - TLS follows the URL's `sslmode` and `sslrootcert` as libpq does ([`tls`]); a certificate
//!   that does not verify fails the connect, so the first one (at start) stops the start.
//!
//! Driver: `tokio-postgres` without a pool. The writer holds one connection (a transaction needs
//! one anyway, and group commit means there is never a second writer); the leader-row calls,
//! `load_all`, `events` and `probe` share a second one, pipelined by the driver. A pool would add a crate and
//! hide the connect timeout behind its own, for no concurrency we use.
//!
//! Where each job lives:
//!
//! - `postgres.rs` (this file): the [`PgStore`] handle: starting it ([`PgStore::connect`],
//!   [`PgStore::connect_with`]: the store's thread, the writer, the migrations), what its clones
//!   share, running a call on the store's runtime, shutdown; and the re-exports.
//! - `postgres/connection.rs`: how to connect (the URL, TLS, the ([`PgOptions`]: password file, `PGPASSWORD`), the timeouts, [`redact_url`]
//!   and the control connection.
//! - `postgres/tls.rs` (and `tls/`): `sslmode`, `sslrootcert` and the rustls connector.
//! - `postgres/redact.rs`: the password kept out of every message ([`Redactor`]).
//! - `postgres/migrations.rs`: the schema and its migrations.
//! - `postgres/leader.rs`: the leader row: [`PgStore::claim`], [`PgStore::resign`], [`Fence`],
//!   [`ValidUntil`], [`Leadership`] and their SQL.
//! - `postgres/writer.rs`: the writer: [`PgStore::commit`] and its job queue, batching,
//!   coalescing, the fenced transaction.
//! - `postgres/reads.rs`: [`PgStore::load_all`], [`PgStore::events`], [`PgStore::probe`] and their
//!   SQL.

mod connection;
mod leader;
mod migrations;
mod reads;
mod redact;
pub mod tls;
mod writer;

use super::worker::WorkerThread;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

pub(crate) use connection::Shared;
pub use connection::{redact_url, PgOptions, CONNECT_TIMEOUT, LOAD_TIMEOUT, OP_TIMEOUT};
pub use leader::{Fence, Leadership, ValidUntil};
pub use redact::Redactor;
use writer::Job;

use super::StoreError;

/// Handle to the PostgreSQL store. Cheap to clone; every clone and every [`PgStore::fenced`] handle
/// share one writer and one control connection. The store's thread stops on [`PgStore::shutdown`]
/// or once the last handle is dropped, after landing what is queued.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
    /// Shared, so a handle (one per provider) stays two pointers wide.
    fence: Option<Arc<Fence>>,
}

struct Inner {
    shared: Arc<Shared>,
    location: String,
    runtime: tokio::runtime::Handle,
    /// The writer thread; its queue is `None` after shutdown (commits answered `Closed`).
    writer: WorkerThread<mpsc::UnboundedSender<Job>>,
}

impl PgStore {
    /// Parses `url` (`postgres://user:password@host:port/db?…` or `key=value` form), starts the
    /// store's thread, connects and applies the migrations that are missing (serialised between
    /// replicas by an advisory lock). Errors never contain the password.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        PgStore::connect_with(url, &PgOptions::default()).await
    }

    /// [`PgStore::connect`] with the password from `options` when it names one (see
    /// [`PgOptions`] for which source wins), and TLS as the URL's `sslmode` and
    /// `sslrootcert` say ([`tls`]).
    pub async fn connect_with(url: &str, options: &PgOptions) -> Result<PgStore, StoreError> {
        let (shared, location) = Shared::open(url, options)?;
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let writer_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pg-store".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(writer::run(writer_shared, jobs_rx));
            })
            .map_err(|e| StoreError::Spawn { error: Arc::new(e) })?;
        let runtime = match ready_rx.await {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => return Err(StoreError::Spawn { error: Arc::new(e) }),
            Err(_) => return Err(StoreError::Closed),
        };
        let store = PgStore {
            inner: Arc::new(Inner {
                shared,
                location,
                runtime,
                writer: WorkerThread::new(jobs_tx, thread, "PostgreSQL store"),
            }),
            fence: None,
        };
        store
            .run(|shared| async move {
                let mut client = shared.connect().await?;
                let applied = tokio::time::timeout(OP_TIMEOUT, migrations::apply(&mut client))
                    .await
                    .map_err(|_| {
                        StoreError::Postgres(format!(
                            "applying the schema migrations timed out after {OP_TIMEOUT:?}"
                        ))
                    })?;
                match applied {
                    Ok(_) => Ok(()),
                    Err(migrations::MigrateError::Db(e)) => {
                        Err(shared.error("applying the schema migrations", e))
                    }
                    Err(migrations::MigrateError::Newer { found, known }) => {
                        Err(StoreError::Postgres(format!(
                            "the database has schema version {found}, this build knows up to \
                             {known} (a newer build migrated it)"
                        )))
                    }
                }
            })
            .await?;
        log::info!("store: PostgreSQL at {}", store.inner.shared.target);
        Ok(store)
    }
}

impl PgStore {
    /// A handle whose every commit is conditional on `fence` (epoch and owner id in the leader row,
    /// `expires_at > now()` by the database clock), and refused locally once
    /// `fence.valid_until` has passed.
    pub fn fenced(&self, fence: Fence) -> PgStore {
        PgStore {
            inner: Arc::clone(&self.inner),
            fence: Some(Arc::new(fence)),
        }
    }

    /// The fence this handle's commits carry, if any.
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_deref()
    }

    /// Where the data lives, without the password (`postgres://user@host:port/db`).
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Number of transactions the writer has committed (group commit makes it lower than the
    /// number of `commit` calls that arrive together).
    pub fn commits(&self) -> u64 {
        self.inner.shared.commits.load(Ordering::Relaxed)
    }

    /// Stops taking commits, lands what is queued, closes the connections and waits for the store's
    /// thread (at most one batch, bounded by [`OP_TIMEOUT`]). Later calls on any clone answer
    /// `Closed`. Blocks the calling thread: call it from `main` (or `spawn_blocking`).
    pub fn shutdown(&self) {
        self.inner.writer.shutdown();
    }

    /// Runs `f` on the store's runtime and awaits its result from any runtime.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let fut = f(Arc::clone(&self.inner.shared));
        match self.inner.runtime.spawn(fut).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Runs `f` on the store's runtime and blocks the calling thread for its result (startup only;
    /// never from inside an async task).
    pub(crate) fn block_on<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let fut = f(Arc::clone(&self.inner.shared));
        drop(self.inner.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        }));
        rx.recv().unwrap_or(Err(StoreError::Closed))
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.inner.location)
            .field("fence", &self.fence.as_ref().map(|f| f.epoch))
            .finish()
    }
}
