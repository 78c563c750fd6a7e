//! `ServiceError`: what can go wrong between a caller of the actors and its answer.

use crate::domain::LeaseError;

/// What can go wrong between a handler and an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Lease(#[from] LeaseError),
    #[error("no provider for {0}")]
    UnknownProvider(String),
    #[error("provider limit reached: this service serves at most {0} providers")]
    TooManyProviders(usize),
    #[error("state could not be saved: {0}")]
    Unavailable(String),
    /// The store did not answer a read, or holds something this build cannot decode.
    #[error("the store could not be read: {0}")]
    Unreadable(String),
    /// Several replicas: this one does not serve the state right now.
    #[error("{0}")]
    NotOwner(String),
}
