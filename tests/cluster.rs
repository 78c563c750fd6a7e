//! Several replicas on PostgreSQL (docs/rules.md §10): the real binary, three times, on loopback
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

/// Every run is a round of its own (granted at once); nothing expires during a test.
const ONE_RUN_ROUNDS: &[&str] = &[
    "--expected-build-count",
    "1",
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
        self.add_with(&url, &[]).await
    }

    /// [`Cluster::add`] with another database URL and more flags.
    async fn add_with(&mut self, url: &str, extra: &[&str]) -> usize {
        let lease = format!("{}ms", self.lease.as_millis());
        let mut args: Vec<&str> = vec!["--postgres-url", url, "--leader-lease", &lease];
        args.extend_from_slice(extra);
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
        let url = self
            .pg
            .psql("SELECT owner_url FROM mq_lease_leader WHERE id = 1 AND expires_at > now()");
        self.replicas
            .iter()
            .position(|r| r.pid_alive() && url == format!("http://127.0.0.1:{}", r.port))
    }

    /// Waits (10 s at most) for a live owner among the replicas.
    async fn wait_owner(&self) -> usize {
        let started = Instant::now();
        loop {
            if let Some(i) = self.owner() {
                if self
                    .api(i)
                    .get("/readyz")
                    .await
                    .is_ok_and(|a| a.status == 200)
                {
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
                .map(|k| {
                    json!([
                        k["request"]["head_sha"],
                        k["request"]["status"],
                        k["request"]["fencing_token"]
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "known": known, "last_fencing_token": view["last_fencing_token"] })
}

/// One round, each call through `via(step)`: a registers, b wins, a waits (held) on
/// `held_on`, b fails through another replica so a is granted, a releases, the view.
async fn scripted_round(via: impl Fn(usize) -> Api, held_on: Api, release_on: Api) -> Vec<Value> {
    let mut answers = Vec::new();
    let a = via(0).acquire(SHOP, "sha-a", 1, None).await.unwrap();
    answers.push(essence(&a));
    let b = via(1).acquire(SHOP, "sha-b", 2, None).await.unwrap();
    answers.push(essence(&b));
    let b_again = via(2).acquire(SHOP, "sha-b", 2, None).await.unwrap();
    answers.push(essence(&b_again));
    let held =
        actix_web::rt::spawn(async move { held_on.acquire(SHOP, "sha-a", 1, Some(30)).await });
    // The held call is parked before b fails (its view shows one waiting caller).
    let started = Instant::now();
    loop {
        let view = via(3).view(SHOP).await.unwrap();
        if view["waiting"].as_u64() == Some(1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never parked: {view}"
        );
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
    let stale = via(5)
        .release(SHOP, "sha-b", "success", token_b)
        .await
        .unwrap();
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

/// Waits until `api` answers the provider view with anything but 503 (the view itself is
/// checked by the caller); returns how long it took.
async fn wait_serving(api: &Api, limit: Duration, cluster: &Cluster) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(a) = api.get(&format!("/{SHOP}")).await {
            if a.status != 503 {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < limit,
            "{} did not serve within {limit:?}; logs:\n{}",
            api.base,
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn after_sigkill_of_the_owner_mid_round_the_others_serve_within_the_lease_plus_2s_with_every_acknowledged_change(
) {
    // Arrange: a round in progress, b holds the lease.
    let mut cluster = Cluster::start(3, LEASE, ROUND_OF_TWO).await;
    let owner = cluster.wait_owner().await;
    let f = cluster.others(owner);
    let a = cluster
        .api(f[0])
        .acquire(SHOP, "sha-a", 1, None)
        .await
        .unwrap();
    assert_eq!((a.status, a.lease()), (200, "pending"), "{:?}", a.json);
    let b = cluster
        .api(f[1])
        .acquire(SHOP, "sha-b", 2, None)
        .await
        .unwrap();
    assert_eq!((b.status, b.lease()), (200, "acquired"), "{:?}", b.json);
    let t1 = b.token().unwrap();

    // Act
    cluster.replicas[owner].kill();
    let killed = Instant::now();
    let mut took = Duration::ZERO;
    for &i in &f {
        let limit = (LEASE + Duration::from_secs(2)).saturating_sub(killed.elapsed());
        took = took.max(wait_serving(&cluster.api(i), limit, &cluster).await);
    }

    // Assert: the state of the last acknowledged change, served by both survivors.
    for &i in &f {
        let view = cluster.api(i).view(SHOP).await.unwrap();
        check_invariants(&view).unwrap();
        assert_eq!(
            view_essence(&view),
            json!({ "known": [["sha-a", "pending", null], ["sha-b", "acquired", t1]], "last_fencing_token": t1 }),
            "{view}"
        );
    }
    // Every route works: b fails, a is granted with a higher token, a releases.
    let failed = cluster
        .api(f[1])
        .release(SHOP, "sha-b", "failure", Some(t1))
        .await
        .unwrap();
    assert_eq!(failed.status, 200, "{:?}", failed.json);
    let a = cluster
        .api(f[0])
        .acquire(SHOP, "sha-a", 1, None)
        .await
        .unwrap();
    assert_eq!((a.status, a.lease()), (200, "acquired"), "{:?}", a.json);
    assert!(a.token().unwrap() > t1, "{:?}", a.json);
    let done = cluster
        .api(f[1])
        .release(SHOP, "sha-a", "success", a.token())
        .await
        .unwrap();
    assert_eq!(done.status, 200, "{:?}", done.json);
    println!("served {took:?} after the owner was killed");
}

#[actix_web::test]
async fn an_owner_paused_longer_than_its_lease_grants_nothing_when_it_resumes_and_then_follows() {
    // Arrange: b holds the lease; the owner is paused until another replica took over,
    // which hands the lease to a.
    let cluster = Cluster::start(3, LEASE, ROUND_OF_TWO).await;
    let paused = cluster.wait_owner().await;
    let f = cluster.others(paused);
    cluster
        .api(f[0])
        .acquire(SHOP, "sha-a", 1, None)
        .await
        .unwrap();
    let b = cluster
        .api(f[1])
        .acquire(SHOP, "sha-b", 2, None)
        .await
        .unwrap();
    assert_eq!((b.status, b.lease()), (200, "acquired"), "{:?}", b.json);
    let t1 = b.token().unwrap();
    cluster.replicas[paused].signal("STOP");
    let started = Instant::now();
    let new_owner = loop {
        match cluster.owner() {
            Some(o) if o != paused => break o,
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no new owner:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    wait_serving(&cluster.api(new_owner), Duration::from_secs(10), &cluster).await;
    let failed = cluster
        .api(new_owner)
        .release(SHOP, "sha-b", "failure", Some(t1))
        .await
        .unwrap();
    assert_eq!(failed.status, 200, "{:?}", failed.json);
    let a = cluster
        .api(new_owner)
        .acquire(SHOP, "sha-a", 1, None)
        .await
        .unwrap();
    assert_eq!((a.status, a.lease()), (200, "acquired"), "{:?}", a.json);
    let t2 = a.token().unwrap();
    // Calls to the paused replica wait in its accept queue; they are served the moment
    // it resumes, before it has heard from the database.
    let old = cluster.api(paused);
    let mut queued = Vec::new();
    for _ in 0..4 {
        let old = old.clone();
        queued.push(actix_web::rt::spawn(async move {
            old.acquire(SHOP, "sha-b", 2, None).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Act
    cluster.replicas[paused].signal("CONT");

    // Assert: nothing it answers comes from its stale state (b holding t1).
    let mut answers = Vec::new();
    for q in queued {
        answers.push(q.await.unwrap().unwrap());
    }
    let started = Instant::now();
    let mut forwarded = None;
    while started.elapsed() < Duration::from_secs(3) {
        let a = old.acquire(SHOP, "sha-b", 2, None).await.unwrap();
        if a.status == 200 && forwarded.is_none() {
            forwarded = Some(started.elapsed());
        }
        answers.push(a);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for a in &answers {
        assert!(
            a.status == 503 || (a.status == 200 && a.lease() == "failure"),
            "the resumed replica answered from its stale state: {} {:?}\n{}",
            a.status,
            a.json,
            cluster.logs()
        );
    }
    assert!(
        forwarded.is_some(),
        "it never followed:\n{}",
        cluster.logs()
    );
    let view = old.view(SHOP).await.unwrap();
    assert_eq!(view["last_fencing_token"], json!(t2), "{view}");
    assert_eq!(view["acquired"]["request"]["head_sha"], "sha-a", "{view}");
    assert!(
        cluster.replicas[paused]
            .output()
            .contains("no longer owns the state"),
        "{}",
        cluster.logs()
    );
}

/// What one worker of the load was told: grants and releases answered 200, and how many
/// calls were refused (503) or failed.
#[derive(Default, Debug)]
struct Told {
    granted: Vec<(String, u64)>,
    released: Vec<String>,
    refused: usize,
}

/// One provider per worker: acquire (a round of one run wins at once), release success;
/// through the replicas in turn, until `until`.
async fn churn(apis: Vec<Api>, key: String, worker: usize, until: Instant) -> Told {
    let mut told = Told::default();
    let mut i = 0;
    // At most 150 rounds: their ~450 events stay within the kept history (500), so every
    // acknowledged grant can be looked up afterwards.
    while Instant::now() < until && told.granted.len() < 150 {
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sha = format!("w{worker}-{i}");
        let api = &apis[i % apis.len()];
        let a = match api.acquire(&key, &sha, 1, None).await {
            Ok(a) => a,
            Err(_) => {
                told.refused += 1;
                continue;
            }
        };
        if a.status != 200 || a.lease() != "acquired" {
            told.refused += usize::from(a.status == 503);
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        told.granted.push((sha.clone(), a.token().unwrap()));
        loop {
            let api = &apis[(i + 1) % apis.len()];
            match api.release(&key, &sha, "success", a.token()).await {
                Ok(r) if r.status == 200 => {
                    told.released.push(sha.clone());
                    break;
                }
                Ok(r) if r.status == 503 => told.refused += 1,
                // A release refused earlier may have landed after all (the connection
                // broke during its COMMIT): only what was answered 200 is checked.
                Ok(_) => break,
                Err(_) => told.refused += 1,
            }
            if Instant::now() > until + Duration::from_secs(30) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    told
}

#[actix_web::test]
async fn a_database_restart_under_load_refuses_changes_in_flight_and_loses_none_acknowledged() {
    // Arrange: four workers, each on its own queue, through all three replicas.
    let mut cluster = Cluster::start(3, LEASE, ONE_RUN_ROUNDS).await;
    cluster.wait_owner().await;
    let apis: Vec<Api> = (0..3).map(|i| cluster.api(i)).collect();
    let until = Instant::now() + Duration::from_secs(10);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let apis = apis.clone();
            actix_web::rt::spawn(churn(apis, format!("acme/repo{w}/main"), w, until))
        })
        .collect();

    // Act: the database stops for two seconds under that load, then comes back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.pg.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.pg.start_again();
    let back = Instant::now();
    let mut first_write = None;
    let mut n = 0;
    while first_write.is_none() && back.elapsed() < Duration::from_secs(20) {
        n += 1;
        let a = apis[n % 3]
            .acquire(&format!("acme/probe{n}/main"), "sha-p", 1, None)
            .await;
        if a.is_ok_and(|a| a.status == 200) {
            first_write = Some(back.elapsed());
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut told = Vec::new();
    for w in workers {
        told.push(w.await.unwrap());
    }

    // Assert: calls were refused while it was down, and every grant and release answered
    // 200 is in the history the replicas serve now.
    let refused: usize = told.iter().map(|t| t.refused).sum();
    assert!(
        refused > 0,
        "nothing was refused while the database was down: {told:?}"
    );
    let owner = cluster.wait_owner().await;
    for (w, t) in told.iter().enumerate() {
        let key = format!("acme/repo{w}/main");
        assert!(
            t.granted.len() >= 4,
            "worker {w} barely ran: {t:?}\n{}",
            cluster.logs()
        );
        let events = cluster.api((owner + 1) % 3).events(&key).await.unwrap();
        let events = events["events"].as_array().unwrap().clone();
        let has = |kind: &str, sha: &str, token: Option<u64>| {
            events.iter().any(|e| {
                e["kind"] == kind
                    && e["head_sha"] == sha
                    && token.is_none_or(|t| e["fencing_token"] == json!(t))
            })
        };
        for (sha, token) in &t.granted {
            assert!(
                has("granted", sha, Some(*token)),
                "{key}: grant of {sha} ({token}) lost: {events:?}"
            );
        }
        for sha in &t.released {
            assert!(
                has("released_success", sha, None),
                "{key}: release of {sha} lost: {events:?}"
            );
        }
        let tokens: Vec<u64> = t.granted.iter().map(|g| g.1).collect();
        assert!(
            tokens.windows(2).all(|w| w[0] < w[1]),
            "{key}: tokens {tokens:?}"
        );
    }
    println!(
        "{refused} call(s) refused while the database restarted; the first write succeeded \
         {first_write:?} after it accepted connections again"
    );
}

/// A small PRNG so a failing run can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn seed() -> u64 {
    let seed = std::env::var("MQ_LEASE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("seed {seed} (replay with MQ_LEASE_TEST_SEED={seed})");
    seed
}

/// Every grant a caller was told of, in the order it was told.
#[derive(Default)]
struct Grants {
    told: Vec<(String, u64)>,
    by_token: BTreeMap<u64, BTreeSet<String>>,
}

impl Grants {
    /// Records an answer; an error if it breaks "one run per token" or "tokens rise".
    /// (A run that released `failure` may be granted again later, with a new token.)
    fn record(&mut self, a: &Answer, sha: &str) -> Result<(), String> {
        if a.status != 200 || a.lease() != "acquired" {
            return Ok(());
        }
        let token = a.token().ok_or("acquired without a token")?;
        let highest = self.by_token.keys().next_back().copied();
        let shas = self.by_token.entry(token).or_default();
        let new = shas.insert(sha.to_owned());
        if shas.len() > 1 {
            return Err(format!("token {token} was granted to {shas:?}"));
        }
        if new && highest.is_some_and(|h| token <= h) {
            let (last_sha, last) = self.told.last().cloned().unwrap_or_default();
            return Err(format!(
                "{sha} was granted token {token} after token {highest:?} ({last_sha} {last})"
            ));
        }
        self.told.push((sha.to_owned(), token));
        Ok(())
    }
}

#[actix_web::test]
async fn a_randomised_failover_loop_never_grants_twice_and_tokens_keep_rising() {
    let mut rng = Rng(seed());
    let lease = Duration::from_secs(1);
    // A round is ready with one run, so grants come quickly between the kills.
    let mut cluster = Cluster::start(3, lease, ONE_RUN_ROUNDS).await;
    let mut grants = Grants::default();
    let mut failovers = Vec::new();
    let mut round = 0u64;
    let mut holder: Option<(String, u64)> = None;
    let mut registered = BTreeSet::new();
    for kill in 0..20 {
        let owner = cluster.wait_owner().await;
        // A burst of calls through random replicas, then the owner is killed at a
        // random moment of the next burst.
        let kill_after = 4 + rng.below(16) as usize;
        let mut killed = None;
        for step in 0..20 {
            if step == kill_after {
                cluster.replicas[owner].kill();
                killed = Some(Instant::now());
            }
            let live = cluster.others(usize::MAX);
            let via = cluster.api(live[rng.below(live.len() as u64) as usize]);
            match (rng.below(10), &holder) {
                (0..=5, _) => {
                    let p = rng.below(3) + 1;
                    let sha = format!("r{round}-p{p}");
                    if let Ok(a) = via.acquire(SHOP, &sha, p, None).await {
                        grants
                            .record(&a, &sha)
                            .unwrap_or_else(|e| panic!("kill {kill}: {e}\n{}", cluster.logs()));
                        if a.status == 200 {
                            registered.insert((sha.clone(), p));
                        }
                        if a.status == 200 && a.lease() == "acquired" {
                            holder = Some((sha, a.token().unwrap()));
                        }
                    }
                }
                (6..=8, Some((sha, token))) => {
                    let outcome = if rng.below(4) == 0 {
                        "failure"
                    } else {
                        "success"
                    };
                    if let Ok(r) = via.release(SHOP, sha, outcome, Some(*token)).await {
                        if r.status == 200 {
                            holder = None;
                        }
                        if r.status == 200 && outcome == "success" {
                            // The round ends once each of its runs has been told (one of
                            // them may be granted instead: a run merged into a failed
                            // batch runs again).
                            for (sha, p) in registered.clone() {
                                let started = Instant::now();
                                while started.elapsed() < Duration::from_secs(5) {
                                    let live = cluster.others(usize::MAX);
                                    let via =
                                        cluster.api(live[rng.below(live.len() as u64) as usize]);
                                    let Ok(a) = via.acquire(SHOP, &sha, p, None).await else {
                                        continue;
                                    };
                                    grants.record(&a, &sha).unwrap_or_else(|e| {
                                        panic!("kill {kill}: {e}\n{}", cluster.logs())
                                    });
                                    if a.status == 200 && a.lease() == "acquired" {
                                        holder = Some((sha.clone(), a.token().unwrap()));
                                    }
                                    if a.status == 200 {
                                        break;
                                    }
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                            if holder.is_none() {
                                registered.clear();
                                round += 1;
                            }
                        }
                    }
                }
                _ => {
                    if let Ok(v) = via.get(&format!("/{SHOP}")).await {
                        if v.status == 200 {
                            check_invariants(&v.json).unwrap();
                        }
                    }
                }
            }
        }
        if cluster.replicas[owner].pid_alive() {
            cluster.replicas[owner].kill();
        }
        let killed = killed.unwrap_or_else(Instant::now);
        let survivor = cluster.others(owner)[0];
        // Within leader_lease + 2 s of the death, counted from the kill itself.
        let limit = (lease + Duration::from_secs(2)).saturating_sub(killed.elapsed());
        wait_serving(&cluster.api(survivor), limit, &cluster).await;
        failovers.push(killed.elapsed());
        cluster.add().await;
    }
    let owner = cluster.wait_owner().await;
    let view = cluster.api(owner).view(SHOP).await.unwrap();
    check_invariants(&view).unwrap();
    let last = grants.told.last().map(|g| g.1).unwrap_or(0);
    assert!(
        grants.by_token.len() >= 20,
        "too few grants to mean anything: {:?}",
        grants.told
    );
    assert!(
        view["last_fencing_token"].as_u64().unwrap() >= last,
        "{view}"
    );
    failovers.sort();
    println!(
        "{} grants, 20 kills, failover median {:?} max {:?}",
        grants.by_token.len(),
        failovers[failovers.len() / 2],
        failovers[failovers.len() - 1]
    );
}

#[actix_web::test]
async fn one_replica_on_postgres_gives_the_embedded_store_answers() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let single = Server::start(&dir.path().join("data"), dir.path(), ROUND_OF_TWO).await;
    let expected = scripted_round(|_| single.api(), single.api(), single.api()).await;
    let cluster = Cluster::start(1, LEASE, ROUND_OF_TWO).await;
    cluster.wait_owner().await;

    // Act
    let answers = scripted_round(|_| cluster.api(0), cluster.api(0), cluster.api(0)).await;

    // Assert
    assert_eq!(answers, expected, "logs:\n{}", cluster.logs());
}

#[actix_web::test]
async fn sigterm_on_the_owner_hands_the_state_over_before_its_lease_would_have_run_out() {
    // Arrange: a long lease, so only the hand-over (not the expiry) can be this fast.
    let lease = Duration::from_secs(6);
    let mut cluster = Cluster::start(2, lease, ROUND_OF_TWO).await;
    let owner = cluster.wait_owner().await;
    let other = cluster.others(owner)[0];
    let b = cluster
        .api(other)
        .acquire(SHOP, "sha-b", 2, None)
        .await
        .unwrap();
    assert_eq!(b.status, 200, "{:?}", b.json);

    // Act
    let started = Instant::now();
    let status = cluster.replicas[owner].terminate().await;

    // Assert
    assert!(status.success(), "{status}");
    wait_serving(&cluster.api(other), Duration::from_secs(4), &cluster).await;
    assert!(started.elapsed() < lease, "took {:?}", started.elapsed());
    let view = cluster.api(other).view(SHOP).await.unwrap();
    assert_eq!(view["known"][0]["request"]["head_sha"], "sha-b", "{view}");
    assert!(
        cluster.replicas[owner]
            .output()
            .contains("gave up the state (epoch"),
        "{}",
        cluster.logs()
    );
}

#[actix_web::test]
async fn a_caller_hanging_up_on_a_follower_ends_its_held_call_on_the_owner() {
    // Arrange: c holds, a waits (held) through a follower.
    let cluster = Cluster::start(2, LEASE, ROUND_OF_TWO).await;
    let owner = cluster.wait_owner().await;
    let follower = cluster.others(owner)[0];
    let a = cluster
        .api(owner)
        .acquire(SHOP, "sha-a", 1, None)
        .await
        .unwrap();
    assert_eq!(a.lease(), "pending", "{:?}", a.json);
    let c = cluster
        .api(owner)
        .acquire(SHOP, "sha-c", 3, None)
        .await
        .unwrap();
    assert_eq!(c.lease(), "acquired", "{:?}", c.json);
    let held_via = cluster.api(follower);
    let held =
        actix_web::rt::spawn(async move { held_via.acquire(SHOP, "sha-a", 1, Some(60)).await });
    let started = Instant::now();
    while cluster.api(owner).view(SHOP).await.unwrap()["waiting"] != json!(1) {
        assert!(started.elapsed() < Duration::from_secs(10), "never held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Act: the caller goes away (its connection to the follower closes).
    held.abort();
    let gave_up = held.await;

    // Assert: the owner no longer holds a call for a.
    assert!(gave_up.is_err(), "the held call was answered: {gave_up:?}");
    let started = Instant::now();
    loop {
        let view = cluster.api(owner).view(SHOP).await.unwrap();
        if view["waiting"] == json!(0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still held on the owner: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long until the leader row runs out, by the database clock.
fn lease_left(cluster: &Cluster) -> Duration {
    let ms: i64 = cluster
        .pg
        .psql(
            "SELECT greatest(0, (extract(epoch FROM expires_at - now()) * 1000)::bigint) \
             FROM mq_lease_leader WHERE id = 1",
        )
        .parse()
        .expect("the leader row");
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Plain calls through `via` while `owner` is out of reach: the holder's acquire (its sign
/// of life), a newcomer's acquire (409 while held), and the view. Each is sent once; returns
/// (answer, when it came).
async fn calls_in_flight(via: Vec<Api>, holder: &str) -> Vec<(Answer, Instant)> {
    let mut calls = Vec::new();
    for (n, api) in via.into_iter().enumerate() {
        for k in 0..3 {
            let api = api.clone();
            let holder = holder.to_owned();
            calls.push(actix_web::rt::spawn(async move {
                let answer = match k {
                    0 => api.acquire(SHOP, &holder, 5, None).await,
                    1 => api.acquire(SHOP, &format!("sha-new-{n}"), 9, None).await,
                    _ => api.get(&format!("/{SHOP}")).await,
                };
                (
                    answer.expect("an answer, not a transport error"),
                    Instant::now(),
                )
            }));
        }
    }
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap());
    }
    answers
}

/// Every answer is a right one (the holder still holds with its token, the newcomer is
/// refused, the view names the holder) or a 503 to retry; none came later than `by`.
/// Returns the latest answer's time after `lease_out`.
fn check_in_flight(
    answers: &[(Answer, Instant)],
    holder: &str,
    token: u64,
    lease_out: Instant,
    by: Instant,
    cluster: &Cluster,
) -> Duration {
    let mut worst = Duration::ZERO;
    for (a, at) in answers {
        worst = worst.max(at.saturating_duration_since(lease_out));
        assert!(
            *at <= by,
            "answered {:?} after the owner's lease ran out ({} {:?}); logs:\n{}",
            at.saturating_duration_since(lease_out),
            a.status,
            a.json,
            cluster.logs()
        );
        let right = match a.status {
            503 => true,
            409 => true,
            200 if a.json.get("known").is_some() => {
                a.json["acquired"]["request"]["head_sha"] == holder
                    && a.json["last_fencing_token"] == json!(token)
            }
            200 => a.lease() == "acquired" && a.token() == Some(token),
            _ => false,
        };
        assert!(right, "a wrong answer: {} {:?}", a.status, a.json);
    }
    worst
}

#[actix_web::test]
async fn calls_in_flight_to_an_owner_paused_for_15s_are_answered_within_the_lease_plus_2s_of_its_lease_running_out(
) {
    // Arrange: the lease is held; the owner is paused with plain calls on their way to it
    // through both followers.
    let cluster = Cluster::start(3, LEASE, ONE_RUN_ROUNDS).await;
    let owner = cluster.wait_owner().await;
    let f = cluster.others(owner);
    let h = cluster
        .api(f[0])
        .acquire(SHOP, "sha-h", 5, None)
        .await
        .unwrap();
    assert_eq!((h.status, h.lease()), (200, "acquired"), "{:?}", h.json);
    let t1 = h.token().unwrap();

    // Act
    cluster.replicas[owner].signal("STOP");
    let lease_out = Instant::now() + lease_left(&cluster);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answers = calls_in_flight(f.iter().map(|&i| cluster.api(i)).collect(), "sha-h").await;
    let by = lease_out + LEASE + Duration::from_secs(2);
    let resume_at = lease_out.max(Instant::now()) + Duration::from_secs(15);

    // Assert: answered in time, from the holder's state; nothing granted twice.
    let worst = check_in_flight(&answers, "sha-h", t1, lease_out, by, &cluster);
    let new_owner = cluster.wait_owner().await;
    assert_ne!(new_owner, owner);
    let view = cluster.api(f[1]).view(SHOP).await.unwrap();
    check_invariants(&view).unwrap();
    assert_eq!(view["acquired"]["request"]["head_sha"], "sha-h", "{view}");
    // Tokens still rise: the holder releases, the next run gets a higher token.
    let done = cluster
        .api(f[1])
        .release(SHOP, "sha-h", "success", Some(t1))
        .await
        .unwrap();
    assert_eq!(done.status, 200, "{:?}", done.json);
    let next = granted_token(&cluster.api(f[0]), "sha-next", 6).await;
    assert!(next > t1, "token {next} after {t1}");
    tokio::time::sleep(resume_at.saturating_duration_since(Instant::now())).await;
    cluster.replicas[owner].signal("CONT");
    wait_serving(&cluster.api(owner), Duration::from_secs(10), &cluster).await;
    let seen = cluster.api(owner).view(SHOP).await.unwrap();
    assert_eq!(
        seen["acquired"]["request"]["head_sha"], "sha-next",
        "{seen}"
    );
    println!(
        "pause: {} calls in flight, the last answered {worst:?} after the owner's lease ran out",
        answers.len()
    );
}

/// A TCP proxy the test controls: it forwards to `target` until [`Proxy::cut`], then moves
/// no byte either way (as a partition drops packets); [`Proxy::heal`] closes what it held
/// (as the peers' timeouts would) and forwards new connections again. std threads, so it
/// runs whatever the test's runtime does.
struct Proxy {
    port: u16,
    target: std::sync::Arc<std::sync::atomic::AtomicU16>,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    fn start() -> Proxy {
        use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            target: Arc::new(AtomicU16::new(0)),
            cut: Arc::new(AtomicBool::new(false)),
            generation: Arc::new(AtomicU64::new(0)),
        };
        let (target, cut, generation) = (
            proxy.target.clone(),
            proxy.cut.clone(),
            proxy.generation.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (target, cut, generation) = (target.clone(), cut.clone(), generation.clone());
                std::thread::spawn(move || {
                    let born = generation.load(Ordering::SeqCst);
                    if cut.load(Ordering::SeqCst) {
                        // held unanswered until the cut heals, then closed
                        while generation.load(Ordering::SeqCst) == born {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        return;
                    }
                    let port = target.load(Ordering::SeqCst);
                    let Ok(upstream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                        return;
                    };
                    let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    let (cut2, gen2) = (cut.clone(), generation.clone());
                    std::thread::spawn(move || pump(c2, u2, &cut2, &gen2, born));
                    pump(upstream, client, &cut, &generation, born);
                });
            }
        });
        proxy
    }

    fn forward_to(&self, port: u16) {
        self.target.store(port, std::sync::atomic::Ordering::SeqCst);
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn heal(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

fn pump(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    cut: &std::sync::atomic::AtomicBool,
    generation: &std::sync::atomic::AtomicU64,
    born: u64,
) {
    use std::io::{ErrorKind, Read, Write};
    use std::sync::atomic::Ordering;
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        if generation.load(Ordering::SeqCst) != born {
            break;
        }
        if cut.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

#[actix_web::test]
async fn an_owner_cut_off_from_the_database_and_the_others_grants_nothing_others_take_over_and_it_rejoins_as_a_follower(
) {
    // Arrange: replica 0 reaches PostgreSQL, and is reached by the others, through proxies
    // the test cuts; it owns the state, and the lease is held.
    let db = Proxy::start();
    db.forward_to(0);
    let http = Proxy::start();
    let mut cluster = Cluster::start(0, LEASE, ONE_RUN_ROUNDS).await;
    db.forward_to(cluster.pg.port());
    let via_proxy = cluster.pg.url().replace(
        &format!(":{}/", cluster.pg.port()),
        &format!(":{}/", db.port),
    );
    let advertise = format!("http://127.0.0.1:{}", http.port);
    let cut_off = cluster
        .add_with(&via_proxy, &["--advertise-url", &advertise])
        .await;
    http.forward_to(cluster.replicas[cut_off].port);
    cluster.add().await;
    cluster.add().await;
    let f = cluster.others(cut_off);
    let started = Instant::now();
    while cluster
        .api(f[0])
        .get(&format!("/{SHOP}"))
        .await
        .unwrap()
        .status
        == 503
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let h = cluster
        .api(f[0])
        .acquire(SHOP, "sha-h", 5, None)
        .await
        .unwrap();
    assert_eq!((h.status, h.lease()), (200, "acquired"), "{:?}", h.json);
    let t1 = h.token().unwrap();

    // Act: cut, with calls in flight through both followers.
    db.cut();
    http.cut();
    let lease_out = Instant::now() + lease_left(&cluster);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answers = calls_in_flight(f.iter().map(|&i| cluster.api(i)).collect(), "sha-h").await;
    let by = lease_out + LEASE + Duration::from_secs(2);

    // Assert: answered in time; the cut-off owner grants nothing once its lease ran out.
    let worst = check_in_flight(&answers, "sha-h", t1, lease_out, by, &cluster);
    tokio::time::sleep(lease_out.saturating_duration_since(Instant::now())).await;
    let direct = cluster.api(cut_off);
    for sha in ["sha-h", "sha-x"] {
        let a = direct.acquire(SHOP, sha, 9, None).await.unwrap();
        assert_eq!(a.status, 503, "the cut-off owner answered {:?}", a.json);
    }
    let new_owner = cluster.wait_owner().await;
    assert_ne!(new_owner, cut_off);
    let done = cluster
        .api(f[1])
        .release(SHOP, "sha-h", "success", Some(t1))
        .await
        .unwrap();
    assert_eq!(done.status, 200, "{:?}", done.json);
    let t2 = granted_token(&cluster.api(f[0]), "sha-next", 6).await;
    assert!(t2 > t1);
    // Heal: it rejoins as a follower and serves the new owner's state.
    db.heal();
    http.heal();
    wait_serving(&direct, Duration::from_secs(10), &cluster).await;
    let seen = direct.view(SHOP).await.unwrap();
    assert_eq!(
        seen["acquired"]["request"]["head_sha"], "sha-next",
        "{seen}"
    );
    assert_eq!(cluster.owner(), Some(new_owner), "{}", cluster.logs());
    println!(
        "cut-off: {} calls in flight, the last answered {worst:?} after the owner's lease ran out",
        answers.len()
    );
}

/// Asks as `sha` until it is granted (through 409s and `pending`); its fencing token.
async fn granted_token(api: &Api, sha: &str, priority: u64) -> u64 {
    loop {
        let a = api.acquire(SHOP, sha, priority, None).await.unwrap();
        match (a.status, a.lease(), a.token()) {
            (200, "acquired", Some(token)) => return token,
            (409 | 200, _, _) => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => panic!("{} {:?}", a.status, a.json),
        }
    }
}
