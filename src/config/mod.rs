//! Settings: the TOML file (optional), `${VAR}` substitution and the command-line flags,
//! merged into one checked value that the rest of the service reads.
//!
//! Precedence for lease settings: a `[[repository]]` value beats the flag, which beats
//! `[defaults]`, which beats [`LeaseSettings::default`]. For server keys: flag, file,
//! built-in default.
//!
//! ```no_run
//! use clap::Parser;
//! use mq_lease_service::config::{cli::Cli, Settings};
//!
//! let cli = Cli::parse();
//! match Settings::load(&cli, &|name| std::env::var(name).ok()) {
//!     Ok(settings) => log::info!("starting with {settings:?}"), // Debug hides secrets
//!     Err(e) => eprintln!("configuration error: {e}"),        // names file, line and key
//! }
//! ```

pub mod cli;
pub mod convert;
pub mod duration;
pub mod env;
pub mod file;
pub mod oidc;

mod checks;
mod error;
mod load;
#[cfg(test)]
mod tests;
mod toml_errors;
mod types;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::domain::{LeaseSettings, ProviderKey};
use checks::Source;
use cli::Cli;
use duration::RawDuration;
use env::EnvError;
pub use error::ConfigError;
use file::{AuthFile, ClusterFile, FileConfig, LeaseFile, RepositoryFile, Secret, StoreFile};
pub use oidc::{GithubOidcSettings, RepositoryPattern};
#[cfg(test)]
use toml_errors::{key_before, redact_strings};
use toml_errors::{line_of, toml_error};
pub use types::{AuthSettings, ClusterSettings, DatabaseUrl, RepositorySettings, Settings};

pub const DEFAULT_BIND: &str = "0.0.0.0";
pub const DEFAULT_PORT: u16 = 8080;
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_MAX_PROVIDERS: usize = 10_000;
/// `--leader-lease` / `[cluster] leader_lease` when not set.
pub const DEFAULT_LEADER_LEASE: Duration = Duration::from_secs(5);
/// Shorter leases would be renewed more often than a database round trip can promise.
pub const MIN_LEADER_LEASE: Duration = Duration::from_millis(500);
