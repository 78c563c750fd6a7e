//! `/metrics` as operators scrape it: the documented names and labels, held acquires in
//! their own histogram, build and process info, holder age, and `metrics_auth`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use awc::http::StatusCode;
use clap::Parser;
use mq_lease_service::cli::Cli;
use mq_lease_service::config::Settings;

use crate::helpers::{body, release_body, spawn_app_with};

const KEY: &str = "acme/shop/main";
const ACQUIRE_ROUTE: &str = "/{owner}/{repo}/{base_ref}/acquire";

/// One sample line of the text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once("=\"").expect("label is k=\"v\"");
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("numeric value"),
            }
        })
        .collect()
}

/// Samples named `name` whose labels include all of `labels`.
fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The value of the one sample `name{labels…}`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    match find(samples, name, labels).as_slice() {
        [one] => one.value,
        other => panic!("{name}{labels:?}: expected one sample, found {other:?}"),
    }
}

const MAIN: [(&str, &str); 3] = [("owner", "acme"), ("repo", "shop"), ("base_ref", "main")];

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[actix_web::test]
async fn after_a_round_metrics_have_the_documented_names_and_labels() {
    let app = spawn_app_with(&["--expected-build-count", "2"], None).await;
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "pending");
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "acquired");
    app.release(KEY, &release_body("b", "success")).await;
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "completed");
    app.acquire("acme/shop/release/1.x", &body("c", 1)).await;

    let text = app.metrics().await;
    let samples = parse(&text);

    // HTTP: the documented names, labelled by route pattern.
    let acquire = [
        ("method", "POST"),
        ("route", ACQUIRE_ROUTE),
        ("status", "200"),
    ];
    assert_eq!(
        value(&samples, "mq_lease_http_requests_total", &acquire),
        4.0
    );
    assert_eq!(
        value(
            &samples,
            "mq_lease_http_request_duration_seconds_count",
            &acquire
        ),
        4.0
    );
    assert_eq!(
        value(
            &samples,
            "mq_lease_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/{owner}/{repo}/{base_ref}/release"),
                ("status", "200")
            ]
        ),
        1.0
    );
    for s in &samples {
        assert!(!s.name.contains("http_http"), "doubled prefix: {s:?}");
        assert!(
            !s.labels.contains_key("endpoint") && !s.labels.contains_key("provider"),
            "old label: {s:?}"
        );
        assert!(
            !s.labels.values().any(|v| v.starts_with("/acme/")),
            "a raw path became a label: {s:?}"
        );
    }

    // Per provider: owner / repo / base_ref, so `sum by (repo)` works.
    assert_eq!(value(&samples, "mq_lease_grants_total", &MAIN), 1.0);
    assert_eq!(
        value(
            &samples,
            "mq_lease_releases_total",
            &[MAIN[0], MAIN[1], MAIN[2], ("outcome", "success")]
        ),
        1.0
    );
    assert_eq!(value(&samples, "mq_lease_holder", &MAIN), 0.0);
    assert_eq!(value(&samples, "mq_lease_waiting_requests", &MAIN), 0.0);
    let release = [
        ("owner", "acme"),
        ("repo", "shop"),
        ("base_ref", "release/1.x"),
    ];
    assert_eq!(value(&samples, "mq_lease_known_requests", &release), 1.0);
    let main = [("owner", "acme"), ("repo", "shop"), ("base_ref", "main")];
    let shop: f64 = find(&samples, "mq_lease_known_requests", &[("repo", "shop")])
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(
        shop,
        value(&samples, "mq_lease_known_requests", &main) + 1.0,
        "sum by (repo) adds both queues of acme/shop: {text}"
    );

    // Build, readiness, store, process.
    assert_eq!(
        value(
            &samples,
            "mq_lease_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(value(&samples, "mq_lease_ready", &[]), 1.0);
    assert_eq!(
        value(
            &samples,
            "mq_lease_store_errors_total",
            &[("operation", "write")]
        ),
        0.0
    );
    if cfg!(target_os = "linux") {
        assert!(value(&samples, "process_resident_memory_bytes", &[]) > 0.0);
        assert!(value(&samples, "process_start_time_seconds", &[]) > 0.0);
        assert!(!find(&samples, "process_open_fds", &[]).is_empty());
    }
}

#[actix_web::test]
async fn a_held_acquire_goes_to_the_wait_histogram_whose_buckets_reach_120s() {
    let app = spawn_app_with(&["--expected-build-count", "2"], None).await;
    let res = app.acquire_wait(KEY, &body("a", 1), "1").await;
    assert_eq!(res.lease(), "pending", "{}", res.json);

    let text = app.metrics().await;
    let samples = parse(&text);
    let buckets = find(
        &samples,
        "mq_lease_acquire_wait_seconds_bucket",
        &[("status", "200")],
    );
    let bounds: Vec<f64> = buckets
        .iter()
        .filter_map(|s| s.labels["le"].parse::<f64>().ok())
        .filter(|b| b.is_finite())
        .collect();
    assert!(bounds.contains(&120.0), "buckets {bounds:?}");
    assert_eq!(
        value(
            &samples,
            "mq_lease_acquire_wait_seconds_bucket",
            &[("status", "200"), ("le", "120")]
        ),
        1.0
    );
    // It was held for its whole second of wait.
    assert_eq!(
        value(
            &samples,
            "mq_lease_acquire_wait_seconds_bucket",
            &[("status", "200"), ("le", "0.5")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &samples,
            "mq_lease_http_requests_total",
            &[("route", ACQUIRE_ROUTE)]
        ),
        1.0
    );
    assert!(
        find(
            &samples,
            "mq_lease_http_request_duration_seconds_count",
            &[("route", ACQUIRE_ROUTE)]
        )
        .is_empty(),
        "a held acquire must stay out of the latency histogram:\n{text}"
    );
}

#[actix_web::test]
async fn the_holders_age_grows_while_held_and_is_gone_after_release() {
    let app = spawn_app_with(&["--expected-build-count", "1"], None).await;
    let before = unix_now();
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "acquired");
    let after = unix_now();
    actix_web::rt::time::sleep(Duration::from_millis(50)).await;

    let samples = parse(&app.metrics().await);
    let since = value(
        &samples,
        "mq_lease_holder_acquired_timestamp_seconds",
        &MAIN,
    );
    assert!(
        before - 0.001 <= since && since <= after + 0.001,
        "{before} <= {since} <= {after}"
    );
    let age = value(&samples, "mq_lease_holder_age_seconds", &MAIN);
    assert!(age > 0.0 && age < unix_now() - before + 1.0, "age {age}");
    assert_eq!(value(&samples, "mq_lease_holder", &MAIN), 1.0);

    app.release(KEY, &release_body("a", "success")).await;
    let samples = parse(&app.metrics().await);
    assert!(find(&samples, "mq_lease_holder_age_seconds", &MAIN).is_empty());
    assert!(find(
        &samples,
        "mq_lease_holder_acquired_timestamp_seconds",
        &MAIN
    )
    .is_empty());
    assert_eq!(value(&samples, "mq_lease_holder", &MAIN), 0.0);
}

const METRICS_AUTH: &str = r#"
[server]
auto_register = true
metrics_auth = true

[auth]
bearer_tokens = ["${TEST_TOKEN}"]
"#;

#[actix_web::test]
async fn with_metrics_auth_metrics_need_credentials() {
    let app = spawn_app_with(&[], Some(METRICS_AUTH)).await;
    let get = |authorization: Option<&'static str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(value) = authorization {
            req = req.insert_header(("Authorization", value));
        }
        app.send(req, None)
    };
    assert_eq!(get(None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some("Bearer wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let ok = get(Some("Bearer s3cret-token")).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(
        ok.json["raw"]
            .as_str()
            .is_some_and(|t| t.contains("mq_lease_build_info")),
        "{}",
        ok.json
    );
    // Health stays open.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[test]
fn metrics_auth_without_credentials_is_a_config_error_naming_the_key() {
    let cli = Cli::try_parse_from(["mq-lease-service"]).unwrap();
    let err = Settings::from_toml(
        "[server]\nmetrics_auth = true\n",
        Path::new("c.toml"),
        &cli,
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("server.metrics_auth") && err.contains("line 2"),
        "{err}"
    );
}
