//! End-to-end tests of the GitHub Action: the bundled JavaScript action (`action/dist/`)
//! run the way GitHub's runner runs a `node24` action, against the real server binary.
//!
//! What the runner does, and this harness with it:
//! * reads `action.yml`: `runs.main` runs as the step, `runs.post` (when `post-if` is
//!   `always()`) at the end of the job for every step whose main started, last step first;
//! * runs `node <main>` with every input as `INPUT_<NAME>` (its default when the workflow
//!   gives none; `${{ github.token }}` is the job's token), the merge_group event in
//!   `GITHUB_EVENT_PATH`, and a fresh `GITHUB_OUTPUT`, `GITHUB_STATE` and
//!   `GITHUB_STEP_SUMMARY` file per step;
//! * gives the post step what its main saved with `core.saveState` as `STATE_<name>`, and
//!   the same inputs;
//! * cancels a step with SIGINT (then SIGTERM, then SIGKILL of what is left).
//!
//! GitHub's API (the compare call for the priority) is a small stand-in server per run,
//! reached through `GITHUB_API_URL` as on GitHub Enterprise; github.com is unreachable here.
//! Needs `node` on PATH. `MQ_LEASE_ACTION_ROOT` runs another copy of the action (a
//! directory with `action.yml` and `action/dist/`), e.g. a deliberately broken one.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use yaml_rust2::{Yaml, YamlLoader};

const REPO: &str = "acme/shop";
const BASE_SHA: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TOKEN: &str = "t0ken";
const GITHUB_TOKEN: &str = "gh-test-token";

// ------------------------------------------------------------------ tools

/// The `node` the tests run the action with (GitHub's runner brings its own).
fn node() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file())
        .expect("the action e2e tests need `node` on PATH (Node 20 or later)")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// One HTTP/1.1 call over a plain socket; returns (status code, body). 0 when nothing answers.
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    auth: Option<&str>,
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(130)));
    let body = body.unwrap_or("");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(auth) = auth {
        request.push_str(&format!("Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return (0, String::new());
    };
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    (
        code,
        if chunked {
            unchunk(rest)
        } else {
            rest.to_string()
        },
    )
}

fn unchunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn http_get(port: u16, path: &str, auth: Option<&str>) -> (u16, String) {
    http(port, "GET", path, None, auth)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_default()
}

// ------------------------------------------------------------------ server

struct ServerOptions {
    expected_build_count: u32,
    /// `--stabilisation-window`.
    stabilisation_window: &'static str,
    /// TOML written to a file and passed with `--config`.
    config: Option<&'static str>,
    /// `--lease-timeout` (the server's default when `None`).
    lease_timeout: Option<&'static str>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            expected_build_count: 4,
            stabilisation_window: "2s",
            config: None,
            lease_timeout: None,
        }
    }
}

struct Server {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Server {
    fn start(options: ServerOptions) -> Server {
        Server::start_on(free_port(), options)
    }

    fn start_on(port: u16, options: ServerOptions) -> Server {
        let dir = TempDir::new().expect("server temp dir");
        let data = dir.path().join("data");
        let log = fs::File::create(dir.path().join("server.log")).expect("server log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mq-lease-service"));
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--data")
            .arg(&data)
            .args(["--stabilisation-window", options.stabilisation_window])
            .args(["--ttl", "30s"])
            .arg("--expected-build-count")
            .arg(options.expected_build_count.to_string());
        if let Some(lease_timeout) = options.lease_timeout {
            cmd.args(["--lease-timeout", lease_timeout]);
        }
        if let Some(toml) = options.config {
            let path = dir.path().join("config.toml");
            fs::write(&path, toml).expect("write config");
            cmd.arg("--config").arg(path);
        }
        let child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("start mq-lease-service");
        let mut server = Server { child, port, dir };
        server.wait_until_healthy();
        server
    }

    fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "mq-lease-service exited with {status} before serving:\n{}",
                    self.log()
                );
            }
            if http_get(self.port, "/healthz", None).0 == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "mq-lease-service did not serve /healthz in 30s:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The kinds of the queue's recent events for one run, oldest first (`granted`,
    /// `released_failure`, …).
    fn events_of(&self, head_sha: &str) -> Vec<String> {
        let (_, body) = http_get(self.port, "/acme/shop/main/events?limit=100", None);
        let mut kinds: Vec<String> = json(&body)["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|e| e["head_sha"] == head_sha)
            .filter_map(|e| e["kind"].as_str().map(str::to_string))
            .collect();
        kinds.reverse();
        kinds
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ the action, as the runner loads it

/// The directory holding `action.yml` and the action it names.
fn action_root() -> PathBuf {
    std::env::var_os("MQ_LEASE_ACTION_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// What the runner reads from action.yml: the entries and the inputs with their defaults.
struct Manifest {
    main: PathBuf,
    /// `runs.post`, when `post-if` lets it run at the end of any job.
    post: Option<PathBuf>,
    inputs: Vec<(String, String)>,
}

fn manifest() -> Manifest {
    let root = action_root();
    let text = fs::read_to_string(root.join("action.yml")).expect("read action.yml");
    let doc = YamlLoader::load_from_str(&text).expect("action.yml is YAML");
    let doc = &doc[0];
    let runs = &doc["runs"];
    assert!(
        runs["using"]
            .as_str()
            .is_some_and(|u| u.starts_with("node")),
        "action.yml is not a JavaScript action"
    );
    let main = root.join(runs["main"].as_str().expect("runs.main"));
    let post = runs["post"]
        .as_str()
        .filter(|_| matches!(runs["post-if"].as_str(), None | Some("always()")))
        .map(|p| root.join(p));
    let inputs = doc["inputs"]
        .as_hash()
        .expect("inputs")
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().expect("input name").to_string();
            let default = match &v["default"] {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                _ => String::new(),
            };
            // The one expression a default holds here: the job's token.
            let default = default.replace("${{ github.token }}", GITHUB_TOKEN);
            (name, default)
        })
        .collect();
    Manifest { main, post, inputs }
}

// ------------------------------------------------------------------ GitHub's API stand-in

/// What the stand-in of GitHub's API was asked: (request target, Authorization header).
type Calls = Arc<Mutex<Vec<(String, String)>>>;

/// Answers `GET /repos/acme/shop/compare/BASE...HEAD` with `ahead_by`, 404 otherwise.
fn fake_github(head_sha: String, ahead_by: u32) -> (String, Calls) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind GitHub stand-in");
    let port = listener.local_addr().expect("addr").port();
    let calls: Calls = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&calls);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (target, auth) = read_request(&mut stream);
            record.lock().expect("lock").push((target.clone(), auth));
            let wanted = format!("/repos/{REPO}/compare/{BASE_SHA}...{head_sha}");
            let (status, body) = if target.split('?').next() == Some(wanted.as_str()) {
                (
                    "200 OK",
                    format!("{{\"status\":\"ahead\",\"ahead_by\":{ahead_by},\"behind_by\":0,\"total_commits\":{ahead_by},\"commits\":[],\"files\":[]}}"),
                )
            } else {
                ("404 Not Found", "{\"message\":\"Not Found\"}".to_string())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://127.0.0.1:{port}"), calls)
}

/// Reads one request's head: (target, Authorization header).
fn read_request(stream: &mut TcpStream) -> (String, String) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request).to_string();
    let target = text.split_whitespace().nth(1).unwrap_or("").to_string();
    let auth = text
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    (target, auth)
}

// ------------------------------------------------------------------ one job of one workflow run

/// One merge-group run's job: its event payload, its runner temp dir, the post steps
/// the runner will run at its end, and its stand-in of GitHub's API.
struct Run {
    dir: TempDir,
    head_sha: String,
    pr: u32,
    priority: u32,
    steps: AtomicUsize,
    posts: Mutex<Vec<PostStep>>,
    github_url: String,
    github_calls: Calls,
}

/// A post step the runner owes: the main step's inputs and what it saved.
struct PostStep {
    main_step: usize,
    inputs: Vec<(String, String)>,
    env: Vec<(String, String)>,
    state_file: PathBuf,
}

/// What one step of the action did.
#[derive(Debug)]
struct Step {
    success: bool,
    outputs: HashMap<String, String>,
    log: String,
    /// What the step appended to its `GITHUB_STEP_SUMMARY`.
    summary: String,
    took: Duration,
    /// When the step's process started.
    started: Instant,
}

impl Step {
    fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map(String::as_str).unwrap_or("")
    }

    fn result(&self) -> &str {
        self.output("result")
    }
}

/// A step still running (spawned, e.g. to be cancelled).
struct Running {
    child: Child,
    n: usize,
    pr: u32,
    started: Instant,
    files: StepFiles,
}

struct StepFiles {
    output: PathBuf,
    summary: PathBuf,
    log: PathBuf,
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal to the step's process, as the runner does to cancel it.
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {}", self.pid());
    }

    /// Kills the step's process and every process it started, as the runner does to a
    /// step that did not stop in time after a cancellation.
    fn kill_tree(&self) {
        let mut parents = HashMap::new();
        for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
            let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            if let Some(ppid) = after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
            {
                parents.insert(pid, ppid);
            }
        }
        let mut tree = vec![self.pid()];
        let mut i = 0;
        while i < tree.len() {
            let parent = tree[i];
            tree.extend(
                parents
                    .iter()
                    .filter(|(_, p)| **p == parent)
                    .map(|(c, _)| *c),
            );
            i += 1;
        }
        for pid in tree {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.files.log).unwrap_or_default()
    }

    fn wait(mut self) -> Step {
        let status = self.child.wait().expect("wait for the step");
        finish_step(
            self.pr,
            self.n,
            status.success(),
            self.started,
            &self.files,
            &status.to_string(),
        )
    }
}

fn finish_step(
    pr: u32,
    n: usize,
    success: bool,
    started: Instant,
    files: &StepFiles,
    status: &str,
) -> Step {
    let took = started.elapsed();
    let log = fs::read_to_string(&files.log).unwrap_or_default();
    let outputs = parse_file_commands(&fs::read_to_string(&files.output).unwrap_or_default());
    let summary = fs::read_to_string(&files.summary).unwrap_or_default();
    // Shown for a failing test (or with --nocapture).
    eprintln!(
        "--- PR {pr} step {n} ({took:?}, {status}): {:?}\n{log}",
        outputs.get("result")
    );
    Step {
        success,
        outputs,
        log,
        summary,
        took,
        started,
    }
}

impl Run {
    /// A run of the queue of `base_ref` for the group that ends with PR `pr`,
    /// `priority` commits ahead of the base (what GitHub's compare API answers).
    fn new(pr: u32, priority: u32, base_ref: &str) -> Arc<Run> {
        let dir = TempDir::new().expect("run temp dir");
        let head_sha = format!("{:x}{:032x}", 0xabc0_0000_u64 + u64::from(pr), 0);
        let event = serde_json::json!({
            "action": "checks_requested",
            "merge_group": {
                "head_sha": head_sha,
                "head_ref": format!("refs/heads/gh-readonly-queue/{base_ref}/pr-{pr}-{head_sha}"),
                "base_sha": BASE_SHA,
                "base_ref": format!("refs/heads/{base_ref}"),
            }
        });
        fs::write(dir.path().join("event.json"), event.to_string()).expect("write event");
        fs::create_dir_all(dir.path().join("runner_temp")).expect("runner temp");
        let (github_url, github_calls) = fake_github(head_sha.clone(), priority);
        Arc::new(Run {
            dir,
            head_sha,
            pr,
            priority,
            steps: AtomicUsize::new(0),
            posts: Mutex::new(Vec::new()),
            github_url,
            github_calls,
        })
    }

    /// The job's environment as the runner gives it to an action's process.
    fn command(
        &self,
        script: &Path,
        inputs: &[(String, String)],
        env: &[(String, String)],
        n: usize,
        phase: &str,
    ) -> (Command, StepFiles) {
        let files = StepFiles {
            output: self.dir.path().join(format!("output-{n}-{phase}")),
            summary: self.dir.path().join(format!("summary-{n}-{phase}.md")),
            log: self.dir.path().join(format!("log-{n}-{phase}")),
        };
        fs::write(&files.output, "").expect("create GITHUB_OUTPUT");
        fs::write(&files.summary, "").expect("create GITHUB_STEP_SUMMARY");
        let log = fs::File::create(&files.log).expect("create the step's log");
        let mut cmd = Command::new(node());
        cmd.arg(script)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("RUNNER_OS", "Linux")
            .env("GITHUB_EVENT_NAME", "merge_group")
            .env("GITHUB_EVENT_PATH", self.dir.path().join("event.json"))
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_API_URL", &self.github_url)
            .env("GITHUB_OUTPUT", &files.output)
            .env("GITHUB_STEP_SUMMARY", &files.summary)
            .env("RUNNER_TEMP", self.dir.path().join("runner_temp"))
            .env("GITHUB_RUN_ID", format!("{}", 1000 + self.pr))
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_JOB", "access-shared-resource")
            // Short pauses between retries keep the tests quick.
            .env("MQ_LEASE_BACKOFF_CAP", "2")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log);
        for (name, value) in inputs {
            cmd.env(format!("INPUT_{}", name.to_uppercase()), value);
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        (cmd, files)
    }

    /// Every input of action.yml: its default, or what the workflow gives.
    fn inputs(endpoint: &str, given: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = manifest().inputs;
        for (name, value) in std::iter::once(&("endpoint", endpoint)).chain(given) {
            match all.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = value.to_string(),
                None => panic!("the action has no input {name}"),
            }
        }
        all
    }

    /// Starts the action's main step; the runner then owes the job its post step.
    fn spawn_step(&self, endpoint: &str, given: &[(&str, &str)], env: &[(&str, &str)]) -> Running {
        let inputs = Run::inputs(endpoint, given);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let n = self.steps.fetch_add(1, Ordering::SeqCst);
        let state_file = self.dir.path().join(format!("state-{n}"));
        fs::write(&state_file, "").expect("create GITHUB_STATE");
        let manifest = manifest();
        let (mut cmd, files) = self.command(&manifest.main, &inputs, &env, n, "main");
        cmd.env("GITHUB_STATE", &state_file);
        let started = Instant::now();
        let child = cmd.spawn().expect("run the action's main");
        if manifest.post.is_some() {
            self.posts.lock().expect("lock").push(PostStep {
                main_step: n,
                inputs,
                env,
                state_file,
            });
        }
        Running {
            child,
            n,
            pr: self.pr,
            started,
            files,
        }
    }

    /// Runs the action's main step with these inputs (the others at their defaults).
    fn step(&self, endpoint: &str, inputs: &[(&str, &str)]) -> Step {
        self.step_env(endpoint, inputs, &[])
    }

    /// Like `step`, with more environment variables (e.g. what the runner sets for
    /// `permissions: id-token: write`, or another PATH).
    fn step_env(&self, endpoint: &str, inputs: &[(&str, &str)], env: &[(&str, &str)]) -> Step {
        self.spawn_step(endpoint, inputs, env).wait()
    }

    /// The acquire step; the service holds each call up to 10 s.
    fn acquire(&self, endpoint: &str, inputs: &[(&str, &str)]) -> Step {
        let mut all = vec![("poll_interval", "10s"), ("timeout", "90s")];
        all.extend_from_slice(inputs);
        self.step(endpoint, &all)
    }

    /// The release step, `if: always()` with `release_with_status: ${{ job.status }}`.
    fn release(&self, endpoint: &str, job_status: &str, inputs: &[(&str, &str)]) -> Step {
        let mut all = vec![("release_with_status", job_status)];
        all.extend_from_slice(inputs);
        self.step(endpoint, &all)
    }

    /// The end of the job: the runner runs the post steps owed, the last step's first,
    /// whatever the job's status (`post-if: always()`), each with what its main saved.
    fn end_job(&self) -> Vec<Step> {
        let posts: Vec<PostStep> = std::mem::take(&mut *self.posts.lock().expect("lock"));
        let Some(script) = manifest().post else {
            return Vec::new();
        };
        posts
            .into_iter()
            .rev()
            .map(|post| {
                let state =
                    parse_file_commands(&fs::read_to_string(&post.state_file).unwrap_or_default());
                let (mut cmd, files) =
                    self.command(&script, &post.inputs, &post.env, post.main_step, "post");
                for (name, value) in &state {
                    cmd.env(format!("STATE_{name}"), value);
                }
                let started = Instant::now();
                let status = cmd.status().expect("run the action's post");
                finish_step(
                    self.pr,
                    post.main_step,
                    status.success(),
                    started,
                    &files,
                    &format!("post {status}"),
                )
            })
            .collect()
    }

    /// The calls GitHub's API stand-in received: (target, Authorization).
    fn github_calls(&self) -> Vec<(String, String)> {
        self.github_calls.lock().expect("lock").clone()
    }

    /// The pid files of the heartbeats this job started that still run.
    fn heartbeat_pids(&self) -> Vec<(PathBuf, u32)> {
        let mut found = Vec::new();
        let jobs = self.dir.path().join("runner_temp/mq-lease-service");
        for job in fs::read_dir(jobs).into_iter().flatten().flatten() {
            for lease in fs::read_dir(job.path().join("leases"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let file = lease.path().join("heartbeat.pid");
                if let Some(pid) = fs::read_to_string(&file)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                {
                    found.push((file, pid));
                }
            }
        }
        found
    }
}

impl Drop for Run {
    /// The runner ends a job's leftover processes when the job ends: so do the tests,
    /// whatever a failing test left running.
    fn drop(&mut self) {
        for (file, pid) in self.heartbeat_pids() {
            let _ = fs::remove_file(file);
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// Parses a GITHUB_OUTPUT or GITHUB_STATE file: `name=value` lines and `name<<DELIM … DELIM` blocks.
fn parse_file_commands(text: &str) -> HashMap<String, String> {
    let mut outputs = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
                value.push(l);
            }
            outputs.insert(name.to_string(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            outputs.insert(name.to_string(), value.to_string());
        }
    }
    outputs
}

/// Starts the acquire step of each run on its own thread; the answers arrive on the
/// channel in the order the steps end, tagged with the run's index.
fn acquire_all(
    runs: &[Arc<Run>],
    endpoint: &str,
    inputs: &'static [(&'static str, &'static str)],
) -> mpsc::Receiver<(usize, Step)> {
    let (tx, rx) = mpsc::channel();
    for (i, run) in runs.iter().enumerate() {
        let (tx, run, endpoint) = (tx.clone(), Arc::clone(run), endpoint.to_string());
        thread::spawn(move || {
            let step = run.acquire(&endpoint, inputs);
            let _ = tx.send((i, step));
        });
    }
    rx
}

fn next(rx: &mpsc::Receiver<(usize, Step)>, server: &Server) -> (usize, Step) {
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            panic!(
                "no acquire step ended within 120s; server log:\n{}",
                server.log()
            )
        })
}

fn pr_numbers(step: &Step) -> Vec<u64> {
    let stacked: serde_json::Value = serde_json::from_str(step.output("stacked_pull_requests"))
        .unwrap_or_else(|e| panic!("stacked_pull_requests is not JSON ({e}): {step:?}"));
    stacked
        .as_array()
        .unwrap_or_else(|| panic!("stacked_pull_requests is not an array: {step:?}"))
        .iter()
        .filter_map(|pr| pr["number"].as_u64())
        .collect()
}

fn assert_released(step: &Step, expected: &[&str]) {
    assert!(step.success, "the release step failed:\n{}", step.log);
    assert!(
        expected.contains(&step.result()),
        "release result {:?}, expected one of {expected:?}:\n{}",
        step.result(),
        step.log
    );
}

/// Every post step of the job ran, succeeded and released nothing.
fn assert_posts_released_nothing(posts: &[Step]) {
    assert!(!posts.is_empty(), "the runner runs the action's post step");
    for post in posts {
        assert!(post.success, "{}", post.log);
        assert!(post.log.contains("nothing to release"), "{}", post.log);
        assert!(!post.log.contains("Releasing"), "{}", post.log);
    }
}

/// A waiting run of another job that is not the action: it long-polls `acquire` and
/// reports the instant its call is answered `acquired` (or another final status).
fn waiting_client(port: u16, head_sha: &str, priority: u32) -> mpsc::Receiver<(String, Instant)> {
    let (tx, rx) = mpsc::channel();
    let body = format!("{{\"head_sha\":\"{head_sha}\",\"priority\":{priority}}}");
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let (code, answer) = http(
                port,
                "POST",
                "/acme/shop/main/acquire?wait=20s",
                Some(&body),
                None,
            );
            let status = json(&answer)["request"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if code == 200 && status != "pending" {
                let _ = tx.send((status, Instant::now()));
                return;
            }
            if code != 200 {
                thread::sleep(Duration::from_millis(100));
            }
        }
    });
    rx
}

// ------------------------------------------------------------------ rounds

#[test]
fn four_runs_of_one_queue_end_one_acquired_three_completed() {
    // Arrange
    let server = Server::start(ServerOptions::default());
    let runs: Vec<_> = (1..=4).map(|n| Run::new(n, n, "main")).collect();

    // Act
    let rx = acquire_all(&runs, &server.endpoint(), &[]);
    let (winner, acquired) = next(&rx, &server);
    let fencing_token = acquired.output("fencing_token").to_string();
    let release = runs[winner].release(&server.endpoint(), "success", &[]);
    let others: Vec<_> = (0..3).map(|_| next(&rx, &server)).collect();

    // Assert
    assert!(
        acquired.success,
        "the acquire step failed:\n{}",
        acquired.log
    );
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);
    assert_eq!(acquired.output("status"), "acquired");
    assert_eq!(
        runs[winner].priority, 4,
        "the run with the most commits wins"
    );
    assert_eq!(pr_numbers(&acquired), vec![1, 2, 3, 4], "{acquired:?}");
    assert!(
        fencing_token.parse::<u64>().is_ok(),
        "fencing_token {fencing_token:?}"
    );
    assert_released(&release, &["completed", "success"]);
    for (i, step) in &others {
        assert!(step.success, "run {i} failed:\n{}", step.log);
        assert_eq!(step.result(), "completed", "run {i}:\n{}", step.log);
    }
    for (i, _) in &others {
        let noop = runs[*i].release(&server.endpoint(), "success", &[]);
        assert!(noop.success, "{}", noop.log);
        assert!(noop.log.contains("nothing to release"), "{}", noop.log);
    }
    for run in &runs {
        assert_posts_released_nothing(&run.end_job());
        let calls = run.github_calls();
        assert_eq!(
            calls.len(),
            1,
            "one compare call for the priority: {calls:?}"
        );
        assert_eq!(
            calls[0].0.split('?').next(),
            Some(format!("/repos/{REPO}/compare/{BASE_SHA}...{}", run.head_sha).as_str())
        );
        assert_eq!(
            calls[0].1.to_lowercase(),
            format!("token {GITHUB_TOKEN}"),
            "the github_token input is sent"
        );
    }
}

#[test]
fn a_failed_holder_hands_the_lease_to_the_next_highest_run() {
    // Arrange
    let server = Server::start(ServerOptions::default());
    let runs: Vec<_> = (1..=4).map(|n| Run::new(n, n, "main")).collect();
    let rx = acquire_all(&runs, &server.endpoint(), &[]);
    let (first, first_step) = next(&rx, &server);

    // Act
    let failed = runs[first].release(&server.endpoint(), "failure", &[]);
    let (second, second_step) = next(&rx, &server);
    let done = runs[second].release(&server.endpoint(), "success", &[]);
    let rest: Vec<_> = (0..2).map(|_| next(&rx, &server)).collect();

    // Assert
    assert_eq!(first_step.result(), "acquired", "{}", first_step.log);
    assert_eq!(runs[first].priority, 4);
    assert_released(&failed, &["failure"]);
    assert_eq!(second_step.result(), "acquired", "{}", second_step.log);
    assert_eq!(runs[second].priority, 3, "the next-highest run takes over");
    assert_eq!(pr_numbers(&second_step), vec![1, 2, 3]);
    assert_released(&done, &["completed", "success"]);
    for (i, step) in &rest {
        assert_eq!(step.result(), "completed", "run {i}:\n{}", step.log);
    }
}

#[test]
fn a_cancelled_job_releases_as_failure() {
    // Arrange: two runs of three expected, so the stabilisation window (2 s) decides.
    let server = Server::start(ServerOptions {
        expected_build_count: 3,
        ..Default::default()
    });
    let runs = vec![Run::new(7, 1, "main"), Run::new(8, 2, "main")];
    let rx = acquire_all(&runs, &server.endpoint(), &[]);
    let (first, first_step) = next(&rx, &server);

    // Act
    let cancelled = runs[first].release(&server.endpoint(), "cancelled", &[]);
    let (second, second_step) = next(&rx, &server);
    let done = runs[second].release(&server.endpoint(), "success", &[]);

    // Assert
    assert_eq!(first_step.result(), "acquired", "{}", first_step.log);
    assert_eq!(runs[first].priority, 2);
    assert_released(&cancelled, &["failure"]);
    assert_eq!(
        second_step.result(),
        "acquired",
        "the other run takes over:\n{}",
        second_step.log
    );
    assert_eq!(runs[second].priority, 1);
    assert_released(&done, &["completed", "success"]);
}

const AUTH_CONFIG: &str = "[server]\nauto_register = true\n\n[auth]\nbearer_tokens = [\"t0ken\"]\n";

#[test]
fn the_auth_input_is_sent_as_the_authorization_header() {
    // Arrange
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        config: Some(AUTH_CONFIG),
        ..Default::default()
    });
    let run = Run::new(42, 1, "release/1.x");
    let auth = format!("Bearer {TOKEN}");

    // Act
    let acquired = run.acquire(&server.endpoint(), &[("auth", &auth)]);
    let (view_code, view) = http_get(server.port, "/acme/shop/release%2F1.x", Some(&auth));
    let released = run.release(&server.endpoint(), "success", &[("auth", &auth)]);
    let posts = run.end_job();

    // Assert
    assert!(
        acquired.success,
        "{}\nserver log:\n{}",
        acquired.log,
        server.log()
    );
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);
    assert_eq!(pr_numbers(&acquired), vec![42]);
    assert_eq!(
        view_code, 200,
        "the queue of the base branch with a slash exists: {view}"
    );
    assert!(
        view.contains(&run.head_sha),
        "the view lists the run: {view}"
    );
    assert_released(&released, &["completed", "success"]);
    assert_posts_released_nothing(&posts);
}

#[test]
fn a_wrong_token_fails_the_step_at_once_with_the_service_message() {
    // Arrange
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        config: Some(AUTH_CONFIG),
        ..Default::default()
    });
    let run = Run::new(1, 1, "main");

    // Act
    let wrong = run.acquire(&server.endpoint(), &[("auth", "Bearer nope")]);
    let missing = run.acquire(&server.endpoint(), &[]);

    // Assert
    for step in [&wrong, &missing] {
        assert!(!step.success, "a 401 must fail the step:\n{}", step.log);
        // Retries would go on until the 90 s timeout; the bound is generous for a busy machine.
        assert!(
            step.took < Duration::from_secs(30) && !step.log.contains("trying again"),
            "no retries on 401 (took {:?}):\n{}",
            step.took,
            step.log
        );
        assert!(
            step.log.contains("HTTP 401"),
            "the log names the answer:\n{}",
            step.log
        );
        assert!(
            step.log.contains("::error"),
            "an error annotation is shown:\n{}",
            step.log
        );
        assert_eq!(step.result(), "failure", "{}", step.log);
    }
}

#[test]
fn runs_finish_when_the_service_comes_up_after_they_started() {
    // Arrange: the runs start while nothing listens on the port.
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let runs = vec![Run::new(1, 1, "main"), Run::new(2, 2, "main")];
    let rx = acquire_all(&runs, &endpoint, &[]);
    // Each run keeps its job's state dir from just before its first call on.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !runs.iter().all(|r| {
        fs::read_dir(r.dir.path().join("runner_temp/mq-lease-service"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    }) {
        assert!(Instant::now() < deadline, "the runs did not start");
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_secs(1));

    // Act
    let server = Server::start_on(
        port,
        ServerOptions {
            expected_build_count: 2,
            ..Default::default()
        },
    );
    let (winner, acquired) = next(&rx, &server);
    let released = runs[winner].release(&endpoint, "success", &[]);
    let (_, other) = next(&rx, &server);

    // Assert
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);
    assert!(
        acquired.log.contains("Could not reach the lease service"),
        "{}",
        acquired.log
    );
    assert_eq!(runs[winner].priority, 2);
    assert_released(&released, &["completed", "success"]);
    assert_eq!(other.result(), "completed", "{}", other.log);
}

#[test]
fn acquire_gives_up_with_timeout_when_the_lease_stays_held() {
    // Arrange: one run holds the lease.
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        ..Default::default()
    });
    let holder = Run::new(1, 1, "main");
    let waiter = Run::new(2, 2, "main");
    let held = holder.acquire(&server.endpoint(), &[]);
    assert_eq!(held.result(), "acquired", "{}", held.log);

    // Act
    let timed_out = waiter.acquire(&server.endpoint(), &[("timeout", "3s")]);
    let noop = waiter.release(&server.endpoint(), "failure", &[]);
    let waiter_posts = waiter.end_job();
    let released = holder.release(&server.endpoint(), "success", &[]);

    // Assert
    assert!(
        !timed_out.success,
        "a timeout fails the step:\n{}",
        timed_out.log
    );
    assert_eq!(timed_out.result(), "timeout", "{}", timed_out.log);
    assert_eq!(timed_out.output("status"), "timeout");
    assert!(
        timed_out.took >= Duration::from_secs(3) && timed_out.took < Duration::from_secs(30),
        "gave up after {:?}",
        timed_out.took
    );
    assert!(noop.success, "{}", noop.log);
    assert!(noop.log.contains("nothing to release"), "{}", noop.log);
    assert_posts_released_nothing(&waiter_posts);
    assert!(
        waiter_posts
            .iter()
            .any(|p| p.log.contains("ended 'timeout'")),
        "the post step of the acquire says why it does nothing"
    );
    assert_released(&released, &["completed", "success"]);
}

#[test]
fn a_release_in_a_job_that_never_acquired_does_nothing_and_succeeds() {
    // Arrange: no service at all; the release must not need it.
    let run = Run::new(1, 1, "main");
    let endpoint = format!("http://127.0.0.1:{}", free_port());

    // Act
    let step = run.release(&endpoint, "success", &[]);
    let posts = run.end_job();

    // Assert
    assert!(step.success, "{}", step.log);
    assert!(step.log.contains("nothing to release"), "{}", step.log);
    assert!(!step.log.contains("trying again"), "{}", step.log);
    assert!(step.took < Duration::from_secs(20), "took {:?}", step.took);
    assert_posts_released_nothing(&posts);
}

#[test]
fn the_heartbeat_keeps_the_lease_past_the_lease_timeout() {
    // Arrange: a 4 s lease_timeout, so the heartbeat beats every second.
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        lease_timeout: Some("4s"),
        ..Default::default()
    });
    let run = Run::new(1, 1, "main");
    let acquired = run.acquire(&server.endpoint(), &[]);
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);

    // Act: the job works for twice the lease_timeout.
    thread::sleep(Duration::from_secs(8));
    let released = run.release(&server.endpoint(), "success", &[]);
    let posts = run.end_job();

    // Assert
    assert!(
        acquired.log.contains("heartbeat every 1s"),
        "{}",
        acquired.log
    );
    assert_released(&released, &["completed", "success"]);
    assert_posts_released_nothing(&posts);
    assert!(
        run.heartbeat_pids().is_empty(),
        "the release stopped the heartbeat"
    );
}

#[test]
fn a_release_after_the_lease_was_lost_fails_the_step_loudly() {
    // Arrange: the heartbeat is killed right after the acquire step, and the holder
    // stays silent past the 2 s lease_timeout. The acquire step made one call after its
    // grant, so the service knows the holder can be heard from and applies lease_timeout
    // (docs/rules.md §13).
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        lease_timeout: Some("2s"),
        ..Default::default()
    });
    let run = Run::new(1, 1, "main");
    let acquired = run.acquire(&server.endpoint(), &[]);
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);
    let heartbeats = run.heartbeat_pids();
    assert_eq!(heartbeats.len(), 1, "one heartbeat runs after the acquire");
    for (_, pid) in &heartbeats {
        let killed = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
    }

    // Act
    thread::sleep(Duration::from_secs(4));
    let released = run.release(&server.endpoint(), "success", &[]);
    let posts = run.end_job();

    // Assert
    assert!(
        !released.success,
        "a refused release fails the step:\n{}",
        released.log
    );
    assert!(released.log.contains("::error"), "{}", released.log);
    assert!(
        released.log.contains("was refused"),
        "the reason is given:\n{}",
        released.log
    );
    assert_posts_released_nothing(&posts);
}

// ------------------------------------------------------------------ the story the action tells

/// Whether this server says why a run waits (`waiting` in a pending answer, docs/rules.md §8):
/// asks once for a queue of its own, where a lone run is still pending.
fn server_explains_waiting(server: &Server) -> bool {
    let (_, body) = http(
        server.port,
        "POST",
        "/acme/probe/main/acquire",
        Some(r#"{"head_sha":"probe","priority":1}"#),
        None,
    );
    let answer = json(&body);
    assert_eq!(
        answer["request"]["status"], "pending",
        "the probe should wait: {answer}"
    );
    answer["waiting"].is_object()
}

/// The lines of a step's log, without empty ones and the runner's debug lines.
fn lines(step: &Step) -> Vec<&str> {
    step.log
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("::debug::"))
        .collect()
}

#[test]
fn a_long_lone_wait_is_told_in_a_few_lines_with_its_reason() {
    // Arrange: five runs expected, one comes; a 20 s window; the service is asked every second.
    let server = Server::start(ServerOptions {
        expected_build_count: 5,
        stabilisation_window: "20s",
        ..Default::default()
    });
    assert!(
        server_explains_waiting(&server),
        "this crate's service says why a run waits (docs/rules.md §8)"
    );
    let run = Run::new(1, 1, "main");

    // Act
    let step = run.acquire(
        &server.endpoint(),
        &[("priority", "1"), ("poll_interval", "1s")],
    );

    // Assert
    assert_eq!(step.result(), "acquired", "{}", step.log);
    assert!(
        step.took >= Duration::from_secs(15),
        "the run waited for the window: {:?}",
        step.took
    );
    let lines = lines(&step);
    assert!(
        lines.len() <= 8,
        "one line per change of state, not one per poll ({} lines):\n{}",
        lines.len(),
        step.log
    );
    assert!(lines[0].starts_with("::group::"), "{}", step.log);
    assert!(step.log.contains("::endgroup::"), "{}", step.log);
    assert!(
        step.log.contains("left of the timeout"),
        "the time left is told:\n{}",
        step.log
    );
    assert!(
        step.log
            .contains("Waiting (stabilising): 1 of 5 expected runs"),
        "the service's reason is told:\n{}",
        step.log
    );
    let noticed: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("::notice title=mq-lease-service::This run holds the lease"))
        .collect();
    assert_eq!(noticed.len(), 1, "{}", step.log);
}

#[test]
fn the_job_summary_tells_the_holder_and_the_completed_run() {
    // Arrange: two runs of two expected, priorities given (so GitHub is never asked).
    let server = Server::start(ServerOptions {
        expected_build_count: 2,
        ..Default::default()
    });
    assert!(
        server_explains_waiting(&server),
        "this crate's service says why a run waits (docs/rules.md §8)"
    );
    let runs = [Run::new(1, 1, "main"), Run::new(2, 2, "main")];
    let (tx, rx) = mpsc::channel();
    for (i, run) in runs.iter().enumerate() {
        let (tx, run, endpoint) = (tx.clone(), Arc::clone(run), server.endpoint());
        let priority = run.priority.to_string();
        thread::spawn(move || {
            let step = run.acquire(
                &endpoint,
                &[("priority", priority.as_str()), ("poll_interval", "2s")],
            );
            let _ = tx.send((i, step));
        });
    }
    let (winner, held) = next(&rx, &server);
    // The other run asks again (every 2 s) while the lease is held.
    thread::sleep(Duration::from_secs(5));

    // Act
    let released = runs[winner].release(&server.endpoint(), "success", &[]);
    let (_, completed) = next(&rx, &server);
    let posts: Vec<Vec<Step>> = runs.iter().map(|r| r.end_job()).collect();

    // Assert: the holder
    assert_eq!(winner, 1, "priority 2 wins");
    assert_eq!(held.result(), "acquired", "{}", held.log);
    let token = held.output("fencing_token");
    for want in [
        "### mq-lease-service: acquired".to_string(),
        "| queue | `acme/shop@main` |".to_string(),
        format!("| run | `{}` (priority 2) |", &runs[1].head_sha[..12]),
        "| result | **acquired** |".to_string(),
        "| holder | this run |".to_string(),
        "| stacked PRs | #1 #2 |".to_string(),
        format!("| fencing token | {token} |"),
        "| waited | ".to_string(),
        format!(
            "| status page | [{0}/ui/acme/shop/main]({0}/ui/acme/shop/main) |",
            server.endpoint()
        ),
    ] {
        assert!(
            held.summary.contains(&want),
            "{want:?} in:\n{}",
            held.summary
        );
    }
    assert!(!token.is_empty(), "{}", held.log);
    // … its release
    assert_released(&released, &["completed", "success"]);
    for want in [
        "### mq-lease-service: released (success)",
        "| held for | ",
        "| job status | success |",
    ] {
        assert!(
            released.summary.contains(want),
            "{want:?} in:\n{}",
            released.summary
        );
    }
    assert!(
        released
            .log
            .contains("::notice title=mq-lease-service::Released"),
        "{}",
        released.log
    );
    // … and the run that was told completed
    assert_eq!(completed.result(), "completed", "{}", completed.log);
    for want in [
        "### mq-lease-service: completed",
        "| result | **completed**",
        "| waited | ",
        "| stacked PRs | — |",
    ] {
        assert!(
            completed.summary.contains(want),
            "{want:?} in:\n{}",
            completed.summary
        );
    }
    let holder = format!("| holder | {} |", &runs[1].head_sha[..12]);
    assert!(
        completed.summary.contains(&holder),
        "{holder:?} in:\n{}",
        completed.summary
    );
    assert!(
        completed.log.contains("Waiting (lease_held)"),
        "{}",
        completed.log
    );
    assert!(
        completed
            .log
            .contains("::notice title=mq-lease-service::Completed"),
        "{}",
        completed.log
    );
    // … and the post steps say in the job summary that they had nothing to do, and why.
    for (run, posts) in runs.iter().zip(&posts) {
        assert_posts_released_nothing(posts);
        assert!(
            posts.iter().any(|p| p
                .summary
                .contains("### mq-lease-service post step: nothing to release")),
            "{:?}",
            posts
        );
        assert!(
            run.github_calls().is_empty(),
            "GitHub is not asked when priority is given"
        );
    }
}

// ------------------------------------------------------------------ the priority from GitHub

#[test]
fn the_priority_comes_from_githubs_compare_api_with_the_github_token_input() {
    // Arrange
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        ..Default::default()
    });
    let run = Run::new(1, 3, "main");
    let no_token = Run::new(2, 2, "main");

    // Act
    let acquired = run.acquire(&server.endpoint(), &[("github_token", "another-token")]);
    let view = http_get(server.port, "/acme/shop/main", None).1;
    let released = run.release(&server.endpoint(), "success", &[]);
    let refused = no_token.acquire(&server.endpoint(), &[("github_token", "")]);

    // Assert
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);
    assert!(
        acquired.log.contains("priority 3, commits ahead of main"),
        "{}",
        acquired.log
    );
    assert!(view.contains("\"priority\":3"), "{view}");
    let calls = run.github_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].1.to_lowercase(), "token another-token");
    assert_released(&released, &["completed", "success"]);
    assert!(!refused.success, "{}", refused.log);
    assert!(
        refused.log.contains("::error")
            && refused.log.contains("'github_token' input is empty")
            && refused.log.contains("set the 'priority' input"),
        "a clear message:\n{}",
        refused.log
    );
    assert!(no_token.github_calls().is_empty());
}

// ------------------------------------------------------------------ no lease left behind (docs/rules.md §11)

#[test]
fn the_post_step_releases_the_lease_of_a_job_whose_step_failed() {
    // Arrange: the holder's job fails in a step after the acquire; its release step
    // (without `if: always()`) is skipped. Another run waits.
    let server = Server::start(ServerOptions {
        expected_build_count: 2,
        ..Default::default()
    });
    let holder = Run::new(2, 2, "main");
    let waiter = Run::new(1, 1, "main");
    let rx = acquire_all(
        &[Arc::clone(&holder), Arc::clone(&waiter)],
        &server.endpoint(),
        &[],
    );
    let (first, held) = next(&rx, &server);
    assert_eq!((first, held.result()), (0, "acquired"), "{}", held.log);

    // Act: the job ends; the runner runs the post step.
    let posts = holder.end_job();
    let (_, taken_over) = next(&rx, &server);
    let released = waiter.release(&server.endpoint(), "success", &[]);

    // Assert
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert!(post.success, "{}", post.log);
    assert!(
        post.log
            .contains("this job still holds the lease: no release step released it")
            && post.log.contains("Releasing the lease held by")
            && post
                .log
                .contains("::notice title=mq-lease-service::Released the lease of"),
        "the post step says what it did and why:\n{}",
        post.log
    );
    for want in [
        "### mq-lease-service: post step released the lease (failure)",
        "| released as | **failure** (service answer: failure) |",
        "Why: no release step released it",
    ] {
        assert!(
            post.summary.contains(want),
            "{want:?} in:\n{}",
            post.summary
        );
    }
    assert_eq!(
        server.events_of(&holder.head_sha),
        ["registered", "granted", "released_failure"],
        "released once, as failure"
    );
    assert_eq!(
        taken_over.result(),
        "acquired",
        "the next run takes over:\n{}",
        taken_over.log
    );
    assert!(
        holder.heartbeat_pids().is_empty(),
        "the post step stopped the heartbeat"
    );
    assert_released(&released, &["completed", "success"]);
}

#[test]
fn the_post_step_releases_the_lease_of_a_cancelled_job() {
    // Arrange: a lower run of the same round waits with a held call (registered before
    // the grant); the holder runs a long command (`run`).
    let server = Server::start(ServerOptions {
        expected_build_count: 2,
        stabilisation_window: "60s",
        ..Default::default()
    });
    let holder = Run::new(2, 2, "main");
    let waiting = waiting_client(server.port, "abcdef000001", 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http_get(server.port, "/acme/shop/main", None)
        .1
        .contains("abcdef000001")
    {
        assert!(
            Instant::now() < deadline,
            "the waiting run did not register"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let started = holder.dir.path().join("started");
    let command = format!("touch {}; sleep 60", started.display());
    let running = holder.spawn_step(
        &server.endpoint(),
        &[("priority", "2"), ("run", command.as_str())],
        &[],
    );
    wait_for(|| started.exists(), "the command started", &running);

    // Act: the job is cancelled and its step did not stop in time: the runner kills the
    // process tree (SIGKILL), then runs the post steps.
    running.kill_tree();
    let cancelled = running.wait();
    let posts = holder.end_job();
    let (next_status, granted_at) = waiting
        .recv_timeout(Duration::from_secs(60))
        .expect("the waiting run is answered");

    // Assert
    assert!(!cancelled.success);
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert!(post.success, "{}", post.log);
    assert!(
        post.log
            .contains("the 'run' command was stopped before its release"),
        "{}",
        post.log
    );
    assert_eq!(
        server.events_of(&holder.head_sha),
        ["registered", "granted", "released_failure"]
    );
    assert_eq!(next_status, "acquired", "the waiting run takes over");
    let handover = granted_at.duration_since(post.started);
    eprintln!(
        "MEASURE cancelled holder: post step start -> the next run's grant {handover:?} (the post step took {:?})",
        post.took
    );
    assert!(handover < Duration::from_secs(10), "{handover:?}");
    assert!(
        holder.heartbeat_pids().is_empty(),
        "the post step stopped the heartbeat"
    );
}

#[test]
fn a_cancelled_run_command_releases_as_failure_and_the_post_step_does_nothing() {
    // Arrange
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        ..Default::default()
    });
    let holder = Run::new(2, 2, "main");
    let marker = holder.dir.path().join("stopped");
    let ready = holder.dir.path().join("ready");
    let command = format!(
        "trap 'echo stopped > {}; exit 130' INT; touch {}; while true; do sleep 0.2; done",
        marker.display(),
        ready.display()
    );
    let running = holder.spawn_step(
        &server.endpoint(),
        &[("priority", "2"), ("run", command.as_str())],
        &[],
    );
    wait_for(|| ready.exists(), "the command set its trap", &running);

    // Act: the runner cancels the step with SIGINT.
    running.signal("INT");
    let cancelled = running.wait();
    let posts = holder.end_job();

    // Assert
    assert!(
        !cancelled.success,
        "a cancelled run fails the step:\n{}",
        cancelled.log
    );
    assert_eq!(cancelled.result(), "failure", "{}", cancelled.log);
    assert!(
        cancelled.log.contains("The step was cancelled (SIGINT)"),
        "{}",
        cancelled.log
    );
    assert!(
        marker.exists(),
        "the command was told to stop (SIGINT passed on)"
    );
    assert_posts_released_nothing(&posts);
    assert_eq!(
        server.events_of(&holder.head_sha),
        ["registered", "granted", "released_failure"]
    );
    assert!(
        cancelled.took < Duration::from_secs(15),
        "{:?}",
        cancelled.took
    );
}

#[test]
fn a_job_cancelled_while_waiting_releases_nothing() {
    // Arrange: another run holds the lease; this run's acquire waits with a held call.
    let server = Server::start(ServerOptions {
        expected_build_count: 2,
        ..Default::default()
    });
    let holder = Run::new(2, 2, "main");
    let waiter = Run::new(1, 1, "main");
    let rx = acquire_all(&[Arc::clone(&holder)], &server.endpoint(), &[]);
    let running = waiter.spawn_step(&server.endpoint(), &[("poll_interval", "2s")], &[]);
    let (_, held) = next(&rx, &server);
    assert_eq!(held.result(), "acquired", "{}", held.log);
    wait_for(
        || running.log().contains("Waiting (") || running.log().contains("The queue is busy"),
        "the waiter waits",
        &running,
    );

    // Act: the runner cancels the waiting step, then runs the job's post step.
    running.signal("INT");
    let cancelled = running.wait();
    let posts = waiter.end_job();
    let released = holder.release(&server.endpoint(), "success", &[]);

    // Assert
    assert!(!cancelled.success, "{}", cancelled.log);
    assert!(
        cancelled.log.contains("cancelled (SIGINT) while waiting"),
        "{}",
        cancelled.log
    );
    assert_posts_released_nothing(&posts);
    assert!(
        posts[0].log.contains("stopped while it was waiting")
            && posts[0].log.contains("no lease held by this run"),
        "the post step checked who holds the lease:\n{}",
        posts[0].log
    );
    assert_released(&released, &["completed", "success"]);
    assert_eq!(
        server.events_of(&holder.head_sha),
        ["registered", "granted", "released_success"],
        "the holder's lease was left alone"
    );
}

#[test]
fn an_explicit_release_then_the_post_step_does_nothing() {
    // Arrange
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        ..Default::default()
    });
    let run = Run::new(1, 1, "main");
    let acquired = run.acquire(&server.endpoint(), &[]);
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);

    // Act: the release step (with the job's status), then the job ends.
    let released = run.release(&server.endpoint(), "failure", &[]);
    let again = run.release(&server.endpoint(), "failure", &[]);
    let posts = run.end_job();

    // Assert
    assert_released(&released, &["failure"]);
    assert!(
        again.success && again.log.contains("already released"),
        "{}",
        again.log
    );
    assert_eq!(posts.len(), 3, "one post step per step of the action");
    assert_posts_released_nothing(&posts);
    let acquire_post = posts.last().expect("the acquire's post ran last");
    assert!(
        acquire_post
            .log
            .contains("already released in this job (the release step"),
        "{}",
        acquire_post.log
    );
    assert_eq!(
        server.events_of(&run.head_sha),
        ["registered", "granted", "released_failure"],
        "released exactly once"
    );
}

// ------------------------------------------------------------------ one step: `run`

#[test]
fn run_mode_runs_the_command_with_the_lease_and_releases_with_success() {
    // Arrange: two runs; the lower one waits and is told completed.
    let server = Server::start(ServerOptions {
        expected_build_count: 2,
        ..Default::default()
    });
    let holder = Run::new(2, 2, "main");
    let lower = Run::new(1, 1, "main");
    let ran = holder.dir.path().join("ran");
    let skipped = lower.dir.path().join("ran");
    let command = |file: &Path| {
        format!(
            "echo \"token=$MQ_LEASE_FENCING_TOKEN prs=$MQ_LEASE_STACKED_PULL_REQUESTS auth=${{INPUT_AUTH:-none}}\" > {}",
            file.display()
        )
    };
    let (holder_cmd, lower_cmd) = (command(&ran), command(&skipped));

    // Act
    let lower_thread = {
        let (lower, endpoint) = (Arc::clone(&lower), server.endpoint());
        thread::spawn(move || {
            lower.acquire(
                &endpoint,
                &[("run", lower_cmd.as_str()), ("poll_interval", "2s")],
            )
        })
    };
    let step = holder.acquire(&server.endpoint(), &[("run", holder_cmd.as_str())]);
    let lower_step = lower_thread.join().expect("the lower run's step");
    let posts: Vec<Step> = [&holder, &lower].iter().flat_map(|r| r.end_job()).collect();

    // Assert
    assert!(step.success, "{}", step.log);
    assert_eq!(
        step.result(),
        "completed",
        "the release's answer:\n{}",
        step.log
    );
    assert_eq!(pr_numbers(&step), vec![1, 2]);
    let token = step.output("fencing_token");
    let wrote = fs::read_to_string(&ran).expect("the command ran");
    assert_eq!(
        wrote.trim(),
        format!("token={token} prs=[{{\"number\":1}},{{\"number\":2}}] auth=none")
    );
    assert!(step.log.contains("Released the lease of"), "{}", step.log);
    assert!(lower_step.success, "{}", lower_step.log);
    assert_eq!(lower_step.result(), "completed", "{}", lower_step.log);
    assert!(!skipped.exists(), "a run told completed skips the command");
    assert!(
        lower_step.log.contains("The 'run' command is skipped"),
        "{}",
        lower_step.log
    );
    assert_posts_released_nothing(&posts);
    assert_eq!(
        server.events_of(&holder.head_sha),
        ["registered", "granted", "released_success"]
    );
}

#[test]
fn run_mode_releases_as_failure_and_fails_the_step_when_the_command_fails() {
    // Arrange
    let server = Server::start(ServerOptions {
        expected_build_count: 2,
        ..Default::default()
    });
    let holder = Run::new(2, 2, "main");
    let next_run = Run::new(1, 1, "main");
    let rx = acquire_all(&[Arc::clone(&next_run)], &server.endpoint(), &[]);

    // Act
    let step = holder.acquire(&server.endpoint(), &[("run", "echo testing; exit 3")]);
    let (_, taken_over) = next(&rx, &server);
    let released = next_run.release(&server.endpoint(), "success", &[]);
    let posts = holder.end_job();

    // Assert
    assert!(
        !step.success,
        "a failed command fails the step:\n{}",
        step.log
    );
    assert_eq!(step.result(), "failure", "{}", step.log);
    assert!(
        step.log.contains("testing"),
        "the command's output is in the log:\n{}",
        step.log
    );
    assert!(
        step.log.contains("::error title=mq-lease-service::The 'run' command failed (the command exited with code 3)"),
        "{}",
        step.log
    );
    assert_eq!(
        taken_over.result(),
        "acquired",
        "the next run takes over:\n{}",
        taken_over.log
    );
    assert_released(&released, &["completed", "success"]);
    assert_posts_released_nothing(&posts);
    assert_eq!(
        server.events_of(&holder.head_sha),
        ["registered", "granted", "released_failure"]
    );
}

// ------------------------------------------------------------------ any runner

/// A PATH with nothing on it but `node`.
fn path_with_only_node(dir: &Path) -> String {
    let bin = dir.join("only-node");
    fs::create_dir_all(&bin).expect("bin dir");
    let _ = std::os::unix::fs::symlink(node(), bin.join("node"));
    bin.display().to_string()
}

#[test]
fn the_action_needs_nothing_but_node() {
    // Arrange: PATH holds only `node` (no bash, curl, jq, gh, kill or ps).
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        lease_timeout: Some("4s"),
        ..Default::default()
    });
    let run = Run::new(1, 3, "main");
    let lonely = Run::new(2, 1, "main");
    let path = path_with_only_node(run.dir.path());
    let env = [("PATH", path.as_str())];

    // Act: a whole job: acquire (priority from GitHub), the heartbeat past the
    // lease_timeout, the release step, the post steps; and one job without a release step.
    let acquired = run.step_env(&server.endpoint(), &[], &env);
    thread::sleep(Duration::from_secs(5));
    let released = run.step_env(
        &server.endpoint(),
        &[("release_with_status", "success")],
        &env,
    );
    let posts = run.end_job();
    let forgotten = lonely.step_env(&server.endpoint(), &[("priority", "1")], &env);
    let lonely_posts = lonely.end_job();

    // Assert
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);
    assert!(
        acquired.log.contains("priority 3, commits ahead of main"),
        "{}",
        acquired.log
    );
    assert_released(&released, &["completed", "success"]);
    assert_posts_released_nothing(&posts);
    assert_eq!(forgotten.result(), "acquired", "{}", forgotten.log);
    assert!(lonely_posts[0].success, "{}", lonely_posts[0].log);
    assert!(
        lonely_posts[0].log.contains("Releasing the lease held by"),
        "{}",
        lonely_posts[0].log
    );
    assert_eq!(
        server.events_of(&lonely.head_sha),
        ["registered", "granted", "released_failure"]
    );
    assert!(run.heartbeat_pids().is_empty() && lonely.heartbeat_pids().is_empty());
}

// ------------------------------------------------------------------ auth: oidc

const FAKE_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJyZXBvc2l0b3J5IjoiYWNtZS9zaG9wIn0.c2lnbmF0dXJl";
const ID_TOKEN_REQUEST_TOKEN: &str = "runner-request-token-42";
const OIDC_CONFIG: &str = "[server]\nauto_register = true\n\n[auth]\nbearer_tokens = [\"eyJhbGciOiJSUzI1NiJ9.eyJyZXBvc2l0b3J5IjoiYWNtZS9zaG9wIn0.c2lnbmF0dXJl\"]\n";

/// What the fake token endpoint was asked: (request target, Authorization header).
type TokenRequests = Arc<Mutex<Vec<(String, String)>>>;

/// Stands in for the runner's ID-token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`):
/// answers `{"value": FAKE_JWT}` to a request bearing the request token, 401 otherwise,
/// and records each request's target and Authorization header.
fn fake_token_endpoint() -> (String, TokenRequests) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind token endpoint");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (target, auth) = read_request(&mut stream);
            // The scheme of an Authorization header is case-insensitive (RFC 9110).
            let ok = auth.to_lowercase()
                == format!("bearer {}", ID_TOKEN_REQUEST_TOKEN.to_lowercase())
                && auth.ends_with(ID_TOKEN_REQUEST_TOKEN);
            record.lock().expect("lock").push((target, auth));
            let (status, body) = if ok {
                (
                    "200 OK",
                    format!("{{\"count\":1,\"value\":\"{FAKE_JWT}\"}}"),
                )
            } else {
                (
                    "401 Unauthorized",
                    "{\"message\":\"bad token\"}".to_string(),
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (
        format!("http://127.0.0.1:{port}/_apis/pipelines/idtoken?api-version=2.0"),
        seen,
    )
}

#[test]
fn auth_oidc_sends_the_runners_id_token_as_a_bearer_token() {
    // Arrange: the service accepts exactly the fake ID token as a bearer token.
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        config: Some(OIDC_CONFIG),
        ..Default::default()
    });
    let (url, seen) = fake_token_endpoint();
    let runner_env = [
        ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ID_TOKEN_REQUEST_TOKEN),
    ];
    let oidc = [
        ("auth", "oidc"),
        ("oidc_audience", "mq-lease test"),
        ("priority", "1"),
        ("poll_interval", "10s"),
        ("timeout", "60s"),
    ];
    let run = Run::new(1, 1, "main");

    // Act
    let acquired = run.step_env(&server.endpoint(), &oidc, &runner_env);
    let released = run.step_env(
        &server.endpoint(),
        &[
            ("auth", "oidc"),
            ("oidc_audience", "mq-lease test"),
            ("release_with_status", "success"),
        ],
        &runner_env,
    );
    let posts = run.end_job();

    // Assert
    assert_eq!(
        acquired.result(),
        "acquired",
        "{}\nserver log:\n{}",
        acquired.log,
        server.log()
    );
    assert_released(&released, &["completed", "success"]);
    assert_posts_released_nothing(&posts);
    let seen = seen.lock().expect("lock").clone();
    assert!(seen.len() >= 2, "one ID token per step: {seen:?}");
    for (target, auth) in &seen {
        assert!(
            target.ends_with("/_apis/pipelines/idtoken?api-version=2.0&audience=mq-lease%20test"),
            "the audience is asked for: {target}"
        );
        assert_eq!(
            auth.to_lowercase(),
            format!("bearer {ID_TOKEN_REQUEST_TOKEN}").to_lowercase()
        );
    }
    for step in [&acquired, &released] {
        let mask = format!("::add-mask::{FAKE_JWT}");
        assert!(
            step.log.contains(&mask),
            "the token is masked:\n{}",
            step.log
        );
        assert_eq!(
            step.log.matches(FAKE_JWT).count(),
            1,
            "the token appears only in the mask command:\n{}",
            step.log
        );
        assert!(!step.log.contains(ID_TOKEN_REQUEST_TOKEN), "{}", step.log);
    }
}

#[test]
fn auth_oidc_without_an_audience_or_an_id_token_fails_with_what_to_do() {
    // Arrange: nothing listens; the step must stop before calling the service.
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let run = Run::new(1, 1, "main");
    let (url, _) = fake_token_endpoint();

    // Act
    let no_audience = run.step_env(
        &endpoint,
        &[("auth", "oidc"), ("priority", "1")],
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", url.as_str()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ID_TOKEN_REQUEST_TOKEN),
        ],
    );
    let no_permission = run.step_env(
        &endpoint,
        &[
            ("auth", "oidc"),
            ("oidc_audience", "lease"),
            ("priority", "1"),
        ],
        &[],
    );

    // Assert
    assert!(!no_audience.success, "{}", no_audience.log);
    assert!(
        no_audience.log.contains("::error")
            && no_audience.log.contains("'oidc_audience' input is empty"),
        "{}",
        no_audience.log
    );
    assert!(!no_permission.success, "{}", no_permission.log);
    assert!(
        no_permission.log.contains("permissions: id-token: write"),
        "{}",
        no_permission.log
    );
}

// ------------------------------------------------------------------ figures

/// Relays connections to `port` and records when each was accepted: how long after a
/// step's start its first request arrives.
fn relay(port: u16) -> (u16, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let relay_port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&accepted);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            record.lock().expect("lock").push(Instant::now());
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let (mut c1, mut u1) = (
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
            );
            let (mut c2, mut u2) = (client, upstream);
            thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut u1);
                let _ = u1.shutdown(std::net::Shutdown::Write);
            });
            thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (relay_port, accepted)
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str, running: &Running) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not within 60 s:\n{}",
            running.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_cold_start_of_each_step_is_measured() {
    // Arrange: a round that is over: run 2 held the lease and released with success, so
    // run 1 is told `completed` at once, however often it asks.
    let server = Server::start(ServerOptions {
        expected_build_count: 2,
        ..Default::default()
    });
    let (port, accepted) = relay(server.port);
    let endpoint = format!("http://127.0.0.1:{port}");
    let runs = vec![Run::new(1, 1, "main"), Run::new(2, 2, "main")];
    let rx = acquire_all(&runs, &server.endpoint(), &[("priority", "1")]);
    let (winner, _) = next(&rx, &server);
    runs[winner].release(&server.endpoint(), "success", &[]);
    let (loser, told) = next(&rx, &server);
    assert_eq!(told.result(), "completed", "{}", told.log);
    let run = &runs[loser];

    // Act: five completed acquire steps, their post steps, five no-op release steps.
    let mut first_request = Vec::new();
    let mut totals = Vec::new();
    for _ in 0..5 {
        let before = accepted.lock().expect("lock").len();
        let step = run.step(&endpoint, &[("priority", "1")]);
        assert_eq!(step.result(), "completed", "{}", step.log);
        let at = accepted.lock().expect("lock")[before];
        first_request.push(at.duration_since(step.started));
        totals.push(step.took);
    }
    let posts = run.end_job();
    let releases: Vec<Duration> = (0..5)
        .map(|_| run.release(&endpoint, "success", &[]).took)
        .collect();
    let _ = run.end_job();

    // Assert (loosely: a busy machine is slow) and tell the figures.
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let posts: Vec<Duration> = posts.iter().map(|p| p.took).collect();
    eprintln!(
        "MEASURE cold start (median of 5, node {}): acquire step start -> first request {:?}; completed acquire step total {:?}; post step (nothing to do) {:?}; release step (nothing to release) {:?}",
        String::from_utf8_lossy(&Command::new(node()).arg("--version").output().expect("node").stdout).trim(),
        median(first_request.clone()),
        median(totals.clone()),
        median(posts.clone()),
        median(releases.clone()),
    );
    assert!(median(first_request) < Duration::from_secs(10));
    assert!(median(totals) < Duration::from_secs(20));
}
