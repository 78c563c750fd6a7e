//! Durable commits per second through `Store` with 1, 16 and 256 concurrent submitters.
//!
//! Each submitter commits a ~500-byte Put for its own key, awaits it, and repeats, for about 3 s.
//! Run with `cargo bench --bench store`. The file lives in a temp dir, so the figure is the fsync rate of
//! the disk under `$TMPDIR`, shared by however many ops group commit puts in one transaction.

use std::time::{Duration, Instant};

use mq_lease_service::store::{Op, RedbStore as Store};

const RUN_FOR: Duration = Duration::from_secs(3);
const RECORD_BYTES: usize = 500;

async fn submitter(store: Store, id: usize, until: Instant) -> u64 {
    let key = format!("bench-owner:repo-{id}:main");
    let mut done = 0u64;
    while Instant::now() < until {
        let mut record = vec![b'x'; RECORD_BYTES];
        record[..8].copy_from_slice(&done.to_be_bytes());
        let op = Op::Put {
            key: key.clone(),
            record,
            events: Vec::new(),
            keep_events_from: 0,
        };
        if let Err(e) = store.commit_and_wait(vec![op]).await {
            eprintln!("commit failed: {e}");
            break;
        }
        done += 1;
    }
    done
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "{:>11} {:>10} {:>12} {:>14} {:>11}",
        "submitters", "ops", "ops/s", "transactions/s", "ops/txn"
    );
    for submitters in [1usize, 16, 256] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("open store");
        let before = store.commits();
        let started = Instant::now();
        let until = started + RUN_FOR;
        let ops: u64 = rt.block_on(async {
            let tasks: Vec<_> = (0..submitters)
                .map(|id| tokio::spawn(submitter(store.clone(), id, until)))
                .collect();
            let mut total = 0;
            for task in tasks {
                total += task.await.expect("submitter task");
            }
            total
        });
        let secs = started.elapsed().as_secs_f64();
        let txns = store.commits() - before;
        println!(
            "{:>11} {:>10} {:>12.0} {:>14.0} {:>11.1}",
            submitters,
            ops,
            ops as f64 / secs,
            txns as f64 / secs,
            ops as f64 / txns.max(1) as f64
        );
        store.shutdown();
    }
}
