//! Logs and counters for what happened to a provider: one `info!` line per grant, release,
//! eviction, expiry, clear and admin action, with the provider key and the head sha.

use log::info;

use std::sync::atomic::Ordering::Relaxed;

use super::series::{ACTIONS, OUTCOMES};
use super::ProviderMetrics;
use crate::domain::{Event, EventKind, LeaseSettings, ProviderKey};

impl ProviderMetrics {
    /// Logs and counters for the events of a saved change.
    pub fn observe(&self, key: &ProviderKey, settings: &LeaseSettings, events: &[Event]) {
        let f = &self.figures;
        let label = key;
        for e in events {
            let sha = e.head_sha.as_ref().map(|s| s.as_str()).unwrap_or("-");
            let priority = e.priority.map(|p| p.get()).unwrap_or(0);
            match e.kind {
                EventKind::Registered => {
                    log::debug!("{}: registered {sha} (priority {priority})", label)
                }
                EventKind::Granted => {
                    info!(
                        "{}: granted to {sha} (priority {priority}, fencing token {})",
                        label,
                        e.fencing_token.unwrap_or(0)
                    );
                    f.grants.fetch_add(1, Relaxed);
                    if let Some(ms) = e.waited_ms {
                        self.lease.time_to_grant.observe(ms as f64 / 1000.0);
                    }
                }
                EventKind::ReleasedSuccess | EventKind::ReleasedFailure => {
                    let outcome = if e.kind == EventKind::ReleasedSuccess {
                        "success"
                    } else {
                        "failure"
                    };
                    info!("{}: released by {sha} with {outcome}", label);
                    self.released(outcome);
                    if let Some(n) = e.batch_size {
                        self.lease.batch_size.observe(n as f64);
                    }
                }
                EventKind::LeaseExpired => {
                    match &e.reason {
                        // Silent since its grant: the operator's opt-in took the lease.
                        Some(reason) => info!(
                            "{}: lease of {sha} expired after {:?}: {reason}",
                            label, settings.silent_holder_timeout
                        ),
                        None => info!(
                            "{}: lease of {sha} expired after {:?} without a sign of life",
                            label, settings.lease_timeout
                        ),
                    }
                    f.expired_leases.fetch_add(1, Relaxed);
                    self.released("failure");
                }
                EventKind::Evicted => {
                    info!("{}: evicted {sha} (not seen for {:?})", label, settings.ttl);
                    f.evictions.fetch_add(1, Relaxed);
                }
                EventKind::Completed => log::debug!("{}: told {sha} completed", label),
                EventKind::Revoked => {
                    info!("{}: grant to {sha} undone: its caller had gone", label)
                }
                EventKind::Cleared => info!("{}: cleared", label),
                EventKind::LeaseRevoked => {
                    info!(
                        "{}: lease of {sha} (priority {priority}) revoked by {}: {}",
                        label,
                        e.by.as_deref().unwrap_or("-"),
                        e.reason.as_deref().unwrap_or("no reason given")
                    );
                    self.admin_action("revoke");
                }
                EventKind::Paused => {
                    info!(
                        "{}: paused by {}: no grants until resumed",
                        label,
                        e.by.as_deref().unwrap_or("-")
                    );
                    self.admin_action("pause");
                }
                EventKind::Resumed => {
                    info!(
                        "{}: resumed by {}: grants allowed again",
                        label,
                        e.by.as_deref().unwrap_or("-")
                    );
                    self.admin_action("resume");
                }
            }
        }
    }

    fn released(&self, outcome: &str) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            self.figures.releases[i].fetch_add(1, Relaxed);
        }
    }

    fn admin_action(&self, action: &str) {
        if let Some(i) = ACTIONS.iter().position(|a| *a == action) {
            self.figures.admin_actions[i].fetch_add(1, Relaxed);
        }
    }
}
