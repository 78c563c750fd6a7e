//! `[auth.github_oidc]`: which GitHub Actions ID tokens are accepted as the identity of
//! a repository.
//!
//! ```toml
//! [auth.github_oidc]
//! audience = "mq-lease-service"                 # required: the `aud` the workflow asks for
//! issuer = "https://token.actions.githubusercontent.com"   # default
//! jwks_url = "https://token.actions.githubusercontent.com/.well-known/jwks"  # default: {issuer}/.well-known/jwks
//! repositories = ["acme/*", "tools/release-bot"]  # optional allow-list; `*` is a wildcard
//! ```

use std::fmt;
use std::time::Duration;

use toml::Spanned;

use super::file::GithubOidcFile;
use super::{ConfigError, Source};

pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// How long after a JWKS fetch an unknown `kid` waits before it may cause another one.
pub const JWKS_REFETCH_AFTER: Duration = Duration::from_secs(10);

/// The checked `[auth.github_oidc]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubOidcSettings {
    pub audience: String,
    pub issuer: String,
    pub jwks_url: String,
    /// `None`: any repository whose token verifies. `Some`: only those matching a pattern.
    pub repositories: Option<Vec<RepositoryPattern>>,
    /// The least time between two JWKS fetches caused by unknown `kid`s
    /// ([`JWKS_REFETCH_AFTER`]; not a file key, tests shorten it).
    pub refetch_after: Duration,
}

impl GithubOidcSettings {
    /// The settings GitHub's own issuer needs: only the audience differs per service.
    pub fn github(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            issuer: GITHUB_ISSUER.to_owned(),
            jwks_url: format!("{GITHUB_ISSUER}/.well-known/jwks"),
            repositories: None,
            refetch_after: JWKS_REFETCH_AFTER,
        }
    }

    /// Whether the allow-list lets `repository` (`owner/repo`) in.
    pub fn allows(&self, repository: &str) -> bool {
        self.repositories
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|p| p.matches(repository)))
    }
}

/// An `owner/repo` glob: `*` matches any run of characters except `/`; comparison
/// ignores ASCII case (GitHub names do).
#[derive(Clone, PartialEq, Eq)]
pub struct RepositoryPattern {
    lowered: String,
}

impl fmt::Debug for RepositoryPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.lowered, f)
    }
}

impl RepositoryPattern {
    /// `owner/repo` with one `/` and a non-empty side on each; `*` anywhere.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let mut sides = text.split('/');
        let (Some(owner), Some(repo), None) = (sides.next(), sides.next(), sides.next()) else {
            return Err("must look like `owner/repo` (one `/`; `*` is a wildcard)");
        };
        if owner.is_empty() || repo.is_empty() {
            return Err("must look like `owner/repo` (one `/`; `*` is a wildcard)");
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace");
        }
        Ok(Self {
            lowered: text.to_ascii_lowercase(),
        })
    }

    pub fn matches(&self, repository: &str) -> bool {
        glob(
            self.lowered.as_bytes(),
            repository.to_ascii_lowercase().as_bytes(),
        )
    }
}

/// `*` matches any bytes but `/`; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            // Try every length of the run the star takes, up to the next `/`.
            let run = text.iter().take_while(|&&b| b != b'/').count();
            (0..=run).any(|n| text.get(n..).is_some_and(|t| glob(rest, t)))
        }
        Some((&p, rest)) => match text.split_first() {
            Some((&t, text)) if t == p => glob(rest, text),
            _ => false,
        },
    }
}

impl Source<'_> {
    pub(super) fn github_oidc(
        &self,
        table: &Spanned<GithubOidcFile>,
    ) -> Result<GithubOidcSettings, ConfigError> {
        let oidc = table.get_ref();
        let audience = self.non_empty_string(&oidc.audience, "auth.github_oidc.audience")?;
        let issuer = match &oidc.issuer {
            Some(issuer) => {
                let text = self.non_empty_string(issuer, "auth.github_oidc.issuer")?;
                self.http_url(&text, issuer.span(), "auth.github_oidc.issuer")?;
                text
            }
            None => GITHUB_ISSUER.to_owned(),
        };
        let jwks_url = match &oidc.jwks_url {
            Some(url) => {
                let text = self.non_empty_string(url, "auth.github_oidc.jwks_url")?;
                self.http_url(&text, url.span(), "auth.github_oidc.jwks_url")?;
                text
            }
            None => format!("{}/.well-known/jwks", issuer.trim_end_matches('/')),
        };
        let repositories = match &oidc.repositories {
            None => None,
            Some(list) if list.get_ref().is_empty() => {
                return self.invalid(
                    list.span(),
                    "auth.github_oidc.repositories",
                    "an empty allow-list lets nobody in; list `owner/repo` patterns or leave the key out",
                );
            }
            Some(list) => {
                let mut patterns = Vec::with_capacity(list.get_ref().len());
                for entry in list.get_ref() {
                    let key = "auth.github_oidc.repositories";
                    let text = self.string(entry.get_ref(), entry.span(), key)?;
                    match RepositoryPattern::parse(&text) {
                        Ok(pattern) => patterns.push(pattern),
                        Err(message) => return self.invalid(entry.span(), key, message),
                    }
                }
                Some(patterns)
            }
        };
        Ok(GithubOidcSettings {
            audience,
            issuer,
            jwks_url,
            repositories,
            refetch_after: JWKS_REFETCH_AFTER,
        })
    }

    fn http_url(
        &self,
        text: &str,
        span: std::ops::Range<usize>,
        key: &str,
    ) -> Result<(), ConfigError> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !text.chars().any(char::is_whitespace) => Ok(()),
            _ => self.invalid(span, key, "must be an http:// or https:// URL"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(p: &str) -> RepositoryPattern {
        RepositoryPattern::parse(p).unwrap()
    }

    #[test]
    fn a_star_matches_within_one_side_only() {
        assert!(pattern("acme/*").matches("acme/shop"));
        assert!(pattern("acme/*").matches("ACME/Shop"));
        assert!(pattern("*/shop").matches("other/shop"));
        assert!(pattern("acme/shop-*").matches("acme/shop-api"));
        assert!(pattern("acme/*-api").matches("acme/shop-api"));
        assert!(pattern("*/*").matches("a/b"));
        assert!(!pattern("acme/*").matches("acmecorp/shop"));
        assert!(!pattern("acme/shop-*").matches("acme/shop"));
        assert!(!pattern("a*/shop").matches("a/b/shop"));
        assert!(!pattern("acme/shop").matches("acme/shop2"));
        assert!(!pattern("acme/*").matches("acme/shop/extra"));
    }

    #[test]
    fn patterns_need_owner_and_repo() {
        for bad in ["acme", "acme/", "/shop", "a/b/c", "acme/ shop", "*"] {
            assert!(RepositoryPattern::parse(bad).is_err(), "{bad}");
        }
    }

    fn load(text: &str) -> Result<crate::config::Settings, ConfigError> {
        use clap::Parser;
        let cli = crate::config::cli::Cli::try_parse_from(["mq-lease-service"]).unwrap();
        crate::config::Settings::from_toml(text, std::path::Path::new("test.toml"), &cli, &|name| {
            (name == "AUDIENCE").then(|| "lease.example".to_owned())
        })
    }

    #[test]
    fn a_table_with_only_the_audience_gets_githubs_issuer_and_jwks() {
        let settings = load("[auth.github_oidc]\naudience = \"${AUDIENCE}\"\n").unwrap();

        let auth = settings.auth.expect("auth is on with only github_oidc");
        assert!(auth.basic.is_empty() && auth.bearer_tokens.is_empty());
        assert_eq!(
            auth.github_oidc,
            Some(GithubOidcSettings::github("lease.example"))
        );
        assert_eq!(
            GithubOidcSettings::github("x").jwks_url,
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        );
    }

    #[test]
    fn issuer_jwks_url_and_allow_list_are_read() {
        let text = r#"
[auth]
bearer_tokens = ["admin-token"]

[auth.github_oidc]
audience = "aud"
issuer = "https://issuer.example/"
repositories = ["acme/*", "Tools/Bot"]
"#;
        let oidc = load(text).unwrap().auth.unwrap().github_oidc.unwrap();

        assert_eq!(oidc.issuer, "https://issuer.example/");
        assert_eq!(oidc.jwks_url, "https://issuer.example/.well-known/jwks");
        assert!(oidc.allows("acme/shop") && oidc.allows("tools/bot"));
        assert!(!oidc.allows("tools/other"));
    }

    #[test]
    fn bad_oidc_tables_name_the_key_and_the_line() {
        for (text, line, key) in [
            ("[auth.github_oidc]\nissuer = \"https://x\"\n", "line 1", "audience"),
            ("[auth.github_oidc]\naudience = \"a\"\naud = \"b\"\n", "line 3", "aud"),
            ("[auth.github_oidc]\naudience = \"\"\n", "line 2", "auth.github_oidc.audience"),
            (
                "[auth.github_oidc]\naudience = \"a\"\njwks_url = \"ftp://x\"\n",
                "line 3",
                "auth.github_oidc.jwks_url",
            ),
            (
                "[auth.github_oidc]\naudience = \"a\"\nrepositories = [\n  \"acme/*\",\n  \"acme\",\n]\n",
                "line 5",
                "auth.github_oidc.repositories",
            ),
            (
                "[auth.github_oidc]\naudience = \"a\"\nrepositories = []\n",
                "line 3",
                "auth.github_oidc.repositories",
            ),
            (
                "[auth.github_oidc]\naudience = \"${MISSING}\"\n",
                "line 2",
                "auth.github_oidc.audience",
            ),
        ] {
            let message = load(text).unwrap_err().to_string();
            assert!(message.contains(line), "{text:?}: {message}");
            assert!(message.contains(key), "{text:?}: {message}");
        }
    }

    #[test]
    fn no_allow_list_lets_every_repository_in() {
        let mut settings = GithubOidcSettings::github("aud");
        assert!(settings.allows("anyone/anything"));
        settings.repositories = Some(vec![pattern("acme/*")]);
        assert!(settings.allows("Acme/shop"));
        assert!(!settings.allows("evil/shop"));
    }
}
