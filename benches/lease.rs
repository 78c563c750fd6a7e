//! End-to-end figures of the real (release) binary over HTTP on loopback:
//! durable state changes per second, acquire latency (state change vs plain poll) and
//! hand-over latency (long-poll vs 1 s polling).
//!
//! Run with `cargo bench --bench lease`. It starts `mq-lease-service` itself on a temp
//! data dir (so the disk is whatever holds `$TMPDIR`) and drives it with one awc client in
//! one thread; client and server share this machine's cores.

#[path = "../tests/common/mod.rs"]
mod common;

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{acquire_body, Server};
use futures_util::future::join_all;
use serde_json::{json, Value};

const THROUGHPUT_FOR: Duration = Duration::from_secs(5);
const LATENCY_SAMPLES: usize = 2000;
const LONG_POLL_HAND_OVERS: usize = 200;
const POLLING_HAND_OVERS: usize = 30;
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Nothing expires during the bench; every run that registers alone wins at once.
const ONE_RUN: &[&str] = &[
    "--expected-build-count",
    "1",
    "--stabilisation-window",
    "10m",
    "--ttl",
    "10m",
    "--lease-timeout",
    "0",
];
/// Two runs per round: the higher wins, the lower waits for its failure.
const TWO_RUNS: &[&str] = &[
    "--expected-build-count",
    "2",
    "--stabilisation-window",
    "10m",
    "--ttl",
    "10m",
    "--lease-timeout",
    "0",
];

/// A client with room for 256 concurrent connections and nothing else in its way.
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

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            _ => self.http.delete(url),
        };
        let mut res = match body {
            Some(b) => req.send_json(&b).await,
            None => req.send().await,
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let bytes = res.body().limit(1 << 24).await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (res.status().as_u16(), json)
    }

    async fn acquire(&self, key: &str, sha: &str, priority: u64, wait: Option<u64>) -> String {
        let query = wait.map(|w| format!("?wait={w}")).unwrap_or_default();
        let path = format!("/{key}/acquire{query}");
        let (status, json) = self
            .call("POST", &path, Some(acquire_body(sha, priority)))
            .await;
        assert_eq!(status, 200, "acquire {key} {sha}: {json}");
        json["request"]["status"].as_str().unwrap_or("").to_owned()
    }

    async fn release(&self, key: &str, sha: &str, outcome: &str) {
        let body = json!({ "head_sha": sha, "status": outcome });
        let (status, json) = self
            .call("POST", &format!("/{key}/release"), Some(body))
            .await;
        assert_eq!(status, 200, "release {key} {sha}: {json}");
    }
}

/// One provider's client: acquire a new sha (registers and wins: one durable write),
/// release it with success (the round ends: one durable write), repeat until `until`.
async fn churn(client: Rc<Client>, key: String, until: Instant) -> u64 {
    let mut changes = 0;
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let sha = format!("{n:040x}");
        assert_eq!(client.acquire(&key, &sha, 1, None).await, "acquired");
        client.release(&key, &sha, "success").await;
        changes += 2;
    }
    changes
}

async fn changes_per_second(
    client: &Rc<Client>,
    providers: usize,
    phase: &str,
    run_for: Duration,
) -> (u64, f64) {
    let started = Instant::now();
    let until = started + run_for;
    let counts = join_all(
        (0..providers).map(|i| churn(client.clone(), format!("bench/{phase}-{i}/main"), until)),
    )
    .await;
    (counts.iter().sum(), started.elapsed().as_secs_f64())
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn summary(samples: &mut [Duration]) -> (String, String, String) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    (
        ms(percentile(samples, 50)),
        ms(percentile(samples, 99)),
        ms(mean),
    )
}

/// Sequential acquire latency: a new registration (written to disk) vs the holder
/// asking again (nothing changes, nothing is written).
async fn acquire_latency(client: &Client) -> (Vec<Duration>, Vec<Duration>) {
    let key = "bench/latency/main";
    let mut changes = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..LATENCY_SAMPLES {
        let sha = format!("{n:040x}");
        let t = Instant::now();
        let status = client.acquire(key, &sha, 1, None).await;
        changes.push(t.elapsed());
        assert_eq!(status, "acquired");
        client.release(key, &sha, "success").await;
    }
    let holder = "f".repeat(40);
    assert_eq!(client.acquire(key, &holder, 1, None).await, "acquired");
    let mut polls = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        let t = Instant::now();
        let status = client.acquire(key, &holder, 1, None).await;
        polls.push(t.elapsed());
        assert_eq!(status, "acquired");
    }
    client.release(key, &holder, "success").await;
    (changes, polls)
}

/// Round `n` of two runs: `hi` (priority 2) holds the lease, `lo` (priority 1) waits.
async fn start_round(client: &Client, key: &str, n: usize) -> (String, String) {
    let hi = format!("{:039x}a", n);
    let lo = format!("{:039x}b", n);
    assert_eq!(client.acquire(key, &hi, 2, None).await, "pending");
    assert_eq!(client.acquire(key, &lo, 1, None).await, "pending");
    assert_eq!(client.acquire(key, &hi, 2, None).await, "acquired");
    (hi, lo)
}

/// Hand-over times of one mode: from the holder's failure release answered 200 (and,
/// for reference, from that release being sent) to the next run answered `acquired`.
#[derive(Default)]
struct HandOvers {
    from_answer: Vec<Duration>,
    from_request: Vec<Duration>,
    /// How often the grant arrived before the release's own answer (counted as 0).
    grant_first: usize,
}

impl HandOvers {
    fn push(&mut self, sent: Instant, answered: Instant, granted: Instant) {
        if granted < answered {
            self.grant_first += 1;
        }
        self.from_answer
            .push(granted.saturating_duration_since(answered));
        self.from_request
            .push(granted.saturating_duration_since(sent));
    }
}

/// The waiter is held in `?wait=30` when the holder fails. (The release and the grant
/// leave the server after the same disk write, so the grant may even arrive first.)
async fn hand_over_long_poll(client: &Client, key: &str, rounds: usize) -> HandOvers {
    let mut times = HandOvers::default();
    for n in 0..rounds {
        let (hi, lo) = start_round(client, key, n).await;
        let granted_at: Cell<Option<Instant>> = Cell::new(None);
        let waiter = async {
            let status = client.acquire(key, &lo, 1, Some(30)).await;
            granted_at.set(Some(Instant::now()));
            status
        };
        let holder = async {
            // Fail only once the waiter is parked.
            loop {
                let (_, view) = client.call("GET", &format!("/{key}"), None).await;
                if view["waiting"] == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let sent = Instant::now();
            client.release(key, &hi, "failure").await;
            (sent, Instant::now())
        };
        let (status, (sent, answered)) = futures_util::future::join(waiter, holder).await;
        assert_eq!(status, "acquired");
        times.push(sent, answered, granted_at.get().expect("granted"));
        client.release(key, &lo, "success").await;
    }
    times
}

/// The same hand-over for a client without long-poll: the waiter asks every second, and
/// the holder fails at a moment unrelated to that rhythm.
async fn hand_over_polling(client: &Client, rounds: usize, seed: &mut u64) -> HandOvers {
    let key = "bench/handover-poll/main";
    let mut times = HandOvers::default();
    for n in 0..rounds {
        let (hi, lo) = start_round(client, key, n).await;
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let fail_after = Duration::from_millis(*seed % 1000);
        let released: Cell<Option<(Instant, Instant)>> = Cell::new(None);
        let waiter = async {
            let mut tick = Instant::now();
            loop {
                if client.acquire(key, &lo, 1, None).await == "acquired" {
                    return Instant::now();
                }
                tick += POLL_INTERVAL;
                tokio::time::sleep_until(tick.into()).await;
            }
        };
        let holder = async {
            tokio::time::sleep(fail_after).await;
            let sent = Instant::now();
            client.release(key, &hi, "failure").await;
            released.set(Some((sent, Instant::now())));
        };
        let (granted, ()) = futures_util::future::join(waiter, holder).await;
        let (sent, answered) = released.get().expect("released");
        times.push(sent, answered, granted);
        client.release(key, &lo, "success").await;
    }
    times
}

fn print_hand_overs(label: &str, times: &mut HandOvers) {
    let (p50, p99, mean) = summary(&mut times.from_answer);
    let (q50, q99, _) = summary(&mut times.from_request);
    println!("{label:<34} {p50:>10} {p99:>10} {mean:>10} {q50:>10} {q99:>10}");
}

async fn stop(mut server: Server) {
    let status = server.terminate().await;
    assert!(status.success(), "server exit: {status}");
}

async fn bench(tmp: &Path) {
    let data = tmp.join("data");
    println!("mq-lease-service end-to-end bench: release binary, HTTP on loopback (127.0.0.1) on this machine");
    println!(
        "({} CPUs shared by server and client; one awc client in one thread; store in {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        data.display()
    );

    let server = Server::start(&data, tmp, ONE_RUN).await;
    let client = Rc::new(Client::new(server.port));
    // Warm up: connections, provider actors, the file.
    changes_per_second(&client, 16, "warmup", Duration::from_secs(1)).await;
    acquire_latency_warmup(&client).await;

    println!();
    println!("durable state changes per second (acquire new sha = register+grant, release success; each a disk write)");
    println!(
        "{:>10} {:>10} {:>8} {:>10}",
        "providers", "changes", "seconds", "changes/s"
    );
    for providers in [1usize, 16, 256] {
        let (changes, secs) = changes_per_second(
            &client,
            providers,
            &format!("tp{providers}"),
            THROUGHPUT_FOR,
        )
        .await;
        println!(
            "{providers:>10} {changes:>10} {secs:>8.1} {:>10.0}",
            changes as f64 / secs
        );
    }

    let (mut changes, mut polls) = acquire_latency(&client).await;
    println!();
    println!("acquire latency, sequential, {LATENCY_SAMPLES} samples each");
    println!("{:<44} {:>10} {:>10} {:>10}", "", "p50", "p99", "mean");
    let (p50, p99, mean) = summary(&mut changes);
    println!(
        "{:<44} {p50:>10} {p99:>10} {mean:>10}",
        "state change (new run registers and wins)"
    );
    let (p50, p99, mean) = summary(&mut polls);
    println!(
        "{:<44} {p50:>10} {p99:>10} {mean:>10}",
        "plain poll (holder asks again, no write)"
    );
    stop(server).await;

    let server = Server::start(&data, tmp, TWO_RUNS).await;
    let client = Client::new(server.port);
    hand_over_long_poll(&client, "bench/handover-warmup/main", 10).await;
    let mut waited =
        hand_over_long_poll(&client, "bench/handover-wait/main", LONG_POLL_HAND_OVERS).await;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut polled = hand_over_polling(&client, POLLING_HAND_OVERS, &mut seed).await;
    println!();
    println!("hand-over: holder's failure release -> next run answered `acquired`");
    println!(
        "{:<34} {:>32} {:>21}",
        "", "from release answered 200", "from release sent"
    );
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "", "p50", "p99", "mean", "p50", "p99"
    );
    print_hand_overs(
        &format!("long-poll ?wait=30, {LONG_POLL_HAND_OVERS} hand-overs"),
        &mut waited,
    );
    print_hand_overs(
        &format!("polling every 1 s, {POLLING_HAND_OVERS} hand-overs"),
        &mut polled,
    );
    println!(
        "(long-poll: the release's answer and the grant leave after the same disk write; in {} of {LONG_POLL_HAND_OVERS} the grant arrived first, counted as 0)",
        waited.grant_first
    );
    stop(server).await;
}

/// A few hundred sequential state changes and polls before the latency figures.
async fn acquire_latency_warmup(client: &Client) {
    let key = "bench/latency-warmup/main";
    for n in 0..200 {
        let sha = format!("{n:040x}");
        client.acquire(key, &sha, 1, None).await;
        client.acquire(key, &sha, 1, None).await;
        client.release(key, &sha, "success").await;
    }
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    actix_rt::System::new().block_on(bench(tmp.path()));
    println!("\n(bench took {:.0} s)", started.elapsed().as_secs_f64());
}
