//! Rewriting TOML and serde errors: the line, the key, and no quoted values (they may be secrets).

use super::*;

/// 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.bytes().take(offset).filter(|&b| b == b'\n').count() + 1
}

/// Turns a TOML or serde error into one naming the line and, when it can be found, the
/// key. String values quoted back by serde are cut out: they may be secrets.
pub(super) fn toml_error(error: &toml::de::Error, text: &str, path: &Path) -> ConfigError {
    let span = error.span();
    let mut message = redact_strings(error.message()).trim().replace('\n', "; ");
    if message.is_empty() {
        message = "invalid TOML syntax".to_owned();
    }
    ConfigError::Invalid {
        path: path.to_owned(),
        line: span.as_ref().map(|span| line_of(text, span.start)),
        // These messages already name the key; the span then points at a key, not a value.
        key: if names_key(error.message()) {
            None
        } else {
            span.and_then(|span| key_before(text, span.start))
        },
        message,
    }
}

/// The key whose value starts at `offset`: the last `key =` before it on the same line
/// (so `ttl = 5`, `basic = { ci = 5 }` and `bearer_tokens = ["a", 5]` all work).
pub(super) fn key_before(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let mut key = None;
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if c == q && !escaped {
                    quote = None;
                }
                escaped = q == '"' && c == '\\' && !escaped;
            }
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '=' => key = trailing_key(&line[..i]).or(key),
            None => {}
        }
    }
    key
}

/// The bare or quoted key at the end of `lhs` (`  owner ` → `owner`).
pub(super) fn trailing_key(lhs: &str) -> Option<String> {
    let lhs = lhs.trim_end();
    let key = match lhs.strip_suffix(['"', '\'']) {
        Some(quoted) => &quoted[quoted.rfind(['"', '\'']).map_or(0, |i| i + 1)..],
        None => {
            let start = lhs
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                .map_or(0, |i| i + 1);
            &lhs[start..]
        }
    };
    (!key.is_empty()).then(|| key.to_owned())
}

pub(super) fn names_key(message: &str) -> bool {
    ["unknown field", "missing field", "duplicate"]
        .iter()
        .any(|prefix| message.starts_with(prefix))
}

/// Replaces serde's `string "…"` (Debug-quoted) with `a string`.
pub(super) fn redact_strings(message: &str) -> String {
    const MARK: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = rest.find(MARK) {
        out.push_str(&rest[..pos]);
        out.push_str("a string");
        let quoted = &rest[pos + MARK.len()..];
        let mut escaped = false;
        let end = quoted
            .char_indices()
            .find(|&(_, c)| {
                let closes = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                closes
            })
            .map_or(quoted.len(), |(i, _)| i + 1);
        rest = &quoted[end..];
    }
    out.push_str(rest);
    out
}
