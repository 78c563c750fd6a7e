//! Durability of the real binary: restarts (SIGTERM), crashes (SIGKILL), a corrupt store
//! and two processes on one data directory.
//!
//! Every test runs `mq-lease-service` as a child process on a temp data dir; a `Server`
//! guard kills it when the test ends, however it ends.

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{check_invariants, Api, Server};
use futures_util::future::join_all;
use mq_lease_service::store::{Op, RedbStore as Store};
use serde_json::Value;

const SHOP: &str = "acme/shop/main";

/// A round of four runs with nothing expiring during the test.
const ROUND_OF_FOUR: &[&str] = &[
    "--expected-build-count",
    "4",
    "--stabilisation-window",
    "10m",
    "--ttl",
    "10m",
    "--lease-timeout",
    "10m",
];

/// pr-1..pr-3 register and wait, pr-4 registers last and wins; pr-1..pr-3 ask again and
/// stay pending. Returns pr-4's fencing token.
async fn start_round_of_four(api: &Api) -> u64 {
    for p in 1..=3 {
        let a = api
            .acquire(SHOP, &format!("sha{p}"), p, None)
            .await
            .unwrap();
        assert_eq!((a.status, a.lease()), (200, "pending"), "{:?}", a.json);
    }
    let won = api.acquire(SHOP, "sha4", 4, None).await.unwrap();
    assert_eq!(
        (won.status, won.lease()),
        (200, "acquired"),
        "{:?}",
        won.json
    );
    let stacked: Vec<u64> = won.json["stacked_pull_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(stacked, [1, 2, 3, 4]);
    for p in 1..=3 {
        let a = api
            .acquire(SHOP, &format!("sha{p}"), p, None)
            .await
            .unwrap();
        assert_eq!((a.status, a.lease()), (200, "pending"), "{:?}", a.json);
    }
    won.token()
        .expect("an acquired answer carries a fencing token")
}

/// Everything a restart must keep: the provider view, the list of providers and the history.
async fn observable_state(api: &Api) -> (Value, Value, Value) {
    let view = api.view(SHOP).await.unwrap();
    check_invariants(&view).unwrap();
    let list = api.get("/").await.unwrap();
    assert_eq!(list.status, 200);
    (view, list.json, api.events(SHOP).await.unwrap())
}

/// SIGTERM, check the exit was graceful, start again on the same data dir.
async fn restart(server: &mut Server, data: &Path, logs: &Path, args: &[&str]) -> Server {
    let status = server.terminate().await;
    assert!(
        status.success(),
        "SIGTERM must stop the server cleanly, got {status}; output:\n{}",
        server.output()
    );
    Server::start(data, logs, args).await
}

fn event_kinds(events: &Value) -> Vec<String> {
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let sha = e["head_sha"].as_str().unwrap_or("-");
            format!("{} {sha}", e["kind"].as_str().unwrap())
        })
        .collect()
}

#[actix_web::test]
async fn a_round_stopped_with_sigterm_mid_round_resumes_identically_and_completes_on_success() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, tmp.path(), ROUND_OF_FOUR).await;
    let api = server.api();
    let token = start_round_of_four(&api).await;
    let before = observable_state(&api).await;
    assert_eq!(before.0["acquired"]["request"]["head_sha"], "sha4");
    assert_eq!(before.0["known"].as_array().unwrap().len(), 4);

    // pr-1 is held in a long-poll when SIGTERM arrives: it is answered, not cut off.
    let held = api.acquire(SHOP, "sha1", 1, Some(60));
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        restart(&mut server, &data, tmp.path(), ROUND_OF_FOUR).await
    };
    let started = Instant::now();
    let (held, mut server) = futures_util::future::join(held, stop).await;
    let held = held.expect("a held acquire is answered at shutdown");
    assert_eq!(
        (held.status, held.lease()),
        (200, "pending"),
        "{:?}",
        held.json
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    let api = server.api();
    let after = observable_state(&api).await;
    assert_eq!(
        after.0, before.0,
        "provider view changed across the restart"
    );
    assert_eq!(
        after.1, before.1,
        "provider list changed across the restart"
    );
    assert_eq!(after.2, before.2, "history changed across the restart");

    // Finish the round: the holder succeeds, the others are told `completed`.
    let released = api
        .release(SHOP, "sha4", "success", Some(token))
        .await
        .unwrap();
    assert_eq!((released.status, released.lease()), (200, "completed"));
    for p in 1..=3 {
        let a = api
            .acquire(SHOP, &format!("sha{p}"), p, None)
            .await
            .unwrap();
        assert_eq!((a.status, a.lease()), (200, "completed"), "{:?}", a.json);
    }
    let idle = api.view(SHOP).await.unwrap();
    assert_eq!(idle["acquired"], Value::Null);
    assert_eq!(idle["known"], serde_json::json!([]), "the round is over");
    let next = api.acquire(SHOP, "sha5", 1, None).await.unwrap();
    assert_eq!(
        (next.status, next.lease()),
        (200, "pending"),
        "a new round starts"
    );

    // That end of the round is durable too.
    let before = observable_state(&api).await;
    let server = restart(&mut server, &data, tmp.path(), ROUND_OF_FOUR).await;
    let after = observable_state(&server.api()).await;
    assert_eq!(after, before);
    let kinds = event_kinds(&after.2);
    assert_eq!(
        kinds[..5],
        [
            "registered sha5",
            "completed sha3",
            "completed sha2",
            "completed sha1",
            "released_success sha4",
        ]
    );
}

#[actix_web::test]
async fn fencing_tokens_keep_rising_across_restarts_as_failures_hand_the_lease_down() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, tmp.path(), ROUND_OF_FOUR).await;
    let t4 = start_round_of_four(&server.api()).await;

    let before = observable_state(&server.api()).await;
    server = restart(&mut server, &data, tmp.path(), ROUND_OF_FOUR).await;
    let api = server.api();
    assert_eq!(observable_state(&api).await, before);

    // pr-4 fails after the restart: pr-3, the next highest, wins at once with a larger token.
    let failed = api
        .release(SHOP, "sha4", "failure", Some(t4))
        .await
        .unwrap();
    assert_eq!((failed.status, failed.lease()), (200, "failure"));
    let won = api.acquire(SHOP, "sha3", 3, None).await.unwrap();
    assert_eq!(
        (won.status, won.lease()),
        (200, "acquired"),
        "{:?}",
        won.json
    );
    let t3 = won.token().unwrap();
    assert!(t3 > t4, "token {t3} after the restart is not above {t4}");

    let before = observable_state(&api).await;
    server = restart(&mut server, &data, tmp.path(), ROUND_OF_FOUR).await;
    let api = server.api();
    assert_eq!(observable_state(&api).await, before);

    // The old holder's token is stale after the restart; its retried release is still idempotent.
    let stale = api
        .release(SHOP, "sha2", "failure", Some(t4))
        .await
        .unwrap();
    assert_eq!(stale.status, 409, "{:?}", stale.json);
    let retried = api
        .release(SHOP, "sha4", "failure", Some(t4))
        .await
        .unwrap();
    assert_eq!((retried.status, retried.lease()), (200, "failure"));

    let failed = api
        .release(SHOP, "sha3", "failure", Some(t3))
        .await
        .unwrap();
    assert_eq!((failed.status, failed.lease()), (200, "failure"));
    let won = api.acquire(SHOP, "sha2", 2, None).await.unwrap();
    assert_eq!(
        (won.status, won.lease()),
        (200, "acquired"),
        "{:?}",
        won.json
    );
    let t2 = won.token().unwrap();
    assert!(
        t2 > t3,
        "token {t2} after the second restart is not above {t3}"
    );

    // The history keeps every grant, from before and after both restarts.
    let events = api.events(SHOP).await.unwrap();
    let grants: Vec<(String, u64)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "granted")
        .map(|e| {
            let sha = e["head_sha"].as_str().unwrap().to_owned();
            (sha, e["fencing_token"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        grants,
        [
            ("sha2".into(), t2),
            ("sha3".into(), t3),
            ("sha4".into(), t4)
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Crash test

/// xorshift64*: small, seedable, good enough to pick calls.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const CRASH_KEYS: &[&str] = &["acme/shop/main", "acme/shop/release/1.x", "acme/web/main"];
const CRASH_ARGS: &[&str] = &[
    "--expected-build-count",
    "3",
    "--stabilisation-window",
    "10m",
    "--ttl",
    "10m",
    "--lease-timeout",
    "0",
];

/// A state-changing call.
#[derive(Debug, Clone)]
enum Call {
    Acquire { sha: String, priority: u64 },
    Release { sha: String, outcome: &'static str },
    Clear,
}

/// What the acknowledged answers say a provider must look like.
#[derive(Debug, Clone, Default)]
struct Model {
    /// The run holding a live lease, with its token.
    holder: Option<(String, u64)>,
    /// Runs answered `pending` and not since completed, granted or cleared (sha → priority).
    pending: BTreeMap<String, u64>,
    /// The largest fencing token handed out.
    last_token: u64,
}

impl Model {
    fn from_view(view: &Value) -> Model {
        let holder = match &view["acquired"] {
            Value::Null => None,
            a => Some((
                a["request"]["head_sha"].as_str().unwrap().to_owned(),
                a["request"]["fencing_token"].as_u64().unwrap(),
            )),
        };
        let pending = view["known"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| &k["request"])
            .filter(|r| r["status"] == "pending")
            .map(|r| {
                let sha = r["head_sha"].as_str().unwrap().to_owned();
                (sha, r["priority"].as_u64().unwrap())
            })
            .collect();
        Model {
            holder,
            pending,
            last_token: view["last_fencing_token"].as_u64().unwrap(),
        }
    }

    /// Nothing acknowledged yet: the provider need not exist.
    fn is_empty(&self) -> bool {
        self.holder.is_none() && self.pending.is_empty() && self.last_token == 0
    }

    /// Applies an acknowledged answer to `call`; panics on an answer the rules forbid.
    fn apply(&mut self, call: &Call, answer: &common::Answer) {
        let lease = answer.lease();
        match call {
            Call::Acquire { sha, priority } => match (answer.status, lease) {
                (200, "acquired") => {
                    let token = answer.token().expect("token");
                    match &self.holder {
                        Some((h, t)) if h == sha => assert_eq!(token, *t, "holder's token changed"),
                        Some(h) => panic!("{sha} acquired while {h:?} holds the lease"),
                        None => assert!(
                            token > self.last_token,
                            "token {token} not above {}",
                            self.last_token
                        ),
                    }
                    self.pending.remove(sha);
                    self.last_token = self.last_token.max(token);
                    self.holder = Some((sha.clone(), token));
                }
                (200, "pending") => {
                    self.pending.insert(sha.clone(), *priority);
                }
                (200, "completed") => {
                    self.pending.remove(sha);
                }
                (200, "failure") | (409, _) => {}
                other => panic!("acquire {sha}: unexpected answer {other:?} {}", answer.json),
            },
            Call::Release { sha, .. } => match answer.status {
                404 if self.is_empty() => {}
                200 => {
                    if self.holder.as_ref().is_some_and(|(h, _)| h == sha) {
                        self.holder = None;
                    }
                }
                400 | 409 => {}
                other => panic!("release {sha}: unexpected {other} {}", answer.json),
            },
            Call::Clear if answer.status == 404 && self.is_empty() => {}
            Call::Clear => {
                assert_eq!(answer.status, 200, "clear: {}", answer.json);
                assert_eq!(answer.json["known"], serde_json::json!([]));
                self.holder = None;
                self.pending.clear();
            }
        }
    }

    /// Does `view` show exactly what the model says?
    fn matches(&self, view: &Value) -> Result<(), String> {
        let seen = Model::from_view(view);
        if seen.holder != self.holder || seen.pending != self.pending {
            return Err(format!("expected {self:?}, the server shows {view}"));
        }
        if seen.last_token < self.last_token {
            return Err(format!(
                "token went down: expected ≥ {}: {view}",
                self.last_token
            ));
        }
        Ok(())
    }

    /// Does `view` show the model, or the model plus the effect `call` may have had
    /// (it was in flight, unanswered, when the server was killed)?
    fn matches_allowing(&self, call: &Call, view: &Value) -> Result<(), String> {
        if self.matches(view).is_ok() {
            return Ok(());
        }
        let seen = Model::from_view(view);
        let fail = || {
            Err(format!(
                "after {call:?} in flight, expected {self:?} or its effect, the server shows {view}"
            ))
        };
        if seen.last_token < self.last_token {
            return fail();
        }
        match call {
            Call::Acquire { sha, .. } => {
                // An acquire cannot take a live lease away; it may win a free one.
                let holder_ok = match (&self.holder, &seen.holder) {
                    (Some(h), s) => Some(h) == s.as_ref(),
                    (None, None) => true,
                    (None, Some((s, t))) => s == sha && *t > self.last_token,
                };
                // It may only register, re-prioritise, complete or promote `sha` itself.
                let others = |m: &BTreeMap<String, u64>| {
                    m.iter()
                        .filter(|(s, _)| *s != sha)
                        .map(|(s, p)| (s.clone(), *p))
                        .collect::<Vec<_>>()
                };
                if holder_ok && others(&seen.pending) == others(&self.pending) {
                    return Ok(());
                }
            }
            Call::Release { sha, .. } => {
                let released = self.holder.as_ref().is_some_and(|(h, _)| h == sha)
                    && seen.holder.is_none()
                    && seen.pending == self.pending;
                if released {
                    return Ok(());
                }
            }
            Call::Clear => {
                if view["known"] == serde_json::json!([]) && seen.holder.is_none() {
                    return Ok(());
                }
            }
        }
        fail()
    }
}

/// One client per provider, calling one at a time, as many runs of one merge queue would.
struct Driver {
    key: &'static str,
    model: Model,
    /// The call sent but not answered when the server died.
    in_flight: Option<Call>,
    /// The view read after the last answered call, if nothing was sent after it.
    settled: Option<Value>,
    holder_priority: Option<u64>,
    next_sha: u64,
    acknowledged: u64,
}

impl Driver {
    fn pick(&mut self, rng: &mut Rng) -> Call {
        let roll = rng.below(100);
        if roll < 4 {
            return Call::Clear;
        }
        if roll < 30 {
            if let Some((holder, _)) = &self.model.holder {
                let outcome = if rng.chance(50) { "success" } else { "failure" };
                return Call::Release {
                    sha: holder.clone(),
                    outcome,
                };
            }
        }
        if roll < 34 {
            // Someone who does not hold the lease tries to release it: 400, nothing changes.
            if let Some(sha) = self.model.pending.keys().next() {
                return Call::Release {
                    sha: sha.clone(),
                    outcome: "failure",
                };
            }
        }
        if roll < 70 && !self.model.pending.is_empty() {
            // A known run asks again, sometimes with a new priority.
            let n = rng.below(self.model.pending.len() as u64) as usize;
            let (sha, priority) = self.model.pending.iter().nth(n).unwrap();
            let priority = if rng.chance(15) {
                1 + rng.below(5)
            } else {
                *priority
            };
            return Call::Acquire {
                sha: sha.clone(),
                priority,
            };
        }
        if roll < 78 {
            if let Some((holder, _)) = &self.model.holder {
                // The holder shows it is alive, with the priority it won with.
                return Call::Acquire {
                    sha: holder.clone(),
                    priority: self.holder_priority.unwrap_or(1),
                };
            }
        }
        self.next_sha += 1;
        Call::Acquire {
            sha: format!("{:08x}", self.next_sha),
            priority: 1 + rng.below(5),
        }
    }

    /// Calls until the server is gone. Each answered call is checked against the model
    /// and the live view.
    async fn run(mut self, api: Api, mut rng: Rng, killed: Rc<Cell<bool>>) -> Driver {
        while !killed.get() {
            let call = self.pick(&mut rng);
            self.settled = None;
            self.in_flight = Some(call.clone());
            let answer = match &call {
                Call::Acquire { sha, priority } => {
                    api.acquire(self.key, sha, *priority, None).await
                }
                Call::Release { sha, outcome } => api.release(self.key, sha, outcome, None).await,
                Call::Clear => api.delete(&format!("/{}", self.key)).await,
            };
            let Ok(answer) = answer else { break };
            self.in_flight = None;
            self.model.apply(&call, &answer);
            if answer.lease() == "acquired" {
                self.holder_priority = answer.json["request"]["priority"].as_u64();
            }
            if answer.status == 200 {
                self.acknowledged += 1;
            }
            let Ok(view) = api.view(self.key).await else {
                break;
            };
            check_invariants(&view).unwrap_or_else(|e| panic!("{}: {e}", self.key));
            self.model
                .matches(&view)
                .unwrap_or_else(|e| panic!("{} live: {e}", self.key));
            self.settled = Some(view);
        }
        self
    }

    /// After the restart: the view keeps every acknowledged change.
    fn check_after_restart(&mut self, view: &Value) -> Result<(), String> {
        check_invariants(view)?;
        match (&self.settled, &self.in_flight) {
            (Some(settled), _) => {
                let mut settled = settled.clone();
                settled["waiting"] = view["waiting"].clone();
                if &settled != view {
                    return Err(format!("view before the kill {settled}\nafter {view}"));
                }
            }
            (None, Some(call)) => self.model.matches_allowing(call, view)?,
            (None, None) => self.model.matches(view)?,
        }
        // Carry on from what is there (an unanswered call may or may not have happened).
        self.model = Model::from_view(view);
        self.holder_priority = view["acquired"]["request"]["priority"].as_u64();
        self.in_flight = None;
        self.settled = None;
        Ok(())
    }
}

#[actix_web::test]
async fn every_acknowledged_change_survives_sigkill_at_random_moments() {
    const CYCLES: u64 = 40;
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let started = Instant::now();

    let mut drivers: Vec<Driver> = CRASH_KEYS
        .iter()
        .map(|key| Driver {
            key,
            model: Model::default(),
            in_flight: None,
            settled: None,
            holder_priority: None,
            next_sha: 0,
            acknowledged: 0,
        })
        .collect();
    let mut unanswered = 0;
    for cycle in 0..CYCLES {
        let mut server = Server::start(&data, tmp.path(), CRASH_ARGS).await;
        let api = server.api();
        for d in &mut drivers {
            let key = d.key;
            match api.get(&format!("/{key}")).await.unwrap() {
                a if a.status == 200 => d.check_after_restart(&a.json).unwrap_or_else(|e| {
                    panic!("seed {seed}, cycle {cycle}, {key} after restart: {e}")
                }),
                // Never created: nothing may have been acknowledged for it.
                a if a.status == 404 => assert!(
                    d.model.is_empty(),
                    "seed {seed}, cycle {cycle}: {key} lost: {:?}",
                    d.model
                ),
                a => panic!("seed {seed}: GET {key}: {a:?}"),
            }
        }

        let killed = Rc::new(Cell::new(false));
        let runs = join_all(drivers.into_iter().enumerate().map(|(i, d)| {
            let rng = Rng::new(rng.next() ^ (i as u64 + 1));
            d.run(api.clone(), rng, killed.clone())
        }));
        let kill_after = Duration::from_millis(50 + rng.below(450));
        let kill = async {
            tokio::time::sleep(kill_after).await;
            killed.set(true);
            server.kill();
        };
        let (after, ()) = futures_util::future::join(runs, kill).await;
        drivers = after;
        unanswered += drivers.iter().filter(|d| d.in_flight.is_some()).count();
    }
    let acknowledged: u64 = drivers.iter().map(|d| d.acknowledged).sum();
    println!(
        "{CYCLES} crashes, {acknowledged} calls answered 200, {unanswered} calls in flight at a kill, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(acknowledged > 100, "too little happened to prove anything");
}

// ---------------------------------------------------------------------------------------
// Refusing to start

/// Runs the binary to its exit (at most 30 s); returns (succeeded, output).
async fn run_to_exit(data: &Path, logs: &Path) -> (bool, String) {
    let mut server = Server::spawn(data, logs, &[]);
    let status = server.wait_exit(Duration::from_secs(30)).await;
    (status.success(), server.output())
}

#[actix_web::test]
async fn a_corrupt_record_stops_startup_with_a_message_naming_the_provider_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let store = Store::open(&data).unwrap();
    store
        .commit_and_wait(vec![Op::Put {
            key: "acme:shop:main".into(),
            record: b"not json".to_vec(),
            events: vec![],
            keep_events_from: 0,
        }])
        .await
        .unwrap();
    store.shutdown();
    drop(store);

    let (succeeded, output) = run_to_exit(&data, tmp.path()).await;
    assert!(!succeeded, "started on a corrupt store; output:\n{output}");
    assert!(output.contains("acme:shop:main"), "{output}");
    assert!(output.contains("leases.redb"), "{output}");
}

/// Writes `record` (and `events`, `seq json` per line) for acme:shop:main into a new store in `data`.
async fn seed(data: &Path, record: &str, events: &str) {
    let store = Store::open(data).unwrap();
    let events = events
        .lines()
        .map(|line| {
            let (seq, json) = line.split_once(' ').unwrap();
            (seq.parse().unwrap(), json.as_bytes().to_vec())
        })
        .collect();
    store
        .commit_and_wait(vec![Op::Put {
            key: "acme:shop:main".into(),
            record: record.trim_end().as_bytes().to_vec(),
            events,
            keep_events_from: 0,
        }])
        .await
        .unwrap();
    store.shutdown();
}

const FIXTURE_V1: &str = include_str!("fixtures/provider-record-v1.json");
const FIXTURE_V1_EVENTS: &str = include_str!("fixtures/provider-events-v1.txt");

/// The service started on the schema-1 fixture record with `events`, its runs given long
/// enough that none expires while a test looks.
async fn serve_schema_1(tmp: &Path, data: &Path, events: &str) -> Server {
    seed(data, FIXTURE_V1, events).await;
    Server::start(data, tmp, &["--ttl", "10m", "--lease-timeout", "10m"]).await
}

/// History is read from the store when asked for, not at start: a stored event this build
/// cannot decode leaves the leases served and makes only the history answer, with a JSON
/// error naming the provider and the event.
#[actix_web::test]
async fn an_undecodable_stored_event_leaves_the_leases_served_and_the_history_answers_503_naming_it(
) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let newer =
        FIXTURE_V1_EVENTS.replacen("\"kind\":\"paused\"", "\"kind\":\"from_the_future\"", 1);
    assert_ne!(newer, FIXTURE_V1_EVENTS);
    let server = serve_schema_1(tmp.path(), &data, &newer).await;
    let api = server.api();
    let history = api.get(&format!("/{SHOP}/events")).await.unwrap();
    let view = api.view(SHOP).await.unwrap();
    let holder = api.acquire(SHOP, "ddd4", 5, None).await.unwrap();
    let ready = api.get("/readyz").await.unwrap();
    let page = api.get(&format!("/ui/{SHOP}")).await.unwrap();

    assert_eq!(history.status, 503, "{}", history.json);
    let error = history.json["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("acme:shop:main") && error.contains("event 18"),
        "{}",
        history.json
    );
    assert_eq!(view["acquired"]["request"]["head_sha"], "ddd4", "{view}");
    assert_eq!(holder.lease(), "acquired", "{:?}", holder.json);
    assert_eq!(
        ready.status, 200,
        "a bad event is no reason to stop serving"
    );
    // The status page still shows the queue, and says why its events are missing.
    let html = page.json["raw"].as_str().unwrap_or_default();
    assert_eq!(page.status, 200, "{html}");
    assert!(html.contains("ddd4"), "the queue is shown: {html}");
    assert!(
        html.contains("id=\"events-unavailable\"") && html.contains("event 18"),
        "{html}"
    );
}

#[actix_web::test]
async fn a_record_of_an_unknown_newer_schema_stops_startup_naming_the_provider_and_both_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let newer = FIXTURE_V1.replacen("{\"version\":1,", "{\"version\":7,", 1);
    assert_ne!(newer, FIXTURE_V1);
    seed(&data, &newer, "").await;

    let (succeeded, output) = run_to_exit(&data, tmp.path()).await;
    assert!(!succeeded, "started on a newer record; output:\n{output}");
    assert!(output.contains("acme:shop:main"), "{output}");
    assert!(output.contains("schema version 7"), "{output}");
    assert!(output.contains("reads version 1"), "{output}");
}

#[actix_web::test]
async fn a_record_written_by_schema_1_serves_its_holder_queue_pause_and_history_after_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = serve_schema_1(tmp.path(), &data, FIXTURE_V1_EVENTS).await;
    let api = server.api();
    let view = api.view(SHOP).await.unwrap();
    check_invariants(&view).unwrap();
    assert_eq!(view["acquired"]["request"]["head_sha"], "ddd4", "{view}");
    assert_eq!(view["acquired"]["fencing_token"], 2, "{view}");
    assert_eq!(view["paused"], true, "{view}");
    let known: Vec<&str> = view["known"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request"]["head_sha"].as_str().unwrap())
        .collect();
    assert_eq!(known, ["ccc3", "ddd4"], "{view}");
    let events = api.events(SHOP).await.unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 9, "{events}");
    assert_eq!(kinds[0], "paused", "{events}");
    // A finished run is still recognised: bbb2's round ended, it is told so again.
    let again = api.acquire(SHOP, "bbb2", 2, None).await.unwrap();
    assert_eq!(again.lease(), "completed", "{:?}", again.json);
}

#[actix_web::test]
async fn a_second_process_on_the_same_data_dir_refuses_to_start_and_the_first_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = Server::start(&data, tmp.path(), &[]).await;

    let (succeeded, output) = run_to_exit(&data, tmp.path()).await;
    assert!(!succeeded, "a second server started; output:\n{output}");
    assert!(output.contains("locked"), "{output}");
    assert!(output.contains("another mq-lease-service"), "{output}");

    let api = first.api();
    assert_eq!(api.get("/readyz").await.unwrap().status, 200);
    let a = api.acquire(SHOP, "sha1", 1, None).await.unwrap();
    assert_eq!((a.status, a.lease()), (200, "pending"), "{:?}", a.json);
}
