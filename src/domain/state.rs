//! The provider state machine of SPEC §3 and §6. Pure: every transition takes `now`,
//! mutates `self`, appends to `events` and does no I/O. The provider actor persists the
//! result, so everything that must survive a restart is serialized here; what only
//! matters while the process runs (the delay counter, the holder's sign of life) is
//! skipped and reset by [`ProviderState::resume`]. Last-seen times are saved with every
//! change ([`ProviderState::stamp_seen`]) and, on their own, at most once per
//! [`seen_granularity`] per run, so a plain poll usually causes no write. The views show
//! only the saved times, so what they show is what a restart shows.

use std::collections::VecDeque;

use super::{
    Busy, Event, EventKind, HeadRef, HeadSha, HolderInfo, LeaseError, LeaseSettings, Outcome,
    Priority, Status, Time, Waiting,
};

/// How many finished runs a provider remembers (for idempotent releases and for
/// answering `completed` again to a run that asks after its round ended).
pub const RECENT_CAPACITY: usize = 256;

/// One run's registration.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub head_sha: HeadSha,
    pub head_ref: Option<HeadRef>,
    pub priority: Priority,
    pub status: Status,
    pub registered_at: Time,
    /// Last acquire call (or parked long-poll) from this run (its TTL counts from here).
    /// Runtime only.
    pub last_seen: Time,
    /// `last_seen` as saved: updated with every change, and by a call once
    /// [`seen_granularity`] has passed since. What the views show as `last_seen_at`.
    pub last_seen_at: Time,
    /// How often this run was found the winner while `delay_assignment_count` held it back.
    pub times_found_winner: u32,
}

/// The run that won the current round's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub head_sha: HeadSha,
    pub fencing_token: u64,
    pub granted_at: Time,
}

/// A run whose part in a round is over: a former holder (with its outcome) or a run
/// that was told `completed`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub request: Request,
    /// `Some` for a former holder: what it released with (an expired lease is a failure).
    pub released: Option<Outcome>,
    pub fencing_token: Option<u64>,
}

/// What an acquire or release call is answered with (before wire formatting).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub request: Request,
    /// Set when the request holds the lease.
    pub fencing_token: Option<u64>,
    /// PR numbers stacked under the holder, ascending by priority (only when `acquired`).
    pub stacked_pull_requests: Option<Vec<u64>>,
    /// Why a `pending` request is not granted now (only when `pending`).
    pub waiting: Option<Waiting>,
    /// For the holder of a live lease: when it was granted.
    pub acquired_at: Option<Time>,
    /// For the holder of a live lease: when it loses the lease if it stays silent
    /// (`None` when `lease_timeout` is off).
    pub lease_expires_at: Option<Time>,
}

impl Answer {
    /// An answer with only the request (and its token, if any).
    pub fn of(request: Request, fencing_token: Option<u64>) -> Self {
        Self {
            request,
            fencing_token,
            stacked_pull_requests: None,
            waiting: None,
            acquired_at: None,
            lease_expires_at: None,
        }
    }
}

/// The lease state of one merge queue.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderState {
    /// Known requests of the current round in arrival order, the holder included.
    pub requests: Vec<Request>,
    pub holder: Option<Holder>,
    pub last_updated_at: Time,
    /// First registration of the current round (for the time-to-grant figure).
    pub round_started_at: Option<Time>,
    /// The last fencing token handed out; never goes down, not even on `clear`.
    pub last_fencing_token: u64,
    /// Recently finished runs, oldest first, at most [`RECENT_CAPACITY`].
    pub recent: VecDeque<Finished>,
    /// When the holder last showed it is alive. Runtime only.
    pub holder_seen: Time,
    /// `holder_seen` as saved (like [`Request::last_seen_at`]); the views' lease expiry
    /// counts from here, so it is never later than the real one.
    pub holder_seen_at: Time,
    /// Admin: while set, nobody is granted the lease (the holder keeps it).
    pub paused: bool,
    /// When this state was loaded (or created): every run's TTL counts from here at the
    /// earliest, so a restart never evicts a run for the time the service was down.
    pub resumed_at: Time,
}

/// One acquire call's input, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AcquireRequest {
    pub head_sha: HeadSha,
    pub head_ref: Option<HeadRef>,
    pub priority: Priority,
}

impl ProviderState {
    pub fn new(now: Time) -> Self {
        Self {
            requests: Vec::new(),
            holder: None,
            last_updated_at: now,
            round_started_at: None,
            last_fencing_token: 0,
            recent: VecDeque::new(),
            holder_seen: now,
            holder_seen_at: now,
            paused: false,
            resumed_at: now,
        }
    }

    /// After loading from disk: every known run gets a fresh TTL (and the holder a fresh
    /// lease timeout) counted from `now`.
    pub fn resume(&mut self, now: Time) {
        for r in &mut self.requests {
            r.last_seen = r.last_seen_at.max(r.registered_at);
            r.times_found_winner = 0;
        }
        self.holder_seen = now;
        self.resumed_at = now;
    }

    /// Before a change is saved: the last-seen times go into the record with it.
    pub fn stamp_seen(&mut self) {
        for r in &mut self.requests {
            r.last_seen_at = r.last_seen;
        }
        self.holder_seen_at = self.holder_seen;
    }

    /// The moment from which a pending run's TTL counts.
    fn ttl_from(&self, r: &Request) -> Time {
        r.last_seen.max(self.resumed_at)
    }

    pub fn is_idle(&self) -> bool {
        self.requests.is_empty() && self.holder.is_none()
    }

    fn index_of(&self, sha: &HeadSha) -> Option<usize> {
        self.requests.iter().position(|r| &r.head_sha == sha)
    }

    /// The holder's request and its token, if any.
    pub fn holder_request(&self) -> Option<(&Request, u64)> {
        let h = self.holder.as_ref()?;
        let r = self.requests.iter().find(|r| r.head_sha == h.head_sha)?;
        Some((r, h.fencing_token))
    }

    fn holder_status(&self) -> Option<Status> {
        self.holder_request().map(|(r, _)| r.status)
    }

    /// The holder of the current round, in whatever status it is.
    pub fn holder_info(&self) -> Option<HolderInfo> {
        let h = self.holder.as_ref()?;
        let (r, _) = self.holder_request()?;
        Some(HolderInfo {
            head_sha: r.head_sha.clone(),
            priority: r.priority,
            status: r.status,
            since: h.granted_at,
        })
    }

    /// When the live holder loses its lease if silent; `None` when there is no live
    /// lease or `lease_timeout` is off.
    /// Counted from the saved sign of life, so it may be earlier than the real deadline
    /// by up to [`seen_granularity`] (or, after a restart, the downtime: a restart gives
    /// the holder a fresh timeout) but never later.
    pub fn lease_expires_at(&self, settings: &LeaseSettings) -> Option<Time> {
        let h = self.holder.as_ref()?;
        (self.holder_status() == Some(Status::Acquired) && !settings.lease_timeout.is_zero()).then(
            || {
                self.holder_seen_at
                    .max(h.granted_at)
                    .plus(settings.lease_timeout)
            },
        )
    }

    /// Why the known `pending` run `sha` is not granted at `now` (SPEC §8); `None` for a
    /// run that is not known or not pending. Mirrors the checks of [`Self::elect`], in
    /// the order documented on [`Waiting`].
    pub fn waiting_for(
        &self,
        settings: &LeaseSettings,
        sha: &HeadSha,
        now: Time,
    ) -> Option<Waiting> {
        let r = self.requests.iter().find(|r| &r.head_sha == sha)?;
        if r.status != Status::Pending {
            return None;
        }
        if self.paused {
            return Some(Waiting::Paused);
        }
        let holder = self.holder_info();
        match holder {
            Some(h) if h.status != Status::Failure => {
                // A completed holder's runs are told `completed` when they ask; until
                // they do, the view shows them waiting on it.
                return Some(Waiting::LeaseHeld { holder: h });
            }
            _ => {}
        }
        let previous_failed = holder.is_some();
        let window_ends_at = self.last_updated_at.plus(settings.stabilisation_window);
        let ready = self.requests.len() >= settings.expected_build_count as usize
            || now >= window_ends_at
            || previous_failed;
        if !ready {
            return Some(Waiting::Stabilising {
                known: self.requests.len(),
                expected: settings.expected_build_count,
                window_ends_at,
            });
        }
        match self.highest_pending_priority() {
            Some(highest) if highest > r.priority => Some(Waiting::HigherPriority {
                highest_priority: highest,
            }),
            _ => Some(Waiting::Confirming {
                confirmations_left: (settings.delay_assignment_count + 1)
                    .saturating_sub(r.times_found_winner)
                    .max(1),
            }),
        }
    }

    /// Adds what an answer shows beyond the request: why it waits, or its lease times.
    fn decorate(&self, settings: &LeaseSettings, now: Time, mut answer: Answer) -> Answer {
        let sha = &answer.request.head_sha;
        match answer.request.status {
            Status::Pending => answer.waiting = self.waiting_for(settings, sha, now),
            Status::Acquired if self.is_holder(sha) => {
                answer.acquired_at = self.holder.as_ref().map(|h| h.granted_at);
                answer.lease_expires_at = self.lease_expires_at(settings);
            }
            _ => {}
        }
        answer
    }

    fn is_holder(&self, sha: &HeadSha) -> bool {
        self.holder.as_ref().is_some_and(|h| &h.head_sha == sha)
    }

    fn highest_pending_priority(&self) -> Option<Priority> {
        self.requests
            .iter()
            .filter(|r| r.status == Status::Pending)
            .map(|r| r.priority)
            .max()
    }

    fn remember(&mut self, finished: Finished) {
        self.recent
            .retain(|f| f.request.head_sha != finished.request.head_sha);
        if self.recent.len() >= RECENT_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back(finished);
    }

    fn recalled(&self, sha: &HeadSha) -> Option<&Finished> {
        self.recent
            .iter()
            .rev()
            .find(|f| &f.request.head_sha == sha)
    }

    /// The answer for the known request at `idx`.
    fn answer(&self, idx: usize) -> Answer {
        let request = self.requests[idx].clone();
        let holding = request.status == Status::Acquired && self.is_holder(&request.head_sha);
        let fencing_token = if self.is_holder(&request.head_sha) {
            self.holder.as_ref().map(|h| h.fencing_token)
        } else {
            None
        };
        let stacked_pull_requests = holding.then(|| {
            let mut under: Vec<&Request> = self
                .requests
                .iter()
                .filter(|r| r.priority <= request.priority)
                .collect();
            under.sort_by_key(|r| r.priority);
            under
                .iter()
                .filter_map(|r| r.head_ref.as_ref()?.pull_request_number())
                .collect()
        });
        Answer {
            stacked_pull_requests,
            ..Answer::of(request, fencing_token)
        }
    }

    /// `acquire` (SPEC §3 rules 1–6). `now` is the moment the caller is asking. A
    /// `pending` answer says why it waits.
    pub fn acquire(
        &mut self,
        settings: &LeaseSettings,
        call: &AcquireRequest,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LeaseError> {
        let answer = self.decide(settings, call, now, events)?;
        Ok(self.decorate(settings, now, answer))
    }

    fn decide(
        &mut self,
        settings: &LeaseSettings,
        call: &AcquireRequest,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LeaseError> {
        let idx = match self.index_of(&call.head_sha) {
            Some(idx) => {
                // Rule 2: refresh; a changed priority or head_ref restarts the window.
                // A call without head_ref leaves the stored one as it is.
                let r = &mut self.requests[idx];
                seen(r, now, settings);
                let head_ref = call.head_ref.clone().or_else(|| r.head_ref.clone());
                if r.priority != call.priority || r.head_ref != head_ref {
                    r.priority = call.priority;
                    r.head_ref = head_ref;
                    self.last_updated_at = now;
                }
                idx
            }
            None => {
                // A run told `completed` (or a former holder) asking again gets its answer again.
                if let Some(f) = self.recalled(&call.head_sha) {
                    let mut request = f.request.clone();
                    request.status = match f.released {
                        None | Some(Outcome::Success) => Status::Completed,
                        Some(Outcome::Failure) => Status::Failure,
                    };
                    if request.status == Status::Completed || self.holder.is_some() {
                        return Ok(Answer::of(request, None));
                    }
                    // A failed former holder of an ended round may join the next one.
                }
                // Rule 1.
                if let Some(holder) = self.holder_info() {
                    return Err(LeaseError::Conflict(busy(holder)));
                }
                self.requests.push(Request {
                    head_sha: call.head_sha.clone(),
                    head_ref: call.head_ref.clone(),
                    priority: call.priority,
                    status: Status::Pending,
                    registered_at: now,
                    last_seen: now,
                    last_seen_at: now,
                    times_found_winner: 0,
                });
                self.last_updated_at = now;
                self.round_started_at.get_or_insert(now);
                events.push(Event::of(EventKind::Registered, now, self.requests.last()));
                self.requests.len() - 1
            }
        };

        if self.is_holder(&call.head_sha) {
            // Rule 4 (and a completed or failed holder hearing its own outcome again).
            self.holder_seen = now;
            if now.since(self.holder_seen_at) >= seen_granularity(settings) {
                self.holder_seen_at = now;
            }
            return Ok(self.answer(idx));
        }
        if self.holder_status() == Some(Status::Completed) {
            // Rule 3: this run's commits were part of the winner's.
            let mut request = self.requests.remove(idx);
            request.status = Status::Completed;
            events.push(Event::of(EventKind::Completed, now, Some(&request)));
            self.remember(Finished {
                request: request.clone(),
                released: None,
                fencing_token: None,
            });
            self.end_round_if_done();
            return Ok(Answer::of(request, None));
        }
        Ok(self.elect(settings, idx, now, events))
    }

    /// Rule 5: may the pending caller at `idx` win now?
    fn elect(
        &mut self,
        settings: &LeaseSettings,
        idx: usize,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Answer {
        let previous_failed = self.holder_status() == Some(Status::Failure);
        let live_lease = self.holder.is_some() && !previous_failed;
        let ready = self.requests.len() >= settings.expected_build_count as usize
            || now.since(self.last_updated_at) >= settings.stabilisation_window
            || previous_failed;
        let highest = self.highest_pending_priority();
        if self.paused || live_lease || !ready || highest != Some(self.requests[idx].priority) {
            return self.answer(idx);
        }
        let r = &mut self.requests[idx];
        r.times_found_winner = r.times_found_winner.saturating_add(1);
        if r.times_found_winner <= settings.delay_assignment_count {
            return self.answer(idx);
        }
        r.status = Status::Acquired;
        let sha = r.head_sha.clone();
        if previous_failed {
            // The failed holder leaves the round once someone else takes over.
            if let Some(h) = self.holder.take() {
                self.requests.retain(|r| r.head_sha != h.head_sha);
            }
        }
        self.last_fencing_token += 1;
        self.holder = Some(Holder {
            head_sha: sha.clone(),
            fencing_token: self.last_fencing_token,
            granted_at: now,
        });
        self.holder_seen = now;
        self.holder_seen_at = now;
        let idx = self.index_of(&sha).unwrap_or(0);
        let mut event = Event::of(EventKind::Granted, now, self.requests.get(idx));
        event.fencing_token = Some(self.last_fencing_token);
        event.waited_ms = self
            .round_started_at
            .map(|t| now.since(t).as_millis() as u64);
        events.push(event);
        self.answer(idx)
    }

    /// `release` (SPEC §3, §6 fencing).
    pub fn release(
        &mut self,
        sha: &HeadSha,
        outcome: Outcome,
        fencing_token: Option<u64>,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LeaseError> {
        let holder_token = self.holder.as_ref().map(|h| h.fencing_token);
        if let (Some((r, token)), true) = (self.holder_request(), self.is_holder(sha)) {
            if r.status == Status::Acquired {
                if let Some(given) = fencing_token.filter(|g| *g != token) {
                    return Err(LeaseError::StaleFencingToken {
                        given,
                        current: token,
                    });
                }
                let kind = match outcome {
                    Outcome::Success => EventKind::ReleasedSuccess,
                    Outcome::Failure => EventKind::ReleasedFailure,
                };
                self.finish_holder(outcome, kind, now, events);
                let answer = self.released_answer(sha);
                self.end_round_if_done();
                return answer.ok_or_else(|| LeaseError::NotHolder {
                    head_sha: sha.to_string(),
                });
            }
        }
        // Not the live holder: a repeated release of a former holder is idempotent.
        if let Some(f) = self.recalled(sha).filter(|f| f.released.is_some()) {
            let recorded = f.released.unwrap_or(Outcome::Failure);
            if fencing_token.is_some_and(|g| Some(g) != f.fencing_token) {
                let current = holder_token.unwrap_or(self.last_fencing_token);
                return Err(LeaseError::StaleFencingToken {
                    given: fencing_token.unwrap_or(0),
                    current,
                });
            }
            if recorded != outcome {
                return Err(LeaseError::OutcomeMismatch {
                    head_sha: sha.to_string(),
                    recorded: recorded.as_str(),
                    asked: outcome.as_str(),
                });
            }
            return Ok(Answer::of(f.request.clone(), f.fencing_token));
        }
        if let Some(given) = fencing_token {
            if given < self.last_fencing_token {
                return Err(LeaseError::StaleFencingToken {
                    given,
                    current: self.last_fencing_token,
                });
            }
        }
        Err(LeaseError::NotHolder {
            head_sha: sha.to_string(),
        })
    }

    /// The holder ends its lease: `completed` on success, `failure` otherwise.
    fn finish_holder(
        &mut self,
        outcome: Outcome,
        kind: EventKind,
        now: Time,
        events: &mut Vec<Event>,
    ) {
        let Some(h) = self.holder.clone() else { return };
        let batch = self.requests.len();
        let Some(r) = self.requests.iter_mut().find(|r| r.head_sha == h.head_sha) else {
            return;
        };
        r.status = match outcome {
            Outcome::Success => Status::Completed,
            Outcome::Failure => Status::Failure,
        };
        let request = r.clone();
        let mut event = Event::of(kind, now, Some(&request));
        event.fencing_token = Some(h.fencing_token);
        if outcome == Outcome::Success {
            event.batch_size = Some(batch as u64);
        }
        events.push(event);
        self.remember(Finished {
            request,
            released: Some(outcome),
            fencing_token: Some(h.fencing_token),
        });
    }

    fn released_answer(&self, sha: &HeadSha) -> Option<Answer> {
        let f = self.recalled(sha)?;
        Some(Answer::of(f.request.clone(), f.fencing_token))
    }

    /// The round ends once nothing but a completed or failed holder is left.
    fn end_round_if_done(&mut self) {
        let only_finished_holder_left = self.requests.iter().all(|r| {
            self.holder
                .as_ref()
                .is_some_and(|h| h.head_sha == r.head_sha)
                && matches!(r.status, Status::Completed | Status::Failure)
        });
        if only_finished_holder_left && !self.is_idle() {
            self.requests.clear();
            self.holder = None;
            self.round_started_at = None;
        }
        if self.requests.is_empty() && self.holder.is_none() {
            self.round_started_at = None;
        }
    }

    /// A parked long-poll caller is asking right now: it counts as seen.
    pub fn touch(&mut self, settings: &LeaseSettings, sha: &HeadSha, now: Time) {
        if let Some(r) = self.requests.iter_mut().find(|r| &r.head_sha == sha) {
            seen(r, now, settings);
        }
    }

    /// Undo a grant whose answer could not be delivered (the caller went away while it
    /// was being saved): the run goes back to `pending` as if it had never won.
    pub fn revoke(&mut self, sha: &HeadSha, now: Time, events: &mut Vec<Event>) {
        if !self.is_holder(sha) || self.holder_status() != Some(Status::Acquired) {
            return;
        }
        self.holder = None;
        if let Some(r) = self.requests.iter_mut().find(|r| &r.head_sha == sha) {
            r.status = Status::Pending;
            r.times_found_winner = 0;
            events.push(Event::of(EventKind::Revoked, now, Some(r)));
        }
    }

    /// Housekeeping: lease expiry, TTL eviction, end of round. Returns the next moment
    /// at which something may change without any call (the provider's timer).
    pub fn tick(
        &mut self,
        settings: &LeaseSettings,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Option<Time> {
        let lease_timeout = settings.lease_timeout;
        if !lease_timeout.is_zero()
            && self.holder_status() == Some(Status::Acquired)
            && now.since(self.holder_seen) >= lease_timeout
        {
            self.finish_holder(Outcome::Failure, EventKind::LeaseExpired, now, events);
        }
        let holder = self.holder.as_ref().map(|h| h.head_sha.clone());
        let resumed_at = self.resumed_at;
        let mut evicted = Vec::new();
        self.requests.retain(|r| {
            let silent = r.status == Status::Pending
                && Some(&r.head_sha) != holder.as_ref()
                && now.since(r.last_seen.max(resumed_at)) >= settings.ttl;
            if silent {
                evicted.push(Event::of(EventKind::Evicted, now, Some(r)));
            }
            !silent
        });
        events.extend(evicted);
        self.end_round_if_done();
        self.next_deadline(settings, now)
    }

    /// What the provider does after every change and on every timer: parked long-poll
    /// callers count as seen, housekeeping runs, then each parked caller asks again in
    /// arrival order (a parked caller *is* asking, so it may be granted: rule 6).
    /// Returns, per parked call, its answer once it is no longer `pending`, and the next
    /// deadline for the provider's timer.
    pub fn settle(
        &mut self,
        settings: &LeaseSettings,
        parked: &[AcquireRequest],
        now: Time,
        events: &mut Vec<Event>,
    ) -> (Vec<Option<Result<Answer, LeaseError>>>, Option<Time>) {
        for call in parked {
            self.touch(settings, &call.head_sha, now);
        }
        self.tick(settings, now, events);
        let answers = parked
            .iter()
            .map(|call| match self.acquire(settings, call, now, events) {
                Ok(a) if a.request.status == Status::Pending => None,
                other => Some(other),
            })
            .collect();
        (answers, self.next_deadline(settings, now))
    }

    /// The earliest moment housekeeping or an election may have something to do.
    pub fn next_deadline(&self, settings: &LeaseSettings, now: Time) -> Option<Time> {
        let mut next: Option<Time> = None;
        let mut consider = |t: Time| next = Some(next.map_or(t, |n| n.min(t)));
        for r in self.requests.iter().filter(|r| r.status == Status::Pending) {
            consider(self.ttl_from(r).plus(settings.ttl));
        }
        match self.holder_status() {
            Some(Status::Acquired) if !settings.lease_timeout.is_zero() => {
                consider(self.holder_seen.plus(settings.lease_timeout));
            }
            // The window's end matters once (parked callers may win then); after it has
            // passed it is no deadline, or the timer would fire again and again.
            None if !self.requests.is_empty()
                && self.last_updated_at.plus(settings.stabilisation_window) > now =>
            {
                consider(self.last_updated_at.plus(settings.stabilisation_window));
            }
            _ => {}
        }
        next
    }

    /// `clear` (admin): drops the round and what it remembers; fencing tokens keep rising.
    /// A pause is an operator's decision about the queue, not round state: it stays.
    pub fn clear(&mut self, now: Time, events: &mut Vec<Event>) {
        let last_fencing_token = self.last_fencing_token;
        let paused = self.paused;
        *self = ProviderState::new(now);
        self.last_fencing_token = last_fencing_token;
        self.paused = paused;
        events.push(Event::of(EventKind::Cleared, now, None));
    }

    /// The current answer for a known run (a waiter whose wait ended), if it is known.
    pub fn answer_for(&self, settings: &LeaseSettings, sha: &HeadSha, now: Time) -> Option<Answer> {
        self.index_of(sha)
            .map(|idx| self.decorate(settings, now, self.answer(idx)))
    }

    /// Admin revoke: the holder's live lease ends as a `failure`, so the others compete
    /// again at once (as after a failure release); `reason` and `by` go into the history.
    pub fn revoke_lease(
        &mut self,
        reason: Option<String>,
        by: &str,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Result<HolderInfo, LeaseError> {
        let holder = self.holder_info();
        let Some(live) = holder.clone().filter(|h| h.status == Status::Acquired) else {
            return Err(LeaseError::NoLiveLease { holder });
        };
        let before = events.len();
        self.finish_holder(Outcome::Failure, EventKind::LeaseRevoked, now, events);
        if let Some(e) = events.get_mut(before) {
            e.reason = reason;
            e.by = Some(by.to_owned());
        }
        self.end_round_if_done();
        Ok(live)
    }

    /// Admin pause (`true`) or resume (`false`); false if it was already so (no event).
    pub fn set_paused(
        &mut self,
        paused: bool,
        by: &str,
        now: Time,
        events: &mut Vec<Event>,
    ) -> bool {
        if self.paused == paused {
            return false;
        }
        self.paused = paused;
        let kind = if paused {
            EventKind::Paused
        } else {
            EventKind::Resumed
        };
        let mut event = Event::of(kind, now, None);
        event.by = Some(by.to_owned());
        events.push(event);
        true
    }

    /// Known requests ascending by priority with what the provider view shows of each
    /// (why it waits, the holder's lease times) at `now`.
    pub fn view_known(&self, settings: &LeaseSettings, now: Time) -> Vec<Answer> {
        self.known_by_priority()
            .into_iter()
            .map(|a| self.decorate(settings, now, a))
            .collect()
    }

    /// [`Self::acquired`] with the holder's lease times.
    pub fn view_acquired(&self, settings: &LeaseSettings, now: Time) -> Option<Answer> {
        self.acquired().map(|a| self.decorate(settings, now, a))
    }

    /// Known requests ascending by priority (the provider view's `known`).
    pub fn known_by_priority(&self) -> Vec<Answer> {
        let mut idx: Vec<usize> = (0..self.requests.len()).collect();
        idx.sort_by_key(|&i| self.requests[i].priority);
        idx.into_iter().map(|i| self.answer(i)).collect()
    }

    /// The holder's answer while it holds a live lease (the provider view's `acquired`).
    pub fn acquired(&self) -> Option<Answer> {
        let h = self.holder.as_ref()?;
        let idx = self.index_of(&h.head_sha)?;
        (self.requests[idx].status == Status::Acquired).then(|| self.answer(idx))
    }
}

/// The 409 for a new run while `holder` decides the round: names it and since when.
fn busy(holder: HolderInfo) -> Busy {
    let who = format!(
        "{} (priority {}, holding since {})",
        holder.head_sha,
        holder.priority.get(),
        holder.since.rfc3339()
    );
    let message = match holder.status {
        Status::Completed => format!(
            "the current round completed: {who} released success; its runs are being told, retry later"
        ),
        Status::Failure => format!(
            "a failed round is being resolved: the lease of {who} ended in failure, retry later"
        ),
        _ => format!(
            "a lease is held by {} (priority {}) since {}, retry later",
            holder.head_sha,
            holder.priority.get(),
            holder.since.rfc3339()
        ),
    };
    Busy {
        message,
        holder: Some(holder),
    }
}

/// How stale a saved last-seen time may get before a call saves it on its own: a third
/// of the ttl (at least a second), so a run polling often causes at most one write per
/// that time and the views show when it was last seen to within it.
pub fn seen_granularity(settings: &LeaseSettings) -> std::time::Duration {
    (settings.ttl / 3).max(std::time::Duration::from_secs(1))
}

/// A call from `r` at `now`: its TTL restarts; the saved time follows once it is stale.
fn seen(r: &mut Request, now: Time, settings: &LeaseSettings) {
    r.last_seen = now;
    if now.since(r.last_seen_at) >= seen_granularity(settings) {
        r.last_seen_at = now;
    }
}
