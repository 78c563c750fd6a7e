//! Property tests: random sequences of acquire / release / wait / clock moves, checking
//! the invariants of docs/rules.md §3 after every step.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

const T0: Time = Time(1_767_261_600_000);
const RUNS: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    /// An acquire call; with `park`, a long-poll that stays parked while `pending`
    /// (answered by `settle` when its status changes).
    Acquire {
        run: usize,
        priority: i64,
        park: bool,
    },
    /// A parked caller hangs up.
    Unpark {
        run: usize,
    },
    Release {
        run: usize,
        success: bool,
    },
    /// Time passes and the provider's timer fires (housekeeping plus parked callers).
    Advance {
        secs: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..RUNS, 1i64..5, prop::bool::weighted(1.0 / 3.0))
            .prop_map(|(run, priority, park)| Op::Acquire { run, priority, park }),
        1 => (0..RUNS).prop_map(|run| Op::Unpark { run }),
        2 => (0..RUNS, any::<bool>()).prop_map(|(run, success)| Op::Release { run, success }),
        3 => (0u64..90).prop_map(|secs| Op::Advance { secs }),
    ]
}

fn settings() -> impl Strategy<Value = LeaseSettings> {
    (
        1u64..120,
        5u64..60,
        1u32..5,
        0u32..2,
        prop_oneof![Just(0u64), 30u64..200],
        prop_oneof![Just(0u64), 30u64..200],
    )
        .prop_map(
            |(window, ttl, expected, delay, lease, silent)| LeaseSettings {
                stabilisation_window: Duration::from_secs(window),
                ttl: Duration::from_secs(ttl),
                expected_build_count: expected,
                delay_assignment_count: delay,
                lease_timeout: Duration::from_secs(lease),
                silent_holder_timeout: Duration::from_secs(silent),
            },
        )
}

fn call(run: usize, priority: i64) -> AcquireRequest {
    AcquireRequest {
        head_sha: HeadSha::parse(&format!("sha{run}")).unwrap(),
        head_ref: None,
        priority: Priority::parse(priority).unwrap(),
    }
}

/// The harness keeps what the invariants need to know across steps.
struct World {
    state: ProviderState,
    settings: LeaseSettings,
    parked: Vec<AcquireRequest>,
    now: Time,
    last_call: Time,
    /// The current round saw a success: nobody else may be granted until it ends.
    round_succeeded: bool,
}

impl World {
    fn check_structure(&self) -> Result<(), TestCaseError> {
        let acquired = self
            .state
            .requests
            .iter()
            .filter(|r| r.status == Status::Acquired)
            .count();
        prop_assert!(
            acquired <= 1,
            "more than one holder: {:?}",
            self.state.requests
        );
        if let Some(h) = &self.state.holder {
            prop_assert!(
                self.state.requests.iter().any(|r| r.head_sha == h.head_sha),
                "holder missing from known requests"
            );
        } else {
            prop_assert_eq!(acquired, 0, "a request is acquired with no holder");
        }
        let shas: BTreeSet<_> = self.state.requests.iter().map(|r| &r.head_sha).collect();
        prop_assert_eq!(shas.len(), self.state.requests.len(), "duplicate request");
        Ok(())
    }

    /// The grants made between `before` and now were legal.
    fn check_grants(
        &mut self,
        before: &ProviderState,
        events: &[Event],
        asked: &[AcquireRequest],
    ) -> Result<(), TestCaseError> {
        for e in events {
            match e.kind {
                EventKind::Granted => {
                    prop_assert!(
                        !self.round_succeeded,
                        "granted after a success in the same round"
                    );
                    let sha = e.head_sha.clone().unwrap();
                    prop_assert!(
                        asked.iter().any(|c| c.head_sha == sha),
                        "granted to a run that was not asking"
                    );
                    // Highest among the pending requests as they stood when it asked
                    // (the asking calls may have raised their own priorities).
                    let mut pending: Vec<(HeadSha, Priority)> = before
                        .requests
                        .iter()
                        .filter(|r| r.status == Status::Pending)
                        .map(|r| (r.head_sha.clone(), r.priority))
                        .collect();
                    for c in asked {
                        pending.retain(|(s, _)| s != &c.head_sha);
                        pending.push((c.head_sha.clone(), c.priority));
                    }
                    let still_known: BTreeSet<_> = self
                        .state
                        .requests
                        .iter()
                        .map(|r| r.head_sha.clone())
                        .collect();
                    let max = pending
                        .iter()
                        .filter(|(s, _)| still_known.contains(s))
                        .map(|(_, p)| *p)
                        .max();
                    prop_assert_eq!(e.priority, max, "grant did not go to the highest priority");
                }
                EventKind::ReleasedSuccess => self.round_succeeded = true,
                _ => {}
            }
        }
        if self.state.is_idle() || self.state.holder.is_none() {
            self.round_succeeded = false;
        }
        Ok(())
    }

    fn check_no_join_while_held(
        &self,
        before: &ProviderState,
        sha: &HeadSha,
    ) -> Result<(), TestCaseError> {
        let was_known = before.requests.iter().any(|r| &r.head_sha == sha);
        if before.holder.is_some() && !was_known {
            prop_assert!(
                !self.state.requests.iter().any(|r| &r.head_sha == sha),
                "a new request joined while a holder existed"
            );
        }
        Ok(())
    }

    fn settle(&mut self, events: &mut Vec<Event>) {
        let answers = self
            .state
            .settle(&self.settings, &self.parked, self.now, events);
        let mut keep = Vec::new();
        for (c, a) in self.parked.drain(..).zip(answers) {
            if a.is_none() {
                keep.push(c);
            }
        }
        self.parked = keep;
    }
}

/// Housekeeping as the provider's timer runs it; returns the next deadline.
fn housekeep(w: &mut World, now: Time, events: &mut Vec<Event>) -> Option<Time> {
    w.state.housekeep(&w.settings, now, events);
    w.state.next_deadline(&w.settings, now)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn lease_rules_hold_over_random_sequences(settings in settings(), ops in prop::collection::vec(op(), 1..80)) {
        let mut w = World { state: ProviderState::new(T0), settings, parked: Vec::new(), now: T0, last_call: T0, round_succeeded: false };
        for op in ops {
            let before = w.state.clone();
            let mut events = Vec::new();
            let mut asked = w.parked.clone();
            match op {
                Op::Acquire { run, priority, park } => {
                    let c = call(run, priority);
                    // A newer call from the same run supersedes its older parked one.
                    w.parked.retain(|p| p.head_sha != c.head_sha);
                    asked.retain(|p| p.head_sha != c.head_sha);
                    let answer = w.state.acquire(&w.settings, &c, w.now, &mut events);
                    w.last_call = w.now;
                    w.check_no_join_while_held(&before, &c.head_sha)?;
                    if park && matches!(&answer, Ok(a) if a.request.status == Status::Pending) {
                        w.parked.push(c.clone());
                    }
                    asked.push(c);
                    w.settle(&mut events);
                }
                Op::Unpark { run } => {
                    let sha = call(run, 1).head_sha;
                    w.parked.retain(|c| c.head_sha != sha);
                }
                Op::Release { run, success } => {
                    let outcome = if success { Outcome::Success } else { Outcome::Failure };
                    let _ = w.state.release(&call(run, 1).head_sha, outcome, None, w.now, &mut events);
                    w.last_call = w.now;
                    w.settle(&mut events);
                }
                Op::Advance { secs } => {
                    w.now = w.now.plus(Duration::from_secs(secs));
                    if !w.parked.is_empty() {
                        w.last_call = w.now;
                    }
                    w.settle(&mut events);
                }
            }
            w.check_structure()?;
            w.check_grants(&before, &events, &asked)?;
        }

        // When every run stops calling (parked callers hang up), the provider is idle
        // again within the ttl of the last call, or within the lease timeout if a live
        // holder went silent.
        w.parked.clear();
        let quiet = if w.state.acquired().is_some() {
            let heard = w.state.holder.as_ref().is_some_and(|h| h.heard_since_grant);
            let Some(timeout) = w.settings.holder_timeout(heard) else { return Ok(()); };
            timeout.max(w.settings.ttl)
        } else {
            w.settings.ttl
        };
        let deadline = w.last_call.max(w.now).plus(quiet);
        let mut events = Vec::new();
        // Drive the provider's own timer as the actor would, never past the deadline.
        let start = w.now;
        let mut next = housekeep(&mut w, start, &mut events);
        while let Some(t) = next.filter(|t| *t <= deadline) {
            next = housekeep(&mut w, t.max(start), &mut events);
            if next == Some(t) { break; }
        }
        w.state.housekeep(&w.settings, deadline, &mut events);
        prop_assert!(w.state.is_idle(), "not idle {:?} after the last call: {:?}", quiet, w.state);
    }
}

/// Operations of the §8 property: the lease ops plus the admin controls.
#[derive(Debug, Clone)]
enum AdminOp {
    Lease(Op),
    Pause,
    Resume,
    Revoke,
}

fn admin_op() -> impl Strategy<Value = AdminOp> {
    prop_oneof![
        12 => op().prop_map(AdminOp::Lease),
        1 => Just(AdminOp::Pause),
        1 => Just(AdminOp::Resume),
        1 => Just(AdminOp::Revoke),
    ]
}

/// What a `pending` answer must say, recomputed from the state the answer was given in:
/// exactly one reason, the first that applies in the documented order; a non-pending
/// answer says none.
fn check_waiting(
    state: &ProviderState,
    settings: &LeaseSettings,
    now: Time,
    answer: &Answer,
) -> Result<(), TestCaseError> {
    let r = &answer.request;
    if r.status != Status::Pending {
        prop_assert!(
            answer.waiting.is_none(),
            "{:?} answer says it waits",
            r.status
        );
        return Ok(());
    }
    let Some(waiting) = &answer.waiting else {
        return Err(TestCaseError::fail(format!(
            "pending answer without a reason: {answer:?}"
        )));
    };
    let holder = state.holder_request().map(|(h, _)| h.clone());
    let live_holder = holder.as_ref().filter(|h| h.status != Status::Failure);
    let window_over = now >= state.last_updated_at.plus(settings.stabilisation_window);
    let stable = state.requests.len() >= settings.expected_build_count as usize
        || window_over
        || holder.is_some();
    let highest = state
        .requests
        .iter()
        .filter(|q| q.status == Status::Pending)
        .map(|q| q.priority)
        .max();
    match waiting {
        Waiting::Paused => prop_assert!(state.paused, "told paused while not paused"),
        Waiting::LeaseHeld { holder: h } => {
            prop_assert!(!state.paused, "paused comes first");
            let live =
                live_holder.ok_or_else(|| TestCaseError::fail("lease_held without a holder"))?;
            prop_assert_eq!(&h.head_sha, &live.head_sha);
            prop_assert_ne!(&h.head_sha, &r.head_sha, "a run waits on itself");
        }
        Waiting::Stabilising {
            known, expected, ..
        } => {
            prop_assert!(!state.paused && live_holder.is_none());
            prop_assert!(!stable, "told stabilising once stable");
            prop_assert_eq!(*known, state.requests.len());
            prop_assert_eq!(*expected, settings.expected_build_count);
            prop_assert!(*known < *expected as usize);
        }
        Waiting::HigherPriority { highest_priority } => {
            prop_assert!(!state.paused && live_holder.is_none() && stable);
            prop_assert_eq!(Some(*highest_priority), highest);
            prop_assert!(*highest_priority > r.priority);
        }
        Waiting::Confirming { confirmations_left } => {
            prop_assert!(!state.paused && live_holder.is_none() && stable);
            prop_assert_eq!(Some(r.priority), highest, "confirming but not the highest");
            prop_assert!(
                settings.delay_assignment_count > 0,
                "confirming with no delay"
            );
            prop_assert!(
                *confirmations_left >= 1 && *confirmations_left <= settings.delay_assignment_count
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// docs/rules.md §8: every answer of acquire (direct, or a held long-poll whose wait ends) and
    /// every run in the view says why it waits exactly when it is pending, consistently
    /// with the state; nobody is granted while paused; the other §3 invariants hold with
    /// pause, resume and revoke in the mix.
    #[test]
    fn waiting_reasons_match_the_state_and_pause_stops_every_grant(settings in settings(), ops in prop::collection::vec(admin_op(), 1..80)) {
        let mut w = World { state: ProviderState::new(T0), settings, parked: Vec::new(), now: T0, last_call: T0, round_succeeded: false };
        for op in ops {
            let before = w.state.clone();
            let mut events = Vec::new();
            let mut asked = w.parked.clone();
            match op {
                AdminOp::Lease(Op::Acquire { run, priority, park }) => {
                    let c = call(run, priority);
                    w.parked.retain(|p| p.head_sha != c.head_sha);
                    asked.retain(|p| p.head_sha != c.head_sha);
                    let answer = w.state.acquire(&w.settings, &c, w.now, &mut events);
                    if let Ok(a) = &answer {
                        check_waiting(&w.state, &w.settings, w.now, a)?;
                    }
                    if park && matches!(&answer, Ok(a) if a.request.status == Status::Pending) {
                        w.parked.push(c.clone());
                    }
                    asked.push(c);
                    w.settle(&mut events);
                }
                AdminOp::Lease(Op::Unpark { run }) => {
                    let sha = call(run, 1).head_sha;
                    w.parked.retain(|c| c.head_sha != sha);
                }
                AdminOp::Lease(Op::Release { run, success }) => {
                    let outcome = if success { Outcome::Success } else { Outcome::Failure };
                    let _ = w.state.release(&call(run, 1).head_sha, outcome, None, w.now, &mut events);
                    w.settle(&mut events);
                }
                AdminOp::Lease(Op::Advance { secs }) => {
                    w.now = w.now.plus(Duration::from_secs(secs));
                    w.settle(&mut events);
                }
                AdminOp::Pause | AdminOp::Resume => {
                    w.state.set_paused(matches!(op, AdminOp::Pause), "prop", w.now, &mut events);
                    w.settle(&mut events);
                }
                AdminOp::Revoke => {
                    let live = w.state.acquired().is_some();
                    let revoked = w.state.revoke_lease(None, "prop", w.now, &mut events);
                    prop_assert_eq!(revoked.is_ok(), live, "revoke succeeds exactly when a live lease is held");
                    prop_assert!(w.state.acquired().is_none() || w.state.acquired().map(|a| a.request.head_sha) != revoked.ok().map(|h| h.head_sha));
                    w.settle(&mut events);
                }
            }
            w.check_structure()?;
            w.check_grants(&before, &events, &asked)?;
            if before.paused && w.state.paused {
                prop_assert!(!events.iter().any(|e| e.kind == EventKind::Granted), "granted while paused");
            }
            // A held long-poll still pending (as when its wait ends) says why it waits.
            for c in &w.parked {
                if let Some(a) = w.state.answer_for(&w.settings, &c.head_sha, w.now) {
                    check_waiting(&w.state, &w.settings, w.now, &a)?;
                }
            }
            for a in w.state.view_known(&w.settings, w.now) {
                prop_assert_eq!(a.waiting.is_some(), a.request.status == Status::Pending, "view: {:?}", a);
                if a.request.status == Status::Acquired {
                    prop_assert!(a.acquired_at.is_some());
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// docs/rules.md §13, exclusion before liveness: a holder that has not called since its grant
    /// (a client that may not learn its lease ran out) loses the lease only by its own
    /// release when `silent_holder_timeout` is off, whatever the other runs do and however
    /// long it is silent; with the opt-in, never before that long after its grant. Once it
    /// has called, `lease_timeout` applies as before (the first property covers that).
    #[test]
    fn a_holder_silent_since_its_grant_loses_the_lease_only_as_configured(settings in settings(), ops in prop::collection::vec(op(), 1..80)) {
        let mut w = World { state: ProviderState::new(T0), settings, parked: Vec::new(), now: T0, last_call: T0, round_succeeded: false };
        for op in ops {
            let before = w.state.clone();
            let silent_holder = before
                .acquired()
                .zip(before.holder.clone())
                .filter(|(_, h)| !h.heard_since_grant)
                .map(|(a, h)| (a.request.head_sha, h.granted_at));
            let mut events = Vec::new();
            // Did the silent holder itself call (a sign of life, or its release)?
            let mut holder_called = false;
            match op {
                Op::Acquire { run, priority, park } => {
                    let c = call(run, priority);
                    holder_called = silent_holder.as_ref().is_some_and(|(sha, _)| sha == &c.head_sha);
                    w.parked.retain(|p| p.head_sha != c.head_sha);
                    let answer = w.state.acquire(&w.settings, &c, w.now, &mut events);
                    if park && matches!(&answer, Ok(a) if a.request.status == Status::Pending) {
                        w.parked.push(c.clone());
                    }
                    w.settle(&mut events);
                }
                Op::Unpark { run } => {
                    let sha = call(run, 1).head_sha;
                    w.parked.retain(|c| c.head_sha != sha);
                }
                Op::Release { run, success } => {
                    let sha = call(run, 1).head_sha;
                    holder_called = silent_holder.as_ref().is_some_and(|(h, _)| h == &sha);
                    let outcome = if success { Outcome::Success } else { Outcome::Failure };
                    let _ = w.state.release(&sha, outcome, None, w.now, &mut events);
                    w.settle(&mut events);
                }
                Op::Advance { secs } => {
                    w.now = w.now.plus(Duration::from_secs(secs));
                    w.settle(&mut events);
                }
            }
            w.check_structure()?;
            let Some((sha, granted_at)) = silent_holder else { continue };
            if holder_called {
                continue;
            }
            let still_holds = w.state.acquired().is_some_and(|a| a.request.head_sha == sha);
            if w.settings.silent_holder_timeout.is_zero() {
                prop_assert!(still_holds, "a holder silent since its grant lost the lease without the opt-in: {:?}", events);
            } else if !still_holds {
                prop_assert!(
                    w.now >= granted_at.plus(w.settings.silent_holder_timeout),
                    "the lease was taken {:?} after the grant, before silent_holder_timeout {:?}",
                    w.now.since(granted_at),
                    w.settings.silent_holder_timeout
                );
                prop_assert!(events.iter().any(|e| e.kind == EventKind::LeaseExpired && e.head_sha.as_ref() == Some(&sha)));
            }
        }
    }
}
