//! What the status pages show, computed from a provider snapshot (the same one the JSON
//! views are made of) and its JSON view, at a given `now`. Pure: no I/O, no clock.
//!
//! Typed state (holder, runs, settings) comes from the snapshot. Fields that only the
//! wire view carries (`paused`, a run's `waiting.reason`) are read from `provider_view`,
//! so a field added to the JSON view appears here by adding one lookup.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::Value;

use crate::domain::{ProviderKey, Request, Status, Time};
use crate::service::ProviderSnapshot;

/// Characters escaped in one path segment of a link (everything but unreserved ones).
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']')
    .add(b'\'')
    .add(b'&')
    .add(b'+')
    .add(b';')
    .add(b'=');

fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// `/owner/repo/base_ref` with every part percent-encoded; the slashes of `base_ref`
/// stay raw (the routes accept both), so the address stays readable.
pub fn api_path(key: &ProviderKey) -> String {
    let base: Vec<String> = key.base_ref().split('/').map(seg).collect();
    format!(
        "/{}/{}/{}",
        seg(key.owner()),
        seg(key.repo()),
        base.join("/")
    )
}

/// Where a round stands, as one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundState {
    /// Nobody registered.
    Idle,
    /// Runs registered, nobody holds the lease yet.
    Stabilising,
    /// A run holds the lease.
    Held,
    /// The holder released `success`; the others are being told `completed`.
    Completed,
    /// The holder failed; the rest compete again.
    Reelecting,
}

impl RoundState {
    pub fn of(snap: &ProviderSnapshot) -> Self {
        let state = &snap.state;
        match state.holder_request().map(|(r, _)| r.status) {
            Some(Status::Acquired) => RoundState::Held,
            Some(Status::Completed | Status::Success) => RoundState::Completed,
            Some(Status::Failure | Status::Pending) => RoundState::Reelecting,
            None if state.requests.is_empty() => RoundState::Idle,
            None => RoundState::Stabilising,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RoundState::Idle => "idle",
            RoundState::Stabilising => "stabilising",
            RoundState::Held => "held",
            RoundState::Completed => "completed",
            RoundState::Reelecting => "re-electing",
        }
    }
}

/// A short human duration: `45s`, `3m 05s`, `2h 04m`, `3d 02h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A moment, as RFC 3339 (for `title` and `<time datetime>`) and as "… ago".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    pub rfc3339: String,
    pub ago: String,
}

impl Moment {
    pub fn new(at: Time, now: Time) -> Self {
        Self {
            rfc3339: at.rfc3339(),
            ago: human(now.since(at)),
        }
    }
}

/// One run of a round, as a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub head_sha: String,
    pub short_sha: String,
    pub head_ref: Option<String>,
    pub priority: i64,
    pub status: &'static str,
    /// PR number and its GitHub address, from a `…/pr-<n>-<sha>` head_ref.
    pub pr: Option<(u64, String)>,
    pub first_seen: Moment,
    pub last_seen: Moment,
    /// Why it waits, when the view says (`waiting.reason`).
    pub waiting_reason: Option<String>,
}

fn short(sha: &str) -> String {
    sha.chars().take(10).collect()
}

/// `https://github.com/{owner}/{repo}/pull/{n}` (owner and repo percent-encoded).
pub fn pull_request_url(key: &ProviderKey, number: u64) -> String {
    format!(
        "https://github.com/{}/{}/pull/{number}",
        seg(key.owner()),
        seg(key.repo())
    )
}

/// The context of `sha` in the view's `known` list.
fn known_entry<'v>(view: &'v Value, sha: &str) -> Option<&'v Value> {
    view.get("known")?
        .as_array()?
        .iter()
        .find(|k| k.pointer("/request/head_sha").and_then(Value::as_str) == Some(sha))
}

/// A field of a request context, on the context or inside its `request`.
fn context_field<'v>(entry: &'v Value, pointer: &str) -> Option<&'v Value> {
    entry
        .pointer(pointer)
        .or_else(|| entry.get("request")?.pointer(pointer))
        .filter(|v| !v.is_null())
}

fn run(key: &ProviderKey, r: &Request, view: &Value, now: Time) -> Run {
    let sha = r.head_sha.as_str();
    let entry = known_entry(view, sha);
    Run {
        head_sha: sha.to_owned(),
        short_sha: short(sha),
        head_ref: r.head_ref.as_ref().map(|h| h.as_str().to_owned()),
        priority: r.priority.get(),
        status: r.status.as_str(),
        pr: r
            .head_ref
            .as_ref()
            .and_then(|h| h.pull_request_number())
            .map(|n| (n, pull_request_url(key, n))),
        first_seen: Moment::new(r.registered_at, now),
        last_seen: Moment::new(r.last_seen, now),
        waiting_reason: entry
            .and_then(|e| context_field(e, "/waiting/reason"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

/// `paused` of the view: `Some` only once the service reports it.
fn paused(view: &Value) -> Option<bool> {
    view.get("paused").and_then(Value::as_bool)
}

/// The holder of a round: its run and its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderView {
    pub run: Run,
    pub fencing_token: u64,
    pub since: Moment,
    /// Time left before the lease times out (`None` when no timeout applies to the holder
    /// or it has already released).
    pub expires_in: Option<String>,
    /// A live holder that has not called acquire since its grant (docs/rules.md §13): it keeps the
    /// lease until it releases or an admin revokes it, unless `silent_holder_timeout` is set.
    pub silent: bool,
}

/// The stabilisation window of a round nobody holds yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    /// Counting down: time left, and when it ends.
    Open { left: String, ends_at: String },
    /// The window is over; the highest priority wins when it next asks.
    Over,
    /// `expected_build_count` runs are known: no need to wait for the window.
    CountReached,
}

/// One history event: kind, when, and its other fields as `name value` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub kind: String,
    pub at: String,
    pub details: Vec<(String, String)>,
}

/// Rows from `/events`-shaped JSON (`event_view`), so fields added there show up here.
pub fn event_rows(events: &[Value]) -> Vec<EventRow> {
    events
        .iter()
        .map(|e| {
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let details = e
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| k.as_str() != "kind" && k.as_str() != "at")
                        .map(|(k, v)| (k.clone(), text(v)))
                        .collect()
                })
                .unwrap_or_default();
            EventRow {
                kind: e.get("kind").map(text).unwrap_or_default(),
                at: e.get("at").map(text).unwrap_or_default(),
                details,
            }
        })
        .collect()
}

/// A queue on the overview page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub key: String,
    pub href: String,
    pub state: &'static str,
    pub window: Option<Window>,
    pub holder: Option<HolderView>,
    /// Runs of the round other than the holder.
    pub waiting: usize,
    pub paused: Option<bool>,
}

/// A queue on its own page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDetail {
    pub key: String,
    pub owner: String,
    pub repo: String,
    pub base_ref: String,
    pub repo_url: String,
    /// `/owner/repo/base_ref`: where the API routes of this queue live.
    pub api_path: String,
    pub state: &'static str,
    pub paused: Option<bool>,
    pub holder: Option<HolderView>,
    /// Runs other than the holder, highest priority first.
    pub others: Vec<Run>,
    pub window: Option<Window>,
    pub known: usize,
    pub expected: u32,
    pub last_fencing_token: u64,
    pub last_updated: Moment,
    pub settings: Vec<(&'static str, String)>,
}

fn holder_view(snap: &ProviderSnapshot, view: &Value, now: Time) -> Option<HolderView> {
    let state = &snap.state;
    let holder = state.holder.as_ref()?;
    let (request, token) = state.holder_request()?;
    let live = request.status == Status::Acquired;
    let expires_in = snap
        .settings
        .holder_timeout(holder.heard_since_grant)
        .filter(|_| live)
        .map(|timeout| human(state.holder_seen.plus(timeout).since(now)));
    Some(HolderView {
        run: run(&snap.key, request, view, now),
        fencing_token: token,
        since: Moment::new(holder.granted_at, now),
        expires_in,
        silent: live && !holder.heard_since_grant,
    })
}

/// The stabilisation window, while a round has runs and no holder.
fn window(snap: &ProviderSnapshot, round: RoundState, now: Time) -> Option<Window> {
    let state = &snap.state;
    let settings = &snap.settings;
    (round == RoundState::Stabilising).then(|| {
        let ends = state.last_updated_at.plus(settings.stabilisation_window);
        let known = u32::try_from(state.requests.len()).unwrap_or(u32::MAX);
        if known >= settings.expected_build_count {
            Window::CountReached
        } else if ends <= now {
            Window::Over
        } else {
            Window::Open {
                left: human(ends.since(now)),
                ends_at: ends.rfc3339(),
            }
        }
    })
}

pub fn queue_row(snap: &ProviderSnapshot, view: &Value, now: Time) -> QueueRow {
    let holder = holder_view(snap, view, now);
    let holder_sha = holder.as_ref().map(|h| h.run.head_sha.clone());
    let round = RoundState::of(snap);
    QueueRow {
        key: snap.key.to_string(),
        href: format!("/ui{}", api_path(&snap.key)),
        state: round.as_str(),
        window: window(snap, round, now),
        waiting: snap
            .state
            .requests
            .iter()
            .filter(|r| Some(r.head_sha.as_str()) != holder_sha.as_deref())
            .count(),
        holder,
        paused: paused(view),
    }
}

pub fn queue_detail(snap: &ProviderSnapshot, view: &Value, now: Time) -> QueueDetail {
    let key = &snap.key;
    let state = &snap.state;
    let settings = &snap.settings;
    let round = RoundState::of(snap);
    let holder = holder_view(snap, view, now);
    let holder_sha = holder.as_ref().map(|h| h.run.head_sha.clone());
    let mut others: Vec<Run> = state
        .requests
        .iter()
        .filter(|r| Some(r.head_sha.as_str()) != holder_sha.as_deref())
        .map(|r| run(key, r, view, now))
        .collect();
    others.sort_by_key(|r| std::cmp::Reverse(r.priority));
    let known = state.requests.len();
    let window = window(snap, round, now);
    let off = |d: Duration| {
        if d.is_zero() {
            "off".to_owned()
        } else {
            human(d)
        }
    };
    QueueDetail {
        key: key.to_string(),
        owner: key.owner().to_owned(),
        repo: key.repo().to_owned(),
        base_ref: key.base_ref().to_owned(),
        repo_url: format!(
            "https://github.com/{}/{}",
            seg(key.owner()),
            seg(key.repo())
        ),
        api_path: api_path(key),
        state: round.as_str(),
        paused: paused(view),
        holder,
        others,
        window,
        known,
        expected: settings.expected_build_count,
        last_fencing_token: state.last_fencing_token,
        last_updated: Moment::new(state.last_updated_at, now),
        settings: vec![
            ("stabilisation window", human(settings.stabilisation_window)),
            ("ttl", human(settings.ttl)),
            (
                "expected build count",
                settings.expected_build_count.to_string(),
            ),
            (
                "delay assignment count",
                settings.delay_assignment_count.to_string(),
            ),
            ("lease timeout", off(settings.lease_timeout)),
            ("silent holder timeout", off(settings.silent_holder_timeout)),
        ],
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
