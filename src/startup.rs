//! `Application::build(settings)`: open the store, load every provider, start the
//! actors, then bind the port. Used by `main` and by the tests.

use std::net::TcpListener;
use std::sync::Arc;

use actix::{Actor, Addr};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use log::{info, warn};

use crate::access_log;
use crate::actors::messages::Drain;
use crate::actors::provider::ProviderInit;
use crate::actors::RegistryActor;
use crate::config::Settings;
use crate::domain::Time;
use crate::health::Readiness;
use crate::metrics;
use crate::routes::{self, auth};
use crate::service::LeaseService;
use crate::store::{LoadError, RecordError, Store, StoreError};

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
    server: Server,
    registry: Addr<RegistryActor>,
}

impl Application {
    /// Must be called inside a running actix system (the provider actors start on it).
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let settings = Arc::new(settings);
        let readiness = Arc::new(Readiness::default());
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
        let mut providers = Vec::with_capacity(saved.len());
        for mut p in saved {
            let Some(lease) = settings.lease_settings_for(&p.key) else {
                warn!(
                    "{}: stored provider is no longer configured; kept on disk, not served",
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
                settings: lease,
                state: p.state,
                journal: p.journal,
            });
        }
        info!("loaded {} provider(s) from {path}", providers.len());

        let metrics = metrics::Metrics::build()?;
        let lease_metrics = metrics.lease.clone();
        let registry = RegistryActor::new(
            settings.clone(),
            providers,
            store.clone(),
            lease_metrics,
            readiness.clone(),
        )
        .start();
        readiness.set_loaded();

        let service = web::Data::new(LeaseService::new(registry.clone(), store));
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

        let addr = format!("{}:{}", settings.bind, settings.port);
        let listener = TcpListener::bind(&addr).map_err(|source| StartupError::Bind {
            addr: addr.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();
        let server = HttpServer::new(move || {
            // The access log is outermost: it also sees (and times) what auth refuses.
            let mut app = App::new()
                .wrap(from_fn(auth::require_credentials))
                .wrap(from_fn(access_log::observe))
                .app_data(service.clone())
                .app_data(readiness.clone())
                .app_data(metrics.clone());
            if let Some(a) = &authenticator {
                app = app.app_data(a.clone());
            }
            app.configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .on_connect(routes::conn::remember_socket)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: format!("port {port}"),
            source,
        })?
        .shutdown_timeout(10)
        .disable_signals()
        .run();
        info!("serving on {}:{port}", settings.bind);
        Ok(Self {
            port,
            server,
            registry,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (tests stop it by dropping the runtime).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: parked long-polls are
    /// answered at once, in-flight requests finish (10 s at most), new ones are refused.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let registry = self.registry.clone();
        actix_web::rt::spawn(async move {
            let signal = shutdown_signal().await;
            info!("{signal}: shutting down");
            let _ = registry.send(Drain).await;
            handle.stop(true).await;
        });
        self.server.await
    }
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
