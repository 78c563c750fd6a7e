//! PostgreSQL in production (docs/rules.md §12): TLS as libpq's `sslmode` and `sslrootcert` say, and
//! the password from a file or `PGPASSWORD`. The real binary against a real PostgreSQL whose
//! CA and server certificate the test makes (rcgen).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::pg::{PgCluster, TestPki};
use common::Server;

const SHOP: &str = "acme/shop/main";
const ONE_RUN_ROUNDS: &[&str] = &["--expected-build-count", "1", "--ttl", "10m"];

/// A PostgreSQL with `ssl = on` and a certificate for `names`, and its CA in `dir/ca.pem`.
fn tls_cluster(dir: &Path, names: &[&str]) -> PgCluster {
    let pki = TestPki::new(names);
    let mut pg = PgCluster::start();
    pg.enable_tls(&pki.server_cert_pem, &pki.server_key_pem);
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    pg
}

fn ca(dir: &Path) -> String {
    dir.join("ca.pem").display().to_string()
}

/// Starts the binary on `url` (plus `args`) and expects it to stop: returns its output and
/// how long it took.
async fn refused(dir: &Path, url: &str, args: &[&str], env: &[(&str, &str)]) -> (String, Duration) {
    let started = Instant::now();
    let mut all = vec!["--postgres-url", url];
    all.extend_from_slice(args);
    let mut server = Server::spawn_env(&dir.join("data"), dir, &all, env);
    let status = server.wait_exit(Duration::from_secs(20)).await;
    let took = started.elapsed();
    assert!(!status.success(), "it started:\n{}", server.output());
    (server.output(), took)
}

async fn serves(dir: &Path, url: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut all = vec!["--postgres-url", url];
    all.extend_from_slice(args);
    all.extend_from_slice(ONE_RUN_ROUNDS);
    let mut server = Server::spawn_env(&dir.join("data"), dir, &all, env);
    server.wait_ready().await;
    server
}

/// Whether the service's connections to `pg` use TLS (every one of them), from pg_stat_ssl.
fn service_connections_use_tls(pg: &PgCluster) -> Vec<bool> {
    pg.psql(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'mq-lease-service'",
    )
    .lines()
    .map(|l| l.trim() == "t")
    .collect()
}

#[actix_web::test]
async fn verify_full_with_the_servers_ca_serves_a_whole_round_over_tls() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let pg = tls_cluster(dir.path(), &["localhost"]);
    let url = pg.url_for(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", ca(dir.path())),
    );
    let server = serves(dir.path(), &url, &[], &[]).await;
    let api = server.api();

    // Act
    let a = api.acquire(SHOP, "sha-a", 1, None).await.unwrap();
    let released = api
        .release(SHOP, "sha-a", "success", a.token())
        .await
        .unwrap();
    let view = api.view(SHOP).await.unwrap();

    // Assert
    assert_eq!((a.status, a.lease()), (200, "acquired"), "{:?}", a.json);
    assert_eq!(
        (released.status, released.lease()),
        (200, "completed"),
        "{:?}",
        released.json
    );
    assert_eq!(
        view["last_fencing_token"],
        a.json["request"]["fencing_token"]
    );
    let tls = service_connections_use_tls(&pg);
    assert!(
        !tls.is_empty() && tls.iter().all(|t| *t),
        "pg_stat_ssl: {tls:?}"
    );
    assert!(
        server
            .output()
            .contains("sslmode=verify-full, chain and host name checked"),
        "{}",
        server.output()
    );
}

#[actix_web::test]
async fn a_certificate_from_another_ca_stops_the_start_within_seconds_naming_the_host_not_the_password(
) {
    // Arrange: the server's certificate is from one CA, the service trusts another.
    let dir = tempfile::tempdir().unwrap();
    let pg = tls_cluster(dir.path(), &["localhost"]);
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, TestPki::new(&["localhost"]).ca_pem).unwrap();
    let url = pg.url_for(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", other.display()),
    );

    // Act
    let (output, took) = refused(dir.path(), &url, &[], &[]).await;

    // Assert
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        output.contains("postgres://postgres@localhost:"),
        "{output}"
    );
    assert!(output.contains("invalid peer certificate"), "{output}");
    assert!(output.contains("UnknownIssuer"), "{output}");
    assert!(
        !output.contains(pg.password()),
        "the password leaked:\n{output}"
    );
}

#[actix_web::test]
async fn a_host_name_the_certificate_does_not_name_is_refused_by_verify_full_and_accepted_by_verify_ca(
) {
    // Arrange: the certificate names `localhost`; the service connects to 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let pg = tls_cluster(dir.path(), &["localhost"]);
    let full = pg.url_for(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={}", ca(dir.path())),
    );
    let chain = pg.url_for(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", ca(dir.path())),
    );

    // Act
    let (output, took) = refused(dir.path(), &full, &[], &[]).await;
    let server = serves(dir.path(), &chain, &[], &[]).await;

    // Assert
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        output.contains("certificate not valid for name \"127.0.0.1\""),
        "{output}"
    );
    assert!(output.contains("127.0.0.1"), "{output}");
    let a = server.api().acquire(SHOP, "sha-a", 1, None).await.unwrap();
    assert_eq!((a.status, a.lease()), (200, "acquired"), "{:?}", a.json);
}

#[actix_web::test]
async fn require_against_a_server_without_tls_is_refused() {
    // Arrange: a server with ssl = off (the default of initdb).
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start();
    let url = pg.url_for("127.0.0.1", "sslmode=require");

    // Act
    let (output, took) = refused(dir.path(), &url, &[], &[]).await;

    // Assert
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(output.contains("server does not support TLS"), "{output}");
    assert!(
        !output.contains(pg.password()),
        "the password leaked:\n{output}"
    );
}

#[actix_web::test]
async fn disable_speaks_plain_text_even_to_a_server_that_offers_tls() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let pg = tls_cluster(dir.path(), &["localhost"]);
    let url = pg.url_for("127.0.0.1", "sslmode=disable");

    // Act
    let server = serves(dir.path(), &url, &[], &[]).await;
    let a = server.api().acquire(SHOP, "sha-a", 1, None).await.unwrap();

    // Assert
    assert_eq!((a.status, a.lease()), (200, "acquired"), "{:?}", a.json);
    let tls = service_connections_use_tls(&pg);
    assert!(
        !tls.is_empty() && tls.iter().all(|t| !*t),
        "pg_stat_ssl: {tls:?}"
    );
}

#[actix_web::test]
async fn the_password_file_beats_a_wrong_password_in_the_url_and_pgpassword() {
    // Arrange: the file ends with a newline, as `echo` writes it.
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start();
    let file = dir.path().join("pw");
    std::fs::write(&file, format!("{}\n", pg.password())).unwrap();
    let url = format!("{}?sslmode=disable", pg.url_with_password("wrong-in-url"));
    let file_arg = file.display().to_string();

    // Act
    let server = serves(
        dir.path(),
        &url,
        &["--postgres-password-file", &file_arg],
        &[("PGPASSWORD", "wrong-in-env")],
    )
    .await;

    // Assert
    let a = server.api().acquire(SHOP, "sha-a", 1, None).await.unwrap();
    assert_eq!((a.status, a.lease()), (200, "acquired"), "{:?}", a.json);
    assert!(
        !server.output().contains(pg.password()),
        "{}",
        server.output()
    );
}

#[actix_web::test]
async fn pgpassword_is_used_when_the_url_has_no_password() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port());

    // Act
    let server = serves(dir.path(), &url, &[], &[("PGPASSWORD", pg.password())]).await;

    // Assert
    let a = server.api().acquire(SHOP, "sha-a", 1, None).await.unwrap();
    assert_eq!((a.status, a.lease()), (200, "acquired"), "{:?}", a.json);
}

#[actix_web::test]
async fn a_wrong_pgpassword_does_not_beat_the_urls_password_and_a_refused_login_hides_both() {
    // Arrange: libpq's order: the URL's password wins over the environment.
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start();
    let wrong = pg.url_with_password("not-the-password-xyz");

    // Act
    let server = serves(
        dir.path(),
        &pg.url(),
        &[],
        &[("PGPASSWORD", "wrong-in-env")],
    )
    .await;
    let (output, _) = refused(dir.path(), &wrong, &[], &[("PGPASSWORD", pg.password())]).await;

    // Assert
    let a = server.api().acquire(SHOP, "sha-a", 1, None).await.unwrap();
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert!(
        output.contains("password authentication failed"),
        "{output}"
    );
    assert!(!output.contains("not-the-password-xyz"), "{output}");
    assert!(!output.contains(pg.password()), "{output}");
}

#[actix_web::test]
async fn an_unreadable_password_file_stops_the_start_naming_the_path() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let pg = PgCluster::start();
    let missing = dir.path().join("no-such-secret");
    let missing_arg = missing.display().to_string();
    let empty = dir.path().join("empty-secret");
    std::fs::write(&empty, "").unwrap();
    let empty_arg = empty.display().to_string();

    // Act
    let (gone, _) = refused(
        dir.path(),
        &pg.url(),
        &["--postgres-password-file", &missing_arg],
        &[],
    )
    .await;
    let (blank, _) = refused(
        dir.path(),
        &pg.url(),
        &["--postgres-password-file", &empty_arg],
        &[],
    )
    .await;

    // Assert
    assert!(
        gone.contains(&missing_arg) && gone.contains("cannot be read"),
        "{gone}"
    );
    assert!(
        blank.contains(&empty_arg) && blank.contains("is empty"),
        "{blank}"
    );
}
