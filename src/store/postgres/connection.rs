//! Connecting: how to connect ([`Shared::open`]: the URL, the password from a file or
//! `PGPASSWORD` ([`PgOptions`]), TLS ([`super::tls`])), the bound on every call ([`CONNECT_TIMEOUT`], [`OP_TIMEOUT`], [`LOAD_TIMEOUT`]),
//! [`redact_url`], and [`Shared`]: the settings every connection is made from and the control
//! connection, dropped after a failure and made again by the next call.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{Client, Config};

use super::redact::{self, Redactor};
use super::tls;
use crate::store::StoreError;

/// Longest wait for a new connection (TCP, TLS handshake, authentication).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for one call (a commit transaction, a claim, a history read, a probe), connecting
/// included.
/// Past it the connection is dropped and the call fails; the next call connects again.
pub const OP_TIMEOUT: Duration = Duration::from_secs(4);
/// The bound on reading the whole state (a new owner's load): it grows with the number of
/// providers, so it cannot share [`OP_TIMEOUT`], or a large state would never load
/// and ownership would pass from replica to replica.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// `url` as it may appear in a message or a log line: `postgres://user@host:port/db`, never the
/// password (a URL that does not parse gives a placeholder, not itself).
pub fn redact_url(url: &str) -> String {
    let parsed = tls::split(url)
        .ok()
        .and_then(|(rest, _)| rest.parse::<Config>().ok());
    match parsed {
        Some(config) => redact::location(&config),
        None => "<a PostgreSQL URL that does not parse>".to_owned(),
    }
}

/// Where the password comes from besides the URL (docs/rules.md §12). Precedence, highest first:
/// the file, the URL's own password, `PGPASSWORD` (libpq's order for the last two: the
/// environment only fills in what the connection string leaves out).
#[derive(Clone, Default)]
pub struct PgOptions {
    /// `--postgres-password-file` / `[store] postgres_password_file`: its content, one trailing
    /// newline removed, is the password.
    pub password_file: Option<std::path::PathBuf>,
    /// `PGPASSWORD` as the process found it (read by the caller, so tests need not touch the
    /// environment).
    pub env_password: Option<String>,
}

impl PgOptions {
    /// `password_file` and this process's `PGPASSWORD`.
    pub fn from_env(password_file: Option<std::path::PathBuf>) -> PgOptions {
        PgOptions {
            password_file,
            env_password: std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
        }
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("password_file", &self.password_file)
            .field(
                "env_password",
                &self.env_password.as_ref().map(|_| redact::MASK),
            )
            .finish()
    }
}

/// The password from the file, if one is named: one trailing newline (`\n` or `\r\n`) is
/// removed, as `echo` and editors leave one. Errors name the path, never the content.
fn read_password_file(path: &std::path::Path) -> Result<String, StoreError> {
    let bytes = std::fs::read(path).map_err(|e| {
        StoreError::Postgres(format!(
            "the PostgreSQL password file {} cannot be read: {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        StoreError::Postgres(format!(
            "the PostgreSQL password file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(StoreError::Postgres(format!(
            "the PostgreSQL password file {} is empty",
            path.display()
        )));
    }
    Ok(password.to_owned())
}

/// What the store thread and its tasks share.
pub(crate) struct Shared {
    config: Config,
    tls: tls::MakeRustls,
    /// `postgres://user@host:port/db (sslmode=…)`: what a connect error names.
    pub(super) target: String,
    redactor: Redactor,
    /// The connection of the leader-row calls, `load_all`, `events` and `probe`; `None` until needed or after
    /// a failure.
    control: tokio::sync::Mutex<Option<Arc<Client>>>,
    pub(super) commits: AtomicU64,
}

impl Shared {
    /// How to connect to `url` (`postgres://user:password@host:port/db?…` or `key=value`
    /// form): the password from `options` when it names one (see [`PgOptions`] for which
    /// source wins), TLS as the URL's `sslmode` and `sslrootcert` say ([`tls`]), and the
    /// location to show (without the password). Errors never contain the password.
    pub(super) fn open(
        url: &str,
        options: &PgOptions,
    ) -> Result<(Arc<Shared>, String), StoreError> {
        let mut redactor = Redactor::for_url(url);
        if let Some(p) = &options.env_password {
            redactor = redactor.with_secret(p);
        }
        let (rest, tls) = tls::split(url).map_err(|e| {
            StoreError::Postgres(redactor.redact(&format!("invalid PostgreSQL URL: {e}")))
        })?;
        let mut config: Config = rest.parse().map_err(|e: tokio_postgres::Error| {
            StoreError::Postgres(redactor.redact(&format!("invalid PostgreSQL URL: {e}")))
        })?;
        let mut redactor = redactor.with_config(&config);
        let location = redact::location(&config);
        if let Some(path) = &options.password_file {
            let password = read_password_file(path)?;
            redactor = redactor.with_secret(&password);
            if config.get_password().is_some() {
                log::warn!(
                    "store: the password in the PostgreSQL URL is ignored: the password file {} \
                     takes precedence",
                    path.display()
                );
            }
            config.password(password);
        } else if config.get_password().is_none() {
            if let Some(password) = &options.env_password {
                config.password(password.as_str());
            }
        }
        config.ssl_mode(tls.mode.driver());
        let connector = tls
            .connector()
            .map_err(|e| StoreError::Postgres(redactor.redact(&format!("{location}: {e}"))))?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives_idle(Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("mq-lease-service");
        }
        let target = format!("{location} ({})", tls.describe());
        let shared = Arc::new(Shared {
            config,
            tls: connector,
            target,
            redactor,
            control: tokio::sync::Mutex::new(None),
            commits: AtomicU64::new(0),
        });
        Ok((shared, location))
    }
}

impl Shared {
    /// A new connection, its driver task spawned on the current (the store's) runtime.
    pub(super) async fn connect(&self) -> Result<Client, StoreError> {
        let connecting = self.config.connect(self.tls.clone());
        let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                StoreError::Postgres(format!(
                    "connecting to {} timed out after {CONNECT_TIMEOUT:?}",
                    self.target
                ))
            })?
            .map_err(|e| self.error(&format!("connecting to {}", self.target), e))?;
        let redactor = self.redactor.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                log::debug!(
                    "store: a PostgreSQL connection ended: {}",
                    redactor.redact(&e.to_string())
                );
            }
        });
        Ok(client)
    }

    /// A `tokio_postgres::Error` as a `StoreError`, saying what was being done, credentials removed.
    pub(super) fn error(&self, doing: &str, e: tokio_postgres::Error) -> StoreError {
        let mut text = e.to_string();
        if let Some(db) = e.as_db_error() {
            text = format!("{} ({})", db.message(), db.code().code());
        } else if let Some(source) = std::error::Error::source(&e) {
            text = format!("{text}: {source}");
        }
        StoreError::Postgres(self.redactor.redact(&format!("{doing}: {text}")))
    }

    /// Runs `f` on the control connection (connecting if needed) within [`OP_TIMEOUT`]; drops the
    /// connection when it broke or the call timed out, so the next call connects again.
    pub(super) async fn control<T, F, Fut>(&self, doing: &str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        self.control_within(OP_TIMEOUT, doing, f).await
    }

    /// [`Shared::control`] with another bound than [`OP_TIMEOUT`].
    pub(super) async fn control_within<T, F, Fut>(
        &self,
        bound: Duration,
        doing: &str,
        f: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let attempt = async {
            let client = {
                let mut slot = self.control.lock().await;
                match slot.as_ref() {
                    Some(c) if !c.is_closed() => Arc::clone(c),
                    _ => {
                        *slot = None;
                        let c = Arc::new(self.connect().await?);
                        *slot = Some(Arc::clone(&c));
                        c
                    }
                }
            };
            let result = f(Arc::clone(&client)).await;
            if result.is_err() && client.is_closed() {
                self.forget(&client).await;
            }
            result.map_err(|e| self.error(doing, e))
        };
        match tokio::time::timeout(bound, attempt).await {
            Ok(result) => result,
            Err(_) => {
                // The connection may be stuck (a paused server, a cut network): start over next time.
                *self.control.lock().await = None;
                Err(StoreError::Postgres(format!(
                    "{doing}: timed out after {bound:?}"
                )))
            }
        }
    }

    async fn forget(&self, client: &Arc<Client>) {
        let mut slot = self.control.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, client)) {
            *slot = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_keeps_where_and_drops_the_password() {
        assert_eq!(
            redact_url("postgresql://app:pw-123@db:5432/leases?sslmode=disable"),
            "postgres://app@db:5432/leases"
        );
        assert!(!redact_url("postgres://app:pw-123@db:notaport/x").contains("pw-123"));
    }
}
