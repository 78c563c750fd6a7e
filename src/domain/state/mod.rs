//! The provider state machine of docs/rules.md §3 and §6. Pure: every transition takes `now`,
//! mutates `self`, appends to `events` and does no I/O. The provider actor persists the
//! result, so everything that must survive a restart is serialized here; what only
//! matters while the process runs (the delay counter, the holder's sign of life) is
//! skipped and reset by [`ProviderState::resume`]. Last-seen times are saved with every
//! change ([`ProviderState::stamp_seen`]) and, on their own, at most once per
//! [`seen_granularity`] per run, so a plain poll usually causes no write. The views show
//! only the saved times, so what they show is what a restart shows.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{
    Busy, Event, EventKind, HeadRef, HeadSha, HolderInfo, LeaseError, LeaseSettings, Outcome,
    Priority, Status, Time, Waiting,
};

mod acquire;
mod admin;
mod housekeeping;
mod release;
mod views;

/// How many finished runs a provider remembers (for idempotent releases and for
/// answering `completed` again to a run that asks after its round ended).
pub const RECENT_CAPACITY: usize = 256;

/// One run's registration.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub head_sha: HeadSha,
    pub head_ref: Option<HeadRef>,
    pub priority: Priority,
    pub status: Status,
    pub registered_at: Time,
    /// Last acquire call (or parked long-poll) from this run (its TTL counts from here).
    /// Runtime only.
    pub last_seen: Time,
    /// `last_seen` as saved: updated with every change, and by a call once
    /// [`seen_granularity`] has passed since. What the views show as `last_seen_at`.
    pub last_seen_at: Time,
    /// How often this run was found the winner while `delay_assignment_count` held it back.
    pub times_found_winner: u32,
}

/// The run that won the current round's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub head_sha: HeadSha,
    pub fencing_token: u64,
    pub granted_at: Time,
    /// Whether it called acquire after its grant (docs/rules.md §13): a client that does shows it
    /// learns about its lease, so `lease_timeout` applies to it. One silent since its
    /// grant may not; it keeps the lease unless `silent_holder_timeout` is set. Saved.
    pub heard_since_grant: bool,
}

/// A run whose part in a round is over: a former holder (with its outcome) or a run
/// that was told `completed`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub request: Request,
    /// `Some` for a former holder: what it released with (an expired lease is a failure).
    pub released: Option<Outcome>,
    pub fencing_token: Option<u64>,
}

/// What an acquire or release call is answered with (before wire formatting).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub request: Request,
    /// Set when the request holds the lease.
    pub fencing_token: Option<u64>,
    /// PR numbers stacked under the holder, ascending by priority (only when `acquired`).
    pub stacked_pull_requests: Option<Vec<u64>>,
    /// Why a `pending` request is not granted now (only when `pending`).
    pub waiting: Option<Waiting>,
    /// For the holder of a live lease: when it was granted.
    pub acquired_at: Option<Time>,
    /// For the holder of a live lease: when it loses the lease if it stays silent
    /// (`None` when no timeout applies to it: see [`LeaseSettings::holder_timeout`]).
    pub lease_expires_at: Option<Time>,
}

impl Answer {
    /// An answer with only the request (and its token, if any).
    pub fn of(request: Request, fencing_token: Option<u64>) -> Self {
        Self {
            request,
            fencing_token,
            stacked_pull_requests: None,
            waiting: None,
            acquired_at: None,
            lease_expires_at: None,
        }
    }
}

/// The lease state of one merge queue.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderState {
    /// Known requests of the current round in arrival order, the holder included.
    pub requests: Vec<Request>,
    pub holder: Option<Holder>,
    pub last_updated_at: Time,
    /// First registration of the current round (for the time-to-grant figure).
    pub round_started_at: Option<Time>,
    /// The last fencing token handed out; never goes down, not even on `clear`.
    pub last_fencing_token: u64,
    /// Recently finished runs, oldest first, at most [`RECENT_CAPACITY`]. Shared between
    /// copies of the state until one of them remembers a run: the provider computes every
    /// call on a copy, and a poll copies only the round's requests.
    pub recent: Arc<VecDeque<Finished>>,
    /// When the holder last showed it is alive. Runtime only.
    pub holder_seen: Time,
    /// `holder_seen` as saved (like [`Request::last_seen_at`]); the views' lease expiry
    /// counts from here, so it is never later than the real one.
    pub holder_seen_at: Time,
    /// Admin: while set, nobody is granted the lease (the holder keeps it).
    pub paused: bool,
    /// When this state was loaded (or created): every run's TTL counts from here at the
    /// earliest, so a restart never evicts a run for the time the service was down.
    pub resumed_at: Time,
}

/// One acquire call's input, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AcquireRequest {
    pub head_sha: HeadSha,
    pub head_ref: Option<HeadRef>,
    pub priority: Priority,
}

impl ProviderState {
    pub fn new(now: Time) -> Self {
        Self {
            requests: Vec::new(),
            holder: None,
            last_updated_at: now,
            round_started_at: None,
            last_fencing_token: 0,
            recent: Arc::default(),
            holder_seen: now,
            holder_seen_at: now,
            paused: false,
            resumed_at: now,
        }
    }

    /// After loading from disk: every known run gets a fresh TTL (and the holder a fresh
    /// lease timeout) counted from `now`.
    pub fn resume(&mut self, now: Time) {
        for r in &mut self.requests {
            r.last_seen = r.last_seen_at.max(r.registered_at);
            r.times_found_winner = 0;
        }
        self.holder_seen = now;
        self.resumed_at = now;
    }

    /// Before a change is saved: the last-seen times go into the record with it.
    pub fn stamp_seen(&mut self) {
        for r in &mut self.requests {
            r.last_seen_at = r.last_seen;
        }
        self.holder_seen_at = self.holder_seen;
    }

    /// The moment from which a pending run's TTL counts.
    pub(super) fn ttl_from(&self, r: &Request) -> Time {
        r.last_seen.max(self.resumed_at)
    }

    pub fn is_idle(&self) -> bool {
        self.requests.is_empty() && self.holder.is_none()
    }

    /// The known request of `sha`, looked up on use (no index outlives a `retain`).
    pub(super) fn request(&self, sha: &HeadSha) -> Option<&Request> {
        self.requests.iter().find(|r| &r.head_sha == sha)
    }

    pub(super) fn request_mut(&mut self, sha: &HeadSha) -> Option<&mut Request> {
        self.requests.iter_mut().find(|r| &r.head_sha == sha)
    }

    /// Removes and returns the known request of `sha`.
    pub(super) fn take_request(&mut self, sha: &HeadSha) -> Option<Request> {
        let at = self.requests.iter().position(|r| &r.head_sha == sha)?;
        Some(self.requests.remove(at))
    }

    /// The holder's request and its token, if any.
    pub fn holder_request(&self) -> Option<(&Request, u64)> {
        let h = self.holder.as_ref()?;
        let r = self.requests.iter().find(|r| r.head_sha == h.head_sha)?;
        Some((r, h.fencing_token))
    }

    /// When the live holder loses its lease if it stays silent, counted from `seen` (its
    /// last sign of life, or its grant); `None` when no timeout applies to it.
    pub(super) fn holder_deadline(&self, settings: &LeaseSettings, seen: Time) -> Option<Time> {
        let h = self.holder.as_ref()?;
        if self.holder_status() != Some(Status::Acquired) {
            return None;
        }
        let timeout = settings.holder_timeout(h.heard_since_grant)?;
        Some(seen.max(h.granted_at).plus(timeout))
    }

    /// The holder's status (acquired, completed or failure), if there is a holder.
    pub fn holder_status(&self) -> Option<Status> {
        self.holder_request().map(|(r, _)| r.status)
    }

    /// docs/rules.md §3 rule 5: the picture is stable enough to elect — the expected number of runs
    /// is known, the stabilisation window has passed, or the previous holder failed
    /// (re-election needs no waiting). `acquire` and the waiting reasons both ask this.
    pub(super) fn election_ready(&self, settings: &LeaseSettings, now: Time) -> bool {
        self.requests.len() >= settings.expected_build_count as usize
            || now.since(self.last_updated_at) >= settings.stabilisation_window
            || self.holder_status() == Some(Status::Failure)
    }

    pub(super) fn is_holder(&self, sha: &HeadSha) -> bool {
        self.holder.as_ref().is_some_and(|h| &h.head_sha == sha)
    }

    pub(super) fn highest_pending_priority(&self) -> Option<Priority> {
        self.requests
            .iter()
            .filter(|r| r.status == Status::Pending)
            .map(|r| r.priority)
            .max()
    }

    pub(super) fn remember(&mut self, finished: Finished) {
        let recent = Arc::make_mut(&mut self.recent);
        recent.retain(|f| f.request.head_sha != finished.request.head_sha);
        if recent.len() >= RECENT_CAPACITY {
            recent.pop_front();
        }
        // Grow to fit, not double: most providers remember a handful of runs, and a
        // doubled buffer of them is a good part of an idle provider.
        recent.reserve_exact(1);
        recent.push_back(finished);
    }

    pub(super) fn recalled(&self, sha: &HeadSha) -> Option<&Finished> {
        self.recent
            .iter()
            .rev()
            .find(|f| &f.request.head_sha == sha)
    }
}

/// How stale a saved last-seen time may get before a call saves it on its own: a third
/// of the ttl (at least a second), so a run polling often causes at most one write per
/// that time and the views show when it was last seen to within it.
pub fn seen_granularity(settings: &LeaseSettings) -> std::time::Duration {
    (settings.ttl / 3).max(std::time::Duration::from_secs(1))
}

/// A call from `r` at `now`: its TTL restarts; the saved time follows once it is stale.
pub(super) fn seen(r: &mut Request, now: Time, settings: &LeaseSettings) {
    r.last_seen = now;
    if now.since(r.last_seen_at) >= seen_granularity(settings) {
        r.last_seen_at = now;
    }
}

/// An event about `request` (or about no run): made here, where requests are, so the
/// event module needs nothing of the state.
impl Event {
    pub fn of(kind: EventKind, at: Time, request: Option<&Request>) -> Self {
        Self {
            at,
            kind,
            head_sha: request.map(|r| r.head_sha.clone()),
            priority: request.map(|r| r.priority),
            fencing_token: None,
            waited_ms: None,
            batch_size: None,
            reason: None,
            by: None,
        }
    }
}
