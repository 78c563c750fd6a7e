//! `ProviderActor`: owns one merge queue's lease state, its parked long-poll callers and
//! its timer. Every change is computed on a copy by the pure rules, saved, and only then
//! made current and answered.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use log::{info, warn};

use super::messages::{
    Abdicate, Acquire, Clear, Drain, ProviderSnapshot, Release, Reply, RevokeLease, SetPaused,
    Snapshot,
};
use super::waiter::{current_answer, Waiter, Waiters};
use super::ServiceError;
use crate::domain::{Answer, Event, LeaseSettings, ProviderKey, ProviderState, Status, Time};
use crate::health::Readiness;
use crate::metrics::{LeaseMetrics, ProviderMetrics};
use crate::store::{Journal, Store, StoreError};

mod handlers;
pub mod hangup;

/// How everyone else holds a provider: one address shared by the registry, the directory
/// and each call, so keeping or copying it allocates nothing (an `Addr` clone is a new
/// sender with its own allocation).
pub type ProviderAddr = Arc<Addr<ProviderActor>>;

/// An answer to send once the change that produced it is on disk.
enum Outgoing {
    Lease(Reply<Answer>, Result<Answer, ServiceError>),
    View(Reply<ProviderSnapshot>),
}

impl Outgoing {
    /// The change was not saved: the caller gets `error` instead of its answer.
    fn refuse(self, error: ServiceError) {
        // A caller that has gone cannot be told; nothing else to do.
        match self {
            Outgoing::Lease(reply, _) => drop(reply.send(Err(error))),
            Outgoing::View(reply) => drop(reply.send(Err(error))),
        }
    }
}

/// Everything a provider starts from: fresh, or as loaded from the store.
pub struct ProviderInit {
    pub key: ProviderKey,
    /// Shared by the providers with the same settings (the registry sees to it).
    pub settings: Arc<LeaseSettings>,
    pub state: ProviderState,
    /// Event numbering and whether `state` is what the store holds.
    pub journal: Journal,
}

pub struct ProviderActor {
    key: ProviderKey,
    settings: Arc<LeaseSettings>,
    state: ProviderState,
    journal: Journal,
    parked: Waiters,
    /// The armed timer and when it fires.
    timer: Option<(SpawnHandle, Time)>,
    store: Store,
    metrics: ProviderMetrics,
    readiness: Arc<Readiness>,
}

impl Actor for ProviderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Mailbox capacity: the HTTP workers use `send`, which waits when it is full.
        ctx.set_mailbox_capacity(4096);
        self.publish_gauges();
        self.schedule_housekeeping(ctx, Time::now());
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.metrics.forget(&self.key);
    }
}

impl ProviderActor {
    pub fn new(
        init: ProviderInit,
        store: Store,
        metrics: LeaseMetrics,
        readiness: Arc<Readiness>,
    ) -> Self {
        Self {
            metrics: metrics.provider(&init.key),
            key: init.key,
            settings: init.settings,
            state: init.state,
            journal: init.journal,
            parked: Waiters::default(),
            timer: None,
            store,
            readiness,
        }
    }

    fn snapshot(&self, state: &ProviderState) -> ProviderSnapshot {
        ProviderSnapshot {
            key: self.key.clone(),
            settings: LeaseSettings::clone(&self.settings),
            state: state.clone(),
            waiting: self.parked.len(),
        }
    }

    /// Every change to this provider goes through here, whatever made it (a message, or
    /// the timer's [`housekeeping`](Self::housekeeping)): housekeeping and the parked
    /// callers' answers are run on `next`, it is saved if it differs from what is on disk,
    /// then made current and answered.
    fn apply_change(
        &mut self,
        mut next: ProviderState,
        mut events: Vec<Event>,
        mut out: Vec<Outgoing>,
        now: Time,
        ctx: &mut Context<Self>,
    ) {
        // Housekeeping (`ProviderState::housekeep`: lease expiry, TTL eviction, end of
        // round), then each parked caller asks again; those with an answer are taken out.
        let settled = self
            .parked
            .settle(&mut next, &self.settings, now, &mut events);
        out.extend(
            settled
                .into_iter()
                .map(|(reply, a)| Outgoing::Lease(reply, a)),
        );
        if self.journal.needs_write(&self.state, &next, &events) {
            self.persist(next, events, out, now, ctx);
        } else {
            self.state = next;
            self.deliver(out, ctx, now);
        }
    }

    /// Saves `next` with its events; `wait` pauses only this provider's mailbox and timers
    /// until the write is done, so nobody sees (or is answered from) state not on disk yet.
    fn persist(
        &mut self,
        mut next: ProviderState,
        events: Vec<Event>,
        out: Vec<Outgoing>,
        now: Time,
        ctx: &mut Context<Self>,
    ) {
        // A write happens anyway: the runs' last-seen times go with it (a plain poll
        // alone does not cause a write).
        next.stamp_seen();
        let op = self
            .journal
            .prepare(&self.key, &self.settings, &next, &events);
        let pending = self.store.commit(vec![op]);
        ctx.wait(
            async move { pending.await.unwrap_or(Err(StoreError::Closed)) }
                .into_actor(self)
                .map(move |saved, act, ctx| match saved {
                    Ok(()) => act.on_saved(next, events, out, now, ctx),
                    Err(e) => act.on_failed(&e, out, now, ctx),
                }),
        );
    }

    /// The change is on disk: make it current, log and count it, answer.
    fn on_saved(
        &mut self,
        next: ProviderState,
        events: Vec<Event>,
        out: Vec<Outgoing>,
        now: Time,
        ctx: &mut Context<Self>,
    ) {
        self.state = next;
        self.readiness.store_succeeded();
        self.metrics.observe(&self.key, &self.settings, &events);
        self.journal.saved(events);
        self.deliver(out, ctx, now);
    }

    /// The change was not saved: keep the old state, answer 503, report not-ready.
    fn on_failed(
        &mut self,
        e: &StoreError,
        out: Vec<Outgoing>,
        now: Time,
        ctx: &mut Context<Self>,
    ) {
        warn!("{}: state change not saved, answering 503: {e}", self.key);
        self.metrics.store_failed();
        self.readiness.store_failed();
        for o in out {
            o.refuse(ServiceError::Unavailable(e.to_string()));
        }
        self.publish_gauges();
        self.schedule_housekeeping(ctx, now);
    }

    /// A change by one message: applied by `f` to a copy of the state at `now`, then
    /// [applied](Self::apply_change) with the answers it produced.
    fn change(
        &mut self,
        ctx: &mut Context<Self>,
        f: impl FnOnce(&mut ProviderState, Time, &mut Vec<Event>) -> Vec<Outgoing>,
    ) {
        let now = Time::now();
        let mut next = self.state.clone();
        let mut events = Vec::new();
        let out = f(&mut next, now, &mut events);
        self.apply_change(next, events, out, now, ctx);
    }

    /// Send the answers of a saved change; a grant whose caller has gone is undone
    /// ([`hangup`]).
    fn deliver(&mut self, out: Vec<Outgoing>, ctx: &mut Context<Self>, now: Time) {
        for o in out {
            match o {
                Outgoing::Lease(reply, result) => self.send_lease_answer(reply, result, ctx),
                Outgoing::View(reply) => {
                    let _ = reply.send(Ok(self.snapshot(&self.state)));
                }
            }
        }
        self.publish_gauges();
        self.schedule_housekeeping(ctx, now);
    }

    /// The timer: armed for the earliest moment [`housekeeping`](Self::housekeeping) has
    /// something to do without a call (a lease or a run's TTL ends, a stabilisation window
    /// ends, a parked caller's wait ends). A timer already armed for that moment or earlier
    /// is kept: firing early only re-checks and re-arms, and a holder's every poll (which
    /// moves its lease deadline later) then costs no timer of its own.
    fn schedule_housekeeping(&mut self, ctx: &mut Context<Self>, now: Time) {
        let Some(deadline) = self
            .state
            .next_deadline(&self.settings, now)
            .into_iter()
            .chain(self.parked.next_deadline())
            .min()
        else {
            return;
        };
        if let Some((handle, armed_for)) = self.timer {
            if armed_for <= deadline {
                return;
            }
            ctx.cancel_future(handle);
        }
        // A millisecond of slack so the deadline has surely passed when the timer fires.
        let delay = deadline.since(now) + Duration::from_millis(1);
        let handle = ctx.run_later(delay, |act, ctx| act.housekeeping(ctx));
        self.timer = Some((handle, deadline));
    }

    /// What the timer does: housekeeping at the current time, as a change no message
    /// asked for (leases and runs whose time is up end, a round whose window ended is
    /// decided, parked callers whose wait ended are answered), then the next timer.
    fn housekeeping(&mut self, ctx: &mut Context<Self>) {
        self.timer = None;
        let unchanged = self.state.clone();
        self.apply_change(unchanged, Vec::new(), Vec::new(), Time::now(), ctx);
    }

    fn publish_gauges(&self) {
        let live = self.state.holder_status() == Some(Status::Acquired);
        let since = self.state.holder.as_ref().filter(|_| live);
        self.metrics.publish(
            self.state.requests.len(),
            since.map(|h| h.granted_at),
            since.is_some_and(|h| !h.heard_since_grant),
            self.parked.len(),
        );
    }
}
