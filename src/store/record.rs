//! The versioned on-disk record of a provider, as its own DTO.
//!
//! The shapes here are what is on disk (JSON); the domain types carry no serde for storage.
//! Mapping is explicit: `From<&domain>` to write, `TryFrom<dto>` to read (a stored value the
//! domain no longer accepts is an error that names the provider, not a panic). Renaming a domain
//! field changes nothing here; changing a shape here needs a new [`SCHEMA_VERSION`] and a fixture
//! of the old one in `tests/fixtures/` that must keep loading.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[cfg(test)]
use super::Op;
use super::{Journal, Loaded, SavedProvider};
use crate::domain::{
    Event, EventKind, Finished, HeadRef, HeadSha, Holder, LeaseSettings, Outcome, Priority,
    ProviderKey, ProviderState, Request, Status, Time,
};

/// Bumped when the record's shape changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// History events kept per provider.
pub const HISTORY_CAPACITY: u64 = 500;

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record of provider {key} cannot be decoded: {reason}")]
    Undecodable { key: String, reason: String },
    #[error("record of provider {key} has schema version {found}, this build reads version {SCHEMA_VERSION}")]
    UnknownVersion { key: String, found: u32 },
    #[error("history event {seq} of provider {key} cannot be decoded: {reason}")]
    BadEvent {
        key: String,
        seq: u64,
        reason: String,
    },
    #[error("stored provider key {key:?} is not of the form owner:repo:base_ref")]
    BadKey { key: String },
}

// ---- schema 1 ------------------------------------------------------------------------------

/// The whole record. Field order is the order on disk.
#[derive(Debug, Serialize, Deserialize)]
struct RecordV1 {
    version: u32,
    key: String,
    settings: SettingsV1,
    next_event_seq: u64,
    state: StateV1,
}

#[derive(Debug, Serialize, Deserialize)]
struct SettingsV1 {
    stabilisation_window: Duration,
    ttl: Duration,
    expected_build_count: u32,
    delay_assignment_count: u32,
    lease_timeout: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct StateV1 {
    requests: Vec<RequestV1>,
    holder: Option<HolderV1>,
    last_updated_at: u64,
    round_started_at: Option<u64>,
    last_fencing_token: u64,
    recent: Vec<FinishedV1>,
    /// Absent in records written before seen times were saved.
    #[serde(default)]
    holder_seen_at: u64,
    /// Absent in records written before pause existed.
    #[serde(default)]
    paused: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct RequestV1 {
    head_sha: String,
    head_ref: Option<String>,
    priority: i64,
    status: StatusV1,
    registered_at: u64,
    /// Absent in records written before seen times were saved.
    #[serde(default)]
    last_seen_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct HolderV1 {
    head_sha: String,
    fencing_token: u64,
    granted_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct FinishedV1 {
    request: RequestV1,
    released: Option<OutcomeV1>,
    fencing_token: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StatusV1 {
    Pending,
    Acquired,
    Success,
    Failure,
    Completed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum OutcomeV1 {
    Success,
    Failure,
}

/// One history event.
#[derive(Debug, Serialize, Deserialize)]
struct EventV1 {
    at: u64,
    kind: EventKindV1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    head_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fencing_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    waited_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    batch_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    by: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EventKindV1 {
    Registered,
    Granted,
    ReleasedSuccess,
    ReleasedFailure,
    Completed,
    Evicted,
    LeaseExpired,
    Revoked,
    Cleared,
    LeaseRevoked,
    Paused,
    Resumed,
}

// ---- domain -> record ----------------------------------------------------------------------

impl From<&LeaseSettings> for SettingsV1 {
    fn from(s: &LeaseSettings) -> Self {
        Self {
            stabilisation_window: s.stabilisation_window,
            ttl: s.ttl,
            expected_build_count: s.expected_build_count,
            delay_assignment_count: s.delay_assignment_count,
            lease_timeout: s.lease_timeout,
        }
    }
}

impl From<Status> for StatusV1 {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => StatusV1::Pending,
            Status::Acquired => StatusV1::Acquired,
            Status::Success => StatusV1::Success,
            Status::Failure => StatusV1::Failure,
            Status::Completed => StatusV1::Completed,
        }
    }
}

impl From<Outcome> for OutcomeV1 {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Success => OutcomeV1::Success,
            Outcome::Failure => OutcomeV1::Failure,
        }
    }
}

impl From<EventKind> for EventKindV1 {
    fn from(k: EventKind) -> Self {
        match k {
            EventKind::Registered => EventKindV1::Registered,
            EventKind::Granted => EventKindV1::Granted,
            EventKind::ReleasedSuccess => EventKindV1::ReleasedSuccess,
            EventKind::ReleasedFailure => EventKindV1::ReleasedFailure,
            EventKind::Completed => EventKindV1::Completed,
            EventKind::Evicted => EventKindV1::Evicted,
            EventKind::LeaseExpired => EventKindV1::LeaseExpired,
            EventKind::Revoked => EventKindV1::Revoked,
            EventKind::Cleared => EventKindV1::Cleared,
            EventKind::LeaseRevoked => EventKindV1::LeaseRevoked,
            EventKind::Paused => EventKindV1::Paused,
            EventKind::Resumed => EventKindV1::Resumed,
        }
    }
}

impl From<&Request> for RequestV1 {
    fn from(r: &Request) -> Self {
        Self {
            head_sha: r.head_sha.as_str().to_owned(),
            head_ref: r.head_ref.as_ref().map(|h| h.as_str().to_owned()),
            priority: r.priority.get(),
            status: r.status.into(),
            registered_at: r.registered_at.0,
            last_seen_at: r.last_seen_at.0,
        }
    }
}

impl From<&ProviderState> for StateV1 {
    fn from(s: &ProviderState) -> Self {
        Self {
            requests: s.requests.iter().map(RequestV1::from).collect(),
            holder: s.holder.as_ref().map(|h| HolderV1 {
                head_sha: h.head_sha.as_str().to_owned(),
                fencing_token: h.fencing_token,
                granted_at: h.granted_at.0,
            }),
            last_updated_at: s.last_updated_at.0,
            round_started_at: s.round_started_at.map(|t| t.0),
            last_fencing_token: s.last_fencing_token,
            recent: s
                .recent
                .iter()
                .map(|f| FinishedV1 {
                    request: RequestV1::from(&f.request),
                    released: f.released.map(OutcomeV1::from),
                    fencing_token: f.fencing_token,
                })
                .collect(),
            holder_seen_at: s.holder_seen_at.0,
            paused: s.paused,
        }
    }
}

impl From<&Event> for EventV1 {
    fn from(e: &Event) -> Self {
        Self {
            at: e.at.0,
            kind: e.kind.into(),
            head_sha: e.head_sha.as_ref().map(|h| h.as_str().to_owned()),
            priority: e.priority.map(Priority::get),
            fencing_token: e.fencing_token,
            waited_ms: e.waited_ms,
            batch_size: e.batch_size,
            reason: e.reason.clone(),
            by: e.by.clone(),
        }
    }
}

// ---- record -> domain ----------------------------------------------------------------------

impl From<SettingsV1> for LeaseSettings {
    fn from(s: SettingsV1) -> Self {
        Self {
            stabilisation_window: s.stabilisation_window,
            ttl: s.ttl,
            expected_build_count: s.expected_build_count,
            delay_assignment_count: s.delay_assignment_count,
            lease_timeout: s.lease_timeout,
        }
    }
}

impl From<StatusV1> for Status {
    fn from(s: StatusV1) -> Self {
        match s {
            StatusV1::Pending => Status::Pending,
            StatusV1::Acquired => Status::Acquired,
            StatusV1::Success => Status::Success,
            StatusV1::Failure => Status::Failure,
            StatusV1::Completed => Status::Completed,
        }
    }
}

impl From<OutcomeV1> for Outcome {
    fn from(o: OutcomeV1) -> Self {
        match o {
            OutcomeV1::Success => Outcome::Success,
            OutcomeV1::Failure => Outcome::Failure,
        }
    }
}

impl From<EventKindV1> for EventKind {
    fn from(k: EventKindV1) -> Self {
        match k {
            EventKindV1::Registered => EventKind::Registered,
            EventKindV1::Granted => EventKind::Granted,
            EventKindV1::ReleasedSuccess => EventKind::ReleasedSuccess,
            EventKindV1::ReleasedFailure => EventKind::ReleasedFailure,
            EventKindV1::Completed => EventKind::Completed,
            EventKindV1::Evicted => EventKind::Evicted,
            EventKindV1::LeaseExpired => EventKind::LeaseExpired,
            EventKindV1::Revoked => EventKind::Revoked,
            EventKindV1::Cleared => EventKind::Cleared,
            EventKindV1::LeaseRevoked => EventKind::LeaseRevoked,
            EventKindV1::Paused => EventKind::Paused,
            EventKindV1::Resumed => EventKind::Resumed,
        }
    }
}

/// A stored value the domain refuses (the reason, without the provider: the caller adds it).
fn sha(raw: &str) -> Result<HeadSha, String> {
    HeadSha::parse(raw).map_err(|e| format!("head_sha {raw:?}: {e}"))
}

fn priority(raw: i64) -> Result<Priority, String> {
    Priority::parse(raw).map_err(|e| format!("priority {raw}: {e}"))
}

impl TryFrom<RequestV1> for Request {
    type Error = String;
    fn try_from(r: RequestV1) -> Result<Self, String> {
        let head_ref = match r.head_ref {
            Some(raw) => HeadRef::parse(&raw).map_err(|e| format!("head_ref {raw:?}: {e}"))?,
            None => None,
        };
        Ok(Request {
            head_sha: sha(&r.head_sha)?,
            head_ref,
            priority: priority(r.priority)?,
            status: r.status.into(),
            registered_at: Time(r.registered_at),
            // Runtime only: set by `ProviderState::resume`.
            last_seen: Time(r.last_seen_at),
            last_seen_at: Time(r.last_seen_at),
            times_found_winner: 0,
        })
    }
}

impl TryFrom<StateV1> for ProviderState {
    type Error = String;
    fn try_from(s: StateV1) -> Result<Self, String> {
        let holder = match s.holder {
            Some(h) => Some(Holder {
                head_sha: sha(&h.head_sha)?,
                fencing_token: h.fencing_token,
                granted_at: Time(h.granted_at),
            }),
            None => None,
        };
        let mut recent = VecDeque::with_capacity(s.recent.len());
        for f in s.recent {
            recent.push_back(Finished {
                request: Request::try_from(f.request)?,
                released: f.released.map(Outcome::from),
                fencing_token: f.fencing_token,
            });
        }
        Ok(ProviderState {
            requests: s
                .requests
                .into_iter()
                .map(Request::try_from)
                .collect::<Result<_, _>>()?,
            holder,
            last_updated_at: Time(s.last_updated_at),
            round_started_at: s.round_started_at.map(Time),
            last_fencing_token: s.last_fencing_token,
            recent,
            // Runtime only: set by `ProviderState::resume`.
            holder_seen: Time(s.holder_seen_at),
            holder_seen_at: Time(s.holder_seen_at),
            paused: s.paused,
            resumed_at: Time::default(),
        })
    }
}

impl TryFrom<EventV1> for Event {
    type Error = String;
    fn try_from(e: EventV1) -> Result<Self, String> {
        Ok(Event {
            at: Time(e.at),
            kind: e.kind.into(),
            head_sha: e.head_sha.as_deref().map(sha).transpose()?,
            priority: e.priority.map(priority).transpose()?,
            fencing_token: e.fencing_token,
            waited_ms: e.waited_ms,
            batch_size: e.batch_size,
            reason: e.reason,
            by: e.by,
        })
    }
}

// ---- bytes ---------------------------------------------------------------------------------

/// A record as read, in domain terms.
#[derive(Debug)]
pub struct StoredProvider {
    pub version: u32,
    pub key: String,
    /// The settings the state was built under (informative: the configuration wins).
    pub settings: LeaseSettings,
    /// Sequence number the next history event gets.
    pub next_event_seq: u64,
    /// Runtime-only times are not restored: call [`ProviderState::resume`].
    pub state: ProviderState,
}

pub fn encode(
    key: &ProviderKey,
    settings: &LeaseSettings,
    next_event_seq: u64,
    state: &ProviderState,
) -> Vec<u8> {
    let record = RecordV1 {
        version: SCHEMA_VERSION,
        key: key.to_string(),
        settings: settings.into(),
        next_event_seq,
        state: state.into(),
    };
    // Serializing plain data structs to a Vec cannot fail.
    serde_json::to_vec(&record).unwrap_or_default()
}

pub fn encode_event(event: &Event) -> Vec<u8> {
    serde_json::to_vec(&EventV1::from(event)).unwrap_or_default()
}

pub fn decode(key: &str, bytes: &[u8]) -> Result<(ProviderKey, StoredProvider), RecordError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    let undecodable = |reason: String| RecordError::Undecodable {
        key: key.to_owned(),
        reason,
    };
    let version: VersionOnly =
        serde_json::from_slice(bytes).map_err(|e| undecodable(e.to_string()))?;
    if version.version != SCHEMA_VERSION {
        return Err(RecordError::UnknownVersion {
            key: key.to_owned(),
            found: version.version,
        });
    }
    let record: RecordV1 = serde_json::from_slice(bytes).map_err(|e| undecodable(e.to_string()))?;
    let parsed = ProviderKey::parse(key).map_err(|_| RecordError::BadKey {
        key: key.to_owned(),
    })?;
    let stored = StoredProvider {
        version: record.version,
        key: record.key,
        settings: record.settings.into(),
        next_event_seq: record.next_event_seq,
        state: ProviderState::try_from(record.state).map_err(undecodable)?,
    };
    Ok((parsed, stored))
}

pub fn decode_event(key: &str, seq: u64, bytes: &[u8]) -> Result<Event, RecordError> {
    let bad = |reason: String| RecordError::BadEvent {
        key: key.to_owned(),
        seq,
        reason,
    };
    let event: EventV1 = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    Event::try_from(event).map_err(bad)
}

/// One provider as a backend returned it, decoded, its runtime times resumed at `now`.
pub(super) fn load(l: &Loaded, now: Time) -> Result<SavedProvider, RecordError> {
    let (key, stored) = decode(&l.key, &l.record)?;
    let mut history = VecDeque::with_capacity(l.events.len());
    for (seq, bytes) in &l.events {
        history.push_back(decode_event(&l.key, *seq, bytes)?);
    }
    let mut state = stored.state;
    state.resume(now);
    Ok(SavedProvider {
        key,
        settings: stored.settings,
        state,
        journal: Journal::loaded(stored.next_event_seq, history),
    })
}

/// Whether two states have the same record: compares, without encoding, exactly the fields
/// [`StateV1`] stores (runtime-only times are ignored). Exhaustive destructuring makes a new
/// domain field a compile error here until it is decided whether it is saved.
pub fn same_record(a: &ProviderState, b: &ProviderState) -> bool {
    let ProviderState {
        requests,
        holder,
        last_updated_at,
        round_started_at,
        last_fencing_token,
        recent,
        holder_seen: _,
        holder_seen_at,
        paused,
        resumed_at: _,
    } = a;
    requests.len() == b.requests.len()
        && requests
            .iter()
            .zip(&b.requests)
            .all(|(x, y)| same_request(x, y))
        && *holder == b.holder
        && *last_updated_at == b.last_updated_at
        && *round_started_at == b.round_started_at
        && *last_fencing_token == b.last_fencing_token
        && recent.len() == b.recent.len()
        && recent.iter().zip(&b.recent).all(|(x, y)| {
            same_request(&x.request, &y.request)
                && x.released == y.released
                && x.fencing_token == y.fencing_token
        })
        && *holder_seen_at == b.holder_seen_at
        && *paused == b.paused
}

fn same_request(a: &Request, b: &Request) -> bool {
    let Request {
        head_sha,
        head_ref,
        priority,
        status,
        registered_at,
        last_seen: _,
        last_seen_at,
        times_found_winner: _,
    } = a;
    *head_sha == b.head_sha
        && *head_ref == b.head_ref
        && *priority == b.priority
        && *status == b.status
        && *registered_at == b.registered_at
        && *last_seen_at == b.last_seen_at
}

/// A state through its record and back (tests of the domain's restart behaviour).
#[cfg(test)]
pub(crate) fn round_trip(state: &ProviderState) -> ProviderState {
    let key = ProviderKey::parse("test:round:trip").unwrap();
    let bytes = encode(&key, &LeaseSettings::default(), 0, state);
    decode("test:round:trip", &bytes).unwrap().1.state
}

#[cfg(test)]
mod tests {
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
        let (key, mut stored) = decode("acme:shop:release/1.x", RECORD_BEFORE_PAUSE.as_bytes())
            .expect("old record loads");
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
}

/// The fixture in `tests/fixtures/` was written by the code before this module owned the
/// format (schema 1, commit 8cdb7a9). It must keep loading, into exactly this state, and a
/// rewrite of it must produce the same bytes (the format did not move).
#[cfg(test)]
mod fixture_v1 {
    use super::*;

    const RECORD: &str = include_str!("../../tests/fixtures/provider-record-v1.json");
    const EVENTS: &str = include_str!("../../tests/fixtures/provider-events-v1.txt");

    fn loaded() -> Loaded {
        let events = EVENTS
            .lines()
            .map(|line| {
                let (seq, json) = line.split_once(' ').unwrap();
                (seq.parse().unwrap(), json.as_bytes().to_vec())
            })
            .collect();
        Loaded {
            key: "acme:shop:main".into(),
            record: RECORD.trim_end().as_bytes().to_vec(),
            events,
        }
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

    #[test]
    fn a_schema_1_record_from_the_fixture_loads_into_the_state_it_was_written_from() {
        let now = Time(1_767_262_000_000);
        let saved = load(&loaded(), now).expect("the fixture loads");

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

        // History: nine events, newest first, the admin's name kept.
        let history = saved.journal.recent(100);
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
    }

    #[test]
    fn rewriting_the_fixture_gives_the_same_bytes() {
        let l = loaded();
        let (key, stored) = decode(&l.key, &l.record).unwrap();
        let again = encode(&key, &stored.settings, stored.next_event_seq, &stored.state);
        assert_eq!(String::from_utf8(again).unwrap(), RECORD.trim_end());
        for (seq, bytes) in &l.events {
            let event = decode_event(&l.key, *seq, bytes).unwrap();
            assert_eq!(encode_event(&event), *bytes, "event {seq}");
        }
    }
}
