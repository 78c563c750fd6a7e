//! The redb backend: one redb file under the data directory, written by one thread with group commit.
//!
//! The store knows keys and bytes only; callers serialize. Each provider has one record
//! (`providers: key -> bytes`) and an append-only event log (`events: (key, seq) -> bytes`) that the
//! caller trims with `keep_events_from`.
//!
//! Every write goes through [`RedbStore::commit`], which queues the ops for the writer thread and returns at
//! once. The writer applies whatever is queued in one transaction, commits it durably
//! (`Durability::Immediate`: fsync) and then answers each receiver. So an async thread never waits on
//! fsync, ops reach disk in the order they were queued, and an answer `Ok(())` means "on disk".
//!
//! The queue is unbounded on purpose: `commit` must never block an actor. The bound comes from the callers,
//! since each provider awaits its commit before making the next change.

mod writer;

#[cfg(test)]
mod tests;

use super::worker::WorkerThread;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;

use tokio::sync::oneshot;

use writer::{Job, Writer};

use super::{Loaded, Op, RawEvents, StoreError};

/// File name of the database inside the data directory.
pub const FILE_NAME: &str = "leases.redb";

/// redb's page cache (its default is 1 GiB, which a start-up load of a large file fills).
/// The writer touches a few pages per provider change and the file is read in full only
/// at start, so a small cache costs little: the OS page cache still holds the file.
pub const CACHE_BYTES: usize = 2 * 1024 * 1024;

/// At open, the file is compacted when more than this share of it is free pages (left by
/// trimmed history, deleted providers and copy-on-write) and it is larger than
/// [`COMPACT_MIN_BYTES`].
const COMPACT_FREE_SHARE: f64 = 0.5;
const COMPACT_MIN_BYTES: u64 = 4 * 1024 * 1024;

/// Handle to the store. Cheap to clone; the writer thread stops once the last clone is dropped (or on
/// [`RedbStore::shutdown`]), after finishing the ops already queued.
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: WorkerThread<Sender<Job>>,
    commits: Arc<AtomicU64>,
}

impl RedbStore {
    /// Opens (or creates) `<dir>/leases.redb`, creating `dir` if needed, and starts the writer thread.
    ///
    /// Fails with [`StoreError::Locked`] if the file is already open, whether by another process or by
    /// another `RedbStore` in this one (redb holds an exclusive `flock` on the file while it is open).
    pub fn open(dir: &Path) -> Result<RedbStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::CreateDir {
            path: dir.to_path_buf(),
            error: Arc::new(e),
        })?;
        let path = dir.join(FILE_NAME);
        let mut db = ::redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| match e {
                ::redb::DatabaseError::DatabaseAlreadyOpen => {
                    StoreError::Locked { path: path.clone() }
                }
                other => StoreError::Open {
                    path: path.clone(),
                    error: Arc::new(other),
                },
            })?;
        let found = writer::prepare(&db)?;
        if found != writer::LAYOUT_VERSION {
            return Err(StoreError::Layout {
                path,
                found,
                expected: writer::LAYOUT_VERSION,
            });
        }
        compact_if_sparse(&mut db, &path);

        let commits = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let worker = Writer::new(db, rx, Arc::clone(&commits));
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || worker.run())
            .map_err(|e| StoreError::Spawn { error: Arc::new(e) })?;
        log::info!("store opened at {}", path.display());
        Ok(RedbStore {
            inner: Arc::new(Inner {
                path,
                writer: WorkerThread::new(tx, handle, "redb writer"),
                commits,
            }),
        })
    }

    /// The database file, for messages.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Every stored provider's record, in key order.
    ///
    /// Blocks the calling thread until the writer has served it (after anything queued before it);
    /// meant for startup and tests. It uses a std channel, so it is safe to call inside an async `main`.
    pub fn load_all(&self) -> Result<Vec<Loaded>, StoreError> {
        let mut all = Vec::new();
        loop {
            let chunk = self.load_chunk(all.last().map(|l: &Loaded| l.key.clone()), 1024)?;
            if chunk.is_empty() {
                return Ok(all);
            }
            all.extend(chunk);
        }
    }

    /// Up to `limit` stored providers' records, in key order, starting after the key
    /// `after` (from the first with `None`); empty once there are no more. Loading a large file
    /// chunk by chunk keeps only one chunk's bytes in memory at a time. Blocks like
    /// [`RedbStore::load_all`].
    pub fn load_chunk(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<Loaded>, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.inner.send(Job::Load {
            after,
            limit,
            reply,
        });
        answer.recv().unwrap_or(Err(StoreError::Closed))
    }

    /// The newest `limit` events of `key` as (seq, bytes), newest first. Served by the writer
    /// thread in queue order (a read transaction, no fsync): every commit answered before this
    /// call is in it, and no async thread waits on the file.
    pub async fn events(&self, key: &str, limit: usize) -> Result<RawEvents, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner.send(Job::Events {
            key: key.to_owned(),
            limit,
            reply,
        });
        answer.await?
    }

    /// Queues `ops` for the writer and returns at once. The receiver yields `Ok(())` only after the ops are
    /// durably committed, or the error that made their whole batch fail (nothing of it was applied).
    /// If the writer is gone the answer is `Err(StoreError::Closed)`; a receive error (`RecvError`) also
    /// means the writer went away mid-batch and converts into `StoreError::Closed` with `?`/`From`.
    pub fn commit(&self, ops: Vec<Op>) -> oneshot::Receiver<Result<(), StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.inner.send(Job::Commit { ops, reply });
        answer
    }

    /// [`RedbStore::commit`] and wait for the answer, for callers that simply await.
    pub async fn commit_and_wait(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.commit(ops).await?
    }

    /// Checks that the writer is alive and the file answers: a read transaction normally (no fsync),
    /// a small durable write if the last write failed. For `/readyz`.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner.send(Job::Probe { reply });
        answer.await?
    }

    /// Number of write transactions the writer has committed since open (batches, and probe writes after
    /// a failure). Group commit makes it lower than the number of `commit` calls when they arrive together.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Stops taking jobs, lets the writer finish what is queued, and waits for it; the file is unlocked
    /// afterwards. Later calls on any clone answer `Closed`. Blocks the calling thread for at most one
    /// batch: call it from `main` (or `spawn_blocking`), not from an actor. Dropping the last clone does
    /// the same.
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }

    #[cfg(test)]
    fn send_test_job(&self, job: Job) {
        self.inner.send(job);
    }
}

/// Compacts the file if most of it is free pages (see [`COMPACT_FREE_SHARE`]). Runs before
/// the writer starts, so nothing waits on it but start-up. A failure is logged and the
/// file used as it is: compaction is crash-safe in redb and only saves space.
fn compact_if_sparse(db: &mut ::redb::Database, path: &Path) {
    let Ok(file_bytes) = std::fs::metadata(path).map(|m| m.len()) else {
        return;
    };
    let stats = match db.begin_write() {
        Ok(txn) => {
            let stats = txn.stats();
            let _ = txn.abort();
            stats.map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    let used_bytes = match stats {
        Ok(stats) => stats.allocated_pages() * stats.page_size() as u64,
        Err(e) => {
            log::warn!("store: cannot read the file's statistics, not compacting: {e}");
            return;
        }
    };
    let free = file_bytes.saturating_sub(used_bytes) as f64 / file_bytes.max(1) as f64;
    if file_bytes < COMPACT_MIN_BYTES || free < COMPACT_FREE_SHARE {
        return;
    }
    let started = std::time::Instant::now();
    match db.compact() {
        Ok(_) => log::info!(
            "store: compacted {} from {file_bytes} to {} bytes in {} ms",
            path.display(),
            std::fs::metadata(path).map_or(0, |m| m.len()),
            started.elapsed().as_millis()
        ),
        Err(e) => log::warn!(
            "store: compaction of {} failed, using it as it is: {e}",
            path.display()
        ),
    }
}

impl Inner {
    fn send(&self, job: Job) {
        match self.writer.queue().as_ref() {
            Some(tx) => {
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    job.close();
                }
            }
            None => job.close(),
        }
    }

    fn shutdown(&self) {
        self.writer.shutdown();
    }
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.inner.path)
            .finish()
    }
}
