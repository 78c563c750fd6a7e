//! The status page (`/ui`) as a person meets it: the real binary, real HTTP, and for the
//! live page Debian's headless Chromium driven by `tests/ui/status_page.mjs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Server;
use serde_json::Value;

const INSTALL_HINT: &str = "run `bash .ci/run`, or install what the browser test needs: \
     `apt-get update && apt-get install -y chromium` and `(cd tests/ui && npm ci)`";

/// A plain GET: status, content type and body text.
async fn get(port: u16, path: &str, authorization: Option<&str>) -> (u16, String, String) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let mut req = client.get(format!("http://127.0.0.1:{port}{path}"));
    if let Some(value) = authorization {
        req = req.insert_header(("Authorization", value));
    }
    let mut res = req.send().await.expect("GET reaches the server");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.body().limit(4 * 1024 * 1024).await.expect("body");
    (
        res.status().as_u16(),
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

async fn acquire(server: &Server, key: &str, sha: &str, head_ref: &str, priority: u64) -> Value {
    let client = awc::Client::default();
    let mut res = client
        .post(format!("{}/{key}/acquire", server.api().base))
        .send_json(&serde_json::json!({
            "head_sha": sha, "head_ref": head_ref, "priority": priority,
        }))
        .await
        .expect("acquire reaches the server");
    assert_eq!(res.status().as_u16(), 200, "acquire {key} {sha}");
    res.json().await.expect("acquire answers JSON")
}

#[actix_web::test]
async fn the_status_page_needs_the_same_credentials_as_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.toml");
    std::fs::write(
        &config,
        "[server]\nauto_register = true\n\n[auth]\nbearer_tokens = [\"ui-s3cret\"]\n",
    )
    .unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        tmp.path(),
        &["--config", config.to_str().unwrap()],
    )
    .await;

    for path in ["/ui", "/ui/acme/shop/main", "/ui?fragment=live", "/ui.js"] {
        let (status, _, body) = get(server.port, path, None).await;
        assert_eq!(status, 401, "{path} without credentials: {body}");
        let (status, _, _) = get(server.port, path, Some("Bearer wrong")).await;
        assert_eq!(status, 401, "{path} with wrong credentials");
    }
    let (status, content_type, body) = get(server.port, "/ui", Some("Bearer ui-s3cret")).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains("Merge queues"), "{body}");
}

#[actix_web::test]
async fn user_controlled_strings_are_html_escaped_on_every_page() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), tmp.path(), &[]).await;
    let evil = "gh-readonly-queue/main/<script>alert('x')</script>\"><b>";
    acquire(&server, "acme/shop/%3Ci%3Emain", "<script>sha", evil, 1).await;

    for path in [
        "/ui",
        "/ui?fragment=live",
        "/ui/acme/shop/%3Ci%3Emain",
        "/ui/acme/shop/%3Ci%3Emain?fragment=live",
    ] {
        let (status, _, body) = get(server.port, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        for raw in ["<script>alert", "<script>sha", "<i>main", "\"><b>"] {
            assert!(
                !body.contains(raw),
                "{path} shows {raw:?} unescaped:\n{body}"
            );
        }
        assert!(
            body.contains("&#60;i&#62;main") || body.contains("&lt;i&gt;main"),
            "{path} shows the key as text:\n{body}"
        );
    }
    let (_, _, body) = get(server.port, "/ui/acme/shop/%3Ci%3Emain", None).await;
    assert!(
        body.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;")
            || body.contains("&lt;script&gt;alert("),
        "the head_ref is shown as text:\n{body}"
    );
}

#[actix_web::test]
async fn a_queue_page_takes_base_ref_raw_or_percent_encoded_and_unknown_queues_are_404() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), tmp.path(), &[]).await;
    acquire(&server, "acme/shop/release/1.x", "abc", "pr-7-abc", 2).await;

    for path in ["/ui/acme/shop/release/1.x", "/ui/acme/shop/release%2F1.x"] {
        let (status, _, body) = get(server.port, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("acme:shop:release/1.x"), "{path}:\n{body}");
        assert!(
            body.contains("https://github.com/acme/shop/pull/7"),
            "{path} links the PR:\n{body}"
        );
    }
    let (status, content_type, body) = get(server.port, "/ui/acme/shop/nope", None).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(body.contains("\"error\""), "{body}");
}

/// docs/rules.md §13: a holder that has not called since its grant (a client without a heartbeat)
/// keeps the lease; the pages say so, and stop saying so once it calls.
#[actix_web::test]
async fn the_pages_say_when_the_holder_is_silent_since_its_grant() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        tmp.path(),
        &["--expected-build-count", "1"],
    )
    .await;
    let key = "acme/shop/main";
    let granted = acquire(&server, key, "abc", "pr-7-abc", 2).await;
    assert_eq!(granted["request"]["status"], "acquired");

    let (_, _, queue) = get(server.port, "/ui/acme/shop/main", None).await;
    assert!(
        queue.contains("id=\"holder-silent\"")
            && queue.contains("it keeps the lease until it releases or an admin revokes it"),
        "{queue}"
    );
    assert!(
        !queue.contains("lease expires"),
        "no timeout applies:\n{queue}"
    );
    let (_, _, overview) = get(server.port, "/ui", None).await;
    assert!(overview.contains("silent since grant"), "{overview}");

    acquire(&server, key, "abc", "pr-7-abc", 2).await;
    let (_, _, queue) = get(server.port, "/ui/acme/shop/main", None).await;
    assert!(!queue.contains("holder-silent"), "{queue}");
    assert!(
        queue.contains("lease expires"),
        "lease_timeout applies now:\n{queue}"
    );
}

fn shot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("status-page");
    std::fs::create_dir_all(&dir).expect("create the screenshot dir");
    dir
}

/// Fails (does not skip) when the browser or the driver is missing.
fn browser_prerequisites() -> (PathBuf, PathBuf) {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()));
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    assert!(
        chromium.exists(),
        "{} is missing: the status page test needs Chromium; {INSTALL_HINT}",
        chromium.display()
    );
    assert!(
        ui.join("node_modules/playwright-core/package.json")
            .exists(),
        "tests/ui/node_modules is missing; {INSTALL_HINT}"
    );
    assert!(
        Command::new("node").arg("--version").output().is_ok(),
        "node is not on PATH; the status page test runs tests/ui/status_page.mjs with it"
    );
    (chromium, ui)
}

#[actix_web::test]
async fn the_status_page_lists_queues_shows_the_holder_and_follows_a_release_without_reload() {
    let (chromium, ui) = browser_prerequisites();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        tmp.path(),
        &[
            "--expected-build-count",
            "2",
            "--stabilisation-window",
            "10m",
            "--ttl",
            "10m",
        ],
    )
    .await;
    // Arrange: acme/shop/main has a holder (two runs, the higher one wins); the release
    // branch has one run waiting in its window, with markup in its head_ref.
    let held = "acme/shop/main";
    acquire(
        &server,
        held,
        "a1b2c3d4e5",
        "gh-readonly-queue/main/pr-41-a1b2c3d4e5",
        1,
    )
    .await;
    let holder = "f6e5d4c3b2a1";
    let won = acquire(
        &server,
        held,
        holder,
        "gh-readonly-queue/main/pr-42-f6e5d4c3b2a1",
        2,
    )
    .await;
    assert_eq!(won["request"]["status"], "acquired", "{won}");
    acquire(
        &server,
        "acme/shop/release/1.x",
        "0a0b0c0d",
        "gh-readonly-queue/release/1.x/<img src=x onerror=\"document.title='pwned'\">",
        3,
    )
    .await;

    // Act: the browser script reads the pages; it releases the holder through the API.
    let shots = shot_dir();
    let out = Command::new("node")
        .arg(ui.join("status_page.mjs"))
        .current_dir(&ui)
        .env("BASE_URL", &server.api().base)
        .env("HELD_PATH", format!("/{held}"))
        .env("HOLDER_SHA", holder)
        .env("OTHER_PATH", "/acme/shop/release/1.x")
        .env("SHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser script failed ({}):\n{stdout}\n{stderr}\n(if Chromium or playwright-core \
         is missing: {INSTALL_HINT})",
        out.status
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the script's report is not JSON ({e}):\n{stdout}\n{stderr}"));

    // Assert: the overview lists both queues, the held one with its holder.
    let overview = report["overview"].as_array().expect("overview");
    let keys: Vec<&str> = overview.iter().filter_map(|q| q["key"].as_str()).collect();
    assert_eq!(
        keys,
        ["acme:shop:main", "acme:shop:release/1.x"],
        "{report}"
    );
    assert_eq!(overview[0]["state"], "held", "{report}");
    assert!(
        overview[0]["holder"]
            .as_str()
            .unwrap_or_default()
            .contains("f6e5d4c3b2")
            && overview[0]["holder"]
                .as_str()
                .unwrap_or_default()
                .contains("#42"),
        "{report}"
    );
    assert_eq!(overview[1]["state"], "stabilising", "{report}");
    assert!(
        report["viewportMeta"]
            .as_str()
            .unwrap_or_default()
            .contains("width=device-width"),
        "{report}"
    );

    // The queue page shows the holder, and admin controls for an admin.
    assert_eq!(report["before"]["round"], "held", "{report}");
    assert_eq!(report["before"]["holderSha"], holder, "{report}");
    assert_eq!(report["before"]["holderStatus"], "acquired", "{report}");
    let buttons = report["before"]["adminButtons"].to_string();
    for b in ["Revoke lease", "Pause", "Clear"] {
        assert!(buttons.contains(b), "no {b} button: {report}");
    }
    assert!(
        !buttons.contains("Resume"),
        "a queue that is not paused offers Resume: {report}"
    );

    // After the release (from the test, not the page) the page follows within 2 s,
    // in the same document.
    assert_eq!(report["releaseStatus"], 200, "{report}");
    let changed = report["changedAfterMs"].as_u64().unwrap_or_else(|| {
        panic!("the page did not change after the release without a reload: {report}")
    });
    assert!(
        changed <= 2000,
        "the page changed {changed} ms after the release: {report}"
    );
    assert_eq!(report["after"]["round"], "completed", "{report}");
    assert_eq!(report["after"]["holderStatus"], "completed", "{report}");
    assert_eq!(
        report["after"]["marker"], "same-document",
        "reloaded: {report}"
    );
    assert_eq!(report["after"]["navigations"], 1, "reloaded: {report}");
    assert!(
        report["after"]["events"]
            .to_string()
            .contains("released_success"),
        "the recent events show the release: {report}"
    );

    // Markup in a head_ref is text, and the stabilisation window counts down.
    assert_eq!(report["other"]["injectedImages"], 0, "{report}");
    assert_eq!(report["other"]["pwned"], false, "{report}");
    assert!(
        report["other"]["headRefText"]
            .as_str()
            .unwrap_or_default()
            .contains("<img src=x"),
        "{report}"
    );
    assert_eq!(report["other"]["round"], "stabilising", "{report}");
    assert!(
        report["other"]["window"]
            .as_str()
            .unwrap_or_default()
            .contains("left"),
        "{report}"
    );
    // The admin buttons call the API and show its answer, errors included.
    assert!(
        report["pauseResult"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Pause: "),
        "{report}"
    );
    assert_eq!(report["clearResult"], "Clear: done", "{report}");
    assert_eq!(report["afterClear"], "idle", "{report}");
    let dialogs = report["dialogs"].to_string();
    assert!(
        dialogs.contains("confirm: Clear every run of acme:shop:release/1.x"),
        "{report}"
    );
    assert!(dialogs.contains("prompt: Why pause"), "{report}");
    assert_eq!(report["pageErrors"], serde_json::json!([]), "{report}");
    // (An admin call the API refuses is logged by the browser; only the rest must be clean.)
    assert_eq!(
        report["consoleErrorsBeforeAdmin"],
        serde_json::json!([]),
        "{report}"
    );

    for shot in report["screenshots"].as_array().expect("screenshots") {
        let path = shot.as_str().unwrap_or_default();
        let png = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "{path} is not a PNG");
        println!("screenshot: {path}");
    }
    println!("the page changed {changed} ms after the release's 200");
}
