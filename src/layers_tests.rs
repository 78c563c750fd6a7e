//! The import rules of the module docs in `lib.rs`, checked on the source text: each
//! layer imports only the layers below it, no two modules import each other (directly or
//! round a longer circle), and no source file outgrows [`MAX_CODE_LINES`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module of the crate and the crate modules it may import. A module
/// `lib.rs` declares that is missing here fails the test: a new module gets a row.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "startup",
        &[
            "access_log",
            "actors",
            "config",
            "domain",
            "health",
            "metrics",
            "openapi",
            "routes",
            "service",
            "store",
            "ui",
        ],
    ),
    ("openapi", &["routes"]),
    ("ui", &["routes", "service", "domain"]),
    ("access_log", &["routes", "metrics", "domain"]),
    ("routes", &["service", "domain", "config", "metrics"]),
    ("service", &["actors", "domain", "store", "health"]),
    (
        "actors",
        &["store", "metrics", "health", "config", "domain"],
    ),
    ("store", &["domain"]),
    ("metrics", &["domain"]),
    ("health", &["domain"]),
    ("config", &["domain", "logging"]),
    ("healthcheck", &[]),
    ("logging", &[]),
    ("domain", &[]),
];

/// The most lines of code (not blank, not a comment, before a file's `#[cfg(test)]`)
/// a source file may have.
const MAX_CODE_LINES: usize = 450;

/// One source file: its module path (`actors::provider`) and text.
struct Module {
    path: Vec<String>,
    file: PathBuf,
    text: String,
}

impl Module {
    fn name(&self) -> String {
        if self.path.is_empty() {
            "crate".to_owned()
        } else {
            self.path.join("::")
        }
    }

    /// The lines of code: not blank, not a comment, and not test-only (an item under
    /// `#[cfg(test)]`: one line, or a `mod tests { … }` block up to the file's end).
    fn code(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut lines = self.text.lines();
        while let Some(line) = lines.next() {
            let t = line.trim_start();
            if t.starts_with("#[cfg(test)]") {
                let item = lines.by_ref().find(|l| !l.trim_start().starts_with("#["));
                if item.is_some_and(|l| l.trim_end().ends_with('{')) {
                    break;
                }
                continue;
            }
            if !t.is_empty() && !t.starts_with("//") {
                out.push(line);
            }
        }
        out
    }
}

/// Every module file of the library, test-only modules (declared under `#[cfg(test)]`)
/// left out: tests may reach across layers.
fn modules() -> Vec<Module> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut todo = vec![(Vec::<String>::new(), src.join("lib.rs"))];
    while let Some((path, file)) = todo.pop() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = if path.is_empty() || file.ends_with("mod.rs") {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        let mut test_only = false;
        let mut path_attr: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[cfg(test)]") {
                test_only = true;
                continue;
            }
            if let Some(p) = line.strip_prefix("#[path = \"") {
                path_attr = p.strip_suffix("\"]").map(str::to_owned);
                continue;
            }
            let declared = line
                .strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("pub(crate) mod "))
                .or_else(|| line.strip_prefix("mod "))
                .and_then(|rest| rest.strip_suffix(';'));
            if let Some(name) = declared {
                if !test_only {
                    let child = match path_attr.take() {
                        Some(p) => dir.join(p),
                        None if dir.join(format!("{name}.rs")).is_file() => {
                            dir.join(format!("{name}.rs"))
                        }
                        None => dir.join(name).join("mod.rs"),
                    };
                    let mut child_path = path.clone();
                    child_path.push(name.to_owned());
                    todo.push((child_path, child));
                }
            }
            if !line.starts_with("#[") {
                test_only = false;
                path_attr = None;
            }
        }
        out.push(Module { path, file, text });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The paths a `use` tree names, braces expanded: `a::{b, c::{d, self}}` gives `a::b`,
/// `a::c::d` and `a::c`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let plain = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![plain.trim_end_matches("::self").to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.trim_end_matches("::").to_owned()
            } else {
                format!("{prefix}{p}")
            }
        })
        .collect()
}

/// What a module refers to: its `use` trees (whether they re-export, and the path) and
/// every `crate::…` path written elsewhere in its code.
fn references(m: &Module) -> Vec<(bool, String)> {
    let code = m.code();
    let joined = code.join("\n");
    let mut out = Vec::new();
    let mut rest = joined.as_str();
    while let Some(at) = find_use(rest) {
        let after = &rest[at..];
        let public = after.starts_with("pub");
        let body_at = after.find("use ").unwrap() + 4;
        let end = after.find(';').unwrap_or(after.len());
        for p in expand(&after[body_at..end].replace('\n', " ")) {
            out.push((public, p));
        }
        rest = &after[end..];
    }
    for line in code.iter().filter(|l| find_use(l).is_none()) {
        let mut text = *line;
        while let Some(at) = text.find("crate::") {
            let tail: String = text[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push((false, tail.trim_end_matches(':').to_owned()));
            text = &text[at + 7..];
        }
    }
    out
}

/// The start of the next `use` or `pub use` item (at the start of a line).
fn find_use(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("use ") || t.starts_with("pub use ") || t.starts_with("pub(crate) use ") {
            return Some(offset + line.len() - t.len());
        }
        offset += line.len();
    }
    None
}

/// `path`, written in module `from`, as an absolute path from the crate root; `None` for
/// other crates.
fn absolute(from: &[String], path: &str, known: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, rest): (Vec<String>, &[&str]) = match segments.first()? {
        &"crate" => (Vec::new(), &segments[1..]),
        &"self" => (from.to_vec(), &segments[1..]),
        &"super" => {
            let mut base = from.to_vec();
            let mut rest = &segments[..];
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        first => {
            // A child module of this one (`use writer::Job`); anything else is a crate.
            let mut child = from.to_vec();
            child.push((*first).to_owned());
            if !known.contains(&child) {
                return None;
            }
            (from.to_vec(), &segments[..])
        }
    };
    base.extend(rest.iter().map(|s| (*s).to_owned()));
    Some(base)
}

/// The module that defines what `path` names: the longest module prefix, followed
/// through that module's `pub use` re-exports.
fn target(
    path: &[String],
    known: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
) -> Vec<String> {
    let mut module = Vec::new();
    for (i, segment) in path.iter().enumerate() {
        let mut next = module.clone();
        next.push(segment.clone());
        if known.contains(&next) {
            module = next;
            continue;
        }
        if let Some(to) = reexports.get(&module).and_then(|r| r.get(segment)) {
            let mut through = to.clone();
            through.extend(path[i + 1..].iter().cloned());
            if through != path {
                return target(&through, known, reexports);
            }
        }
        break;
    }
    module
}

fn is_within(inner: &[String], outer: &[String]) -> bool {
    inner.starts_with(outer)
}

/// Module → the modules it imports from, with a module's own ancestors and descendants
/// left out (a child module is part of its parent). With `defined`, a name is followed
/// through `pub use` re-exports to the module that defines it (for circles); without,
/// it is the module the path names (for layers: `service` re-exports for `routes`).
fn import_graph(modules: &[Module], defined: bool) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<Vec<String>> = modules.iter().map(|m| m.path.clone()).collect();
    let mut reexports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for m in modules {
        for (public, p) in references(m) {
            let Some(abs) = absolute(&m.path, &p, &known).filter(|_| public && defined) else {
                continue;
            };
            if let Some(name) = abs.last() {
                reexports
                    .entry(m.path.clone())
                    .or_default()
                    .insert(name.clone(), abs.clone());
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in modules {
        let edges = graph.entry(m.name()).or_default();
        for (_, p) in references(m) {
            let Some(abs) = absolute(&m.path, &p, &known) else {
                continue;
            };
            let to = target(&abs, &known, &reexports);
            if is_within(&to, &m.path) || is_within(&m.path, &to) {
                continue;
            }
            edges.insert(to.join("::"));
        }
    }
    graph
}

#[test]
fn no_layer_imports_a_layer_above_it() {
    let modules = modules();
    let mut wrong = Vec::new();
    for top in modules.iter().filter(|m| m.path.len() == 1) {
        if !LAYERS.iter().any(|(layer, _)| *layer == top.path[0]) {
            wrong.push(format!(
                "{}: a module with no row in LAYERS (say what it may import)",
                top.path[0]
            ));
        }
    }
    let graph = import_graph(&modules, false);
    for m in &modules {
        let Some(layer) = m.path.first() else {
            continue;
        };
        let allowed = LAYERS
            .iter()
            .find(|(l, _)| l == layer)
            .map_or(&[][..], |(_, a)| *a);
        for to in &graph[&m.name()] {
            let to_layer = to.split("::").next().unwrap_or_default();
            if to_layer != layer && !allowed.contains(&to_layer) {
                wrong.push(format!("{} ({}) imports {to}", m.name(), m.file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every circle of `graph`, as `a -> b -> a`.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut circles = BTreeSet::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, trail)) = todo.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if next == start {
                    let mut circle = trail.clone();
                    circle.push(start.clone());
                    circles.insert(circle.join(" -> "));
                } else if seen.insert(next.clone()) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    todo.push((next.clone(), longer));
                }
            }
        }
    }
    circles
}

#[test]
fn no_two_modules_import_each_other_even_round_a_circle() {
    let files = import_graph(&modules(), true);
    // The same between the top-level modules (the layers) as wholes.
    let mut layers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in &files {
        let layer = |m: &str| m.split("::").next().unwrap_or_default().to_owned();
        let edges = layers.entry(layer(from)).or_default();
        edges.extend(to.iter().map(|t| layer(t)).filter(|t| *t != layer(from)));
    }
    let found: Vec<String> = circles(&files)
        .into_iter()
        .chain(circles(&layers))
        .collect();
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn no_source_file_is_over_the_limit_of_lines_of_code() {
    let too_long: Vec<String> = modules()
        .iter()
        .map(|m| (m.code().len(), m.file.display().to_string()))
        .filter(|(n, _)| *n > MAX_CODE_LINES)
        .map(|(n, file)| format!("{file}: {n} lines of code"))
        .collect();
    assert!(
        too_long.is_empty(),
        "over {MAX_CODE_LINES} lines of code:\n{}",
        too_long.join("\n")
    );
}

#[test]
fn the_checks_read_use_trees_and_see_a_circle() {
    let known: BTreeSet<Vec<String>> = [vec!["a".to_owned()], vec!["b".to_owned()]]
        .into_iter()
        .collect();
    let a = Module {
        path: vec!["a".into()],
        file: "a.rs".into(),
        text: "use crate::b::{B, other::{C, self}};\nfn f() { crate::b::g(); }\n".into(),
    };
    let refs: Vec<String> = references(&a).into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        refs,
        [
            "crate::b::B",
            "crate::b::other::C",
            "crate::b::other",
            "crate::b::g"
        ]
    );
    let b = Module {
        path: vec!["b".into()],
        file: "b.rs".into(),
        text: "pub use crate::a::A;\n".into(),
    };
    let graph = import_graph(&[a, b], true);
    assert!(graph["a"].contains("b") && graph["b"].contains("a"));
    assert_eq!(
        absolute(&["a".into()], "super::b::B", &known),
        Some(vec!["b".into(), "B".into()])
    );
}
