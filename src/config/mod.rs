//! Settings: the TOML file, `${VAR}` substitution and the command-line flags.

pub mod duration;
pub mod env;
