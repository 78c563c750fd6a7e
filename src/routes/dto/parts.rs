//! The small pieces the wire types are made of: times formatted once onto the stack
//! ([`Stamp`]), and the names of the domain's statuses, event kinds and waiting reasons,
//! each described for OpenAPI from the domain's own list.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use serde::{Serialize, Serializer};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{EventKind, Status, Time};

/// A time as [`Time::rfc3339`] writes it, kept on the stack and written as a JSON string.
#[derive(Clone, Copy)]
pub struct Stamp {
    buf: [u8; Stamp::CAPACITY],
    len: usize,
}

impl Stamp {
    /// `YYYY-MM-DDTHH:MM:SSZ` is 20 bytes.
    const CAPACITY: usize = 32;

    pub fn of(t: Time) -> Self {
        let mut stamp = Stamp {
            buf: [0; Self::CAPACITY],
            len: 0,
        };
        if stamp.write_digits(t).is_none() {
            // Past year 9999: as humantime writes it, which refuses (where `Time::rfc3339`
            // panics); nothing else fails to fit.
            let formatted = humantime::format_rfc3339_seconds(t.to_system_time());
            if write!(stamp, "{formatted}").is_err() {
                stamp.len = 0;
            }
        }
        stamp
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` straight from the milliseconds (a poll's answer has four
    /// times: formatting them is a good part of writing it). The civil date from the day
    /// number is Howard Hinnant's `civil_from_days`. `None` past year 9999.
    fn write_digits(&mut self, t: Time) -> Option<()> {
        let secs = t.0 / 1000;
        let (days, of_day) = (secs / 86_400, secs % 86_400);
        let z = days + 719_468;
        let (era, doe) = (z / 146_097, z % 146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        if year > 9999 {
            return None;
        }
        let fields = [
            (year, 4, b'-'),
            (month, 2, b'-'),
            (day, 2, b'T'),
            (of_day / 3600, 2, b':'),
            (of_day / 60 % 60, 2, b':'),
            (of_day % 60, 2, b'Z'),
        ];
        let mut at = 0;
        for (value, width, after) in fields {
            let mut v = value;
            for i in (0..width).rev() {
                *self.buf.get_mut(at + i)? = b'0' + (v % 10) as u8;
                v /= 10;
            }
            *self.buf.get_mut(at + width)? = after;
            at += width + 1;
        }
        self.len = at;
        Some(())
    }

    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..self.len).unwrap_or_default();
        std::str::from_utf8(bytes).unwrap_or_default()
    }
}

impl Serialize for Stamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Write for Stamp {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dest = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `v` as a `Value`. `serde_json::to_value` fails only for a map with keys that are not
/// strings or a `Serialize` that errs; these views have neither, so `Null` is never seen.
pub(super) fn value(v: impl Serialize) -> Value {
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
