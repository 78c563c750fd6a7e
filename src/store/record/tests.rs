//! Encoding and decoding of the record.

use super::*;
use crate::domain::{AcquireRequest, HeadSha, Priority, Time};

fn poll(
    state: &mut ProviderState,
    settings: &LeaseSettings,
    sha: &str,
    at: u64,
    events: &mut Vec<Event>,
) {
    let call = AcquireRequest {
        head_sha: HeadSha::parse(sha).unwrap(),
        head_ref: None,
        priority: Priority::parse(1).unwrap(),
    };
    state.acquire(settings, &call, Time(at), events).unwrap();
}

/// The provider skips the disk write when a change produced no event and the encoded
/// record is unchanged: that is what a plain poll must be.
#[test]
fn a_plain_poll_leaves_the_record_byte_identical_and_a_registration_does_not() {
    let key = ProviderKey::parse("acme:shop:main").unwrap();
    let settings = LeaseSettings::default();
    let mut state = ProviderState::new(Time(1_000));
    let mut events = Vec::new();
    poll(&mut state, &settings, "a", 2_000, &mut events);
    assert_eq!(events.len(), 1, "registering is an event");
    let saved = encode(&key, &settings, 1, &state);

    let mut events = Vec::new();
    poll(&mut state, &settings, "a", 9_000, &mut events);
    assert!(events.is_empty());
    assert_eq!(
        encode(&key, &settings, 1, &state),
        saved,
        "a poll must not need a write"
    );

    poll(&mut state, &settings, "b", 9_500, &mut events);
    assert_ne!(encode(&key, &settings, 2, &state), saved);
}

#[test]
fn a_record_round_trips_and_a_foreign_version_is_refused_by_name() {
    let key = ProviderKey::parse("acme:shop:release/1.x").unwrap();
    let settings = LeaseSettings::default();
    let state = ProviderState::new(Time(5));
    let bytes = encode(&key, &settings, 7, &state);
    let (k, mut stored) = decode("acme:shop:release/1.x", &bytes).unwrap();
    // Runtime-only times come back through resume(), as at start-up.
    stored.state.resume(Time(5));
    assert_eq!((k, stored.next_event_seq, stored.state), (key, 7, state));
    let future = String::from_utf8(bytes)
        .unwrap()
        .replace("\"version\":1", "\"version\":99");
    let err = decode("acme:shop:release/1.x", future.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("acme:shop:release/1.x") && err.contains("99"),
        "{err}"
    );
}

/// A record as written before last-seen times and pause were saved (schema 1, as of
/// commit 763a4a3): it must keep loading, with the new fields at their defaults.
const RECORD_BEFORE_PAUSE: &str = r#"{"version":1,"key":"acme:shop:release/1.x","settings":{"stabilisation_window":{"secs":300,"nanos":0},"ttl":{"secs":30,"nanos":0},"expected_build_count":2,"delay_assignment_count":0,"lease_timeout":{"secs":600,"nanos":0}},"next_event_seq":4,"state":{"requests":[{"head_sha":"aaa","head_ref":"gh-readonly-queue/release/1.x/pr-1-abc","priority":1,"status":"pending","registered_at":1767261601000},{"head_sha":"bbb","head_ref":"gh-readonly-queue/release/1.x/pr-2-abc","priority":2,"status":"acquired","registered_at":1767261602000}],"holder":{"head_sha":"bbb","fencing_token":1,"granted_at":1767261602000},"last_updated_at":1767261602000,"round_started_at":1767261601000,"last_fencing_token":1,"recent":[]}}"#;
const EVENT_BEFORE_PAUSE: &str = r#"{"at":1767261602000,"kind":"granted","head_sha":"bbb","priority":2,"fencing_token":1,"waited_ms":1000}"#;

#[test]
fn a_record_written_before_pause_and_seen_times_still_loads() {
    let (key, mut stored) =
        decode("acme:shop:release/1.x", RECORD_BEFORE_PAUSE.as_bytes()).expect("old record loads");
    stored.state.resume(crate::domain::Time(1_767_261_700_000));
    assert_eq!(key.to_string(), "acme:shop:release/1.x");
    assert!(!stored.state.paused, "an old record is not paused");
    let holder = stored.state.holder_info().expect("holder kept");
    assert_eq!(
        (
            holder.head_sha.as_str(),
            holder.priority.get(),
            holder.since
        ),
        ("bbb", 2, crate::domain::Time(1_767_261_602_000))
    );
    // Without a saved last-seen time, a run was last seen when it registered.
    let a = &stored.state.requests[0];
    assert_eq!(a.last_seen, a.registered_at);
    let event = decode_event("acme:shop:release/1.x", 3, EVENT_BEFORE_PAUSE.as_bytes())
        .expect("old event loads");
    assert_eq!((event.reason, event.by), (None, None));
}

#[test]
fn pause_and_last_seen_times_round_trip_through_the_record() {
    let key = ProviderKey::parse("acme:shop:main").unwrap();
    let settings = LeaseSettings::default();
    let mut state = ProviderState::new(Time(1_000));
    let mut events = Vec::new();
    poll(&mut state, &settings, "a", 2_000, &mut events);
    poll(&mut state, &settings, "a", 7_000, &mut events);
    state.set_paused(true, "user ops", Time(8_000), &mut events);
    state.stamp_seen();
    let bytes = encode(&key, &settings, 2, &state);
    let (_, mut stored) = decode("acme:shop:main", &bytes).unwrap();
    stored.state.resume(Time(60_000));
    assert!(stored.state.paused);
    assert_eq!(stored.state.requests[0].last_seen, Time(7_000));
    assert_eq!(stored.state.requests[0].registered_at, Time(2_000));
}

/// docs/rules.md §13: whether the holder has called since its grant decides which timeout applies,
/// so a restart must not turn a holder that called back into a silent one (nor the
/// other way round), and the opt-in setting is kept with the record.
#[test]
fn the_holders_sign_of_life_and_the_silent_holder_timeout_round_trip_through_the_record() {
    let key = ProviderKey::parse("acme:shop:main").unwrap();
    let settings = LeaseSettings {
        expected_build_count: 1,
        silent_holder_timeout: std::time::Duration::from_secs(3_600),
        ..LeaseSettings::default()
    };
    let mut state = ProviderState::new(Time(1_000));
    let mut events = Vec::new();
    poll(&mut state, &settings, "a", 2_000, &mut events);
    let silent = encode(&key, &settings, 1, &state);
    poll(&mut state, &settings, "a", 3_000, &mut events);
    let heard = encode(&key, &settings, 1, &state);
    assert_ne!(
        silent, heard,
        "the first call after the grant is a change to save"
    );

    for (bytes, expected) in [(silent, false), (heard, true)] {
        let (_, mut stored) = decode("acme:shop:main", &bytes).unwrap();
        stored.state.resume(Time(60_000));
        let holder = stored.state.holder.expect("holder kept");
        assert_eq!(holder.heard_since_grant, expected);
        assert_eq!(
            stored.settings.silent_holder_timeout,
            settings.silent_holder_timeout
        );
    }
}

/// A record written before the sign of life was saved loads its holder as silent since
/// its grant: the side that never hands the lease to a second run.
#[test]
fn a_holder_in_a_record_from_before_is_read_as_silent_since_its_grant() {
    let (_, stored) =
        decode("acme:shop:release/1.x", RECORD_BEFORE_PAUSE.as_bytes()).expect("old record loads");
    assert_eq!(
        stored.state.holder.map(|h| h.heard_since_grant),
        Some(false)
    );
    assert!(stored.settings.silent_holder_timeout.is_zero());
}
