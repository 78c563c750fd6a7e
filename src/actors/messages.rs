//! Every message a provider understands. Replies travel inside the message so a provider
//! can answer later (a parked long-poll) and can see a caller that has gone.

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::ServiceError;
use crate::domain::{
    AcquireRequest, Answer, HeadSha, LeaseSettings, Outcome, ProviderKey, ProviderState,
};

/// What the views need of a provider: the answer to [`Snapshot`] and the admin changes.
#[derive(Debug, Clone)]
pub struct ProviderSnapshot {
    pub key: ProviderKey,
    pub settings: LeaseSettings,
    pub state: ProviderState,
    /// Long-poll callers currently held open.
    pub waiting: usize,
}

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
