//! Prometheus metrics on one registry (no global): HTTP figures recorded by the
//! middleware in [`crate::access_log`], the lease figures kept by the provider actors,
//! build info, readiness and (on Linux) the process collector. `GET /metrics` (in [`crate::routes::health`]) renders it.
//!
//! Per-provider series carry `owner`, `repo` and `base_ref` labels, so `sum by (repo)`
//! works. HTTP series carry `method`, `route` (the route pattern, never the raw path)
//! and `status`. The README's "Metrics" section lists every name.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

mod cluster;
mod observe;

pub use cluster::ClusterMetrics;

use crate::domain::{ProviderKey, Time};

/// The labels of every per-provider series, in this order.
pub const PROVIDER_LABELS: [&str; 3] = ["owner", "repo", "base_ref"];

/// `[owner, repo, base_ref]` of a provider, for `with_label_values`.
pub fn provider_labels(key: &ProviderKey) -> [&str; 3] {
    [key.owner(), key.repo(), key.base_ref()]
}

/// Buckets of `mq_lease_http_request_duration_seconds` (requests that do not wait).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of `mq_lease_acquire_wait_seconds`: a held acquire lasts up to 120 s (its
/// longest wait); the 130 s bucket catches one that ran its full wait plus the answer.
pub const WAIT_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 130.0,
];

/// Everything `/metrics` shows. Cheap to clone (the series are shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http: HttpMetrics,
    pub lease: LeaseMetrics,
    pub cluster: ClusterMetrics,
    ready: IntGauge,
}

/// Recorded once per request by the access-log middleware.
#[derive(Clone)]
pub struct HttpMetrics {
    /// `mq_lease_http_requests_total{method,route,status}`: every request.
    pub requests: IntCounterVec,
    /// `mq_lease_http_request_duration_seconds{method,route,status}`: every request except
    /// held acquires (`?wait=` > 0), which go to `acquire_wait`.
    pub duration: HistogramVec,
    /// `mq_lease_acquire_wait_seconds{status}`: acquire calls that asked to wait.
    pub acquire_wait: HistogramVec,
}

/// The lease metrics, labelled by `owner`, `repo`, `base_ref`.
#[derive(Clone)]
pub struct LeaseMetrics {
    pub known_requests: IntGaugeVec,
    pub holder: IntGaugeVec,
    /// Unix time (s) the current holder was granted the lease; absent without a holder.
    pub holder_acquired_at: GaugeVec,
    pub waiting_requests: IntGaugeVec,
    pub grants: IntCounterVec,
    pub releases: IntCounterVec,
    pub evictions: IntCounterVec,
    pub expired_leases: IntCounterVec,
    pub batch_size: HistogramVec,
    pub time_to_grant: HistogramVec,
    pub store_failures: IntCounterVec,
    /// `mq_lease_store_errors_total{operation}`: failed store writes and probes, all providers.
    pub store_errors: IntCounterVec,
    /// `mq_lease_admin_actions_total{owner,repo,base_ref,action}`: revoke, pause, resume.
    pub admin_actions: IntCounterVec,
}

fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    c: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<IntGaugeVec, prometheus::Error> {
    register(
        registry,
        IntGaugeVec::new(Opts::new(name, help), &PROVIDER_LABELS)?,
    )
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    extra: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let labels: Vec<&str> = PROVIDER_LABELS.iter().chain(extra).copied().collect();
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), &labels)?,
    )
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> Result<HistogramVec, prometheus::Error> {
    register(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )?,
    )
}

impl HttpMetrics {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let labels = ["method", "route", "status"];
        Ok(Self {
            requests: register(
                registry,
                IntCounterVec::new(
                    Opts::new("mq_lease_http_requests_total", "HTTP requests answered"),
                    &labels,
                )?,
            )?,
            duration: histogram(
                registry,
                "mq_lease_http_request_duration_seconds",
                "Seconds to answer an HTTP request (held acquires excluded: see mq_lease_acquire_wait_seconds)",
                LATENCY_BUCKETS,
                &labels,
            )?,
            acquire_wait: histogram(
                registry,
                "mq_lease_acquire_wait_seconds",
                "Seconds an acquire call with ?wait= was held before its answer",
                WAIT_BUCKETS,
                &["status"],
            )?,
        })
    }
}

impl LeaseMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let holder_acquired_at = GaugeVec::new(
            Opts::new(
                "mq_lease_holder_acquired_timestamp_seconds",
                "Unix time the current holder was granted the lease",
            ),
            &PROVIDER_LABELS,
        )?;
        registry.register(Box::new(holder_acquired_at.clone()))?;
        registry.register(Box::new(HolderAge::new(holder_acquired_at.clone())?))?;
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
            holder_acquired_at,
            waiting_requests: gauge(
                registry,
                "mq_lease_waiting_requests",
                "Long-poll acquire calls held open",
            )?,
            grants: counter(registry, "mq_lease_grants_total", "Leases granted", &[])?,
            releases: counter(
                registry,
                "mq_lease_releases_total",
                "Leases released, by outcome",
                &["outcome"],
            )?,
            evictions: counter(
                registry,
                "mq_lease_evictions_total",
                "Pending requests evicted after their ttl",
                &[],
            )?,
            expired_leases: counter(
                registry,
                "mq_lease_expired_leases_total",
                "Leases taken from a holder silent for lease_timeout",
                &[],
            )?,
            batch_size: histogram(
                registry,
                "mq_lease_merged_batch_size",
                "Runs of a round covered by a successful release",
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0],
                &PROVIDER_LABELS,
            )?,
            time_to_grant: histogram(
                registry,
                "mq_lease_time_to_grant_seconds",
                "Seconds from a round's first registration to a grant",
                &[
                    0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                ],
                &PROVIDER_LABELS,
            )?,
            store_failures: counter(
                registry,
                "mq_lease_store_failures_total",
                "State changes of this provider that could not be saved",
                &[],
            )?,
            store_errors: register(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "mq_lease_store_errors_total",
                        "Store operations that failed (operation: write or probe)",
                    ),
                    &["operation"],
                )?,
            )?,
            admin_actions: counter(
                registry,
                "mq_lease_admin_actions_total",
                "Admin actions that changed a provider (revoke, pause, resume)",
                &["action"],
            )?,
        })
    }

    /// The holder's grant time, or no series when nobody holds a live lease.
    pub fn set_holder_since(&self, key: &ProviderKey, since: Option<Time>) {
        let l = provider_labels(key);
        match since {
            Some(t) => self
                .holder_acquired_at
                .with_label_values(&l)
                .set(t.0 as f64 / 1000.0),
            None => {
                let _ = self.holder_acquired_at.remove_label_values(&l);
            }
        }
    }

    /// Drop a provider's series (when it is no longer served).
    pub fn forget(&self, key: &ProviderKey) {
        let l = provider_labels(key);
        let _ = self.known_requests.remove_label_values(&l);
        let _ = self.holder.remove_label_values(&l);
        let _ = self.holder_acquired_at.remove_label_values(&l);
        let _ = self.waiting_requests.remove_label_values(&l);
    }
}

/// `mq_lease_holder_age_seconds`: computed from the grant timestamps when scraped, so it
/// is right at scrape time without any provider having to update it.
struct HolderAge {
    acquired_at: GaugeVec,
    template: GaugeVec,
}

impl HolderAge {
    fn opts() -> Opts {
        Opts::new(
            "mq_lease_holder_age_seconds",
            "Seconds the current holder has held the lease",
        )
    }

    fn new(acquired_at: GaugeVec) -> Result<Self, prometheus::Error> {
        Ok(Self {
            acquired_at,
            template: GaugeVec::new(Self::opts(), &PROVIDER_LABELS)?,
        })
    }
}

impl Collector for HolderAge {
    fn desc(&self) -> Vec<&Desc> {
        self.template.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        // A fresh vector per scrape: concurrent scrapes do not see each other's work.
        let Ok(age) = GaugeVec::new(Self::opts(), &PROVIDER_LABELS) else {
            return Vec::new();
        };
        for family in self.acquired_at.collect() {
            for m in family.get_metric() {
                let label = |name: &str| {
                    m.get_label()
                        .iter()
                        .find(|p| p.name() == name)
                        .map(|p| p.value().to_owned())
                        .unwrap_or_default()
                };
                let values = PROVIDER_LABELS.map(label);
                let values = [values[0].as_str(), values[1].as_str(), values[2].as_str()];
                age.with_label_values(&values)
                    .set((now - m.get_gauge().get_value()).max(0.0));
            }
        }
        age.collect()
    }
}

impl Metrics {
    pub fn build() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http = HttpMetrics::register(&registry)?;
        let lease = LeaseMetrics::register(&registry)?;
        let cluster = ClusterMetrics::register(&registry)?;
        let build_info = register(
            &registry,
            IntGaugeVec::new(
                Opts::new("mq_lease_build_info", "Always 1; the labels name the build"),
                &["version"],
            )?,
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        // Present from the start, so an alert on `increase(...) > 0` has a series to read.
        for operation in ["write", "probe"] {
            lease.store_errors.with_label_values(&[operation]);
        }
        let ready = register(
            &registry,
            IntGauge::new(
                "mq_lease_ready",
                "1 when state is loaded and the store works (as /readyz), else 0",
            )?,
        )?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            http,
            lease,
            cluster,
            ready,
        })
    }

    /// The Prometheus text format of every series.
    /// `mq_lease_ready`, as just checked.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(i64::from(ready));
    }

    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}
