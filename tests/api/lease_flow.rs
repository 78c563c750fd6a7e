//! The merge-queue scenarios of the Go service's README, over HTTP.

use std::time::Duration;

use awc::http::StatusCode;

use crate::helpers::{body, release_body, spawn_app, spawn_app_with, TestApp};

const KEY: &str = "acme/shop/main";

#[actix_web::test]
async fn success_flow_grants_the_highest_priority_and_tells_the_others_completed() {
    let app = spawn_app().await;
    assert_eq!(app.acquire(KEY, &body("c", 3)).await.lease(), "pending");
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "pending");
    let third = app.acquire(KEY, &body("b", 2)).await;
    assert_eq!(third.status, StatusCode::OK);
    assert_eq!(third.lease(), "pending", "b is not the highest priority");

    let holder = app.acquire(KEY, &body("c", 3)).await;
    assert_eq!(holder.lease(), "acquired");
    assert_eq!(
        holder.json["stacked_pull_requests"],
        serde_json::json!([{"number": 1}, {"number": 2}, {"number": 3}])
    );

    let released = app.release(KEY, &release_body("c", "success")).await;
    assert_eq!(released.status, StatusCode::OK);
    assert_eq!(released.lease(), "completed");
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "completed");
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "completed");
    assert_eq!(
        app.acquire(KEY, &body("a", 1)).await.lease(),
        "completed",
        "asking again is still completed"
    );

    let view = app.get("/acme/shop/main").await;
    assert_eq!(
        view.json["known"],
        serde_json::json!([]),
        "the round ended: {}",
        view.json
    );
    assert_eq!(
        app.acquire(KEY, &body("next", 1)).await.lease(),
        "pending",
        "the next round starts"
    );
}

#[actix_web::test]
async fn failure_release_hands_the_lease_to_the_next_highest_priority() {
    let app = spawn_app().await;
    for (sha, p) in [("a", 1), ("b", 2), ("c", 3)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    assert_eq!(app.acquire(KEY, &body("c", 3)).await.lease(), "acquired");
    assert_eq!(
        app.release(KEY, &release_body("c", "failure"))
            .await
            .lease(),
        "failure"
    );

    let newcomer = app.acquire(KEY, &body("late", 9)).await;
    assert_eq!(
        newcomer.status,
        StatusCode::CONFLICT,
        "a failed round is being resolved"
    );
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "pending");
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "acquired");
    assert_eq!(
        app.release(KEY, &release_body("b", "success"))
            .await
            .lease(),
        "completed"
    );
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "completed");
}

#[actix_web::test]
async fn the_highest_priority_wins_when_the_stabilisation_window_ends() {
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
    app.acquire(KEY, &body("a", 1)).await;
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "pending");
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "pending");
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "acquired");
}

#[actix_web::test]
async fn the_lease_is_granted_as_soon_as_the_expected_count_is_reached() {
    let app = spawn_app().await;
    app.acquire(KEY, &body("a", 1)).await;
    app.acquire(KEY, &body("b", 2)).await;
    assert_eq!(app.acquire(KEY, &body("c", 3)).await.lease(), "acquired");
}

#[actix_web::test]
async fn acquire_returns_409_when_a_lease_is_held_and_the_holder_keeps_acquired() {
    let app = spawn_app().await;
    for (sha, p) in [("a", 1), ("b", 2), ("c", 3)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    let conflict = app.acquire(KEY, &body("d", 4)).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert!(
        conflict.json["error"]
            .as_str()
            .is_some_and(|e| e.contains("lease is held")),
        "{}",
        conflict.json
    );
    assert_eq!(app.acquire(KEY, &body("c", 3)).await.lease(), "acquired");
    assert_eq!(app.acquire(KEY, &body("c", 3)).await.lease(), "acquired");
}

#[actix_web::test]
async fn a_silent_request_is_evicted_by_the_providers_timer_with_no_other_traffic() {
    let app = spawn_app_with(&["--ttl", "1s", "--expected-build-count", "5"], None).await;
    app.acquire(KEY, &body("a", 1)).await;
    let before = app.get("/acme/shop/main").await;
    assert_eq!(before.json["known"].as_array().map(Vec::len), Some(1));
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let after = app.get("/acme/shop/main").await;
    assert_eq!(after.json["known"], serde_json::json!([]), "{}", after.json);
    assert!(app
        .metrics()
        .await
        .contains("mq_lease_evictions_total{base_ref=\"main\",owner=\"acme\",repo=\"shop\"} 1"));
}

#[actix_web::test]
async fn a_repeated_release_is_answered_the_same_and_a_different_outcome_is_refused() {
    let app = spawn_app_with(&["--expected-build-count", "1"], None).await;
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "acquired");
    assert_eq!(
        app.release(KEY, &release_body("a", "success"))
            .await
            .lease(),
        "completed"
    );
    let again = app.release(KEY, &release_body("a", "success")).await;
    assert_eq!((again.status, again.lease()), (StatusCode::OK, "completed"));
    let other = app.release(KEY, &release_body("a", "failure")).await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn cancelled_counts_as_failure() {
    let app = spawn_app_with(&["--expected-build-count", "2"], None).await;
    app.acquire(KEY, &body("a", 1)).await;
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "acquired");
    assert_eq!(
        app.release(KEY, &release_body("b", "cancelled"))
            .await
            .lease(),
        "failure"
    );
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "acquired");
}

#[actix_web::test]
async fn fencing_tokens_rise_with_every_grant_and_a_stale_token_release_gets_409() {
    let app = spawn_app_with(&["--expected-build-count", "1"], None).await;
    let first = app.acquire(KEY, &body("a", 1)).await;
    let t1 = first.json["request"]["fencing_token"]
        .as_u64()
        .expect("token on an acquired answer");
    app.release(KEY, &release_body("a", "failure")).await;
    let second = app.acquire(KEY, &body("b", 1)).await;
    let t2 = second.json["fencing_token"].as_u64().expect("token");
    assert!(t2 > t1);
    let stale = app
        .release(
            KEY,
            &serde_json::json!({"head_sha": "b", "status": "success", "fencing_token": t1}),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.json);
    let ok = app
        .release(
            KEY,
            &serde_json::json!({"head_sha": "b", "status": "success", "fencing_token": t2}),
        )
        .await;
    assert_eq!(ok.lease(), "completed");
}

#[actix_web::test]
async fn history_lists_a_whole_round_newest_first() {
    let app = spawn_app().await;
    for (sha, p) in [("a", 1), ("b", 2), ("c", 3)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    app.release(KEY, &release_body("c", "failure")).await;
    app.acquire(KEY, &body("b", 2)).await;
    app.release(KEY, &release_body("b", "success")).await;
    app.acquire(KEY, &body("a", 1)).await;
    let history = app.get("/acme/shop/main/events?limit=100").await;
    let kinds: Vec<&str> = history.json["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        [
            "completed",
            "released_success",
            "granted",
            "released_failure",
            "granted",
            "registered",
            "registered",
            "registered"
        ]
    );
    let newest_grant = &history.json["events"][2];
    assert_eq!(
        (
            newest_grant["head_sha"].as_str(),
            newest_grant["fencing_token"].as_u64()
        ),
        (Some("b"), Some(2))
    );
    let limited = app.get("/acme/shop/main/events?limit=2").await;
    assert_eq!(limited.json["events"].as_array().map(Vec::len), Some(2));
}

/// The newest `limit` events of the provider as (kind, head_sha), newest first.
async fn newest(app: &TestApp, limit: usize) -> Vec<(String, String)> {
    let history = app
        .get(&format!("/acme/shop/main/events?limit={limit}"))
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.json);
    history.json["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let field = |name: &str| e[name].as_str().unwrap_or("").to_owned();
            (field("kind"), field("head_sha"))
        })
        .collect()
}

/// History is read from the store, and every answer is sent after its change is committed:
/// a client that saw an answer finds that change's events at once, every time.
#[actix_web::test]
async fn the_events_of_an_answered_change_are_in_the_history_at_once() {
    let app = spawn_app_with(&["--expected-build-count", "1"], None).await;
    let pair = |kind: &str, sha: &str| (kind.to_owned(), sha.to_owned());

    for round in 0..5 {
        let sha = format!("run{round}");
        let won = app.acquire(KEY, &body(&sha, 1)).await;
        assert_eq!(won.lease(), "acquired", "{}", won.json);
        let after_grant = newest(&app, 2).await;
        let released = app.release(KEY, &release_body(&sha, "success")).await;
        assert_eq!(released.lease(), "completed", "{}", released.json);
        let after_release = newest(&app, 1).await;

        assert_eq!(
            after_grant,
            [pair("granted", &sha), pair("registered", &sha)],
            "round {round}"
        );
        assert_eq!(
            after_release,
            [pair("released_success", &sha)],
            "round {round}"
        );
    }
    assert_eq!(newest(&app, 500).await.len(), 15, "three events a round");
}
