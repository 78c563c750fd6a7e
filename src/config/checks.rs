//! `Source`: the file being read; turns raw TOML values into checked ones.

use super::*;

/// The file being read: turns spans into line numbers and raw values into checked ones.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
}

impl Source<'_> {
    pub(super) fn line(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    pub(super) fn invalid<T>(
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
    pub(super) fn string(
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

    pub(super) fn non_empty_string(
        &self,
        value: &Spanned<String>,
        key: &str,
    ) -> Result<String, ConfigError> {
        let text = self.string(value.get_ref(), value.span(), key)?;
        if text.trim().is_empty() {
            return self.invalid(value.span(), key, "must not be empty");
        }
        Ok(text)
    }

    pub(super) fn integer<T: TryFrom<i64>>(
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

    pub(super) fn duration(
        &self,
        value: &Spanned<RawDuration>,
        key: &str,
    ) -> Result<Duration, ConfigError> {
        let parsed = match value.get_ref() {
            RawDuration::Seconds(secs) => duration::from_seconds(*secs),
            RawDuration::Text(raw) => duration::parse(&self.string(raw, value.span(), key)?),
        };
        parsed.or_else(|e| self.invalid(value.span(), key, e))
    }

    /// Applies one layer of lease keys (`[defaults]` or a `[[repository]]`) on `base`.
    pub(super) fn lease(
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
        if let Some(v) = &layer.silent_holder_timeout {
            let name = key("silent_holder_timeout");
            let timeout = self.duration(v, &name)?;
            lease.silent_holder_timeout = duration::check_silent_holder_timeout(timeout)
                .or_else(|e| self.invalid(v.span(), &name, e))?;
        }
        Ok(lease)
    }

    pub(super) fn repositories(
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

    pub(super) fn auth(&self, auth: &AuthFile) -> Result<Option<AuthSettings>, ConfigError> {
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
    pub(super) fn secret(&self, value: &Spanned<Secret>, key: &str) -> Result<String, ConfigError> {
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

    /// `[store] postgres_url` and `[cluster]`, the flags beating the file. `None` without a
    /// PostgreSQL URL (the `[cluster]` keys then have nothing to configure).
    pub(super) fn cluster(
        &self,
        store: &StoreFile,
        cluster: &ClusterFile,
        cli: &Cli,
    ) -> Result<Option<ClusterSettings>, ConfigError> {
        let url = match (&cli.postgres_url, &store.postgres_url) {
            (Some(url), _) => url.clone(),
            (None, Some(value)) => self.secret(value, "store.postgres_url")?,
            (None, None) => return Ok(None),
        };
        let advertise_url = match (&cli.advertise_url, &cluster.advertise_url) {
            (Some(url), _) => {
                Some(
                    checked_advertise_url(url).map_err(|message| ConfigError::Invalid {
                        path: PathBuf::from("--advertise-url"),
                        line: None,
                        key: None,
                        message,
                    })?,
                )
            }
            (None, Some(value)) => {
                let text = self.non_empty_string(value, "cluster.advertise_url")?;
                match checked_advertise_url(&text) {
                    Ok(url) => Some(url),
                    Err(message) => {
                        return self.invalid(value.span(), "cluster.advertise_url", message)
                    }
                }
            }
            (None, None) => None,
        };
        let leader_lease = match (cli.leader_lease, &cluster.leader_lease) {
            (Some(lease), _) => lease,
            (None, Some(value)) => {
                let lease = self.duration(value, "cluster.leader_lease")?;
                if lease < MIN_LEADER_LEASE {
                    return self.invalid(
                        value.span(),
                        "cluster.leader_lease",
                        "must be at least 500ms",
                    );
                }
                lease
            }
            (None, None) => DEFAULT_LEADER_LEASE,
        };
        let postgres_password_file =
            match (&cli.postgres_password_file, &store.postgres_password_file) {
                (Some(path), _) => Some(path.clone()),
                (None, Some(value)) => Some(PathBuf::from(
                    self.non_empty_string(value, "store.postgres_password_file")?,
                )),
                (None, None) => None,
            };
        Ok(Some(ClusterSettings {
            postgres_url: DatabaseUrl::new(url),
            postgres_password_file,
            advertise_url,
            leader_lease,
        }))
    }
}

/// `http://host:port` or `https://…`, without a trailing slash (paths are appended to it).
fn checked_advertise_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err(format!(
            "{url:?} is not an http:// or https:// URL the other replicas can reach"
        )),
    }
}
