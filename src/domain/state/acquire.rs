//! `acquire` (docs/rules.md §3 rules 1–6): registration, the election, the grant.

use super::views::busy;
use super::*;

impl ProviderState {
    /// `acquire` (docs/rules.md §3 rules 1–6). `now` is the moment the caller is asking. A
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

    pub(super) fn decide(
        &mut self,
        settings: &LeaseSettings,
        call: &AcquireRequest,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Result<Answer, LeaseError> {
        let sha = &call.head_sha;
        // A copy of the caller's request as registered or refreshed: the answer if the
        // request were somehow gone by the end (it cannot be; this keeps the rules panic-free).
        let known = match self.request_mut(sha) {
            Some(r) => {
                // Rule 2: refresh; a changed priority or head_ref restarts the window.
                // A call without head_ref leaves the stored one as it is.
                seen(r, now, settings);
                let head_ref = call.head_ref.clone().or_else(|| r.head_ref.clone());
                let changed = r.priority != call.priority || r.head_ref != head_ref;
                if changed {
                    r.priority = call.priority;
                    r.head_ref = head_ref;
                }
                let known = r.clone();
                if changed {
                    self.last_updated_at = now;
                }
                known
            }
            None => {
                // A run told `completed` (or a former holder) asking again gets its answer again.
                if let Some(f) = self.recalled(sha) {
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
                let request = Request {
                    head_sha: sha.clone(),
                    head_ref: call.head_ref.clone(),
                    priority: call.priority,
                    status: Status::Pending,
                    registered_at: now,
                    last_seen: now,
                    last_seen_at: now,
                    times_found_winner: 0,
                };
                self.requests.push(request.clone());
                self.last_updated_at = now;
                self.round_started_at.get_or_insert(now);
                events.push(Event::of(EventKind::Registered, now, Some(&request)));
                request
            }
        };

        if self.is_holder(sha) {
            // Rule 4 (and a completed or failed holder hearing its own outcome again).
            // A call after the grant is the sign of life that puts the holder under
            // `lease_timeout` (docs/rules.md §13).
            if let Some(h) = self.holder.as_mut() {
                h.heard_since_grant = true;
            }
            self.holder_seen = now;
            if now.since(self.holder_seen_at) >= seen_granularity(settings) {
                self.holder_seen_at = now;
            }
            return Ok(self
                .answer_to(sha)
                .unwrap_or_else(|| Answer::of(known, None)));
        }
        if let Some(answer) = self.tell_completed(sha, now, events) {
            return Ok(answer);
        }
        Ok(self
            .elect(settings, sha, now, events)
            .unwrap_or_else(|| Answer::of(known, None)))
    }

    /// Rule 3: once the holder has completed, the other known run `sha` is told
    /// `completed` (its commits were part of the winner's) and leaves the round. `None`
    /// when the holder has not completed or `sha` is not one of the round's other runs.
    fn tell_completed(
        &mut self,
        sha: &HeadSha,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Option<Answer> {
        if self.holder_status() != Some(Status::Completed) || self.is_holder(sha) {
            return None;
        }
        let mut request = self.take_request(sha)?;
        request.status = Status::Completed;
        events.push(Event::of(EventKind::Completed, now, Some(&request)));
        self.remember(Finished {
            request: request.clone(),
            released: None,
            fencing_token: None,
        });
        self.end_round_if_done();
        Some(Answer::of(request, None))
    }

    /// Rule 5: may the pending caller `sha` win now? `None` only if `sha` is not known.
    pub(super) fn elect(
        &mut self,
        settings: &LeaseSettings,
        sha: &HeadSha,
        now: Time,
        events: &mut Vec<Event>,
    ) -> Option<Answer> {
        let previous_failed = self.holder_status() == Some(Status::Failure);
        let live_lease = self.holder.is_some() && !previous_failed;
        let ready = self.election_ready(settings, now);
        let highest = self.highest_pending_priority();
        let paused = self.paused;
        let r = self.request_mut(sha)?;
        if paused || live_lease || !ready || highest != Some(r.priority) {
            return self.answer_to(sha);
        }
        r.times_found_winner = r.times_found_winner.saturating_add(1);
        if r.times_found_winner <= settings.delay_assignment_count {
            return self.answer_to(sha);
        }
        r.status = Status::Acquired;
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
            heard_since_grant: false,
        });
        self.holder_seen = now;
        self.holder_seen_at = now;
        let mut event = Event::of(EventKind::Granted, now, self.request(sha));
        event.fencing_token = Some(self.last_fencing_token);
        event.waited_ms = self
            .round_started_at
            .map(|t| now.since(t).as_millis() as u64);
        events.push(event);
        self.answer_to(sha)
    }
}
