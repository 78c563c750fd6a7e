//! Every transition of docs/rules.md §3 and §6 on the pure rules, with an explicit clock.

use std::time::Duration;

use super::*;

pub(super) const T0: Time = Time(1_767_261_600_000);

pub(super) fn at(secs: u64) -> Time {
    T0.plus(Duration::from_secs(secs))
}

pub(super) fn settings() -> LeaseSettings {
    LeaseSettings {
        stabilisation_window: Duration::from_secs(300),
        ttl: Duration::from_secs(30),
        expected_build_count: 3,
        delay_assignment_count: 0,
        lease_timeout: Duration::from_secs(600),
        silent_holder_timeout: Duration::ZERO,
    }
}

fn call(sha: &str, priority: i64) -> AcquireRequest {
    AcquireRequest {
        head_sha: HeadSha::parse(sha).unwrap(),
        head_ref: HeadRef::parse(&format!(
            "gh-readonly-queue/main/pr-{priority}0-abc{priority}"
        ))
        .unwrap(),
        priority: Priority::parse(priority).unwrap(),
    }
}

fn sha(s: &str) -> HeadSha {
    HeadSha::parse(s).unwrap()
}

struct Queue {
    state: ProviderState,
    settings: LeaseSettings,
    events: Vec<Event>,
}

impl Queue {
    fn new() -> Self {
        Self::with(settings())
    }
    fn with(settings: LeaseSettings) -> Self {
        Self {
            state: ProviderState::new(T0),
            settings,
            events: Vec::new(),
        }
    }
    fn acquire(&mut self, sha: &str, priority: i64, now: Time) -> Result<Status, LeaseError> {
        self.acquire_answer(sha, priority, now)
            .map(|a| a.request.status)
    }
    fn acquire_answer(
        &mut self,
        sha: &str,
        priority: i64,
        now: Time,
    ) -> Result<Answer, LeaseError> {
        self.state
            .acquire(&self.settings, &call(sha, priority), now, &mut self.events)
    }
    fn release(&mut self, s: &str, outcome: Outcome, now: Time) -> Result<Status, LeaseError> {
        self.state
            .release(&sha(s), outcome, None, now, &mut self.events)
            .map(|a| a.request.status)
    }
    /// Housekeeping as the provider's timer runs it; returns the next deadline.
    fn tick(&mut self, now: Time) -> Option<Time> {
        self.state.housekeep(&self.settings, now, &mut self.events);
        self.state.next_deadline(&self.settings, now)
    }
    fn kinds(&self) -> Vec<EventKind> {
        self.events.iter().map(|e| e.kind).collect()
    }
}

#[test]
fn first_registrations_are_pending_until_the_expected_count_is_reached() {
    let mut q = Queue::new();
    assert_eq!(q.acquire("a", 1, at(0)), Ok(Status::Pending));
    assert_eq!(q.acquire("b", 2, at(1)), Ok(Status::Pending));
    assert_eq!(q.acquire("c", 3, at(2)), Ok(Status::Acquired));
    assert_eq!(q.state.holder.as_ref().unwrap().head_sha, sha("c"));
}

#[test]
fn a_lower_priority_caller_never_wins_while_a_higher_one_is_known() {
    let mut q = Queue::new();
    q.acquire("c", 3, at(0)).unwrap();
    q.acquire("a", 1, at(1)).unwrap();
    assert_eq!(q.acquire("b", 2, at(2)), Ok(Status::Pending));
    assert_eq!(q.acquire("a", 1, at(3)), Ok(Status::Pending));
    assert_eq!(q.acquire("c", 3, at(4)), Ok(Status::Acquired));
}

#[test]
fn the_highest_priority_wins_once_the_stabilisation_window_has_passed() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0)).unwrap();
    q.acquire("b", 2, at(10)).unwrap();
    assert_eq!(q.acquire("b", 2, at(309)), Ok(Status::Pending));
    assert_eq!(q.acquire("a", 1, at(310)), Ok(Status::Pending));
    assert_eq!(q.acquire("b", 2, at(310)), Ok(Status::Acquired));
}

#[test]
fn a_changed_priority_is_stored_and_restarts_the_stabilisation_window() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0)).unwrap();
    q.acquire("a", 2, at(200)).unwrap();
    assert_eq!(q.state.requests[0].priority, Priority::parse(2).unwrap());
    assert_eq!(q.state.last_updated_at, at(200));
    assert_eq!(q.acquire("a", 2, at(300)), Ok(Status::Pending));
    assert_eq!(q.acquire("a", 2, at(500)), Ok(Status::Acquired));
}

#[test]
fn a_plain_poll_does_not_restart_the_stabilisation_window() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0)).unwrap();
    q.acquire("a", 1, at(100)).unwrap();
    assert_eq!(q.state.last_updated_at, at(0));
}

#[test]
fn the_holder_polling_again_is_answered_acquired() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    assert_eq!(q.acquire("c", 3, at(5)), Ok(Status::Acquired));
    assert_eq!(q.acquire("c", 3, at(6)), Ok(Status::Acquired));
}

#[test]
fn a_new_run_gets_409_while_a_lease_is_held_completed_or_a_failure_is_resolved() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    assert!(matches!(
        q.acquire("new", 9, at(1)),
        Err(LeaseError::Conflict(_))
    ));
    q.release("c", Outcome::Failure, at(2)).unwrap();
    assert!(matches!(
        q.acquire("new", 9, at(3)),
        Err(LeaseError::Conflict(_))
    ));
    assert_eq!(q.acquire("b", 2, at(4)), Ok(Status::Acquired));
    q.release("b", Outcome::Success, at(5)).unwrap();
    assert!(matches!(
        q.acquire("new", 9, at(6)),
        Err(LeaseError::Conflict(_))
    ));
}

#[test]
fn success_tells_every_other_run_completed_and_ends_the_round() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    assert_eq!(
        q.release("c", Outcome::Success, at(1)),
        Ok(Status::Completed)
    );
    assert_eq!(q.acquire("a", 1, at(2)), Ok(Status::Completed));
    assert!(!q.state.is_idle());
    assert_eq!(q.acquire("b", 2, at(3)), Ok(Status::Completed));
    assert!(
        q.state.is_idle(),
        "the completed holder alone must not block the next round"
    );
    assert_eq!(q.acquire("next", 1, at(4)), Ok(Status::Pending));
}

#[test]
fn a_run_told_completed_that_asks_again_is_told_completed_again() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    q.release("c", Outcome::Success, at(1)).unwrap();
    assert_eq!(q.acquire("a", 1, at(2)), Ok(Status::Completed));
    assert_eq!(q.acquire("a", 1, at(3)), Ok(Status::Completed));
    q.acquire("b", 2, at(4)).unwrap();
    assert_eq!(q.acquire("a", 1, at(5)), Ok(Status::Completed));
    assert_eq!(q.acquire("c", 3, at(6)), Ok(Status::Completed));
}

#[test]
fn failure_hands_the_lease_to_the_next_highest_priority_at_once() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    assert_eq!(q.release("c", Outcome::Failure, at(1)), Ok(Status::Failure));
    assert_eq!(q.acquire("a", 1, at(2)), Ok(Status::Pending));
    assert_eq!(q.acquire("b", 2, at(2)), Ok(Status::Acquired));
    assert!(
        q.state.requests.iter().all(|r| r.head_sha != sha("c")),
        "the failed holder is dropped"
    );
}

#[test]
fn re_election_after_failure_needs_no_stabilisation() {
    let mut q = Queue::with(LeaseSettings {
        expected_build_count: 10,
        ..settings()
    });
    q.acquire("a", 1, at(0)).unwrap();
    q.acquire("b", 2, at(0)).unwrap();
    assert_eq!(q.acquire("b", 2, at(300)), Ok(Status::Acquired));
    q.release("b", Outcome::Failure, at(301)).unwrap();
    q.acquire("x", 1, at(301)).unwrap_err();
    assert_eq!(q.acquire("a", 1, at(302)), Ok(Status::Acquired));
}

#[test]
fn a_failed_holder_with_no_one_left_ends_the_round() {
    let mut q = Queue::with(LeaseSettings {
        expected_build_count: 1,
        ..settings()
    });
    assert_eq!(q.acquire("a", 1, at(0)), Ok(Status::Acquired));
    q.release("a", Outcome::Failure, at(1)).unwrap();
    assert!(q.state.is_idle());
    assert_eq!(q.acquire("b", 1, at(2)), Ok(Status::Acquired));
}

#[test]
fn release_by_a_run_that_is_not_the_holder_is_refused() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0)).unwrap();
    assert!(matches!(
        q.release("a", Outcome::Success, at(1)),
        Err(LeaseError::NotHolder { .. })
    ));
    assert!(matches!(
        q.release("zzz", Outcome::Failure, at(1)),
        Err(LeaseError::NotHolder { .. })
    ));
}

#[test]
fn a_repeated_release_with_the_same_outcome_is_answered_the_same_even_after_a_take_over() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    assert_eq!(q.release("c", Outcome::Failure, at(1)), Ok(Status::Failure));
    assert_eq!(q.release("c", Outcome::Failure, at(2)), Ok(Status::Failure));
    q.acquire("b", 2, at(3)).unwrap();
    let before = q.state.clone();
    assert_eq!(q.release("c", Outcome::Failure, at(4)), Ok(Status::Failure));
    assert_eq!(q.state, before, "a repeated release changes nothing");
    assert!(matches!(
        q.release("c", Outcome::Success, at(5)),
        Err(LeaseError::OutcomeMismatch { .. })
    ));
    assert_eq!(
        q.release("b", Outcome::Success, at(6)),
        Ok(Status::Completed)
    );
    assert_eq!(
        q.release("b", Outcome::Success, at(7)),
        Ok(Status::Completed)
    );
    assert!(matches!(
        q.release("b", Outcome::Failure, at(8)),
        Err(LeaseError::OutcomeMismatch { .. })
    ));
}

#[test]
fn a_silent_pending_request_is_evicted_after_the_ttl_but_never_the_holder() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    q.acquire("b", 2, at(20)).unwrap();
    q.tick(at(30));
    let left: Vec<_> = q
        .state
        .requests
        .iter()
        .map(|r| r.head_sha.to_string())
        .collect();
    assert_eq!(left, ["b", "c"]);
    q.tick(at(500));
    assert_eq!(q.state.holder.as_ref().unwrap().head_sha, sha("c"));
    assert!(q.kinds().contains(&EventKind::Evicted));
}

#[test]
fn a_completed_holder_never_heard_from_again_does_not_block_the_next_round() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    q.release("c", Outcome::Success, at(1)).unwrap();
    q.tick(at(31));
    assert!(q.state.is_idle());
    assert_eq!(q.acquire("d", 1, at(32)), Ok(Status::Pending));
}

#[test]
fn the_timer_deadline_is_the_earliest_ttl_or_window_end() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0)).unwrap();
    assert_eq!(q.tick(at(1)), Some(at(30)));
    let q2 = Queue::with(LeaseSettings {
        stabilisation_window: Duration::from_secs(5),
        ..settings()
    });
    let mut q2 = q2;
    q2.acquire("a", 1, at(0)).unwrap();
    assert_eq!(q2.tick(at(1)), Some(at(5)));
    let mut idle = Queue::new();
    assert_eq!(idle.tick(at(1)), None);
}

#[test]
fn delay_assignment_count_holds_the_winner_back_that_many_calls() {
    let mut q = Queue::with(LeaseSettings {
        expected_build_count: 1,
        delay_assignment_count: 2,
        ..settings()
    });
    assert_eq!(q.acquire("a", 1, at(0)), Ok(Status::Pending));
    assert_eq!(q.acquire("a", 1, at(1)), Ok(Status::Pending));
    assert_eq!(q.acquire("a", 1, at(2)), Ok(Status::Acquired));
}

#[test]
fn ties_go_to_the_first_of_the_equals_to_ask() {
    let mut q = Queue::new();
    q.acquire("a", 2, at(0)).unwrap();
    q.acquire("b", 2, at(0)).unwrap();
    q.acquire("c", 1, at(0)).unwrap();
    assert_eq!(q.acquire("b", 2, at(1)), Ok(Status::Acquired));
    assert_eq!(q.acquire("a", 2, at(1)), Ok(Status::Pending));
}

#[test]
fn stacked_pull_requests_lists_prs_at_or_below_the_holder_ascending() {
    let mut q = Queue::new();
    q.acquire("c", 3, at(0)).unwrap();
    q.acquire("a", 1, at(0)).unwrap();
    let answer = q.acquire_answer("b", 2, at(0)).unwrap();
    assert_eq!(
        answer.stacked_pull_requests, None,
        "only an acquired answer lists them"
    );
    let answer = q.acquire_answer("c", 3, at(1)).unwrap();
    assert_eq!(answer.stacked_pull_requests, Some(vec![10, 20, 30]));
    assert_eq!(answer.fencing_token, Some(1));
}

#[test]
fn clear_drops_everything_but_keeps_fencing_tokens_rising() {
    let mut q = Queue::with(LeaseSettings {
        expected_build_count: 1,
        ..settings()
    });
    q.acquire("a", 1, at(0)).unwrap();
    q.state.clear(at(5), &mut q.events);
    assert!(q.state.is_idle());
    assert_eq!(q.state.last_updated_at, at(5));
    let answer = q.acquire_answer("b", 1, at(6)).unwrap();
    assert_eq!(answer.fencing_token, Some(2));
}

#[test]
fn a_silent_holder_loses_the_lease_after_lease_timeout_and_the_next_run_takes_over() {
    let mut q = Queue::with(LeaseSettings {
        lease_timeout: Duration::from_secs(60),
        ..settings()
    });
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    // Its one call after the grant: from here on it is a holder that can tell.
    assert_eq!(q.acquire("c", 3, at(0)), Ok(Status::Acquired));
    q.acquire("b", 2, at(25)).unwrap();
    q.acquire("b", 2, at(50)).unwrap();
    q.tick(at(59));
    assert_eq!(
        q.state.acquired().map(|a| a.request.head_sha),
        Some(sha("c"))
    );
    q.acquire("b", 2, at(60)).unwrap();
    q.tick(at(60));
    assert!(q.kinds().contains(&EventKind::LeaseExpired));
    assert_eq!(q.acquire("b", 2, at(61)), Ok(Status::Acquired));
    assert_eq!(
        q.release("c", Outcome::Failure, at(62)),
        Ok(Status::Failure),
        "the late release is idempotent"
    );
}

#[test]
fn a_heartbeating_holder_keeps_its_lease() {
    let mut q = Queue::with(LeaseSettings {
        lease_timeout: Duration::from_secs(60),
        expected_build_count: 1,
        ..settings()
    });
    q.acquire("a", 1, at(0)).unwrap();
    for t in (15..=300).step_by(15) {
        assert_eq!(q.acquire("a", 1, at(t)), Ok(Status::Acquired));
        q.tick(at(t));
    }
}

#[test]
fn lease_timeout_zero_means_a_holder_is_never_expired() {
    let mut q = Queue::with(LeaseSettings {
        lease_timeout: Duration::ZERO,
        expected_build_count: 1,
        ..settings()
    });
    q.acquire("a", 1, at(0)).unwrap();
    q.tick(at(1_000_000));
    assert!(q.state.acquired().is_some());
}

#[test]
fn a_release_with_a_stale_fencing_token_is_refused() {
    let mut q = Queue::with(LeaseSettings {
        expected_build_count: 1,
        ..settings()
    });
    q.acquire("a", 1, at(0)).unwrap();
    q.release("a", Outcome::Failure, at(1)).unwrap();
    let token = q
        .acquire_answer("b", 1, at(2))
        .unwrap()
        .fencing_token
        .unwrap();
    assert_eq!(token, 2);
    let stale = q
        .state
        .release(&sha("b"), Outcome::Success, Some(1), at(3), &mut q.events);
    assert_eq!(
        stale.unwrap_err(),
        LeaseError::StaleFencingToken {
            given: 1,
            current: 2
        }
    );
    let stale_other = q
        .state
        .release(&sha("a"), Outcome::Success, Some(1), at(3), &mut q.events);
    assert!(matches!(
        stale_other,
        Err(LeaseError::OutcomeMismatch { .. }) | Err(LeaseError::StaleFencingToken { .. })
    ));
    let ok = q
        .state
        .release(&sha("b"), Outcome::Success, Some(2), at(4), &mut q.events);
    assert_eq!(ok.unwrap().request.status, Status::Completed);
}

#[test]
fn revoking_an_undelivered_grant_puts_the_run_back_to_pending() {
    let mut q = Queue::with(LeaseSettings {
        expected_build_count: 1,
        ..settings()
    });
    q.acquire("a", 1, at(0)).unwrap();
    q.state.revoke(&sha("a"), at(0), &mut q.events);
    assert!(q.state.holder.is_none());
    assert_eq!(q.state.requests[0].status, Status::Pending);
    assert_eq!(q.acquire("a", 1, at(1)), Ok(Status::Acquired));
}

#[test]
fn resume_after_a_restart_gives_every_run_a_fresh_ttl() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0)).unwrap();
    let mut loaded: ProviderState = crate::store::record::round_trip(&q.state);
    loaded.resume(at(1000));
    loaded.housekeep(&settings(), at(1001), &mut Vec::new());
    assert_eq!(loaded.requests.len(), 1);
    loaded.housekeep(&settings(), at(1030), &mut Vec::new());
    assert!(loaded.is_idle());
}

#[test]
fn history_records_a_whole_round_in_order() {
    let mut q = Queue::new();
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    q.release("c", Outcome::Failure, at(1)).unwrap();
    q.acquire("b", 2, at(2)).unwrap();
    q.release("b", Outcome::Success, at(3)).unwrap();
    q.acquire("a", 1, at(4)).unwrap();
    use EventKind::*;
    assert_eq!(
        q.kinds(),
        [
            Registered,
            Registered,
            Registered,
            Granted,
            ReleasedFailure,
            Granted,
            ReleasedSuccess,
            Completed
        ]
    );
}

#[test]
fn a_poll_without_head_ref_keeps_the_stored_one_and_a_new_one_replaces_it() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0)).unwrap();
    let bare = AcquireRequest {
        head_ref: None,
        ..call("a", 1)
    };
    q.state
        .acquire(&q.settings, &bare, at(1), &mut q.events)
        .unwrap();
    assert_eq!(q.state.requests[0].head_ref, call("a", 1).head_ref);
    assert_eq!(q.state.last_updated_at, at(0), "nothing changed");
    let moved = AcquireRequest {
        head_ref: HeadRef::parse("gh-readonly-queue/main/pr-9-ff").unwrap(),
        ..call("a", 1)
    };
    q.state
        .acquire(&q.settings, &moved, at(2), &mut q.events)
        .unwrap();
    assert_eq!(
        q.state.requests[0].head_ref.as_ref().map(|r| r.as_str()),
        Some("gh-readonly-queue/main/pr-9-ff")
    );
    assert_eq!(q.state.last_updated_at, at(2));
}

#[test]
fn a_passed_stabilisation_window_is_no_longer_a_deadline() {
    let mut q = Queue::with(LeaseSettings {
        stabilisation_window: Duration::from_secs(5),
        ..settings()
    });
    q.acquire("a", 1, at(0)).unwrap();
    q.acquire("a", 1, at(4)).unwrap();
    assert_eq!(
        q.tick(at(4)),
        Some(at(5)),
        "the window's end, while it is ahead"
    );
    assert_eq!(
        q.tick(at(6)),
        Some(at(34)),
        "then only the ttl of the silent run"
    );
}

// ---- docs/rules.md §13: exclusion before liveness; a completed run's release --------------------------

/// A round of three where `c` (priority 3) is granted at `at(0)` and says nothing more.
fn silent_holder_round(settings: LeaseSettings) -> Queue {
    let mut q = Queue::with(settings);
    for (s, p) in [("a", 1), ("b", 2), ("c", 3)] {
        q.acquire(s, p, at(0)).unwrap();
    }
    assert_eq!(q.holder_sha(), Some(sha("c")));
    q
}

impl Queue {
    fn holder_sha(&self) -> Option<HeadSha> {
        self.state.acquired().map(|a| a.request.head_sha)
    }
}

#[test]
fn a_holder_silent_since_its_grant_keeps_the_lease_past_lease_timeout_however_long() {
    let mut q = silent_holder_round(LeaseSettings {
        lease_timeout: Duration::from_secs(60),
        ..settings()
    });
    // The others keep polling (so they stay known) far past the lease timeout.
    for t in (10..=3_600).step_by(10) {
        assert_eq!(q.acquire("b", 2, at(t)), Ok(Status::Pending));
        assert_eq!(q.acquire("a", 1, at(t)), Ok(Status::Pending));
        q.tick(at(t));
    }
    q.tick(at(365 * 24 * 3_600));
    assert_eq!(q.holder_sha(), Some(sha("c")));
    assert!(!q.kinds().contains(&EventKind::LeaseExpired));
    assert_eq!(q.state.lease_expires_at(&q.settings), None);
    assert_eq!(
        q.release("c", Outcome::Success, at(365 * 24 * 3_600)),
        Ok(Status::Completed),
        "its release, however late, is its own"
    );
}

#[test]
fn the_timer_does_not_wake_for_a_holder_silent_since_its_grant() {
    let mut q = silent_holder_round(LeaseSettings {
        lease_timeout: Duration::from_secs(60),
        ..settings()
    });
    // Only the pending runs' ttl is a deadline; after they are gone, none.
    assert_eq!(q.tick(at(1)), Some(at(30)));
    assert_eq!(q.tick(at(30)), None);
    assert_eq!(q.holder_sha(), Some(sha("c")));
}

#[test]
fn one_call_after_the_grant_puts_the_holder_under_lease_timeout() {
    let mut q = silent_holder_round(LeaseSettings {
        lease_timeout: Duration::from_secs(60),
        ..settings()
    });
    assert_eq!(q.acquire("c", 3, at(15)), Ok(Status::Acquired));
    assert!(q.state.holder.as_ref().unwrap().heard_since_grant);
    assert_eq!(q.state.lease_expires_at(&q.settings), Some(at(75)));
    for t in (20..75).step_by(10) {
        q.acquire("b", 2, at(t)).unwrap();
        q.tick(at(t));
    }
    assert_eq!(q.holder_sha(), Some(sha("c")));
    q.tick(at(75));
    assert!(q.kinds().contains(&EventKind::LeaseExpired));
    assert_eq!(q.acquire("b", 2, at(76)), Ok(Status::Acquired));
}

#[test]
fn silent_holder_timeout_takes_the_lease_from_a_holder_silent_since_its_grant_as_configured() {
    let mut q = silent_holder_round(LeaseSettings {
        lease_timeout: Duration::from_secs(600),
        silent_holder_timeout: Duration::from_secs(120),
        ..settings()
    });
    assert_eq!(q.state.lease_expires_at(&q.settings), Some(at(120)));
    for t in (10..120).step_by(10) {
        q.acquire("b", 2, at(t)).unwrap();
        q.tick(at(t));
    }
    assert_eq!(q.tick(at(119)), Some(at(120)));
    assert_eq!(q.holder_sha(), Some(sha("c")), "not a moment early");
    q.tick(at(120));
    let expired = q
        .events
        .iter()
        .find(|e| e.kind == EventKind::LeaseExpired)
        .expect("the lease expired");
    assert_eq!(expired.head_sha, Some(sha("c")));
    assert_eq!(
        expired.reason.as_deref(),
        Some("silent since its grant for silent_holder_timeout")
    );
    assert_eq!(q.acquire("b", 2, at(121)), Ok(Status::Acquired));
}

#[test]
fn the_opt_in_does_not_shorten_the_lease_of_a_holder_that_called() {
    let mut q = silent_holder_round(LeaseSettings {
        lease_timeout: Duration::from_secs(600),
        silent_holder_timeout: Duration::from_secs(120),
        ..settings()
    });
    q.acquire("c", 3, at(15)).unwrap();
    q.tick(at(500));
    assert_eq!(q.holder_sha(), Some(sha("c")));
    assert_eq!(q.state.lease_expires_at(&q.settings), Some(at(615)));
}

#[test]
fn the_waiting_reason_and_a_409_say_whether_the_holder_is_silent_since_its_grant() {
    let mut q = silent_holder_round(settings());
    let waiting = |q: &mut Queue, t| match q.acquire_answer("b", 2, at(t)).unwrap().waiting {
        Some(Waiting::LeaseHeld { holder }) => holder.silent_since_grant,
        other => panic!("expected lease_held, got {other:?}"),
    };
    assert!(waiting(&mut q, 1));
    let Err(LeaseError::Conflict(busy)) = q.acquire("new", 9, at(1)) else {
        panic!("a new run gets 409")
    };
    assert_eq!(busy.holder.map(|h| h.silent_since_grant), Some(true));
    q.acquire("c", 3, at(2)).unwrap();
    assert!(!waiting(&mut q, 3));
}

#[test]
fn a_release_by_a_run_told_completed_is_answered_completed_and_changes_nothing() {
    let mut q = silent_holder_round(settings());
    q.release("c", Outcome::Success, at(1)).unwrap();
    assert_eq!(q.acquire("b", 2, at(2)), Ok(Status::Completed));
    let before = q.state.clone();
    let events = q.events.len();
    for outcome in [Outcome::Success, Outcome::Failure] {
        assert_eq!(q.release("b", outcome, at(3)), Ok(Status::Completed));
    }
    // With a token too (it never held one: there is nothing to fence).
    let answer = q
        .state
        .release(&sha("b"), Outcome::Failure, Some(99), at(3), &mut q.events)
        .unwrap();
    assert_eq!(answer.request.status, Status::Completed);
    assert_eq!(answer.fencing_token, None);
    assert_eq!(q.state, before);
    assert_eq!(q.events.len(), events);
}

#[test]
fn a_release_by_a_run_not_yet_told_completed_is_refused_and_changes_nothing() {
    let mut q = silent_holder_round(settings());
    q.release("c", Outcome::Success, at(1)).unwrap();
    let before = q.state.clone();
    assert!(matches!(
        q.release("a", Outcome::Failure, at(2)),
        Err(LeaseError::NotHolder { .. })
    ));
    assert_eq!(q.state, before);
    assert_eq!(q.acquire("a", 1, at(3)), Ok(Status::Completed));
    assert_eq!(
        q.release("a", Outcome::Success, at(4)),
        Ok(Status::Completed)
    );
}

#[test]
fn a_release_by_any_other_non_holder_is_still_refused() {
    let mut q = silent_holder_round(settings());
    for who in ["a", "b", "never-seen"] {
        assert!(
            matches!(
                q.release(who, Outcome::Success, at(1)),
                Err(LeaseError::NotHolder { .. })
            ),
            "{who}"
        );
    }
    // A failed former holder repeating a different outcome: still 400.
    q.release("c", Outcome::Failure, at(2)).unwrap();
    assert!(matches!(
        q.release("c", Outcome::Success, at(3)),
        Err(LeaseError::OutcomeMismatch { .. })
    ));
}
