//! `Journal`: what the store keeps track of for one provider between writes.
//!
//! It numbers the provider's history events, trims the stored history to [`HISTORY_CAPACITY`],
//! builds the one [`Op`] a change needs (encoding it once), and knows whether the provider's
//! current state is what the store holds — so a change that alters no saved field and adds no
//! event costs neither an encoding nor a store round trip.
//!
//! The history itself is not kept here: it is in the store with every change, and read back
//! from there when asked for ([`super::Store::events`]).

use super::record::{self, HISTORY_CAPACITY};
use super::Op;
use crate::domain::{Event, LeaseSettings, ProviderKey, ProviderState};

#[derive(Debug)]
pub struct Journal {
    /// Sequence number the next history event gets.
    next_event_seq: u64,
    /// The provider's current state is stored, under its current settings. False for a provider
    /// never saved, and for one loaded under settings the configuration has since changed.
    in_sync: bool,
}

impl Journal {
    /// A provider never saved.
    pub fn fresh() -> Self {
        Self {
            next_event_seq: 0,
            in_sync: false,
        }
    }

    /// A provider as loaded: its state is what is stored.
    pub(super) fn loaded(next_event_seq: u64) -> Self {
        Self {
            next_event_seq,
            in_sync: true,
        }
    }

    /// The stored state was saved under other settings: the next change writes them, even if it
    /// alters nothing else.
    pub fn settings_changed(&mut self) {
        self.in_sync = false;
    }

    /// Whether going from `current` (the stored state) to `next` with `events` must be saved.
    /// Compares structure, never bytes.
    pub fn needs_write(
        &self,
        current: &ProviderState,
        next: &ProviderState,
        events: &[Event],
    ) -> bool {
        !self.in_sync || !events.is_empty() || !record::same_record(current, next)
    }

    /// The write for a change: the record of `next` and `events` numbered after the last
    /// saved one, with the events that fall out of the history dropped.
    pub fn prepare(
        &self,
        key: &ProviderKey,
        settings: &LeaseSettings,
        next: &ProviderState,
        events: &[Event],
    ) -> Op {
        let first_seq = self.next_event_seq;
        let next_seq = first_seq + events.len() as u64;
        Op::Put {
            key: key.to_string(),
            record: record::encode(key, settings, next_seq, next),
            events: events
                .iter()
                .zip(first_seq..)
                .map(|(e, seq)| (seq, record::encode_event(e)))
                .collect(),
            keep_events_from: next_seq.saturating_sub(HISTORY_CAPACITY),
        }
    }

    /// The write prepared for `events` is on disk: numbering continues after them. The events
    /// themselves are dropped (the store holds them).
    pub fn saved(&mut self, events: Vec<Event>) {
        self.next_event_seq += events.len() as u64;
        self.in_sync = true;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::domain::{AcquireRequest, Finished, HeadSha, Outcome, Priority, Time};

    fn poll(state: &mut ProviderState, sha: &str, at: u64, events: &mut Vec<Event>) {
        let call = AcquireRequest {
            head_sha: HeadSha::parse(sha).unwrap(),
            head_ref: None,
            priority: Priority::parse(1).unwrap(),
        };
        state
            .acquire(&LeaseSettings::default(), &call, Time(at), events)
            .unwrap();
    }

    #[test]
    fn a_plain_poll_needs_no_write_and_a_registration_or_a_fresh_provider_does() {
        let mut saved = ProviderState::new(Time(1_000));
        poll(&mut saved, "a", 2_000, &mut Vec::new());
        saved.stamp_seen();
        let mut journal = Journal::fresh();
        assert!(journal.needs_write(&saved, &saved, &[]), "never saved yet");
        journal.saved(Vec::new());

        let mut next = saved.clone();
        let mut events = Vec::new();
        poll(&mut next, "a", 9_000, &mut events);
        assert!(events.is_empty());
        assert!(
            !journal.needs_write(&saved, &next, &events),
            "a poll is no write"
        );

        poll(&mut next, "b", 9_500, &mut events);
        assert!(journal.needs_write(&saved, &next, &events));
        let mut without_events = saved.clone();
        without_events.paused = true;
        assert!(
            journal.needs_write(&saved, &without_events, &[]),
            "a saved field changed"
        );

        journal.settings_changed();
        assert!(
            journal.needs_write(&saved, &saved, &[]),
            "new settings are saved"
        );
    }

    #[test]
    fn a_run_remembered_on_a_copy_needs_a_write_and_leaves_the_saved_state_as_it_was() {
        let mut saved = ProviderState::new(Time(1_000));
        poll(&mut saved, "a", 2_000, &mut Vec::new());
        saved.stamp_seen();
        let mut journal = Journal::fresh();
        journal.saved(Vec::new());
        let finished = Finished {
            request: saved.requests[0].clone(),
            released: None,
            fencing_token: None,
        };
        std::sync::Arc::make_mut(&mut saved.recent).push_back(finished.clone());

        // The provider's copy shares the remembered runs; remembering one more is a
        // change to save even without an event, and the saved state keeps its one run.
        let mut next = saved.clone();
        std::sync::Arc::make_mut(&mut next.recent).push_back(Finished {
            released: Some(Outcome::Success),
            ..finished
        });
        assert_eq!(saved.recent.len(), 1, "the saved state is left as it was");
        assert!(
            journal.needs_write(&saved, &next, &[]),
            "a remembered run is saved"
        );

        // Equal remembered runs that are not shared (a state loaded again) are no change.
        let mut reloaded = saved.clone();
        reloaded.recent = std::sync::Arc::new(VecDeque::clone(&saved.recent));
        assert!(!journal.needs_write(&saved, &reloaded, &[]));
    }
}
