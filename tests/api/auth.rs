//! `[auth]`: Basic users and Bearer tokens; health, readiness and metrics stay open.

use awc::http::StatusCode;

use crate::helpers::{body, spawn_app_with, TestApp};

const CONFIG: &str = r#"
[server]
auto_register = true

[auth]
basic = { ci = "${TEST_PASSWORD}" }
bearer_tokens = ["${TEST_TOKEN}"]
"#;

async fn acquire_with(app: &TestApp, authorization: Option<&str>) -> crate::helpers::Answer {
    let mut req = app.client.post(app.url("/acme/shop/main/acquire"));
    if let Some(value) = authorization {
        req = req.insert_header(("Authorization", value));
    }
    app.send(req, Some(&body("a", 1))).await
}

#[actix_web::test]
async fn api_routes_need_credentials_and_say_how_to_authenticate() {
    let app = spawn_app_with(&[], Some(CONFIG)).await;
    let res = acquire_with(&app, None).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.json["error"].is_string());
    let mut raw = app
        .client
        .get(app.url("/acme/unknown/main"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw.status(),
        StatusCode::UNAUTHORIZED,
        "credentials are checked before routing"
    );
    assert!(raw.headers().get("www-authenticate").is_some());
    let _ = raw.body().await;
    assert_eq!(
        acquire_with(&app, Some("Bearer wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        acquire_with(&app, Some("Basic Y2k6d3Jvbmc=")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[actix_web::test]
async fn a_bearer_token_or_basic_credentials_from_the_environment_are_accepted() {
    let app = spawn_app_with(&[], Some(CONFIG)).await;
    assert_eq!(
        acquire_with(&app, Some("Bearer s3cret-token")).await.status,
        StatusCode::OK
    );
    // ci:hunter2
    assert_eq!(
        acquire_with(&app, Some("Basic Y2k6aHVudGVyMg=="))
            .await
            .status,
        StatusCode::OK
    );
    let listed = app
        .send(
            app.client
                .get(app.url("/"))
                .insert_header(("Authorization", "bearer s3cret-token")),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        listed.json.get("acme:shop:main").is_some(),
        "{}",
        listed.json
    );
}

#[actix_web::test]
async fn health_readiness_and_metrics_stay_open_whatever_is_sent() {
    let app = spawn_app_with(&[], Some(CONFIG)).await;
    for path in [
        "/healthz",
        "/readyz",
        "/k8s/liveness",
        "/k8s/readiness",
        "/metrics",
    ] {
        let res = app
            .client
            .get(app.url(path))
            .insert_header(("Authorization", "Bearer wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
}
