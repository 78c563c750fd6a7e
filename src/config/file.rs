//! The TOML file as written: raw, spanned values, checked and merged in `config/mod.rs`.
//!
//! Every table denies unknown keys. Values that need `${VAR}` substitution or range
//! checks stay raw (`String`, `i64`, [`RawDuration`]) and keep their byte span, so an
//! error can name the line.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::duration::RawDuration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub defaults: LeaseFile,
    pub auth: Option<AuthFile>,
    #[serde(default)]
    pub store: StoreFile,
    #[serde(default)]
    pub cluster: ClusterFile,
    #[serde(default)]
    pub repository: Vec<Spanned<RepositoryFile>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub port: Option<Spanned<i64>>,
    pub bind: Option<Spanned<String>>,
    pub data_dir: Option<Spanned<String>>,
    pub auto_register: Option<bool>,
    pub max_providers: Option<Spanned<i64>>,
    /// `/metrics` needs credentials like the API (needs `[auth]`).
    pub metrics_auth: Option<Spanned<bool>>,
}

/// `[store]`: where the state lives.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    /// PostgreSQL URL (usually `"${DATABASE_URL}"`); it may carry a password.
    pub postgres_url: Option<Spanned<Secret>>,
    /// File holding the PostgreSQL password (beats a password in the URL and `PGPASSWORD`).
    pub postgres_password_file: Option<Spanned<String>>,
}

/// `[cluster]`: several replicas on PostgreSQL.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    pub advertise_url: Option<Spanned<String>>,
    pub leader_lease: Option<Spanned<RawDuration>>,
}

/// `[defaults]`, and the same keys as overrides in a `[[repository]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseFile {
    pub stabilisation_window: Option<Spanned<RawDuration>>,
    pub ttl: Option<Spanned<RawDuration>>,
    pub expected_build_count: Option<Spanned<i64>>,
    pub delay_assignment_count: Option<Spanned<i64>>,
    pub lease_timeout: Option<Spanned<RawDuration>>,
    pub silent_holder_timeout: Option<Spanned<RawDuration>>,
}

/// One `[[repository]]`. The lease keys repeat `LeaseFile` because serde's `flatten`
/// does not work together with `deny_unknown_fields`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryFile {
    pub owner: Spanned<String>,
    pub name: Spanned<String>,
    pub base_ref: Spanned<String>,
    pub stabilisation_window: Option<Spanned<RawDuration>>,
    pub ttl: Option<Spanned<RawDuration>>,
    pub expected_build_count: Option<Spanned<i64>>,
    pub delay_assignment_count: Option<Spanned<i64>>,
    pub lease_timeout: Option<Spanned<RawDuration>>,
    pub silent_holder_timeout: Option<Spanned<RawDuration>>,
}

impl RepositoryFile {
    /// The override keys, in the shape of `[defaults]`.
    pub fn overrides(&self) -> LeaseFile {
        LeaseFile {
            stabilisation_window: self.stabilisation_window.clone(),
            ttl: self.ttl.clone(),
            expected_build_count: self.expected_build_count.clone(),
            delay_assignment_count: self.delay_assignment_count.clone(),
            lease_timeout: self.lease_timeout.clone(),
            silent_holder_timeout: self.silent_holder_timeout.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// `user = "password"` (a TOML table, so sorted by user).
    #[serde(default)]
    pub basic: BTreeMap<String, Spanned<Secret>>,
    #[serde(default)]
    pub bearer_tokens: Vec<Spanned<Secret>>,
    /// `[auth.github_oidc]`: GitHub Actions ID tokens as repository identities.
    pub github_oidc: Option<Spanned<GithubOidcFile>>,
}

/// `[auth.github_oidc]`. `audience` is required; the rest have GitHub's defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubOidcFile {
    pub audience: Spanned<String>,
    pub issuer: Option<Spanned<String>>,
    pub jwks_url: Option<Spanned<String>>,
    /// `owner/repo` globs (`*` is a wildcard); absent means every repository.
    pub repositories: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A password or token before `${VAR}` substitution. Its Debug is redacted, and a value
/// of the wrong type is rejected without repeating it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        const MESSAGE: &str = "a password or token must be a string";
        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom(MESSAGE))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom(MESSAGE))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom(MESSAGE))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom(MESSAGE))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom(MESSAGE))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom(MESSAGE))
            }
        }
        deserializer.deserialize_any(SecretVisitor)
    }
}
