//! docs/rules.md §8 over HTTP: a pending answer says why it waits, a 409 names the holder, and
//! the provider view shows when each run was first and last seen and the holder's lease.

use std::time::Duration;

use awc::http::StatusCode;
use serde_json::Value;

use crate::helpers::{body, seconds_between, spawn_app, spawn_app_with, TestApp};

const KEY: &str = "acme/shop/main";

/// a(1), b(2), c(3) register; with expected_build_count 3, c wins.
async fn round_held_by_c(app: &TestApp) {
    for (sha, p) in [("a", 1), ("b", 2), ("c", 3)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    assert_eq!(app.acquire(KEY, &body("c", 3)).await.lease(), "acquired");
}

#[actix_web::test]
async fn a_run_waiting_for_more_runs_is_told_stabilising_with_counts_and_the_window_end() {
    let app = spawn_app().await;
    let res = app.acquire(KEY, &body("a", 1)).await;
    assert_eq!(res.lease(), "pending");
    let waiting = &res.json["waiting"];
    assert_eq!(waiting["reason"], "stabilising", "{}", res.json);
    assert_eq!(waiting["known"], 1);
    assert_eq!(waiting["expected"], 3);
    let view = app.get("/acme/shop/main").await.json;
    assert_eq!(
        seconds_between(&view["last_updated_at"], &waiting["window_ends_at"]),
        300,
        "the 5m window ends 5m after the last change"
    );
    assert!(
        res.json["request"].get("waiting").is_none(),
        "beside request"
    );
}

#[actix_web::test]
async fn a_run_is_told_lease_held_with_the_holder_its_priority_and_since_when() {
    let app = spawn_app().await;
    round_held_by_c(&app).await;
    let res = app.acquire(KEY, &body("b", 2)).await;
    assert_eq!(res.lease(), "pending");
    let waiting = &res.json["waiting"];
    assert_eq!(waiting["reason"], "lease_held", "{}", res.json);
    assert_eq!(waiting["holder"]["head_sha"], "c");
    assert_eq!(waiting["holder"]["priority"], 3);
    let view = app.get("/acme/shop/main").await.json;
    assert_eq!(waiting["holder"]["since"], view["acquired"]["acquired_at"]);
}

#[actix_web::test]
async fn a_lower_run_is_told_higher_priority_once_the_window_is_over() {
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
    app.acquire(KEY, &body("c", 3)).await;
    // Only the window's end matters here: after it, c would win and a would not.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    let res = app.acquire(KEY, &body("a", 1)).await;
    assert_eq!(res.lease(), "pending");
    assert_eq!(
        res.json["waiting"]["reason"], "higher_priority",
        "{}",
        res.json
    );
    assert_eq!(res.json["waiting"]["highest_priority"], 3);
}

#[actix_web::test]
async fn the_winner_held_back_by_delay_assignment_count_is_told_confirming() {
    let app = spawn_app_with(
        &[],
        Some(
            r#"
[server]
auto_register = true
[defaults]
expected_build_count = 1
delay_assignment_count = 1
"#,
        ),
    )
    .await;
    let first = app.acquire(KEY, &body("a", 1)).await;
    assert_eq!(first.lease(), "pending");
    assert_eq!(
        first.json["waiting"]["reason"], "confirming",
        "{}",
        first.json
    );
    assert_eq!(first.json["waiting"]["confirmations_left"], 1);
    let second = app.acquire(KEY, &body("a", 1)).await;
    assert_eq!(second.lease(), "acquired");
    assert!(second.json.get("waiting").is_none(), "{}", second.json);
}

#[actix_web::test]
async fn a_held_long_poll_answered_pending_at_the_end_of_its_wait_says_why() {
    let app = spawn_app().await;
    let res = app.acquire_wait(KEY, &body("a", 1), "1").await;
    assert_eq!(res.lease(), "pending");
    assert_eq!(res.json["waiting"]["reason"], "stabilising", "{}", res.json);
}

#[actix_web::test]
async fn an_acquired_answer_carries_its_lease_times_and_no_waiting() {
    let app = spawn_app().await;
    for (sha, p) in [("a", 1), ("b", 2)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    let res = app.acquire(KEY, &body("c", 3)).await;
    assert_eq!(res.lease(), "acquired");
    assert!(res.json.get("waiting").is_none());
    // Silent since its grant (it has not called since): no timeout applies yet (docs/rules.md §13).
    assert_eq!(
        res.json["lease_expires_at"],
        serde_json::Value::Null,
        "{}",
        res.json
    );
    assert_eq!(res.json["request"]["acquired_at"], res.json["acquired_at"]);
    // Its first call after the grant puts it under the default lease_timeout, 10m,
    // counted from its last sign of life (now).
    let res = app.acquire(KEY, &body("c", 3)).await;
    assert_eq!(
        seconds_between(&res.json["acquired_at"], &res.json["lease_expires_at"]),
        600
    );
}

#[actix_web::test]
async fn a_409_names_the_holder_its_priority_and_since_when() {
    let app = spawn_app().await;
    round_held_by_c(&app).await;
    let res = app.acquire(KEY, &body("late", 9)).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    let holder = &res.json["error_context"]["holder"];
    assert_eq!(holder["head_sha"], "c", "{}", res.json);
    assert_eq!(holder["priority"], 3);
    assert_eq!(holder["status"], "acquired");
    let view = app.get("/acme/shop/main").await.json;
    assert_eq!(holder["since"], view["acquired"]["acquired_at"]);
    let error = res.json["error"].as_str().unwrap();
    assert!(
        error.contains("held by c (priority 3) since")
            && error.contains(holder["since"].as_str().unwrap()),
        "{error}"
    );
}

#[actix_web::test]
async fn a_409_while_a_failed_round_is_resolved_names_the_failed_holder() {
    let app = spawn_app().await;
    round_held_by_c(&app).await;
    app.release(KEY, &crate::helpers::release_body("c", "failure"))
        .await;
    let res = app.acquire(KEY, &body("late", 9)).await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert_eq!(res.json["error_context"]["holder"]["status"], "failure");
    assert_eq!(res.json["error_context"]["holder"]["head_sha"], "c");
}

fn known<'a>(view: &'a Value, sha: &str) -> &'a Value {
    view["known"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["request"]["head_sha"] == sha)
        .unwrap_or_else(|| panic!("{sha} not in {view}"))
}

#[actix_web::test]
async fn the_view_shows_first_and_last_seen_the_holder_lease_and_paused_at_both_levels() {
    // ttl 3s: a call saves its last-seen time once a second (ttl/3) has passed.
    let app = spawn_app_with(&["--expected-build-count", "3", "--ttl", "3s"], None).await;
    round_held_by_c(&app).await;
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    app.acquire(KEY, &body("a", 1)).await;
    let view = app.get("/acme/shop/main").await.json;
    assert_eq!(view["paused"], false);
    let a = known(&view, "a");
    for level in [a, &a["request"]] {
        assert!(
            seconds_between(&level["first_seen_at"], &level["last_seen_at"]) >= 1,
            "a was seen again a second later: {level}"
        );
    }
    assert!(
        a.get("acquired_at").is_none(),
        "only the holder has lease times"
    );
    assert_eq!(a["waiting"]["reason"], "lease_held");
    let holder = &view["acquired"];
    for level in [holder, &holder["request"]] {
        assert_eq!(
            seconds_between(&level["acquired_at"], &level["lease_expires_at"]),
            600,
            "{level}"
        );
    }
    assert_eq!(known(&view, "c")["acquired_at"], holder["acquired_at"]);
    // The list of every provider shows the same fields.
    let all = app.get("/").await.json;
    assert_eq!(
        all["acme:shop:main"]["acquired"]["acquired_at"],
        holder["acquired_at"]
    );
}

#[actix_web::test]
async fn lease_expires_at_is_null_when_the_lease_timeout_is_off() {
    let app = spawn_app_with(
        &["--expected-build-count", "1"],
        Some("[server]\nauto_register = true\n[defaults]\nlease_timeout = \"0s\"\n"),
    )
    .await;
    assert_eq!(app.acquire(KEY, &body("a", 1)).await.lease(), "acquired");
    let view = app.get("/acme/shop/main").await.json;
    let holder = &view["acquired"];
    assert!(holder["acquired_at"].is_string(), "{view}");
    assert!(
        holder.get("lease_expires_at").is_some_and(Value::is_null),
        "present and null: {view}"
    );
    assert!(holder["request"]["lease_expires_at"].is_null());
}
