//! The answer to acquire and release (docs/rules.md §4): [`RequestContext`]. The same type
//! is what serde writes (the poll's body, and each entry of the provider view) and what the
//! OpenAPI document describes.
//!
//! A poll is answered with this many times a second, so the context borrows from the
//! [`Answer`] (`&str` fields, no owned strings), formats each time once onto the stack
//! ([`Stamp`]) and is serialised straight into a buffer of about the right size.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;

use super::parts::{Stamp, StatusName};
use super::waiting::WaitingView;
use crate::domain::{Answer, HeadRef, Status};

/// The answer to acquire and release. `fencing_token` and the times are repeated beside
/// `request` for clients that read either level.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"request": {"head_sha": "abc", "head_ref": "gh-readonly-queue/main/pr-3-abc", "priority": 3, "status": "acquired", "fencing_token": 7, "first_seen_at": "2026-01-01T10:00:00Z", "last_seen_at": "2026-01-01T10:05:00Z", "acquired_at": "2026-01-01T10:05:00Z", "lease_expires_at": "2026-01-01T10:15:00Z"}, "stacked_pull_requests": [{"number": 1}, {"number": 2}, {"number": 3}], "fencing_token": 7, "first_seen_at": "2026-01-01T10:00:00Z", "last_seen_at": "2026-01-01T10:05:00Z", "acquired_at": "2026-01-01T10:05:00Z", "lease_expires_at": "2026-01-01T10:15:00Z"}))]
pub struct RequestContext<'a> {
    pub request: RequestView<'a>,
    /// Only when `acquired`: the PR numbers of the known requests with priority ≤ the
    /// holder's, ascending by priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<PullRequest>>)]
    pub stacked_pull_requests: Option<PullRequests<'a>>,
    /// Only when `acquired`: strictly increasing per provider, across restarts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub fencing_token: Option<u64>,
    /// Only when `pending`: why the run waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<WaitingView<'a>>,
    #[schema(value_type = String, format = DateTime)]
    pub first_seen_at: Stamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: Stamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acquired_at: Option<Stamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lease_expires_at: Option<Option<Stamp>>,
}

/// One request as the service knows it.
#[derive(Serialize, ToSchema)]
pub struct RequestView<'a> {
    pub head_sha: &'a str,
    /// Absent when the run sent none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_ref: Option<&'a str>,
    pub priority: i64,
    pub status: StatusName,
    /// Only while the request holds the lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub fencing_token: Option<u64>,
    /// When the run registered.
    #[schema(value_type = String, format = DateTime)]
    pub first_seen_at: Stamp,
    /// The run's last acquire call (or held long-poll).
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: Stamp,
    /// Holder of a live lease only: when it was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acquired_at: Option<Stamp>,
    /// Holder of a live lease only: when it loses the lease if silent; `null` when no
    /// timeout applies to it (`lease_timeout` off, or silent since its grant and
    /// `silent_holder_timeout` off).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lease_expires_at: Option<Option<Stamp>>,
}

/// A pull request of the merge group.
#[derive(Serialize, ToSchema)]
pub struct PullRequest {
    #[schema(minimum = 0)]
    pub number: u64,
}

/// The stacked pull requests' numbers, written as `[{"number": …}, …]`.
pub struct PullRequests<'a>(pub &'a [u64]);

impl Serialize for PullRequests<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|&number| PullRequest { number }))
    }
}

impl<'a> RequestContext<'a> {
    /// The context of `a`: the token, the lease's times and the stacked pull requests only
    /// for a holder, `waiting` only for a pending run.
    pub fn of(a: &'a Answer) -> Self {
        let r = &a.request;
        let holding = r.status == Status::Acquired;
        let fencing_token = a.fencing_token.filter(|_| holding);
        let first_seen_at = Stamp::of(r.registered_at);
        // The saved time (see `seen_granularity`): what a restart shows too.
        let last_seen_at = Stamp::of(r.last_seen_at.max(r.registered_at));
        let lease = a
            .acquired_at
            .filter(|_| holding)
            .map(|at| (Stamp::of(at), a.lease_expires_at.map(Stamp::of)));
        let acquired_at = lease.map(|(at, _)| at);
        let lease_expires_at = lease.map(|(_, until)| until);
        RequestContext {
            request: RequestView {
                head_sha: r.head_sha.as_str(),
                head_ref: r.head_ref.as_ref().map(HeadRef::as_str),
                priority: r.priority.get(),
                status: StatusName(r.status),
                fencing_token,
                first_seen_at,
                last_seen_at,
                acquired_at,
                lease_expires_at,
            },
            stacked_pull_requests: a
                .stacked_pull_requests
                .as_deref()
                .filter(|_| holding)
                .map(PullRequests),
            fencing_token,
            waiting: a
                .waiting
                .as_ref()
                .filter(|_| r.status == Status::Pending)
                .map(WaitingView::of),
            first_seen_at,
            last_seen_at,
            acquired_at,
            lease_expires_at,
        }
    }
}

/// The body of an acquire or release answer: [`RequestContext`] as JSON, written into a
/// buffer of about the right size.
pub fn answer_body(a: &Answer) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(768);
    serde_json::to_writer(&mut out, &RequestContext::of(a))?;
    Ok(out)
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
