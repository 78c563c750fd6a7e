//! Settings: the TOML file (optional), `${VAR}` substitution and the command-line flags,
//! merged into one checked value that the rest of the service reads.
//!
//! Precedence for lease settings: a `[[repository]]` value beats the flag, which beats
//! `[defaults]`, which beats [`LeaseSettings::default`]. For server keys: flag, file,
//! built-in default.
//!
//! ```no_run
//! use clap::Parser;
//! use mq_lease_service::{cli::Cli, config::Settings};
//!
//! let cli = Cli::parse();
//! match Settings::load(&cli, &|name| std::env::var(name).ok()) {
//!     Ok(settings) => log::info!("starting with {settings:?}"), // Debug hides secrets
//!     Err(e) => eprintln!("configuration error: {e}"),        // names file, line and key
//! }
//! ```

pub mod duration;
pub mod env;
pub mod file;
pub mod oidc;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::cli::Cli;
use crate::domain::{LeaseSettings, ProviderKey};
use duration::RawDuration;
use env::EnvError;
use file::{AuthFile, FileConfig, LeaseFile, RepositoryFile, Secret};
pub use oidc::{GithubOidcSettings, RepositoryPattern};

pub const DEFAULT_BIND: &str = "0.0.0.0";
pub const DEFAULT_PORT: u16 = 8080;
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_MAX_PROVIDERS: usize = 10_000;

/// Everything the service needs to start. `Debug` never shows a password or token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub bind: String,
    pub port: u16,
    pub data_dir: PathBuf,
    /// Create providers for unknown owner/repo/base_ref on `acquire`.
    pub auto_register: bool,
    /// Upper bound on the number of providers (`[server] max_providers`).
    pub max_providers: usize,
    /// `[defaults]` merged with the flags: what an auto-registered provider gets.
    pub defaults: LeaseSettings,
    /// The `[[repository]]` entries, in file order, each fully merged.
    pub repositories: Vec<RepositorySettings>,
    /// `None` when there is no `[auth]` table or it lists no credentials and no
    /// `[auth.github_oidc]`.
    pub auth: Option<AuthSettings>,
    /// `[server] metrics_auth`: `/metrics` needs credentials like the API (default: open).
    pub metrics_auth: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySettings {
    pub key: ProviderKey,
    pub lease: LeaseSettings,
}

/// Credentials for the API routes. `Debug` shows the user names and how many tokens
/// there are, never a password or token.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// `(user, password)` for HTTP Basic (admin).
    pub basic: Vec<(String, String)>,
    /// Accepted `Authorization: Bearer <token>` values (admin).
    pub bearer_tokens: Vec<String>,
    /// GitHub Actions ID tokens, each the identity of one repository.
    pub github_oidc: Option<GithubOidcSettings>,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Users<'a>(&'a [(String, String)]);
        impl fmt::Debug for Users<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(user, _)| (user, "***")))
                    .finish()
            }
        }
        f.debug_struct("AuthSettings")
            .field("basic", &Users(&self.basic))
            .field(
                "bearer_tokens",
                &format_args!("{} token(s)", self.bearer_tokens.len()),
            )
            .field("github_oidc", &self.github_oidc)
            .finish()
    }
}

impl Default for Settings {
    /// What the service runs with when there is no `--config` and no flag.
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND.to_owned(),
            port: DEFAULT_PORT,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            auto_register: true,
            max_providers: DEFAULT_MAX_PROVIDERS,
            defaults: LeaseSettings::default(),
            repositories: Vec::new(),
            auth: None,
            metrics_auth: false,
        }
    }
}

/// A configuration problem. `Display` is the message shown at startup: it names the
/// file, the line and the key, and never contains a password, token or variable value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {message}", Location(path, *line), KeyName(key.as_deref()))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    #[error("{}: key `{key}`: environment variable `{var}` is not set", Location(path, Some(*line)))]
    MissingEnv {
        path: PathBuf,
        line: usize,
        key: String,
        var: String,
    },
    #[error(
        "{}: duplicate [[repository]] {key} (first defined at line {first_line})",
        Location(path, Some(*line))
    )]
    DuplicateRepository {
        path: PathBuf,
        line: usize,
        key: ProviderKey,
        first_line: usize,
    },
}

struct Location<'a>(&'a Path, Option<usize>);

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(line) => write!(f, "{}, line {line}", self.0.display()),
            None => write!(f, "{}", self.0.display()),
        }
    }
}

struct KeyName<'a>(Option<&'a str>);

impl fmt::Display for KeyName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(key) => write!(f, ": key `{key}`"),
            None => Ok(()),
        }
    }
}

impl Settings {
    /// Reads the file named by `--config` (if any), substitutes `${VAR}` from `env`, and
    /// merges the flags. Errors name the file, key and line.
    pub fn load(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        match &cli.config {
            None => {
                let nothing = Source {
                    path: Path::new("(no config file)"),
                    text: "",
                    env,
                };
                Self::merge(FileConfig::default(), &nothing, cli, false)
            }
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Self::from_toml(&text, path, cli, env)
            }
        }
    }

    /// [`Settings::load`] for TOML text already in memory; `origin` is only used in
    /// messages. `cli.config` is ignored.
    pub fn from_toml(
        text: &str,
        origin: &Path,
        cli: &Cli,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| toml_error(&e, text, origin))?;
        let source = Source {
            path: origin,
            text,
            env,
        };
        Self::merge(file, &source, cli, true)
    }

    /// The lease settings a provider gets: its `[[repository]]` entry, else the defaults
    /// when `auto_register` is on, else `None` (the provider must not exist).
    pub fn lease_settings_for(&self, key: &ProviderKey) -> Option<LeaseSettings> {
        self.repositories
            .iter()
            .find(|repository| &repository.key == key)
            .map(|repository| repository.lease.clone())
            .or_else(|| self.auto_register.then(|| self.defaults.clone()))
    }

    /// Layers the file (empty without `--config`) and the flags over the built-in values.
    fn merge(
        file: FileConfig,
        source: &Source<'_>,
        cli: &Cli,
        from_file: bool,
    ) -> Result<Self, ConfigError> {
        let server = file.server;
        let mut settings = Settings {
            // Without a file there is no list of repositories, so accept any.
            auto_register: cli
                .auto_register
                .or(server.auto_register)
                .unwrap_or(!from_file),
            ..Settings::default()
        };

        if let Some(port) = &server.port {
            settings.port = source.integer(port, "server.port", 0, u16::MAX.into())?;
        }
        if let Some(bind) = &server.bind {
            settings.bind = source.non_empty_string(bind, "server.bind")?;
        }
        if let Some(data_dir) = &server.data_dir {
            settings.data_dir =
                PathBuf::from(source.non_empty_string(data_dir, "server.data_dir")?);
        }
        if let Some(max) = &server.max_providers {
            settings.max_providers = source.integer(max, "server.max_providers", 1, i64::MAX)?;
        }
        settings.defaults = source.lease(LeaseSettings::default(), &file.defaults, "defaults")?;
        apply_flags(&mut settings, cli);

        settings.repositories = source.repositories(&file.repository, &settings.defaults)?;
        settings.auth = match &file.auth {
            Some(auth) => source.auth(auth)?,
            None => None,
        };
        if let Some(metrics_auth) = &server.metrics_auth {
            settings.metrics_auth = *metrics_auth.get_ref();
            if settings.metrics_auth && settings.auth.is_none() {
                return source.invalid(
                    metrics_auth.span(),
                    "server.metrics_auth",
                    "is true, but [auth] lists no credentials",
                );
            }
        }
        Ok(settings)
    }
}

fn apply_flags(settings: &mut Settings, cli: &Cli) {
    if let Some(port) = cli.port {
        settings.port = port;
    }
    if let Some(bind) = &cli.bind {
        settings.bind.clone_from(bind);
    }
    if let Some(data) = &cli.data {
        settings.data_dir.clone_from(data);
    }
    let lease = &mut settings.defaults;
    if let Some(window) = cli.stabilisation_window {
        lease.stabilisation_window = window;
    }
    if let Some(ttl) = cli.ttl {
        lease.ttl = ttl;
    }
    if let Some(count) = cli.expected_build_count {
        lease.expected_build_count = count;
    }
    if let Some(count) = cli.delay_assignment_count {
        lease.delay_assignment_count = count;
    }
    if let Some(timeout) = cli.lease_timeout {
        lease.lease_timeout = timeout;
    }
}

/// The file being read: turns spans into line numbers and raw values into checked ones.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    fn invalid<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl fmt::Display,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            path: self.path.to_owned(),
            line: Some(self.line(span.start)),
            key: Some(key.to_owned()),
            message: message.to_string(),
        })
    }

    /// Substitutes `${VAR}` in a string value.
    fn string(
        &self,
        raw: &str,
        span: std::ops::Range<usize>,
        key: &str,
    ) -> Result<String, ConfigError> {
        env::substitute(raw, self.env).or_else(|e| match e {
            EnvError::Missing(var) => Err(ConfigError::MissingEnv {
                path: self.path.to_owned(),
                line: self.line(span.start),
                key: key.to_owned(),
                var,
            }),
            other => self.invalid(span, key, other),
        })
    }

    fn non_empty_string(&self, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        let text = self.string(value.get_ref(), value.span(), key)?;
        if text.trim().is_empty() {
            return self.invalid(value.span(), key, "must not be empty");
        }
        Ok(text)
    }

    fn integer<T: TryFrom<i64>>(
        &self,
        value: &Spanned<i64>,
        key: &str,
        min: i64,
        max: i64,
    ) -> Result<T, ConfigError> {
        let n = *value.get_ref();
        match T::try_from(n) {
            Ok(n) if (min..=max).contains(value.get_ref()) => Ok(n),
            _ if max == i64::MAX => {
                self.invalid(value.span(), key, format_args!("must be at least {min}"))
            }
            _ => self.invalid(
                value.span(),
                key,
                format_args!("must be between {min} and {max}"),
            ),
        }
    }

    fn duration(&self, value: &Spanned<RawDuration>, key: &str) -> Result<Duration, ConfigError> {
        let parsed = match value.get_ref() {
            RawDuration::Seconds(secs) => duration::from_seconds(*secs),
            RawDuration::Text(raw) => duration::parse(&self.string(raw, value.span(), key)?),
        };
        parsed.or_else(|e| self.invalid(value.span(), key, e))
    }

    /// Applies one layer of lease keys (`[defaults]` or a `[[repository]]`) on `base`.
    fn lease(
        &self,
        base: LeaseSettings,
        layer: &LeaseFile,
        section: &str,
    ) -> Result<LeaseSettings, ConfigError> {
        let key = |name: &str| format!("{section}.{name}");
        let mut lease = base;
        if let Some(v) = &layer.stabilisation_window {
            lease.stabilisation_window = self.duration(v, &key("stabilisation_window"))?;
        }
        if let Some(v) = &layer.ttl {
            lease.ttl = self.duration(v, &key("ttl"))?;
            if lease.ttl.is_zero() {
                return self.invalid(v.span(), &key("ttl"), "must be greater than 0");
            }
        }
        if let Some(v) = &layer.expected_build_count {
            lease.expected_build_count =
                self.integer(v, &key("expected_build_count"), 1, u32::MAX.into())?;
        }
        if let Some(v) = &layer.delay_assignment_count {
            lease.delay_assignment_count =
                self.integer(v, &key("delay_assignment_count"), 0, u32::MAX.into())?;
        }
        if let Some(v) = &layer.lease_timeout {
            lease.lease_timeout = self.duration(v, &key("lease_timeout"))?;
        }
        Ok(lease)
    }

    fn repositories(
        &self,
        entries: &[Spanned<RepositoryFile>],
        defaults: &LeaseSettings,
    ) -> Result<Vec<RepositorySettings>, ConfigError> {
        let mut first_seen: HashMap<ProviderKey, usize> = HashMap::new();
        let mut repositories = Vec::with_capacity(entries.len());
        for entry in entries {
            let line = self.line(entry.span().start);
            let repository = entry.get_ref();
            let owner = self.string(
                repository.owner.get_ref(),
                repository.owner.span(),
                "repository.owner",
            )?;
            let name = self.string(
                repository.name.get_ref(),
                repository.name.span(),
                "repository.name",
            )?;
            let base_ref = self.string(
                repository.base_ref.get_ref(),
                repository.base_ref.span(),
                "repository.base_ref",
            )?;
            let key = ProviderKey::new(&owner, &name, &base_ref).or_else(|e| {
                let (span, field) = match e.field {
                    "owner" => (repository.owner.span(), "owner"),
                    "repo" => (repository.name.span(), "name"),
                    _ => (repository.base_ref.span(), "base_ref"),
                };
                self.invalid(span, &format!("repository.{field}"), e)
            })?;
            if let Some(&first_line) = first_seen.get(&key) {
                return Err(ConfigError::DuplicateRepository {
                    path: self.path.to_owned(),
                    line,
                    key,
                    first_line,
                });
            }
            first_seen.insert(key.clone(), line);
            let lease = self.lease(defaults.clone(), &repository.overrides(), "repository")?;
            repositories.push(RepositorySettings { key, lease });
        }
        Ok(repositories)
    }

    fn auth(&self, auth: &AuthFile) -> Result<Option<AuthSettings>, ConfigError> {
        let mut basic = Vec::with_capacity(auth.basic.len());
        for (user, password) in &auth.basic {
            let key = format!("auth.basic.{user}");
            if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
                return self.invalid(
                    password.span(),
                    &key,
                    "a user name must be non-empty, without ':' or control characters",
                );
            }
            basic.push((user.clone(), self.secret(password, &key)?));
        }
        let mut bearer_tokens = Vec::with_capacity(auth.bearer_tokens.len());
        for spanned in &auth.bearer_tokens {
            let token = self.secret(spanned, "auth.bearer_tokens")?;
            if token.chars().any(char::is_whitespace) {
                return self.invalid(
                    spanned.span(),
                    "auth.bearer_tokens",
                    "a bearer token must not contain whitespace",
                );
            }
            bearer_tokens.push(token);
        }
        let github_oidc = match &auth.github_oidc {
            Some(table) => Some(self.github_oidc(table)?),
            None => None,
        };
        if basic.is_empty() && bearer_tokens.is_empty() && github_oidc.is_none() {
            return Ok(None);
        }
        Ok(Some(AuthSettings {
            basic,
            bearer_tokens,
            github_oidc,
        }))
    }

    /// A password or token: substituted, non-empty, no control characters (a trailing
    /// newline from a secret file is a classic mistake). Messages never include it.
    fn secret(&self, value: &Spanned<Secret>, key: &str) -> Result<String, ConfigError> {
        let secret = self.string(&value.get_ref().0, value.span(), key)?;
        if secret.is_empty() {
            return self.invalid(value.span(), key, "must not be empty");
        }
        if secret.chars().any(char::is_control) {
            return self.invalid(
                value.span(),
                key,
                "contains a control character (a trailing newline?)",
            );
        }
        Ok(secret)
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.bytes().take(offset).filter(|&b| b == b'\n').count() + 1
}

/// Turns a TOML or serde error into one naming the line and, when it can be found, the
/// key. String values quoted back by serde are cut out: they may be secrets.
fn toml_error(error: &toml::de::Error, text: &str, path: &Path) -> ConfigError {
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
fn key_before(text: &str, offset: usize) -> Option<String> {
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
fn trailing_key(lhs: &str) -> Option<String> {
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

fn names_key(message: &str) -> bool {
    ["unknown field", "missing field", "duplicate"]
        .iter()
        .any(|prefix| message.starts_with(prefix))
}

/// Replaces serde's `string "…"` (Debug-quoted) with `a string`.
fn redact_strings(message: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const SECRET: &str = "hunter2-s3cr3t";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "CI_PASSWORD" | "LEASE_TOKEN" => Some(SECRET.to_owned()),
            "OWNER" => Some("acme".to_owned()),
            "TTL" => Some("45s".to_owned()),
            _ => None,
        }
    }

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("mq-lease-service").chain(args.iter().copied()))
            .unwrap()
    }

    fn load(text: &str, args: &[&str]) -> Result<Settings, ConfigError> {
        Settings::from_toml(text, Path::new("test.toml"), &cli(args), &env)
    }

    fn error(text: &str) -> String {
        load(text, &[]).unwrap_err().to_string()
    }

    fn key(owner: &str, repo: &str, base_ref: &str) -> ProviderKey {
        ProviderKey::new(owner, repo, base_ref).unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    const THREE_LAYERS: &str = r#"
[defaults]
ttl = "40s"
expected_build_count = 6
stabilisation_window = "2m"

[[repository]]
owner = "acme"
name = "shop"
base_ref = "main"
expected_build_count = 3
"#;

    #[test]
    fn no_config_means_auto_register_and_built_in_defaults() {
        let settings = Settings::load(&cli(&[]), &no_env).unwrap();

        assert_eq!(settings, Settings::default());
        assert!(settings.auto_register);
        assert_eq!(settings.bind, "0.0.0.0");
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert_eq!(settings.max_providers, 10_000);
        assert_eq!(settings.defaults, LeaseSettings::default());
        assert!(settings.repositories.is_empty());
        assert_eq!(settings.auth, None);
    }

    #[test]
    fn no_config_still_takes_the_flags() {
        let settings = Settings::load(
            &cli(&[
                "--port",
                "9000",
                "--bind",
                "127.0.0.1",
                "--data",
                "/tmp/x",
                "--ttl",
                "1m",
            ]),
            &no_env,
        )
        .unwrap();

        assert_eq!(settings.port, 9000);
        assert_eq!(settings.bind, "127.0.0.1");
        assert_eq!(settings.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(settings.defaults.ttl, secs(60));
        assert!(settings.auto_register);
    }

    #[test]
    fn an_empty_file_turns_auto_register_off() {
        let settings = load("", &[]).unwrap();

        assert!(!settings.auto_register);
        assert_eq!(settings.defaults, LeaseSettings::default());
        assert_eq!(settings.port, 8080);
    }

    #[test]
    fn the_auto_register_flag_beats_the_file() {
        let text = "[server]\nauto_register = true\n";
        assert!(load(text, &[]).unwrap().auto_register);
        assert!(
            !load(text, &["--auto-register=false"])
                .unwrap()
                .auto_register
        );
        assert!(load("", &["--auto-register"]).unwrap().auto_register);
    }

    #[test]
    fn defaults_beat_the_built_in_values() {
        let settings = load(THREE_LAYERS, &[]).unwrap();

        assert_eq!(settings.defaults.ttl, secs(40));
        assert_eq!(settings.defaults.expected_build_count, 6);
        assert_eq!(settings.defaults.stabilisation_window, secs(120));
        assert_eq!(settings.defaults.delay_assignment_count, 0);
        assert_eq!(settings.defaults.lease_timeout, secs(600));
    }

    #[test]
    fn a_flag_beats_defaults() {
        let settings = load(
            THREE_LAYERS,
            &["--ttl", "50s", "--expected-build-count", "7"],
        )
        .unwrap();

        assert_eq!(settings.defaults.ttl, secs(50));
        assert_eq!(settings.defaults.expected_build_count, 7);
        assert_eq!(settings.defaults.stabilisation_window, secs(120));
    }

    #[test]
    fn repository_value_beats_flag_and_defaults() {
        let settings = load(
            THREE_LAYERS,
            &["--ttl", "50s", "--expected-build-count", "7"],
        )
        .unwrap();
        let lease = &settings.repositories[0].lease;

        assert_eq!(lease.expected_build_count, 3, "repository beats flag");
        assert_eq!(lease.ttl, secs(50), "flag beats defaults");
        assert_eq!(
            lease.stabilisation_window,
            secs(120),
            "defaults beat built-in"
        );
        assert_eq!(
            lease.lease_timeout,
            secs(600),
            "built-in when nothing is set"
        );
    }

    #[test]
    fn server_flags_beat_the_file() {
        let text = "[server]\nport = 1234\nbind = \"::\"\ndata_dir = \"/srv\"\nmax_providers = 5\n";
        let from_file = load(text, &[]).unwrap();
        let flagged = load(
            text,
            &["--port", "4321", "--bind", "127.0.0.1", "--data", "/d"],
        )
        .unwrap();

        assert_eq!((from_file.port, from_file.bind.as_str()), (1234, "::"));
        assert_eq!(from_file.data_dir, PathBuf::from("/srv"));
        assert_eq!(from_file.max_providers, 5);
        assert_eq!((flagged.port, flagged.bind.as_str()), (4321, "127.0.0.1"));
        assert_eq!(flagged.data_dir, PathBuf::from("/d"));
    }

    #[test]
    fn lease_settings_for_prefers_the_repository_entry() {
        let settings = load(THREE_LAYERS, &[]).unwrap();

        let lease = settings
            .lease_settings_for(&key("acme", "shop", "main"))
            .unwrap();
        assert_eq!(lease.expected_build_count, 3);
    }

    #[test]
    fn lease_settings_for_an_unknown_key_depends_on_auto_register() {
        let unknown = key("acme", "other", "main");
        let closed = load(THREE_LAYERS, &[]).unwrap();
        let open = load(THREE_LAYERS, &["--auto-register"]).unwrap();

        assert_eq!(closed.lease_settings_for(&unknown), None);
        assert_eq!(
            open.lease_settings_for(&unknown),
            Some(open.defaults.clone())
        );
    }

    #[test]
    fn repositories_keep_file_order_and_slashes_in_base_ref() {
        let text = r#"
[[repository]]
owner = "acme"
name = "shop"
base_ref = "release/1.x"

[[repository]]
owner = "acme"
name = "api"
base_ref = "main"
"#;
        let keys: Vec<_> = load(text, &[])
            .unwrap()
            .repositories
            .into_iter()
            .map(|r| r.key)
            .collect();

        assert_eq!(
            keys,
            [
                key("acme", "shop", "release/1.x"),
                key("acme", "api", "main")
            ]
        );
    }

    #[test]
    fn every_duration_form_is_accepted_in_the_file() {
        let text = r#"
[defaults]
stabilisation_window = "1h30m"
ttl = 45
lease_timeout = "250ms"

[[repository]]
owner = "a"
name = "b"
base_ref = "c"
ttl = "90"
lease_timeout = 0
"#;
        let settings = load(text, &[]).unwrap();

        assert_eq!(settings.defaults.stabilisation_window, secs(5400));
        assert_eq!(settings.defaults.ttl, secs(45));
        assert_eq!(settings.defaults.lease_timeout, Duration::from_millis(250));
        assert_eq!(settings.repositories[0].lease.ttl, secs(90));
        assert_eq!(settings.repositories[0].lease.lease_timeout, Duration::ZERO);
    }

    #[test]
    fn lease_timeout_zero_as_a_string_turns_it_off() {
        let settings = load("[defaults]\nlease_timeout = \"0\"\n", &[]).unwrap();
        assert_eq!(settings.defaults.lease_timeout, Duration::ZERO);
    }

    #[test]
    fn bad_values_name_the_key_and_line() {
        let cases = [
            ("[defaults]\n\nttl = \"soon\"\n", "line 3", "defaults.ttl"),
            ("[defaults]\nttl = -5\n", "line 2", "defaults.ttl"),
            ("[defaults]\nttl = 0\n", "line 2", "defaults.ttl"),
            (
                "[defaults]\nexpected_build_count = 0\n",
                "line 2",
                "defaults.expected_build_count",
            ),
            (
                "[defaults]\ndelay_assignment_count = -1\n",
                "line 2",
                "defaults.delay_assignment_count",
            ),
            (
                "[defaults]\nexpected_build_count = \"4\"\n",
                "line 2",
                "expected_build_count",
            ),
            ("[server]\nport = 70000\n", "line 2", "server.port"),
            (
                "[server]\nmax_providers = 0\n",
                "line 2",
                "server.max_providers",
            ),
            ("[server]\ndata_dir = \"\"\n", "line 2", "server.data_dir"),
            (
                "[server]\nauto_register = \"yes\"\n",
                "line 2",
                "auto_register",
            ),
            (
                "[[repository]]\nowner = \"ac/me\"\nname = \"shop\"\nbase_ref = \"main\"\n",
                "line 2",
                "repository.owner",
            ),
            (
                "[[repository]]\nowner = \"acme\"\nname = \"shop\"\nbase_ref = \"\"\n",
                "line 4",
                "repository.base_ref",
            ),
            (
                "[[repository]]\nowner = \"a\"\nname = \"b\"\nbase_ref = \"c\"\nttl = \"1x\"\n",
                "line 5",
                "repository.ttl",
            ),
        ];
        for (text, line, key) in cases {
            let message = error(text);
            assert!(message.starts_with("test.toml, "), "{message}");
            assert!(message.contains(line), "{text:?}: {message}");
            assert!(message.contains(&format!("`{key}`")), "{text:?}: {message}");
        }
    }

    #[test]
    fn a_missing_repository_field_is_named() {
        let message = error("\n[[repository]]\nowner = \"acme\"\nname = \"shop\"\n");
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("base_ref"), "{message}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        for (text, line) in [
            ("[server]\nport = 8080\nprot = 8081\n", "line 3"),
            (
                "[defaults]\nttl = \"30s\"\n\nstabilization_window = \"5m\"\n",
                "line 4",
            ),
            (
                "[[repository]]\nowner = \"a\"\nname = \"b\"\nbase_ref = \"c\"\nbranch = \"x\"\n",
                "line 5",
            ),
            ("[auth]\ntokens = []\n", "line 2"),
            ("[srever]\n", "line 1"),
        ] {
            let message = error(text);
            let unknown = text
                .lines()
                .last()
                .unwrap()
                .split(['=', ']'])
                .next()
                .unwrap()
                .trim_matches(['[', ' ']);
            assert!(
                message.contains(&format!("unknown field `{unknown}`")),
                "{message}"
            );
            assert!(message.contains(line), "{text:?}: {message}");
        }
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let message = error("[server]\nport = 8080\nbind = \"0.0.0.0\n");
        assert!(message.contains("line 3"), "{message}");
    }

    #[test]
    fn duplicate_repository_names_it_and_the_line() {
        let text = r#"[[repository]]
owner = "acme"
name = "shop"
base_ref = "main"

[[repository]]
owner = "acme"
name = "api"
base_ref = "main"

[[repository]]
owner = "acme"
name = "shop"
base_ref = "main"
"#;
        let err = load(text, &[]).unwrap_err();

        assert!(
            matches!(&err, ConfigError::DuplicateRepository { line: 11, first_line: 1, key: k, .. }
                if *k == key("acme", "shop", "main")),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains("line 11"), "{message}");
        assert!(message.contains("acme:shop:main"), "{message}");
    }

    #[test]
    fn env_variables_are_substituted_in_string_values_only() {
        let text = r#"
# ${NOT_SET} in a comment is left alone
[defaults]
ttl = "${TTL}"

[[repository]]
owner = "${OWNER}"
name = "shop-${OWNER}-$${OWNER}"
base_ref = "main"
"#;
        let settings = load(text, &[]).unwrap();

        assert_eq!(settings.defaults.ttl, secs(45));
        assert_eq!(
            settings.repositories[0].key,
            key("acme", "shop-acme-${OWNER}", "main")
        );
    }

    #[test]
    fn auth_reads_users_and_tokens_through_env() {
        let text = r#"
[auth]
basic = { ci = "${CI_PASSWORD}", bot = "plain" }
bearer_tokens = ["${LEASE_TOKEN}", "t2"]
"#;
        let auth = load(text, &[]).unwrap().auth.unwrap();

        assert_eq!(
            auth.basic,
            [
                ("bot".to_owned(), "plain".to_owned()),
                ("ci".to_owned(), SECRET.to_owned())
            ]
        );
        assert_eq!(auth.bearer_tokens, [SECRET, "t2"]);
    }

    #[test]
    fn an_empty_auth_table_means_no_auth() {
        assert_eq!(load("[auth]\n", &[]).unwrap().auth, None);
        assert_eq!(
            load("[auth]\nbasic = {}\nbearer_tokens = []\n", &[])
                .unwrap()
                .auth,
            None
        );
    }

    #[test]
    fn missing_env_var_names_the_variable_and_not_any_secret() {
        let text = "[auth]\nbearer_tokens = [\"${LEASE_TOKEN}\"]\nbasic = { ci = \"${CI_PASSWORD}\", ops = \"${OPS_PASSWORD}\" }\n";
        let err = load(text, &[]).unwrap_err();

        assert!(
            matches!(&err, ConfigError::MissingEnv { var, line: 3, .. } if var == "OPS_PASSWORD"),
            "{err:?}"
        );
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("`OPS_PASSWORD`"), "{shown}");
        assert!(shown.contains("auth.basic.ops"), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
    }

    #[test]
    fn bad_secrets_are_rejected_without_showing_them() {
        for (text, key) in [
            ("[auth]\nbasic = \"hunter2-s3cr3t\"\n", "basic"),
            ("[auth]\nbasic = { ci = 1234567 }\n", "ci"),
            (
                "[auth]\nbearer_tokens = [\"ok\", 1234567]\n",
                "bearer_tokens",
            ),
            ("[auth]\nbasic = { ci = \"\" }\n", "auth.basic.ci"),
            (
                "[auth]\nbearer_tokens = [\"hunter2 s3cr3t\"]\n",
                "auth.bearer_tokens",
            ),
            (
                "[auth]\nbearer_tokens = [\"hunter2-s3cr3t\\n\"]\n",
                "auth.bearer_tokens",
            ),
            (
                "[auth]\nbasic = { \"c:i\" = \"hunter2-s3cr3t\" }\n",
                "auth.basic.c:i",
            ),
        ] {
            let message = error(text);
            assert!(message.contains("line 2"), "{text:?}: {message}");
            assert!(message.contains(key), "{text:?}: {message}");
            for leak in ["hunter2", "s3cr3t", "1234567"] {
                assert!(!message.contains(leak), "{text:?}: {message}");
            }
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let text = "[auth]\nbasic = { ci = \"${CI_PASSWORD}\" }\nbearer_tokens = [\"${LEASE_TOKEN}\", \"t0k3n-two\"]\n";
        let settings = load(text, &[]).unwrap();

        let shown = format!("{settings:?} {:#?}", settings.auth);

        assert!(shown.contains("ci"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        assert!(shown.contains("2 token(s)"), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("t0k3n-two"), "{shown}");
    }

    #[test]
    fn the_file_shapes_do_not_leak_secrets_in_debug_either() {
        let file: FileConfig =
            toml::from_str("[auth]\nbasic = { ci = \"hunter2-s3cr3t\" }\n").unwrap();
        assert!(!format!("{file:?}").contains("hunter2"));
    }

    #[test]
    fn a_missing_config_file_names_the_path() {
        let err = Settings::load(&cli(&["--config", "/nonexistent/mq.toml"]), &no_env).unwrap_err();

        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/mq.toml"), "{err}");
    }

    #[test]
    fn the_data_dir_need_not_exist() {
        let settings = load("[server]\ndata_dir = \"/nonexistent/mq-data\"\n", &[]).unwrap();
        assert_eq!(settings.data_dir, PathBuf::from("/nonexistent/mq-data"));
    }

    #[test]
    fn the_example_config_parses_to_the_documented_values() {
        let text = include_str!("../../config/example.toml");

        let settings =
            Settings::from_toml(text, Path::new("config/example.toml"), &cli(&[]), &no_env)
                .unwrap();

        assert_eq!(settings.port, 8080);
        assert_eq!(settings.bind, "0.0.0.0");
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert!(settings.auto_register);
        assert_eq!(settings.max_providers, 10_000);
        assert_eq!(settings.defaults, LeaseSettings::default());
        assert_eq!(settings.auth, None);
        assert_eq!(
            settings.repositories,
            [RepositorySettings {
                key: key("acme", "shop", "main"),
                lease: LeaseSettings {
                    expected_build_count: 3,
                    ..LeaseSettings::default()
                },
            }]
        );
    }

    #[test]
    fn the_example_config_loads_from_its_path_without_any_env() {
        let settings = Settings::load(&cli(&["--config", "config/example.toml"]), &no_env).unwrap();
        assert_eq!(settings.repositories.len(), 1);
    }

    #[test]
    fn the_commented_auth_example_in_the_example_config_works_when_uncommented() {
        let text = include_str!("../../config/example.toml")
            .replace("# [auth]", "[auth]")
            .replace("# basic =", "basic =")
            .replace("# bearer_tokens =", "bearer_tokens =");

        let without_env =
            Settings::from_toml(&text, Path::new("x"), &cli(&[]), &no_env).unwrap_err();
        let with_env = Settings::from_toml(&text, Path::new("x"), &cli(&[]), &env).unwrap();

        assert!(
            matches!(without_env, ConfigError::MissingEnv { .. }),
            "{without_env}"
        );
        let auth = with_env.auth.unwrap();
        assert_eq!(auth.basic, [("ci".to_owned(), SECRET.to_owned())]);
        assert_eq!(auth.bearer_tokens, [SECRET]);
    }

    #[test]
    fn key_before_finds_the_key_of_a_value_in_tables_and_arrays() {
        let find = |text: &str, value: &str| key_before(text, text.rfind(value).unwrap());
        assert_eq!(find("ttl = 5", "5").as_deref(), Some("ttl"));
        assert_eq!(find("basic = { ci = 5 }", "5").as_deref(), Some("ci"));
        assert_eq!(find("t = [\"a=b\", 'c=', 5]", "5").as_deref(), Some("t"));
        assert_eq!(
            find("\"quoted key\" = 5", "5").as_deref(),
            Some("quoted key")
        );
        assert_eq!(find("[server]\nport", "port"), None);
    }

    #[test]
    fn redaction_cuts_quoted_strings_with_escapes() {
        assert_eq!(
            redact_strings(r#"invalid type: string "a\"b", expected i64"#),
            "invalid type: a string, expected i64"
        );
    }
}
