//! Parked long-poll callers of one provider: held until their status changes or their
//! wait ends. Owned by the `ProviderActor`; a caller that hung up is dropped here, in one
//! place ([`Waiters::forget_gone`]), whichever message notices it first.

use super::messages::Reply;
use super::ServiceError;
use crate::domain::{
    AcquireRequest, Answer, Event, HeadSha, LeaseError, LeaseSettings, ProviderState, Time,
};

/// A long-poll caller held until its status changes or its wait ends.
pub(super) struct Waiter {
    pub call: AcquireRequest,
    pub deadline: Time,
    pub reply: Reply<Answer>,
}

/// An answer for a parked caller, to send once the change is on disk.
pub(super) type WaiterAnswer = (Reply<Answer>, Result<Answer, ServiceError>);

#[derive(Default)]
pub(super) struct Waiters(Vec<Waiter>);

impl Waiters {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn park(&mut self, waiter: Waiter) {
        self.0.push(waiter);
    }

    /// Drops callers whose request has ended (the client went away, or its HTTP request was
    /// answered some other way); true if any were dropped.
    pub fn forget_gone(&mut self) -> bool {
        let before = self.0.len();
        self.0.retain(|w| !w.reply.is_closed());
        self.0.len() != before
    }

    /// Takes out the parked calls of the run `sha` (a newer call supersedes them).
    pub fn take_run(&mut self, sha: &HeadSha) -> Vec<Waiter> {
        let (same, rest) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|w| w.call.head_sha == *sha);
        self.0 = rest;
        same
    }

    /// Takes out every parked caller.
    pub fn take_all(&mut self) -> Vec<Waiter> {
        std::mem::take(&mut self.0)
    }

    /// The earliest moment a parked caller's wait ends.
    pub fn next_deadline(&self) -> Option<Time> {
        self.0.iter().map(|w| w.deadline).min()
    }

    /// Runs the rules for the parked callers on `next` (gone callers first dropped): the ones
    /// whose status changed, and the ones whose wait is over, are taken out with their answers.
    pub fn settle(
        &mut self,
        next: &mut ProviderState,
        settings: &LeaseSettings,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Vec<WaiterAnswer> {
        // Callers that hung up are not asking any more (rule 6).
        self.forget_gone();
        let calls: Vec<AcquireRequest> = self.0.iter().map(|w| w.call.clone()).collect();
        let answers = next.settle(settings, &calls, now, events);
        let mut out = Vec::new();
        let mut still = Vec::with_capacity(self.0.len());
        for (w, answer) in std::mem::take(&mut self.0).into_iter().zip(answers) {
            match answer {
                Some(result) => out.push((w.reply, result.map_err(ServiceError::from))),
                None if w.deadline <= now => {
                    let answer = current_answer(next, settings, &w.call, now);
                    out.push((w.reply, answer));
                }
                None => still.push(w),
            }
        }
        self.0 = still;
        out
    }
}

/// A waiter's answer when its wait ends while it is still pending (it says why it waits).
pub(super) fn current_answer(
    state: &ProviderState,
    settings: &LeaseSettings,
    call: &AcquireRequest,
    now: Time,
) -> Result<Answer, ServiceError> {
    state
        .answer_for(settings, &call.head_sha, now)
        .ok_or(ServiceError::Lease(LeaseError::Conflict(
            "the request is no longer known, retry".into(),
        )))
}
