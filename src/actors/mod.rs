//! Ownership and timing: one `ProviderActor` per merge queue, one `RegistryActor` that
//! maps keys to providers, and (with several replicas) one `ClusterActor` that holds this
//! replica's claim on the state and publishes its [`Seat`].

pub mod cluster;
mod error;
pub mod messages;
pub mod provider;
pub mod registry;
pub mod seat;
mod waiter;

pub use cluster::{ClusterActor, ClusterInit, Resign};
pub use error::ServiceError;
pub use messages::ProviderSnapshot;
pub use provider::{hangup, ProviderActor, ProviderAddr};
pub use registry::RegistryActor;
pub use seat::{Role, Route, Seat, SeatWatch};
