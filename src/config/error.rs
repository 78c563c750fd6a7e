//! `ConfigError`: names the file, the line and the key; never a secret.

use super::*;

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
