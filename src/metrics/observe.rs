//! Logs and counters for what happened to a provider: one `info!` line per grant, release,
//! eviction, expiry, clear and admin action, with the provider key and the head sha.

use log::info;

use super::{provider_labels, LeaseMetrics};
use crate::domain::{Event, EventKind, LeaseSettings, ProviderKey};

impl LeaseMetrics {
    /// Logs and counters for the events of a saved change.
    pub fn observe(&self, key: &ProviderKey, settings: &LeaseSettings, events: &[Event]) {
        let l = provider_labels(key);
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
                    self.grants.with_label_values(&l).inc();
                    if let Some(ms) = e.waited_ms {
                        self.time_to_grant
                            .with_label_values(&l)
                            .observe(ms as f64 / 1000.0);
                    }
                }
                EventKind::ReleasedSuccess | EventKind::ReleasedFailure => {
                    let outcome = if e.kind == EventKind::ReleasedSuccess {
                        "success"
                    } else {
                        "failure"
                    };
                    info!("{}: released by {sha} with {outcome}", label);
                    self.releases
                        .with_label_values(&[l[0], l[1], l[2], outcome])
                        .inc();
                    if let Some(n) = e.batch_size {
                        self.batch_size.with_label_values(&l).observe(n as f64);
                    }
                }
                EventKind::LeaseExpired => {
                    info!(
                        "{}: lease of {sha} expired after {:?} without a sign of life",
                        label, settings.lease_timeout
                    );
                    self.expired_leases.with_label_values(&l).inc();
                    self.releases
                        .with_label_values(&[l[0], l[1], l[2], "failure"])
                        .inc();
                }
                EventKind::Evicted => {
                    info!("{}: evicted {sha} (not seen for {:?})", label, settings.ttl);
                    self.evictions.with_label_values(&l).inc();
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
                    self.admin_action(key, "revoke");
                }
                EventKind::Paused => {
                    info!(
                        "{}: paused by {}: no grants until resumed",
                        label,
                        e.by.as_deref().unwrap_or("-")
                    );
                    self.admin_action(key, "pause");
                }
                EventKind::Resumed => {
                    info!(
                        "{}: resumed by {}: grants allowed again",
                        label,
                        e.by.as_deref().unwrap_or("-")
                    );
                    self.admin_action(key, "resume");
                }
            }
        }
    }

    fn admin_action(&self, key: &ProviderKey, action: &str) {
        let l = provider_labels(key);
        self.admin_actions
            .with_label_values(&[l[0], l[1], l[2], action])
            .inc();
    }
}
