//! The per-provider series, kept small: one [`Figures`] of plain atomics per provider,
//! updated by its actor without a label lookup or a lock, and written straight into the
//! text format at scrape time (no Prometheus objects per series).
//!
//! The `prometheus` crate keeps every labelled series as its own object with a copy of
//! its description and its label pairs as separate strings: about 1 KiB a series, so
//! 10,000 providers with their gauges, counters and histograms took ~66 MiB. Here a
//! provider costs its [`Figures`] (~120 bytes) and one map entry.
//!
//! What a scrape shows is what the `prometheus` crate showed: gauges for every provider
//! served, a counter once it is above 0 (the crate creates a series on first use), the
//! holder's grant time and age only while a live lease is held.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

use crate::domain::ProviderKey;

/// `holder_since_ms` when nobody holds a live lease.
const NO_HOLDER: i64 = i64::MIN;

/// Outcomes of `mq_lease_releases_total`, in the order of [`Figures::releases`].
pub const OUTCOMES: [&str; 2] = ["success", "failure"];
/// Actions of `mq_lease_admin_actions_total`, in the order of [`Figures::admin_actions`].
pub const ACTIONS: [&str; 3] = ["revoke", "pause", "resume"];

/// One provider's series.
#[derive(Debug)]
pub struct Figures {
    pub known_requests: AtomicI64,
    pub holder: AtomicI64,
    /// 1 while the live holder has not called since its grant (docs/rules.md §13).
    pub holder_silent: AtomicI64,
    /// Unix ms of the live holder's grant, or [`NO_HOLDER`].
    holder_since_ms: AtomicI64,
    pub waiting_requests: AtomicI64,
    pub grants: AtomicU64,
    /// By [`OUTCOMES`].
    pub releases: [AtomicU64; 2],
    pub evictions: AtomicU64,
    pub expired_leases: AtomicU64,
    pub store_failures: AtomicU64,
    /// By [`ACTIONS`].
    pub admin_actions: [AtomicU64; 3],
}

impl Default for Figures {
    fn default() -> Self {
        Self {
            known_requests: AtomicI64::new(0),
            holder: AtomicI64::new(0),
            holder_silent: AtomicI64::new(0),
            holder_since_ms: AtomicI64::new(NO_HOLDER),
            waiting_requests: AtomicI64::new(0),
            grants: AtomicU64::new(0),
            releases: Default::default(),
            evictions: AtomicU64::new(0),
            expired_leases: AtomicU64::new(0),
            store_failures: AtomicU64::new(0),
            admin_actions: Default::default(),
        }
    }
}

impl Figures {
    /// The live holder's grant time (Unix ms), or `None` for no series.
    pub fn set_holder_since(&self, unix_ms: Option<u64>) {
        let v = unix_ms.map_or(NO_HOLDER, |ms| i64::try_from(ms).unwrap_or(i64::MAX));
        self.holder_since_ms.store(v, Relaxed);
    }

    fn holder_since_ms(&self) -> Option<i64> {
        Some(self.holder_since_ms.load(Relaxed)).filter(|&v| v != NO_HOLDER)
    }
}

/// Every served provider's [`Figures`], by key (so a scrape lists them in key order).
/// The lock is taken when a provider starts or stops and at scrape time, never by a
/// lease change.
#[derive(Debug, Default)]
pub struct Series {
    providers: RwLock<BTreeMap<ProviderKey, Arc<Figures>>>,
}

impl Series {
    /// Fresh figures for `key` (replacing any left by an earlier actor of that key).
    pub fn add(&self, key: &ProviderKey) -> Arc<Figures> {
        let figures = Arc::new(Figures::default());
        self.providers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone(), Arc::clone(&figures));
        figures
    }

    /// Drops `key`'s series if they are still `figures` (a newer actor of the same key
    /// keeps its own).
    pub fn remove(&self, key: &ProviderKey, figures: &Arc<Figures>) {
        let mut providers = self
            .providers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if providers
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, figures))
        {
            providers.remove(key);
        }
    }

    /// Appends every per-provider family in the text format; `now_ms` (Unix ms) is the
    /// scrape time the holder's age is computed from.
    pub fn render(&self, out: &mut String, now_ms: i64) {
        let providers = self
            .providers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let all = || providers.iter().map(|(k, f)| (k, f.as_ref()));
        let gauge = |f: &Figures, g: fn(&Figures) -> &AtomicI64| Some(g(f).load(Relaxed));
        family(out, KNOWN, all(), |f| gauge(f, |f| &f.known_requests));
        family(out, HOLDER, all(), |f| gauge(f, |f| &f.holder));
        family(out, HOLDER_SILENT, all(), |f| {
            gauge(f, |f| &f.holder_silent)
        });
        family_f64(out, HOLDER_SINCE, all(), |f| {
            f.holder_since_ms().map(|ms| ms as f64 / 1000.0)
        });
        family_f64(out, HOLDER_AGE, all(), |f| {
            f.holder_since_ms()
                .map(|ms| (now_ms.saturating_sub(ms) as f64 / 1000.0).max(0.0))
        });
        family(out, WAITING, all(), |f| gauge(f, |f| &f.waiting_requests));
        let count = |v: &AtomicU64| Some(v.load(Relaxed)).filter(|&n| n > 0);
        family(out, GRANTS, all(), |f| count(&f.grants));
        labelled(out, RELEASES, "outcome", &OUTCOMES, all(), |f, i| {
            count(&f.releases[i])
        });
        family(out, EVICTIONS, all(), |f| count(&f.evictions));
        family(out, EXPIRED, all(), |f| count(&f.expired_leases));
        family(out, STORE_FAILURES, all(), |f| count(&f.store_failures));
        labelled(out, ADMIN, "action", &ACTIONS, all(), |f, i| {
            count(&f.admin_actions[i])
        });
    }
}

/// Name, type and help of one family.
struct Family(&'static str, &'static str, &'static str);

const KNOWN: Family = Family(
    "mq_lease_known_requests",
    "gauge",
    "Requests known in the current round",
);
const HOLDER: Family = Family(
    "mq_lease_holder",
    "gauge",
    "1 while a run holds a live lease",
);
const HOLDER_SILENT: Family = Family(
    "mq_lease_holder_silent",
    "gauge",
    "1 while the holder has not called acquire since its grant: it keeps the lease until it releases, an admin revokes it, or silent_holder_timeout",
);
const HOLDER_SINCE: Family = Family(
    "mq_lease_holder_acquired_timestamp_seconds",
    "gauge",
    "Unix time the current holder was granted the lease",
);
const HOLDER_AGE: Family = Family(
    "mq_lease_holder_age_seconds",
    "gauge",
    "Seconds the current holder has held the lease",
);
const WAITING: Family = Family(
    "mq_lease_waiting_requests",
    "gauge",
    "Long-poll acquire calls held open",
);
const GRANTS: Family = Family("mq_lease_grants_total", "counter", "Leases granted");
const RELEASES: Family = Family(
    "mq_lease_releases_total",
    "counter",
    "Leases released, by outcome",
);
const EVICTIONS: Family = Family(
    "mq_lease_evictions_total",
    "counter",
    "Pending requests evicted after their ttl",
);
const EXPIRED: Family = Family(
    "mq_lease_expired_leases_total",
    "counter",
    "Leases taken from a silent holder (lease_timeout, or silent_holder_timeout for one silent since its grant)",
);
const STORE_FAILURES: Family = Family(
    "mq_lease_store_failures_total",
    "counter",
    "State changes of this provider that could not be saved",
);
const ADMIN: Family = Family(
    "mq_lease_admin_actions_total",
    "counter",
    "Admin actions that changed a provider (revoke, pause, resume)",
);

/// A label value escaped for the text format (`\`, `"` and line feeds).
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `name{labels}` with the provider's labels and `extra` in name order, as the
/// `prometheus` crate writes them.
fn series_name(out: &mut String, name: &str, key: &ProviderKey, extra: Option<(&str, &str)>) {
    let mut labels = vec![
        ("base_ref", key.base_ref()),
        ("owner", key.owner()),
        ("repo", key.repo()),
    ];
    labels.extend(extra);
    labels.sort_unstable_by_key(|(k, _)| *k);
    out.push_str(name);
    out.push('{');
    for (i, (k, v)) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape(out, v);
        out.push('"');
    }
    out.push('}');
}

fn header(out: &mut String, f: &Family, written: &mut bool) {
    if !*written {
        *written = true;
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} {}", f.0, f.2, f.0, f.1);
    }
}

/// One family with one sample per provider whose `value` is `Some`.
fn family<'a, V: std::fmt::Display>(
    out: &mut String,
    f: Family,
    providers: impl Iterator<Item = (&'a ProviderKey, &'a Figures)>,
    value: impl Fn(&Figures) -> Option<V>,
) {
    let mut written = false;
    for (key, figures) in providers {
        if let Some(v) = value(figures) {
            header(out, &f, &mut written);
            series_name(out, f.0, key, None);
            let _ = writeln!(out, " {v}");
        }
    }
}

/// [`family`] for float values (Rust's `Display` of an `f64` is what the text format wants
/// for finite values: `1`, `0.25`, `1732350000.123`, never an exponent).
fn family_f64<'a>(
    out: &mut String,
    f: Family,
    providers: impl Iterator<Item = (&'a ProviderKey, &'a Figures)>,
    value: impl Fn(&Figures) -> Option<f64>,
) {
    family(out, f, providers, |figures| {
        value(figures).filter(|v| v.is_finite())
    });
}

/// A family with one more label (`label` = `values[i]`), a sample per provider and value
/// whose `value(figures, i)` is `Some`.
fn labelled<'a>(
    out: &mut String,
    f: Family,
    label: &str,
    values: &[&str],
    providers: impl Iterator<Item = (&'a ProviderKey, &'a Figures)>,
    value: impl Fn(&Figures, usize) -> Option<u64>,
) {
    let mut written = false;
    for (key, figures) in providers {
        for (i, label_value) in values.iter().enumerate() {
            if let Some(v) = value(figures, i) {
                header(out, &f, &mut written);
                series_name(out, f.0, key, Some((label, label_value)));
                let _ = writeln!(out, " {v}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(owner: &str, repo: &str, base_ref: &str) -> ProviderKey {
        ProviderKey::new(owner, repo, base_ref).unwrap()
    }

    #[test]
    fn a_scrape_shows_gauges_always_counters_once_counted_and_the_holder_only_while_held() {
        let series = Series::default();
        let shop = series.add(&key("acme", "shop", "release/1.x"));
        let api = series.add(&key("acme", "api", "main"));
        shop.known_requests.store(3, Relaxed);
        shop.holder.store(1, Relaxed);
        shop.set_holder_since(Some(1_700_000_000_250));
        shop.grants.fetch_add(1, Relaxed);
        shop.releases[1].fetch_add(2, Relaxed);
        api.admin_actions[1].fetch_add(1, Relaxed);

        let mut text = String::new();
        series.render(&mut text, 1_700_000_010_500);
        for line in [
            "# TYPE mq_lease_known_requests gauge",
            "mq_lease_known_requests{base_ref=\"main\",owner=\"acme\",repo=\"api\"} 0",
            "mq_lease_known_requests{base_ref=\"release/1.x\",owner=\"acme\",repo=\"shop\"} 3",
            "mq_lease_holder{base_ref=\"release/1.x\",owner=\"acme\",repo=\"shop\"} 1",
            "mq_lease_holder_acquired_timestamp_seconds{base_ref=\"release/1.x\",owner=\"acme\",repo=\"shop\"} 1700000000.25",
            "mq_lease_holder_age_seconds{base_ref=\"release/1.x\",owner=\"acme\",repo=\"shop\"} 10.25",
            "# TYPE mq_lease_grants_total counter",
            "mq_lease_grants_total{base_ref=\"release/1.x\",owner=\"acme\",repo=\"shop\"} 1",
            "mq_lease_releases_total{base_ref=\"release/1.x\",outcome=\"failure\",owner=\"acme\",repo=\"shop\"} 2",
            "mq_lease_admin_actions_total{action=\"pause\",base_ref=\"main\",owner=\"acme\",repo=\"api\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        for absent in [
            "mq_lease_holder_age_seconds{base_ref=\"main\"",
            "mq_lease_grants_total{base_ref=\"main\"",
            "outcome=\"success\"",
            "mq_lease_evictions_total",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        // One HELP/TYPE per family, before its samples.
        assert_eq!(text.matches("# TYPE mq_lease_holder gauge").count(), 1);

        shop.set_holder_since(None);
        series.remove(&key("acme", "api", "main"), &api);
        let mut text = String::new();
        series.render(&mut text, 1_700_000_010_500);
        assert!(!text.contains("mq_lease_holder_age_seconds"), "{text}");
        assert!(!text.contains("repo=\"api\""), "{text}");
    }

    #[test]
    fn a_newer_actor_of_the_same_key_keeps_its_series_when_the_old_one_stops() {
        let series = Series::default();
        let k = key("acme", "shop", "main");
        let old = series.add(&k);
        let new = series.add(&k);
        new.grants.fetch_add(1, Relaxed);
        series.remove(&k, &old);
        let mut text = String::new();
        series.render(&mut text, 0);
        assert!(text.contains("mq_lease_grants_total{"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        escape(&mut out, "a\"b\\c\nd");
        assert_eq!(out, "a\\\"b\\\\c\\nd");
    }
}
