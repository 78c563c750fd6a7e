//! Admin controls (docs/rules.md §8): revoke the holder's lease, pause and resume grants.

use std::time::{Duration, Instant};

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::common::Server;
use crate::helpers::{attach, body, release_body, spawn_app, spawn_app_with, Answer, TestApp};

const KEY: &str = "acme/shop/main";

async fn round_held_by_c(app: &TestApp, key: &str) {
    for (sha, p) in [("a", 1), ("b", 2), ("c", 3)] {
        app.acquire(key, &body(sha, p)).await;
    }
    assert_eq!(app.acquire(key, &body("c", 3)).await.lease(), "acquired");
}

/// An acquire held open (`?wait=60s`) in the background.
fn park(
    app: &TestApp,
    key: &str,
    sha: &'static str,
    priority: i64,
) -> actix_web::rt::task::JoinHandle<(Value, Duration)> {
    let url = app.url(&format!("/{key}/acquire?wait=60s"));
    let client = app.client.clone();
    actix_web::rt::spawn(async move {
        let started = Instant::now();
        let mut res = client
            .post(url)
            .send_json(&body(sha, priority))
            .await
            .expect("parked acquire sent");
        let json: Value = res.json().await.expect("parked acquire answered");
        (json, started.elapsed())
    })
}

/// Waits until the provider holds `n` parked callers (its view's `waiting`).
async fn until_parked(app: &TestApp, path: &str, n: u64) {
    for _ in 0..100 {
        if app.get(path).await.json["waiting"] == n {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} caller(s) never parked on {path}");
}

fn kinds(events: &Answer) -> Vec<String> {
    events.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn revoke_hands_the_lease_to_a_parked_waiter_at_once_and_records_the_reason() {
    let app = spawn_app().await;
    round_held_by_c(&app, KEY).await;
    let waiter = park(&app, KEY, "b", 2);
    until_parked(&app, "/acme/shop/main", 1).await;

    let res = app
        .post(
            "/acme/shop/main/revoke",
            Some(&json!({ "reason": "deploy stuck" })),
        )
        .await;

    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert_eq!(
        res.json["acquired"]["request"]["head_sha"], "b",
        "{}",
        res.json
    );
    let (answer, waited) = waiter.await.unwrap();
    assert_eq!(answer["request"]["status"], "acquired", "{answer}");
    assert!(
        waited < Duration::from_secs(30),
        "granted by the revoke, not the end of the wait"
    );
    let events = app.get("/acme/shop/main/events").await;
    let revoked = events.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "lease_revoked")
        .unwrap_or_else(|| panic!("no lease_revoked event: {}", events.json));
    assert_eq!(revoked["head_sha"], "c");
    assert_eq!(revoked["reason"], "deploy stuck");
    assert_eq!(revoked["by"], "anonymous");
    // The revoked run is told failure; its release with failure is a harmless repeat.
    assert_eq!(app.acquire(KEY, &body("c", 3)).await.lease(), "failure");
    assert_eq!(
        app.release(KEY, &release_body("c", "failure")).await.status,
        StatusCode::OK
    );
    assert!(app
        .metrics()
        .await
        .contains("mq_lease_admin_actions_total{action=\"revoke\",base_ref=\"main\",owner=\"acme\",repo=\"shop\"} 1"));
}

#[actix_web::test]
async fn revoke_without_a_body_works_and_without_a_live_lease_is_a_409() {
    let app = spawn_app().await;
    app.acquire(KEY, &body("a", 1)).await;
    let none = app.post("/acme/shop/main/revoke", None).await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.json);
    assert!(none.json["error"]
        .as_str()
        .unwrap()
        .contains("no live lease"));
    assert!(none.json["error_context"].is_object(), "{}", none.json);
    assert!(none.json["error_context"]["holder"].is_null());

    for (sha, p) in [("b", 2), ("c", 3)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    app.acquire(KEY, &body("c", 3)).await;
    let res = app.post("/acme/shop/main/revoke", None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    assert!(
        res.json["acquired"].is_null(),
        "nobody was asking to take over"
    );
    // A second revoke finds the failed holder, not a live lease.
    let again = app.post("/acme/shop/main/revoke", None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json["error_context"]["holder"]["status"], "failure");
}

#[actix_web::test]
async fn revoke_refuses_a_long_reason_and_a_body_that_is_not_json() {
    let app = spawn_app().await;
    round_held_by_c(&app, KEY).await;
    let long = app
        .post(
            "/acme/shop/main/revoke",
            Some(&json!({ "reason": "x".repeat(256) })),
        )
        .await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert_eq!(long.json["error_context"]["field"], "reason");
    let bad = app
        .client
        .post(app.url("/acme/shop/main/revoke"))
        .send_body("{not json")
        .await
        .unwrap()
        .status();
    assert_eq!(bad, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.acquire(KEY, &body("c", 3)).await.lease(),
        "acquired",
        "nothing changed"
    );
}

#[actix_web::test]
async fn pause_makes_acquire_pending_with_reason_paused_and_resume_grants_a_parked_waiter() {
    let app = spawn_app().await;
    for (sha, p) in [("a", 1), ("b", 2)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    let paused = app.post("/acme/shop/main/pause", None).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.json);
    assert_eq!(paused.json["paused"], true);
    let twice = app.post("/acme/shop/main/pause", None).await;
    assert_eq!(twice.status, StatusCode::OK, "pausing twice is fine");

    let res = app.acquire(KEY, &body("c", 3)).await;
    assert_eq!(res.lease(), "pending", "{}", res.json);
    assert_eq!(res.json["waiting"]["reason"], "paused");
    let waiter = park(&app, KEY, "c", 3);
    until_parked(&app, "/acme/shop/main", 1).await;

    let resumed = app.post("/acme/shop/main/resume", None).await;

    assert_eq!(resumed.status, StatusCode::OK);
    assert_eq!(resumed.json["paused"], false);
    let (answer, waited) = waiter.await.unwrap();
    assert_eq!(answer["request"]["status"], "acquired", "{answer}");
    assert!(waited < Duration::from_secs(30), "granted by the resume");
    let events = app.get("/acme/shop/main/events").await;
    let kinds = kinds(&events);
    assert_eq!(
        kinds.iter().filter(|k| *k == "paused").count(),
        1,
        "the second pause changed nothing: {kinds:?}"
    );
    assert!(kinds.contains(&"resumed".to_owned()));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("mq_lease_admin_actions_total{action=\"pause\",base_ref=\"main\",owner=\"acme\",repo=\"shop\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("mq_lease_admin_actions_total{action=\"resume\",base_ref=\"main\",owner=\"acme\",repo=\"shop\"} 1"));
}

#[actix_web::test]
async fn while_paused_the_holder_keeps_its_lease_and_can_release() {
    let app = spawn_app().await;
    round_held_by_c(&app, KEY).await;
    app.post("/acme/shop/main/pause", None).await;
    assert_eq!(app.acquire(KEY, &body("c", 3)).await.lease(), "acquired");
    assert_eq!(
        app.acquire(KEY, &body("b", 2)).await.json["waiting"]["reason"],
        "paused",
        "paused comes before lease_held"
    );
    let released = app.release(KEY, &release_body("c", "failure")).await;
    assert_eq!(released.status, StatusCode::OK);
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "pending");
    app.post("/acme/shop/main/resume", None).await;
    assert_eq!(app.acquire(KEY, &body("b", 2)).await.lease(), "acquired");
}

#[actix_web::test]
async fn admin_routes_take_a_base_ref_with_slashes_raw_and_encoded() {
    let app = spawn_app().await;
    app.acquire("acme/shop/release/1.x", &body("a", 1)).await;
    let raw = app.post("/acme/shop/release/1.x/pause", None).await;
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.json);
    assert_eq!(
        app.get("/acme/shop/release%2F1.x").await.json["paused"],
        true
    );
    let encoded = app.post("/acme/shop/release%2F1.x/resume", None).await;
    assert_eq!(encoded.status, StatusCode::OK, "{}", encoded.json);
    assert_eq!(
        app.get("/acme/shop/release/1.x").await.json["paused"],
        false
    );
}

#[actix_web::test]
async fn admin_routes_answer_404_for_an_unknown_provider() {
    let app = spawn_app().await;
    for action in ["revoke", "pause", "resume"] {
        let res = app.post(&format!("/acme/nope/main/{action}"), None).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{action}: {}", res.json);
        assert!(res.json["error"].is_string());
    }
    assert_eq!(
        app.get("/acme/nope/main").await.status,
        StatusCode::NOT_FOUND,
        "not created"
    );
}

#[actix_web::test]
async fn admin_routes_need_credentials_when_auth_is_on() {
    let app = spawn_app_with(
        &[],
        Some(
            r#"
[server]
auto_register = true
[auth]
bearer_tokens = ["${TEST_TOKEN}"]
basic = { ops = "${TEST_PASSWORD}" }
"#,
        ),
    )
    .await;
    let authed =
        |req: awc::ClientRequest| req.insert_header(("Authorization", "Bearer s3cret-token"));
    app.send(
        authed(app.client.post(app.url("/acme/shop/main/acquire"))),
        Some(&body("a", 1)),
    )
    .await;
    for action in ["revoke", "pause", "resume"] {
        let res = app.post(&format!("/acme/shop/main/{action}"), None).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{action}");
    }
    // A basic user is named in the history, never its password.
    let res = app
        .send(
            app.client
                .post(app.url("/acme/shop/main/pause"))
                .basic_auth("ops", "hunter2"),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.json);
    let events = app
        .send(
            authed(app.client.get(app.url("/acme/shop/main/events"))),
            None,
        )
        .await;
    let paused = &events.json["events"][0];
    assert_eq!(paused["kind"], "paused", "{}", events.json);
    assert_eq!(paused["by"], "user ops");
    assert!(!events.json.to_string().contains("hunter2"));
}

#[actix_web::test]
async fn a_pause_survives_a_crash_and_last_seen_times_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = ["--expected-build-count", "3"];
    let mut server = Server::start(&data, tmp.path(), &args).await;
    let app = attach(server.port);
    for (sha, p) in [("a", 1), ("b", 2)] {
        app.acquire(KEY, &body(sha, p)).await;
    }
    // A plain poll a second later writes nothing; the pause that follows saves it too.
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    app.acquire(KEY, &body("a", 1)).await;
    assert_eq!(
        app.post("/acme/shop/main/pause", None).await.status,
        StatusCode::OK
    );
    let before = app.get("/acme/shop/main").await.json;

    server.kill();
    let first_log = server.output();
    let server = Server::start(&data, tmp.path(), &args).await;
    let app = attach(server.port);

    let after = app.get("/acme/shop/main").await.json;
    assert_eq!(after["paused"], true, "{after}");
    for sha in ["a", "b"] {
        let find = |view: &Value| {
            view["known"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["request"]["head_sha"] == sha)
                .cloned()
                .unwrap()
        };
        let (b, a) = (find(&before), find(&after));
        if sha == "a" {
            assert_ne!(b["last_seen_at"], b["first_seen_at"], "a polled again");
        }
        assert_eq!(a["first_seen_at"], b["first_seen_at"], "{sha}");
        assert_eq!(a["last_seen_at"], b["last_seen_at"], "{sha}");
    }
    let res = app.acquire(KEY, &body("c", 3)).await;
    assert_eq!(res.json["waiting"]["reason"], "paused", "{}", res.json);
    assert!(
        first_log.contains("acme:shop:main: paused by anonymous"),
        "one info line names the provider and who paused it:\n{first_log}"
    );
}
