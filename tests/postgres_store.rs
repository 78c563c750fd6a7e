//! The PostgreSQL store against a real throw-away PostgreSQL cluster (tests/common/pg.rs): what
//! the provider actors and the ownership loop rely on.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use mq_lease_service::domain::{
    AcquireRequest, Event, HeadSha, LeaseSettings, Outcome, Priority, ProviderKey, ProviderState,
    Time,
};
use mq_lease_service::store::{
    record, Fence, Journal, Loaded, Op, PgStore, Store, StoreError, ValidUntil,
};

const LONG: Duration = Duration::from_secs(30);

fn put(key: &str, record: &[u8], events: &[(u64, &[u8])], keep_from: u64) -> Op {
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

/// The seqs of every stored event of `key`, newest first.
async fn seqs(store: &PgStore, key: &str) -> Vec<u64> {
    let events = store.events(key, usize::MAX).await.unwrap();
    events.iter().map(|(s, _)| *s).collect()
}

async fn connect(pg: &PgCluster) -> PgStore {
    PgStore::connect(&pg.url()).await.expect("connect")
}

/// A provider driven through the real domain rules, each change saved the way the provider
/// actor saves it (`Journal::prepare`, then `Journal::saved` once committed).
struct Provider {
    key: ProviderKey,
    settings: LeaseSettings,
    state: ProviderState,
    journal: Journal,
    /// Every event saved, oldest first.
    saved_events: Vec<Event>,
}

impl Provider {
    fn new(key: &str) -> Provider {
        Provider {
            key: ProviderKey::parse(key).unwrap(),
            settings: LeaseSettings {
                stabilisation_window: Duration::ZERO,
                expected_build_count: 1,
                ..LeaseSettings::default()
            },
            state: ProviderState::new(Time(1_000)),
            journal: Journal::fresh(),
            saved_events: Vec::new(),
        }
    }

    async fn acquire(&mut self, store: &PgStore, sha: &str, at: u64) {
        let call = AcquireRequest {
            head_sha: HeadSha::parse(sha).unwrap(),
            head_ref: None,
            priority: Priority::parse(1).unwrap(),
        };
        let mut next = self.state.clone();
        let mut events = Vec::new();
        next.acquire(&self.settings, &call, Time(at), &mut events)
            .unwrap();
        self.save(store, next, events).await;
    }

    async fn release(&mut self, store: &PgStore, sha: &str, at: u64) {
        let mut next = self.state.clone();
        let mut events = Vec::new();
        next.release(
            &HeadSha::parse(sha).unwrap(),
            Outcome::parse("success").unwrap(),
            None,
            Time(at),
            &mut events,
        )
        .unwrap();
        self.save(store, next, events).await;
    }

    async fn save(&mut self, store: &PgStore, next: ProviderState, events: Vec<Event>) {
        let op = self
            .journal
            .prepare(&self.key, &self.settings, &next, &events);
        store.commit_and_wait(vec![op]).await.expect("commit");
        self.saved_events.extend(events.iter().cloned());
        self.journal.saved(events);
        self.state = next;
    }
}

#[tokio::test]
async fn connect_creates_the_schema_and_load_all_on_a_new_database_is_empty() {
    let pg = PgCluster::start();

    let store = connect(&pg).await;

    assert_eq!(store.load_all().await.unwrap(), Vec::new());
    assert_eq!(pg.psql("SELECT version FROM mq_lease_schema"), "1");
}

#[tokio::test]
async fn providers_saved_through_the_domain_load_back_with_their_history_after_a_reconnect() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    let mut a = Provider::new("acme:shop:main");
    let mut b = Provider::new("acme:shop:release");
    a.acquire(&store, "aaa1", 2_000).await;
    a.release(&store, "aaa1", 3_000).await;
    a.acquire(&store, "bbb2", 4_000).await;
    b.acquire(&store, "ccc3", 5_000).await;
    store.shutdown();

    let again = Store::Postgres(connect(&pg).await);
    let loaded = again.load_all_async(Time(10_000)).await.unwrap();

    assert_eq!(
        loaded.iter().map(|p| p.key.to_string()).collect::<Vec<_>>(),
        ["acme:shop:main", "acme:shop:release"]
    );
    for (saved, expected) in loaded.iter().zip([&a, &b]) {
        assert!(
            record::same_record(&saved.state, &expected.state),
            "{}: loaded {:?}\nexpected {:?}",
            saved.key,
            saved.state,
            expected.state
        );
        let newest_first: Vec<Event> = expected.saved_events.iter().rev().cloned().collect();
        assert_eq!(again.events(&saved.key, 100).await.unwrap(), newest_first);
        assert_eq!(
            again.events(&saved.key, 2).await.unwrap(),
            newest_first[..2],
            "the limit keeps the newest"
        );
    }
    assert_eq!(loaded[0].state.last_fencing_token, 2, "two grants on main");
    assert_eq!(
        loaded[0]
            .state
            .holder
            .as_ref()
            .map(|h| h.head_sha.to_string()),
        Some("bbb2".to_owned())
    );
    assert!(
        again.events(&loaded[0].key, 100).await.unwrap().len() >= 4,
        "registered, granted, released, ..."
    );
}

#[tokio::test]
async fn the_v1_record_fixture_stored_in_postgres_loads() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    let record = std::fs::read("tests/fixtures/provider-record-v1.json").unwrap();
    let events: Vec<(u64, Vec<u8>)> =
        std::fs::read_to_string("tests/fixtures/provider-events-v1.txt")
            .unwrap()
            .lines()
            .map(|line| {
                let (seq, json) = line.split_once(' ').unwrap();
                (seq.parse().unwrap(), json.as_bytes().to_vec())
            })
            .collect();
    let op = Op::Put {
        key: "acme:shop:main".into(),
        record: record.clone(),
        events: events.clone(),
        keep_events_from: 0,
    };
    store.commit_and_wait(vec![op]).await.unwrap();

    let raw = store.load_all().await.unwrap();
    let decoded = Store::Postgres(store.clone())
        .load_all_async(Time::now())
        .await
        .unwrap();

    let history = Store::Postgres(store.clone())
        .events(&decoded[0].key, 1000)
        .await
        .expect("the fixture's events decode");

    assert_eq!(
        raw,
        vec![Loaded {
            key: "acme:shop:main".into(),
            record,
        }]
    );
    let newest_first: Vec<(u64, Vec<u8>)> = events.iter().rev().cloned().collect();
    assert_eq!(
        store.events("acme:shop:main", 1000).await.unwrap(),
        newest_first
    );
    assert_eq!(decoded.len(), 1);
    assert_eq!(
        history.iter().map(record::encode_event).collect::<Vec<_>>(),
        newest_first
            .into_iter()
            .map(|(_, bytes)| bytes)
            .collect::<Vec<_>>(),
        "every event decodes, newest first"
    );
}

#[tokio::test]
async fn events_are_trimmed_by_keep_events_from_and_delete_removes_a_provider_with_its_events() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    store
        .commit_and_wait(vec![
            put("o:r:main", b"a1", &[(1, b"1"), (2, b"2"), (3, b"3")], 0),
            // a neighbour whose key shares the prefix: trims and deletes stay in their key
            put("o:r:main2", b"n", &[(1, b"x"), (2, b"y")], 0),
        ])
        .await
        .unwrap();

    store
        .commit_and_wait(vec![put("o:r:main", b"a2", &[(9, b"9"), (10, b"10")], 3)])
        .await
        .unwrap();
    let trimmed = store.load_all().await.unwrap();
    let trimmed_seqs = seqs(&store, "o:r:main").await;
    let neighbour_seqs = seqs(&store, "o:r:main2").await;
    store
        .commit_and_wait(vec![delete("o:r:main")])
        .await
        .unwrap();
    let after_delete = store.load_all().await.unwrap();
    store
        .commit_and_wait(vec![put("o:r:main", b"again", &[], 0)])
        .await
        .unwrap();
    let reborn = store.load_all().await.unwrap();

    assert_eq!(trimmed[0].record, b"a2");
    assert_eq!(trimmed_seqs, [10, 9, 3], "seq < 3 dropped, newest first");
    assert_eq!(neighbour_seqs, [2, 1], "the neighbour keeps its events");
    assert_eq!(
        after_delete
            .iter()
            .map(|l| l.key.as_str())
            .collect::<Vec<_>>(),
        ["o:r:main2"]
    );
    assert_eq!(reborn[0].key, "o:r:main");
    assert_eq!(
        seqs(&store, "o:r:main").await,
        Vec::<u64>::new(),
        "no history survives a delete"
    );
}

#[tokio::test]
async fn ops_of_one_batch_apply_in_order_for_the_same_key() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;

    store
        .commit_and_wait(vec![
            put("o:r:a", b"first", &[(1, b"1"), (2, b"2")], 0),
            delete("o:r:a"),
            put("o:r:a", b"second", &[(5, b"5"), (6, b"6")], 0),
            put("o:r:a", b"third", &[(7, b"7")], 6),
            put("o:r:b", b"b", &[(1, b"1")], 0),
            delete("o:r:b"),
        ])
        .await
        .unwrap();

    let loaded = store.load_all().await.unwrap();
    assert_eq!(loaded.len(), 1, "o:r:b was deleted last");
    assert_eq!(loaded[0].record, b"third");
    assert_eq!(seqs(&store, "o:r:a").await, [7, 6]);
    assert_eq!(seqs(&store, "o:r:b").await, Vec::<u64>::new());
}

#[tokio::test]
async fn many_concurrent_batches_all_land_in_a_few_transactions() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    // Hold the writer's first transaction on a table lock so the rest queue up behind it.
    let (blocker, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    blocker
        .batch_execute("BEGIN; LOCK TABLE mq_lease_providers IN EXCLUSIVE MODE")
        .await
        .unwrap();

    let answers: Vec<_> = (0..200)
        .map(|i| {
            store.commit(vec![put(
                &format!("o:r:b{i:03}"),
                format!("r{i}").as_bytes(),
                &[(0, b"e")],
                0,
            )])
        })
        .collect();
    blocker.batch_execute("ROLLBACK").await.unwrap();
    for answer in answers {
        answer.await.unwrap().unwrap();
    }

    let loaded = store.load_all().await.unwrap();
    assert_eq!(loaded.len(), 200);
    for l in &loaded {
        assert_eq!(seqs(&store, &l.key).await, [0], "{}", l.key);
    }
    assert!(
        store.commits() <= 2,
        "200 queued batches took {} transactions",
        store.commits()
    );
}

#[tokio::test]
async fn three_replicas_connecting_at_once_migrate_once_and_a_later_connect_keeps_the_data() {
    let pg = PgCluster::start();

    let url = pg.url();
    let (a, b, c) = tokio::join!(
        PgStore::connect(&url),
        PgStore::connect(&url),
        PgStore::connect(&url)
    );
    let a = a.expect("first");
    b.expect("second");
    c.expect("third");
    a.commit_and_wait(vec![put("o:r:main", b"kept", &[], 0)])
        .await
        .unwrap();
    let d = connect(&pg).await;

    assert_eq!(pg.psql("SELECT count(*) FROM mq_lease_schema"), "1");
    assert_eq!(d.load_all().await.unwrap()[0].record, b"kept");
}

#[tokio::test]
async fn the_first_claim_gets_epoch_1_a_renewal_keeps_it_and_a_live_row_cannot_be_taken() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;

    let first = store.claim("a", "http://a", LONG).await.unwrap();
    let renewed = store.claim("a", "http://a", LONG).await.unwrap();
    let other = store.claim("b", "http://b", LONG).await.unwrap();

    assert_eq!((first.epoch, first.mine), (1, true));
    assert_eq!((renewed.epoch, renewed.mine), (1, true));
    assert!(!other.mine);
    assert_eq!(
        (
            other.epoch,
            other.owner_id.as_str(),
            other.owner_url.as_str()
        ),
        (1, "a", "http://a"),
        "the loser learns who owns the state and where"
    );
}

#[tokio::test]
async fn an_expired_row_goes_to_the_next_claimer_with_the_next_epoch() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    store
        .claim("a", "http://a", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;

    let b = store.claim("b", "http://b", LONG).await.unwrap();
    let a_again = store.claim("a", "http://a", LONG).await.unwrap();

    assert_eq!((b.epoch, b.mine, b.owner_id.as_str()), (2, true, "b"));
    assert_eq!((a_again.epoch, a_again.mine), (2, false));
}

#[tokio::test]
async fn an_owner_whose_row_expired_gets_a_new_epoch_even_if_nobody_took_over() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    store
        .claim("a", "http://a", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;

    let again = store.claim("a", "http://a", LONG).await.unwrap();

    assert_eq!((again.epoch, again.mine), (2, true));
}

#[tokio::test]
async fn a_resign_lets_another_replica_claim_at_once_and_a_stale_resign_does_nothing() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    store.claim("a", "http://a", LONG).await.unwrap();

    store.resign("a", 7).await.unwrap(); // not a's epoch: ignored
    let still_a = store.claim("b", "http://b", LONG).await.unwrap();
    store.resign("a", 1).await.unwrap();
    let b = store.claim("b", "http://b", LONG).await.unwrap();

    assert!(!still_a.mine, "a stale resign must not free the row");
    assert_eq!((b.epoch, b.mine), (2, true));
}

/// Fails the test instead of hanging it when a store call does not come back.
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("a store call hung for 20 s with the database unreachable")
}

/// Resumes a paused cluster when dropped.
struct Thaw<'a>(&'a PgCluster);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        self.0.resume();
    }
}

fn fence(epoch: i64, owner: &str, valid_until: ValidUntil) -> Fence {
    Fence {
        epoch,
        owner_id: owner.to_owned(),
        valid_until: Arc::new(valid_until),
    }
}

fn far_future() -> ValidUntil {
    ValidUntil::until(Instant::now() + Duration::from_secs(3600))
}

#[tokio::test]
async fn a_commit_fenced_with_a_stale_epoch_is_refused_and_writes_nothing() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    store
        .claim("a", "http://a", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let b = store.claim("b", "http://b", LONG).await.unwrap();
    assert_eq!(b.epoch, 2);
    // a still believes it owns the state (its own clock says so)
    let old_owner = store.fenced(fence(1, "a", far_future()));
    let new_owner = store.fenced(fence(2, "b", far_future()));

    let stale = old_owner
        .commit_and_wait(vec![put("o:r:main", b"from-a", &[(0, b"e")], 0)])
        .await;
    let current = new_owner
        .commit_and_wait(vec![put("o:r:other", b"from-b", &[], 0)])
        .await;

    assert!(matches!(stale, Err(StoreError::NotOwner)), "{stale:?}");
    current.unwrap();
    let loaded = store.load_all().await.unwrap();
    assert_eq!(
        loaded.iter().map(|l| l.key.as_str()).collect::<Vec<_>>(),
        ["o:r:other"],
        "nothing of the stale owner's batch landed"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM mq_lease_events"), "0");
}

#[tokio::test]
async fn a_commit_fenced_by_an_expired_row_nobody_took_over_is_refused() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    store
        .claim("a", "http://a", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;

    let late = store
        .fenced(fence(1, "a", far_future()))
        .commit_and_wait(vec![put("o:r:main", b"late", &[], 0)])
        .await;

    assert!(matches!(late, Err(StoreError::NotOwner)), "{late:?}");
    assert_eq!(store.load_all().await.unwrap(), Vec::new());
}

#[tokio::test]
async fn after_an_owner_reclaims_with_a_new_epoch_its_old_epoch_commits_are_refused() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    store
        .claim("a", "http://a", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let again = store.claim("a", "http://a", LONG).await.unwrap();
    assert_eq!(again.epoch, 2);

    let old = store
        .fenced(fence(1, "a", far_future()))
        .commit_and_wait(vec![put("o:r:old", b"x", &[], 0)])
        .await;
    store
        .fenced(fence(2, "a", far_future()))
        .commit_and_wait(vec![put("o:r:new", b"x", &[], 0)])
        .await
        .unwrap();

    assert!(matches!(old, Err(StoreError::NotOwner)), "{old:?}");
    let keys: Vec<String> = store
        .load_all()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect();
    assert_eq!(keys, ["o:r:new"]);
}

#[tokio::test]
async fn a_fenced_commit_past_its_local_deadline_is_refused_although_the_row_is_live() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    let lead = store.claim("a", "http://a", LONG).await.unwrap();
    let valid = store.fenced(fence(lead.epoch, "a", far_future()));
    let expired = store.fenced(fence(
        lead.epoch,
        "a",
        ValidUntil::until(Instant::now() - Duration::from_millis(1)),
    ));
    let revoked_until = far_future();
    revoked_until.revoke();
    let revoked = store.fenced(fence(lead.epoch, "a", revoked_until));

    let late = expired
        .commit_and_wait(vec![put("o:r:late", b"x", &[], 0)])
        .await;
    let after_revoke = revoked
        .commit_and_wait(vec![put("o:r:revoked", b"x", &[], 0)])
        .await;
    valid
        .commit_and_wait(vec![put("o:r:valid", b"x", &[], 0)])
        .await
        .unwrap();

    assert!(matches!(late, Err(StoreError::NotOwner)), "{late:?}");
    assert!(
        matches!(after_revoke, Err(StoreError::NotOwner)),
        "{after_revoke:?}"
    );
    let keys: Vec<String> = store
        .load_all()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect();
    assert_eq!(keys, ["o:r:valid"]);
}

#[tokio::test]
async fn with_the_database_stopped_a_commit_fails_fast_and_after_a_restart_the_next_one_lands() {
    let mut pg = PgCluster::start();
    let store = connect(&pg).await;
    store
        .commit_and_wait(vec![put("o:r:before", b"1", &[], 0)])
        .await
        .unwrap();

    pg.stop();
    let started = Instant::now();
    let down = bounded(store.commit_and_wait(vec![put("o:r:down", b"2", &[], 0)])).await;
    let took = started.elapsed();
    let probe_down = bounded(store.probe()).await;
    let history_down = bounded(store.events("o:r:before", 10)).await;
    pg.start_again();
    let after = store
        .commit_and_wait(vec![put("o:r:after", b"3", &[], 0)])
        .await;

    assert!(matches!(down, Err(StoreError::Postgres(_))), "{down:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(probe_down.is_err());
    assert!(
        matches!(history_down, Err(StoreError::Postgres(_))),
        "{history_down:?}"
    );
    after.expect("the store reconnects by itself");
    store.probe().await.expect("probe after the restart");
    assert_eq!(
        store.events("o:r:before", 10).await.unwrap(),
        Vec::new(),
        "history reads reconnect too"
    );
    let keys: Vec<String> = store
        .load_all()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect();
    assert_eq!(keys, ["o:r:after", "o:r:before"]);
}

#[tokio::test]
async fn no_error_or_location_shows_the_password() {
    let mut pg = PgCluster::start();
    let password = pg.password().to_owned();
    let store = connect(&pg).await;

    let wrong = PgStore::connect(&pg.url_with_password("Wr0ng-Pass-4242"))
        .await
        .unwrap_err()
        .to_string();
    let bad_url = PgStore::connect("postgres://app:Sekr3t-9999@127.0.0.1:notaport/db")
        .await
        .unwrap_err()
        .to_string();
    pg.stop();
    let down_connect = PgStore::connect(&pg.url()).await.unwrap_err().to_string();
    let down_commit = store
        .commit_and_wait(vec![put("o:r:x", b"x", &[], 0)])
        .await
        .unwrap_err()
        .to_string();
    let down_claim = store
        .claim("a", "http://a", LONG)
        .await
        .unwrap_err()
        .to_string();

    let require_tls = PgStore::connect(&format!("{}?sslmode=require", pg.url()))
        .await
        .unwrap_err()
        .to_string();

    assert!(wrong.contains("password authentication failed"), "{wrong}");
    assert!(require_tls.contains("sslmode=require"), "{require_tls}");
    assert!(!require_tls.contains(&password), "{require_tls}");
    assert!(!wrong.contains("Wr0ng-Pass-4242"), "{wrong}");
    assert!(!bad_url.contains("Sekr3t-9999"), "{bad_url}");
    for text in [&down_connect, &down_commit, &down_claim] {
        assert!(!text.contains(&password), "{text}");
    }
    assert!(pg.url().contains(&password));
    assert_eq!(
        store.location(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port())
    );
    assert!(!format!("{store:?}").contains(&password));
}

#[tokio::test]
async fn with_the_database_frozen_a_commit_times_out_and_after_a_thaw_the_next_one_lands() {
    let pg = PgCluster::start();
    let store = connect(&pg).await;
    store
        .commit_and_wait(vec![put("o:r:before", b"1", &[], 0)])
        .await
        .unwrap();

    pg.pause(); // SIGSTOP: connections stay open, nothing answers (a cut network looks the same)
    let thaw = Thaw(&pg); // declared after `store`: thaws first if an assertion fails
    let started = Instant::now();
    let frozen = bounded(store.commit_and_wait(vec![put("o:r:frozen", b"2", &[], 0)])).await;
    let took = started.elapsed();
    let probe_frozen = bounded(store.probe()).await;
    let history_started = Instant::now();
    let history_frozen = bounded(store.events("o:r:before", 10)).await;
    let history_took = history_started.elapsed();
    drop(thaw);
    let after = store
        .commit_and_wait(vec![put("o:r:after", b"3", &[], 0)])
        .await;

    assert!(matches!(frozen, Err(StoreError::Postgres(_))), "{frozen:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(probe_frozen.is_err());
    assert!(
        matches!(&history_frozen, Err(StoreError::Postgres(e)) if e.contains("timed out")),
        "{history_frozen:?}"
    );
    assert!(
        history_took < Duration::from_secs(10),
        "took {history_took:?}"
    );
    after.expect("the store reconnects by itself");
    let keys: Vec<String> = store
        .load_all()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect();
    assert_eq!(
        keys,
        ["o:r:after", "o:r:before"],
        "the timed-out batch did not land"
    );
}
