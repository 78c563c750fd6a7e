//! docs/rules.md §13: what a client of the Go project's action relies on. It sends
//! `Content-Type: json`, never calls again once `acquired`, and releases on every run
//! with its job's status, failing its step on anything but 2xx.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{body, release_body, spawn_app, spawn_app_with, Answer, TestApp};

const KEY: &str = "acme/shop/main";

/// A POST with exactly the given `Content-Type` (or none) and a raw body.
async fn post_raw(app: &TestApp, path: &str, content_type: Option<&str>, body: &Value) -> Answer {
    let mut req = app.client.post(app.url(path));
    if let Some(ct) = content_type {
        req = req.insert_header(("Content-Type", ct));
    }
    let mut res = req.send_body(body.to_string()).await.expect("request sent");
    let status = res.status();
    let bytes = res.body().await.expect("body read");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
    Answer { status, json }
}

/// Three runs registered, the highest (priority 3) granted; it never calls again.
async fn round_with_a_silent_holder(app: &TestApp) {
    for p in [1, 2, 3] {
        let res = app.acquire(KEY, &body(&format!("sha{p}"), p)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    }
    let holder = app.get(&format!("/{KEY}")).await;
    assert_eq!(holder.json["acquired"]["request"]["head_sha"], "sha3");
}

#[actix_web::test]
async fn acquire_and_release_read_the_body_as_json_whatever_the_content_type_says() {
    // What the Go service (fiber's BodyParser) read as JSON: any type ending in `json`,
    // with or without parameters, plus what curl sends by default with `-d`, and none.
    let types = [
        Some("json"),
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("text/json"),
        Some("application/vnd.api+json"),
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        None,
    ];
    let app = spawn_app_with(&["--expected-build-count", "1"], None).await;
    for (i, ct) in types.iter().enumerate() {
        let key = format!("acme/shop/ct-{i}");
        let acquired = post_raw(&app, &format!("/{key}/acquire"), *ct, &body("sha1", 1)).await;
        assert_eq!(
            (acquired.status, acquired.json["request"]["status"].as_str()),
            (StatusCode::OK, Some("acquired")),
            "acquire with Content-Type {ct:?}: {}",
            acquired.json
        );
        let released = post_raw(
            &app,
            &format!("/{key}/release"),
            *ct,
            &release_body("sha1", "success"),
        )
        .await;
        assert_eq!(
            (released.status, released.json["request"]["status"].as_str()),
            (StatusCode::OK, Some("completed")),
            "release with Content-Type {ct:?}: {}",
            released.json
        );
    }
}

#[actix_web::test]
async fn a_release_by_a_run_told_completed_is_200_completed_whatever_status_it_sends() {
    let app = spawn_app().await;
    round_with_a_silent_holder(&app).await;
    let res = app.release(KEY, &release_body("sha3", "success")).await;
    assert_eq!(res.lease(), "completed");
    let told = app.acquire(KEY, &body("sha2", 2)).await;
    assert_eq!(told.lease(), "completed");
    let before = app.get(&format!("/{KEY}/events")).await.json;

    for status in ["success", "failure", "cancelled"] {
        // As the Go action sends it: head_ref and priority in the body too.
        let res = post_raw(
            &app,
            &format!("/{KEY}/release"),
            Some("json"),
            &json!({"head_sha": "sha2", "head_ref": "gh-readonly-queue/main/pr-2-abc2",
                    "priority": 2, "status": status}),
        )
        .await;
        assert_eq!(res.status, StatusCode::OK, "{status}: {}", res.json);
        assert_eq!(res.json["request"]["status"], "completed", "{status}");
        assert_eq!(res.json["request"]["head_sha"], "sha2");
    }
    let after = app.get(&format!("/{KEY}/events")).await.json;
    assert_eq!(before, after, "the releases changed nothing");
}

#[actix_web::test]
async fn a_release_by_a_run_of_a_completed_round_that_was_not_told_yet_is_still_400() {
    let app = spawn_app().await;
    round_with_a_silent_holder(&app).await;
    app.release(KEY, &release_body("sha3", "success")).await;
    let res = app.release(KEY, &release_body("sha1", "cancelled")).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.json);
    // Its next acquire call tells it, and from then on its release is 200.
    assert_eq!(
        app.acquire(KEY, &body("sha1", 1)).await.lease(),
        "completed"
    );
    let res = app.release(KEY, &release_body("sha1", "cancelled")).await;
    assert_eq!((res.status, res.lease()), (StatusCode::OK, "completed"));
}

#[actix_web::test]
async fn a_release_by_any_other_non_holder_is_still_400() {
    let app = spawn_app().await;
    round_with_a_silent_holder(&app).await;
    for sha in ["sha1", "sha2", "never-seen"] {
        let res = app.release(KEY, &release_body(sha, "success")).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{sha}: {}", res.json);
        assert!(res.json["error"].is_string());
    }
    let view = app.get(&format!("/{KEY}")).await;
    assert_eq!(view.json["acquired"]["request"]["head_sha"], "sha3");
}

#[actix_web::test]
async fn the_answers_say_when_the_holder_is_silent_since_its_grant() {
    let app = spawn_app_with(
        &["--expected-build-count", "3", "--lease-timeout", "10m"],
        None,
    )
    .await;
    round_with_a_silent_holder(&app).await;

    let waiting = app.acquire(KEY, &body("sha2", 2)).await;
    assert_eq!(waiting.json["waiting"]["reason"], "lease_held");
    assert_eq!(
        waiting.json["waiting"]["holder"]["silent_since_grant"],
        true
    );
    let conflict = app.acquire(KEY, &body("late", 9)).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(
        conflict.json["error_context"]["holder"]["silent_since_grant"],
        true
    );
    let view = app.get(&format!("/{KEY}")).await.json;
    assert_eq!(
        view["acquired"]["lease_expires_at"],
        Value::Null,
        "no timeout applies to it: {view}"
    );
    assert_eq!(view["config"]["silent_holder_timeout"], 0);

    // One call after the grant, as this project's action makes: lease_timeout applies.
    let heartbeat = app.acquire(KEY, &body("sha3", 3)).await;
    assert_eq!(heartbeat.lease(), "acquired");
    assert!(
        heartbeat.json["lease_expires_at"].is_string(),
        "{}",
        heartbeat.json
    );
    let waiting = app.acquire(KEY, &body("sha2", 2)).await;
    assert_eq!(
        waiting.json["waiting"]["holder"]["silent_since_grant"],
        false
    );
}

#[actix_web::test]
async fn the_opt_in_shows_in_the_view_and_the_silent_holders_expiry() {
    let app = spawn_app_with(
        &[
            "--expected-build-count",
            "3",
            "--silent-holder-timeout",
            "2h",
        ],
        None,
    )
    .await;
    round_with_a_silent_holder(&app).await;
    let view = app.get(&format!("/{KEY}")).await.json;
    assert_eq!(view["config"]["silent_holder_timeout"], 7200);
    assert!(view["acquired"]["lease_expires_at"].is_string(), "{view}");
}
