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
