//! Several replicas: who owns the state, how often it moved, and what forwarding costs.

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntGauge, Registry};

use super::register;

/// Buckets of `mq_lease_cluster_forward_seconds`: a plain call takes milliseconds, a held
/// acquire up to its wait (120 s at most).
const FORWARD_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 130.0,
];

#[derive(Clone)]
pub struct ClusterMetrics {
    /// `mq_lease_cluster_is_owner`: 1 while this replica owns (and serves) the state.
    pub is_owner: IntGauge,
    /// `mq_lease_cluster_failovers_total`: times this replica gained ownership.
    pub failovers: IntCounter,
    /// `mq_lease_cluster_forward_seconds{status}`: requests this replica sent to the owner,
    /// until the owner's answer began (`status` is its status, or `error`).
    pub forward_seconds: HistogramVec,
}

impl ClusterMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            is_owner: register(
                registry,
                IntGauge::new(
                    "mq_lease_cluster_is_owner",
                    "1 while this replica owns the state (several replicas on PostgreSQL), else 0",
                )?,
            )?,
            failovers: register(
                registry,
                IntCounter::new(
                    "mq_lease_cluster_failovers_total",
                    "Times this replica gained ownership of the state",
                )?,
            )?,
            forward_seconds: register(
                registry,
                HistogramVec::new(
                    HistogramOpts::new(
                        "mq_lease_cluster_forward_seconds",
                        "Seconds until the owning replica answered a forwarded request",
                    )
                    .buckets(FORWARD_BUCKETS.to_vec()),
                    &["status"],
                )?,
            )?,
        })
    }
}
