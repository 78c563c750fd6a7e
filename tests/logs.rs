//! The binary's log as operators read it: one access line per request, refused
//! credentials and conflicts included, in `text` and `json`, never with a secret.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{acquire_body, Server};
use serde_json::Value;

const TOKEN: &str = "tok-9f8e7d6c5b4a-secret";
const PASSWORD: &str = "pw-1a2b3c4d-secret";
const WRONG: &str = "tok-wrong-0000-guess";
const ACQUIRE_ROUTE: &str = "/{owner}/{repo}/{base_ref}/acquire";

/// Runs a short session against a binary with `[auth]` and `--log-format format`:
/// a request without credentials, one with wrong ones (both 401), a grant and a 409.
/// Returns everything the process wrote.
async fn session(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nauto_register = true\n\n[auth]\nbasic = {{ ci = \"{PASSWORD}\" }}\nbearer_tokens = [\"{TOKEN}\"]\n"
        ),
    )
    .unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--expected-build-count",
            "1",
            "--log-format",
            format,
        ],
    )
    .await;
    let client = awc::Client::default();
    let url = format!("http://127.0.0.1:{}/acme/shop/main/acquire", server.port);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("ci:{PASSWORD}"))
    );
    let calls: [(Option<String>, &str, u16); 4] = [
        (None, "a", 401),
        (Some(format!("Bearer {WRONG}")), "a", 401),
        (Some(format!("Bearer {TOKEN}")), "a", 200),
        (Some(basic), "b", 409),
    ];
    for (authorization, sha, expected) in calls {
        let mut req = client.post(&url);
        if let Some(value) = authorization {
            req = req.insert_header(("Authorization", value));
        }
        let mut res = req.send_json(&acquire_body(sha, 1)).await.unwrap();
        let _ = res.body().await;
        assert_eq!(res.status().as_u16(), expected, "{sha}");
    }
    // The access line of the last call is written once its answer is sent.
    let started = Instant::now();
    // Any line could hold "409" by chance (a timestamp, a duration): wait for the access
    // line itself, in either format.
    let conflict_logged = |out: &str| {
        out.lines().any(|l| {
            l.contains("mq_lease::access")
                && (l.contains("status=409") || l.contains("\"status\":409"))
        })
    };
    while !conflict_logged(&server.output()) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no 409 line:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.output()
}

fn assert_no_secret(output: &str) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("ci:{PASSWORD}"));
    for secret in [TOKEN, PASSWORD, WRONG, encoded.as_str()] {
        assert!(
            !output.contains(secret),
            "{secret} appears in the log:\n{output}"
        );
    }
}

#[actix_web::test]
async fn text_logs_have_an_access_line_for_a_401_and_a_409_and_no_secret() {
    let output = session("text").await;
    assert_no_secret(&output);
    let access: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("mq_lease::access"))
        .collect();
    let line = |needles: &[&str]| access.iter().any(|l| needles.iter().all(|n| l.contains(n)));
    assert!(
        line(&[
            "POST /acme/shop/main/acquire 401",
            "no credentials",
            "route=/{owner}/{repo}/{base_ref}/acquire",
            "provider=acme:shop:main",
        ]),
        "{output}"
    );
    assert!(line(&[" 401 ", "wrong credentials"]), "{output}");
    assert!(
        line(&[
            "POST /acme/shop/main/acquire 409",
            "status=409",
            "provider=acme:shop:main",
            "duration_ms=",
        ]),
        "{output}"
    );
}

#[actix_web::test]
async fn json_logs_are_one_object_per_line_with_access_fields_and_no_secret() {
    let output = session("json").await;
    assert_no_secret(&output);
    let mut objects = Vec::new();
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{output}"));
        for key in ["ts", "level", "target", "msg"] {
            assert!(v[key].is_string(), "{key} missing in {line}");
        }
        objects.push(v);
    }
    let access = |status: u64| -> Vec<&Value> {
        objects
            .iter()
            .filter(|v| v["target"] == "mq_lease::access" && v["status"] == status)
            .collect()
    };
    let refused = access(401);
    for reason in ["no credentials", "wrong credentials"] {
        let v = refused
            .iter()
            .find(|v| v["reason"] == reason)
            .unwrap_or_else(|| panic!("no 401 line with {reason}:\n{output}"));
        assert_eq!(v["level"], "warn");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["route"], ACQUIRE_ROUTE);
        assert_eq!(v["provider"], "acme:shop:main");
    }
    let conflict = access(409);
    let [v] = conflict.as_slice() else {
        panic!("expected one 409 line:\n{output}");
    };
    assert_eq!(v["level"], "info");
    assert_eq!(v["route"], ACQUIRE_ROUTE);
    assert_eq!(v["provider"], "acme:shop:main");
    assert!(v["duration_ms"].as_f64().is_some(), "{v}");
    assert!(
        objects.iter().any(|v| v["target"] != "mq_lease::access"
            && v["msg"]
                .as_str()
                .is_some_and(|m| m.contains("granted to a"))),
        "the grant line is JSON too:\n{output}"
    );
}
