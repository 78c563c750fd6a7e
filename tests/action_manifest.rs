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
//! Besides the expressions, the manifest must agree with `action/lease.sh`: every
//! `INPUT_*` the script reads is a declared input mapped into the step's env, every
//! declared input reaches the script, every output the script writes is declared
//! (and the other way round), and the outputs read the composite step's id.

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

// ------------------------------------------------------------------ manifest vs script

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

fn check_against_script(doc: &Yaml, script: &str, problems: &mut Vec<String>) {
    let declared_inputs: BTreeSet<String> = doc["inputs"]
        .as_hash()
        .map(|h| h.keys().map(scalar).collect())
        .unwrap_or_default();
    let declared_outputs: BTreeSet<String> = doc["outputs"]
        .as_hash()
        .map(|h| h.keys().map(scalar).collect())
        .unwrap_or_default();

    let steps = doc["runs"]["steps"].as_vec().cloned().unwrap_or_default();
    if doc["runs"]["using"].as_str() != Some("composite") {
        problems.push("runs.using: the action is meant to be a composite action".into());
    }
    let Some(step) = steps.iter().find(|s| {
        s["run"]
            .as_str()
            .is_some_and(|r| r.contains("action/lease.sh"))
    }) else {
        problems.push("runs.steps: no step runs action/lease.sh".into());
        return;
    };
    let step_id = step["id"].as_str().unwrap_or("").to_string();
    if step_id.is_empty() {
        problems.push("runs.steps: the step that runs action/lease.sh has no id, so its outputs cannot be read".into());
    }
    if step["shell"].as_str() != Some("bash") {
        problems.push("runs.steps: the step that runs action/lease.sh must use shell: bash".into());
    }

    // Inputs: the script reads INPUT_X; the step maps INPUT_X: ${{ inputs.x }}.
    let env: Vec<(String, String)> = step["env"]
        .as_hash()
        .map(|h| h.iter().map(|(k, v)| (scalar(k), scalar(v))).collect())
        .unwrap_or_default();
    let read = names_after(script, "INPUT_", |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
    });
    for var in &read {
        let input = var.to_lowercase();
        if !declared_inputs.contains(&input) {
            problems.push(format!(
                "action/lease.sh reads INPUT_{var}, but action.yml declares no input '{input}'"
            ));
        }
    }
    for input in &declared_inputs {
        let var = format!("INPUT_{}", input.to_uppercase());
        let wanted = format!("${{{{ inputs.{input} }}}}");
        match env.iter().find(|(k, _)| *k == var) {
            None => problems.push(format!(
                "input '{input}' is declared but the step's env does not set {var}: the script never sees it"
            )),
            Some((_, v)) if v.trim() != wanted => problems.push(format!(
                "runs.steps.{step_id}.env.{var} is '{v}', expected '{wanted}'"
            )),
            Some(_) => {}
        }
        if !read.contains(&input.to_uppercase()) {
            problems.push(format!(
                "input '{input}' is declared but action/lease.sh never reads {var}"
            ));
        }
    }
    for (k, v) in &env {
        if let Some(name) = k.strip_prefix("INPUT_") {
            if !declared_inputs.contains(&name.to_lowercase()) {
                problems.push(format!(
                    "runs.steps.{step_id}.env.{k} = '{v}' names no declared input"
                ));
            }
        }
    }

    // Outputs: every `set_output NAME` of the script is declared and read from this step.
    let written = names_after(script, "set_output ", |c| {
        c.is_ascii_lowercase() || c == '_'
    });
    for name in &written {
        if !declared_outputs.contains(name) {
            problems.push(format!(
                "action/lease.sh writes the output '{name}', but action.yml does not declare it (workflows cannot read it)"
            ));
        }
    }
    for name in &declared_outputs {
        let value = doc["outputs"][name.as_str()]["value"]
            .as_str()
            .unwrap_or("");
        let wanted = format!("${{{{ steps.{step_id}.outputs.{name} }}}}");
        if value.trim() != wanted {
            problems.push(format!(
                "outputs.{name}.value is '{value}', expected '{wanted}' (the id of the step that runs the script)"
            ));
        }
        if !written.contains(name) {
            problems.push(format!(
                "output '{name}' is declared but action/lease.sh never writes it"
            ));
        }
    }
}

/// Everything wrong with `manifest` (the text of action.yml) for GitHub's runner and
/// for `script` (the text of action/lease.sh). Empty when the action loads and works.
fn manifest_problems(manifest: &str, script: &str) -> Vec<String> {
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
    check_against_script(doc, script, &mut problems);
    problems
}

// ------------------------------------------------------------------ tests

#[test]
fn action_yml_loads_the_way_githubs_runner_loads_it_and_matches_the_script() {
    // Arrange
    let manifest = repo_file("action.yml");
    let script = repo_file("action/lease.sh");

    // Act
    let problems = manifest_problems(&manifest, &script);

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
    let script = repo_file("action/lease.sh");

    // Act
    let problems = manifest_problems(&manifest, &script);

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
}

/// The current manifest with one text replaced (which must be there).
fn broken(from: &str, to: &str) -> Vec<String> {
    let manifest = repo_file("action.yml");
    assert!(
        manifest.contains(from),
        "action.yml no longer contains {from:?}"
    );
    manifest_problems(
        &manifest.replacen(from, to, 1),
        &repo_file("action/lease.sh"),
    )
}

fn assert_reported(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem mentioning {needle:?}, got {problems:#?}"
    );
}

#[test]
fn an_expression_in_the_name_or_an_output_description_is_rejected() {
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
fn an_output_must_read_the_step_that_runs_the_script() {
    assert_reported(
        &broken("    - id: lease", "    - id: lease-step"),
        "outputs.result.value",
    );
}

#[test]
fn an_input_the_script_reads_must_be_declared_and_mapped() {
    assert_reported(
        &broken("        INPUT_TIMEOUT: ${{ inputs.timeout }}\n", ""),
        "the step's env does not set INPUT_TIMEOUT",
    );
    let manifest = repo_file("action.yml");
    let script = repo_file("action/lease.sh").replace(
        "INPUT_TIMEOUT:-60m",
        "INPUT_TIMEOUT:-${INPUT_DEADLINE:-60m}",
    );
    assert_reported(
        &manifest_problems(&manifest, &script),
        "reads INPUT_DEADLINE, but action.yml declares no input 'deadline'",
    );
}

#[test]
fn an_output_the_script_writes_must_be_declared() {
    let manifest = repo_file("action.yml");
    let script = repo_file("action/lease.sh").replace(
        "set_output status \"$1\"",
        "set_output status \"$1\"\n  set_output waited \"$1\"",
    );
    assert_reported(
        &manifest_problems(&manifest, &script),
        "writes the output 'waited', but action.yml does not declare it",
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
