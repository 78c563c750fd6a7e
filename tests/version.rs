//! `--version` and `mq_lease_build_info` name the Cargo.toml version and the git
//! revision the binary was built from (`build.rs`).

mod common;

use std::process::Command;

use common::{Server, BIN};

/// The revision in `mq-lease-service <version> (<revision>)`.
fn revision_of(version_line: &str) -> String {
    let expected_start = format!("mq-lease-service {} (", env!("CARGO_PKG_VERSION"));
    let rest = version_line
        .trim()
        .strip_prefix(&expected_start)
        .unwrap_or_else(|| panic!("{version_line:?} does not start with {expected_start:?}"));
    let revision = rest
        .strip_suffix(')')
        .unwrap_or_else(|| panic!("{version_line:?} does not end with ')'"));
    assert!(
        !revision.is_empty() && !revision.contains(char::is_whitespace),
        "revision {revision:?}"
    );
    revision.to_owned()
}

fn version_line() -> String {
    let out = Command::new(BIN)
        .arg("--version")
        .output()
        .expect("run --version");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn version_names_the_cargo_version_and_the_git_revision() {
    // Arrange: what git says about this checkout, unless the build was told the revision.
    let git = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());

    // Act
    let revision = revision_of(&version_line());

    // Assert
    match (option_env!("MQ_LEASE_GIT_REVISION"), git) {
        (Some(given), _) if !given.trim().is_empty() => assert_eq!(revision, given.trim()),
        (_, Some(head)) => assert_eq!(revision, head, "the binary is not built from HEAD"),
        (_, None) => assert_eq!(revision, "unknown"),
    }
}

#[actix_web::test]
async fn build_info_names_the_version_and_the_revision() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), dir.path(), &[]).await;
    let revision = revision_of(&version_line());

    // Act
    let metrics = server.api().get("/metrics").await.expect("GET /metrics");

    // Assert
    let text = metrics.json["raw"].as_str().unwrap_or_default();
    let expected = format!(
        "mq_lease_build_info{{revision=\"{revision}\",version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        text.lines().any(|l| l == expected),
        "{expected} not in:\n{text}"
    );
}
