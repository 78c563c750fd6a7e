//! `mq-lease-service convert-config OLD.yaml` (docs/rules.md §13): the Go project's YAML config
//! becomes TOML that this service loads, with the same settings, and says what it left out.
//! The fixtures are written from the Go project's documented keys.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::BIN;
use mq_lease_service::cli::Cli;
use mq_lease_service::config::Settings;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/go-config")
        .join(name)
}

fn convert(path: &Path) -> Output {
    Command::new(BIN)
        .arg("convert-config")
        .arg(path)
        .output()
        .expect("run mq-lease-service")
}

/// Loads `toml` as the service does at start, with `env` for `${VAR}`.
fn load(toml: &str, env: &[(&str, &str)]) -> Settings {
    let cli = <Cli as clap::Parser>::try_parse_from(["mq-lease-service"]).unwrap();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_toml(toml, Path::new("converted.toml"), &cli, &|name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .unwrap_or_else(|e| panic!("the converted file loads: {e}\n{toml}"))
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

#[test]
fn one_repository_converts_to_the_same_settings() {
    let toml = stdout(&convert(&fixture("one-repository.yaml")));
    let settings = load(&toml, &[]);

    assert!(!settings.auto_register, "only the listed queue is served");
    assert_eq!(settings.repositories.len(), 1);
    let repo = &settings.repositories[0];
    assert_eq!(repo.key.to_string(), "acme:shop:main");
    assert_eq!(repo.lease.stabilisation_window, Duration::from_secs(300));
    assert_eq!(repo.lease.ttl, Duration::from_secs(30));
    assert_eq!(repo.lease.expected_build_count, 4);
    assert_eq!(repo.lease.delay_assignment_count, 0);
    assert!(
        repo.lease.silent_holder_timeout.is_zero(),
        "a silent holder keeps its lease, as with the Go service"
    );
    assert!(settings.auth.is_none());
}

#[test]
fn several_repositories_auth_and_what_has_no_equivalent() {
    let toml = stdout(&convert(&fixture("several-with-auth.yaml")));
    let settings = load(&toml, &[("API_WINDOW", "90"), ("CI_PASSWORD", "s3cret")]);

    let keys: Vec<String> = settings
        .repositories
        .iter()
        .map(|r| r.key.to_string())
        .collect();
    assert_eq!(
        keys,
        ["acme:shop:main", "acme:shop:release/1.x", "acme:api:main"]
    );
    let [main, release, api] = &settings.repositories[..] else {
        panic!("three repositories")
    };
    assert_eq!(main.lease.stabilisation_window, Duration::from_secs(600));
    assert_eq!(main.lease.ttl, Duration::from_secs(45));
    assert_eq!(main.lease.expected_build_count, 3);
    assert_eq!(main.lease.delay_assignment_count, 2);
    // Keys the old file left out take this service's defaults.
    assert_eq!(release.lease.expected_build_count, 2);
    assert_eq!(release.lease.ttl, Duration::from_secs(30));
    // `${VAR}` stays for this service to substitute; a ttl of 0 is refused here, so it
    // is a comment and the default applies.
    assert_eq!(api.lease.stabilisation_window, Duration::from_secs(90));
    assert_eq!(api.lease.ttl, Duration::from_secs(30));
    assert!(
        toml.contains("# ttl = 0  # ttl_seconds: this service needs at least 1"),
        "{toml}"
    );
    assert!(
        toml.contains("repositories[2].notify_slack: true"),
        "what has no equivalent is named: {toml}"
    );
    let auth = settings.auth.expect("auth kept");
    let debug = format!("{auth:?}");
    assert!(
        debug.contains("ci") && debug.contains("deploy bot"),
        "both users: {debug}"
    );
    assert!(toml.contains("\"${CI_PASSWORD}\""), "{toml}");
}

#[test]
fn a_missing_file_or_one_that_is_not_yaml_is_a_clear_error() {
    let missing = convert(Path::new("/nonexistent/config.yaml"));
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/config.yaml"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "repositories: [\n  - owner: acme\n    name: {").unwrap();
    let out = convert(&bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not YAML"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing half-written on standard output"
    );
}
