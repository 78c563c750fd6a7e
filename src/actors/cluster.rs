//! `ClusterActor`: this replica's claim on the state when several replicas share it in
//! PostgreSQL (docs/rules.md §10).
//!
//! Every `leader_lease / 3` it claims (or renews) the leader row, judged by the database
//! clock. A renewal moves [`ValidUntil`] to `sent + leader_lease - margin`, where `sent`
//! is taken before the claim was sent, so this replica stops serving before the row can
//! have expired (its own monotonic clock running no slower than the database's). Gaining
//! ownership (a new epoch) loads the state from PostgreSQL and starts a fresh registry whose
//! store is fenced with that epoch; losing it (the row seen with another owner, or no
//! renewal before `valid_until`) stops that registry, whose parked callers are answered
//! 503. The current [`Seat`] is published through a `watch`, read by every request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use log::{info, warn};
use tokio::sync::{oneshot, watch};

use super::messages::Abdicate;
use super::provider::ProviderInit;
use super::seat::{Role, Seat};
use super::RegistryActor;
use crate::config::Settings;
use crate::domain::Time;
use crate::health::Readiness;
use crate::metrics::{ClusterMetrics, LeaseMetrics};
use crate::store::{Fence, PgStore, SavedProvider, Store, ValidUntil};

/// What the cluster actor needs to start.
pub struct ClusterInit {
    /// The state: loads and (fenced) commits.
    pub store: PgStore,
    /// The leader row: claims and resignations, on connections of their own, so a renewal
    /// never waits behind a large load or a commit (a late renewal ends ownership).
    pub leader: PgStore,
    /// Random per process start: a restarted replica is a new owner.
    pub owner_id: String,
    pub advertise_url: String,
    pub leader_lease: Duration,
    pub settings: Arc<Settings>,
    pub lease_metrics: LeaseMetrics,
    pub metrics: ClusterMetrics,
    pub readiness: Arc<Readiness>,
    pub seat: watch::Sender<Seat>,
}

/// The state this replica owns, under one epoch.
struct Owned {
    epoch: i64,
    valid_until: Arc<ValidUntil>,
    /// `None` while the state is loading.
    registry: Option<Addr<RegistryActor>>,
}

pub struct ClusterActor {
    init: ClusterInit,
    owned: Option<Owned>,
    /// The owner's URL as last seen (for followers).
    owner_url: Option<String>,
    /// A claim is on its way (claims never overlap).
    claiming: bool,
    /// Shutting down: no more claims.
    resigned: bool,
}

impl Actor for ClusterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.tick(ctx);
        ctx.run_interval(self.init.leader_lease / 3, |act, ctx| act.tick(ctx));
    }
}

/// Give up ownership (SIGTERM, after the drain): stop serving, then mark the row expired
/// so another replica claims it at its next tick. Answers once done (or failed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resign {
    pub done: oneshot::Sender<()>,
}

impl ClusterActor {
    pub fn new(init: ClusterInit) -> Self {
        init.metrics.is_owner.set(0);
        Self {
            init,
            owned: None,
            owner_url: None,
            claiming: false,
            resigned: false,
        }
    }

    /// How long before the row's expiry (by this replica's clock) it stops serving.
    fn margin(&self) -> Duration {
        self.init.leader_lease / 5
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.resigned {
            return;
        }
        if let Some(o) = &self.owned {
            if !o.valid_until.is_valid() {
                self.lose("its lease ran out before a renewal succeeded", ctx);
            }
        }
        if self.claiming {
            return;
        }
        self.claiming = true;
        let sent = Instant::now();
        let store = self.init.leader.clone();
        let (id, url, lease) = (
            self.init.owner_id.clone(),
            self.init.advertise_url.clone(),
            self.init.leader_lease,
        );
        ctx.spawn(
            async move { store.claim(&id, &url, lease).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.claiming = false;
                    if act.resigned {
                        return;
                    }
                    match result {
                        Ok(l) if l.mine => act.owning(l.epoch, sent, ctx),
                        Ok(l) => {
                            let why = format!(
                                "the replica at {} owns it now (epoch {})",
                                l.owner_url, l.epoch
                            );
                            act.lose(&why, ctx);
                            act.follow(Some(l.owner_url));
                        }
                        Err(e) => {
                            warn!("cluster: claiming the state failed: {e}");
                            if let Some(o) = &act.owned {
                                if !o.valid_until.is_valid() {
                                    let why = format!("renewing it failed in time: {e}");
                                    act.lose(&why, ctx);
                                }
                            }
                        }
                    }
                }),
        );
    }

    /// The claim succeeded under `epoch`: a renewal, or a new ownership.
    fn owning(&mut self, epoch: i64, sent: Instant, ctx: &mut Context<Self>) {
        let deadline = sent + self.init.leader_lease - self.margin();
        if let Some(o) = &self.owned {
            if o.epoch == epoch {
                o.valid_until.extend_to(deadline);
                return;
            }
            // The row expired in between and was taken again: writes may have been lost
            // meanwhile, so this is a new ownership with its state read afresh.
            self.lose("its row expired before it was renewed", ctx);
        }
        let valid_until = Arc::new(ValidUntil::until(deadline));
        let fenced = self.init.store.fenced(Fence {
            epoch,
            owner_id: self.init.owner_id.clone(),
            valid_until: valid_until.clone(),
        });
        self.owned = Some(Owned {
            epoch,
            valid_until: valid_until.clone(),
            registry: None,
        });
        // Until the state is loaded, requests here are refused (503), not forwarded to
        // the replica that owned it before.
        self.init.seat.send_replace(Seat {
            role: Role::Owner {
                epoch,
                valid_until: valid_until.clone(),
            },
            registry: None,
        });
        self.load(
            epoch,
            Store::Postgres(fenced),
            valid_until,
            Instant::now(),
            ctx,
        );
    }

    /// Loads the state for `epoch` and starts serving it. A failed load is tried again
    /// as long as the ownership holds (renewals go on meanwhile): giving the row up would
    /// only make the next replica try the same load.
    fn load(
        &mut self,
        epoch: i64,
        store: Store,
        valid_until: Arc<ValidUntil>,
        started: Instant,
        ctx: &mut Context<Self>,
    ) {
        let loading = store.clone();
        ctx.spawn(
            async move { loading.load_all_async(Time::now()).await }
                .into_actor(self)
                .map(move |loaded, act, ctx| {
                    let still_mine = act
                        .owned
                        .as_ref()
                        .is_some_and(|o| o.epoch == epoch && o.valid_until.is_valid());
                    if !still_mine {
                        return;
                    }
                    let saved = match loaded {
                        Ok(saved) => saved,
                        Err(e) => {
                            warn!("cluster: loading the state (epoch {epoch}) failed, trying again: {e}");
                            ctx.run_later(Duration::from_millis(100), move |act, ctx| {
                                act.load(epoch, store, valid_until, started, ctx);
                            });
                            return;
                        }
                    };
                    let providers = to_serve(&act.init.settings, saved);
                    let count = providers.len();
                    let registry = RegistryActor::new(
                        act.init.settings.clone(),
                        providers,
                        store,
                        act.init.lease_metrics.clone(),
                        act.init.readiness.clone(),
                        // Registries come and go with ownership: they start arbiters
                        // of their own.
                        Vec::new(),
                    )
                    .start();
                    act.init.readiness.set_loaded();
                    act.init.readiness.store_succeeded();
                    if let Some(o) = act.owned.as_mut() {
                        o.registry = Some(registry.clone());
                    }
                    act.owner_url = Some(act.init.advertise_url.clone());
                    act.init.metrics.is_owner.set(1);
                    act.init.metrics.failovers.inc();
                    info!(
                        "cluster: this replica owns the state now (epoch {epoch}, {count} provider(s) loaded in {} ms)",
                        started.elapsed().as_millis()
                    );
                    act.init.seat.send_replace(Seat {
                        role: Role::Owner {
                            epoch,
                            valid_until: valid_until.clone(),
                        },
                        registry: Some(registry),
                    });
                }),
        );
    }

    /// Stop serving the state, if this replica did; `why` goes to the log.
    fn lose(&mut self, why: &str, _: &mut Context<Self>) {
        let Some(o) = self.owned.take() else {
            return;
        };
        o.valid_until.revoke();
        self.follow(None);
        self.init.metrics.is_owner.set(0);
        if let Some(registry) = o.registry {
            registry.do_send(Abdicate {
                reason: format!("this replica no longer owns the state: {why}"),
            });
            warn!(
                "cluster: this replica no longer owns the state (epoch {}): {why}",
                o.epoch
            );
        } else {
            warn!(
                "cluster: this replica gave up the state while loading it (epoch {}): {why}",
                o.epoch
            );
        }
    }

    /// Publish that another replica (or none known) owns the state.
    fn follow(&mut self, owner_url: Option<String>) {
        if self.owned.is_some() {
            return;
        }
        self.owner_url.clone_from(&owner_url);
        self.init.seat.send_replace(Seat::follower(owner_url));
    }
}

impl Handler<Resign> for ClusterActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Resign, ctx: &mut Context<Self>) -> Self::Result {
        self.resigned = true;
        let epoch = self.owned.as_ref().map(|o| o.epoch);
        self.lose("it is shutting down", ctx);
        self.init.seat.send_replace(Seat::follower(None));
        let store = self.init.leader.clone();
        let id = self.init.owner_id.clone();
        Box::pin(
            async move {
                if let Some(epoch) = epoch {
                    match store.resign(&id, epoch).await {
                        Ok(()) => info!("cluster: gave up the state (epoch {epoch})"),
                        Err(e) => warn!("cluster: giving up the leader row failed: {e}"),
                    }
                }
                let _ = msg.done.send(());
            }
            .into_actor(self),
        )
    }
}

/// The loaded providers the configuration still serves, with the configured settings.
pub fn to_serve(settings: &Settings, saved: Vec<SavedProvider>) -> Vec<ProviderInit> {
    let mut providers = Vec::with_capacity(saved.len());
    for mut p in saved {
        let Some(lease) = settings.lease_settings_for(&p.key) else {
            warn!(
                "{}: stored provider is no longer configured; kept in the store, not served",
                p.key
            );
            continue;
        };
        if p.settings != lease {
            info!(
                "{}: settings changed since the state was saved; the configuration applies",
                p.key
            );
            p.journal.settings_changed();
        }
        providers.push(ProviderInit {
            key: p.key,
            settings: Arc::new(lease),
            state: p.state,
            journal: p.journal,
        });
    }
    providers
}
