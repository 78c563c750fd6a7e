//! The writer: [`PgStore::commit`] queues a job, and the writer task (group commit) lands the
//! queued jobs, with the SQL it runs.
//!
//! The writer waits for the first queued commit, takes whatever else is already queued with the same
//! fence (up to [`MAX_BATCH`] jobs), and lands all of it in ONE transaction:
//! `BEGIN; <fence check>; <at most 5 statements>; COMMIT`, then answers every job with the same
//! result. The ops of the batch are first folded per key into their net effect, in order, so the
//! statement count does not grow with the batch (arrays via `unnest`) and each key is touched once
//! per statement.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Statement};

use super::{Fence, PgStore, Shared, OP_TIMEOUT};
use crate::store::{Op, StoreError};

/// Most commit jobs one transaction takes. Bounds the latency one batch adds for the jobs behind it.
pub(crate) const MAX_BATCH: usize = 256;

pub(super) struct Job {
    pub(super) ops: Vec<Op>,
    pub(super) fence: Option<Arc<Fence>>,
    pub(super) reply: oneshot::Sender<Result<(), StoreError>>,
}

impl PgStore {
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
}

const FENCE_SQL: &str = "SELECT 1 FROM mq_lease_leader \
     WHERE id = 1 AND epoch = $1 AND owner_id = $2 AND expires_at > now() FOR SHARE";
const DELETE_PROVIDERS_SQL: &str = "DELETE FROM mq_lease_providers WHERE key = ANY($1::text[])";
const DELETE_EVENTS_SQL: &str = "DELETE FROM mq_lease_events WHERE key = ANY($1::text[])";
const PUT_RECORDS_SQL: &str = "INSERT INTO mq_lease_providers (key, record) \
     SELECT * FROM unnest($1::text[], $2::bytea[]) \
     ON CONFLICT (key) DO UPDATE SET record = EXCLUDED.record";
const TRIM_EVENTS_SQL: &str = "DELETE FROM mq_lease_events e \
     USING unnest($1::text[], $2::bigint[]) AS t(key, keep) \
     WHERE e.key = t.key AND e.seq < t.keep";
const PUT_EVENTS_SQL: &str = "INSERT INTO mq_lease_events (key, seq, event) \
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[]) \
     ON CONFLICT (key, seq) DO UPDATE SET event = EXCLUDED.event";

/// The writer's connection with its prepared statements.
struct Conn {
    client: Client,
    fence: Statement,
    delete_providers: Statement,
    delete_events: Statement,
    put_records: Statement,
    trim_events: Statement,
    put_events: Statement,
}

impl Conn {
    async fn open(shared: &Shared) -> Result<Conn, StoreError> {
        let client = shared.connect().await?;
        // A writer paused mid-transaction (SIGSTOP) would keep its FOR SHARE lock on the
        // leader row and block every other replica's claim; the server ends it instead.
        client
            .batch_execute("SET idle_in_transaction_session_timeout = '1s'")
            .await
            .map_err(|e| shared.error("configuring the writer's session", e))?;
        let prepare = |sql: &'static str| {
            let client = &client;
            async move {
                client
                    .prepare(sql)
                    .await
                    .map_err(|e| shared.error("preparing the store's statements", e))
            }
        };
        let fence = prepare(FENCE_SQL).await?;
        let delete_providers = prepare(DELETE_PROVIDERS_SQL).await?;
        let delete_events = prepare(DELETE_EVENTS_SQL).await?;
        let put_records = prepare(PUT_RECORDS_SQL).await?;
        let trim_events = prepare(TRIM_EVENTS_SQL).await?;
        let put_events = prepare(PUT_EVENTS_SQL).await?;
        Ok(Conn {
            client,
            fence,
            delete_providers,
            delete_events,
            put_records,
            trim_events,
            put_events,
        })
    }
}

/// The writer task. Returns when every sender is gone and the queue is drained.
pub(super) async fn run(shared: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut conn: Option<Conn> = None;
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let fence = first.fence.clone();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) if same_fence(&job.fence, &fence) => batch.push(job),
                // A job under another fence goes in the next transaction, keeping arrival order.
                Ok(job) => {
                    carried = Some(job);
                    break;
                }
                Err(_) => break,
            }
        }
        commit_batch(&shared, &mut conn, fence.as_deref(), batch).await;
    }
}

fn same_fence(a: &Option<Arc<Fence>>, b: &Option<Arc<Fence>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.epoch == b.epoch
                && a.owner_id == b.owner_id
                && Arc::ptr_eq(&a.valid_until, &b.valid_until)
        }
        _ => false,
    }
}

async fn commit_batch(
    shared: &Shared,
    conn: &mut Option<Conn>,
    fence: Option<&Fence>,
    batch: Vec<Job>,
) {
    let mut replies = Vec::with_capacity(batch.len());
    let mut ops = Vec::new();
    for job in batch {
        ops.extend(job.ops);
        replies.push(job.reply);
    }
    let result = if fence.is_some_and(|f| !f.valid_until.is_valid()) {
        Err(StoreError::NotOwner)
    } else if ops.is_empty() {
        // Only empty commits (barriers): everything before them is already answered.
        Ok(())
    } else {
        match tokio::time::timeout(OP_TIMEOUT, transact(shared, conn, &ops, fence)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Postgres(format!(
                "committing timed out after {OP_TIMEOUT:?}"
            ))),
        }
    };
    match &result {
        Ok(()) => {
            shared.commits.fetch_add(1, Ordering::Relaxed);
        }
        Err(StoreError::NotOwner) => {
            log::warn!(
                "store: commit of {} job(s) refused: this replica does not own the state",
                replies.len()
            );
        }
        Err(e) => {
            // A broken or stuck connection is made again by the next batch.
            *conn = None;
            log::error!("store: commit of {} job(s) failed: {e}", replies.len());
        }
    }
    for reply in replies {
        let _ = reply.send(result.clone());
    }
}

/// One key's net effect of a batch's ops, applied in order.
#[derive(Default)]
struct Effect<'a> {
    /// A Delete came first: remove the record and every event before anything else.
    delete_first: bool,
    record: Option<&'a [u8]>,
    events: BTreeMap<i64, &'a [u8]>,
    /// Drop the stored events with a lower seq (0: none).
    trim_below: i64,
}

fn coalesce(ops: &[Op]) -> Result<BTreeMap<&str, Effect<'_>>, StoreError> {
    let mut effects: BTreeMap<&str, Effect<'_>> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Put {
                key,
                record,
                events,
                keep_events_from,
            } => {
                let e = effects.entry(key.as_str()).or_default();
                e.record = Some(record.as_slice());
                for (seq, bytes) in events {
                    let seq = i64::try_from(*seq).map_err(|_| {
                        StoreError::Postgres(format!(
                            "event seq {seq} of provider {key} is beyond the range PostgreSQL stores"
                        ))
                    })?;
                    e.events.insert(seq, bytes.as_slice());
                }
                if *keep_events_from > 0 {
                    let keep = i64::try_from(*keep_events_from).unwrap_or(i64::MAX);
                    e.trim_below = e.trim_below.max(keep);
                    e.events.retain(|seq, _| *seq >= keep);
                }
            }
            Op::Delete { key } => {
                effects.insert(
                    key.as_str(),
                    Effect {
                        delete_first: true,
                        ..Effect::default()
                    },
                );
            }
        }
    }
    Ok(effects)
}

async fn transact(
    shared: &Shared,
    slot: &mut Option<Conn>,
    ops: &[Op],
    fence: Option<&Fence>,
) -> Result<(), StoreError> {
    let effects = coalesce(ops)?;
    let mut deleted: Vec<&str> = Vec::new();
    let (mut record_keys, mut records): (Vec<&str>, Vec<&[u8]>) = (Vec::new(), Vec::new());
    let (mut trim_keys, mut trims): (Vec<&str>, Vec<i64>) = (Vec::new(), Vec::new());
    let (mut event_keys, mut event_seqs, mut events): (Vec<&str>, Vec<i64>, Vec<&[u8]>) =
        (Vec::new(), Vec::new(), Vec::new());
    for (key, e) in &effects {
        if e.delete_first {
            deleted.push(key);
        }
        if let Some(record) = e.record {
            record_keys.push(key);
            records.push(record);
        }
        if e.trim_below > 0 {
            trim_keys.push(key);
            trims.push(e.trim_below);
        }
        for (seq, bytes) in &e.events {
            event_keys.push(key);
            event_seqs.push(*seq);
            events.push(bytes);
        }
    }

    if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
        *slot = None;
        *slot = Some(Conn::open(shared).await?);
    }
    let Some(conn) = slot.as_mut() else {
        return Err(StoreError::Closed);
    };
    let err = |doing: &'static str| move |e| shared.error(doing, e);
    let tx = conn
        .client
        .transaction()
        .await
        .map_err(err("starting a transaction"))?;
    if let Some(f) = fence {
        let rows = tx
            .query(&conn.fence, &[&f.epoch, &f.owner_id])
            .await
            .map_err(err("checking ownership"))?;
        if rows.is_empty() {
            // Dropping `tx` rolls it back.
            return Err(StoreError::NotOwner);
        }
    }
    if !deleted.is_empty() {
        tx.execute(&conn.delete_providers, &[&deleted])
            .await
            .map_err(err("deleting providers"))?;
        tx.execute(&conn.delete_events, &[&deleted])
            .await
            .map_err(err("deleting events"))?;
    }
    if !record_keys.is_empty() {
        tx.execute(&conn.put_records, &[&record_keys, &records])
            .await
            .map_err(err("writing records"))?;
    }
    if !trim_keys.is_empty() {
        tx.execute(&conn.trim_events, &[&trim_keys, &trims])
            .await
            .map_err(err("trimming events"))?;
    }
    if !event_keys.is_empty() {
        tx.execute(&conn.put_events, &[&event_keys, &event_seqs, &events])
            .await
            .map_err(err("writing events"))?;
    }
    // The last moment to notice that the local deadline passed while the statements ran.
    if fence.is_some_and(|f| !f.valid_until.is_valid()) {
        return Err(StoreError::NotOwner);
    }
    tx.commit().await.map_err(err("committing"))
}
