//! `action.yml` as GitHub's runner loads it.
//!
//! The runner reads action.yml against its own template schema
//! (`src/Runner.Worker/action_yaml.json` in actions/runner) and evaluates every
//! `${{ }}` it meets while loading. Where the schema allows no context (`name`,
//! `description`, `author`, `branding`, input and output descriptions, `required`,
//! step `id` and `shell`, …) any expression is refused and the whole action fails
//! to load ("Unrecognized named-value: 'secrets' … Fail to load action.yml"), before
//! any step runs: exactly what happened to an earlier action.yml
//! (`tests/fixtures/action-refused-by-the-runner.yml`). Where expressions are
//! allowed, only some contexts are:
//!
//! | where | contexts (schema definition) |
//! |---|---|
//! | `inputs.<id>.default` | github, strategy, matrix, job, runner, hashFiles() (`input-default-context`) |
//! | `outputs.<id>.value` | github, strategy, matrix, steps, inputs, job, runner, env (`output-value`) |
//! | `runs.steps[*]` name, run, working-directory, if, env, with | github, inputs, strategy, matrix, steps, job, runner, env, hashFiles() (`string-steps-context`, `step-env`) |
//!
//! `runs` of a JavaScript action (`using`, `main`, `post`, `post-if`) take no expression
//! at all: they are plain strings to the schema (`node12-runs`); `post-if` is a condition
//! the runner evaluates itself at the end of the job.
//!
//! Besides the expressions, the manifest must agree with the action's source
//! (`action/src/*.ts`) and its committed bundle: `runs.using` is the newest Node GitHub's
//! runners support, `main` and `post` name the committed bundles, `post-if` is
//! `always()` (docs/rules.md §11), every input the source reads (`input("x")`, i.e.
//! `core.getInput`) is declared and every declared one is read, and every output the
//! source sets (`core.setOutput`) is declared, and the other way round.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

const DEFAULT_CONTEXTS: &[&str] = &["github", "strategy", "matrix", "job", "runner", "hashFiles"];
const OUTPUT_CONTEXTS: &[&str] = &[
    "github", "strategy", "matrix", "steps", "inputs", "job", "runner", "env",
];
const STEP_CONTEXTS: &[&str] = &[
    "github",
    "inputs",
    "strategy",
    "matrix",
    "steps",
    "job",
    "runner",
    "env",
    "hashFiles",
];
/// Functions every expression may call; `hashFiles` is allowed only where listed above.
const FUNCTIONS: &[&str] = &[
    "contains",
    "startsWith",
    "endsWith",
    "format",
    "join",
    "toJSON",
    "fromJSON",
    "success",
    "always",
    "cancelled",
    "failure",
];

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

// ------------------------------------------------------------------ expressions

/// The contexts GitHub allows in the value at `path`, or `None` where it allows no
/// expression at all.
fn allowed_contexts(path: &[String]) -> Option<&'static [&'static str]> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["inputs", _, "default"] => Some(DEFAULT_CONTEXTS),
        ["outputs", _, "value"] => Some(OUTPUT_CONTEXTS),
        ["runs", "steps", _, "name" | "run" | "working-directory" | "if"] => Some(STEP_CONTEXTS),
        ["runs", "steps", _, "env" | "with", _] => Some(STEP_CONTEXTS),
        _ => None,
    }
}

/// The named values (contexts) and functions an expression uses.
fn names_in_expression(expr: &str) -> (Vec<String>, Vec<String>) {
    let chars: Vec<char> = expr.chars().collect();
    let (mut contexts, mut functions) = (Vec::new(), Vec::new());
    let mut i = 0;
    let mut after_dot = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // A string literal; '' is an escaped quote.
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            after_dot = false;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '-')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if after_dot {
                // A property: github.token
            } else if chars.get(j) == Some(&'(') {
                functions.push(word);
            } else if !matches!(word.as_str(), "true" | "false" | "null") {
                contexts.push(word);
            }
            after_dot = false;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            after_dot = false;
        } else {
            if !c.is_whitespace() {
                after_dot = c == '.';
            }
            i += 1;
        }
    }
    (contexts, functions)
}

/// What is wrong with the `${{ }}` expressions of one value.
fn check_expressions(path: &[String], text: &str, problems: &mut Vec<String>) {
    let at = path.join(".");
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            problems.push(format!("{at}: an expression `${{{{` is never closed"));
            return;
        };
        let expr = after[..end].trim();
        match allowed_contexts(path) {
            None => problems.push(format!(
                "{at}: `${{{{ {expr} }}}}` — GitHub evaluates no expression here and refuses to load the action"
            )),
            Some(allowed) => {
                let (contexts, functions) = names_in_expression(expr);
                for name in contexts {
                    if !allowed.contains(&name.as_str()) {
                        problems.push(format!(
                            "{at}: `${{{{ {expr} }}}}` uses the context '{name}', which GitHub does not allow here (allowed: {})",
                            allowed.join(", ")
                        ));
                    }
                }
                for f in functions {
                    if !(FUNCTIONS.contains(&f.as_str()) || allowed.contains(&f.as_str())) {
                        problems.push(format!(
                            "{at}: `${{{{ {expr} }}}}` calls {f}(), which GitHub does not allow here"
                        ));
                    }
                }
            }
        }
        rest = &after[end + 2..];
    }
}

fn walk(node: &Yaml, path: &mut Vec<String>, problems: &mut Vec<String>) {
    match node {
        Yaml::String(s) | Yaml::Real(s) => check_expressions(path, s, problems),
        Yaml::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                walk(item, path, problems);
                path.pop();
            }
        }
        Yaml::Hash(map) => {
            for (key, value) in map {
                let key = scalar(key);
                // Keys never take expressions.
                check_expressions(path, &key, problems);
                path.push(key);
                walk(value, path, problems);
                path.pop();
            }
        }
        _ => {}
    }
}

fn scalar(node: &Yaml) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

// ------------------------------------------------------------------ manifest vs the action's source

/// The Node versions GitHub's runner accepts in `runs.using` for a JavaScript action, and
/// the newest, which this action names (`ActionManifestManager.ConvertRuns` in actions/runner).
const NODE_VERSIONS: &[&str] = &["node12", "node16", "node20", "node24"];
const NEWEST_NODE: &str = "node24";

/// `PREFIX` followed by a name of the characters in `allowed`, everywhere in `text`.
fn names_after(text: &str, prefix: &str, allowed: fn(char) -> bool) -> BTreeSet<String> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            text[i + prefix.len()..]
                .chars()
                .take_while(|c| allowed(*c))
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The names `call("NAME"` mentions in `text`, e.g. `input("timeout")`.
fn called_with(text: &str, call: &str) -> BTreeSet<String> {
    names_after(text, &format!("{call}(\""), |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
    })
}

fn check_against_source(doc: &Yaml, source: &Source, problems: &mut Vec<String>) {
    let declared_inputs: BTreeSet<String> = doc["inputs"]
        .as_hash()
        .map(|h| h.keys().map(scalar).collect())
        .unwrap_or_default();
    let declared_outputs: BTreeSet<String> = doc["outputs"]
        .as_hash()
        .map(|h| h.keys().map(scalar).collect())
        .unwrap_or_default();

    // runs: a JavaScript action with a post step that runs whatever happened.
    let runs = &doc["runs"];
    let using = runs["using"].as_str().unwrap_or("");
    if !NODE_VERSIONS.contains(&using) {
        problems.push(format!(
            "runs.using is '{using}': GitHub's runner runs a JavaScript action only with one of {NODE_VERSIONS:?}"
        ));
    } else if using != NEWEST_NODE {
        problems.push(format!(
            "runs.using is '{using}', not {NEWEST_NODE}, the newest Node GitHub's runners support"
        ));
    }
    if !runs["steps"].is_badvalue() {
        problems.push(
            "runs.steps: a JavaScript action has no steps (that is a composite action)".into(),
        );
    }
    for (key, wanted) in [
        ("main", "action/dist/main.js"),
        ("post", "action/dist/post.js"),
    ] {
        match runs[key].as_str() {
            None => problems.push(format!(
                "runs.{key} is missing: it must name {wanted}, the bundled entry of that phase"
            )),
            Some(path) if path != wanted => {
                problems.push(format!("runs.{key} is '{path}', expected '{wanted}'"))
            }
            Some(path) => {
                if !source.files.contains(&path.to_string()) {
                    problems.push(format!(
                        "runs.{key} names {path}, which is not in the repository: build and commit action/dist/"
                    ));
                }
            }
        }
    }
    match runs["post-if"].as_str() {
        Some("always()") => {}
        other => problems.push(format!(
            "runs.post-if is {other:?}: it must be 'always()', so the post step releases a lease left behind by a failed or cancelled job too (docs/rules.md §11)"
        )),
    }

    // Inputs: the source reads input("x") (core.getInput); every one is declared, and
    // every declared one is read (and made it into the bundle).
    let read = called_with(&source.text, "input");
    for name in &read {
        if !declared_inputs.contains(name) {
            problems.push(format!(
                "action/src reads the input '{name}', but action.yml declares no input '{name}'"
            ));
        }
    }
    for name in &declared_inputs {
        if !read.contains(name) {
            problems.push(format!(
                "input '{name}' is declared but action/src never reads it"
            ));
        }
        if !source.bundle.contains(&format!("\"{name}\"")) {
            problems.push(format!(
                "input '{name}' is not in action/dist/main.js: rebuild the bundle (bash .ci/action.sh)"
            ));
        }
    }

    // Outputs: every core.setOutput("x") is declared; a JavaScript action's outputs have no value.
    let written = called_with(&source.text, "core.setOutput");
    for name in &written {
        if !declared_outputs.contains(name) {
            problems.push(format!(
                "action/src writes the output '{name}', but action.yml does not declare it (workflows cannot read it)"
            ));
        }
    }
    for name in &declared_outputs {
        if !written.contains(name) {
            problems.push(format!(
                "output '{name}' is declared but action/src never writes it"
            ));
        }
        if !doc["outputs"][name.as_str()]["value"].is_badvalue() {
            problems.push(format!(
                "outputs.{name}.value: a JavaScript action's outputs are what it sets; 'value' belongs to composite actions"
            ));
        }
    }
}

/// The action's TypeScript source (all of action/src, one text), the files the
/// repository holds under action/dist, and the main bundle's text.
struct Source {
    text: String,
    files: Vec<String>,
    bundle: String,
}

fn source() -> Source {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut text = String::new();
    let mut names: Vec<_> = fs::read_dir(root.join("action/src"))
        .expect("read action/src")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .collect();
    names.sort();
    for path in names {
        text.push_str(&fs::read_to_string(&path).expect("read source"));
        text.push('\n');
    }
    let files = fs::read_dir(root.join("action/dist"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| format!("action/dist/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    let bundle = fs::read_to_string(root.join("action/dist/main.js")).unwrap_or_default();
    Source {
        text,
        files,
        bundle,
    }
}

/// Everything wrong with `manifest` (the text of action.yml) for GitHub's runner and
/// for the action's `source`. Empty when the action loads and works.
fn manifest_problems(manifest: &str, source: &Source) -> Vec<String> {
    let docs = match YamlLoader::load_from_str(manifest) {
        Ok(docs) => docs,
        Err(e) => return vec![format!("action.yml is not YAML: {e}")],
    };
    let Some(doc) = docs.first() else {
        return vec!["action.yml is empty".into()];
    };
    let mut problems = Vec::new();
    for key in ["name", "description", "runs"] {
        if doc[key].is_badvalue() {
            problems.push(format!("action.yml has no '{key}', which GitHub requires"));
        }
    }
    walk(doc, &mut Vec::new(), &mut problems);
    check_against_source(doc, source, &mut problems);
    problems
}

// ------------------------------------------------------------------ tests

#[test]
fn action_yml_loads_the_way_githubs_runner_loads_it_and_matches_the_source() {
    // Arrange
    let manifest = repo_file("action.yml");

    // Act
    let problems = manifest_problems(&manifest, &source());

    // Assert
    assert!(
        problems.is_empty(),
        "action.yml problems:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_manifest_that_github_refused_to_load_is_rejected() {
    // Arrange: action.yml as it was before the fix, with `${{ }}` in two input descriptions.
    let manifest = repo_file("tests/fixtures/action-refused-by-the-runner.yml");

    // Act
    let problems = manifest_problems(&manifest, &source());

    // Assert
    let about = |at: &str, context: &str| {
        problems
            .iter()
            .any(|p| p.starts_with(at) && p.contains(context))
    };
    assert!(
        about("inputs.auth.description", "secrets.LEASE_TOKEN"),
        "{problems:#?}"
    );
    assert!(
        about("inputs.release_with_status.description", "job.status"),
        "{problems:#?}"
    );
    assert_reported(&problems, "runs.using is 'composite'");
}

/// The current manifest with one text replaced (which must be there).
fn broken(from: &str, to: &str) -> Vec<String> {
    let manifest = repo_file("action.yml");
    assert!(
        manifest.contains(from),
        "action.yml no longer contains {from:?}"
    );
    manifest_problems(&manifest.replacen(from, to, 1), &source())
}

/// The current source with one text replaced (which must be there).
fn broken_source(from: &str, to: &str) -> Vec<String> {
    let mut source = source();
    assert!(
        source.text.contains(from),
        "action/src no longer contains {from:?}"
    );
    source.text = source.text.replacen(from, to, 1);
    manifest_problems(&repo_file("action.yml"), &source)
}

fn assert_reported(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem mentioning {needle:?}, got {problems:#?}"
    );
}

#[test]
fn an_expression_in_the_name_an_output_description_or_runs_is_rejected() {
    assert_reported(
        &broken(
            "name: mq-lease-service",
            "name: lease ${{ github.repository }}",
        ),
        "name: `${{ github.repository }}` — GitHub evaluates no expression here",
    );
    assert_reported(
        &broken(
            "description: Same as result",
            "description: Same as ${{ steps.lease.outputs.result }}",
        ),
        "outputs.status.description",
    );
    assert_reported(
        &broken(
            "  using: node24",
            "  using: ${{ runner.os == 'Linux' && 'node24' || 'node20' }}",
        ),
        "runs.using: `${{",
    );
}

#[test]
fn an_input_default_may_use_github_but_not_secrets_env_or_inputs() {
    let ok = broken(
        "    default: 60m",
        "    default: ${{ github.event_name == 'merge_group' && '60m' || '5m' }}",
    );
    assert!(ok.is_empty(), "{ok:#?}");
    for context in ["secrets.LEASE_TOKEN", "env.TIMEOUT", "inputs.poll_interval"] {
        let problems = broken(
            "    default: 60m",
            &format!("    default: ${{{{ {context} }}}}"),
        );
        let name = context.split('.').next().unwrap_or_default();
        assert_reported(&problems, &format!("uses the context '{name}'"));
    }
}

#[test]
fn the_action_runs_on_the_newest_node_with_a_post_step_that_always_runs() {
    assert_reported(&broken("  using: node24", "  using: node20"), "not node24");
    assert_reported(
        &broken("  using: node24", "  using: node22"),
        "runs.using is 'node22'",
    );
    assert_reported(
        &broken("  post-if: always()", "  post-if: success()"),
        "runs.post-if is Some(\"success()\")",
    );
    assert_reported(
        &broken("  post: action/dist/post.js\n", ""),
        "runs.post is missing",
    );
    assert_reported(
        &broken(
            "  main: action/dist/main.js",
            "  main: action/dist/index.js",
        ),
        "runs.main is 'action/dist/index.js'",
    );
}

#[test]
fn an_input_the_source_reads_must_be_declared() {
    let manifest = repo_file("action.yml");
    let without_timeout = manifest.replacen(
        "  timeout:\n    description: How long acquiring may wait overall (e.g. 60m, 1h30m, 90s)\n    required: false\n    default: 60m\n",
        "",
        1,
    );
    assert_ne!(
        without_timeout, manifest,
        "action.yml no longer declares timeout that way"
    );
    assert_reported(
        &manifest_problems(&without_timeout, &source()),
        "reads the input 'timeout', but action.yml declares no input 'timeout'",
    );
    assert_reported(
        &broken_source("input(\"timeout\")", "input(\"deadline\")"),
        "reads the input 'deadline', but action.yml declares no input 'deadline'",
    );
}

#[test]
fn an_output_the_source_writes_must_be_declared_and_carry_no_value() {
    assert_reported(
        &broken_source(
            "core.setOutput(\"status\", result);",
            "core.setOutput(\"status\", result);\n  core.setOutput(\"waited\", result);",
        ),
        "writes the output 'waited', but action.yml does not declare it",
    );
    assert_reported(
        &broken(
            "    description: Same as result\n",
            "    description: Same as result\n    value: ${{ steps.lease.outputs.status }}\n",
        ),
        "outputs.status.value",
    );
}

#[test]
fn the_expression_reader_tells_contexts_from_properties_strings_and_functions() {
    let (contexts, functions) = names_in_expression(
        "format('{0} secrets.x', github.token) && steps.lease.outputs.result == 'x''y' || true",
    );
    assert_eq!(contexts, vec!["github", "steps"]);
    assert_eq!(functions, vec!["format"]);
}
