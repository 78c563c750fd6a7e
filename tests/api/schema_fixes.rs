//! What schemathesis found against openapi.json (`.ci/schemathesis.sh`), kept as tests:
//! whole numbers written as `3.0`, `?limit=` beyond a u64, and the `Allow` header of a 405.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn a_priority_written_as_a_whole_float_is_accepted_and_a_fraction_is_422() {
    let app = spawn_app().await;

    let whole = app
        .acquire("acme/shop/main", &json!({"head_sha": "a", "priority": 3.0}))
        .await;
    let fraction = app
        .acquire("acme/shop/main", &json!({"head_sha": "b", "priority": 3.5}))
        .await;
    let too_big = app
        .acquire(
            "acme/shop/main",
            &json!({"head_sha": "c", "priority": 1e19}),
        )
        .await;

    assert_eq!(whole.status, StatusCode::OK, "{}", whole.json);
    assert_eq!(whole.json["request"]["priority"], 3);
    assert_eq!(
        fraction.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        fraction.json
    );
    assert_eq!(
        too_big.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        too_big.json
    );
}

#[actix_web::test]
async fn a_fencing_token_written_as_a_whole_float_is_read_as_that_token() {
    // One expected run: `a` holds the lease with token 1, so 999 is a stale token.
    let app = spawn_app_with(&["--expected-build-count", "1"], None).await;
    let key = "acme/shop/main";
    let held = app
        .acquire(key, &json!({"head_sha": "a", "priority": 1}))
        .await;
    assert_eq!(held.lease(), "acquired", "{}", held.json);
    let stale = app
        .release(
            key,
            &json!({"head_sha": "a", "status": "success", "fencing_token": 999.0}),
        )
        .await;

    // Read as the number 999 (a stale token), not refused as a body of the wrong shape.
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.json);
}

#[actix_web::test]
async fn a_limit_with_more_digits_than_a_u64_means_the_most_events() {
    let app = spawn_app().await;
    app.acquire("acme/shop/main", &json!({"head_sha": "a", "priority": 1}))
        .await;

    let huge = app
        .get("/acme/shop/main/events?limit=99999999999999999999999999")
        .await;
    let negative = app.get("/acme/shop/main/events?limit=-1").await;

    assert_eq!(huge.status, StatusCode::OK, "{}", huge.json);
    assert!(!huge.json["events"].as_array().unwrap().is_empty());
    assert_eq!(negative.status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn a_405_names_the_allowed_methods_in_the_allow_header() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("PUT", "/acme/shop/main/acquire", "POST"),
        ("PATCH", "/acme/shop/main", "GET, DELETE"),
        ("POST", "/healthz", "GET"),
        ("DELETE", "/metrics", "GET"),
        ("PUT", "/openapi.json", "GET"),
    ] {
        let res = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();

        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let header = res.headers().get("allow").map(|v| v.to_str().unwrap());
        assert_eq!(header, Some(allow), "{method} {path}");
    }
}
