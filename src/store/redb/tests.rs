use std::path::Path;
use std::sync::mpsc;

use super::writer::Job;
use super::*;

fn put(key: &str, record: &[u8]) -> Op {
    Op::Put {
        key: key.to_owned(),
        record: record.to_vec(),
        events: Vec::new(),
        keep_events_from: 0,
    }
}

fn put_with_events(key: &str, record: &[u8], events: &[(u64, &[u8])], keep_from: u64) -> Op {
    Op::Put {
        key: key.to_owned(),
        record: record.to_vec(),
        events: events.iter().map(|(s, b)| (*s, b.to_vec())).collect(),
        keep_events_from: keep_from,
    }
}

fn delete(key: &str) -> Op {
    Op::Delete {
        key: key.to_owned(),
    }
}

/// Commits outside any runtime and waits for the answer.
fn commit_now(store: &RedbStore, ops: Vec<Op>) -> Result<(), StoreError> {
    store.commit(ops).blocking_recv()?
}

/// The newest `limit` events of `key`, newest first, read outside any runtime.
fn events_now(store: &RedbStore, key: &str, limit: usize) -> Vec<(u64, Vec<u8>)> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(store.events(key, limit))
        .unwrap()
}

/// Every stored event of `key`, newest first.
fn history(store: &RedbStore, key: &str) -> Vec<(u64, Vec<u8>)> {
    events_now(store, key, usize::MAX)
}

fn seqs(events: &[(u64, Vec<u8>)]) -> Vec<u64> {
    events.iter().map(|(seq, _)| *seq).collect()
}

fn reopen(dir: &Path) -> RedbStore {
    RedbStore::open(dir).expect("reopen")
}

#[test]
fn load_all_on_an_empty_new_store_is_empty() {
    let dir = tempfile::tempdir().unwrap();

    let store = RedbStore::open(&dir.path().join("not/yet/there")).unwrap();

    assert_eq!(store.load_all().unwrap(), Vec::new());
    assert!(store.path().ends_with("not/yet/there/leases.redb"));
    assert!(store.path().exists());
}

#[test]
fn a_committed_put_is_there_after_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();

    commit_now(
        &store,
        vec![put_with_events("o:r:main", b"state-1", &[(1, b"e1")], 0)],
    )
    .unwrap();
    drop(store);
    let store = reopen(dir.path());

    assert_eq!(
        store.load_all().unwrap(),
        vec![Loaded {
            key: "o:r:main".into(),
            record: b"state-1".to_vec(),
        }]
    );
    assert_eq!(history(&store, "o:r:main"), vec![(1, b"e1".to_vec())]);
}

#[test]
fn delete_removes_the_record_and_its_events_durably() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    commit_now(
        &store,
        vec![
            put_with_events("o:r:main", b"a", &[(1, b"1"), (2, b"2")], 0),
            // a neighbour whose key sorts right after, to show the event range delete stays in its key
            put_with_events("o:r:main2", b"b", &[(1, b"x")], 0),
        ],
    )
    .unwrap();

    commit_now(&store, vec![delete("o:r:main")]).unwrap();
    drop(store);
    let store = reopen(dir.path());

    let loaded = store.load_all().unwrap();
    assert_eq!(
        loaded,
        vec![Loaded {
            key: "o:r:main2".into(),
            record: b"b".to_vec(),
        }]
    );
    assert_eq!(history(&store, "o:r:main2"), vec![(1, b"x".to_vec())]);
    // the deleted key's events are gone too: a new put under it starts with no history
    commit_now(&store, vec![put("o:r:main", b"again")]).unwrap();
    let again = store.load_all().unwrap();
    assert_eq!(again[0].key, "o:r:main");
    assert_eq!(history(&store, "o:r:main"), Vec::new());
}

#[test]
fn events_are_appended_returned_newest_first_limited_and_trimmed_by_keep_events_from() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    // neighbours whose keys sort right before and after, to show a read stays in its key
    commit_now(
        &store,
        vec![
            put_with_events("k:r:a", b"s", &[(50, b"a50")], 0),
            put_with_events("k:r:b2", b"s", &[(60, b"b60")], 0),
        ],
    )
    .unwrap();

    // seq 10 sorts after 9 even though "10" < "9" as text; 2 arrives in a later commit than 3
    commit_now(
        &store,
        vec![put_with_events("k:r:b", b"s", &[(1, b"1"), (3, b"3")], 0)],
    )
    .unwrap();
    commit_now(
        &store,
        vec![put_with_events(
            "k:r:b",
            b"s",
            &[(2, b"2"), (9, b"9"), (10, b"10")],
            0,
        )],
    )
    .unwrap();
    let all = seqs(&history(&store, "k:r:b"));
    let newest_two = events_now(&store, "k:r:b", 2);
    commit_now(
        &store,
        vec![put_with_events("k:r:b", b"s", &[(11, b"11")], 9)],
    )
    .unwrap();

    assert_eq!(all, vec![10, 9, 3, 2, 1]);
    assert_eq!(newest_two, vec![(10, b"10".to_vec()), (9, b"9".to_vec())]);
    assert_eq!(
        history(&store, "k:r:b"),
        vec![
            (11, b"11".to_vec()),
            (10, b"10".to_vec()),
            (9, b"9".to_vec())
        ]
    );
    assert_eq!(events_now(&store, "k:r:b", 0), Vec::new());
    assert_eq!(seqs(&history(&store, "k:r:a")), [50]);
    assert_eq!(seqs(&history(&store, "k:r:b2")), [60]);
    assert_eq!(history(&store, "k:r:none"), Vec::new());
}

#[tokio::test]
async fn an_events_read_queued_after_a_commit_sees_it_and_a_closed_store_answers_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let (release, hold) = mpsc::channel::<()>();
    store.send_test_job(Job::Pause(hold));

    // Both wait behind the paused writer; the read is served after the commit, in order.
    let committed = store.commit(vec![put_with_events("o:r:main", b"s", &[(0, b"e0")], 0)]);
    let read = store.events("o:r:main", 10);
    let (read, _) = tokio::join!(read, async {
        release.send(()).unwrap();
    });
    committed.await.unwrap().unwrap();
    assert_eq!(read.unwrap(), vec![(0, b"e0".to_vec())]);

    store.shutdown();
    assert!(matches!(
        store.events("o:r:main", 10).await,
        Err(StoreError::Closed)
    ));
}

#[test]
fn ops_inside_one_commit_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();

    commit_now(
        &store,
        vec![
            put("a:b:c", b"1"),
            delete("a:b:c"),
            put("a:b:c", b"3"),
            put("d:e:f", b"x"),
            delete("d:e:f"),
        ],
    )
    .unwrap();

    let loaded = store.load_all().unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].record, b"3".to_vec());
}

#[test]
fn many_commits_from_many_threads_all_succeed_and_the_last_op_per_key_wins() {
    const THREADS: usize = 16;
    const PER_THREAD: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let before = store.commits();

    // each thread queues all its puts without waiting, then waits for all answers
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let key = format!("o:repo{t}:main");
                let answers: Vec<_> = (0..PER_THREAD)
                    .map(|i| store.commit(vec![put(&key, format!("v{i}").as_bytes())]))
                    .collect();
                answers
                    .into_iter()
                    .map(|rx| rx.blocking_recv().map_err(StoreError::from).and_then(|r| r))
                    .collect::<Result<Vec<()>, StoreError>>()
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap().unwrap();
    }

    let loaded = store.load_all().unwrap();
    assert_eq!(loaded.len(), THREADS);
    for provider in &loaded {
        assert_eq!(provider.record, format!("v{}", PER_THREAD - 1).into_bytes());
    }
    let used = store.commits() - before;
    assert!(
        used < (THREADS * PER_THREAD) as u64,
        "{used} transactions for {} commits",
        THREADS * PER_THREAD
    );
}

#[tokio::test]
async fn many_commits_from_many_tasks_all_succeed() {
    const TASKS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("o:r{t}:main");
                for i in 0..5u8 {
                    store.commit_and_wait(vec![put(&key, &[i])]).await?;
                }
                Ok::<(), StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }

    let loaded = store.load_all().unwrap();
    assert_eq!(loaded.len(), TASKS);
    assert!(loaded.iter().all(|p| p.record == vec![4u8]));
}

#[test]
fn commits_queued_together_share_one_transaction() {
    const N: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let before = store.commits();
    // hold the writer so the commits pile up, as they do behind a slow fsync
    let (release, hold) = mpsc::channel();
    store.send_test_job(Job::Pause(hold));

    let answers: Vec<_> = (0..N)
        .map(|i| store.commit(vec![put(&format!("o:r:{i}"), b"x")]))
        .collect();
    release.send(()).unwrap();
    for answer in answers {
        answer.blocking_recv().unwrap().unwrap();
    }

    let used = store.commits() - before;
    assert!(used < N as u64, "{used} transactions for {N} commits");
    assert_eq!(used, 1);
    assert_eq!(store.load_all().unwrap().len(), N);
}

#[test]
fn a_failed_commit_fails_every_op_in_its_batch_and_applies_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    commit_now(&store, vec![put("a:a:a", b"old")]).unwrap();
    store.send_test_job(Job::FailNextCommit);
    let (release, hold) = mpsc::channel();
    store.send_test_job(Job::Pause(hold));

    let first = store.commit(vec![put("a:a:a", b"new")]);
    let second = store.commit(vec![put("b:b:b", b"new")]);
    release.send(()).unwrap();

    let first = first.blocking_recv().unwrap();
    let second = second.blocking_recv().unwrap();
    assert!(
        matches!(first, Err(StoreError::Storage { .. })),
        "{first:?}"
    );
    assert!(
        matches!(second, Err(StoreError::Storage { .. })),
        "{second:?}"
    );
    assert_eq!(
        store.load_all().unwrap(),
        vec![Loaded {
            key: "a:a:a".into(),
            record: b"old".to_vec(),
        }]
    );
    // the store recovers: a probe write and the next commit succeed
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.probe()).unwrap();
    commit_now(&store, vec![put("b:b:b", b"new")]).unwrap();
}

#[test]
fn a_second_open_of_the_same_directory_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = RedbStore::open(dir.path()).unwrap();

    let second = RedbStore::open(dir.path());

    let err = second.unwrap_err();
    assert!(
        matches!(&err, StoreError::Locked { path } if path == first.path()),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&first.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("another mq-lease-service"), "{message}");
    // the refused open did not disturb the first one
    commit_now(&first, vec![put("o:r:b", b"x")]).unwrap();
}

/// Env var that turns `second_process_open_child` into the child half of the cross-process test.
const CHILD_DIR: &str = "MQ_STORE_TEST_CHILD_DIR";

#[test]
fn a_second_process_on_the_same_directory_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RedbStore::open(dir.path()).unwrap();

    // run this test binary again, only the child test, pointed at the same directory
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::redb::tests::second_process_open_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .output()
        .unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}");
    assert!(stdout.contains("child saw: Locked"), "{stdout}");
}

#[test]
#[ignore = "child half of a_second_process_on_the_same_directory_is_refused_as_locked"]
fn second_process_open_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    match RedbStore::open(Path::new(&dir)) {
        Err(StoreError::Locked { .. }) => println!("child saw: Locked"),
        Err(other) => panic!("child saw another error: {other}"),
        Ok(_) => panic!("child opened a locked store"),
    }
}

#[test]
fn after_shutdown_the_directory_opens_again_and_the_old_handle_answers_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let queued = store.commit(vec![put("o:r:b", b"queued")]);

    store.shutdown();
    let reopened = RedbStore::open(dir.path()).unwrap();

    // what was queued before shutdown was still written
    queued.blocking_recv().unwrap().unwrap();
    assert_eq!(reopened.load_all().unwrap()[0].record, b"queued".to_vec());
    assert!(matches!(
        commit_now(&store, vec![put("o:r:b", b"late")]),
        Err(StoreError::Closed)
    ));
    assert!(matches!(store.load_all(), Err(StoreError::Closed)));
}

#[test]
fn a_writer_that_panicked_answers_closed_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let (release, hold) = mpsc::channel();
    store.send_test_job(Job::Pause(hold));
    store.send_test_job(Job::Panic);
    let queued_behind_the_panic = store.commit(vec![put("o:r:b", b"x")]);

    release.send(()).unwrap();

    assert!(matches!(
        queued_behind_the_panic.blocking_recv(),
        Ok(Err(StoreError::Closed)) | Err(_)
    ));
    assert!(matches!(
        commit_now(&store, vec![put("o:r:b", b"y")]),
        Err(StoreError::Closed)
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(matches!(
        rt.block_on(store.probe()),
        Err(StoreError::Closed)
    ));
}

#[tokio::test]
async fn probe_answers_ok_on_a_healthy_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let before = store.commits();

    store.probe().await.unwrap();

    // a healthy probe is a read: no transaction committed, no fsync
    assert_eq!(store.commits(), before);
}

#[test]
fn an_empty_commit_answers_ok_without_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let before = store.commits();

    commit_now(&store, vec![]).unwrap();

    assert_eq!(store.commits(), before);
}

#[test]
fn store_errors_are_send_sync_and_the_store_is_too() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<RedbStore>();
    assert_send_sync::<StoreError>();
}

/// One round as the scale bench plays it, through the real rules and journal: runs with
/// priorities 4..1 register, 4 is granted and releases `success`, the others are told
/// `completed`. Saved as one write per round (the bytes are what per-call writes leave).
fn play_round(
    store: &RedbStore,
    journal: &mut crate::store::Journal,
    state: &mut crate::domain::ProviderState,
    key: &crate::domain::ProviderKey,
    round: u64,
) {
    use crate::domain::{AcquireRequest, HeadSha, LeaseSettings, Outcome, Priority, Time};
    let settings = LeaseSettings::default();
    let at = Time(1_700_000_000_000 + round * 60_000);
    let call = |p: i64| AcquireRequest {
        head_sha: HeadSha::parse(&format!("{round:036x}{p:04x}")).unwrap(),
        head_ref: None,
        priority: Priority::parse(p).unwrap(),
    };
    let mut events = Vec::new();
    for p in [4, 3, 2, 1, 4] {
        state.acquire(&settings, &call(p), at, &mut events).unwrap();
    }
    state
        .release(&call(4).head_sha, Outcome::Success, None, at, &mut events)
        .unwrap();
    for p in [3, 2, 1] {
        state.acquire(&settings, &call(p), at, &mut events).unwrap();
    }
    assert!(state.requests.is_empty(), "round {round} is over");
    state.stamp_seen();
    let op = journal.prepare(key, &settings, state, &events);
    commit_now(store, vec![op]).unwrap();
    journal.saved(events);
}

fn file_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(FILE_NAME)).unwrap().len()
}

#[test]
fn a_provider_playing_1000_rounds_keeps_a_bounded_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let key = crate::domain::ProviderKey::new("acme", "shop", "main").unwrap();
    let mut journal = crate::store::Journal::fresh();
    let mut state = crate::domain::ProviderState::new(crate::domain::Time(1_700_000_000_000));
    // By round 200 the history (9 events a round) and the remembered runs (4 a round) are
    // long full: from then on every round replaces as much as it adds.
    let mut at_200 = 0;
    for round in 0..1_000 {
        play_round(&store, &mut journal, &mut state, &key, round);
        if round == 199 {
            at_200 = file_len(dir.path());
        }
    }
    let at_1000 = file_len(dir.path());
    assert!(
        at_1000 <= at_200 + at_200 / 4,
        "the file grew from {at_200} bytes after 200 rounds to {at_1000} after 1,000"
    );
    assert_eq!(
        history(&store, "acme:shop:main").len() as u64,
        crate::store::HISTORY_CAPACITY
    );
}

#[test]
fn reopening_compacts_a_file_that_is_mostly_free_space() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    // ~8 MB of providers, then all but one deleted: the pages are free, the file is not
    // smaller.
    let record = vec![b'x'; 8 * 1024];
    for chunk in 0..10 {
        let ops = (0..100)
            .map(|i| put(&format!("o:r{chunk}-{i}:main"), &record))
            .collect();
        commit_now(&store, ops).unwrap();
    }
    let ops = (0..10)
        .flat_map(|chunk| (0..100).map(move |i| (chunk, i)))
        .filter(|&(chunk, i)| (chunk, i) != (0, 0))
        .map(|(chunk, i)| delete(&format!("o:r{chunk}-{i}:main")))
        .collect();
    commit_now(&store, ops).unwrap();
    store.shutdown();
    let before = file_len(dir.path());
    assert!(before > 8_000_000, "{before}");

    let reopened = reopen(dir.path());
    let after = file_len(dir.path());
    assert!(
        after < before / 2,
        "{before} bytes before, {after} after reopening"
    );
    let loaded = reopened.load_all().unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].record, record);
}
