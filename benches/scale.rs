//! Organisation-scale figures of the real (release) binary (issue 12):
//!
//! 1. memory: RSS (VmRSS, VmHWM) while auto-registering `SCALE_PROVIDERS` providers
//!    (default 10,000) with 8 requests each (4 runs register, the highest acquires the
//!    lease and releases success, two of the others are told `completed`), the store
//!    file's size, then a restart on the same data dir: hydrate time (process start to
//!    `/readyz` 200) and RSS after it;
//!    RSS also once the run each provider left pending was evicted (`ttl` after the load)
//!    and after one `/metrics` scrape;
//! 2. idle CPU of those providers (utime+stime from /proc/<pid>/stat over
//!    `SCALE_IDLE_SECS`, as % of one core), after those evictions and after the restart;
//! 3. acquire-poll throughput against a bare actix-web JSON handler
//!    (`examples/bare_handler.rs`, run here in a child process) driven by `wrk` (1 thread,
//!    64 connections), legs A/B/A/B/A/B, the median ratio and each leg's p99.
//!
//! Durable changes per second at 1/16/256 providers are the `lease` bench's first table
//! (`cargo bench` runs both).
//!
//! Run with `cargo bench --bench scale` (under 2 minutes). Sizes are overridable:
//! `SCALE_PROVIDERS=1000` for a quick run, `SCALE_ROUNDS` (rounds of 8 requests per provider,
//! default 1), `SCALE_LEG_SECS` (default 5), `SCALE_IDLE_SECS` (default 10),
//! `SCALE_POLL_ROUNDS` (finished rounds of the polled provider before the poll, default 0),
//! `SCALE_PARTS` (`memory,poll`, default both; idle CPU belongs to memory),
//! `SCALE_POLL_LEGS` (rounds of poll legs, default 3), `SCALE_RUST_LOG` (the server's
//! `RUST_LOG`, default `info` as in production), `SCALE_BIN`
//! (another build of the service), `SCALE_BASELINE_BIN` (a second build whose poll legs
//! alternate with the service's against the same bare handler, e.g. the parent commit's;
//! it starts empty, so pair it with `SCALE_PARTS=poll SCALE_PROVIDERS=0`), `SCALE_DATA` (a
//! data dir to keep, e.g. for a profiler).
//! Needs Linux (/proc) and, for the poll legs, `wrk` on the PATH.

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "../examples/bare_handler.rs"]
#[allow(dead_code)]
mod bare;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{acquire_body, free_port};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

/// In the child process started for the baseline: serve the bare handler on this port.
const BARE_PORT_ENV: &str = "SCALE_BARE_PORT";
const BARE_DOC_ENV: &str = "SCALE_BARE_DOC";
/// Providers driven at the same time during the load.
const CONCURRENCY: usize = 256;
/// Memory samples during the load.
const CHECKPOINTS: usize = 10;
/// The built-in `ttl` (the bench's config leaves the lease settings at their defaults).
const TTL: Duration = Duration::from_secs(30);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not valid")),
        Err(_) => default,
    }
}

/// One child process (the service or the bare handler), killed when dropped.
struct Proc {
    child: Child,
    port: u16,
    started: Instant,
}

impl Proc {
    fn spawn(mut cmd: Command, port: u16, log: &Path) -> Proc {
        let out = File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let started = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start child process");
        Proc {
            child,
            port,
            started,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `path` answers 200; the time since the process was started.
    async fn wait_ready(&mut self, http: &awc::Client, path: &str, method_post: bool) -> Duration {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("process exited before it was ready: {status}");
            }
            let req = if method_post {
                http.post(&url)
            } else {
                http.get(&url)
            };
            let sent = if method_post {
                req.send_json(&acquire_body(&"0".repeat(40), 1)).await
            } else {
                req.send().await
            };
            if let Ok(res) = sent {
                if res.status().as_u16() == 200 {
                    return self.started.elapsed();
                }
            }
            assert!(
                self.started.elapsed() < Duration::from_secs(120),
                "not ready after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGTERM, then wait for the exit (the store's file lock is free afterwards).
    async fn terminate(mut self) {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("process {pid} did not exit within 30 s of SIGTERM");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (VmRSS, VmHWM) in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// utime + stime of the process in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("run getconf CLK_TCK");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// CPU used by `pid` over `secs`, as % of one core.
async fn idle_cpu(pid: u32, secs: u64) -> f64 {
    let before = cpu_ticks(pid);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let used = (cpu_ticks(pid) - before) as f64 / clock_ticks_per_second();
    used / t.elapsed().as_secs_f64() * 100.0
}

struct Client {
    base: String,
    http: awc::Client,
}

impl Client {
    fn new(port: u16) -> Client {
        Client {
            base: format!("http://127.0.0.1:{port}"),
            http: awc::Client::builder()
                .connector(awc::Connector::new().limit(1024))
                .timeout(Duration::from_secs(60))
                .finish(),
        }
    }

    /// POSTs `body`, asserts 200 and returns the answer's JSON.
    async fn post(&self, path: &str, body: Value) -> Value {
        let mut res = self
            .http
            .post(format!("{}{path}", self.base))
            .send_json(&body)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let bytes = res.body().limit(1 << 24).await.expect("body");
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(res.status().as_u16(), 200, "POST {path}: {json}");
        json
    }

    /// GETs `path`, asserts 200 and returns the body's size in bytes.
    async fn get_len(&self, path: &str) -> usize {
        let mut res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let bytes = res.body().limit(1 << 28).await.expect("body");
        assert_eq!(res.status().as_u16(), 200, "GET {path}");
        bytes.len()
    }

    async fn acquire(&self, key: &str, sha: &str, priority: u64) -> String {
        let json = self
            .post(&format!("/{key}/acquire"), acquire_body(sha, priority))
            .await;
        json["request"]["status"].as_str().unwrap_or("").to_owned()
    }
}

/// One provider's rounds of 8 requests: runs with priorities 4..1 register, the highest
/// acquires the lease and releases `success`, two of the others ask again and are told
/// `completed` (all three before another round). Returns the acquires' statuses.
async fn provider_rounds(client: Rc<Client>, i: usize, rounds: usize) -> Vec<String> {
    provider_rounds_at(client, &format!("acme/repo-{i}/main"), i, rounds, false).await
}

/// `provider_rounds` on `key`, with shas made from `tag`; `tell_all`: the last round's
/// runs are all told too, so another round can start.
async fn provider_rounds_at(
    client: Rc<Client>,
    key: &str,
    tag: usize,
    rounds: usize,
    tell_all: bool,
) -> Vec<String> {
    let mut statuses = Vec::with_capacity(7 * rounds);
    for round in 0..rounds {
        let sha = |run: u64| format!("{tag:024x}{round:012x}{run:04x}");
        for priority in (1..=4).rev() {
            statuses.push(client.acquire(key, &sha(priority), priority).await);
        }
        statuses.push(client.acquire(key, &sha(4), 4).await);
        client
            .post(
                &format!("/{key}/release"),
                json!({ "head_sha": sha(4), "status": "success" }),
            )
            .await;
        // The next round starts once every run of this one has been told; the last round
        // leaves run 1 untold, so the default load is exactly 8 requests per provider.
        let told: &[u64] = if tell_all || round + 1 < rounds {
            &[3, 2, 1]
        } else {
            &[3, 2]
        };
        for &priority in told {
            statuses.push(client.acquire(key, &sha(priority), priority).await);
        }
    }
    statuses
}

fn service_command(bin: &Path, port: u16, data: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["--config"])
        .arg(config)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--data"])
        .arg(data)
        .env(
            "RUST_LOG",
            std::env::var("SCALE_RUST_LOG").unwrap_or_else(|_| "info".into()),
        );
    cmd
}

async fn start_service(bin: &Path, data: &Path, config: &Path, tmp: &Path) -> (Proc, Duration) {
    let port = free_port();
    let log = tmp.join(format!("server-{port}.log"));
    let mut proc = Proc::spawn(service_command(bin, port, data, config), port, &log);
    let http = awc::Client::default();
    let ready = proc.wait_ready(&http, "/readyz", false).await;
    (proc, ready)
}

struct Memory {
    providers: usize,
    requests: usize,
    empty: (u64, u64),
    loaded: (u64, u64),
    load_secs: f64,
    /// After the runs left pending were evicted (ttl after the load).
    settled: (u64, u64),
    /// After one `/metrics` scrape, and the scrape's size in bytes.
    scraped: (u64, u64),
    scrape_bytes: usize,
    file_bytes: u64,
    idle_after_load: f64,
    hydrate: Duration,
    restarted: (u64, u64),
    idle_after_restart: f64,
}

async fn memory(bin: &Path, data: &Path, config: &Path, tmp: &Path) -> (Memory, Proc) {
    let providers: usize = env_or("SCALE_PROVIDERS", 10_000);
    let rounds: usize = env_or("SCALE_ROUNDS", 1);
    let idle_secs: u64 = env_or("SCALE_IDLE_SECS", 10);

    let (server, _) = start_service(bin, data, config, tmp).await;
    let pid = server.pid();
    let client = Rc::new(Client::new(server.port));
    let empty = rss_kib(pid);
    println!(
        "memory: {providers} providers x {rounds} round(s) of 8 requests (9 but the last), {CONCURRENCY} providers at a time"
    );
    println!("{:>10} {:>12} {:>12}", "providers", "VmRSS", "VmHWM");
    println!("{:>10} {:>12} {:>12}", 0, mib(empty.0), mib(empty.1));
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    let mut requests = 0;
    let step = providers.div_ceil(CHECKPOINTS).max(1);
    let mut done = 0;
    while done < providers {
        let upto = (done + step).min(providers);
        let answered: Vec<Vec<String>> = stream::iter(done..upto)
            .map(|i| provider_rounds(client.clone(), i, rounds))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        // Every acquire, and one release per round.
        requests += answered.iter().map(Vec::len).sum::<usize>() + (upto - done) * rounds;
        for s in answered.into_iter().flatten() {
            *statuses.entry(s).or_default() += 1;
        }
        done = upto;
        let (rss, hwm) = rss_kib(pid);
        println!("{done:>10} {:>12} {:>12}", mib(rss), mib(hwm));
    }
    let load_secs = started.elapsed().as_secs_f64();
    println!("acquire answers: {statuses:?} (plus one release per round)");
    let loaded = rss_kib(pid);
    // The run each provider left pending is evicted `ttl` after its last call; measure idle
    // once that is over, so nothing but timers could run.
    let settle = started + Duration::from_secs_f64(load_secs) + TTL + Duration::from_secs(2);
    tokio::time::sleep_until(settle.into()).await;
    let settled = rss_kib(pid);
    let idle_after_load = idle_cpu(pid, idle_secs).await;
    let scrape_bytes = client.get_len("/metrics").await;
    let scraped = rss_kib(pid);
    server.terminate().await;
    let file_bytes = std::fs::metadata(data.join("leases.redb"))
        .expect("store file")
        .len();

    let (server, hydrate) = start_service(bin, data, config, tmp).await;
    let restarted = rss_kib(server.pid());
    let idle_after_restart = idle_cpu(server.pid(), idle_secs).await;
    (
        Memory {
            providers,
            requests,
            empty,
            loaded,
            load_secs,
            settled,
            scraped,
            scrape_bytes,
            file_bytes,
            idle_after_load,
            hydrate,
            restarted,
            idle_after_restart,
        },
        server,
    )
}

/// One leg's figures.
#[derive(Clone, Copy)]
struct Leg {
    rps: f64,
    p99: Duration,
    /// CPU time the server process used per answered request (user + system).
    cpu_per_request: Duration,
}

/// One wrk leg against the process `pid` serving `url`.
fn leg(pid: u32, url: &str, body: &str, secs: u64) -> Leg {
    let before = cpu_ticks(pid);
    let (rps, p99, requests) = wrk(url, body, secs);
    let cpu = (cpu_ticks(pid) - before) as f64 / clock_ticks_per_second();
    Leg {
        rps,
        p99,
        cpu_per_request: Duration::from_secs_f64(cpu / requests.max(1) as f64),
    }
}

/// One wrk run: (requests/s, p99, requests).
fn wrk(url: &str, body: &str, secs: u64) -> (f64, Duration, u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/poll.lua");
    let out = Command::new("wrk")
        .args(["-t1", "-c64", &format!("-d{secs}s"), "--latency", "-s"])
        .arg(&script)
        .arg(url)
        .env("WRK_BODY", body)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "wrk saw answers other than 200:\n{text}"
    );
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| parse_wrk_duration(v.trim()))
        .unwrap_or_else(|| panic!("no 99% latency in wrk output:\n{text}"));
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{text}"));
    (rps, p99, requests)
}

/// wrk's "812.00us", "2.31ms", "1.02s".
fn parse_wrk_duration(v: &str) -> Duration {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let n: f64 = v[..split]
        .parse()
        .unwrap_or_else(|_| panic!("duration {v}"));
    let secs = match &v[split..] {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        other => panic!("unit {other} in {v}"),
    };
    Duration::from_secs_f64(secs)
}

struct Poll {
    /// Per round: the bare handler's leg, then one leg per service (in `poll`'s order).
    legs: Vec<(Leg, Vec<Leg>)>,
    body_bytes: usize,
}

/// A/B/A/B/A/B: A the bare handler, B the service's acquire poll (a holder asking again;
/// nothing changes). The service runs with the providers loaded by `memory` (or none).
/// With more than one service (a baseline build), each round has a B leg for each, their
/// order turning round by round.
async fn poll(services: &[&Proc], tmp: &Path) -> Poll {
    let secs: u64 = env_or("SCALE_LEG_SECS", 5);
    let key = "bench/poll/main";
    let sha = |p: u64| format!("{:039x}{p}", 0);
    let mut answers = Vec::new();
    for service in services {
        let client = Rc::new(Client::new(service.port));
        // History before the polled round (remembered runs and events make the record bigger).
        let history: usize = env_or("SCALE_POLL_ROUNDS", 0);
        if history > 0 {
            provider_rounds_at(client.clone(), key, 0xffff, history, true).await;
        }
        for priority in (1..=4).rev() {
            client.acquire(key, &sha(priority), priority).await;
        }
        let answer = client
            .post(&format!("/{key}/acquire"), acquire_body(&sha(4), 4))
            .await;
        assert_eq!(answer["request"]["status"], "acquired", "{answer}");
        answers.push(answer);
    }
    let answer = answers.swap_remove(0);
    let body = serde_json::to_string(&acquire_body(&sha(4), 4)).expect("body");
    let doc_path = tmp.join("bare-doc.json");
    std::fs::write(&doc_path, serde_json::to_vec(&answer).expect("doc")).expect("write doc");

    let port = free_port();
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.env(BARE_PORT_ENV, port.to_string())
        .env(BARE_DOC_ENV, &doc_path);
    let mut bare = Proc::spawn(cmd, port, &tmp.join("bare.log"));
    bare.wait_ready(&awc::Client::default(), "/ready", true)
        .await;

    let a = format!("http://127.0.0.1:{}/{key}/acquire", bare.port);
    let b: Vec<String> = services
        .iter()
        .map(|s| format!("http://127.0.0.1:{}/{key}/acquire", s.port))
        .collect();
    // Warm up every one (connections, caches).
    wrk(&a, &body, 1);
    for url in &b {
        wrk(url, &body, 1);
    }
    let mut legs = Vec::new();
    for round in 0..env_or("SCALE_POLL_LEGS", 3) {
        let bare_leg = leg(bare.pid(), &a, &body, secs);
        let mut service_legs = vec![None; services.len()];
        for k in 0..services.len() {
            let i = (k + round) % services.len();
            service_legs[i] = Some(leg(services[i].pid(), &b[i], &body, secs));
        }
        legs.push((bare_leg, service_legs.into_iter().flatten().collect()));
    }
    drop(bare);
    Poll {
        legs,
        body_bytes: serde_json::to_vec(&answer).expect("doc").len(),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn bench(tmp: &Path) {
    let bin: PathBuf = std::env::var_os("SCALE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(common::BIN));
    let parts = std::env::var("SCALE_PARTS").unwrap_or_else(|_| "memory,poll".into());
    // `SCALE_DATA`: keep the store there (e.g. to profile a restart on it afterwards).
    let data = std::env::var_os("SCALE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.join("data"));
    let config = tmp.join("scale.toml");
    let providers: usize = env_or("SCALE_PROVIDERS", 10_000);
    // auto_register on, room for the load's providers and the poll's one; lease settings
    // are the built-in defaults.
    std::fs::write(
        &config,
        format!(
            "[server]\nauto_register = true\nmax_providers = {}\n",
            providers + 16
        ),
    )
    .expect("write config");
    println!("mq-lease-service scale bench: {}", bin.display());
    println!(
        "({} CPUs shared by server, client and whatever else runs; load average at start {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!();

    actix_rt::System::new().block_on(async {
        let mut memory_figures = None;
        let service = if parts.contains("memory") {
            let (m, server) = memory(&bin, &data, &config, tmp).await;
            memory_figures = Some(m);
            server
        } else {
            start_service(&bin, &data, &config, tmp).await.0
        };
        // `SCALE_BASELINE_BIN`: another build polled in the same rounds, started empty.
        let baseline = match std::env::var_os("SCALE_BASELINE_BIN") {
            Some(b) if parts.contains("poll") => {
                let data = tmp.join("baseline-data");
                Some(start_service(Path::new(&b), &data, &config, tmp).await.0)
            }
            _ => None,
        };
        let poll_figures = if parts.contains("poll") {
            let services: Vec<&Proc> = std::iter::once(&service).chain(&baseline).collect();
            Some(poll(&services, tmp).await)
        } else {
            None
        };
        service.terminate().await;
        if let Some(baseline) = baseline {
            baseline.terminate().await;
        }

        println!();
        if let Some(m) = memory_figures {
            let per_1000 = (m.loaded.0.saturating_sub(m.empty.0)) as f64 / 1024.0
                / (m.providers as f64 / 1000.0);
            println!(
                "{:<52} {:>12}",
                "RSS empty (VmRSS / VmHWM)",
                format!("{} / {}", mib(m.empty.0), mib(m.empty.1))
            );
            println!(
                "{:<52} {:>12}",
                format!(
                    "RSS after load: {} providers, {} requests, {:.1} s",
                    m.providers, m.requests, m.load_secs
                ),
                format!("{} / {}", mib(m.loaded.0), mib(m.loaded.1))
            );
            println!(
                "{:<52} {:>12}",
                "RSS once the pending runs were evicted (ttl later)",
                format!("{} / {}", mib(m.settled.0), mib(m.settled.1))
            );
            println!(
                "{:<52} {:>12}",
                format!("RSS after a /metrics scrape ({:.1} MB)", m.scrape_bytes as f64 / 1e6),
                format!("{} / {}", mib(m.scraped.0), mib(m.scraped.1))
            );
            println!(
                "{:<52} {:>12}",
                "RSS per 1,000 providers (after load - empty)",
                format!("{per_1000:.2} MiB")
            );
            println!(
                "{:<52} {:>12}",
                "store file",
                format!("{:.1} MB", m.file_bytes as f64 / 1e6)
            );
            println!(
                "{:<52} {:>12}",
                "hydrate (process start -> /readyz 200)",
                format!("{} ms", m.hydrate.as_millis())
            );
            println!(
                "{:<52} {:>12}",
                "RSS after restart (VmRSS / VmHWM)",
                format!("{} / {}", mib(m.restarted.0), mib(m.restarted.1))
            );
            println!(
                "{:<52} {:>12}",
                "idle CPU after load and evictions (% of one core)",
                format!("{:.2} %", m.idle_after_load)
            );
            println!(
                "{:<52} {:>12}",
                "idle CPU after restart (% of one core)",
                format!("{:.2} %", m.idle_after_restart)
            );
        }
        if let Some(p) = poll_figures {
            let mut medians = Vec::new();
            for (j, name) in ["service", "baseline"].iter().enumerate() {
                let legs: Vec<(Leg, Leg)> = p
                    .legs
                    .iter()
                    .filter_map(|(a, b)| b.get(j).map(|b| (*a, *b)))
                    .collect();
                if !legs.is_empty() {
                    println!();
                    println!("{name}:");
                    medians.push(print_poll(&legs, p.body_bytes));
                }
            }
            if let [service, baseline] = medians[..] {
                println!(
                    "median ratio, service / baseline: {service:.2} / {baseline:.2} (difference {:+.2})",
                    service - baseline
                );
                // Paired within each round (the two builds polled back to back), so a
                // round where the machine was busier counts against both.
                let mut throughput: Vec<f64> = p
                    .legs
                    .iter()
                    .filter_map(|(_, b)| Some(b.first()?.rps / b.get(1)?.rps))
                    .collect();
                let mut cpu: Vec<f64> = p
                    .legs
                    .iter()
                    .filter_map(|(_, b)| {
                        let (s, base) = (b.first()?, b.get(1)?);
                        Some(s.cpu_per_request.as_secs_f64() / base.cpu_per_request.as_secs_f64())
                    })
                    .collect();
                println!(
                    "per round, service / baseline: req/s median {:.3}, server CPU per request median {:.3} ({} rounds)",
                    median(&mut throughput),
                    median(&mut cpu),
                    throughput.len()
                );
            }
        }
        println!("durable changes/s at 1/16/256 providers: see `cargo bench --bench lease`");
        println!("load average at end {}", load_average());
    });
}

/// The table of one service's poll legs against the bare handler's; the median ratio.
fn print_poll(legs: &[(Leg, Leg)], body_bytes: usize) -> f64 {
    println!(
        "acquire poll vs bare actix-web handler (wrk -t1 -c64, {} B answers)",
        body_bytes
    );
    println!(
        "{:>4} {:>11} {:>10} {:>10} {:>11} {:>10} {:>10} {:>7}",
        "leg",
        "bare req/s",
        "bare p99",
        "bare CPU/r",
        "poll req/s",
        "poll p99",
        "poll CPU/r",
        "ratio"
    );
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let us = |d: Duration| format!("{:.1} us", d.as_secs_f64() * 1e6);
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    for (i, (a, b)) in legs.iter().enumerate() {
        let ratio = b.rps / a.rps;
        ratios.push(ratio);
        cpu_ratios.push(b.cpu_per_request.as_secs_f64() / a.cpu_per_request.as_secs_f64());
        println!(
            "{:>4} {:>11.0} {:>10} {:>10} {:>11.0} {:>10} {:>10} {ratio:>7.2}",
            i + 1,
            a.rps,
            ms(a.p99),
            us(a.cpu_per_request),
            b.rps,
            ms(b.p99),
            us(b.cpu_per_request),
        );
    }
    ratios.sort_by(|x, y| x.total_cmp(y));
    cpu_ratios.sort_by(|x, y| x.total_cmp(y));
    println!(
        "median ratio (poll / bare req/s): {:.2}; server CPU per request, poll / bare: {:.2}",
        ratios[ratios.len() / 2],
        cpu_ratios[cpu_ratios.len() / 2]
    );
    ratios[ratios.len() / 2]
}

fn main() {
    if let Ok(port) = std::env::var(BARE_PORT_ENV) {
        let port: u16 = port.parse().expect("bare port");
        let doc = std::env::var(BARE_DOC_ENV).expect("bare doc path");
        let doc = serde_json::from_slice(&std::fs::read(doc).expect("read doc")).expect("doc");
        bare::serve(port, doc).expect("bare handler");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    bench(tmp.path());
    println!("(bench took {:.0} s)", started.elapsed().as_secs_f64());
}

/// The median of `values` (sorted in place); 0 when there are none.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
