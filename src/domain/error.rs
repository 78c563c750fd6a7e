//! `LeaseError`: what the rules refuse. The HTTP layer maps each to a status code.

use super::InvalidValue;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// A new run cannot join while a round is being decided by a holder (409).
    #[error("{0}")]
    Conflict(&'static str),
    /// A release from a run that does not hold the lease (400).
    #[error("{head_sha} does not hold the lease")]
    NotHolder { head_sha: String },
    /// A repeated release whose outcome differs from the first one (400).
    #[error("{head_sha} already released the lease with {recorded}; a release with {asked} cannot change that")]
    OutcomeMismatch {
        head_sha: String,
        recorded: &'static str,
        asked: &'static str,
    },
    /// A release carrying a fencing token that is not the current holder's (409).
    #[error("fencing token {given} is stale: the current token is {current}")]
    StaleFencingToken { given: u64, current: u64 },
    /// A value that failed validation (400).
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}
