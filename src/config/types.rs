//! The checked settings the rest of the service reads.

use super::*;

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
    /// `Some` with `--postgres-url` / `[store] postgres_url`: several replicas share the state.
    pub cluster: Option<ClusterSettings>,
}

/// Cluster mode (docs/rules.md §10): the state lives in PostgreSQL, one replica owns it at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    pub postgres_url: DatabaseUrl,
    /// `--postgres-password-file` / `[store] postgres_password_file`: read at start.
    pub postgres_password_file: Option<PathBuf>,
    /// How the other replicas reach this one; `None` means `http://127.0.0.1:<port>`.
    pub advertise_url: Option<String>,
    /// How long ownership lasts without a renewal (renewed every third of it).
    pub leader_lease: Duration,
}

/// A database URL. `Debug` and `Display` hide the password; [`DatabaseUrl::expose`] is
/// for the driver only.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: String) -> Self {
        Self(url)
    }

    /// The URL with its password, for connecting. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***` (also a `password=` parameter).
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `scheme://user:secret@host/db?password=x` → `scheme://user:***@host/db?password=***`.
/// A text that is not a URL (a `key=value` connection string) keeps its keys only.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        let keys: Vec<String> = url
            .split_whitespace()
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        return keys.join(" ");
    };
    let (authority_end, _) = rest
        .char_indices()
        .find(|(_, c)| matches!(c, '/' | '?' | '#'))
        .unwrap_or((rest.len(), ' '));
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
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
            cluster: None,
        }
    }
}
