//! Housekeeping: lease expiry, TTL eviction, settling parked callers, the next deadline.

use super::*;

impl ProviderState {
    /// Housekeeping: lease expiry, TTL eviction, end of round. When it next has something
    /// to do is [`ProviderState::next_deadline`] (the one place that computes it).
    pub fn housekeep(&mut self, settings: &LeaseSettings, now: Time, events: &mut Vec<Event>) {
        if self
            .holder_deadline(settings, self.holder_seen)
            .is_some_and(|deadline| now >= deadline)
        {
            let silent = self.holder.as_ref().is_some_and(|h| !h.heard_since_grant);
            let before = events.len();
            self.finish_holder(Outcome::Failure, EventKind::LeaseExpired, now, events);
            if let (true, Some(e)) = (silent, events.get_mut(before)) {
                e.reason = Some("silent since its grant for silent_holder_timeout".to_owned());
            }
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
    }

    /// What the provider does after every change and on every timer: parked long-poll
    /// callers count as seen, housekeeping runs, then each parked caller asks again in
    /// arrival order (a parked caller *is* asking, so it may be granted: rule 6).
    /// Returns, per parked call, its answer once it is no longer `pending` (only those are
    /// decorated: a still-pending caller gets nothing yet).
    pub fn settle(
        &mut self,
        settings: &LeaseSettings,
        parked: &[AcquireRequest],
        now: Time,
        events: &mut Vec<Event>,
    ) -> Vec<Option<Result<Answer, LeaseError>>> {
        for call in parked {
            self.touch(settings, &call.head_sha, now);
        }
        self.housekeep(settings, now, events);
        parked
            .iter()
            .map(|call| match self.decide(settings, call, now, events) {
                Ok(a) if a.request.status == Status::Pending => None,
                Ok(a) => Some(Ok(self.decorate(settings, now, a))),
                Err(e) => Some(Err(e)),
            })
            .collect()
    }

    /// The earliest moment housekeeping or an election may have something to do.
    pub fn next_deadline(&self, settings: &LeaseSettings, now: Time) -> Option<Time> {
        let mut next: Option<Time> = None;
        let mut consider = |t: Time| next = Some(next.map_or(t, |n| n.min(t)));
        for r in self.requests.iter().filter(|r| r.status == Status::Pending) {
            consider(self.ttl_from(r).plus(settings.ttl));
        }
        if let Some(deadline) = self.holder_deadline(settings, self.holder_seen) {
            consider(deadline);
        }
        match self.holder_status() {
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
}
