//! The real `mq-lease-service` binary as a child process, and typed calls to it over awc.
//!
//! A [`Server`] kills its process when dropped, so no server outlives a failing test.

#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub mod pg;

pub const BIN: &str = env!("CARGO_BIN_EXE_mq-lease-service");

/// A port nobody listens on right now (bind to 0, read it, let it go).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// One run of the binary; stdout and stderr go to `<log_dir>/server-<port>.log`.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Starts the binary on a free port with `--data data` and `args`, without waiting.
    pub fn spawn(data: &Path, log_dir: &Path, args: &[&str]) -> Server {
        Server::spawn_env(data, log_dir, args, &[])
    }

    /// [`Server::spawn`] with extra environment variables.
    pub fn spawn_env(data: &Path, log_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let log = log_dir.join(format!("server-{port}.log"));
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(BIN)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--data"])
            .arg(data)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start mq-lease-service");
        Server {
            child: Some(child),
            port,
            log,
        }
    }

    /// Starts the binary and waits until `GET /readyz` answers 200.
    pub async fn start(data: &Path, log_dir: &Path, args: &[&str]) -> Server {
        let mut server = Server::spawn(data, log_dir, args);
        server.wait_ready().await;
        server
    }

    pub fn api(&self) -> Api {
        Api::new(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// The process has not been reaped (it may be stopped by SIGSTOP).
    pub fn pid_alive(&self) -> bool {
        self.child.is_some()
    }

    /// What the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `/readyz` until 200; panics (with the server's output) if the process exits
    /// or is not ready within 30 s.
    pub async fn wait_ready(&mut self) {
        let api = self.api();
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                panic!(
                    "server exited before it was ready ({status}); output:\n{}",
                    self.output()
                );
            }
            if let Ok(a) = api.get("/readyz").await {
                if a.status == 200 {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server not ready after 30 s; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The exit status, if the process has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait"))
    }

    /// Waits (polling, so other tasks keep running) for the process to end; panics after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                self.child = None;
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "server still running after {limit:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGTERM, then waits (at most 20 s) for a graceful exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        self.wait_exit(Duration::from_secs(20)).await
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`, `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), pid.as_str()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid} failed");
    }

    /// SIGKILL, and reaps the process (its file lock is gone afterwards).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP answer: status and JSON body (`{"raw": …}` when it is not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub json: Value,
}

impl Answer {
    /// `request.status` of a request context.
    pub fn lease(&self) -> &str {
        self.json["request"]["status"].as_str().unwrap_or("<none>")
    }

    /// `request.fencing_token` of a request context.
    pub fn token(&self) -> Option<u64> {
        self.json["request"]["fencing_token"].as_u64()
    }
}

/// Typed calls against one server. Errors are transport errors (the server is gone).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: awc::Client,
}

pub fn acquire_body(sha: &str, priority: u64) -> Value {
    json!({
        "head_sha": sha,
        "head_ref": format!("gh-readonly-queue/main/pr-{priority}-0123abcd"),
        "priority": priority,
    })
}

impl Api {
    pub fn new(port: u16) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}"),
            client: awc::Client::builder()
                .timeout(Duration::from_secs(150))
                .finish(),
        }
    }

    async fn send(&self, req: awc::ClientRequest, body: Option<&Value>) -> Result<Answer, String> {
        let mut res = match body {
            Some(b) => req.send_json(b).await,
            None => req.send().await,
        }
        .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let bytes = res
            .body()
            .limit(16 * 1024 * 1024)
            .await
            .map_err(|e| e.to_string())?;
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
        Ok(Answer { status, json })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send(self.client.get(self.url(path)), None).await
    }

    pub async fn delete(&self, path: &str) -> Result<Answer, String> {
        self.send(self.client.delete(self.url(path)), None).await
    }

    /// `POST /{key}/acquire` (`key` is `owner/repo/base_ref`), with `?wait=` if `wait` is set.
    pub async fn acquire(
        &self,
        key: &str,
        sha: &str,
        priority: u64,
        wait: Option<u64>,
    ) -> Result<Answer, String> {
        let query = wait.map(|w| format!("?wait={w}")).unwrap_or_default();
        let req = self
            .client
            .post(self.url(&format!("/{key}/acquire{query}")));
        self.send(req, Some(&acquire_body(sha, priority))).await
    }

    /// `POST /{key}/release` with `status` and, if given, the fencing token.
    pub async fn release(
        &self,
        key: &str,
        sha: &str,
        status: &str,
        token: Option<u64>,
    ) -> Result<Answer, String> {
        let mut body = json!({ "head_sha": sha, "status": status });
        if let Some(t) = token {
            body["fencing_token"] = json!(t);
        }
        let req = self.client.post(self.url(&format!("/{key}/release")));
        self.send(req, Some(&body)).await
    }

    /// The provider view, which must exist.
    pub async fn view(&self, key: &str) -> Result<Value, String> {
        let a = self.get(&format!("/{key}")).await?;
        if a.status != 200 {
            return Err(format!("GET /{key}: {} {}", a.status, a.json));
        }
        Ok(a.json)
    }

    /// The provider's history, newest first.
    pub async fn events(&self, key: &str) -> Result<Value, String> {
        let a = self.get(&format!("/{key}/events?limit=500")).await?;
        if a.status != 200 {
            return Err(format!("GET /{key}/events: {} {}", a.status, a.json));
        }
        Ok(a.json)
    }
}

/// docs/rules.md §3 invariants of a provider view; returns what is wrong.
pub fn check_invariants(view: &Value) -> Result<(), String> {
    let known = view["known"]
        .as_array()
        .ok_or_else(|| format!("no known array: {view}"))?;
    let mut shas = std::collections::HashSet::new();
    let mut last_priority = 0;
    let mut holders = Vec::new();
    let mut finished = 0;
    for k in known {
        let r = &k["request"];
        let sha = r["head_sha"].as_str().ok_or("request without head_sha")?;
        if !shas.insert(sha) {
            return Err(format!("{sha} is known twice: {view}"));
        }
        let priority = r["priority"].as_u64().ok_or("request without priority")?;
        if priority < last_priority {
            return Err(format!("known is not sorted by priority: {view}"));
        }
        last_priority = priority;
        match r["status"].as_str() {
            Some("pending") => {}
            Some("acquired") => holders.push(k),
            Some("completed" | "failure") => finished += 1,
            other => return Err(format!("{sha} has status {other:?}: {view}")),
        }
    }
    if holders.len() > 1 {
        return Err(format!("more than one holder: {view}"));
    }
    if holders.len() + finished > 1 {
        return Err(format!(
            "a live holder and a finished one, or two finished: {view}"
        ));
    }
    let last_token = view["last_fencing_token"]
        .as_u64()
        .ok_or("no last_fencing_token")?;
    match (&view["acquired"], holders.first()) {
        (Value::Null, None) => {}
        (Value::Null, Some(h)) => return Err(format!("{h} is acquired but not `acquired`")),
        (a, None) => return Err(format!("`acquired` {a} is not in known: {view}")),
        (a, Some(h)) => {
            if a != *h {
                return Err(format!("`acquired` {a} differs from known {h}"));
            }
            if a["request"]["fencing_token"].as_u64() != Some(last_token) {
                return Err(format!(
                    "the holder's token is not the last one handed out: {view}"
                ));
            }
        }
    }
    Ok(())
}
