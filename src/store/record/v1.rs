//! Schema 1: the shapes on disk and their explicit mappings to and from the domain.

use std::collections::VecDeque;

use super::*;

/// The whole record. Field order is the order on disk.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RecordV1 {
    pub(super) version: u32,
    pub(super) key: String,
    pub(super) settings: SettingsV1,
    pub(super) next_event_seq: u64,
    pub(super) state: StateV1,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SettingsV1 {
    pub(super) stabilisation_window: Duration,
    pub(super) ttl: Duration,
    pub(super) expected_build_count: u32,
    pub(super) delay_assignment_count: u32,
    pub(super) lease_timeout: Duration,
    /// Absent in records written before `silent_holder_timeout` existed, and when off.
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub(super) silent_holder_timeout: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StateV1 {
    pub(super) requests: Vec<RequestV1>,
    pub(super) holder: Option<HolderV1>,
    pub(super) last_updated_at: u64,
    pub(super) round_started_at: Option<u64>,
    pub(super) last_fencing_token: u64,
    pub(super) recent: Vec<FinishedV1>,
    /// Absent in records written before seen times were saved.
    #[serde(default)]
    pub(super) holder_seen_at: u64,
    /// Absent in records written before pause existed.
    #[serde(default)]
    pub(super) paused: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RequestV1 {
    pub(super) head_sha: String,
    pub(super) head_ref: Option<String>,
    pub(super) priority: i64,
    pub(super) status: StatusV1,
    pub(super) registered_at: u64,
    /// Absent in records written before seen times were saved.
    #[serde(default)]
    pub(super) last_seen_at: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct HolderV1 {
    pub(super) head_sha: String,
    pub(super) fencing_token: u64,
    pub(super) granted_at: u64,
    /// Absent when false, and in records written before it was saved: read as silent
    /// since the grant, the safe side (the holder's next call shows otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) heard_since_grant: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FinishedV1 {
    pub(super) request: RequestV1,
    pub(super) released: Option<OutcomeV1>,
    pub(super) fencing_token: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum StatusV1 {
    Pending,
    Acquired,
    Success,
    Failure,
    Completed,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum OutcomeV1 {
    Success,
    Failure,
}

/// One history event.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EventV1 {
    pub(super) at: u64,
    pub(super) kind: EventKindV1,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) head_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) fencing_token: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) waited_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) batch_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) by: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum EventKindV1 {
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
            silent_holder_timeout: s.silent_holder_timeout,
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
                heard_since_grant: h.heard_since_grant,
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
            silent_holder_timeout: s.silent_holder_timeout,
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
                heard_since_grant: h.heard_since_grant,
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
            recent: recent.into(),
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
