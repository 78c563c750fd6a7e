//! Wire shapes (docs/rules.md §4). Request bodies keep raw types and ignore unknown fields;
//! validation happens in the handler.

use std::fmt::{self, Write as _};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use crate::domain::{Answer, Event, HolderInfo, Status, Time, Waiting};
use crate::service::ProviderSnapshot;

#[derive(Debug, Deserialize)]
pub struct AcquireBody {
    pub head_sha: String,
    #[serde(default)]
    pub head_ref: Option<String>,
    #[serde(deserialize_with = "whole_i64")]
    pub priority: i64,
}

/// Body of `POST …/revoke` (optional).
#[derive(Debug, Default, Deserialize)]
pub struct RevokeBody {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ReleaseBody {
    pub head_sha: String,
    pub status: String,
    #[serde(default, deserialize_with = "optional_whole_i64")]
    pub priority: Option<i64>,
    #[serde(default, deserialize_with = "optional_whole_u64")]
    pub fencing_token: Option<u64>,
}

/// A whole number as JSON may write it: `3` or `3.0`. JSON (and JSON Schema's `integer`)
/// does not tell them apart, and some encoders write every number with a fraction.
/// Anything else (`3.5`, out of range) is the usual type error, so 422.
fn whole<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D, what: &str) -> Result<T, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let whole = if let Some(i) = n.as_i64() {
        Some(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Some(i128::from(u))
    } else {
        // Below 2^64 a float with no fraction is exactly an integer.
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 18_446_744_073_709_551_616.0)
            .map(|f| f as i128)
    };
    whole
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| D::Error::custom(format!("invalid value: {n}, expected {what}")))
}

fn whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole(d, "an integer")
}

fn optional_whole_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => whole(n, "an integer").map(Some).map_err(D::Error::custom),
    }
}

fn optional_whole_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => whole(n, "a non-negative integer")
            .map(Some)
            .map_err(D::Error::custom),
    }
}

#[derive(Debug, Serialize)]
pub struct RequestView {
    pub head_sha: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_ref: Option<String>,
    pub priority: i64,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<u64>,
    #[serde(flatten)]
    pub times: RequestTimes,
}

/// Times of a request, shown both inside `request` and beside it (as `fencing_token` is),
/// so clients reading either level find them.
#[derive(Debug, Clone, Serialize)]
pub struct RequestTimes {
    /// When the run registered.
    pub first_seen_at: String,
    /// The run's last acquire call (or held long-poll).
    pub last_seen_at: String,
    /// Holder of a live lease only: when it was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquired_at: Option<String>,
    /// Holder of a live lease only: when it loses the lease if silent; `null` when no
    /// timeout applies to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<Option<String>>,
}

#[derive(Debug, Serialize)]
pub struct PullRequest {
    pub number: u64,
}

/// The request context: the answer to acquire and release.
#[derive(Debug, Serialize)]
pub struct RequestContext {
    pub request: RequestView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacked_pull_requests: Option<Vec<PullRequest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<u64>,
    /// Only in a `pending` answer: why the run waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Value>,
    #[serde(flatten)]
    pub times: RequestTimes,
}

/// `{"head_sha", "priority", "status", "since"}` of the run that decides the round.
pub fn holder_view(h: &HolderInfo) -> Value {
    json!({
        "head_sha": h.head_sha.as_str(),
        "priority": h.priority.get(),
        "status": h.status.as_str(),
        "since": h.since.rfc3339(),
        "silent_since_grant": h.silent_since_grant,
    })
}

/// `{"reason": …, …details}` (docs/rules.md §8).
pub fn waiting_view(w: &Waiting) -> Value {
    let mut v = json!({ "reason": w.reason() });
    match w {
        Waiting::Paused => {}
        Waiting::LeaseHeld { holder } => v["holder"] = holder_view(holder),
        Waiting::Stabilising {
            known,
            expected,
            window_ends_at,
        } => {
            v["known"] = json!(known);
            v["expected"] = json!(expected);
            v["window_ends_at"] = json!(window_ends_at.rfc3339());
        }
        Waiting::HigherPriority { highest_priority } => {
            v["highest_priority"] = json!(highest_priority.get());
        }
        Waiting::Confirming { confirmations_left } => {
            v["confirmations_left"] = json!(confirmations_left);
        }
    }
    v
}

impl From<Answer> for RequestContext {
    fn from(a: Answer) -> Self {
        let holding = a.request.status == crate::domain::Status::Acquired;
        let fencing_token = a.fencing_token.filter(|_| holding);
        let times = RequestTimes {
            first_seen_at: a.request.registered_at.rfc3339(),
            // The saved time (see `seen_granularity`): what a restart shows too.
            last_seen_at: a
                .request
                .last_seen_at
                .max(a.request.registered_at)
                .rfc3339(),
            acquired_at: a.acquired_at.filter(|_| holding).map(Time::rfc3339),
            lease_expires_at: a
                .acquired_at
                .filter(|_| holding)
                .map(|_| a.lease_expires_at.map(Time::rfc3339)),
        };
        let waiting = a
            .waiting
            .as_ref()
            .filter(|_| a.request.status == crate::domain::Status::Pending)
            .map(waiting_view);
        RequestContext {
            request: RequestView {
                head_sha: a.request.head_sha.to_string(),
                head_ref: a.request.head_ref.as_ref().map(|r| r.as_str().to_owned()),
                priority: a.request.priority.get(),
                status: a.request.status.as_str(),
                fencing_token,
                times: times.clone(),
            },
            stacked_pull_requests: a.stacked_pull_requests.filter(|_| holding).map(|prs| {
                prs.into_iter()
                    .map(|number| PullRequest { number })
                    .collect()
            }),
            fencing_token,
            waiting,
            times,
        }
    }
}

/// The body of an acquire or release answer: the JSON of [`RequestContext::from`], byte
/// for byte (a test checks every shape), written straight into a buffer of about the
/// right size. A poll answers with this many times a second; building the
/// `RequestContext` first (a dozen strings, each time formatted twice, a flattened map)
/// and serialising it cost as much as the rest of the handler. The names and the times
/// need no escaping; the values that might (`head_sha`, `head_ref`, `waiting`) go
/// through `serde_json`.
pub fn answer_body(a: &Answer) -> serde_json::Result<Vec<u8>> {
    let r = &a.request;
    let holding = r.status == Status::Acquired;
    let fencing_token = a.fencing_token.filter(|_| holding);
    let times = Times::of(a, holding);
    let mut out = Vec::with_capacity(768);

    out.extend_from_slice(br#"{"request":{"head_sha":"#);
    serde_json::to_writer(&mut out, r.head_sha.as_str())?;
    if let Some(head_ref) = &r.head_ref {
        out.extend_from_slice(br#","head_ref":"#);
        serde_json::to_writer(&mut out, head_ref.as_str())?;
    }
    out.extend_from_slice(br#","priority":"#);
    serde_json::to_writer(&mut out, &r.priority.get())?;
    out.extend_from_slice(br#","status":""#);
    out.extend_from_slice(r.status.as_str().as_bytes());
    out.push(b'"');
    if let Some(token) = fencing_token {
        out.extend_from_slice(br#","fencing_token":"#);
        serde_json::to_writer(&mut out, &token)?;
    }
    times.write(&mut out);
    out.push(b'}');

    if let Some(prs) = a.stacked_pull_requests.as_deref().filter(|_| holding) {
        out.extend_from_slice(br#","stacked_pull_requests":["#);
        for (i, number) in prs.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"number":"#);
            serde_json::to_writer(&mut out, number)?;
            out.push(b'}');
        }
        out.push(b']');
    }
    if let Some(token) = fencing_token {
        out.extend_from_slice(br#","fencing_token":"#);
        serde_json::to_writer(&mut out, &token)?;
    }
    if let Some(w) = a.waiting.as_ref().filter(|_| r.status == Status::Pending) {
        out.extend_from_slice(br#","waiting":"#);
        serde_json::to_writer(&mut out, &waiting_view(w))?;
    }
    times.write(&mut out);
    out.push(b'}');
    Ok(out)
}

/// The times of [`RequestTimes`], each formatted once: they are shown both inside
/// `request` and beside it.
struct Times {
    first_seen_at: Stamp,
    last_seen_at: Stamp,
    /// `acquired_at` and `lease_expires_at` (`None`: `lease_timeout` is off) of a holder.
    lease: Option<(Stamp, Option<Stamp>)>,
}

impl Times {
    fn of(a: &Answer, holding: bool) -> Self {
        Self {
            first_seen_at: Stamp::of(a.request.registered_at),
            // The saved time (see `seen_granularity`): what a restart shows too.
            last_seen_at: Stamp::of(a.request.last_seen_at.max(a.request.registered_at)),
            lease: a
                .acquired_at
                .filter(|_| holding)
                .map(|at| (Stamp::of(at), a.lease_expires_at.map(Stamp::of))),
        }
    }

    /// `,"first_seen_at":"…","last_seen_at":"…"` and, for a holder,
    /// `,"acquired_at":"…","lease_expires_at":"…"` (or `null`).
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#","first_seen_at":"#);
        self.first_seen_at.write(out);
        out.extend_from_slice(br#","last_seen_at":"#);
        self.last_seen_at.write(out);
        if let Some((acquired_at, expires_at)) = &self.lease {
            out.extend_from_slice(br#","acquired_at":"#);
            acquired_at.write(out);
            out.extend_from_slice(br#","lease_expires_at":"#);
            match expires_at {
                Some(t) => t.write(out),
                None => out.extend_from_slice(b"null"),
            }
        }
    }
}

/// A time as [`Time::rfc3339`] writes it, kept on the stack.
struct Stamp {
    buf: [u8; Stamp::CAPACITY],
    len: usize,
}

impl Stamp {
    /// `YYYY-MM-DDTHH:MM:SSZ` is 20 bytes.
    const CAPACITY: usize = 32;

    fn of(t: Time) -> Self {
        let mut stamp = Stamp {
            buf: [0; Self::CAPACITY],
            len: 0,
        };
        let formatted = humantime::format_rfc3339_seconds(t.to_system_time());
        if write!(stamp, "{formatted}").is_err() {
            // humantime refuses years past 9999 (where `Time::rfc3339` panics); nothing
            // else fails to fit.
            stamp.len = 0;
        }
        stamp
    }

    /// As a JSON string: digits, `-`, `:`, `T` and `Z` need no escaping.
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        out.extend_from_slice(self.buf.get(..self.len).unwrap_or_default());
        out.push(b'"');
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

/// The provider view.
pub fn provider_view(s: &ProviderSnapshot) -> Value {
    let now = Time::now();
    let known: Vec<RequestContext> = s
        .state
        .view_known(&s.settings, now)
        .into_iter()
        .map(RequestContext::from)
        .collect();
    let acquired = s
        .state
        .view_acquired(&s.settings, now)
        .map(RequestContext::from);
    let lease = &s.settings;
    json!({
        "last_updated_at": s.state.last_updated_at.rfc3339(),
        "paused": s.state.paused,
        "acquired": acquired,
        "known": known,
        "waiting": s.waiting,
        "last_fencing_token": s.state.last_fencing_token,
        "config": {
            "stabilize_duration": lease.stabilisation_window.as_secs(),
            "ttl": lease.ttl.as_secs(),
            "expected_request_count": lease.expected_build_count,
            "delay_assignment_count": lease.delay_assignment_count,
            "lease_timeout": lease.lease_timeout.as_secs(),
            "silent_holder_timeout": lease.silent_holder_timeout.as_secs(),
        },
    })
}

pub fn event_view(e: &Event) -> Value {
    let mut v = json!({ "at": e.at.rfc3339(), "kind": e.kind.as_str() });
    if let Some(sha) = &e.head_sha {
        v["head_sha"] = json!(sha.as_str());
    }
    if let Some(p) = e.priority {
        v["priority"] = json!(p.get());
    }
    if let Some(t) = e.fencing_token {
        v["fencing_token"] = json!(t);
    }
    if let Some(ms) = e.waited_ms {
        v["waited_ms"] = json!(ms);
    }
    if let Some(n) = e.batch_size {
        v["batch_size"] = json!(n);
    }
    if let Some(reason) = &e.reason {
        v["reason"] = json!(reason);
    }
    if let Some(by) = &e.by {
        v["by"] = json!(by);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{HeadRef, HeadSha, Priority, Request};

    fn answer(status: Status, head_ref: Option<&str>) -> Answer {
        let request = Request {
            head_sha: HeadSha::parse(&"a".repeat(40)).unwrap(),
            head_ref: head_ref.and_then(|r| HeadRef::parse(r).unwrap()),
            priority: Priority::parse(4).unwrap(),
            status,
            registered_at: Time(1_700_000_000_000),
            last_seen: Time(1_700_000_090_000),
            last_seen_at: Time(1_700_000_060_000),
            times_found_winner: 0,
        };
        Answer::of(request, Some(7))
    }

    /// Every shape an acquire or release answer takes: held (with and without an expiry,
    /// with stacked pull requests), pending for each reason, finished.
    fn answers() -> Vec<Answer> {
        let held = Answer {
            stacked_pull_requests: Some(vec![3, 12]),
            acquired_at: Some(Time(1_700_000_030_000)),
            lease_expires_at: Some(Time(1_700_000_630_000)),
            ..answer(
                Status::Acquired,
                Some("gh-readonly-queue/main/pr-12-\"quoted\"\\x"),
            )
        };
        let held_forever = Answer {
            stacked_pull_requests: Some(vec![]),
            acquired_at: Some(Time(1_700_000_030_000)),
            lease_expires_at: None,
            ..answer(Status::Acquired, None)
        };
        let holder = HolderInfo {
            head_sha: HeadSha::parse("b1").unwrap(),
            priority: Priority::parse(9).unwrap(),
            status: Status::Acquired,
            since: Time(1_700_000_010_000),
            silent_since_grant: true,
        };
        let waiting = [
            Waiting::Paused,
            Waiting::LeaseHeld { holder },
            Waiting::Stabilising {
                known: 2,
                expected: 4,
                window_ends_at: Time(1_700_000_100_000),
            },
            Waiting::HigherPriority {
                highest_priority: Priority::parse(5).unwrap(),
            },
            Waiting::Confirming {
                confirmations_left: 1,
            },
        ];
        let pending = waiting.into_iter().map(|w| Answer {
            waiting: Some(w),
            // Not a holder: neither the token nor the lease's times are shown.
            acquired_at: Some(Time(1_700_000_030_000)),
            stacked_pull_requests: Some(vec![1]),
            ..answer(Status::Pending, Some("refs/heads/main"))
        });
        let finished = [Status::Success, Status::Failure, Status::Completed].map(|s| Answer {
            // Only a pending answer says why it waits.
            waiting: Some(Waiting::Paused),
            ..answer(s, None)
        });
        let mut all = vec![held, held_forever];
        all.extend(pending);
        all.extend(finished);
        all
    }

    #[test]
    fn the_answer_body_is_the_request_context_byte_for_byte() {
        for a in answers() {
            let expected = serde_json::to_string(&RequestContext::from(a.clone())).unwrap();
            let written = String::from_utf8(answer_body(&a).unwrap()).unwrap();
            assert_eq!(written, expected, "for {a:?}");
        }
    }
}
