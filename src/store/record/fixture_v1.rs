//! The fixture in `tests/fixtures/` was written by the code before this module owned the
//! format (schema 1, commit 8cdb7a9). It must keep loading, into exactly this state, and a
//! rewrite of it must produce the same bytes (the format did not move).

use super::*;

const RECORD: &str = include_str!("../../../tests/fixtures/provider-record-v1.json");
const EVENTS: &str = include_str!("../../../tests/fixtures/provider-events-v1.txt");

fn loaded() -> Loaded {
    Loaded {
        key: "acme:shop:main".into(),
        record: RECORD.trim_end().as_bytes().to_vec(),
    }
}

/// The fixture's events as (seq, bytes), oldest first.
fn events() -> Vec<(u64, Vec<u8>)> {
    EVENTS
        .lines()
        .map(|line| {
            let (seq, json) = line.split_once(' ').unwrap();
            (seq.parse().unwrap(), json.as_bytes().to_vec())
        })
        .collect()
}

/// A store holding exactly the fixture's bytes, as the code that wrote it left them.
async fn store_with_fixture(dir: &std::path::Path) -> super::super::Store {
    let store = super::super::Store::open_redb(dir).unwrap();
    let l = loaded();
    let put = Op::Put {
        key: l.key,
        record: l.record,
        events: events(),
        keep_events_from: 0,
    };
    store.commit(vec![put]).await.unwrap().unwrap();
    store
}

fn request(
    sha: &str,
    pr: u64,
    prio: i64,
    status: Status,
    registered: u64,
    seen: u64,
) -> (String, Option<u64>, i64, Status, u64, u64) {
    (sha.into(), Some(pr), prio, status, registered, seen)
}

fn shape(r: &Request) -> (String, Option<u64>, i64, Status, u64, u64) {
    (
        r.head_sha.as_str().into(),
        r.head_ref.as_ref().and_then(|h| h.pull_request_number()),
        r.priority.get(),
        r.status,
        r.registered_at.0,
        r.last_seen_at.0,
    )
}

#[tokio::test]
async fn a_schema_1_record_from_the_fixture_loads_into_the_state_it_was_written_from() {
    let now = Time(1_767_262_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_fixture(dir.path()).await;
    let mut all = store.load_all_async(now).await.expect("the fixture loads");
    assert_eq!(all.len(), 1);
    let saved = all.remove(0);

    assert_eq!(saved.key.to_string(), "acme:shop:main");
    assert_eq!(
        saved.settings,
        LeaseSettings {
            expected_build_count: 2,
            ..LeaseSettings::default()
        }
    );
    let s = &saved.state;
    assert_eq!(
        s.requests.iter().map(shape).collect::<Vec<_>>(),
        vec![
            request(
                "ccc3",
                3,
                3,
                Status::Pending,
                1_767_261_606_000,
                1_767_261_609_000
            ),
            request(
                "ddd4",
                4,
                5,
                Status::Acquired,
                1_767_261_607_000,
                1_767_261_608_000
            ),
        ]
    );
    let holder = s.holder.as_ref().expect("holder kept");
    assert_eq!(
        (
            holder.head_sha.as_str(),
            holder.fencing_token,
            holder.granted_at
        ),
        ("ddd4", 2, Time(1_767_261_607_000))
    );
    assert_eq!(s.last_fencing_token, 2);
    assert_eq!(s.last_updated_at, Time(1_767_261_607_000));
    assert_eq!(s.round_started_at, Some(Time(1_767_261_606_000)));
    assert_eq!(s.holder_seen_at, Time(1_767_261_608_000));
    assert!(s.paused);
    let recent: Vec<_> = s
        .recent
        .iter()
        .map(|f| (shape(&f.request), f.released, f.fencing_token))
        .collect();
    assert_eq!(
        recent,
        vec![
            (
                request(
                    "bbb2",
                    2,
                    2,
                    Status::Completed,
                    1_767_261_602_000,
                    1_767_261_602_000
                ),
                Some(Outcome::Success),
                Some(1)
            ),
            (
                request(
                    "aaa1",
                    1,
                    1,
                    Status::Completed,
                    1_767_261_601_000,
                    1_767_261_601_000
                ),
                None,
                None
            ),
        ]
    );
    // Runtime times resumed: the holder and every run count from the load at the earliest.
    assert_eq!((s.holder_seen, s.resumed_at), (now, now));
    assert_eq!(s.requests[0].last_seen, Time(1_767_261_609_000));

    // History, read from the store: nine events, newest first, the admin's name kept.
    let history = store
        .events(&saved.key, 100)
        .await
        .expect("the events decode");
    let kinds: Vec<_> = history.iter().rev().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "registered",
            "registered",
            "granted",
            "released_success",
            "completed",
            "registered",
            "registered",
            "granted",
            "paused"
        ]
    );
    assert_eq!(history[0].by.as_deref(), Some("ops"));
    let granted = &history[1];
    assert_eq!(
        (
            granted.head_sha.as_ref().map(|h| h.as_str()),
            granted.fencing_token,
            granted.waited_ms
        ),
        (Some("ddd4"), Some(2), Some(1000))
    );
    assert_eq!(history[5].batch_size, Some(2));

    // Numbering continues after the stored events (19 is next).
    let next_event = Event::of(EventKind::Cleared, now, None);
    let Op::Put { events, .. } =
        saved
            .journal
            .prepare(&saved.key, &saved.settings, s, &[next_event])
    else {
        panic!("a change is a put")
    };
    assert_eq!(events.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [19]);
    store.shutdown();
}

#[test]
fn rewriting_the_fixture_gives_the_same_bytes() {
    let l = loaded();
    let (key, stored) = decode(&l.key, &l.record).unwrap();
    let again = encode(&key, &stored.settings, stored.next_event_seq, &stored.state);
    assert_eq!(String::from_utf8(again).unwrap(), RECORD.trim_end());
    for (seq, bytes) in &events() {
        let event = decode_event(&l.key, *seq, bytes).unwrap();
        assert_eq!(encode_event(&event), *bytes, "event {seq}");
    }
}
