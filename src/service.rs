//! `LeaseService`: the one door from HTTP handlers to the actors.

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::actors::messages::{
    Acquire, Clear, Hangup, History, ListProviders, Lookup, Release, RevokeLease, SetPaused,
    Snapshot,
};
use crate::actors::{ProviderActor, RegistryActor};
/// What handlers see of the layers below, so routes import nothing past this facade.
pub use crate::actors::{ProviderSnapshot, Role, Route, Seat, SeatWatch, ServiceError};
use crate::domain::{AcquireRequest, Answer, Event, HeadSha, Outcome, ProviderKey};
pub use crate::health::Readiness;
use crate::store::Store;

/// Tells the provider when a parked caller's HTTP request ends (answered, or dropped by
/// `routes::conn::hold` because the client went away), so no parked waiter outlives its
/// caller.
struct HangupGuard(Addr<ProviderActor>);

impl Drop for HangupGuard {
    fn drop(&mut self) {
        self.0.do_send(Hangup);
    }
}

#[derive(Clone)]
pub struct LeaseService {
    /// Where the registry is found: fixed with one replica, moved by the cluster actor
    /// with several (a watch, so reading it takes no lock around the lease state).
    seat: SeatWatch,
    store: Store,
}

fn gone<E>(_: E) -> ServiceError {
    ServiceError::Unavailable("the provider stopped".into())
}

impl LeaseService {
    pub fn new(seat: SeatWatch, store: Store) -> Self {
        Self { seat, store }
    }

    /// The registry, while this replica serves the state.
    fn registry(&self) -> Result<Addr<RegistryActor>, ServiceError> {
        self.seat.borrow().serving_registry().ok_or_else(|| {
            ServiceError::NotOwner("this replica does not own the state right now".into())
        })
    }

    /// This replica's seat right now (for the forwarding middleware and `/readyz`).
    pub fn seat(&self) -> Seat {
        self.seat.borrow().clone()
    }

    async fn provider(
        &self,
        key: &ProviderKey,
        create: bool,
    ) -> Result<Addr<ProviderActor>, ServiceError> {
        self.registry()?
            .send(Lookup {
                key: key.clone(),
                create,
            })
            .await
            .map_err(gone)?
    }

    pub async fn acquire(
        &self,
        key: &ProviderKey,
        call: AcquireRequest,
        wait: Duration,
    ) -> Result<Answer, ServiceError> {
        let provider = self.provider(key, true).await?;
        let (reply, answer) = oneshot::channel();
        let _guard = (!wait.is_zero()).then(|| HangupGuard(provider.clone()));
        provider
            .send(Acquire { call, wait, reply })
            .await
            .map_err(gone)?;
        answer.await.map_err(gone)?
    }

    pub async fn release(
        &self,
        key: &ProviderKey,
        head_sha: HeadSha,
        outcome: Outcome,
        fencing_token: Option<u64>,
    ) -> Result<Answer, ServiceError> {
        let provider = self.provider(key, false).await?;
        let (reply, answer) = oneshot::channel();
        provider
            .send(Release {
                head_sha,
                outcome,
                fencing_token,
                reply,
            })
            .await
            .map_err(gone)?;
        answer.await.map_err(gone)?
    }

    pub async fn view(&self, key: &ProviderKey) -> Result<ProviderSnapshot, ServiceError> {
        let provider = self.provider(key, false).await?;
        provider.send(Snapshot).await.map_err(gone)
    }

    pub async fn clear(&self, key: &ProviderKey) -> Result<ProviderSnapshot, ServiceError> {
        let provider = self.provider(key, false).await?;
        let (reply, answer) = oneshot::channel();
        provider.send(Clear { reply }).await.map_err(gone)?;
        answer.await.map_err(gone)?
    }

    /// Admin: end the holder's lease as a failure; the view after it.
    pub async fn revoke_lease(
        &self,
        key: &ProviderKey,
        reason: Option<String>,
        by: String,
    ) -> Result<ProviderSnapshot, ServiceError> {
        let provider = self.provider(key, false).await?;
        let (reply, answer) = oneshot::channel();
        provider
            .send(RevokeLease { reason, by, reply })
            .await
            .map_err(gone)?;
        answer.await.map_err(gone)?
    }

    /// Admin: pause (`true`) or resume (`false`) grants; the view after it.
    pub async fn set_paused(
        &self,
        key: &ProviderKey,
        paused: bool,
        by: String,
    ) -> Result<ProviderSnapshot, ServiceError> {
        let provider = self.provider(key, false).await?;
        let (reply, answer) = oneshot::channel();
        provider
            .send(SetPaused { paused, by, reply })
            .await
            .map_err(gone)?;
        answer.await.map_err(gone)?
    }

    pub async fn history(
        &self,
        key: &ProviderKey,
        limit: usize,
    ) -> Result<Vec<Event>, ServiceError> {
        let provider = self.provider(key, false).await?;
        provider.send(History { limit }).await.map_err(gone)
    }

    pub async fn list(&self) -> Result<Vec<ProviderSnapshot>, ServiceError> {
        let providers = self.registry()?.send(ListProviders).await.map_err(gone)?;
        let mut views = Vec::with_capacity(providers.len());
        for (_, addr) in providers {
            if let Ok(view) = addr.send(Snapshot).await {
                views.push(view);
            }
        }
        Ok(views)
    }

    /// The store still answers.
    pub async fn store_ok(&self) -> bool {
        self.store.probe().await.is_ok()
    }
}
