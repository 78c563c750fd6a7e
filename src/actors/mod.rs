//! Ownership and timing: one `ProviderActor` per merge queue, one `RegistryActor` that
//! maps keys to providers.

pub mod messages;
pub mod provider;
pub mod registry;

pub use provider::{ProviderActor, ProviderSnapshot};
pub use registry::RegistryActor;
