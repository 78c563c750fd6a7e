//! Several replicas on PostgreSQL (SPEC §10): the real binary, three times, on loopback
//! ports, sharing a throw-away PostgreSQL cluster (`common::pg`).
//!
//! Every test uses a short `--leader-lease` so a failover takes seconds. Time bounds are
//! asserted only where time is the behaviour (`leader_lease + 2 s` after a death).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::{check_invariants, Answer, Api, Server};
use serde_json::{json, Value};

const SHOP: &str = "acme/shop/main";
const LEASE: Duration = Duration::from_secs(2);

/// Two runs make a round ready; nothing expires during a test.
const ROUND_OF_TWO: &[&str] = &[
    "--expected-build-count",
    "2",
    "--stabilisation-window",
    "10m",
    "--ttl",
    "10m",
    "--lease-timeout",
    "10m",
];

/// A PostgreSQL cluster and the replicas that share it.
struct Cluster {
    pg: PgCluster,
    dir: tempfile::TempDir,
    lease: Duration,
    args: Vec<String>,
    replicas: Vec<Server>,
}

impl Cluster {
    async fn start(n: usize, lease: Duration, args: &[&str]) -> Cluster {
        let mut c = Cluster {
            pg: PgCluster::start(),
            dir: tempfile::tempdir().expect("temp dir"),
            lease,
            args: args.iter().map(|a| a.to_string()).collect(),
            replicas: Vec::new(),
        };
        for _ in 0..n {
            c.add().await;
        }
        c
    }

    /// Starts one more replica and waits until it is ready (owns the state or reaches
    /// the owner).
    async fn add(&mut self) -> usize {
        let url = self.pg.url();
        let lease = format!("{}ms", self.lease.as_millis());
        let mut args: Vec<&str> = vec!["--postgres-url", &url, "--leader-lease", &lease];
        args.extend(self.args.iter().map(String::as_str));
        let n = self.replicas.len();
        let data = self.dir.path().join(format!("data-{n}"));
        let server = Server::start(&data, self.dir.path(), &args).await;
        self.replicas.push(server);
        n
    }

    fn api(&self, i: usize) -> Api {
        self.replicas[i].api()
    }

    /// Index of the replica the leader row names as a live owner, if any.
    fn owner(&self) -> Option<usize> {
        let url = self.pg.psql(
            "SELECT owner_url FROM mq_lease_leader WHERE id = 1 AND expires_at > now()",
        );
        self.replicas
            .iter()
            .position(|r| r.pid_alive() && url == format!("http://127.0.0.1:{}", r.port))
    }

    /// Waits (10 s at most) for a live owner among the replicas.
    async fn wait_owner(&self) -> usize {
        let started = Instant::now();
        loop {
            if let Some(i) = self.owner() {
                if self.api(i).get("/readyz").await.is_ok_and(|a| a.status == 200) {
                    return i;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no owner after 10 s; logs:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The live replicas other than `i`.
    fn others(&self, i: usize) -> Vec<usize> {
        (0..self.replicas.len())
            .filter(|&j| j != i && self.replicas[j].pid_alive())
            .collect()
    }

    fn logs(&self) -> String {
        self.replicas
            .iter()
            .map(|r| format!("--- replica :{} ---\n{}", r.port, tail(&r.output())))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// What a caller relies on in an answer: the status code, and for a lease answer its
/// status and token; for a view the runs, their statuses and the last token.
fn essence(a: &Answer) -> Value {
    if a.json.get("known").is_some() {
        return view_essence(&a.json);
    }
    json!({
        "status": a.status,
        "lease": a.json["request"]["status"],
        "token": a.json["request"]["fencing_token"],
        "error": a.json.get("error").is_some(),
    })
}

fn view_essence(view: &Value) -> Value {
    let known: Vec<Value> = view["known"]
        .as_array()
        .map(|k| {
            k.iter()
                .map(|k| json!([k["request"]["head_sha"], k["request"]["status"], k["request"]["fencing_token"]]))
                .collect()
        })
        .unwrap_or_default();
    json!({ "known": known, "last_fencing_token": view["last_fencing_token"] })
}

/// One round, each call through `via(step)`: a registers, b wins, a waits (held) on
/// `held_on`, b fails through another replica so a is granted, a releases, the view.
async fn scripted_round(
    via: impl Fn(usize) -> Api,
    held_on: Api,
    release_on: Api,
) -> Vec<Value> {
    let mut answers = Vec::new();
    let a = via(0).acquire(SHOP, "sha-a", 1, None).await.unwrap();
    answers.push(essence(&a));
    let b = via(1).acquire(SHOP, "sha-b", 2, None).await.unwrap();
    answers.push(essence(&b));
    let b_again = via(2).acquire(SHOP, "sha-b", 2, None).await.unwrap();
    answers.push(essence(&b_again));
    let held = actix_web::rt::spawn(async move { held_on.acquire(SHOP, "sha-a", 1, Some(30)).await });
    // The held call is parked before b fails (its view shows one waiting caller).
    let started = Instant::now();
    loop {
        let view = via(3).view(SHOP).await.unwrap();
        if view["waiting"].as_u64() == Some(1) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never parked: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let token_b = b.token();
    let failed = release_on
        .release(SHOP, "sha-b", "failure", token_b)
        .await
        .unwrap();
    answers.push(essence(&failed));
    let a_won = held.await.unwrap().unwrap();
    answers.push(essence(&a_won));
    let done = via(4)
        .release(SHOP, "sha-a", "success", a_won.token())
        .await
        .unwrap();
    answers.push(essence(&done));
    let stale = via(5).release(SHOP, "sha-b", "success", token_b).await.unwrap();
    answers.push(essence(&stale));
    let view = via(6).get(&format!("/{SHOP}")).await.unwrap();
    check_invariants(&view.json).unwrap();
    answers.push(essence(&view));
    let list = via(7).get("/").await.unwrap();
    answers.push(json!({ "status": list.status }));
    answers
}

#[actix_web::test]
async fn a_round_through_a_different_replica_for_every_call_gives_the_one_replica_answers() {
    // Arrange: the one-replica answers, from the embedded store.
    let dir = tempfile::tempdir().unwrap();
    let single = Server::start(&dir.path().join("data"), dir.path(), ROUND_OF_TWO).await;
    let expected = scripted_round(|_| single.api(), single.api(), single.api()).await;
    let cluster = Cluster::start(3, LEASE, ROUND_OF_TWO).await;
    let owner = cluster.wait_owner().await;
    let followers = cluster.others(owner);

    // Act: every call through the next replica; the held call on a follower, the
    // release that answers it through another replica.
    let apis: Vec<Api> = (0..3).map(|i| cluster.api(i)).collect();
    let answers = scripted_round(
        |step| apis[step % 3].clone(),
        cluster.api(followers[0]),
        cluster.api(followers[1]),
    )
    .await;

    // Assert
    assert_eq!(answers, expected, "logs:\n{}", cluster.logs());
    let held_answer = &answers[4];
    assert_eq!(held_answer["lease"], "acquired", "{answers:?}");
}
