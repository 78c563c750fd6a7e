//! Prometheus metrics: actix-web-prom for HTTP, plus the lease figures on its registry.

use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// The lease metrics, labelled by provider (`owner:repo:base_ref`). Cheap to clone.
#[derive(Clone)]
pub struct LeaseMetrics {
    pub known_requests: IntGaugeVec,
    pub holder: IntGaugeVec,
    pub waiting_requests: IntGaugeVec,
    pub grants: IntCounterVec,
    pub releases: IntCounterVec,
    pub evictions: IntCounterVec,
    pub expired_leases: IntCounterVec,
    pub batch_size: HistogramVec,
    pub time_to_grant: HistogramVec,
    pub store_failures: IntCounterVec,
    pub admin_actions: IntCounterVec,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGaugeVec, prometheus::Error> {
    let g = IntGaugeVec::new(Opts::new(name, help), &["provider"])?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: Vec<f64>,
) -> Result<HistogramVec, prometheus::Error> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets),
        &["provider"],
    )?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

impl LeaseMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        Ok(Self {
            known_requests: gauge(
                registry,
                "mq_lease_known_requests",
                "Requests known in the current round",
            )?,
            holder: gauge(
                registry,
                "mq_lease_holder",
                "1 while a run holds a live lease",
            )?,
            waiting_requests: gauge(
                registry,
                "mq_lease_waiting_requests",
                "Long-poll acquire calls held open",
            )?,
            grants: counter(
                registry,
                "mq_lease_grants_total",
                "Leases granted",
                &["provider"],
            )?,
            releases: counter(
                registry,
                "mq_lease_releases_total",
                "Leases released, by outcome",
                &["provider", "outcome"],
            )?,
            evictions: counter(
                registry,
                "mq_lease_evictions_total",
                "Pending requests evicted after their ttl",
                &["provider"],
            )?,
            expired_leases: counter(
                registry,
                "mq_lease_expired_leases_total",
                "Leases taken from a holder silent for lease_timeout",
                &["provider"],
            )?,
            batch_size: histogram(
                registry,
                "mq_lease_merged_batch_size",
                "Runs of a round covered by a successful release",
                vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0],
            )?,
            time_to_grant: histogram(
                registry,
                "mq_lease_time_to_grant_seconds",
                "Seconds from a round's first registration to a grant",
                vec![
                    0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                ],
            )?,
            store_failures: counter(
                registry,
                "mq_lease_store_failures_total",
                "State changes that could not be saved",
                &["provider"],
            )?,
            admin_actions: counter(
                registry,
                "mq_lease_admin_actions_total",
                "Admin actions that changed a provider (revoke, pause, resume)",
                &["action"],
            )?,
        })
    }

    /// Drop a provider's series (when it is no longer served).
    pub fn forget(&self, provider: &str) {
        let _ = self.known_requests.remove_label_values(&[provider]);
        let _ = self.holder.remove_label_values(&[provider]);
        let _ = self.waiting_requests.remove_label_values(&[provider]);
    }
}

/// The HTTP middleware (serving `/metrics`) and the lease metrics on the same registry.
pub fn build() -> Result<(PrometheusMetrics, LeaseMetrics), String> {
    let registry = Registry::new();
    let lease = LeaseMetrics::register(&registry).map_err(|e| e.to_string())?;
    let http = PrometheusMetricsBuilder::new("mq_lease_http")
        .registry(registry)
        .endpoint("/metrics")
        // Unmatched paths would otherwise become one label value each.
        .mask_unmatched_patterns("UNKNOWN")
        .build()
        .map_err(|e| e.to_string())?;
    Ok((http, lease))
}
