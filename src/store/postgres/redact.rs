//! Keeping the database password out of every message.
//!
//! [`location`] rebuilds a URL from the parsed config without the password, and [`Redactor`]
//! replaces the password (as written in the URL and as decoded) in any text before it becomes an
//! error or a log line — a belt to the braces of never formatting the URL itself.

use tokio_postgres::config::Host;
use tokio_postgres::Config;

/// What replaces a secret in a message.
pub const MASK: &str = "***";

/// Replaces the secrets of one connection URL in texts.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// The password as written in `url` (percent-encoded or not), found without a full parse so
    /// that it is known even when parsing fails: `scheme://user:PASSWORD@host…`, or `password=…`
    /// in the `key=value` form.
    pub fn for_url(url: &str) -> Redactor {
        let mut secrets = Vec::new();
        if let Some((_, rest)) = url.split_once("://") {
            // userinfo ends at the last '@' before the path; a password may not hold a raw '@'
            // but be generous: everything between the first ':' and that '@'.
            if let Some((userinfo, _)) = rest.rsplit_once('@') {
                if let Some((_, password)) = userinfo.split_once(':') {
                    secrets.push(password.to_owned());
                }
            }
        }
        for part in url.split_whitespace() {
            if let Some(value) = part.strip_prefix("password=") {
                secrets.push(value.trim_matches('\'').to_owned());
            }
        }
        for part in url.split(['?', '&']) {
            if let Some(value) = part.strip_prefix("password=") {
                secrets.push(value.to_owned());
            }
        }
        let mut r = Redactor {
            secrets: Vec::new(),
        };
        for s in secrets {
            r.add(s);
        }
        r
    }

    /// Adds the decoded password of the parsed config.
    pub fn with_config(mut self, config: &Config) -> Redactor {
        if let Some(password) = config.get_password() {
            self.add(String::from_utf8_lossy(password).into_owned());
        }
        self
    }

    /// Adds a password that came from elsewhere (a file, `PGPASSWORD`).
    pub fn with_secret(mut self, secret: &str) -> Redactor {
        self.add(secret.to_owned());
        self
    }

    fn add(&mut self, secret: String) {
        if !secret.is_empty() && !self.secrets.contains(&secret) {
            self.secrets.push(secret);
            // longest first, so a secret that contains another is masked whole
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every secret replaced by [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

/// `postgres://user@host:port/dbname` from a parsed config: never the password.
pub fn location(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            let port = config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first());
            match port {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_never_shows_the_password() {
        let url = "postgres://app:s3cr%40t@db.example:6543/leases?sslmode=prefer";
        let config: Config = url.parse().unwrap();

        assert_eq!(location(&config), "postgres://app@db.example:6543/leases");
    }

    #[test]
    fn the_password_is_masked_as_written_and_as_decoded() {
        let url = "postgres://app:s3cr%40t@db.example/leases";
        let config: Config = url.parse().unwrap();
        let r = Redactor::for_url(url).with_config(&config);

        let text = r.redact(&format!("failed for {url}, password s3cr@t"));

        assert!(!text.contains("s3cr"), "{text}");
        assert_eq!(
            text,
            "failed for postgres://app:***@db.example/leases, password ***"
        );
    }

    #[test]
    fn the_password_of_a_key_value_or_query_url_is_masked_even_unparsed() {
        let kv = Redactor::for_url("host=db user=app password=hunter2 dbname=x");
        let query = Redactor::for_url("postgres://db/x?user=app&password=hunter3");

        assert_eq!(kv.redact("x hunter2 y"), "x *** y");
        assert_eq!(query.redact("x hunter3 y"), "x *** y");
    }
}
