//! `release` and the end of a holder's lease; the round ends when nothing is left.

use super::*;

impl ProviderState {
    /// `release` (docs/rules.md §3, §6 fencing, §13 a completed run's release).
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
        // docs/rules.md §13: a run told `completed` releasing, as clients that release on every run
        // do, hears `completed` again whatever status it sends, and nothing changes. (A
        // run not told yet is another non-holder: it learns on its next acquire call.)
        if let Some(f) = self.recalled(sha).filter(|f| f.released.is_none()) {
            let mut request = f.request.clone();
            request.status = Status::Completed;
            return Ok(Answer::of(request, None));
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
    pub(super) fn finish_holder(
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

    pub(super) fn released_answer(&self, sha: &HeadSha) -> Option<Answer> {
        let f = self.recalled(sha)?;
        Some(Answer::of(f.request.clone(), f.fencing_token))
    }

    /// The round ends once nothing but a completed or failed holder is left.
    pub(super) fn end_round_if_done(&mut self) {
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
}
