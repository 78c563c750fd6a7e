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

mod leader;
mod migrations;
mod reads;
mod redact;
pub mod tls;
mod writer;

use super::worker::WorkerThread;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Config};

pub use leader::{Fence, Leadership, ValidUntil};
pub use redact::Redactor;
use writer::Job;

use super::{Op, StoreError};

/// Longest wait for a new connection (TCP, TLS handshake, authentication).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for one call (a commit transaction, a claim, a history read, a probe), connecting
/// included.
/// Past it the connection is dropped and the call fails; the next call connects again.
pub const OP_TIMEOUT: Duration = Duration::from_secs(4);
/// The bound on reading the whole state (a new owner's load): it grows with the number of
/// providers, so it cannot share [`OP_TIMEOUT`], or a large state would never load
/// and ownership would pass from replica to replica.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// `url` as it may appear in a message or a log line: `postgres://user@host:port/db`, never the
/// password (a URL that does not parse gives a placeholder, not itself).
pub fn redact_url(url: &str) -> String {
    let parsed = tls::split(url)
        .ok()
        .and_then(|(rest, _)| rest.parse::<Config>().ok());
    match parsed {
        Some(config) => redact::location(&config),
        None => "<a PostgreSQL URL that does not parse>".to_owned(),
    }
}

/// Where the password comes from besides the URL (docs/rules.md §12). Precedence, highest first:
/// the file, the URL's own password, `PGPASSWORD` (libpq's order for the last two: the
/// environment only fills in what the connection string leaves out).
#[derive(Clone, Default)]
pub struct PgOptions {
    /// `--postgres-password-file` / `[store] postgres_password_file`: its content, one trailing
    /// newline removed, is the password.
    pub password_file: Option<std::path::PathBuf>,
    /// `PGPASSWORD` as the process found it (read by the caller, so tests need not touch the
    /// environment).
    pub env_password: Option<String>,
}

impl PgOptions {
    /// `password_file` and this process's `PGPASSWORD`.
    pub fn from_env(password_file: Option<std::path::PathBuf>) -> PgOptions {
        PgOptions {
            password_file,
            env_password: std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("password_file", &self.password_file)
            .field(
                "env_password",
                &self.env_password.as_ref().map(|_| redact::MASK),
            )
            .finish()
    }
}

/// The password from the file, if one is named: one trailing newline (`\n` or `\r\n`) is
/// removed, as `echo` and editors leave one. Errors name the path, never the content.
fn read_password_file(path: &std::path::Path) -> Result<String, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| {
        StoreError::Postgres(format!(
            "the PostgreSQL password file {} cannot be read: {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        StoreError::Postgres(format!(
            "the PostgreSQL password file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(StoreError::Postgres(format!(
            "the PostgreSQL password file {} is empty",
            path.display()
        )));
    }
    Ok(password.to_owned())
}

/// Handle to the PostgreSQL store. Cheap to clone; every clone and every [`PgStore::fenced`] handle
/// share one writer and one control connection. The store's thread stops on [`PgStore::shutdown`]
/// or once the last handle is dropped, after landing what is queued.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
    /// Shared, so a handle (one per provider) stays two pointers wide.
    fence: Option<Arc<Fence>>,
}

/// What the store thread and its tasks share.
pub(crate) struct Shared {
    config: Config,
    tls: tls::MakeRustls,
    /// `postgres://user@host:port/db (sslmode=…)`: what a connect error names.
    target: String,
    redactor: Redactor,
    /// The connection of the leader-row calls, `load_all`, `events` and `probe`; `None` until needed or after
    /// a failure.
    control: tokio::sync::Mutex<Option<Arc<Client>>>,
    commits: AtomicU64,
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
        let mut redactor = Redactor::for_url(url);
        if let Some(p) = &options.env_password {
            redactor = redactor.with_secret(p);
        }
        let (rest, tls) = tls::split(url).map_err(|e| {
            StoreError::Postgres(redactor.redact(&format!("invalid PostgreSQL URL: {e}")))
        })?;
        let mut config: Config = rest.parse().map_err(|e: tokio_postgres::Error| {
            StoreError::Postgres(redactor.redact(&format!("invalid PostgreSQL URL: {e}")))
        })?;
        let mut redactor = redactor.with_config(&config);
        let location = redact::location(&config);
        if let Some(path) = &options.password_file {
            let password = read_password_file(path)?;
            redactor = redactor.with_secret(&password);
            if config.get_password().is_some() {
                log::warn!(
                    "store: the password in the PostgreSQL URL is ignored: the password file {} \
                     takes precedence",
                    path.display()
                );
            }
            config.password(password);
        } else if config.get_password().is_none() {
            if let Some(password) = &options.env_password {
                config.password(password.as_str());
            }
        }
        config.ssl_mode(tls.mode.driver());
        let connector = tls
            .connector()
            .map_err(|e| StoreError::Postgres(redactor.redact(&format!("{location}: {e}"))))?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives_idle(Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("mq-lease-service");
        }
        let target = format!("{location} ({})", tls.describe());
        let shared = Arc::new(Shared {
            config,
            tls: connector,
            target,
            redactor,
            control: tokio::sync::Mutex::new(None),
            commits: AtomicU64::new(0),
        });

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

    /// Queues `batch` for the writer and returns at once. The receiver yields `Ok(())` only after
    /// the batch is committed (with `synchronous_commit` on: durable), or the error that made the
    /// whole transaction fail: then nothing of it was applied, except when the connection broke
    /// during `COMMIT` itself, where the database may have applied it (as with any client).
    /// A fenced handle past its `valid_until` answers [`StoreError::NotOwner`] without queueing.
    pub fn commit(&self, batch: Vec<Op>) -> oneshot::Receiver<Result<(), StoreError>> {
        let (reply, answer) = oneshot::channel();
        if let Some(fence) = &self.fence {
            if !fence.valid_until.is_valid() {
                let _ = reply.send(Err(StoreError::NotOwner));
                return answer;
            }
        }
        let job = Job {
            ops: batch,
            fence: self.fence.clone(),
            reply,
        };
        match self.inner.writer.queue().as_ref() {
            Some(tx) => {
                if let Err(mpsc::error::SendError(job)) = tx.send(job) {
                    let _ = job.reply.send(Err(StoreError::Closed));
                }
            }
            None => {
                let _ = job.reply.send(Err(StoreError::Closed));
            }
        }
        answer
    }

    /// [`PgStore::commit`] and wait for the answer.
    pub async fn commit_and_wait(&self, batch: Vec<Op>) -> Result<(), StoreError> {
        self.commit(batch).await?
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

impl Shared {
    /// A new connection, its driver task spawned on the current (the store's) runtime.
    async fn connect(&self) -> Result<Client, StoreError> {
        let connecting = self.config.connect(self.tls.clone());
        let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                StoreError::Postgres(format!(
                    "connecting to {} timed out after {CONNECT_TIMEOUT:?}",
                    self.target
                ))
            })?
            .map_err(|e| self.error(&format!("connecting to {}", self.target), e))?;
        let redactor = self.redactor.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                log::debug!(
                    "store: a PostgreSQL connection ended: {}",
                    redactor.redact(&e.to_string())
                );
            }
        });
        Ok(client)
    }

    /// A `tokio_postgres::Error` as a `StoreError`, saying what was being done, credentials removed.
    fn error(&self, doing: &str, e: tokio_postgres::Error) -> StoreError {
        let mut text = e.to_string();
        if let Some(db) = e.as_db_error() {
            text = format!("{} ({})", db.message(), db.code().code());
        } else if let Some(source) = std::error::Error::source(&e) {
            text = format!("{text}: {source}");
        }
        StoreError::Postgres(self.redactor.redact(&format!("{doing}: {text}")))
    }

    /// Runs `f` on the control connection (connecting if needed) within [`OP_TIMEOUT`]; drops the
    /// connection when it broke or the call timed out, so the next call connects again.
    async fn control<T, F, Fut>(&self, doing: &str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.control_within(OP_TIMEOUT, doing, f).await
    }

    /// [`Shared::control`] with another bound than [`OP_TIMEOUT`].
    async fn control_within<T, F, Fut>(
        &self,
        bound: Duration,
        doing: &str,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let attempt = async {
            let client = {
                let mut slot = self.control.lock().await;
                match slot.as_ref() {
                    Some(c) if !c.is_closed() => Arc::clone(c),
                    _ => {
                        *slot = None;
                        let c = Arc::new(self.connect().await?);
                        *slot = Some(Arc::clone(&c));
                        c
                    }
                }
            };
            let result = f(Arc::clone(&client)).await;
            if result.is_err() && client.is_closed() {
                self.forget(&client).await;
            }
            result.map_err(|e| self.error(doing, e))
        };
        match tokio::time::timeout(bound, attempt).await {
            Ok(result) => result,
            Err(_) => {
                // The connection may be stuck (a paused server, a cut network): start over next time.
                *self.control.lock().await = None;
                Err(StoreError::Postgres(format!(
                    "{doing}: timed out after {bound:?}"
                )))
            }
        }
    }

    async fn forget(&self, client: &Arc<Client>) {
        let mut slot = self.control.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, client)) {
            *slot = None;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_keeps_where_and_drops_the_password() {
        assert_eq!(
            redact_url("postgresql://app:pw-123@db:5432/leases?sslmode=disable"),
            "postgres://app@db:5432/leases"
        );
        assert!(!redact_url("postgres://app:pw-123@db:notaport/x").contains("pw-123"));
    }
}
