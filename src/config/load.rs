//! Loading: file, `${VAR}`, flags, merged in order of precedence.

use super::*;

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
    pub(super) fn merge(
        file: FileConfig,
        source: &Source<'_>,
        cli: &Cli,
        from_file: bool,
    ) -> Result<Self, ConfigError> {
        let server = &file.server;
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
        settings.cluster = source.cluster(&file.store, &file.cluster, cli)?;
        Ok(settings)
    }
}

pub(super) fn apply_flags(settings: &mut Settings, cli: &Cli) {
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
    if let Some(timeout) = cli.silent_holder_timeout {
        lease.silent_holder_timeout = timeout;
    }
}
