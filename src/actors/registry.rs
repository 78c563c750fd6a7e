//! `RegistryActor`: maps a provider key to its actor, starts configured and stored
//! providers at boot and creates new ones on first `acquire` when allowed. It never
//! waits on anything.
//!
//! Providers run on [`Homes`]: one arbiter (a thread with its own event loop) per core,
//! each provider on one of them for its whole life. With one replica these are the HTTP
//! workers' own arbiters, so a poll that reaches the worker its provider lives on is
//! answered without a hop to another thread; otherwise the registry starts its own. A
//! provider is still one actor that alone owns its state, so nothing is shared or
//! locked; busy providers just no longer queue behind each other on one thread.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use log::info;

use super::messages::{Abdicate, Drain};
use super::provider::{ProviderActor, ProviderAddr, ProviderInit};
use super::ServiceError;
use crate::config::Settings;
use crate::domain::{LeaseSettings, ProviderKey, ProviderState, Time};
use crate::health::Readiness;
use crate::metrics::LeaseMetrics;
use crate::store::Store;

/// Find the provider for `key`; `create` (only `acquire` sets it) starts one if the
/// configuration allows it.
#[derive(Message)]
#[rtype(result = "Result<ProviderAddr, ServiceError>")]
pub struct Lookup {
    pub key: ProviderKey,
    pub create: bool,
}

/// Every provider the registry serves, ordered by key.
#[derive(Message)]
#[rtype(result = "Vec<(ProviderKey, ProviderAddr)>")]
pub struct ListProviders;

pub struct RegistryActor {
    providers: BTreeMap<ProviderKey, ProviderAddr>,
    /// See [`RegistryActor::shared_settings`].
    lease_settings: HashSet<Arc<LeaseSettings>>,
    homes: Homes,
    settings: Arc<Settings>,
    store: Store,
    metrics: LeaseMetrics,
    readiness: Arc<Readiness>,
}

impl Actor for RegistryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16 * 1024);
    }
}

impl RegistryActor {
    /// `loaded` are the providers read from the store (already filtered to the ones the
    /// configuration serves); configured repositories without a record start fresh.
    /// Providers run on `homes` (the HTTP workers' arbiters), or on arbiters of the
    /// registry's own when it is empty.
    pub fn new(
        settings: Arc<Settings>,
        loaded: Vec<ProviderInit>,
        store: Store,
        metrics: LeaseMetrics,
        readiness: Arc<Readiness>,
        homes: Vec<ArbiterHandle>,
    ) -> Self {
        let mut registry = Self {
            providers: BTreeMap::new(),
            lease_settings: HashSet::new(),
            homes: Homes::new(homes),
            settings,
            store,
            metrics,
            readiness,
        };
        for init in loaded {
            registry.start_provider(init);
        }
        let configured: Vec<ProviderKey> = registry
            .settings
            .repositories
            .iter()
            .map(|r| r.key.clone())
            .collect();
        for key in configured {
            if !registry.providers.contains_key(&key) {
                if let Some(settings) = registry.settings.lease_settings_for(&key) {
                    registry.start_provider(fresh(key, settings));
                }
            }
        }
        registry
    }

    fn start_provider(&mut self, mut init: ProviderInit) {
        init.settings = self.shared_settings(init.settings);
        let key = init.key.clone();
        let actor = ProviderActor::new(
            init,
            self.store.clone(),
            self.metrics.clone(),
            self.readiness.clone(),
        );
        let addr = match self.homes.next() {
            Some(home) => ProviderActor::start_in_arbiter(&home, move |_| actor),
            None => actor.start(),
        };
        self.providers.insert(key, Arc::new(addr));
    }
}

impl RegistryActor {
    /// One copy of each distinct set of lease settings, shared by every provider with it
    /// (most have the defaults), instead of one per provider.
    fn shared_settings(&mut self, settings: Arc<LeaseSettings>) -> Arc<LeaseSettings> {
        if let Some(same) = self.lease_settings.get(&*settings) {
            return Arc::clone(same);
        }
        self.lease_settings.insert(Arc::clone(&settings));
        settings
    }
}

/// The arbiters providers run on, taken in turn. The ones the registry started itself
/// are stopped (with their providers) when it goes.
struct Homes {
    handles: Vec<ArbiterHandle>,
    own: Vec<Arbiter>,
    next: usize,
}

impl Homes {
    /// `given` (the HTTP workers' arbiters) when there are any; else one arbiter of our own
    /// per available core. Outside a running actix system (where no arbiter can be
    /// started) there are none, and providers run on the registry's own thread.
    fn new(given: Vec<ArbiterHandle>) -> Self {
        if !given.is_empty() {
            return Self {
                handles: given,
                own: Vec::new(),
                next: 0,
            };
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let own: Vec<Arbiter> = if System::try_current().is_some() {
            (0..cores).map(|_| Arbiter::new()).collect()
        } else {
            Vec::new()
        };
        Self {
            handles: own.iter().map(Arbiter::handle).collect(),
            own,
            next: 0,
        }
    }

    fn next(&mut self) -> Option<ArbiterHandle> {
        let home = self.handles.get(self.next % self.handles.len().max(1))?;
        self.next = self.next.wrapping_add(1);
        Some(home.clone())
    }
}

impl Drop for Homes {
    fn drop(&mut self) {
        for arbiter in &self.own {
            arbiter.stop();
        }
    }
}

fn fresh(key: ProviderKey, settings: LeaseSettings) -> ProviderInit {
    ProviderInit {
        key,
        settings: Arc::new(settings),
        state: ProviderState::new(Time::now()),
        journal: crate::store::Journal::fresh(),
    }
}

impl Handler<Lookup> for RegistryActor {
    type Result = Result<ProviderAddr, ServiceError>;

    fn handle(&mut self, msg: Lookup, _: &mut Context<Self>) -> Self::Result {
        if let Some(addr) = self.providers.get(&msg.key) {
            return Ok(addr.clone());
        }
        let settings = match self.settings.lease_settings_for(&msg.key) {
            Some(s) if msg.create => s,
            _ => return Err(ServiceError::UnknownProvider(msg.key.to_string())),
        };
        if self.providers.len() >= self.settings.max_providers {
            return Err(ServiceError::TooManyProviders(self.settings.max_providers));
        }
        info!("{}: new provider", msg.key);
        let key = msg.key.clone();
        self.start_provider(fresh(key, settings));
        self.providers
            .get(&msg.key)
            .cloned()
            .ok_or_else(|| ServiceError::UnknownProvider(msg.key.to_string()))
    }
}

impl Handler<ListProviders> for RegistryActor {
    type Result = MessageResult<ListProviders>;

    fn handle(&mut self, _: ListProviders, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.providers
                .iter()
                .map(|(k, a)| (k.clone(), a.clone()))
                .collect(),
        )
    }
}

impl Handler<Drain> for RegistryActor {
    type Result = ();

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) {
        for addr in self.providers.values() {
            addr.do_send(Drain);
        }
    }
}

impl Handler<Abdicate> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: Abdicate, ctx: &mut Context<Self>) {
        for addr in std::mem::take(&mut self.providers).into_values() {
            addr.do_send(msg.clone());
        }
        ctx.stop();
    }
}
