//! Every message the actors understand. Replies travel inside the message so a provider
//! can answer later (a parked long-poll) and can see a caller that has gone.

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::provider::{ProviderAddr, ProviderSnapshot};
use super::ServiceError;
use crate::domain::{AcquireRequest, Answer, HeadSha, Outcome, ProviderKey};

/// Where a provider sends its answer.
pub type Reply<T> = oneshot::Sender<Result<T, ServiceError>>;

/// A run asks for the lease; with a `wait`, a `pending` answer is held until the status
/// changes or the wait ends.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Acquire {
    pub call: AcquireRequest,
    pub wait: Duration,
    pub reply: Reply<Answer>,
}

/// The holder ends its lease.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release {
    pub head_sha: HeadSha,
    pub outcome: Outcome,
    pub fencing_token: Option<u64>,
    pub reply: Reply<Answer>,
}

/// Admin: drop the provider's state (durably) and answer the view after clearing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Clear {
    pub reply: Reply<ProviderSnapshot>,
}

/// A copy of the provider's state for the views.
#[derive(Message)]
#[rtype(result = "ProviderSnapshot")]
pub struct Snapshot;

/// A parked caller's HTTP request ended: forget callers that are gone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Hangup;

/// Admin: end the holder's live lease as a `failure` (re-election at once); answers the
/// view after the change, or 409 when no live lease is held.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RevokeLease {
    pub reason: Option<String>,
    /// Who asked (for the history and the log).
    pub by: String,
    pub reply: Reply<ProviderSnapshot>,
}

/// Admin: stop (`paused: true`) or allow again (`false`) grants; answers the view.
/// Idempotent.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetPaused {
    pub paused: bool,
    pub by: String,
    pub reply: Reply<ProviderSnapshot>,
}

/// Undo a grant whose answer could not be delivered.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Revoke {
    pub head_sha: HeadSha,
}

/// Find the provider for `key`; `create` (only `acquire` sets it) starts one if the
/// configuration allows it.
#[derive(Message)]
#[rtype(result = "Result<ProviderAddr, ServiceError>")]
pub struct Lookup {
    pub key: ProviderKey,
    pub create: bool,
}

/// Every provider the registry serves, ordered by key.
#[derive(Message)]
#[rtype(result = "Vec<(ProviderKey, ProviderAddr)>")]
pub struct ListProviders;

/// Shutting down: answer every parked long-poll caller now (with its current status).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain;

/// This replica no longer owns the state (several replicas): answer every parked caller
/// 503 with `reason` and stop, so nothing is ever answered from state another replica
/// may have changed since.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Abdicate {
    pub reason: String,
}
