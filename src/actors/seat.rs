//! `Seat`: what this replica does with a request right now, published by the cluster actor
//! (or fixed at start with one replica) through a `tokio::sync::watch`, so every request
//! reads it without a lock around the lease state.

use std::sync::Arc;

use actix::Addr;
use tokio::sync::watch;

use super::RegistryActor;

use crate::store::ValidUntil;

/// This replica's part in serving the state.
#[derive(Clone)]
pub enum Role {
    /// No cluster (no `--postgres-url`): the embedded store, always served here.
    Single,
    /// This replica owns the state under `epoch`, as long as `valid_until` holds.
    Owner {
        epoch: i64,
        valid_until: Arc<ValidUntil>,
    },
    /// Another replica owns the state (`owner_url`), or none is known (`None`).
    Follower { owner_url: Option<String> },
}

/// The current role and, while this replica serves the state, its registry.
#[derive(Clone)]
pub struct Seat {
    pub role: Role,
    pub registry: Option<Addr<RegistryActor>>,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Answer it here.
    Local,
    /// Send it to the owner at this URL.
    Forward(String),
    /// Answer 503 with this reason.
    Refuse(&'static str),
}

/// What the HTTP side reads: the latest seat, cheap to clone and to read.
pub type SeatWatch = watch::Receiver<Seat>;

impl Seat {
    pub fn single(registry: Addr<RegistryActor>) -> Self {
        Self {
            role: Role::Single,
            registry: Some(registry),
        }
    }

    /// One replica between binding the port and starting the providers (a few
    /// milliseconds: the state is loaded before the port is bound).
    pub fn starting() -> Self {
        Self {
            role: Role::Single,
            registry: None,
        }
    }

    pub fn follower(owner_url: Option<String>) -> Self {
        Self {
            role: Role::Follower { owner_url },
            registry: None,
        }
    }

    /// Where a request should go now. An owner whose lease may have run out (by its own
    /// monotonic clock) serves nothing, not even a read of its possibly stale state.
    pub fn route(&self, my_url: Option<&str>) -> Route {
        match &self.role {
            Role::Single => match self.registry {
                Some(_) => Route::Local,
                None => Route::Refuse("this replica is starting"),
            },
            Role::Owner { valid_until, .. } if valid_until.is_valid() => match self.registry {
                Some(_) => Route::Local,
                None => Route::Refuse("this replica is loading the state"),
            },
            Role::Owner { .. } => {
                Route::Refuse("this replica could not renew its ownership of the state in time")
            }
            Role::Follower { owner_url: None } => {
                Route::Refuse("no replica owns the state right now")
            }
            Role::Follower {
                owner_url: Some(url),
            } if Some(url.as_str()) == my_url => Route::Refuse(
                "the state is still owned by an earlier run of this replica; waiting for its lease to end",
            ),
            Role::Follower {
                owner_url: Some(url),
            } => Route::Forward(url.clone()),
        }
    }

    /// The registry to serve from, if this replica serves the state right now.
    pub fn serving_registry(&self) -> Option<Addr<RegistryActor>> {
        match self.route(None) {
            Route::Local => self.registry.clone(),
            _ => None,
        }
    }

    pub fn is_owner(&self) -> bool {
        matches!(self.role, Role::Owner { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_replica_refuses_requests_until_its_providers_run() {
        assert_eq!(
            Seat::starting().route(None),
            Route::Refuse("this replica is starting")
        );
    }
}
