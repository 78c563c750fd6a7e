//! The views besides the request context: the provider view and history events. Each type
//! is both what serde writes and what the OpenAPI document describes.
//!
//! These views used to be built as `serde_json::Value` maps, which sort their keys, and
//! that order is kept on the wire: those serde writes directly (inside the request context:
//! [`WaitingView`], [`HolderView`]; the events) declare their fields in alphabetical order,
//! and the provider view goes through a `Value`, as the status page reads it.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::answer::RequestContext;
use super::parts::{value, EventKindName, Stamp};
use crate::domain::{Answer, Event};
use crate::service::ProviderSnapshot;

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
