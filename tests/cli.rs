//! The binary as an operator meets it: the container health check, `MQ_LEASE_*`
//! environment variables and start-up errors.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Api, Server, BIN};

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

/// The binary started with exactly `args` and `env` (no port flag added), killed on drop.
struct Started {
    child: Child,
    log: std::path::PathBuf,
}

impl Started {
    fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Started {
        let log = dir.join(format!("started-{}.log", free_port()));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start mq-lease-service");
        Started { child, log }
    }

    /// Waits until `GET /readyz` on `port` is 200; panics with the log if the process
    /// exits first or takes more than 30 s.
    async fn wait_ready_on(&mut self, port: u16) {
        let api = Api::new(port);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "exited ({status}) before ready on {port}:\n{}",
                    self.output()
                );
            }
            if matches!(api.get("/readyz").await, Ok(a) if a.status == 200) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "not ready on {port} after 30 s:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nobody_listens_on(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

fn write_config(dir: &Path, name: &str, port: u16) -> String {
    let file = dir.join(name);
    std::fs::write(
        &file,
        format!("[server]\nport = {port}\nbind = \"127.0.0.1\"\n"),
    )
    .unwrap();
    file.to_str().unwrap().to_owned()
}

#[actix_web::test]
async fn environment_variables_beat_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (file_port, env_port) = (free_port(), free_port());
    let config = write_config(dir.path(), "config.toml", file_port);
    let data = dir.path().join("data");

    let mut server = Started::spawn(
        dir.path(),
        &[],
        &[
            ("MQ_LEASE_CONFIG", &config),
            ("MQ_LEASE_PORT", &env_port.to_string()),
            ("MQ_LEASE_DATA", data.to_str().unwrap()),
        ],
    );
    server.wait_ready_on(env_port).await;

    assert!(nobody_listens_on(file_port), "the file's port was used");
    assert!(data.join("leases.redb").exists(), "MQ_LEASE_DATA ignored");
}

#[actix_web::test]
async fn a_flag_beats_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (env_port, flag_port) = (free_port(), free_port());
    let data = dir.path().join("data");

    let mut server = Started::spawn(
        dir.path(),
        &["--bind", "127.0.0.1", "--port", &flag_port.to_string()],
        &[
            ("MQ_LEASE_PORT", &env_port.to_string()),
            ("MQ_LEASE_DATA", data.to_str().unwrap()),
        ],
    );
    server.wait_ready_on(flag_port).await;

    assert!(nobody_listens_on(env_port), "the variable beat the flag");
}

#[test]
fn a_bad_environment_value_is_a_usage_error() {
    let (code, text) = run(&[], &[("MQ_LEASE_TTL", "0")]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("ttl"), "{text}");
}

#[actix_web::test]
async fn healthcheck_finds_the_port_set_in_the_config_file_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), "config.toml", port);
    let wrong = write_config(dir.path(), "wrong.toml", free_port());
    let data = dir.path().join("data");
    let mut server = Started::spawn(
        dir.path(),
        &["--config", &config, "--data", data.to_str().unwrap()],
        &[],
    );
    server.wait_ready_on(port).await;

    let healthy = [
        (&["--config", &config, "healthcheck"][..], &[][..]),
        (&["healthcheck", "--config", &config], &[]),
        (&["healthcheck"], &[("MQ_LEASE_CONFIG", config.as_str())]),
        (
            &["healthcheck"],
            &[
                ("MQ_LEASE_CONFIG", wrong.as_str()),
                ("MQ_LEASE_PORT", &port.to_string()),
            ],
        ),
    ];
    for (args, env) in healthy {
        let (code, text) = run(args, env);
        assert_eq!(code, Some(0), "{args:?} {env:?}: {text}");
    }

    let unhealthy = [
        (&["healthcheck", "--config", &wrong][..], &[][..]),
        (&["healthcheck"], &[("MQ_LEASE_CONFIG", wrong.as_str())]),
        (
            &[
                "healthcheck",
                "--config",
                &config,
                "--port",
                &free_port().to_string(),
            ],
            &[],
        ),
    ];
    for (args, env) in unhealthy {
        let (code, text) = run(args, env);
        assert_ne!(code, Some(0), "{args:?} {env:?}: {text}");
        assert!(text.contains("healthcheck failed"), "{text}");
    }
}

#[test]
fn healthcheck_with_a_broken_config_says_so_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[server]\nprot = 8080\n").unwrap();

    let (code, text) = run(&["healthcheck", "--config", file.to_str().unwrap()], &[]);

    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("configuration error") && text.contains("prot"),
        "{text}"
    );
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
