//! The one thread that touches the database.
//!
//! It blocks for the first queued job, drains whatever else is already queued (up to [`MAX_BATCH`] commit
//! jobs), applies all of it in arrival order in ONE write transaction, commits once (fsync) and only then
//! answers every waiter. A failed batch answers every waiter with the same error; nothing of it was applied.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use redb::{Database, Durability, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use crate::store::{Loaded, Op, RawEvents, StoreError};

/// provider key (`owner:repo:base_ref`) -> the caller's serialized record.
pub(crate) const PROVIDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("providers");
/// (provider key, seq) -> one serialized event. Tuple order keeps a provider's events together, by seq.
pub(crate) const EVENTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("events");
/// Store bookkeeping: `layout` (u64 as big-endian bytes) and the `probe` scratch key.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

pub(crate) const LAYOUT_VERSION: u64 = 1;

/// Most commit jobs one transaction takes. Bounds the latency one batch adds for the jobs behind it.
pub(crate) const MAX_BATCH: usize = 256;

pub(crate) type Reply = oneshot::Sender<Result<(), StoreError>>;

pub(crate) enum Job {
    Commit {
        ops: Vec<Op>,
        reply: Reply,
    },
    Probe {
        reply: Reply,
    },
    /// Up to `limit` providers whose key sorts after `after` (all from the first with `None`).
    Load {
        after: Option<String>,
        limit: usize,
        reply: SyncSender<Result<Vec<Loaded>, StoreError>>,
    },
    /// The newest `limit` events of `key` as (seq, bytes), newest first: a read transaction,
    /// after every commit queued before it (so it sees every change already answered).
    Events {
        key: String,
        limit: usize,
        reply: oneshot::Sender<Result<RawEvents, StoreError>>,
    },
    /// Test hook: hold the writer until the sender side is dropped or sends, so jobs pile up.
    #[cfg(test)]
    Pause(Receiver<()>),
    /// Test hook: the writer panics, as a redb bug would make it.
    #[cfg(test)]
    Panic,
    /// Test hook: the next batch applies its ops, then fails instead of committing (as a failed fsync would).
    #[cfg(test)]
    FailNextCommit,
}

impl Job {
    /// Answers the job with `Closed` (the writer cannot serve it).
    pub(crate) fn close(self) {
        match self {
            Job::Commit { reply, .. } | Job::Probe { reply } => {
                let _ = reply.send(Err(StoreError::Closed));
            }
            Job::Load { reply, .. } => {
                let _ = reply.send(Err(StoreError::Closed));
            }
            Job::Events { reply, .. } => {
                let _ = reply.send(Err(StoreError::Closed));
            }
            #[cfg(test)]
            Job::Pause(_) | Job::Panic | Job::FailNextCommit => {}
        }
    }
}

pub(crate) struct Writer {
    db: Database,
    jobs: Receiver<Job>,
    commits: Arc<AtomicU64>,
    /// The last write failed; the next probe tries a small write instead of a read.
    degraded: bool,
    #[cfg(test)]
    fail_next_commit: bool,
}

impl Writer {
    pub(crate) fn new(db: Database, jobs: Receiver<Job>, commits: Arc<AtomicU64>) -> Self {
        Self {
            db,
            jobs,
            commits,
            degraded: false,
            #[cfg(test)]
            fail_next_commit: false,
        }
    }

    /// Thread body. Returns when every sender is gone and the queue is empty, or after a panic.
    pub(crate) fn run(mut self) {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.serve()));
        if outcome.is_err() {
            // The batch in flight was answered by dropping its reply senders (callers see `Closed`).
            // Answer what is still queued; once `self` drops, later `commit`s fail to send and answer
            // `Closed` themselves.
            log::error!("store writer panicked; every later write will fail until restart");
            while let Ok(job) = self.jobs.try_recv() {
                job.close();
            }
        }
    }

    fn serve(&mut self) {
        let mut carried: Option<Job> = None;
        loop {
            let job = match carried.take() {
                Some(job) => job,
                None => match self.jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return, // every RedbStore clone is gone and the queue is drained
                },
            };
            match job {
                Job::Commit { ops, reply } => {
                    let mut batch = vec![(ops, reply)];
                    while batch.len() < MAX_BATCH {
                        match self.jobs.try_recv() {
                            Ok(Job::Commit { ops, reply }) => batch.push((ops, reply)),
                            // Anything else runs after this batch, keeping arrival order.
                            Ok(other) => {
                                carried = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_batch(batch);
                }
                Job::Probe { reply } => {
                    let _ = reply.send(self.probe());
                }
                Job::Load {
                    after,
                    limit,
                    reply,
                } => {
                    let _ = reply.send(load(&self.db, after.as_deref(), limit));
                }
                Job::Events { key, limit, reply } => {
                    let _ = reply.send(events(&self.db, &key, limit));
                }
                #[cfg(test)]
                Job::Pause(until) => {
                    let _ = until.recv();
                }
                #[cfg(test)]
                Job::Panic => panic!("store writer test panic"),
                #[cfg(test)]
                Job::FailNextCommit => self.fail_next_commit = true,
            }
        }
    }

    fn commit_batch(&mut self, batch: Vec<(Vec<Op>, Reply)>) {
        let mut replies = Vec::with_capacity(batch.len());
        let mut ops = Vec::new();
        for (job_ops, reply) in batch {
            ops.extend(job_ops);
            replies.push(reply);
        }
        // Only empty commits (used as barriers): everything before them is already answered.
        let result = if ops.is_empty() {
            Ok(())
        } else {
            #[cfg(test)]
            let fail = std::mem::take(&mut self.fail_next_commit);
            #[cfg(not(test))]
            let fail = false;
            let result = apply(&self.db, ops, fail);
            match &result {
                Ok(()) => {
                    self.commits.fetch_add(1, Ordering::Relaxed);
                    self.degraded = false;
                }
                Err(e) => {
                    log::error!("store commit of {} job(s) failed: {e}", replies.len());
                    self.degraded = true;
                }
            }
            result
        };
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    }

    /// A read transaction normally (no fsync). After a failed write, a small durable write instead, so
    /// `/readyz` stays red while writes fail and turns green again once they work.
    fn probe(&mut self) -> Result<(), StoreError> {
        if self.degraded {
            let txn = self.db.begin_write().map_err(StoreError::storage)?;
            {
                let mut meta = txn.open_table(META).map_err(StoreError::storage)?;
                meta.insert("probe", [1u8].as_slice())
                    .map_err(StoreError::storage)?;
            }
            txn.commit().map_err(StoreError::storage)?;
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.degraded = false;
            Ok(())
        } else {
            let txn = self.db.begin_read().map_err(StoreError::storage)?;
            let meta = txn.open_table(META).map_err(StoreError::storage)?;
            meta.get("layout").map_err(StoreError::storage)?;
            Ok(())
        }
    }
}

/// Applies `ops` in order in one write transaction and commits it durably. `fail` (tests only) aborts
/// the transaction after applying the ops, standing in for a failed commit.
fn apply(db: &Database, ops: Vec<Op>, fail: bool) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(StoreError::storage)?;
    txn.set_durability(Durability::Immediate);
    {
        let mut providers = txn.open_table(PROVIDERS).map_err(StoreError::storage)?;
        let mut events = txn.open_table(EVENTS).map_err(StoreError::storage)?;
        for op in ops {
            match op {
                Op::Put {
                    key,
                    record,
                    events: new_events,
                    keep_events_from,
                } => {
                    let key = key.as_str();
                    providers
                        .insert(key, record.as_slice())
                        .map_err(StoreError::storage)?;
                    for (seq, bytes) in &new_events {
                        events
                            .insert((key, *seq), bytes.as_slice())
                            .map_err(StoreError::storage)?;
                    }
                    if keep_events_from > 0 {
                        events
                            .retain_in((key, 0)..(key, keep_events_from), |_, _| false)
                            .map_err(StoreError::storage)?;
                    }
                }
                Op::Delete { key } => {
                    let key = key.as_str();
                    providers.remove(key).map_err(StoreError::storage)?;
                    events
                        .retain_in((key, 0)..=(key, u64::MAX), |_, _| false)
                        .map_err(StoreError::storage)?;
                }
            }
        }
    }
    // On any error above, dropping `txn` aborts it: the batch is all or nothing.
    if fail {
        return Err(StoreError::storage(redb::StorageError::Corrupted(
            "injected commit failure".into(),
        )));
    }
    txn.commit().map_err(StoreError::storage)
}

fn load(db: &Database, after: Option<&str>, limit: usize) -> Result<Vec<Loaded>, StoreError> {
    use std::ops::Bound::{Excluded, Unbounded};
    let txn = db.begin_read().map_err(StoreError::storage)?;
    let providers = txn.open_table(PROVIDERS).map_err(StoreError::storage)?;
    let mut loaded = Vec::new();
    let from = after.map_or(Unbounded, Excluded);
    for entry in providers
        .range::<&str>((from, Unbounded))
        .map_err(StoreError::storage)?
        .take(limit)
    {
        let (key, record) = entry.map_err(StoreError::storage)?;
        loaded.push(Loaded {
            key: key.value().to_owned(),
            record: record.value().to_vec(),
        });
    }
    Ok(loaded)
}

/// The newest `limit` events of `key`, newest first.
fn events(db: &Database, key: &str, limit: usize) -> Result<RawEvents, StoreError> {
    let txn = db.begin_read().map_err(StoreError::storage)?;
    let table = txn.open_table(EVENTS).map_err(StoreError::storage)?;
    let mut newest = Vec::new();
    for event in table
        .range((key, 0)..=(key, u64::MAX))
        .map_err(StoreError::storage)?
        .rev()
        .take(limit)
    {
        let (event_key, bytes) = event.map_err(StoreError::storage)?;
        newest.push((event_key.value().1, bytes.value().to_vec()));
    }
    Ok(newest)
}

/// Creates the tables on a new file and checks the layout version of an existing one.
/// Returns the layout version found (or written); on a foreign version nothing is written.
pub(crate) fn prepare(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_write().map_err(StoreError::storage)?;
    {
        let mut meta = txn.open_table(META).map_err(StoreError::storage)?;
        let existing = meta
            .get("layout")
            .map_err(StoreError::storage)?
            .map(|v| decode_u64(v.value()));
        match existing {
            // Dropping `txn` aborts it: a file from another layout is left as it is.
            Some(version) if version != LAYOUT_VERSION => return Ok(version),
            Some(_) => {}
            None => {
                meta.insert("layout", LAYOUT_VERSION.to_be_bytes().as_slice())
                    .map_err(StoreError::storage)?;
            }
        }
        txn.open_table(PROVIDERS).map_err(StoreError::storage)?;
        txn.open_table(EVENTS).map_err(StoreError::storage)?;
    }
    txn.commit().map_err(StoreError::storage)?;
    Ok(LAYOUT_VERSION)
}

/// An unreadable version decodes as `u64::MAX`, which no build understands.
fn decode_u64(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(u64::MAX, u64::from_be_bytes)
}
