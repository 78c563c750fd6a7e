//! `mq-lease-service convert-config OLD.yaml`: the Go project's YAML config
//! (ankorstore/mq-lease-service) as this service's TOML (docs/rules.md §13).
//!
//! The Go file has `repositories[]` (`owner`, `name`, `base_ref`,
//! `stabilize_duration_seconds`, `ttl_seconds`, `expected_request_count`,
//! `delay_lease_assignment_by`) and `auth.basic.users` (user → password). Each maps to one
//! key here; anything else, and any value this service would refuse, becomes a comment
//! that says why. The result is meant to be read once and committed, so it explains itself.

use std::fmt::Write as _;

use yaml_rust2::{Yaml, YamlLoader};

/// Why the old file could not be converted at all.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("not YAML: {0}")]
    Yaml(String),
    #[error("the file is empty or not a mapping at the top level")]
    NotAMapping,
}

/// The repository keys of the Go config and their names here.
const REPOSITORY_KEYS: [(&str, &str); 4] = [
    ("stabilize_duration_seconds", "stabilisation_window"),
    ("ttl_seconds", "ttl"),
    ("expected_request_count", "expected_build_count"),
    ("delay_lease_assignment_by", "delay_assignment_count"),
];

/// Converts the Go config's text; `source` names it in the header comment.
pub fn convert_go_config(text: &str, source: &str) -> Result<String, ConvertError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| ConvertError::Yaml(e.to_string()))?;
    let Some(Yaml::Hash(top)) = docs.into_iter().next() else {
        return Err(ConvertError::NotAMapping);
    };
    let mut out = Converted::default();
    let _ = writeln!(
        out.head,
        "# Converted from {source} (a config of the Go mq-lease-service) by\n\
         # `mq-lease-service convert-config`. Keys the old file left out take this service's\n\
         # defaults: stabilisation_window 5m, ttl 30s, expected_build_count 4,\n\
         # delay_assignment_count 0 (the Go service read a missing key as 0).\n\
         #\n\
         # A holder that never calls again after its grant (as the Go project's action does)\n\
         # keeps the lease until it releases, as it did with the Go service; set\n\
         # silent_holder_timeout in [defaults] to take it after a while instead. lease_timeout\n\
         # (10m) applies to holders that show a sign of life, as this project's action does."
    );
    out.line("[server]");
    out.line("# Like the Go service: only the repositories listed below are served.");
    out.line("auto_register = false");
    for (key, value) in &top {
        match key.as_str() {
            Some("repositories") => out.repositories(value),
            Some("auth") => out.auth(value),
            _ => out.no_equivalent(&name(key), value, false),
        }
    }
    Ok(out.finish())
}

#[derive(Default)]
struct Converted {
    head: String,
    body: String,
    /// Comments about keys with no equivalent, shown after the header.
    dropped: Vec<String>,
}

impl Converted {
    fn line(&mut self, line: &str) {
        self.body.push_str(line);
        self.body.push('\n');
    }

    fn finish(self) -> String {
        let mut text = self.head;
        if !self.dropped.is_empty() {
            text.push_str("#\n# No equivalent here (left out):\n");
            for d in &self.dropped {
                let _ = writeln!(text, "#   {d}");
            }
        }
        text.push('\n');
        text.push_str(&self.body);
        text
    }

    /// `secret`: under `auth`, where values are not repeated.
    fn no_equivalent(&mut self, path: &str, value: &Yaml, secret: bool) {
        if secret {
            self.dropped.push(path.to_owned());
        } else {
            self.dropped.push(format!("{path}: {}", show(value)));
        }
    }

    fn repositories(&mut self, value: &Yaml) {
        let Yaml::Array(entries) = value else {
            self.no_equivalent("repositories (not a list)", value, false);
            return;
        };
        for (i, entry) in entries.iter().enumerate() {
            let path = format!("repositories[{i}]");
            let Yaml::Hash(fields) = entry else {
                self.no_equivalent(&format!("{path} (not a mapping)"), entry, false);
                continue;
            };
            self.line("");
            self.line("[[repository]]");
            for required in ["owner", "name", "base_ref"] {
                match fields.get(&Yaml::String(required.to_owned())) {
                    Some(v) => {
                        let text = scalar_text(v);
                        let _ = writeln!(self.body, "{required} = {}", quote(&text));
                    }
                    None => {
                        let _ = writeln!(
                            self.body,
                            "# {required} = ?  (missing in {path}: this service needs it)"
                        );
                    }
                }
            }
            for (key, value) in fields {
                let key = name(key);
                if ["owner", "name", "base_ref"].contains(&key.as_str()) {
                    continue;
                }
                match REPOSITORY_KEYS.iter().find(|(old, _)| *old == key) {
                    Some((old, new)) => self.repository_value(old, new, value),
                    None => self.no_equivalent(&format!("{path}.{key}"), value, false),
                }
            }
        }
    }

    /// One lease key: whole seconds or counts in the Go file, the same numbers here.
    fn repository_value(&mut self, old: &str, new: &str, value: &Yaml) {
        // The smallest value this service accepts for the key.
        let min = match new {
            "ttl" | "expected_build_count" => 1,
            _ => 0,
        };
        let line = match value {
            Yaml::Integer(n) if *n >= min => format!("{new} = {n}  # {old}"),
            Yaml::Integer(n) => format!(
                "# {new} = {n}  # {old}: this service needs at least {min}; its default applies"
            ),
            // `${VAR}` left for this service to substitute (the Go service did it too);
            // of these keys, only the durations take a string here.
            Yaml::String(s)
                if s.contains("${") && matches!(new, "stabilisation_window" | "ttl") =>
            {
                format!("{new} = {}  # {old}", quote(s))
            }
            other => format!(
                "# {new} = ?  # {old} was {}: not a whole number; this service's default applies",
                show(other)
            ),
        };
        self.line(&line);
    }

    fn auth(&mut self, value: &Yaml) {
        let Yaml::Hash(auth) = value else {
            self.no_equivalent("auth (not a mapping)", value, true);
            return;
        };
        let mut users = Vec::new();
        for (key, section) in auth {
            let key = name(key);
            if key != "basic" {
                self.no_equivalent(&format!("auth.{key}"), section, true);
                continue;
            }
            let Yaml::Hash(basic) = section else {
                self.no_equivalent("auth.basic (not a mapping)", section, true);
                continue;
            };
            for (k, v) in basic {
                let k = name(k);
                match (k.as_str(), v) {
                    ("users", Yaml::Hash(map)) => {
                        for (user, password) in map {
                            users.push((name(user), scalar_text(password)));
                        }
                    }
                    _ => self.no_equivalent(&format!("auth.basic.{k}"), v, true),
                }
            }
        }
        if users.is_empty() {
            return;
        }
        self.line("");
        self.line("[auth]");
        self.line("# HTTP Basic users, as in the old file. Better: \"${ENV_VAR}\" instead of a");
        self.line("# password in the file (substituted at start, like the Go service did).");
        let pairs: Vec<String> = users
            .iter()
            .map(|(user, password)| format!("{} = {}", quote(user), quote(password)))
            .collect();
        let _ = writeln!(self.body, "basic = {{ {} }}", pairs.join(", "));
    }
}

/// A key as text.
fn name(key: &Yaml) -> String {
    scalar_text(key)
}

/// A scalar as the text YAML had (numbers and booleans as written).
fn scalar_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(n) => n.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => show(other),
    }
}

/// A value for a comment, on one line.
fn show(value: &Yaml) -> String {
    match value {
        Yaml::Array(a) => format!("a list of {}", a.len()),
        Yaml::Hash(h) => format!("a mapping of {} keys", h.len()),
        Yaml::Null => "null".to_owned(),
        other => scalar_text(other).replace('\n', " "),
    }
}

/// A TOML basic string (quotes and escapes as TOML needs).
fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}
