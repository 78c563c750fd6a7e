//! A round's latency (acquire that wins + release: two commits) with TLS to PostgreSQL and
//! without, side by side in one run: one throw-away PostgreSQL with `ssl = on` (a CA and
//! certificate made here, see `tests/common/pg.rs`), one replica of the release binary on
//! `sslmode=verify-full` and one on `sslmode=disable`, each owning its own database, their
//! rounds alternating so both see the same machine.
//!
//! Run with `cargo bench --bench postgres_tls`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::pg::{PgCluster, TestPki};
use common::Server;

const ROUNDS: usize = 1000;
const ONE_RUN: &[&str] = &[
    "--expected-build-count",
    "1",
    "--ttl",
    "10m",
    "--lease-timeout",
    "0",
];

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[actix_web::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = TestPki::new(&["localhost"]);
    let mut pg = PgCluster::start();
    pg.enable_tls(&pki.server_cert_pem, &pki.server_key_pem);
    pg.psql("CREATE DATABASE plain");
    pg.psql("CREATE DATABASE tls");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write ca.pem");
    let urls = [
        (
            "sslmode=disable",
            pg.url_for("127.0.0.1", "sslmode=disable")
                .replace("/postgres?", "/plain?"),
        ),
        (
            "sslmode=verify-full",
            pg.url_for(
                "localhost",
                &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
            )
            .replace("/postgres?", "/tls?"),
        ),
    ];
    let mut servers = Vec::new();
    for (i, (_, url)) in urls.iter().enumerate() {
        let mut args = vec!["--postgres-url", url.as_str()];
        args.extend_from_slice(ONE_RUN);
        let data = dir.path().join(format!("data-{i}"));
        servers.push(Server::start(&data, dir.path(), &args).await);
    }
    let apis: Vec<_> = servers.iter().map(Server::api).collect();
    let mut samples = [Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS)];
    for n in 0..ROUNDS + 50 {
        for (i, api) in apis.iter().enumerate() {
            let sha = format!("{n:040x}");
            let t = Instant::now();
            let a = api.acquire("bench/tls/main", &sha, 1, None).await.unwrap();
            assert_eq!((a.status, a.lease()), (200, "acquired"), "{:?}", a.json);
            let r = api
                .release("bench/tls/main", &sha, "success", a.token())
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{:?}", r.json);
            if n >= 50 {
                samples[i].push(t.elapsed());
            }
        }
    }
    println!("A round (acquire that wins + release, two commits) through one replica, {ROUNDS} rounds each, alternating:\n");
    println!("| connection to PostgreSQL | p50 | p90 | p99 |");
    println!("|---|---|---|---|");
    for ((name, _), s) in urls.iter().zip(samples.iter_mut()) {
        s.sort();
        println!(
            "| {name} | {} | {} | {} |",
            ms(percentile(s, 50)),
            ms(percentile(s, 90)),
            ms(percentile(s, 99))
        );
    }
}
