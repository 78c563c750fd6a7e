//! The binary as an operator meets it: the container health check and start-up errors.

mod common;

use std::process::Command;

use common::{free_port, Server, BIN};

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[actix_web::test]
async fn healthcheck_exits_0_against_a_live_server_and_non_zero_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), dir.path(), &[]).await;
    let live = format!("http://127.0.0.1:{}/healthz", server.port);
    let (code, text) = run(&["healthcheck", "--url", &live], &[]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(&["--port", &server.port.to_string(), "healthcheck"], &[]);
    assert_eq!(code, Some(0), "--port picks the port: {text}");

    let (code, text) = run(
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/healthz", free_port()),
        ],
        &[],
    );
    assert_ne!(code, Some(0));
    assert!(text.contains("healthcheck failed"), "{text}");
    let (code, _) = run(
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/nope", server.port),
        ],
        &[],
    );
    assert_ne!(code, Some(0), "a 404 is not healthy");
}

#[test]
fn an_unknown_config_key_stops_the_start_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[server]\nport = 8080\n\n[defaults]\nttl = \"30s\"\nstabilization_window = \"5m\"\n",
    )
    .unwrap();
    let (code, text) = run(
        &[
            "--config",
            file.to_str().unwrap(),
            "--data",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("stabilization_window") && text.contains("line 6"),
        "{text}"
    );
}

#[test]
fn a_missing_variable_is_named_and_no_secret_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[auth]\nbasic = { ci = \"${MQ_TEST_PASSWORD}\" }\nbearer_tokens = [\"${MQ_TEST_MISSING_TOKEN}\"]\n",
    )
    .unwrap();
    let args = [
        "--config",
        file.to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
    ];
    let (code, text) = run(&args, &[("MQ_TEST_PASSWORD", "very-secret-pw")]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("MQ_TEST_MISSING_TOKEN"), "{text}");
    assert!(
        !text.contains("very-secret-pw"),
        "a secret reached the output: {text}"
    );
}

#[actix_web::test]
async fn secrets_never_reach_the_log_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "[server]\nauto_register = true\n[auth]\nbasic = { ci = \"${MQ_TEST_PASSWORD}\" }\nbearer_tokens = [\"${MQ_TEST_TOKEN}\"]\n",
    )
    .unwrap();
    let config = file.to_str().unwrap().to_owned();
    // Server::start does not pass env; run the binary with the variables set.
    std::env::set_var("MQ_TEST_PASSWORD", "very-secret-pw");
    std::env::set_var("MQ_TEST_TOKEN", "very-secret-token");
    let server = Server::start(&dir.path().join("data"), dir.path(), &["--config", &config]).await;
    let api = awc::Client::default();
    let url = format!("http://127.0.0.1:{}/acme/shop/main/acquire", server.port);
    let res = api
        .post(&url)
        .insert_header(("Authorization", "Bearer very-secret-token"))
        .send_json(&common::acquire_body("a", 1))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = api
        .post(&url)
        .insert_header(("Authorization", "Bearer wrong-token"))
        .send_json(&common::acquire_body("b", 1))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let log = server.output();
    assert!(log.contains("starting with"), "{log}");
    assert!(
        !log.contains("very-secret"),
        "a secret reached the log: {log}"
    );
}
