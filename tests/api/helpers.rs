//! `spawn_app()`: the real application on 127.0.0.1:0 with a fresh data dir, and typed
//! calls over awc.

use std::time::Duration;

use awc::http::StatusCode;
use clap::Parser;
use mq_lease_service::cli::Cli;
use mq_lease_service::config::Settings;
use mq_lease_service::startup::Application;
use serde_json::{json, Value};
use tempfile::TempDir;

pub struct TestApp {
    pub address: String,
    pub client: awc::Client,
    /// Kept so the data dir lives as long as the app.
    _data: TempDir,
}

/// Boots the app with `args` (CLI flags) and, if given, a config file with `toml`.
pub async fn spawn_app_with(args: &[&str], toml: Option<&str>) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    let data = tempfile::tempdir().expect("temp dir");
    let data_path = data.path().join("data");
    let mut argv: Vec<String> = vec![
        "mq-lease-service".into(),
        "--bind".into(),
        "127.0.0.1".into(),
    ];
    argv.extend([
        "--port".into(),
        "0".into(),
        "--data".into(),
        data_path.display().to_string(),
    ]);
    if let Some(toml) = toml {
        let file = data.path().join("config.toml");
        std::fs::write(&file, toml).expect("write config");
        argv.extend(["--config".into(), file.display().to_string()]);
    }
    argv.extend(args.iter().map(|s| s.to_string()));
    let cli = Cli::try_parse_from(&argv).expect("flags parse");
    let settings = Settings::load(&cli, &|name| match name {
        "TEST_TOKEN" => Some("s3cret-token".into()),
        "TEST_PASSWORD" => Some("hunter2".into()),
        _ => None,
    })
    .expect("settings load");
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: awc::Client::builder()
            .timeout(Duration::from_secs(150))
            .finish(),
        _data: data,
    }
}

/// Defaults as a merge queue of three runs would use them, with short timers.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(
        &[
            "--expected-build-count",
            "3",
            "--stabilisation-window",
            "5m",
            "--ttl",
            "30s",
        ],
        None,
    )
    .await
}

pub fn body(sha: &str, priority: i64) -> Value {
    json!({ "head_sha": sha, "head_ref": format!("gh-readonly-queue/main/pr-{priority}-abc{priority}"), "priority": priority })
}

pub fn release_body(sha: &str, status: &str) -> Value {
    json!({ "head_sha": sha, "status": status })
}

pub struct Answer {
    pub status: StatusCode,
    pub json: Value,
}

impl Answer {
    /// The request's lease status (`pending`, `acquired`, …) of a request context.
    pub fn lease(&self) -> &str {
        self.json["request"]["status"].as_str().unwrap_or("<none>")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn send(&self, req: awc::ClientRequest, body: Option<&Value>) -> Answer {
        let mut res = match body {
            Some(b) => req.send_json(b).await,
            None => req.send().await,
        }
        .expect("request sent");
        let status = res.status();
        let bytes = res.body().limit(16 * 1024 * 1024).await.expect("body read");
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
        Answer { status, json }
    }

    pub async fn acquire(&self, key: &str, body: &Value) -> Answer {
        self.send(
            self.client.post(self.url(&format!("/{key}/acquire"))),
            Some(body),
        )
        .await
    }

    pub async fn acquire_wait(&self, key: &str, body: &Value, wait: &str) -> Answer {
        self.send(
            self.client
                .post(self.url(&format!("/{key}/acquire?wait={wait}"))),
            Some(body),
        )
        .await
    }

    pub async fn release(&self, key: &str, body: &Value) -> Answer {
        self.send(
            self.client.post(self.url(&format!("/{key}/release"))),
            Some(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path)), None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.client.delete(self.url(path)), None).await
    }

    /// The raw `/metrics` text.
    pub async fn metrics(&self) -> String {
        let mut res = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics");
        let bytes = res
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .expect("metrics body");
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Typed calls to a server already running on `port` (the real binary in restart tests).
pub fn attach(port: u16) -> TestApp {
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: awc::Client::builder()
            .timeout(Duration::from_secs(150))
            .finish(),
        _data: tempfile::tempdir().expect("temp dir"),
    }
}

impl TestApp {
    /// `POST {path}` with an optional JSON body.
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Answer {
        self.send(self.client.post(self.url(path)), body).await
    }
}

/// Seconds from RFC 3339 time `a` to `b` (negative if `b` is earlier).
pub fn seconds_between(a: &Value, b: &Value) -> i64 {
    let parse = |v: &Value| {
        let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
        humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    let (a, b) = (parse(a), parse(b));
    match b.duration_since(a) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// [`spawn_app_with`] with a config file, and `adjust` applied to the loaded settings
/// before the app boots (for values no file key sets, such as short refetch limits).
pub async fn spawn_app_adjusted(toml: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let _ = env_logger::builder().is_test(true).try_init();
    let data = tempfile::tempdir().expect("temp dir");
    let file = data.path().join("config.toml");
    std::fs::write(&file, toml).expect("write config");
    let data_path = data.path().join("data");
    let argv = [
        "mq-lease-service".to_owned(),
        "--bind".into(),
        "127.0.0.1".into(),
        "--port".into(),
        "0".into(),
        "--data".into(),
        data_path.display().to_string(),
        "--config".into(),
        file.display().to_string(),
    ];
    let cli = Cli::try_parse_from(&argv).expect("flags parse");
    let mut settings = Settings::load(&cli, &|name| match name {
        "TEST_TOKEN" => Some("s3cret-token".into()),
        "TEST_PASSWORD" => Some("hunter2".into()),
        _ => None,
    })
    .expect("settings load");
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        client: awc::Client::builder()
            .timeout(Duration::from_secs(150))
            .finish(),
        _data: data,
    }
}
