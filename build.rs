//! Build script: the git revision that `--version` and `mq_lease_build_info` report
//! next to the Cargo.toml version, as the compile-time variable `MQ_LEASE_REVISION`.
//!
//! `MQ_LEASE_GIT_REVISION`, when set, wins (container builds have no `.git`: the
//! Dockerfile passes its `REVISION` build argument); otherwise `git rev-parse --short HEAD`
//! in the source tree; otherwise `unknown` (a source tarball without git).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MQ_LEASE_GIT_REVISION");
    let revision = std::env::var("MQ_LEASE_GIT_REVISION")
        .ok()
        .and_then(|r| clean(&r))
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MQ_LEASE_REVISION={revision}");
}

/// A revision fit for a version string and a metric label: trimmed, no spaces or quotes.
fn clean(text: &str) -> Option<String> {
    let text = text.trim();
    let fits = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    fits.then(|| text.to_owned())
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn git_revision() -> Option<String> {
    let revision = clean(&git(&["rev-parse", "--short", "HEAD"])?)?;
    // Build again when HEAD moves: HEAD itself (a checkout), the branch it names (a
    // commit), or the branch's folder while the branch is only in the packed refs (a
    // commit then writes its file there), and the packed refs. `--git-path` finds them in a worktree too. A path that does not exist
    // is not watched: Cargo would build again every time.
    let mut watched: Vec<String> = ["HEAD", "packed-refs"]
        .iter()
        .filter_map(|name| git(&["rev-parse", "--git-path", name]))
        .collect();
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        match git(&["rev-parse", "--git-path", &branch]) {
            Some(file) if std::path::Path::new(&file).exists() => watched.push(file),
            _ => {
                let folder = branch.rsplit_once('/').map_or("refs", |(folder, _)| folder);
                watched.extend(git(&["rev-parse", "--git-path", folder]));
            }
        }
    }
    for path in watched {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(revision)
}
