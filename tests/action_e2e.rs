//! End-to-end tests of the GitHub Action: `action/lease.sh` run the way the composite
//! action runs it (inputs as `INPUT_*`, the merge_group event in `GITHUB_EVENT_PATH`,
//! outputs in `GITHUB_OUTPUT`, a stub `gh` first on PATH) against the real server binary.
//!
//! Needs `bash`, `curl` and `jq` on PATH (`apt-get install -y jq curl`).

use std::collections::HashMap;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

const REPO: &str = "acme/shop";
const BASE_SHA: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TOKEN: &str = "t0ken";

// ------------------------------------------------------------------ tools

fn require_tools() {
    for tool in ["bash", "curl", "jq"] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            found,
            "the action e2e tests need `{tool}` on PATH: install it (apt-get install -y jq curl)"
        );
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// GET a path with curl; returns (status code, body).
fn http_get(port: u16, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "2", "-w", "\n%{http_code}"]);
    if let Some(auth) = auth {
        cmd.args(["-H", &format!("Authorization: {auth}")]);
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (code.trim().parse().unwrap_or(0), body.to_string())
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------ one workflow run

/// One merge-group run: its event payload, its runner temp dir and its `gh` stub.
struct Run {
    dir: TempDir,
    head_sha: String,
    pr: u32,
    priority: u32,
    steps: AtomicUsize,
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
}

impl Step {
    fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map(String::as_str).unwrap_or("")
    }

    fn result(&self) -> &str {
        self.output("result")
    }
}

impl Run {
    /// A run of the queue of `base_ref` for the group that ends with PR `pr`,
    /// `priority` commits ahead of the base (what the stub `gh` answers).
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
        fs::create_dir_all(dir.path().join("bin")).expect("bin dir");
        fs::create_dir_all(dir.path().join("runner_temp")).expect("runner temp");
        let gh = dir.path().join("bin/gh");
        fs::write(
            &gh,
            format!(
                "#!/bin/sh\n\
                 # stub of `gh api repos/OWNER/NAME/compare/BASE...HEAD --jq .ahead_by`\n\
                 echo \"$*\" >> \"{calls}\"\n\
                 if [ \"$*\" = \"api repos/{REPO}/compare/{BASE_SHA}...{head_sha} --jq .ahead_by\" ]; then\n\
                 \x20 echo {priority}\n\
                 \x20 exit 0\n\
                 fi\n\
                 echo \"gh stub: unexpected call: $*\" >&2\n\
                 exit 1\n",
                calls = dir.path().join("gh-calls.log").display()
            ),
        )
        .expect("write gh stub");
        make_executable(&gh);
        Arc::new(Run {
            dir,
            head_sha,
            pr,
            priority,
            steps: AtomicUsize::new(0),
        })
    }

    /// Runs the action's step with these inputs (the others at their defaults), as
    /// the composite action does: every input set, empty when not given.
    fn step(&self, endpoint: &str, inputs: &[(&str, &str)]) -> Step {
        self.step_env(endpoint, inputs, &[])
    }

    /// The calls the stub `gh` received, one line each (empty: never called).
    fn gh_calls(&self) -> String {
        fs::read_to_string(self.dir.path().join("gh-calls.log")).unwrap_or_default()
    }

    /// Like `step`, with more environment variables (e.g. what the runner sets for
    /// `permissions: id-token: write`, or a PATH without `gh`).
    fn step_env(&self, endpoint: &str, inputs: &[(&str, &str)], env: &[(&str, &str)]) -> Step {
        let mut all: Vec<(String, String)> = [
            ("endpoint", endpoint),
            ("lease_service_url", ""),
            ("auth", ""),
            ("oidc_audience", ""),
            ("release_with_status", ""),
            ("priority", ""),
            ("timeout", "60m"),
            ("poll_interval", "15s"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (name, value) in inputs {
            match all.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = value.to_string(),
                None => panic!("the action has no input {name}"),
            }
        }
        let n = self.steps.fetch_add(1, Ordering::SeqCst);
        let output_file = self.dir.path().join(format!("output-{n}"));
        fs::write(&output_file, "").expect("create GITHUB_OUTPUT");
        let summary_file = self.dir.path().join(format!("summary-{n}.md"));
        fs::write(&summary_file, "").expect("create GITHUB_STEP_SUMMARY");
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("action/lease.sh"))
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("GITHUB_EVENT_NAME", "merge_group")
            .env("GITHUB_EVENT_PATH", self.dir.path().join("event.json"))
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary_file)
            .env("RUNNER_TEMP", self.dir.path().join("runner_temp"))
            .env("GITHUB_RUN_ID", format!("{}", 1000 + self.pr))
            .env("GITHUB_RUN_ATTEMPT", "1")
            .env("GITHUB_JOB", "access-shared-resource")
            .env("GH_TOKEN", "gh-test-token")
            // Short pauses between retries keep the tests quick.
            .env("MQ_LEASE_BACKOFF_CAP", "2")
            .stdin(Stdio::null());
        for (name, value) in &all {
            cmd.env(format!("INPUT_{}", name.to_uppercase()), value);
        }
        for (name, value) in env {
            cmd.env(name, value);
        }
        let started = Instant::now();
        let out = cmd.output().expect("run action/lease.sh");
        let took = started.elapsed();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let outputs = parse_outputs(&fs::read_to_string(&output_file).unwrap_or_default());
        let summary = fs::read_to_string(&summary_file).unwrap_or_default();
        // Shown for a failing test (or with --nocapture).
        eprintln!(
            "--- PR {} step {n} ({:?}, {}): {:?}\n{log}",
            self.pr,
            took,
            out.status,
            outputs.get("result")
        );
        Step {
            success: out.status.success(),
            outputs,
            log,
            summary,
            took,
        }
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
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = fs::metadata(path).expect("stat").permissions();
    perms.set_mode(0o755);
    fs::set_permissions(path, perms).expect("chmod");
}

/// Parses a GITHUB_OUTPUT file: `name=value` lines and `name<<DELIM … DELIM` blocks.
fn parse_outputs(text: &str) -> HashMap<String, String> {
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

// ------------------------------------------------------------------ scenarios

#[test]
fn four_runs_of_one_queue_end_one_acquired_three_completed() {
    require_tools();
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
        fencing_token.is_empty() || fencing_token.parse::<u64>().is_ok(),
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
}

#[test]
fn a_failed_holder_hands_the_lease_to_the_next_highest_run() {
    require_tools();
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
    require_tools();
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
    require_tools();
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
}

#[test]
fn a_wrong_token_fails_the_step_at_once_with_the_service_message() {
    require_tools();
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
    require_tools();
    // Arrange: the runs start while nothing listens on the port.
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let runs = vec![Run::new(1, 1, "main"), Run::new(2, 2, "main")];
    let rx = acquire_all(&runs, &endpoint, &[]);
    // Each run keeps its state dir from just before its first call on.
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
    require_tools();
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
    assert_released(&released, &["completed", "success"]);
}

#[test]
fn a_release_in_a_job_that_never_acquired_does_nothing_and_succeeds() {
    require_tools();
    // Arrange: no service at all; the release must not need it.
    let run = Run::new(1, 1, "main");
    let endpoint = format!("http://127.0.0.1:{}", free_port());

    // Act
    let step = run.release(&endpoint, "success", &[]);

    // Assert
    assert!(step.success, "{}", step.log);
    assert!(step.log.contains("nothing to release"), "{}", step.log);
    assert!(!step.log.contains("trying again"), "{}", step.log);
    assert!(step.took < Duration::from_secs(20), "took {:?}", step.took);
}

#[test]
fn the_heartbeat_keeps_the_lease_past_the_lease_timeout() {
    require_tools();
    // Arrange: a 4 s lease_timeout, so the heartbeat beats every second (the slack
    // keeps a busy machine from missing the first beat).
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

    // Assert
    assert!(
        acquired.log.contains("heartbeat every 1s"),
        "{}",
        acquired.log
    );
    assert_released(&released, &["completed", "success"]);
}

#[test]
fn a_release_after_the_lease_was_lost_fails_the_step_loudly() {
    require_tools();
    // Arrange: the heartbeat is gone (its pid file removed, so it stops), and the
    // holder stays silent past the 2 s lease_timeout.
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        lease_timeout: Some("2s"),
        ..Default::default()
    });
    let run = Run::new(1, 1, "main");
    let acquired = run.acquire(&server.endpoint(), &[]);
    assert_eq!(acquired.result(), "acquired", "{}", acquired.log);
    let state = run.dir.path().join("runner_temp/mq-lease-service");
    for job in fs::read_dir(&state).expect("state dir") {
        fs::remove_file(job.expect("entry").path().join("heartbeat.pid")).expect("remove pid file");
    }

    // Act
    thread::sleep(Duration::from_secs(4));
    let released = run.release(&server.endpoint(), "success", &[]);

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
}

// ------------------------------------------------------------------ the story the action tells

/// Whether this server says why a run waits (`waiting` in a pending answer, SPEC §8):
/// asks once for a queue of its own, where a lone run is still pending.
fn server_explains_waiting(server: &Server) -> bool {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-X", "POST"])
        .args(["-H", "Content-Type: application/json"])
        .args(["--data", r#"{"head_sha":"probe","priority":1}"#])
        .arg(format!("{}/acme/probe/main/acquire", server.endpoint()))
        .output()
        .expect("run curl");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(
        answer["request"]["status"], "pending",
        "the probe should wait: {answer}"
    );
    answer["waiting"].is_object()
}

/// The lines of a step's log, without empty ones.
fn lines(step: &Step) -> Vec<&str> {
    step.log.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[test]
fn a_long_lone_wait_is_told_in_a_few_lines_with_its_reason() {
    require_tools();
    // Arrange: five runs expected, one comes; a 20 s window; the service is asked every second.
    let server = Server::start(ServerOptions {
        expected_build_count: 5,
        stabilisation_window: "20s",
        ..Default::default()
    });
    assert!(
        server_explains_waiting(&server),
        "this crate's service says why a run waits (SPEC §8)"
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
    require_tools();
    // Arrange: two runs of two expected, priorities given (so `gh` is never needed).
    let server = Server::start(ServerOptions {
        expected_build_count: 2,
        ..Default::default()
    });
    assert!(
        server_explains_waiting(&server),
        "this crate's service says why a run waits (SPEC §8)"
    );
    let runs = vec![Run::new(1, 1, "main"), Run::new(2, 2, "main")];
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
    for run in &runs {
        assert_eq!(
            run.gh_calls(),
            "",
            "gh is not called when priority is given"
        );
    }
}

/// A directory with links to the tools the action uses, but no `gh`.
fn path_without_gh(dir: &Path) -> String {
    let tools = dir.join("tools-without-gh");
    fs::create_dir_all(&tools).expect("tools dir");
    for tool in [
        "bash", "sh", "curl", "jq", "date", "mktemp", "rm", "mv", "cat", "tr", "sed", "head",
        "tail", "dirname", "ps", "sleep", "chmod", "mkdir", "nohup", "cp", "grep",
    ] {
        let found = Command::new("bash")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .expect("run bash");
        let target = String::from_utf8_lossy(&found.stdout).trim().to_string();
        if found.status.success() && target.starts_with('/') {
            let _ = std::os::unix::fs::symlink(&target, tools.join(tool));
        }
    }
    tools.display().to_string()
}

#[test]
fn gh_is_needed_only_when_the_priority_is_not_given() {
    require_tools();
    // Arrange: no `gh` anywhere on PATH.
    let server = Server::start(ServerOptions {
        expected_build_count: 1,
        ..Default::default()
    });
    let run = Run::new(1, 3, "main");
    let path = path_without_gh(run.dir.path());

    // Act
    let without_priority = run.step_env(&server.endpoint(), &[], &[("PATH", path.as_str())]);
    let with_priority = run.step_env(
        &server.endpoint(),
        &[("priority", "3")],
        &[("PATH", path.as_str())],
    );
    let released = run.step_env(
        &server.endpoint(),
        &[("release_with_status", "success")],
        &[("PATH", path.as_str())],
    );

    // Assert
    assert!(!without_priority.success, "{}", without_priority.log);
    assert!(
        without_priority.log.contains("::error")
            && without_priority.log.contains("'gh' is not on PATH")
            && without_priority.log.contains("set the 'priority' input"),
        "a clear message:\n{}",
        without_priority.log
    );
    assert_eq!(with_priority.result(), "acquired", "{}", with_priority.log);
    assert_released(&released, &["completed", "success"]);
}

// ------------------------------------------------------------------ auth: oidc

const FAKE_JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJyZXBvc2l0b3J5IjoiYWNtZS9zaG9wIn0.c2lnbmF0dXJl";
const ID_TOKEN_REQUEST_TOKEN: &str = "runner-request-token-42";
const OIDC_CONFIG: &str = "[server]\nauto_register = true\n\n[auth]\nbearer_tokens = [\"eyJhbGciOiJSUzI1NiJ9.eyJyZXBvc2l0b3J5IjoiYWNtZS9zaG9wIn0.c2lnbmF0dXJl\"]\n";

/// What the fake token endpoint was asked: (request target, Authorization header).
type TokenRequests = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// Stands in for the runner's ID-token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`):
/// answers `{"value": FAKE_JWT}` to a request bearing the request token, 401 otherwise,
/// and records each request's target and Authorization header.
fn fake_token_endpoint() -> (String, TokenRequests) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind token endpoint");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
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
            let ok = auth == format!("bearer {ID_TOKEN_REQUEST_TOKEN}");
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
    require_tools();
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

    // Assert
    assert_eq!(
        acquired.result(),
        "acquired",
        "{}\nserver log:\n{}",
        acquired.log,
        server.log()
    );
    assert_released(&released, &["completed", "success"]);
    let seen = seen.lock().expect("lock").clone();
    assert!(seen.len() >= 2, "one ID token per step: {seen:?}");
    for (target, auth) in &seen {
        assert!(
            target.ends_with("/_apis/pipelines/idtoken?api-version=2.0&audience=mq-lease%20test"),
            "the audience is asked for: {target}"
        );
        assert_eq!(auth, &format!("bearer {ID_TOKEN_REQUEST_TOKEN}"));
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
    require_tools();
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
