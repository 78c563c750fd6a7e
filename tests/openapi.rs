//! The checked-in `openapi.json` is the document the code generates, and the running
//! service serves exactly that at `GET /openapi.json` without credentials.
//!
//! When a route, a schema or a description changes, regenerate the file:
//! `cargo run --quiet -- openapi > openapi.json` (or run this test with
//! `MQ_LEASE_UPDATE_OPENAPI=1`, which writes it).

mod common;

use std::path::Path;

use mq_lease_service::openapi;

const REGENERATE: &str = "openapi.json is out of date with the code. Regenerate it with\n\n    \
     cargo run --quiet -- openapi > openapi.json\n\n(or MQ_LEASE_UPDATE_OPENAPI=1 cargo test --test openapi) and commit it.";

fn checked_in_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
}

#[test]
fn checked_in_openapi_json_is_the_generated_document() {
    let generated = openapi::document();
    let path = checked_in_path();
    if std::env::var_os("MQ_LEASE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi.json");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let first_difference = checked_in
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| {
                format!(
                    "first difference at line {}:\n  file: {a}\n  code: {b}",
                    i + 1
                )
            })
            .unwrap_or_else(|| "one is a prefix of the other".to_owned());
        panic!("{REGENERATE}\n\n{first_difference}");
    }
}

#[test]
fn document_is_openapi_3_1_with_every_route_and_both_security_schemes() {
    let doc: serde_json::Value = serde_json::from_str(&openapi::document()).unwrap();

    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/", "get"),
        ("/{owner}/{repo}/{base_ref}/acquire", "post"),
        ("/{owner}/{repo}/{base_ref}/release", "post"),
        ("/{owner}/{repo}/{base_ref}", "get"),
        ("/{owner}/{repo}/{base_ref}", "delete"),
        ("/{owner}/{repo}/{base_ref}/events", "get"),
        ("/{owner}/{repo}/{base_ref}/revoke", "post"),
        ("/{owner}/{repo}/{base_ref}/pause", "post"),
        ("/{owner}/{repo}/{base_ref}/resume", "post"),
        ("/healthz", "get"),
        ("/k8s/liveness", "get"),
        ("/readyz", "get"),
        ("/k8s/readiness", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/ui", "get"),
        ("/ui/{owner}/{repo}/{base_ref}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["basic"]["scheme"], "basic");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    // Every response has the description OpenAPI requires.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
}

#[actix_web::test]
async fn running_service_serves_the_checked_in_document_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[auth]\nbearer_tokens = [\"secret-token\"]\n").unwrap();
    let server = common::Server::start(
        &dir.path().join("data"),
        dir.path(),
        &["--config", config.to_str().unwrap()],
    )
    .await;
    let client = awc::Client::default();
    let base = format!("http://127.0.0.1:{}", server.port);

    let mut res = client
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap();
    let refused = client.get(format!("{base}/")).send().await.unwrap();

    assert_eq!(res.status(), 200);
    let content_type = res.headers().get("content-type").unwrap().to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body = res.body().limit(4 * 1024 * 1024).await.unwrap();
    let checked_in = std::fs::read_to_string(checked_in_path()).unwrap();
    assert!(
        body == checked_in.as_bytes(),
        "GET /openapi.json is not openapi.json. {REGENERATE}"
    );
    assert_eq!(
        refused.status(),
        401,
        "the API itself still needs credentials"
    );
}
