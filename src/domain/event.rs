//! History events (docs/rules.md §6): what happened to a provider, kept durably with its state.

use super::HeadSha;
use super::{Priority, Time};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Registered,
    Granted,
    ReleasedSuccess,
    ReleasedFailure,
    Completed,
    Evicted,
    LeaseExpired,
    /// A grant undone because its answer could not be delivered to the caller.
    Revoked,
    Cleared,
    /// Admin: the holder's lease was ended as a failure (`POST …/revoke`).
    LeaseRevoked,
    /// Admin: grants stopped until `resume`.
    Paused,
    /// Admin: grants allowed again.
    Resumed,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Registered => "registered",
            EventKind::Granted => "granted",
            EventKind::ReleasedSuccess => "released_success",
            EventKind::ReleasedFailure => "released_failure",
            EventKind::Completed => "completed",
            EventKind::Evicted => "evicted",
            EventKind::LeaseExpired => "lease_expired",
            EventKind::Revoked => "revoked",
            EventKind::Cleared => "cleared",
            EventKind::LeaseRevoked => "lease_revoked",
            EventKind::Paused => "paused",
            EventKind::Resumed => "resumed",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Time,
    pub kind: EventKind,
    pub head_sha: Option<HeadSha>,
    pub priority: Option<Priority>,
    pub fencing_token: Option<u64>,
    /// For `granted`: milliseconds from the round's first registration to the grant.
    pub waited_ms: Option<u64>,
    /// For `released_success`: how many runs of the round the success covered.
    pub batch_size: Option<u64>,
    /// For admin actions: why (as the admin gave it).
    pub reason: Option<String>,
    /// For admin actions: who asked (a user name, never a secret).
    pub by: Option<String>,
}
