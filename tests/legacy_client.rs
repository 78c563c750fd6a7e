//! docs/rules.md §13: a workflow written for the Go project's action (ankorstore/mq-lease-service)
//! works against this service with only the URL changed, and exclusion is never broken.
//!
//! Each job here does what that action's composite steps do, with the real `curl`:
//! - acquire: `curl -H"Content-Type: json" -H"Authorization: …" -X POST -d '{…}'` (no
//!   `--fail`) every poll interval (15 s there, shortened here) until the status is not
//!   `pending` and there is no `error`; then it never calls again (no heartbeat);
//! - the job's own step uses the shared resource only when the status is `acquired`;
//! - release, on every run: the same curl with `--fail-with-body` and
//!   `release_with_status: ${{ job.status }}` (`success`, `failure` or `cancelled`); a
//!   non-2xx answer fails the step.
//!
//! The service is the real binary on a real port. Every job records when it got the lease
//! and when it stopped using the resource, so overlap is checked on timestamps.

mod common;

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{free_port, BIN};
use serde_json::Value;

/// The Go action's 15 s between polls, shortened.
const POLL: Duration = Duration::from_millis(500);

/// How a job ends: the workflow passes `${{ job.status }}` to the release step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobStatus {
    Success,
    Failure,
    Cancelled,
}

impl JobStatus {
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Success => "success",
            JobStatus::Failure => "failure",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

/// One merge-group run of a workflow that uses the Go project's action.
#[derive(Debug, Clone)]
struct Job {
    name: String,
    priority: u32,
    /// How long its own step uses the resource once it holds the lease.
    use_for: Duration,
    /// How its job ends when it used the resource (a run told `completed` succeeds).
    outcome: JobStatus,
    /// When its workflow starts, after the round's start.
    starts_after: Duration,
}

impl Job {
    fn new(name: &str, priority: u32, use_for: Duration, outcome: JobStatus) -> Job {
        Job {
            name: name.to_owned(),
            priority,
            use_for,
            outcome,
            starts_after: Duration::ZERO,
        }
    }

    fn sha(&self) -> String {
        format!("{:0>40}", self.name)
    }

    fn head_ref(&self) -> String {
        format!("gh-readonly-queue/main/pr-{}-{}", self.priority, self.sha())
    }
}

/// What a job did, in seconds since the round's start.
#[derive(Debug, Clone)]
struct Report {
    name: String,
    /// The acquire step's output `status`.
    status: String,
    /// Using the resource: from the `acquired` answer to the start of the release step.
    used: Option<(f64, f64)>,
    /// When the release step ran, and whether it passed (curl's exit code 0).
    release_at: f64,
    release_ok: bool,
    release_answer: String,
    acquire_polls: u32,
}

struct Service {
    child: std::process::Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Service {
    fn start(args: &[&str]) -> Service {
        let data = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(data.path().join("server.log")).expect("log file");
        let child = Command::new(BIN)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--data"])
            .arg(data.path().join("data"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("start mq-lease-service");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while curl(&["-sf", "-o", "/dev/null", &format!("{url}/readyz")])
            .status
            .code()
            != Some(0)
        {
            assert!(started.elapsed() < Duration::from_secs(30), "not ready");
            thread::sleep(Duration::from_millis(20));
        }
        Service {
            child,
            url,
            _data: data,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._data.path().join("server.log")).unwrap_or_default()
    }

    fn events(&self, queue: &str) -> Vec<Value> {
        let out = curl(&["-sS", &format!("{}/{queue}/events?limit=500", self.url)]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v.as_array()
            .or_else(|| v["events"].as_array())
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(args)
        .output()
        .expect("curl is installed (.ci/run installs it)")
}

/// One job: the Go action's acquire loop, the job's own step, its release step.
fn run_job(endpoint: String, job: Job, t0: Instant) -> Report {
    let secs = |t: Instant| t.duration_since(t0).as_secs_f64();
    thread::sleep(job.starts_after);
    // Acquire, as that action's `acquire` step does it.
    let body = format!(
        r#"{{"head_sha": "{}", "head_ref": "{}", "priority": {}}}"#,
        job.sha(),
        job.head_ref(),
        job.priority
    );
    let mut polls = 0;
    let status = loop {
        polls += 1;
        let out = curl(&[
            "-s",
            "-HContent-Type: json",
            "-HAuthorization: ",
            "-X",
            "POST",
            "-d",
            &body,
            &format!("{endpoint}/acquire"),
        ]);
        if !out.status.success() {
            thread::sleep(POLL);
            continue;
        }
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if !answer["error"].is_null() || answer.is_null() {
            thread::sleep(POLL);
            continue;
        }
        let status = answer["request"]["status"].as_str().unwrap_or("null");
        if status == "pending" {
            thread::sleep(POLL);
            continue;
        }
        break status.to_owned();
    };
    // The job's own step: only a run that acquired uses the resource.
    let (used, job_status) = if status == "acquired" {
        let from = Instant::now();
        thread::sleep(job.use_for);
        (Some((secs(from), secs(Instant::now()))), job.outcome)
    } else {
        (None, JobStatus::Success)
    };
    // Release with `${{ job.status }}`, on every run, as `if: always()` would.
    let release_at = Instant::now();
    let out = curl(&[
        "-s",
        "-HContent-Type: json",
        "--fail-with-body",
        "-HAuthorization: ",
        "-X",
        "POST",
        "-d",
        &format!(
            r#"{{"head_sha": "{}", "head_ref": "{}", "priority": {}, "status": "{}"}}"#,
            job.sha(),
            job.head_ref(),
            job.priority,
            job_status.as_str()
        ),
        &format!("{endpoint}/release"),
    ]);
    Report {
        name: job.name,
        status,
        used,
        release_at: secs(release_at),
        release_ok: out.status.success(),
        release_answer: String::from_utf8_lossy(&out.stdout).into_owned(),
        acquire_polls: polls,
    }
}

/// Runs the jobs of one queue at once; returns their reports by name.
fn run_round(service: &Service, queue: &str, jobs: Vec<Job>) -> Vec<Report> {
    let t0 = Instant::now();
    let endpoint = format!("{}/{queue}", service.url);
    let reports = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let endpoint = endpoint.clone();
            let reports = Arc::clone(&reports);
            thread::spawn(move || {
                let report = run_job(endpoint, job, t0);
                reports.lock().expect("reports").push(report);
            })
        })
        .collect();
    for h in handles {
        h.join().expect("job thread");
    }
    let mut reports = reports.lock().expect("reports").clone();
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    for r in &reports {
        eprintln!("{queue}: {r:?}");
    }
    reports
}

fn report<'a>(reports: &'a [Report], name: &str) -> &'a Report {
    reports
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no report for {name}"))
}

/// Never two jobs on the resource at once: the intervals of use are disjoint.
fn assert_no_overlap(reports: &[Report], service: &Service) {
    let mut used: Vec<(f64, f64, &str)> = reports
        .iter()
        .filter_map(|r| r.used.map(|(a, b)| (a, b, r.name.as_str())))
        .collect();
    used.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in used.windows(2) {
        let (first, second) = (pair[0], pair[1]);
        assert!(
            second.0 >= first.1,
            "{} used the resource from {:.2}s while {} used it until {:.2}s\n{}",
            second.2,
            second.0,
            first.2,
            first.1,
            service.log()
        );
    }
}

fn assert_every_step_green(reports: &[Report]) {
    for r in reports {
        assert!(
            r.release_ok,
            "{}'s release step failed: {}",
            r.name, r.release_answer
        );
    }
}

/// The first grant after `after` seconds, among the reports.
fn first_grant_after(reports: &[Report], after: f64) -> f64 {
    reports
        .iter()
        .filter_map(|r| r.used.map(|u| u.0))
        .filter(|t| *t >= after)
        .fold(f64::INFINITY, f64::min)
}

/// A round of three: the highest wins, uses the resource, succeeds; the others are told
/// `completed` and their release steps pass. A second batch, started while the first is
/// held, gets 409s until that round ends, then its own round goes through.
#[test]
fn success_every_step_is_green_and_the_lower_runs_are_completed() {
    let service = Service::start(&["--expected-build-count", "3", "--lease-timeout", "2s"]);
    let use_for = Duration::from_secs(2);
    let mut jobs: Vec<Job> = (1..=3)
        .map(|p| Job::new(&format!("a{p}"), p, use_for, JobStatus::Success))
        .collect();
    jobs.extend((1..=3).map(|p| Job {
        starts_after: Duration::from_secs(1),
        ..Job::new(&format!("b{p}"), p, use_for, JobStatus::Success)
    }));

    let reports = run_round(&service, "acme/shop/main", jobs);

    assert_every_step_green(&reports);
    assert_no_overlap(&reports, &service);
    for (name, expected) in [
        ("a1", "completed"),
        ("a2", "completed"),
        ("a3", "acquired"),
        ("b1", "completed"),
        ("b2", "completed"),
        ("b3", "acquired"),
    ] {
        assert_eq!(report(&reports, name).status, expected, "{name}");
    }
    let released = report(&reports, "a3").release_at;
    let next = first_grant_after(&reports, released);
    eprintln!(
        "FIGURE success: the next batch was granted {:.3}s after the winner's release (poll {POLL:?})",
        next - released
    );
    assert!(
        report(&reports, "b1").acquire_polls > 1,
        "the second batch waited"
    );
}

/// The holder's job ends `outcome` (a failure, or a cancel, which counts as one): the next
/// highest is granted on its next poll (re-election), succeeds, and the lowest is told
/// `completed`. Every release step passes.
fn the_next_run_takes_over_when_the_holder_ends(outcome: JobStatus) {
    let service = Service::start(&["--expected-build-count", "3", "--lease-timeout", "2s"]);
    let use_for = Duration::from_secs(1);
    let jobs = vec![
        Job::new("a1", 1, use_for, JobStatus::Success),
        Job::new("a2", 2, use_for, JobStatus::Success),
        Job::new("a3", 3, use_for, outcome),
    ];

    let reports = run_round(&service, "acme/shop/main", jobs);

    assert_every_step_green(&reports);
    assert_no_overlap(&reports, &service);
    assert_eq!(report(&reports, "a3").status, "acquired");
    assert_eq!(report(&reports, "a2").status, "acquired");
    assert_eq!(report(&reports, "a1").status, "completed");
    let ended = report(&reports, "a3").release_at;
    let next = report(&reports, "a2").used.map(|u| u.0).unwrap_or(f64::NAN);
    eprintln!(
        "FIGURE {}: the next run was granted {:.3}s after the holder's release (poll {POLL:?})",
        outcome.as_str(),
        next - ended
    );
    assert!(next >= ended);
}

#[test]
fn failure_re_elects_the_next_highest_run() {
    the_next_run_takes_over_when_the_holder_ends(JobStatus::Failure);
}

#[test]
fn cancelled_hands_the_lease_to_the_next_run() {
    the_next_run_takes_over_when_the_holder_ends(JobStatus::Cancelled);
}

/// Every holder uses the resource for three times `lease_timeout` and says nothing until
/// its release: nobody else is granted meanwhile, and every step passes. The first fails,
/// so the lease goes round all three runs.
#[test]
fn a_holder_using_the_resource_for_three_lease_timeouts_is_never_joined_by_another() {
    let service = Service::start(&["--expected-build-count", "3", "--lease-timeout", "2s"]);
    let use_for = Duration::from_secs(6);
    let jobs = vec![
        Job::new("a1", 1, use_for, JobStatus::Success),
        Job::new("a2", 2, use_for, JobStatus::Failure),
        Job::new("a3", 3, use_for, JobStatus::Failure),
    ];

    let reports = run_round(&service, "acme/shop/main", jobs);

    assert_no_overlap(&reports, &service);
    assert_every_step_green(&reports);
    for name in ["a1", "a2", "a3"] {
        assert_eq!(report(&reports, name).status, "acquired", "{name}");
    }
    let expired = service
        .events("acme/shop/main")
        .iter()
        .filter(|e| e["kind"] == "lease_expired")
        .count();
    assert_eq!(expired, 0, "no lease was taken from a silent holder");
    eprintln!("FIGURE long holders: 3 holders of 6s each with lease_timeout 2s, overlap 0");
}

/// With the operator's opt-in, a holder silent since its grant loses the lease after
/// `silent_holder_timeout`, as configured: the next run is granted then (while the first
/// may still be using the resource; that is what the opt-in means), and the late release
/// of the first is refused, so its step fails loudly.
#[test]
fn with_the_opt_in_a_silent_holder_loses_the_lease_as_configured() {
    let service = Service::start(&[
        "--expected-build-count",
        "2",
        "--lease-timeout",
        "10m",
        "--silent-holder-timeout",
        "2s",
    ]);
    let jobs = vec![
        Job::new("a1", 1, Duration::from_millis(500), JobStatus::Success),
        Job::new("a2", 2, Duration::from_secs(6), JobStatus::Success),
    ];

    let reports = run_round(&service, "acme/shop/main", jobs);

    let first = report(&reports, "a2");
    let second = report(&reports, "a1");
    assert_eq!(
        (first.status.as_str(), second.status.as_str()),
        ("acquired", "acquired")
    );
    let (granted, _) = first.used.expect("a2 used the resource");
    let (taken_over, _) = second.used.expect("a1 used the resource");
    assert!(
        taken_over - granted >= 2.0,
        "the lease was taken {:.2}s after the grant, before silent_holder_timeout (2s)",
        taken_over - granted
    );
    assert!(
        !first.release_ok,
        "the late release is refused: {}",
        first.release_answer
    );
    assert!(second.release_ok, "{}", second.release_answer);
    let events = service.events("acme/shop/main");
    let expired = events
        .iter()
        .find(|e| e["kind"] == "lease_expired")
        .expect("a lease_expired event");
    assert_eq!(
        expired["reason"], "silent since its grant for silent_holder_timeout",
        "{expired}"
    );
}
