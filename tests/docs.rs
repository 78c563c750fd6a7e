//! Docs that cannot drift: everything a user can set, scrape or call is named in the
//! documentation, and every relative link between the pages resolves.
//!
//! The documentation is `README.md`, `docs/*.md` and `action/README.md`. What must be in
//! it is taken from the code as it runs, never from a list kept by hand:
//! - every `--flag` and `[env: …]` variable of `mq-lease-service --help` and of each
//!   subcommand's `--help` (the real binary);
//! - every TOML key the config parser accepts (found by asking the parser: each table
//!   denies unknown keys and names the ones it expects);
//! - every metric `/metrics` exposes, scraped from the real binary after a round with a
//!   held acquire, an eviction, an expired lease and an admin action, with one replica and
//!   with two replicas on a throw-away PostgreSQL; plus every `"mq_lease_…"` name in
//!   `src/metrics/` (a series that only a store failure shows);
//! - every operation (`METHOD /path`) in `openapi.json`.
//!
//! A failure lists everything that is missing, so one run shows the whole gap.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::pg::PgCluster;
use common::{Api, Server, BIN};
use mq_lease_service::cli::Cli;
use mq_lease_service::config::Settings;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The pages whose text must name everything: README.md, docs/*.md, action/README.md.
fn documentation() -> Vec<(PathBuf, String)> {
    let root = root();
    let mut files = vec![root.join("README.md"), root.join("action/README.md")];
    files.extend(markdown_in(&root.join("docs")));
    files
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read a page");
            (p, text)
        })
        .collect()
}

fn markdown_in(dir: &Path) -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "md"))
                .collect()
        })
        .unwrap_or_default();
    pages.sort();
    pages
}

/// `word` occurs in `text` on its own: not inside a longer flag, variable, key or path.
fn mentions(text: &str, word: &str, part: fn(char) -> bool) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '{' | '}')
}

/// The items none of the pages mention; a failure message naming them, if any.
fn missing<'a>(
    what: &str,
    items: impl IntoIterator<Item = &'a String>,
    part: fn(char) -> bool,
) -> Option<String> {
    let pages = documentation();
    let gone: Vec<&String> = items
        .into_iter()
        .filter(|item| !pages.iter().any(|(_, text)| mentions(text, item, part)))
        .collect();
    (!gone.is_empty()).then(|| {
        format!(
            "{} {what} named nowhere in README.md, docs/*.md or action/README.md:\n  {}",
            gone.len(),
            gone.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        )
    })
}

fn help(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("MQ_LEASE_CONFIG")
        .output()
        .expect("run the binary");
    assert!(out.status.success(), "{args:?} failed: {out:?}");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands listed under `Commands:` (without clap's own `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// `--long` flags and `[env: NAME…]` variables of one help text.
fn flags_and_variables(help: &str, into: &mut BTreeSet<String>) {
    for (at, _) in help.match_indices("--") {
        if help[..at].chars().next_back().is_some_and(name_char) {
            continue;
        }
        let flag: String = help[at + 2..]
            .chars()
            .take_while(|&c| name_char(c))
            .collect();
        if !flag.is_empty() {
            into.insert(format!("--{flag}"));
        }
    }
    for (at, _) in help.match_indices("[env: ") {
        let name: String = help[at + 6..]
            .chars()
            .take_while(|&c| c.is_ascii_alphanumeric() || c == '_')
            .collect();
        into.insert(name);
    }
}

#[test]
fn every_flag_and_environment_variable_of_the_help_is_in_the_docs() {
    let top = help(&["--help"]);
    let mut found = BTreeSet::new();
    flags_and_variables(&top, &mut found);
    let commands = subcommands(&top);
    assert!(
        commands.contains(&"healthcheck".to_owned()),
        "no subcommands found in:\n{top}"
    );
    for command in &commands {
        flags_and_variables(&help(&[command, "--help"]), &mut found);
    }
    assert!(
        found.contains("--port") && found.contains("MQ_LEASE_PORT") && found.len() > 20,
        "the help was not read: {found:?}"
    );
    // A subcommand is something to document as well.
    let mut everything: Vec<String> = found.into_iter().collect();
    everything.extend(commands);
    if let Some(message) = missing("flags, variables and subcommands", &everything, name_char) {
        panic!("{message}");
    }
}

/// What the parser says about `text`: `Ok` or its error message.
fn parse(text: &str) -> Result<(), String> {
    Settings::from_toml(text, Path::new("probe.toml"), &Cli::default(), &|_| {
        Some("x".to_owned())
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The keys a table accepts, if `header` (`""` for the top level, `[server]`,
/// `[[repository]]`) opens a table that denies unknown keys.
fn keys_of(header: &str) -> Option<Vec<String>> {
    let error = parse(&format!("{header}\nzz_not_a_key = 1\n")).err()?;
    let (_, expected) = error.split_once("unknown field `zz_not_a_key`, expected")?;
    Some(
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
    )
}

/// Every leaf key, dotted (`server.port`, `auth.github_oidc.audience`, `repository.owner`).
fn toml_keys() -> BTreeSet<String> {
    let mut leaves = BTreeSet::new();
    let mut tables = vec![String::new()];
    while let Some(table) = tables.pop() {
        let keys = if table.is_empty() {
            keys_of("")
        } else {
            keys_of(&format!("[{table}]")).or_else(|| keys_of(&format!("[[{table}]]")))
        };
        let keys = keys.unwrap_or_else(|| panic!("[{table}] does not name its keys"));
        for key in keys {
            let dotted = if table.is_empty() {
                key
            } else {
                format!("{table}.{key}")
            };
            let is_table = keys_of(&format!("[{dotted}]")).is_some()
                || keys_of(&format!("[[{dotted}]]")).is_some();
            if is_table {
                tables.push(dotted);
            } else {
                leaves.insert(dotted);
            }
        }
    }
    leaves
}

#[test]
fn every_toml_key_the_parser_accepts_is_in_the_docs() {
    let keys = toml_keys();
    for sure in [
        "server.port",
        "defaults.ttl",
        "auth.bearer_tokens",
        "auth.github_oidc.audience",
        "repository.owner",
        "store.postgres_url",
        "cluster.leader_lease",
    ] {
        assert!(
            keys.contains(sure),
            "{sure} not found by the probe: {keys:?}"
        );
    }
    if let Some(message) = missing("TOML keys", &keys, key_char) {
        panic!("{message}");
    }
}

#[test]
fn the_toml_probe_sees_a_key_the_parser_refuses() {
    assert!(parse("[server]\nport = 8080\n").is_ok());
    assert!(keys_of("[server]").is_some_and(|k| k.contains(&"port".to_owned())));
    assert_eq!(
        keys_of("[auth.basic]"),
        None,
        "a map of users is not a table of keys"
    );
}

/// Metric names in `# TYPE` lines of a scrape.
fn metric_names(text: &str, into: &mut BTreeSet<String>) {
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                into.insert(name.to_owned());
            }
        }
    }
}

/// `"mq_lease_…"` string literals in `src/metrics/`: the names the code can expose.
fn metric_names_in_the_source() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![root().join("src/metrics")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src/metrics").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read a source file");
            for (at, _) in text.match_indices("\"mq_lease_") {
                let name: String = text[at + 1..]
                    .chars()
                    .take_while(|&c| c.is_ascii_alphanumeric() || c == '_')
                    .collect();
                if text[at + 1 + name.len()..].starts_with('"') {
                    names.insert(name);
                }
            }
        }
    }
    names
}

async fn scrape(api: &Api, into: &mut BTreeSet<String>) -> String {
    let answer = api.get("/metrics").await.expect("GET /metrics");
    assert_eq!(answer.status, 200, "{}", answer.json);
    let text = answer.json["raw"].as_str().unwrap_or_default().to_owned();
    metric_names(&text, into);
    text
}

/// Scrapes every replica until `done` holds for the texts together (15 s at most).
async fn scrape_until(
    replicas: &[Api],
    names: &mut BTreeSet<String>,
    what: &str,
    done: impl Fn(&str) -> bool,
) {
    let started = Instant::now();
    loop {
        let mut all = String::new();
        for api in replicas {
            all.push_str(&scrape(api, names).await);
        }
        if done(&all) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what}: not after 15 s; last scrape:\n{all}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays, through `api`, what makes every lease series appear: a held acquire, a
/// successful round, an eviction, a lease that expires, a pause; scrapes `replicas`.
async fn play(api: &Api, replicas: &[Api], names: &mut BTreeSet<String>) {
    // A round of two: the higher wins, the other waits in a held call and is told completed.
    let a = api.acquire("acme/shop/main", "low", 1, None).await.unwrap();
    assert_eq!(a.lease(), "pending", "{}", a.json);
    let a = api
        .acquire("acme/shop/main", "high", 2, None)
        .await
        .unwrap();
    assert_eq!(a.lease(), "acquired", "{}", a.json);
    let waiter = {
        let api = api.clone();
        actix_web::rt::spawn(async move { api.acquire("acme/shop/main", "low", 1, Some(30)).await })
    };
    scrape_until(replicas, names, "a held acquire is counted", |text| {
        text.lines()
            .any(|l| l.starts_with("mq_lease_waiting_requests{") && l.ends_with(" 1"))
    })
    .await;
    let r = api
        .release("acme/shop/main", "high", "success", a.token())
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json);
    let told = waiter.await.unwrap().unwrap();
    assert_eq!(told.lease(), "completed", "{}", told.json);

    // A pending run nobody hears from again is evicted after its ttl.
    let e = api
        .acquire("acme/evict/main", "alone", 1, None)
        .await
        .unwrap();
    assert_eq!(e.lease(), "pending", "{}", e.json);
    // A holder that shows a sign of life after its grant and then goes silent loses the lease.
    api.acquire("acme/expire/main", "one", 1, None)
        .await
        .unwrap();
    let held = api
        .acquire("acme/expire/main", "two", 2, None)
        .await
        .unwrap();
    assert_eq!(held.lease(), "acquired", "{}", held.json);
    let alive = api
        .acquire("acme/expire/main", "two", 2, None)
        .await
        .unwrap();
    assert_eq!(alive.lease(), "acquired", "{}", alive.json);
    // An admin action.
    let paused = awc::Client::new()
        .post(format!("{}/acme/shop/main/pause", api.base))
        .send()
        .await
        .expect("pause");
    assert_eq!(paused.status().as_u16(), 200);

    scrape_until(
        replicas,
        names,
        "the eviction and the expiry are counted",
        |text| {
            text.contains("mq_lease_evictions_total{")
                && text.contains("mq_lease_expired_leases_total{")
                && text.contains("mq_lease_admin_actions_total{")
        },
    )
    .await;
}

/// Rounds of two; a silent pending run goes after 1 s; only `acme/expire/main` takes the
/// lease from a silent holder, after 1 s (so no other holder expires on a slow machine).
const SHORT_TIMERS: &str = r#"
[server]
auto_register = true

[defaults]
expected_build_count = 2
stabilisation_window = "10m"
ttl = "1s"
lease_timeout = "10m"

[[repository]]
owner = "acme"
name = "expire"
base_ref = "main"
lease_timeout = "1s"
"#;

fn short_timers_config(dir: &Path) -> String {
    let path = dir.join("short-timers.toml");
    std::fs::write(&path, SHORT_TIMERS).expect("write the config");
    path.display().to_string()
}

#[actix_web::test]
async fn every_metric_of_one_replica_is_in_the_docs() {
    // Arrange: one replica on the embedded store, short timers.
    let dir = tempfile::tempdir().unwrap();
    let config = short_timers_config(dir.path());
    let server = Server::start(&dir.path().join("data"), dir.path(), &["--config", &config]).await;

    // Act
    let mut names = BTreeSet::new();
    play(&server.api(), &[server.api()], &mut names).await;

    // Assert
    for sure in [
        "mq_lease_grants_total",
        "mq_lease_acquire_wait_seconds",
        "mq_lease_admin_actions_total",
        "mq_lease_build_info",
        "mq_lease_cluster_is_owner",
    ] {
        assert!(names.contains(sure), "{sure} not scraped: {names:?}");
    }
    names.extend(metric_names_in_the_source());
    if let Some(message) = missing("metrics (one replica)", &names, name_char) {
        panic!("{message}");
    }
}

#[actix_web::test]
async fn every_metric_of_two_replicas_on_postgres_is_in_the_docs() {
    // Arrange: two replicas share a throw-away PostgreSQL.
    let pg = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let config = short_timers_config(dir.path());
    let args = [
        "--postgres-url",
        url.as_str(),
        "--leader-lease",
        "2s",
        "--config",
        config.as_str(),
    ];
    let first = Server::start(&dir.path().join("a"), dir.path(), &args).await;
    let second = Server::start(&dir.path().join("b"), dir.path(), &args).await;
    let apis = [first.api(), second.api()];
    let mut names = BTreeSet::new();
    let started = Instant::now();
    let follower = loop {
        let mut owner = None;
        for (i, api) in apis.iter().enumerate() {
            let text = scrape(api, &mut names).await;
            if text.lines().any(|l| l == "mq_lease_cluster_is_owner 1") {
                owner = Some(i);
            }
        }
        if let Some(i) = owner {
            break apis[1 - i].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no owner after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Act: the round through the follower, which forwards every call to the owner.
    play(&follower, &apis, &mut names).await;

    // Assert
    for sure in [
        "mq_lease_cluster_is_owner",
        "mq_lease_cluster_failovers_total",
        "mq_lease_cluster_forward_seconds",
        "mq_lease_grants_total",
    ] {
        assert!(names.contains(sure), "{sure} not scraped: {names:?}");
    }
    if let Some(message) = missing("metrics (two replicas on PostgreSQL)", &names, name_char) {
        panic!("{message}");
    }
    drop((first, second, pg));
}

#[test]
fn every_operation_of_the_openapi_document_is_in_the_docs() {
    let text = std::fs::read_to_string(root().join("openapi.json")).expect("openapi.json");
    let document: serde_json::Value = serde_json::from_str(&text).expect("openapi.json is JSON");
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(
        operations.contains("POST /{owner}/{repo}/{base_ref}/acquire"),
        "{operations:?}"
    );
    if let Some(message) = missing("operations of openapi.json", &operations, path_char) {
        panic!("{message}");
    }
}

/// Every Markdown page that links to others.
fn linked_pages() -> Vec<PathBuf> {
    let root = root();
    let mut pages: Vec<PathBuf> = [
        "README.md",
        "CONTRIBUTING.md",
        "CHANGELOG.md",
        "action/README.md",
    ]
    .iter()
    .map(|p| root.join(p))
    .filter(|p| p.is_file())
    .collect();
    pages.extend(markdown_in(&root.join("docs")));
    pages
}

/// `(line, target)` of every inline link and image outside code, and of reference
/// definitions (`[name]: target`).
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop inline code spans.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        for (at, _) in prose.match_indices("](") {
            let rest = &prose[at + 2..];
            if let Some(end) = rest.find(')') {
                let target = rest[..end].split_whitespace().next().unwrap_or("");
                out.push((n + 1, target.to_owned()));
            }
        }
        let trimmed = prose.trim_start();
        if trimmed.starts_with('[') {
            if let Some((_, target)) = trimmed.split_once("]: ") {
                out.push((
                    n + 1,
                    target.split_whitespace().next().unwrap_or("").to_owned(),
                ));
            }
        }
    }
    out
}

/// GitHub's anchors of a page's headings (`## 3. State machine` → `3-state-machine`).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if fenced {
            continue;
        }
        let heading = heading.trim_start_matches('#').trim();
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *count == 0 {
            slug.clone()
        } else {
            format!("{slug}-{count}")
        });
        *count += 1;
    }
    out
}

#[test]
fn every_relative_link_between_the_pages_resolves() {
    let root = root();
    let pages = linked_pages();
    assert!(pages.iter().any(|p| p.ends_with("README.md")));
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read a page");
        let shown = page
            .strip_prefix(&root)
            .unwrap_or(page)
            .display()
            .to_string();
        for (line, target) in links(&text) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("a page's folder").join(file)
            };
            if !resolved.exists() {
                broken.push(format!("{shown}:{line}: {target} (no such file)"));
                continue;
            }
            let is_page = resolved.extension().is_some_and(|e| e == "md");
            if let (Some(anchor), true) = (anchor, is_page) {
                let text = std::fs::read_to_string(&resolved).expect("read a linked page");
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{shown}:{line}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "{} broken links:\n  {}",
        broken.len(),
        broken.join("\n  ")
    );
}

#[test]
fn the_anchor_rules_match_github() {
    let page = "# Title\n## 3. State machine of a provider\n## Words, and `code`\n## Title\n";
    let found = anchors(page);
    for anchor in [
        "title",
        "3-state-machine-of-a-provider",
        "words-and-code",
        "title-1",
    ] {
        assert!(found.contains(anchor), "{anchor} not in {found:?}");
    }
}

/// Every source path a page names in code (`src/…`, `tests/…`, `benches/…`, `examples/…`,
/// `migrations/…`, `templates/…`) exists: the architecture page's where-to-find table
/// and the others follow the code when it moves.
#[test]
fn every_source_path_the_pages_name_exists() {
    let root = root();
    let mut gone = Vec::new();
    for page in linked_pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (n, line) in text.lines().enumerate() {
            for (i, span) in line.split('`').enumerate() {
                let named = [
                    "src/",
                    "tests/",
                    "benches/",
                    "examples/",
                    "migrations/",
                    "templates/",
                ]
                .iter()
                .any(|dir| span.starts_with(dir));
                let plain = span
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
                if i % 2 == 1 && named && plain && !span.contains("..") && !root.join(span).exists()
                {
                    gone.push(format!("{}:{}: {span}", page.display(), n + 1));
                }
            }
        }
    }
    assert!(
        gone.is_empty(),
        "paths the pages name that do not exist:\n{}",
        gone.join("\n")
    );
}
