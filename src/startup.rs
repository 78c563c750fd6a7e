//! `Application::build(settings)`: open the store, load every provider, start the
//! actors, then bind the port. Used by `main` and by the tests.

use std::net::TcpListener;
use std::sync::Arc;

use std::time::Duration;

use actix::{Actor, Addr, Arbiter, ArbiterHandle};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::rt::task::JoinHandle;
use actix_web::{web, App, HttpServer};
use log::info;
use tokio::sync::{mpsc, oneshot, watch};

use crate::access_log;
use crate::actors::cluster::to_serve;
use crate::actors::messages::Drain;
use crate::actors::{ClusterActor, ClusterInit, RegistryActor, Resign};
use crate::config::{ClusterSettings, Settings};
use crate::domain::Time;
use crate::health::Readiness;
use crate::metrics;
use crate::routes::forward::{self, Forwarder};
use crate::routes::table::{self, Endpoint};
use crate::routes::{self, auth};
use crate::service::{LeaseService, Seat, SeatWatch};
use crate::store::{LoadError, PgOptions, PgStore, RecordError, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{source} (in {path})")]
    Record { source: RecordError, path: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("the start-up thread pool is gone")]
    Blocking,
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("auth: {0}")]
    Auth(String),
}

pub struct Application {
    port: u16,
    server: Running,
    /// Where the registry is (moved by the cluster actor with several replicas).
    seat: SeatWatch,
    /// With one replica the seat never changes; its sender lives as long as the app.
    _single: Option<watch::Sender<Seat>>,
    cluster: Option<Addr<ClusterActor>>,
}

impl Application {
    /// Must be called inside a running actix system (the provider actors start on it).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let settings = Arc::new(settings);
        let readiness = Arc::new(Readiness::default());
        let metrics = metrics::Metrics::build()?;
        match settings.cluster.clone() {
            None => Self::single(settings, readiness, metrics).await,
            Some(cluster) => Self::replicated(settings, &cluster, readiness, metrics).await,
        }
    }

    /// One replica on the embedded store: load everything, then bind.
    async fn single(
        settings: Arc<Settings>,
        readiness: Arc<Readiness>,
        metrics: metrics::Metrics,
    ) -> Result<Self, StartupError> {
        let store = {
            let dir = settings.data_dir.clone();
            web::block(move || Store::open_redb(&dir))
                .await
                .map_err(|_| StartupError::Blocking)??
        };
        let path = store.location();
        let saved = {
            let store = store.clone();
            web::block(move || store.load_all(Time::now()))
                .await
                .map_err(|_| StartupError::Blocking)?
                .map_err(|e| match e {
                    LoadError::Store(e) => StartupError::Store(e),
                    LoadError::Record(source) => StartupError::Record {
                        source,
                        path: path.clone(),
                    },
                })?
        };
        let providers = to_serve(&settings, saved);
        info!("loaded {} provider(s) from {path}", providers.len());

        // The providers run on the HTTP workers' arbiters (a poll answered on the worker
        // its provider lives on needs no hop to another thread), so the workers start
        // first; until the providers are running, requests are refused as "starting".
        let (single, seat) = watch::channel(Seat::starting());
        let listener = bind(&settings)?;
        let (homes, mut homes_rx) = mpsc::unbounded_channel();
        let (port, server) = serve(
            &settings,
            listener,
            seat.clone(),
            store.clone(),
            readiness.clone(),
            metrics.clone(),
            None,
            Some(homes),
        )?;
        let server = Running::start(server);
        let mut homes = Vec::new();
        while homes.len() < workers() {
            match tokio::time::timeout(WORKERS_START_WITHIN, homes_rx.recv()).await {
                Ok(Some(home)) => homes.push(home),
                // Never for a server that started; the registry then starts its own.
                Ok(None) | Err(_) => break,
            }
        }
        let registry = RegistryActor::new(
            settings.clone(),
            providers,
            store,
            metrics.lease.clone(),
            readiness.clone(),
            homes,
        )
        .start();
        readiness.set_loaded();
        single.send_replace(Seat::single(registry));
        Ok(Self {
            port,
            server,
            seat,
            _single: Some(single),
            cluster: None,
        })
    }

    /// Several replicas on PostgreSQL: connect (and migrate), bind, then let the cluster
    /// actor claim the state; until then (or when another replica owns it) requests are
    /// forwarded or refused.
    async fn replicated(
        settings: Arc<Settings>,
        cluster: &ClusterSettings,
        readiness: Arc<Readiness>,
        metrics: metrics::Metrics,
    ) -> Result<Self, StartupError> {
        let options = PgOptions::from_env(cluster.postgres_password_file.clone());
        let pg = PgStore::connect_with(cluster.postgres_url.expose(), &options).await?;
        // The leader row gets its own connections: a renewal must never wait behind a
        // load of the whole state or a commit.
        let leader = PgStore::connect_with(cluster.postgres_url.expose(), &options).await?;
        let listener = bind(&settings)?;
        let port = local_port(&listener)?;
        let advertise_url = cluster
            .advertise_url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
        let (seat_tx, seat) = watch::channel(Seat::follower(None));
        let owner_id = owner_id(&advertise_url);
        info!(
            "cluster: replica {owner_id} at {advertise_url}, state in {}, leader lease {:?}",
            pg.location(),
            cluster.leader_lease
        );
        let actor = ClusterActor::new(ClusterInit {
            store: pg.clone(),
            leader,
            owner_id,
            advertise_url: advertise_url.clone(),
            leader_lease: cluster.leader_lease,
            settings: settings.clone(),
            lease_metrics: metrics.lease.clone(),
            metrics: metrics.cluster.clone(),
            readiness: readiness.clone(),
            seat: seat_tx,
        })
        .start();
        let (port, server) = serve(
            &settings,
            listener,
            seat.clone(),
            Store::Postgres(pg),
            readiness,
            metrics,
            Some(advertise_url),
            None,
        )?;
        Ok(Self {
            port,
            server: Running::start(server),
            seat,
            _single: None,
            cluster: Some(actor),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (tests stop it by dropping the runtime).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.finished().await
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: parked long-polls are
    /// answered at once, in-flight requests finish (10 s at most), new ones are refused.
    /// With several replicas, ownership is then given up so another replica takes over at
    /// its next claim.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let handle = self.server.handle.clone();
        let seat = self.seat.clone();
        actix_web::rt::spawn(async move {
            let signal = shutdown_signal().await;
            info!("{signal}: shutting down");
            let registry = seat.borrow().registry.clone();
            if let Some(registry) = registry {
                let _ = registry.send(Drain).await;
            }
            handle.stop(true).await;
        });
        let served = self.server.finished().await;
        if let Some(cluster) = self.cluster {
            let (done, resigned) = oneshot::channel();
            if cluster.send(Resign { done }).await.is_ok() {
                let _ = resigned.await;
            }
        }
        served
    }
}

/// How long the HTTP workers may take to start before the registry starts arbiters of
/// its own for the providers.
const WORKERS_START_WITHIN: Duration = Duration::from_secs(10);

/// The HTTP workers (threads): one per available core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The server, started: its workers run (and can host the providers) from here on.
struct Running {
    handle: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    fn start(server: Server) -> Self {
        Self {
            handle: server.handle(),
            task: actix_web::rt::spawn(server),
        }
    }

    async fn finished(self) -> std::io::Result<()> {
        self.task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(format!("the server task: {e}"))))
    }
}

fn bind(settings: &Settings) -> Result<TcpListener, StartupError> {
    let addr = format!("{}:{}", settings.bind, settings.port);
    TcpListener::bind(&addr).map_err(|source| StartupError::Bind { addr, source })
}

fn local_port(listener: &TcpListener) -> Result<u16, StartupError> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| StartupError::Bind {
            addr: "the listening socket".into(),
            source,
        })
}

/// A per-process-start id for the leader row: a restarted replica is a new owner.
fn owner_id(advertise_url: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(advertise_url.as_bytes());
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", h.finish())
}

/// Starts the HTTP server on `listener`. Each worker sends its arbiter to `homes` as it
/// starts.
#[allow(clippy::too_many_arguments)]
fn serve(
    settings: &Settings,
    listener: TcpListener,
    seat: SeatWatch,
    store: Store,
    readiness: Arc<Readiness>,
    metrics: metrics::Metrics,
    advertise_url: Option<String>,
    homes: Option<mpsc::UnboundedSender<ArbiterHandle>>,
) -> Result<(u16, Server), StartupError> {
    let port = local_port(&listener)?;
    let service = web::Data::new(LeaseService::new(seat, store));
    let readiness = web::Data::from(readiness);
    let metrics = web::Data::new(metrics);
    let authenticator = match &settings.auth {
        Some(a) => {
            let mut authenticator = auth::Authenticator::new(a).map_err(StartupError::Auth)?;
            authenticator.metrics_needs_auth = settings.metrics_auth;
            Some(web::Data::new(authenticator))
        }
        None => None,
    };
    let server = HttpServer::new(move || {
        if let Some(homes) = &homes {
            // A worker restarted later finds nobody listening: its arbiter hosts no provider.
            let _ = homes.send(Arbiter::current());
        }
        // The access log is outermost: it also sees (and times) what auth refuses. A
        // follower forwards before auth: the owner checks the credentials.
        let mut app = App::new()
            .wrap(from_fn(auth::require_credentials))
            .wrap(from_fn(forward::forward))
            .wrap(from_fn(access_log::observe))
            .app_data(Forwarder::new(advertise_url.clone()))
            .app_data(service.clone())
            .app_data(readiness.clone())
            .app_data(metrics.clone());
        if let Some(a) = &authenticator {
            app = app.app_data(a.clone());
        }
        app.configure(mount)
            .default_service(web::to(table::not_found))
    })
    .on_connect(crate::actors::hangup::remember_socket)
    .workers(workers())
    .listen(listener)
    .map_err(|source| StartupError::Bind {
        addr: format!("port {port}"),
        source,
    })?
    .shutdown_timeout(10)
    .disable_signals()
    .run();
    info!("serving on {}:{port}", settings.bind);
    Ok((port, server))
}

/// Every row of the route table, with its handler from `routes`, `ui` or `openapi`.
pub fn mount(cfg: &mut web::ServiceConfig) {
    table::mount(cfg, &handler);
}

/// The handler of `endpoint`, from whichever module has it.
fn handler(endpoint: Endpoint) -> Option<actix_web::Route> {
    routes::handler(endpoint)
        .or_else(|| crate::ui::handler(endpoint))
        .or_else(|| crate::openapi::handler(endpoint))
}

/// Waits for SIGTERM (what container runtimes send) or SIGINT (Ctrl-C).
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
