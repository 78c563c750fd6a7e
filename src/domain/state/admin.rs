//! Admin actions: clear, revoke the lease, pause and resume.

use super::*;

impl ProviderState {
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
}
