//! The lease rules: pure data and transitions, no actix, no I/O, time passed in.

mod key;
mod settings;

pub use key::{InvalidKey, ProviderKey};
pub use settings::LeaseSettings;
