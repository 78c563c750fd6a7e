//! `LeaseService`: the one door from HTTP handlers to the actors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::actors::messages::{
    Acquire, Clear, Hangup, History, ListProviders, Lookup, Release, RevokeLease, SetPaused,
    Snapshot,
};
use crate::actors::{ProviderActor, ProviderSnapshot, RegistryActor};
use crate::domain::{AcquireRequest, Answer, Event, HeadSha, LeaseError, Outcome, ProviderKey};
use crate::store::Store;

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
}

/// `/readyz`: state loaded, and the last write (if any) did not fail.
#[derive(Debug, Default)]
pub struct Readiness {
    loaded: AtomicBool,
    store_failed: AtomicBool,
}

impl Readiness {
    pub fn set_loaded(&self) {
        self.loaded.store(true, Ordering::SeqCst);
    }
    pub fn store_failed(&self) {
        self.store_failed.store(true, Ordering::SeqCst);
    }
    pub fn store_succeeded(&self) {
        self.store_failed.store(false, Ordering::SeqCst);
    }
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }
    pub fn last_write_failed(&self) -> bool {
        self.store_failed.load(Ordering::SeqCst)
    }
}

/// Tells the provider when a parked caller's HTTP request ends (answered or dropped
/// because the client went away), so no parked waiter outlives its caller.
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
