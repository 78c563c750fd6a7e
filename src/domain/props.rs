//! Property tests: random sequences of acquire / release / wait / clock moves, checking
//! the invariants of SPEC §3 after every step.

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
    )
        .prop_map(|(window, ttl, expected, delay, lease)| LeaseSettings {
            stabilisation_window: Duration::from_secs(window),
            ttl: Duration::from_secs(ttl),
            expected_build_count: expected,
            delay_assignment_count: delay,
            lease_timeout: Duration::from_secs(lease),
        })
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
        let (answers, _) = self
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
            if w.settings.lease_timeout.is_zero() { return Ok(()); }
            w.settings.lease_timeout.max(w.settings.ttl)
        } else {
            w.settings.ttl
        };
        let deadline = w.last_call.max(w.now).plus(quiet);
        let mut events = Vec::new();
        // Drive the provider's own timer as the actor would, never past the deadline.
        let mut next = w.state.tick(&w.settings, w.now, &mut events);
        while let Some(t) = next.filter(|t| *t <= deadline) {
            next = w.state.tick(&w.settings, t.max(w.now), &mut events);
            if next == Some(t) { break; }
        }
        w.state.tick(&w.settings, deadline, &mut events);
        prop_assert!(w.state.is_idle(), "not idle {:?} after the last call: {:?}", quiet, w.state);
    }
}
