//! Provider views, list, clear, health, metrics, slashes in base_ref.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{body, release_body, spawn_app, spawn_app_with};

#[actix_web::test]
async fn base_ref_with_slashes_works_raw_and_percent_encoded() {
    let app = spawn_app_with(&["--expected-build-count", "2"], None).await;
    assert_eq!(
        app.acquire("acme/shop/release/1.x", &body("a", 1))
            .await
            .lease(),
        "pending"
    );
    assert_eq!(
        app.acquire("acme/shop/release%2F1.x", &body("b", 2))
            .await
            .lease(),
        "acquired"
    );
    let view = app.get("/acme/shop/release%2F1.x").await;
    assert_eq!(
        view.json["known"].as_array().map(Vec::len),
        Some(2),
        "{}",
        view.json
    );
    let raw = app.get("/acme/shop/release/1.x").await;
    assert_eq!(raw.json["acquired"]["request"]["head_sha"], "b");
    let list = app.get("/").await;
    assert!(
        list.json.get("acme:shop:release/1.x").is_some(),
        "{}",
        list.json
    );
    assert_eq!(
        app.release("acme/shop/release/1.x", &release_body("b", "success"))
            .await
            .lease(),
        "completed"
    );
}

#[actix_web::test]
async fn the_provider_view_shows_known_requests_by_priority_the_holder_and_the_config() {
    let app = spawn_app().await;
    for (sha, p) in [("c", 3), ("a", 1), ("b", 2)] {
        app.acquire("acme/shop/main", &body(sha, p)).await;
    }
    app.acquire("acme/shop/main", &body("c", 3)).await;
    let view = app.get("/acme/shop/main").await;
    assert_eq!(view.status, StatusCode::OK);
    let priorities: Vec<i64> = view.json["known"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request"]["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(priorities, [1, 2, 3]);
    assert_eq!(view.json["acquired"]["request"]["head_sha"], "c");
    assert_eq!(
        view.json["config"],
        json!({"stabilize_duration": 300, "ttl": 30, "expected_request_count": 3, "delay_assignment_count": 0, "lease_timeout": 600, "silent_holder_timeout": 0})
    );
    let at = view.json["last_updated_at"].as_str().unwrap();
    assert!(humantime::parse_rfc3339(at).is_ok(), "{at}");
}

#[actix_web::test]
async fn clear_drops_the_state_and_answers_the_cleared_view() {
    let app = spawn_app().await;
    for (sha, p) in [("a", 1), ("b", 2), ("c", 3)] {
        app.acquire("acme/shop/main", &body(sha, p)).await;
    }
    let cleared = app.delete("/acme/shop/main").await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.json["known"], json!([]));
    assert_eq!(cleared.json["acquired"], json!(null));
    assert_eq!(
        app.acquire("acme/shop/main", &body("d", 1)).await.lease(),
        "pending"
    );
}

#[actix_web::test]
async fn health_and_readiness_answer_200_once_loaded() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/k8s/liveness", "/k8s/readiness"] {
        assert_eq!(app.get(path).await.status, StatusCode::OK, "{path}");
    }
}

#[actix_web::test]
async fn metrics_count_grants_and_releases_and_label_http_by_route_pattern() {
    let app = spawn_app_with(&["--expected-build-count", "1"], None).await;
    app.acquire("acme/shop/main", &body("a", 1)).await;
    app.release("acme/shop/main", &release_body("a", "success"))
        .await;
    let text = app.metrics().await;
    for line in [
        "mq_lease_grants_total{base_ref=\"main\",owner=\"acme\",repo=\"shop\"} 1",
        "mq_lease_releases_total{base_ref=\"main\",outcome=\"success\",owner=\"acme\",repo=\"shop\"} 1",
        // The histograms are for all providers together (docs/operations.md, "Metrics").
        "\nmq_lease_merged_batch_size_count 1\n",
        "\nmq_lease_time_to_grant_seconds_count 1\n",
        "mq_lease_holder{base_ref=\"main\",owner=\"acme\",repo=\"shop\"} 0",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(
        text.contains("route=\"/{owner}/{repo}/{base_ref}/acquire\""),
        "{text}"
    );
    assert!(
        !text.contains("route=\"/acme/shop/main/acquire\""),
        "raw paths must not become labels"
    );
}
