//! Prometheus metrics: HTTP figures recorded by the middleware in [`crate::access_log`],
//! the lease figures kept by the provider actors, build info, readiness and (on Linux) the
//! process collector. `GET /metrics` (in [`crate::routes::health`]) renders it.
//!
//! Per-provider series carry `owner`, `repo` and `base_ref` labels, so `sum by (repo)`
//! works; they are kept compactly by [`series`] (a provider's gauges and counters, no
//! per-provider histograms). HTTP series carry `method`, `route` (the route pattern, never
//! the raw path) and `status`. docs/operations.md ("Metrics") lists every name and why
//! the histograms are not per provider.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

mod cluster;
mod observe;
mod series;

pub use cluster::ClusterMetrics;

use crate::domain::{ProviderKey, Time};
use series::{Figures, Series};

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

/// The lease metrics: per-provider series (see [`series`]) and the aggregate ones. One
/// shared set: every provider actor holds a copy, so a copy is one pointer.
#[derive(Clone)]
pub struct LeaseMetrics(Arc<LeaseFamilies>);

impl std::ops::Deref for LeaseMetrics {
    type Target = LeaseFamilies;

    fn deref(&self) -> &LeaseFamilies {
        &self.0
    }
}

/// What [`LeaseMetrics`] shares.
pub struct LeaseFamilies {
    series: Series,
    /// `mq_lease_merged_batch_size`: runs covered by a successful release, all providers.
    pub batch_size: Histogram,
    /// `mq_lease_time_to_grant_seconds`: a round's first registration to its grant, all providers.
    pub time_to_grant: Histogram,
    /// `mq_lease_store_errors_total{operation}`: failed store writes and probes, all providers.
    pub store_errors: IntCounterVec,
}

/// What one provider actor records: its own [`Figures`] and the shared aggregates.
pub struct ProviderMetrics {
    figures: Arc<Figures>,
    lease: LeaseMetrics,
}

fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    c: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
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
        let plain = |name: &str, help: &str, buckets: &[f64]| {
            register(
                registry,
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))?,
            )
        };
        Ok(Self(Arc::new(LeaseFamilies {
            series: Series::default(),
            batch_size: plain(
                "mq_lease_merged_batch_size",
                "Runs of a round covered by a successful release (all providers)",
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0],
            )?,
            time_to_grant: plain(
                "mq_lease_time_to_grant_seconds",
                "Seconds from a round's first registration to a grant (all providers)",
                &[
                    0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                ],
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
        })))
    }

    /// The series of a provider that starts being served; [`ProviderMetrics::forget`]
    /// drops them.
    pub fn provider(&self, key: &ProviderKey) -> ProviderMetrics {
        ProviderMetrics {
            figures: self.series.add(key),
            lease: self.clone(),
        }
    }
}

impl ProviderMetrics {
    /// The gauges, as the provider now is: runs known in the round, whether a live lease
    /// is held and since when, whether its holder is silent since its grant, long-poll
    /// callers held open.
    pub fn publish(
        &self,
        known: usize,
        holder_since: Option<Time>,
        holder_silent: bool,
        waiting: usize,
    ) {
        let f = &self.figures;
        f.known_requests
            .store(i64::try_from(known).unwrap_or(i64::MAX), Relaxed);
        f.holder.store(i64::from(holder_since.is_some()), Relaxed);
        f.holder_silent.store(i64::from(holder_silent), Relaxed);
        f.set_holder_since(holder_since.map(|t| t.0));
        f.waiting_requests
            .store(i64::try_from(waiting).unwrap_or(i64::MAX), Relaxed);
    }

    /// A change of this provider could not be saved.
    pub fn store_failed(&self) {
        self.figures.store_failures.fetch_add(1, Relaxed);
        self.lease.store_errors.with_label_values(&["write"]).inc();
    }

    /// Drop the provider's series (when it is no longer served).
    pub fn forget(&self, key: &ProviderKey) {
        self.lease.series.remove(key, &self.figures);
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
                &["version", "revision"],
            )?,
        )?;
        // The revision comes from build.rs (git, or MQ_LEASE_GIT_REVISION in a container build).
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("MQ_LEASE_REVISION")])
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
        let mut text = String::from_utf8_lossy(&buffer).into_owned();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.lease.series.render(&mut text, now_ms);
        Ok(text)
    }
}
