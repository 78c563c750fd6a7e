//! The views besides the request context: why a run waits, the holder, the provider view,
//! history events, and the names of the domain's enums. Each type is both what serde
//! writes and what the OpenAPI document describes.
//!
//! These views used to be built as `serde_json::Value` maps, which sort their keys, and
//! that order is kept on the wire: those serde writes directly (inside the request context:
//! [`WaitingView`], [`HolderView`]; the events) declare their fields in alphabetical order,
//! and the provider view goes through a `Value`, as the status page reads it.

use std::borrow::Cow;

use serde::{Serialize, Serializer};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::answer::{RequestContext, Stamp};
use crate::domain::{Answer, Event, EventKind, HolderInfo, Status, Waiting};
use crate::service::ProviderSnapshot;

/// Why a `pending` run waits (docs/rules.md §8): `reason` and the details that reason has.
#[derive(Serialize, ToSchema)]
#[schema(as = Waiting, example = json!({"reason": "stabilising", "known": 2, "expected": 4, "window_ends_at": "2026-01-01T10:05:00Z"}))]
pub struct WaitingView<'a> {
    /// `confirming`: further acquire calls before the grant (≥ 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub confirmations_left: Option<u64>,
    /// `stabilising`: `expected_build_count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub expected: Option<u64>,
    /// `higher_priority`: the highest priority known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest_priority: Option<i64>,
    /// `lease_held`: who holds the lease, since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<HolderView<'a>>,
    /// `stabilising`: runs known so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub known: Option<u64>,
    #[schema(value_type = WaitingReason)]
    pub reason: &'static str,
    /// `stabilising`: when the stabilisation window ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub window_ends_at: Option<Stamp>,
}

impl<'a> WaitingView<'a> {
    pub fn of(w: &'a Waiting) -> Self {
        let mut v = WaitingView {
            confirmations_left: None,
            expected: None,
            highest_priority: None,
            holder: None,
            known: None,
            reason: w.reason(),
            window_ends_at: None,
        };
        match w {
            Waiting::Paused => {}
            Waiting::LeaseHeld { holder } => v.holder = Some(HolderView::of(holder)),
            Waiting::Stabilising {
                known,
                expected,
                window_ends_at,
            } => {
                v.known = Some(u64::try_from(*known).unwrap_or(u64::MAX));
                v.expected = Some(u64::from(*expected));
                v.window_ends_at = Some(Stamp::of(*window_ends_at));
            }
            Waiting::HigherPriority { highest_priority } => {
                v.highest_priority = Some(highest_priority.get());
            }
            Waiting::Confirming { confirmations_left } => {
                v.confirmations_left = Some(u64::from(*confirmations_left));
            }
        }
        v
    }
}

/// The run at the centre of the round (the holder), in whatever status it is.
#[derive(Serialize, ToSchema)]
#[schema(as = Holder)]
pub struct HolderView<'a> {
    pub head_sha: &'a str,
    pub priority: i64,
    /// It has not called acquire since its grant: a client that may not learn that its
    /// lease ran out, so it keeps the lease until it releases or an admin revokes it,
    /// unless `silent_holder_timeout` is set.
    pub silent_since_grant: bool,
    /// When it was granted the lease.
    #[schema(value_type = String, format = DateTime)]
    pub since: Stamp,
    pub status: StatusName,
}

impl<'a> HolderView<'a> {
    pub fn of(h: &'a HolderInfo) -> Self {
        HolderView {
            head_sha: h.head_sha.as_str(),
            priority: h.priority.get(),
            silent_since_grant: h.silent_since_grant,
            since: Stamp::of(h.since),
            status: StatusName(h.status),
        }
    }
}

/// `{"head_sha", "priority", "silent_since_grant", "since", "status"}` of the run that
/// decides the round (an error's `error_context.holder`).
pub fn holder_view(h: &HolderInfo) -> Value {
    value(HolderView::of(h))
}

/// The provider's settings; durations in whole seconds.
#[derive(Serialize, ToSchema)]
pub struct ProviderConfig {
    #[schema(minimum = 0)]
    pub stabilize_duration: u64,
    #[schema(minimum = 0)]
    pub ttl: u64,
    #[schema(minimum = 0)]
    pub expected_request_count: u64,
    #[schema(minimum = 0)]
    pub delay_assignment_count: u64,
    /// For a holder that called acquire after its grant; 0 = off.
    #[schema(minimum = 0)]
    pub lease_timeout: u64,
    /// For a holder silent since its grant; 0 = off (it keeps the lease).
    #[schema(minimum = 0)]
    pub silent_holder_timeout: u64,
}

/// One merge queue: the holder, the known requests, the settings. More fields may be
/// added; none is renamed or removed.
#[derive(Serialize, ToSchema)]
pub struct ProviderView<'a> {
    #[schema(value_type = String, format = DateTime)]
    pub last_updated_at: Stamp,
    /// An admin paused grants (`POST …/pause`).
    pub paused: bool,
    /// The holder's request context, `null` when nobody holds the lease.
    #[schema(required = true)]
    pub acquired: Option<RequestContext<'a>>,
    /// Every known request, ascending by priority.
    pub known: Vec<RequestContext<'a>>,
    /// Long-poll callers held open right now.
    #[schema(minimum = 0)]
    pub waiting: u64,
    /// The last fencing token handed out (0 before the first grant).
    #[schema(minimum = 0)]
    pub last_fencing_token: u64,
    pub config: ProviderConfig,
}

impl<'a> ProviderView<'a> {
    /// The view of `s`, whose holder and known requests (decorated now) are `acquired` and
    /// `known`.
    pub fn of(s: &ProviderSnapshot, acquired: Option<&'a Answer>, known: &'a [Answer]) -> Self {
        let lease = &s.settings;
        ProviderView {
            acquired: acquired.map(RequestContext::of),
            config: ProviderConfig {
                delay_assignment_count: u64::from(lease.delay_assignment_count),
                expected_request_count: u64::from(lease.expected_build_count),
                lease_timeout: lease.lease_timeout.as_secs(),
                silent_holder_timeout: lease.silent_holder_timeout.as_secs(),
                stabilize_duration: lease.stabilisation_window.as_secs(),
                ttl: lease.ttl.as_secs(),
            },
            known: known.iter().map(RequestContext::of).collect(),
            last_fencing_token: s.state.last_fencing_token,
            last_updated_at: Stamp::of(s.state.last_updated_at),
            paused: s.state.paused,
            waiting: u64::try_from(s.waiting).unwrap_or(u64::MAX),
        }
    }
}

/// The provider view as JSON (the routes send it; the status page reads it). As a
/// `Value`, its keys (the request contexts' too) are sorted, as they have always been.
pub fn provider_view(s: &ProviderSnapshot) -> Value {
    let now = crate::domain::Time::now();
    let acquired = s.state.view_acquired(&s.settings, now);
    let known = s.state.view_known(&s.settings, now);
    value(ProviderView::of(s, acquired.as_ref(), &known))
}

/// One history event; the fields beyond `at` and `kind` are present when they apply.
#[derive(Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventView<'a> {
    #[schema(value_type = String, format = DateTime)]
    pub at: Stamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub batch_size: Option<u64>,
    /// Admin actions: who (`user <name>`, `bearer token`, `anonymous`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub fencing_token: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<&'a str>,
    pub kind: EventKindName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// `granted`: how long the run waited.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub waited_ms: Option<u64>,
}

impl<'a> EventView<'a> {
    pub fn of(e: &'a Event) -> Self {
        EventView {
            at: Stamp::of(e.at),
            batch_size: e.batch_size,
            by: e.by.as_deref(),
            fencing_token: e.fencing_token,
            head_sha: e.head_sha.as_ref().map(|s| s.as_str()),
            kind: EventKindName(e.kind),
            priority: e.priority.map(|p| p.get()),
            reason: e.reason.as_deref(),
            waited_ms: e.waited_ms,
        }
    }
}

/// One event as JSON (`/events`, the status page's history).
pub fn event_view(e: &Event) -> Value {
    value(EventView::of(e))
}

/// `v` as a `Value`. `serde_json::to_value` fails only for a map with keys that are not
/// strings or a `Serialize` that errs; these views have neither, so `Null` is never seen.
fn value(v: impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// A request's [`Status`], written as [`Status::as_str`] names it.
pub struct StatusName(pub Status);

/// Every status, in the order the document lists them.
const STATUSES: [Status; 5] = [
    Status::Pending,
    Status::Acquired,
    Status::Success,
    Status::Failure,
    Status::Completed,
];

/// Does not compile when the domain gains a status: add it to [`STATUSES`] then.
const fn _every_status_is_listed(s: Status) {
    match s {
        Status::Pending | Status::Acquired | Status::Success | Status::Failure => {}
        Status::Completed => {}
    }
}

impl Serialize for StatusName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl PartialSchema for StatusName {
    fn schema() -> RefOr<Schema> {
        names("Where a request stands.", STATUSES.map(Status::as_str))
    }
}

impl ToSchema for StatusName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RequestStatus")
    }
}

/// What happened to a provider: an [`EventKind`], written as [`EventKind::as_str`] names it.
pub struct EventKindName(pub EventKind);

/// Every kind of event, in the order the document lists them.
const EVENT_KINDS: [EventKind; 12] = [
    EventKind::Registered,
    EventKind::Granted,
    EventKind::ReleasedSuccess,
    EventKind::ReleasedFailure,
    EventKind::Completed,
    EventKind::Evicted,
    EventKind::LeaseExpired,
    EventKind::Revoked,
    EventKind::Cleared,
    EventKind::LeaseRevoked,
    EventKind::Paused,
    EventKind::Resumed,
];

/// Does not compile when the domain gains a kind: add it to [`EVENT_KINDS`] then.
const fn _every_event_kind_is_listed(k: EventKind) {
    match k {
        EventKind::Registered | EventKind::Granted | EventKind::ReleasedSuccess => {}
        EventKind::ReleasedFailure | EventKind::Completed | EventKind::Evicted => {}
        EventKind::LeaseExpired | EventKind::Revoked | EventKind::Cleared => {}
        EventKind::LeaseRevoked | EventKind::Paused | EventKind::Resumed => {}
    }
}

impl Serialize for EventKindName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl PartialSchema for EventKindName {
    fn schema() -> RefOr<Schema> {
        names(
            "What happened to a provider.",
            EVENT_KINDS.map(EventKind::as_str),
        )
    }
}

impl ToSchema for EventKindName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EventKind")
    }
}

/// Why a run waits: the names [`Waiting::reason`] gives (a test checks every one is here).
pub struct WaitingReason;

pub(super) const WAITING_REASONS: [&str; 5] = [
    "paused",
    "lease_held",
    "stabilising",
    "higher_priority",
    "confirming",
];

impl PartialSchema for WaitingReason {
    fn schema() -> RefOr<Schema> {
        names("Why a run waits.", WAITING_REASONS)
    }
}

impl ToSchema for WaitingReason {}

/// A string schema that takes one of `values`.
fn names<const N: usize>(description: &str, values: [&str; N]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}
