//! docs/rules.md §8 on the pure rules: why a pending run waits, the 409 naming the holder, the
//! view's times, and the admin controls (revoke, pause, resume).

use std::time::Duration;

use super::*;

// The clock and settings of the §3 tests, so both files read the same scenarios.
use super::tests::{at, settings, T0};

fn call(sha: &str, priority: i64) -> AcquireRequest {
    AcquireRequest {
        head_sha: HeadSha::parse(sha).unwrap(),
        head_ref: None,
        priority: Priority::parse(priority).unwrap(),
    }
}

struct Queue {
    state: ProviderState,
    settings: LeaseSettings,
    events: Vec<Event>,
}

impl Queue {
    fn with(settings: LeaseSettings) -> Self {
        Self {
            state: ProviderState::new(T0),
            settings,
            events: Vec::new(),
        }
    }
    fn new() -> Self {
        Self::with(settings())
    }
    fn acquire(&mut self, sha: &str, priority: i64, now: Time) -> Answer {
        self.state
            .acquire(&self.settings, &call(sha, priority), now, &mut self.events)
            .unwrap()
    }
    fn acquire_err(&mut self, sha: &str, priority: i64, now: Time) -> LeaseError {
        self.state
            .acquire(&self.settings, &call(sha, priority), now, &mut self.events)
            .unwrap_err()
    }
    /// a(1), b(2), c(3) register at 0; c wins (expected_build_count 3).
    fn with_holder_c() -> Self {
        let mut q = Self::new();
        q.acquire("a", 1, at(0));
        q.acquire("b", 2, at(0));
        assert_eq!(q.acquire("c", 3, at(0)).request.status, Status::Acquired);
        q
    }
}

fn reason(a: &Answer) -> Option<&'static str> {
    a.waiting.as_ref().map(Waiting::reason)
}

#[test]
fn a_run_waiting_for_more_runs_is_told_stabilising_with_counts_and_the_window_end() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0));
    let answer = q.acquire("b", 2, at(10));
    assert_eq!(answer.request.status, Status::Pending);
    assert_eq!(
        answer.waiting,
        Some(Waiting::Stabilising {
            known: 2,
            expected: 3,
            window_ends_at: at(310),
        })
    );
}

#[test]
fn a_run_is_told_lease_held_with_the_holder_and_since_when() {
    let mut q = Queue::with_holder_c();
    let answer = q.acquire("b", 2, at(20));
    assert_eq!(
        answer.waiting,
        Some(Waiting::LeaseHeld {
            holder: HolderInfo {
                head_sha: HeadSha::parse("c").unwrap(),
                priority: Priority::parse(3).unwrap(),
                status: Status::Acquired,
                since: at(0),
                silent_since_grant: true,
            }
        })
    );
}

#[test]
fn a_lower_run_is_told_higher_priority_once_the_picture_is_stable() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0));
    q.acquire("c", 3, at(0));
    // The window is over; c would win, a would not.
    let answer = q.acquire("a", 1, at(301));
    assert_eq!(
        answer.waiting,
        Some(Waiting::HigherPriority {
            highest_priority: Priority::parse(3).unwrap()
        })
    );
}

#[test]
fn the_winner_held_back_by_delay_assignment_count_is_told_confirming_with_calls_left() {
    let mut q = Queue::with(LeaseSettings {
        delay_assignment_count: 2,
        ..settings()
    });
    q.acquire("a", 1, at(0));
    q.acquire("b", 2, at(0));
    let first = q.acquire("c", 3, at(0));
    assert_eq!(
        first.waiting,
        Some(Waiting::Confirming {
            confirmations_left: 2
        })
    );
    let second = q.acquire("c", 3, at(1));
    assert_eq!(
        second.waiting,
        Some(Waiting::Confirming {
            confirmations_left: 1
        })
    );
    let third = q.acquire("c", 3, at(2));
    assert_eq!(third.request.status, Status::Acquired);
    assert_eq!(
        third.waiting, None,
        "an acquired answer never says it waits"
    );
}

#[test]
fn while_paused_nobody_is_granted_and_every_pending_run_is_told_paused() {
    let mut q = Queue::new();
    assert!(q.state.set_paused(true, "user ops", at(0), &mut q.events));
    q.acquire("a", 1, at(0));
    q.acquire("b", 2, at(0));
    let c = q.acquire("c", 3, at(0));
    assert_eq!(c.request.status, Status::Pending);
    assert_eq!(c.waiting, Some(Waiting::Paused));
    assert_eq!(reason(&q.acquire("a", 1, at(400))), Some("paused"));
    assert!(q.state.holder.is_none());
}

#[test]
fn paused_takes_precedence_over_a_held_lease_and_the_holder_keeps_it() {
    let mut q = Queue::with_holder_c();
    q.state.set_paused(true, "user ops", at(1), &mut q.events);
    assert_eq!(reason(&q.acquire("b", 2, at(2))), Some("paused"));
    let holder = q.acquire("c", 3, at(3));
    assert_eq!(holder.request.status, Status::Acquired);
    assert_eq!(holder.waiting, None);
}

#[test]
fn a_held_lease_takes_precedence_over_stabilising() {
    // Fewer runs than expected: c wins only when the window ends; then b changes its
    // priority, which restarts the window while c holds the lease.
    let mut q = Queue::with(LeaseSettings {
        expected_build_count: 4,
        ..settings()
    });
    q.acquire("a", 1, at(0));
    q.acquire("b", 2, at(0));
    q.acquire("c", 3, at(0));
    assert_eq!(q.acquire("c", 3, at(301)).request.status, Status::Acquired);
    let answer = q.acquire("b", 5, at(310));
    assert_eq!(reason(&answer), Some("lease_held"));
}

#[test]
fn release_still_works_while_paused_and_resume_lets_the_next_run_win() {
    let mut q = Queue::with_holder_c();
    q.state.set_paused(true, "user ops", at(1), &mut q.events);
    q.state
        .release(
            &HeadSha::parse("c").unwrap(),
            Outcome::Failure,
            None,
            at(2),
            &mut q.events,
        )
        .unwrap();
    assert_eq!(reason(&q.acquire("b", 2, at(3))), Some("paused"));
    assert!(q.state.set_paused(false, "user ops", at(4), &mut q.events));
    assert_eq!(q.acquire("b", 2, at(5)).request.status, Status::Acquired);
}

#[test]
fn pausing_twice_changes_nothing_the_second_time_and_each_change_is_an_event() {
    let mut q = Queue::new();
    assert!(q.state.set_paused(true, "user ops", at(0), &mut q.events));
    assert!(!q.state.set_paused(true, "user ops", at(1), &mut q.events));
    assert!(q.state.set_paused(false, "user ops", at(2), &mut q.events));
    assert!(!q.state.set_paused(false, "user ops", at(3), &mut q.events));
    let kinds: Vec<_> = q.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EventKind::Paused, EventKind::Resumed]);
    assert_eq!(q.events[0].by.as_deref(), Some("user ops"));
}

#[test]
fn clear_keeps_the_pause() {
    let mut q = Queue::new();
    q.state.set_paused(true, "user ops", at(0), &mut q.events);
    q.state.clear(at(1), &mut q.events);
    assert!(q.state.paused);
}

#[test]
fn admin_revoke_ends_the_lease_as_a_failure_and_the_next_highest_wins_at_once() {
    let mut q = Queue::with_holder_c();
    let revoked = q
        .state
        .revoke_lease(
            Some("stuck deploy".into()),
            "user ops",
            at(5),
            &mut q.events,
        )
        .unwrap();
    assert_eq!(revoked.head_sha.as_str(), "c");
    let event = q.events.last().unwrap();
    assert_eq!(event.kind, EventKind::LeaseRevoked);
    assert_eq!(event.reason.as_deref(), Some("stuck deploy"));
    assert_eq!(event.by.as_deref(), Some("user ops"));
    // Re-election needs no waiting; the revoked run is told failure.
    assert_eq!(q.acquire("b", 2, at(6)).request.status, Status::Acquired);
    assert_eq!(q.acquire("c", 3, at(7)).request.status, Status::Failure);
    // Its release with failure is an idempotent repeat; with success it is refused.
    let c = HeadSha::parse("c").unwrap();
    assert!(q
        .state
        .release(&c, Outcome::Failure, None, at(8), &mut q.events)
        .is_ok());
    assert!(matches!(
        q.state
            .release(&c, Outcome::Success, None, at(8), &mut q.events),
        Err(LeaseError::OutcomeMismatch { .. })
    ));
}

#[test]
fn admin_revoke_without_a_live_lease_is_refused_and_changes_nothing() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0));
    let before = q.state.clone();
    assert!(matches!(
        q.state.revoke_lease(None, "user ops", at(1), &mut q.events),
        Err(LeaseError::NoLiveLease { holder: None })
    ));
    assert_eq!(q.state, before);
    // A failed holder (round being resolved) holds no live lease either.
    let mut q = Queue::with_holder_c();
    q.state
        .release(
            &HeadSha::parse("c").unwrap(),
            Outcome::Failure,
            None,
            at(1),
            &mut q.events,
        )
        .unwrap();
    assert!(matches!(
        q.state.revoke_lease(None, "user ops", at(2), &mut q.events),
        Err(LeaseError::NoLiveLease { holder: Some(h) }) if h.status == Status::Failure
    ));
}

#[test]
fn the_409_for_a_new_run_names_the_holder_its_priority_and_since_when() {
    let mut q = Queue::with_holder_c();
    let LeaseError::Conflict(busy) = q.acquire_err("new", 9, at(1)) else {
        panic!("not a conflict");
    };
    let holder = busy.holder.expect("holder named");
    assert_eq!(holder.head_sha.as_str(), "c");
    assert_eq!(holder.priority.get(), 3);
    assert_eq!(holder.status, Status::Acquired);
    assert_eq!(holder.since, at(0));
    assert!(
        busy.message.contains("held by c (priority 3) since")
            && busy.message.contains(&at(0).rfc3339()),
        "{}",
        busy.message
    );
}

#[test]
fn the_holder_answer_carries_its_lease_times_and_none_when_the_timeout_is_off() {
    let mut q = Queue::with_holder_c();
    let answer = q.acquire("c", 3, at(100));
    assert_eq!(answer.acquired_at, Some(at(0)));
    assert_eq!(
        answer.lease_expires_at,
        Some(at(700)),
        "last heard + timeout"
    );
    let mut q = Queue::with(LeaseSettings {
        lease_timeout: Duration::ZERO,
        ..settings()
    });
    q.acquire("a", 1, at(0));
    q.acquire("b", 2, at(0));
    let answer = q.acquire("c", 3, at(0));
    assert_eq!(answer.acquired_at, Some(at(0)));
    assert_eq!(answer.lease_expires_at, None);
    assert_eq!(q.state.lease_expires_at(&q.settings), None);
}

#[test]
fn first_and_last_seen_are_kept_and_last_seen_survives_a_saved_change_and_a_restart() {
    let mut q = Queue::new();
    q.acquire("a", 1, at(0));
    q.acquire("a", 1, at(20));
    let a = &q.state.requests[0];
    assert_eq!((a.registered_at, a.last_seen), (at(0), at(20)));
    // A change is saved: the stamp goes into the record.
    q.state.stamp_seen();
    let mut loaded: ProviderState = crate::store::record::round_trip(&q.state);
    loaded.resume(at(500));
    let a = &loaded.requests[0];
    assert_eq!((a.registered_at, a.last_seen), (at(0), at(20)));
    // The restart still gives the run a full TTL from the moment it came back.
    let mut events = Vec::new();
    loaded.housekeep(&q.settings, at(510), &mut events);
    assert_eq!(loaded.requests.len(), 1, "not evicted for the downtime");
    loaded.housekeep(&q.settings, at(530), &mut events);
    assert!(
        loaded.requests.is_empty(),
        "evicted a ttl after the restart"
    );
}

#[test]
fn the_view_says_why_each_pending_run_waits() {
    let q = Queue::with_holder_c();
    let view = q.state.view_known(&q.settings, at(1));
    let reasons: Vec<_> = view.iter().map(reason).collect();
    assert_eq!(reasons, vec![Some("lease_held"), Some("lease_held"), None]);
    let holder = q.state.view_acquired(&q.settings, at(1)).unwrap();
    assert_eq!(holder.acquired_at, Some(at(0)));
}

#[test]
fn a_call_saves_its_last_seen_time_only_once_a_third_of_the_ttl_has_passed() {
    // ttl 30s: the saved time follows a call once it is 10s stale.
    let mut q = Queue::new();
    q.acquire("a", 1, at(0));
    q.acquire("a", 1, at(9));
    assert_eq!(
        q.state.requests[0].last_seen_at,
        at(0),
        "a poll 9s later writes nothing"
    );
    assert_eq!(q.state.requests[0].last_seen, at(9), "but its ttl restarts");
    q.acquire("a", 1, at(10));
    assert_eq!(q.state.requests[0].last_seen_at, at(10));
}

#[test]
fn the_shown_lease_expiry_follows_the_saved_sign_of_life_and_is_never_late() {
    let mut q = Queue::with_holder_c();
    q.acquire("c", 3, at(5));
    // Not saved yet: the shown expiry is the earlier one, the real deadline is later.
    assert_eq!(q.state.lease_expires_at(&q.settings), Some(at(600)));
    let mut events = Vec::new();
    q.state.housekeep(&q.settings, at(600), &mut events);
    assert!(
        !events.iter().any(|e| e.kind == EventKind::LeaseExpired),
        "the lease has not really expired"
    );
    q.acquire("c", 3, at(100));
    assert_eq!(q.state.lease_expires_at(&q.settings), Some(at(700)));
    q.state.housekeep(&q.settings, at(700), &mut events);
    assert!(events.iter().any(|e| e.kind == EventKind::LeaseExpired));
}
