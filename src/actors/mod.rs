//! Ownership and timing: one `ProviderActor` per merge queue, one `RegistryActor` that
//! maps keys to providers.

mod error;
pub mod messages;
pub mod provider;
pub mod registry;
mod waiter;

pub use error::ServiceError;
pub use provider::{ProviderActor, ProviderSnapshot};
pub use registry::RegistryActor;
