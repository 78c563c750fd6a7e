//! What the answers and views show of a state: holder, lease times, why a run waits.

use super::*;

impl ProviderState {
    /// The holder of the current round, in whatever status it is.
    pub fn holder_info(&self) -> Option<HolderInfo> {
        let h = self.holder.as_ref()?;
        let (r, _) = self.holder_request()?;
        Some(HolderInfo {
            head_sha: r.head_sha.clone(),
            priority: r.priority,
            status: r.status,
            since: h.granted_at,
            silent_since_grant: !h.heard_since_grant,
        })
    }

    /// When the live holder loses its lease if silent; `None` when there is no live
    /// lease or no timeout applies to it ([`LeaseSettings::holder_timeout`]).
    /// Counted from the saved sign of life, so it may be earlier than the real deadline
    /// by up to [`seen_granularity`] (or, after a restart, the downtime: a restart gives
    /// the holder a fresh timeout) but never later.
    pub fn lease_expires_at(&self, settings: &LeaseSettings) -> Option<Time> {
        self.holder_deadline(settings, self.holder_seen_at)
    }

    /// Why the known `pending` run `sha` is not granted at `now` (docs/rules.md §8); `None` for a
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
        let window_ends_at = self.last_updated_at.plus(settings.stabilisation_window);
        if !self.election_ready(settings, now) {
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
    pub(super) fn decorate(
        &self,
        settings: &LeaseSettings,
        now: Time,
        mut answer: Answer,
    ) -> Answer {
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

    /// The answer for the known request of `sha`, if it is known.
    pub(super) fn answer_to(&self, sha: &HeadSha) -> Option<Answer> {
        self.request(sha).map(|r| self.answer(r))
    }

    /// The answer for `request`, one of this state's known requests.
    pub(super) fn answer(&self, request: &Request) -> Answer {
        let request = request.clone();
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

    /// The current answer for a known run (a waiter whose wait ended), if it is known.
    pub fn answer_for(&self, settings: &LeaseSettings, sha: &HeadSha, now: Time) -> Option<Answer> {
        self.answer_to(sha)
            .map(|answer| self.decorate(settings, now, answer))
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
        let mut known: Vec<&Request> = self.requests.iter().collect();
        known.sort_by_key(|r| r.priority);
        known.into_iter().map(|r| self.answer(r)).collect()
    }

    /// The holder's answer while it holds a live lease (the provider view's `acquired`).
    pub fn acquired(&self) -> Option<Answer> {
        let h = self.holder.as_ref()?;
        let r = self.request(&h.head_sha)?;
        (r.status == Status::Acquired).then(|| self.answer(r))
    }
}

/// The 409 for a new run while `holder` decides the round: names it and since when.
pub(super) fn busy(holder: HolderInfo) -> Busy {
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
