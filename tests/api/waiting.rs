//! Waiting acquire (long poll) and dead holders.

use std::time::{Duration, Instant};

use awc::http::StatusCode;

use crate::helpers::{body, release_body, spawn_app, spawn_app_with};

const KEY: &str = "acme/shop/main";

#[actix_web::test]
async fn a_waiter_is_answered_acquired_right_after_the_holder_releases_failure() {
    let app = spawn_app().await;
    for (sha, p) in [("a", 1), ("b", 2), ("c", 3)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    let waiting = actix_web::rt::spawn({
        let app_url = app.url("/acme/shop/main/acquire?wait=30s");
        let client = app.client.clone();
        async move {
            let started = Instant::now();
            let mut res = client.post(app_url).send_json(&body("b", 2)).await.unwrap();
            let json: serde_json::Value = res.json().await.unwrap();
            (json, started.elapsed())
        }
    });
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.get("/acme/shop/main").await.json["waiting"], 1);
    let released_at = Instant::now();
    app.release(KEY, &release_body("c", "failure")).await;
    let (json, waited) = waiting.await.unwrap();
    assert_eq!(json["request"]["status"], "acquired", "{json}");
    assert!(
        waited < Duration::from_secs(30),
        "answered by the release, not by the end of the wait"
    );
    assert!(released_at.elapsed() < Duration::from_secs(10));
}

#[actix_web::test]
async fn waiters_are_answered_completed_right_after_a_success() {
    let app = spawn_app().await;
    for (sha, p) in [("a", 1), ("b", 2), ("c", 3)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    let mut waiters = Vec::new();
    for (sha, p) in [("a", 1), ("b", 2)] {
        let url = app.url("/acme/shop/main/acquire?wait=60");
        let client = app.client.clone();
        waiters.push(actix_web::rt::spawn(async move {
            let mut res = client.post(url).send_json(&body(sha, p)).await.unwrap();
            res.json::<serde_json::Value>().await.unwrap()
        }));
    }
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    app.release(KEY, &release_body("c", "success")).await;
    for w in waiters {
        assert_eq!(w.await.unwrap()["request"]["status"], "completed");
    }
    assert!(app.get("/acme/shop/main").await.json["known"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[actix_web::test]
async fn a_waiter_is_granted_when_the_stabilisation_window_ends_with_no_other_traffic() {
    let app = spawn_app_with(
        &[
            "--expected-build-count",
            "10",
            "--stabilisation-window",
            "1s",
        ],
        None,
    )
    .await;
    let started = Instant::now();
    let res = app.acquire_wait(KEY, &body("a", 1), "20").await;
    assert_eq!(res.lease(), "acquired");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "granted at the window's end, not the wait's"
    );
}

#[actix_web::test]
async fn a_wait_that_ends_answers_pending() {
    let app = spawn_app_with(&["--expected-build-count", "10"], None).await;
    let res = app.acquire_wait(KEY, &body("a", 1), "1s").await;
    assert_eq!((res.status, res.lease()), (StatusCode::OK, "pending"));
}

#[actix_web::test]
async fn a_waiter_whose_client_disconnects_is_not_leaked() {
    let app = spawn_app_with(&["--expected-build-count", "10"], None).await;
    let impatient = awc::Client::builder()
        .timeout(Duration::from_millis(300))
        .finish();
    let res = impatient
        .post(app.url("/acme/shop/main/acquire?wait=60"))
        .send_json(&body("a", 1))
        .await;
    assert!(res.is_err(), "the client gave up");
    let mut waiting = serde_json::Value::Null;
    for _ in 0..50 {
        waiting = app.get("/acme/shop/main").await.json["waiting"].clone();
        if waiting == 0 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting, 0);
    assert!(app
        .metrics()
        .await
        .contains("mq_lease_waiting_requests{base_ref=\"main\",owner=\"acme\",repo=\"shop\"} 0"));
}

#[actix_web::test]
async fn a_holder_that_stops_heartbeating_loses_the_lease_and_the_next_run_acquires() {
    let app = spawn_app_with(
        &[
            "--expected-build-count",
            "2",
            "--lease-timeout",
            "1s",
            "--ttl",
            "30s",
        ],
        None,
    )
    .await;
    app.acquire(KEY, &body("a", 1)).await;
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "acquired");
    // Its heartbeat: one call after the grant, then nothing (docs/rules.md §13: a holder silent
    // since its grant would keep the lease).
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "acquired");
    let res = app.acquire_wait(KEY, &body("a", 1), "10").await;
    assert_eq!(res.lease(), "acquired", "{}", res.json);
    let history = app.get("/acme/shop/main/events").await;
    assert!(history.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "lease_expired"));
    assert!(app.metrics().await.contains(
        "mq_lease_expired_leases_total{base_ref=\"main\",owner=\"acme\",repo=\"shop\"} 1"
    ));
}

#[actix_web::test]
async fn a_holder_that_keeps_heartbeating_keeps_the_lease() {
    let app = spawn_app_with(
        &["--expected-build-count", "1", "--lease-timeout", "1s"],
        None,
    )
    .await;
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "acquired");
    for _ in 0..6 {
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "acquired");
    }
    assert_eq!(
        app.release(KEY, &release_body("a", "success"))
            .await
            .lease(),
        "completed"
    );
}
