//! Bad input gets a clear JSON error with the right 4xx, never a 5xx.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{body, spawn_app, spawn_app_with};

const KEY: &str = "acme/shop/main";

#[actix_web::test]
async fn malformed_json_is_422_with_an_error_body() {
    let app = spawn_app().await;
    let req = app
        .client
        .post(app.url("/acme/shop/main/acquire"))
        .insert_header(("Content-Type", "application/json"));
    let res = app.send(req.no_decompress(), None).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut res = app
        .client
        .post(app.url("/acme/shop/main/acquire"))
        .insert_header(("Content-Type", "application/json"))
        .send_body("{not json")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let json: serde_json::Value = res.json().await.unwrap();
    assert!(
        json["error"].as_str().is_some_and(|e| e.contains("JSON")),
        "{json}"
    );
}

#[actix_web::test]
async fn a_body_of_the_wrong_shape_is_422() {
    let app = spawn_app().await;
    for bad in [
        json!({"priority": 1}),
        json!({"head_sha": "a", "priority": "high"}),
        json!([1, 2]),
    ] {
        let res = app.acquire(KEY, &bad).await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(res.json["error"].is_string());
    }
}

#[actix_web::test]
async fn values_that_fail_validation_are_400_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"head_sha": "a", "priority": 0}), "priority"),
        (json!({"head_sha": "a", "priority": -3}), "priority"),
        (json!({"head_sha": "", "priority": 1}), "head_sha"),
        (
            json!({"head_sha": "x".repeat(256), "priority": 1}),
            "head_sha",
        ),
        (
            json!({"head_sha": "a", "priority": 1, "head_ref": "r".repeat(256)}),
            "head_ref",
        ),
    ];
    for (bad, field) in cases {
        let res = app.acquire(KEY, &bad).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(res.json["error_context"]["field"], field, "{}", res.json);
    }
    app.acquire(KEY, &body("a", 1)).await;
    let release = app
        .release(KEY, &json!({"head_sha": "a", "status": "maybe"}))
        .await;
    assert_eq!(
        (
            release.status,
            release.json["error_context"]["field"].as_str()
        ),
        (StatusCode::BAD_REQUEST, Some("status"))
    );
}

#[actix_web::test]
async fn unknown_fields_are_ignored_and_content_type_json_is_accepted() {
    let app = spawn_app().await;
    let mut res = app
        .client
        .post(app.url("/acme/shop/main/acquire"))
        .insert_header(("Content-Type", "json"))
        .send_body(r#"{"head_sha":"a","priority":1,"status":"pending","extra":{"x":1}}"#)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let json: serde_json::Value = res.json().await.unwrap();
    assert_eq!(json["request"]["status"], "pending");
}

#[actix_web::test]
async fn a_body_over_64_kib_is_413() {
    let app = spawn_app().await;
    let big = json!({"head_sha": "a", "priority": 1, "padding": "p".repeat(70 * 1024)});
    let res = app.acquire(KEY, &big).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(res.json["error"].is_string());
}

#[actix_web::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
    let app = spawn_app().await;
    let res = app.get("/nope").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.json["error"].is_string());
    let res = app.get("/acme/shop/main/acquire").await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(res.json["error"].is_string());
    let res = app
        .send(app.client.put(app.url("/acme/shop/main")), None)
        .await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[actix_web::test]
async fn release_by_a_run_that_does_not_hold_the_lease_is_400() {
    let app = spawn_app().await;
    app.acquire(KEY, &body("a", 1)).await;
    let res = app
        .release(KEY, &json!({"head_sha": "a", "status": "success"}))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(res.json["error"]
        .as_str()
        .is_some_and(|e| e.contains("does not hold")));
}

#[actix_web::test]
async fn only_acquire_creates_a_provider_and_unconfigured_ones_are_404_with_a_config_file() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/acme/shop/main").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete("/acme/shop/main").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/acme/shop/main/events").await.status,
        StatusCode::NOT_FOUND
    );

    let toml = "[[repository]]\nowner = \"acme\"\nname = \"shop\"\nbase_ref = \"main\"\n";
    let configured = spawn_app_with(&[], Some(toml)).await;
    assert_eq!(
        configured.get("/acme/shop/main").await.status,
        StatusCode::OK
    );
    let other = configured.acquire("acme/other/main", &body("a", 1)).await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "auto_register is off with a file"
    );
}

#[actix_web::test]
async fn the_provider_limit_is_a_clear_4xx() {
    let app = spawn_app_with(
        &[],
        Some("[server]\nauto_register = true\nmax_providers = 2\n"),
    )
    .await;
    assert_eq!(
        app.acquire("acme/a/main", &body("x", 1)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.acquire("acme/b/main", &body("x", 1)).await.status,
        StatusCode::OK
    );
    let third = app.acquire("acme/c/main", &body("x", 1)).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(third.json["error"]
        .as_str()
        .is_some_and(|e| e.contains("at most 2")));
}
