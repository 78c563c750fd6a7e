//! `LeaseService`: the one door from HTTP handlers to the actors.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::actors::hangup::HangupGuard;
/// A held call's watch on its caller (the hang-up chain is in `actors::hangup`).
pub use crate::actors::hangup::{hold, HungUp};
use crate::actors::messages::{Acquire, Clear, Release, RevokeLease, SetPaused, Snapshot};
use crate::actors::registry::{ListProviders, Lookup};
use crate::actors::{ProviderActor, ProviderAddr, RegistryActor};
/// What handlers see of the layers below, so routes import nothing past this facade.
pub use crate::actors::{ProviderSnapshot, Role, Route, Seat, SeatWatch, ServiceError};
use crate::domain::{AcquireRequest, Answer, Event, HeadSha, Outcome, ProviderKey};
pub use crate::health::Readiness;
use crate::store::Store;

#[derive(Clone)]
pub struct LeaseService {
    /// Where the registry is found: fixed with one replica, moved by the cluster actor
    /// with several (a watch, so reading it takes no lock around the lease state).
    seat: SeatWatch,
    directory: Arc<Directory>,
    store: Store,
}

/// Where each provider's actor is, as the registry answered: a request finds its
/// provider here and goes straight to it, one actor hop instead of two.
///
/// It holds addresses, never lease state: every call for a key still goes to the one
/// actor that owns the key, in its mailbox's order, so nothing about the rules or their
/// ordering changes. The registry never replaces a running provider, so a cached address
/// is the registry's answer for as long as its actor runs; an address whose actor has
/// stopped is dropped and the registry asked again. Only the registry creates providers
/// (auto-registration, `max_providers`): a miss always goes to it. Sharded read-write
/// locks, held only to copy an address in or out, never across an await.
///
/// With several replicas the registry changes with ownership: the directory holds the
/// addresses of one registry's providers and is emptied when another registry serves.
struct Directory {
    shards: Vec<RwLock<HashMap<ProviderKey, ProviderAddr>>>,
    registry: RwLock<Option<Addr<RegistryActor>>>,
}

impl Directory {
    const SHARDS: usize = 16;

    fn new() -> Self {
        Self {
            shards: (0..Self::SHARDS).map(|_| RwLock::default()).collect(),
            registry: RwLock::default(),
        }
    }

    /// Empties the directory if its addresses came from another registry than `current`.
    fn serve_from(&self, current: &Addr<RegistryActor>) {
        let same = self
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            == Some(current);
        if same {
            return;
        }
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if registry.as_ref() != Some(current) {
            for shard in &self.shards {
                shard
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
            }
            *registry = Some(current.clone());
        }
    }

    fn shard(&self, key: &ProviderKey) -> Option<&RwLock<HashMap<ProviderKey, ProviderAddr>>> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        self.shards.get(hasher.finish() as usize % Self::SHARDS)
    }

    /// The address of `key`'s running provider, if known.
    fn get(&self, key: &ProviderKey) -> Option<ProviderAddr> {
        let shard = self.shard(key)?;
        let found = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned();
        match found {
            Some(addr) if addr.connected() => Some(addr),
            Some(_) => {
                shard
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&self, key: &ProviderKey, addr: &ProviderAddr) {
        if let Some(shard) = self.shard(key) {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone(), addr.clone());
        }
    }
}

fn gone<E>(_: E) -> ServiceError {
    ServiceError::Unavailable("the provider stopped".into())
}

/// Hands `msg`, which carries its own reply channel, to `provider`: straight into its
/// mailbox, or, when the mailbox is full, waiting for room as `send` does. Unlike `send`
/// it does not also wait for the handler to return, which would cost the caller a second
/// wake-up for the same answer.
async fn post<M>(provider: &Addr<ProviderActor>, msg: M) -> Result<(), ServiceError>
where
    M: Message<Result = ()> + Send + 'static,
    ProviderActor: Handler<M>,
{
    match provider.try_send(msg) {
        Ok(()) => Ok(()),
        Err(SendError::Full(msg)) => provider.send(msg).await.map_err(gone),
        Err(SendError::Closed(_)) => Err(gone(())),
    }
}

impl LeaseService {
    pub fn new(seat: SeatWatch, store: Store) -> Self {
        Self {
            seat,
            directory: Arc::new(Directory::new()),
            store,
        }
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

    /// Where a request goes now ([`Seat::route`]), read without copying the seat: the
    /// forwarding middleware asks this for every request.
    pub fn route(&self, my_url: Option<&str>) -> Route {
        self.seat.borrow().route(my_url)
    }

    /// `key`'s provider: from the directory, or else from the registry (which may create
    /// it when `create` is set).
    async fn provider(
        &self,
        key: &ProviderKey,
        create: bool,
    ) -> Result<ProviderAddr, ServiceError> {
        let registry = self.registry()?;
        self.directory.serve_from(&registry);
        if let Some(addr) = self.directory.get(key) {
            return Ok(addr);
        }
        let addr = registry
            .send(Lookup {
                key: key.clone(),
                create,
            })
            .await
            .map_err(gone)??;
        self.directory.insert(key, &addr);
        Ok(addr)
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
        post(&provider, Acquire { call, wait, reply }).await?;
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
        post(
            &provider,
            Release {
                head_sha,
                outcome,
                fencing_token,
                reply,
            },
        )
        .await?;
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

    /// The newest `limit` events of a served provider, newest first, read from the store
    /// (the providers keep no history in memory). Every answer is sent after its commit, so
    /// the events of a change already answered are here.
    pub async fn history(
        &self,
        key: &ProviderKey,
        limit: usize,
    ) -> Result<Vec<Event>, ServiceError> {
        // An unknown provider is 404 as for the other views, whatever the store holds.
        self.provider(key, false).await?;
        self.store.events(key, limit).await.map_err(|e| {
            log::warn!("{key}: history not read: {e}");
            ServiceError::Unreadable(e.to_string())
        })
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
