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
pub use crate::actors::{ProviderSnapshot, ServiceError};
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
    registry: Addr<RegistryActor>,
    store: Store,
}

fn gone<E>(_: E) -> ServiceError {
    ServiceError::Unavailable("the provider stopped".into())
}

impl LeaseService {
    pub fn new(registry: Addr<RegistryActor>, store: Store) -> Self {
        Self { registry, store }
    }

    async fn provider(
        &self,
        key: &ProviderKey,
        create: bool,
    ) -> Result<Addr<ProviderActor>, ServiceError> {
        self.registry
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
        let providers = self.registry.send(ListProviders).await.map_err(gone)?;
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
