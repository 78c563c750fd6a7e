//! The import arrows of the module docs in `lib.rs`, checked on the source text.

use std::path::Path;

/// (layer, modules it must not import).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "domain",
        &[
            "store", "actors", "service", "routes", "ui", "startup", "metrics", "health", "config",
        ],
    ),
    (
        "store",
        &[
            "actors", "service", "routes", "ui", "startup", "metrics", "config",
        ],
    ),
    (
        "health",
        &["actors", "service", "routes", "ui", "startup", "store"],
    ),
    (
        "metrics",
        &["actors", "service", "routes", "ui", "startup", "store"],
    ),
    (
        "config",
        &["actors", "service", "routes", "ui", "startup", "store"],
    ),
    ("actors", &["service", "routes", "ui", "startup"]),
    ("service", &["routes", "ui", "startup"]),
    ("routes", &["actors", "store", "startup"]),
    ("ui", &["actors", "store", "startup"]),
];

fn sources(layer: &str) -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let file = src.join(format!("{layer}.rs"));
    if file.is_file() {
        out.push((
            file.display().to_string(),
            std::fs::read_to_string(&file).unwrap(),
        ));
    }
    let mut dirs = vec![src.join(layer)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                // Test-only files may reach across layers (a round trip through the store).
                && !path.to_string_lossy().ends_with("tests.rs")
            {
                out.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    out
}

#[test]
fn no_layer_imports_a_layer_above_it() {
    let mut wrong = Vec::new();
    for (layer, forbidden) in FORBIDDEN {
        let files = sources(layer);
        assert!(!files.is_empty(), "no sources for {layer}");
        for (path, text) in files {
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for module in *forbidden {
                    if line.contains(&format!("crate::{module}::"))
                        || line.contains(&format!("crate::{module};"))
                        || line.contains(&format!("crate::{module}::{{"))
                    {
                        wrong.push(format!("{path}: {} imports {module}: {line}", layer));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
