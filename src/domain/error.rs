//! `LeaseError`: what the rules refuse. The HTTP layer maps each to a status code.

use super::{HolderInfo, InvalidValue};

/// Why a new run cannot join now, and the holder that decides the round (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub message: String,
    pub holder: Option<HolderInfo>,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<&'static str> for Busy {
    fn from(message: &'static str) -> Self {
        Busy {
            message: message.to_owned(),
            holder: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// A new run cannot join while a round is being decided by a holder (409).
    #[error("{0}")]
    Conflict(Busy),
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
    /// Admin revoke while no run holds a live lease (409).
    #[error("no live lease is held, so there is nothing to revoke")]
    NoLiveLease { holder: Option<HolderInfo> },
    /// A value that failed validation (400).
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}
