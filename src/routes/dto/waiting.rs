//! Why a `pending` run waits ([`WaitingView`]) and who decides the round ([`HolderView`]):
//! part of the request context, and an error's `error_context.holder`.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::parts::{value, Stamp, StatusName, WaitingReason};
use crate::domain::{HolderInfo, Waiting};

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
