//! Wire shapes (SPEC §4). Request bodies keep raw types and ignore unknown fields;
//! validation happens in the handler.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actors::ProviderSnapshot;
use crate::domain::{Answer, Event};

#[derive(Debug, Deserialize)]
pub struct AcquireBody {
    pub head_sha: String,
    #[serde(default)]
    pub head_ref: Option<String>,
    pub priority: i64,
}

#[derive(Debug, Deserialize)]
pub struct ReleaseBody {
    pub head_sha: String,
    pub status: String,
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub fencing_token: Option<u64>,
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
}

impl From<Answer> for RequestContext {
    fn from(a: Answer) -> Self {
        let holding = a.request.status == crate::domain::Status::Acquired;
        let fencing_token = a.fencing_token.filter(|_| holding);
        RequestContext {
            request: RequestView {
                head_sha: a.request.head_sha.to_string(),
                head_ref: a.request.head_ref.as_ref().map(|r| r.as_str().to_owned()),
                priority: a.request.priority.get(),
                status: a.request.status.as_str(),
                fencing_token,
            },
            stacked_pull_requests: a.stacked_pull_requests.filter(|_| holding).map(|prs| {
                prs.into_iter()
                    .map(|number| PullRequest { number })
                    .collect()
            }),
            fencing_token,
        }
    }
}

/// The provider view.
pub fn provider_view(s: &ProviderSnapshot) -> Value {
    let known: Vec<RequestContext> = s
        .state
        .known_by_priority()
        .into_iter()
        .map(RequestContext::from)
        .collect();
    let acquired = s.state.acquired().map(RequestContext::from);
    let lease = &s.settings;
    json!({
        "last_updated_at": s.state.last_updated_at.rfc3339(),
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
    v
}
