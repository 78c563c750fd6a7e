//! Several replicas on PostgreSQL: durable changes per second and acquire latency through
//! the owner and through a forwarding replica, and failover time over 20 kills of the owner.
//!
//! Run with `cargo bench --bench cluster`. It starts a throw-away PostgreSQL (`initdb` into
//! a temp dir, fsync on; see `tests/common/pg.rs`) and three replicas of the release binary
//! on loopback, and drives them with one awc client in one thread; PostgreSQL, the replicas
//! and the client share this machine's cores.

#[path = "../tests/common/mod.rs"]
mod common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::{acquire_body, Server};
use futures_util::future::join_all;
use serde_json::{json, Value};

const THROUGHPUT_FOR: Duration = Duration::from_secs(5);
const LATENCY_SAMPLES: usize = 1000;
const KILLS: usize = 20;
const LEADER_LEASE: &str = "2s";

/// Every run that registers alone wins at once; nothing expires during the bench.
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

    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        };
        let mut res = match body {
            Some(b) => req.send_json(&b).await,
            None => req.send().await,
        }
        .map_err(|e| e.to_string())?;
        let bytes = res.body().limit(1 << 24).await.map_err(|e| e.to_string())?;
        Ok((
            res.status().as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn acquire(&self, key: &str, sha: &str) -> String {
        let (status, json) = self
            .call(
                "POST",
                &format!("/{key}/acquire"),
                Some(acquire_body(sha, 1)),
            )
            .await
            .unwrap_or_else(|e| panic!("acquire {key}: {e}"));
        assert_eq!(status, 200, "acquire {key} {sha}: {json}");
        json["request"]["status"].as_str().unwrap_or("").to_owned()
    }

    async fn release(&self, key: &str, sha: &str) {
        let body = json!({ "head_sha": sha, "status": "success" });
        let (status, json) = self
            .call("POST", &format!("/{key}/release"), Some(body))
            .await
            .unwrap_or_else(|e| panic!("release {key}: {e}"));
        assert_eq!(status, 200, "release {key} {sha}: {json}");
    }
}

/// One provider: acquire a new sha (one durable write), release it (one more), repeat.
async fn churn(client: Rc<Client>, key: String, until: Instant) -> u64 {
    let mut changes = 0;
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let sha = format!("{n:040x}");
        assert_eq!(client.acquire(&key, &sha).await, "acquired");
        client.release(&key, &sha).await;
        changes += 2;
    }
    changes
}

async fn changes_per_second(client: &Rc<Client>, providers: usize, phase: &str) -> f64 {
    let started = Instant::now();
    let until = started + THROUGHPUT_FOR;
    let counts = join_all(
        (0..providers).map(|i| churn(client.clone(), format!("bench/{phase}-{i}/main"), until)),
    )
    .await;
    counts.iter().sum::<u64>() as f64 / started.elapsed().as_secs_f64()
}

/// Sequential acquires that each register a new run and win (one durable write).
async fn acquire_latency(client: &Client, phase: &str) -> Vec<Duration> {
    let key = format!("bench/latency-{phase}/main");
    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..LATENCY_SAMPLES {
        let sha = format!("{n:040x}");
        let t = Instant::now();
        assert_eq!(client.acquire(&key, &sha).await, "acquired");
        samples.push(t.elapsed());
        client.release(&key, &sha).await;
    }
    samples.sort();
    samples
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Replicas {
    pg: PgCluster,
    dir: tempfile::TempDir,
    servers: Vec<Server>,
}

impl Replicas {
    async fn add(&mut self) {
        let url = self.pg.url();
        let mut args = vec![
            "--postgres-url",
            url.as_str(),
            "--leader-lease",
            LEADER_LEASE,
        ];
        args.extend_from_slice(ONE_RUN);
        let data = self.dir.path().join(format!("data-{}", self.servers.len()));
        let server = Server::start(&data, self.dir.path(), &args).await;
        self.servers.push(server);
    }

    /// The live replica the leader row names, once it answers.
    async fn owner(&self) -> usize {
        loop {
            let url = self
                .pg
                .psql("SELECT owner_url FROM mq_lease_leader WHERE id = 1 AND expires_at > now()");
            if let Some(i) = self
                .servers
                .iter()
                .position(|s| s.pid_alive() && url == format!("http://127.0.0.1:{}", s.port))
            {
                let ready = self.servers[i].api().get("/readyz").await;
                if ready.is_ok_and(|a| a.status == 200) {
                    return i;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[actix_web::main]
async fn main() {
    let mut r = Replicas {
        pg: PgCluster::start(),
        dir: tempfile::tempdir().expect("temp dir"),
        servers: Vec::new(),
    };
    for _ in 0..3 {
        r.add().await;
    }
    let owner = r.owner().await;
    let follower = (owner + 1) % 3;
    let via_owner = Rc::new(Client::new(r.servers[owner].port));
    let via_follower = Rc::new(Client::new(r.servers[follower].port));

    println!("Acquire latency, a state change (a new run registers and wins: one commit), {LATENCY_SAMPLES} sequential samples:\n");
    println!("| through | p50 | p99 |");
    println!("|---|---|---|");
    for (name, client, phase) in [
        ("the owner", &via_owner, "o"),
        ("a forwarding replica", &via_follower, "f"),
    ] {
        let s = acquire_latency(client, phase).await;
        println!(
            "| {name} | {} | {} |",
            ms(percentile(&s, 50)),
            ms(percentile(&s, 99))
        );
    }

    // Failover: SIGKILL the owner; time until another replica answers a provider view
    // (not 503); a fresh replica replaces the dead one before the next kill.
    let mut times = Vec::with_capacity(KILLS);
    for _ in 0..KILLS {
        let owner = r.owner().await;
        let survivor = (0..r.servers.len())
            .find(|&i| i != owner && r.servers[i].pid_alive())
            .expect("a survivor");
        let api = r.servers[survivor].api();
        r.servers[owner].kill();
        let killed = Instant::now();
        loop {
            if let Ok(a) = api.get("/bench/o1-0/main").await {
                if a.status != 503 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        times.push(killed.elapsed());
        r.add().await;
    }
    times.sort();
    println!(
        "\nFailover (--leader-lease {LEADER_LEASE}, {KILLS} SIGKILLs of the owner with two providers stored, until a survivor serves): median {}, max {}",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );
    // The replicas changed: find the owner again, with fresh clients.
    let owner = r.owner().await;
    let follower = (0..r.servers.len())
        .find(|&i| i != owner && r.servers[i].pid_alive())
        .expect("a follower");
    let via_owner = Rc::new(Client::new(r.servers[owner].port));
    let via_follower = Rc::new(Client::new(r.servers[follower].port));
    println!("\nDurable state changes per second (acquire or release answered 200 after its COMMIT), {THROUGHPUT_FOR:?} each:\n");
    println!("| providers changing at once | through the owner | through a forwarding replica |");
    println!("|---|---|---|");
    for providers in [1, 16, 256] {
        let o = changes_per_second(&via_owner, providers, &format!("o{providers}")).await;
        let f = changes_per_second(&via_follower, providers, &format!("f{providers}")).await;
        println!("| {providers} | {o:.0} | {f:.0} |");
    }
}
