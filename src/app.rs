//! Building and running the service: connections, migrations, schema, listener.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::jwt::JwtKeys;
use crate::cache::Caches;
use crate::config::Settings;
use crate::db::{self, StatementCounter};
use crate::events::{EventBus, LocalBus, RedisBus};
use crate::graphql::persisted::Persisted;
use crate::graphql::Schemas;
use crate::http::{self, AppState, Shared};
use crate::lifecycle::Lifecycle;
use crate::limits::budget::{Budget, LocalBudget};
use crate::limits::redis_budget::RedisBudget;
use crate::limits::throttle;
use crate::redis::Redis;
use crate::seed;
use crate::services::Services;
use secrecy::ExposeSecret;

/// A built service, bound to its port, not yet serving.
pub struct App {
    listener: TcpListener,
    router: Router,
    services: Arc<Services>,
    port: u16,
}

impl App {
    /// Connects the database, applies migrations, loads the demo data into an empty
    /// database (when enabled), builds the schema and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let statements = StatementCounter::default();
        let db = db::connect_primary(&settings, &statements).await?;
        db::migrate(&db).await?;
        // The replica counts into the same statement counter: tests read one total.
        let replica = match &settings.database_replica_url {
            Some(url) => Some(db::connect(&settings, url.expose_secret(), &statements).await?),
            None => None,
        };
        if settings.seed_demo {
            seed::seed_demo_if_empty(&db).await?;
        }
        let jwt = JwtKeys::from_settings(&settings.jwt)?;
        jwt.warm_up().await;
        let redis = match &settings.redis_url {
            Some(url) => Some(Redis::new(
                url.expose_secret(),
                &settings.redis_prefix,
                settings.redis_timeout,
            )?),
            None => None,
        };
        let events: Arc<dyn EventBus> = match (&settings.redis_url, &redis) {
            (Some(url), Some(redis)) => RedisBus::start(url.expose_secret(), redis.clone())?,
            _ => Arc::new(LocalBus::default()),
        };
        let caches = Caches::start(
            &settings.cache,
            redis.clone(),
            settings.redis_url.as_ref().map(|u| u.expose_secret()),
        )?;
        let persisted = Persisted::new(
            settings.apq,
            settings.trusted_documents.as_deref(),
            redis.clone(),
        )?;
        let limits = &settings.limits;
        let (points, window) = (limits.rate_points, limits.rate_window);
        let budget: Arc<dyn Budget> = match &redis {
            Some(redis) => Arc::new(RedisBudget::new(
                redis.clone(),
                points,
                window,
                limits.rate_lease_points,
            )),
            None => Arc::new(LocalBudget::new(points, window)),
        };
        let listener = TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("binding GATEHOUSE_ADDR={}", settings.addr))?;
        let port = listener.local_addr()?.port();
        let services = Arc::new(Services {
            settings: Arc::new(settings),
            db,
            replica,
            jwt,
            events,
            budget,
            redis,
            caches,
            persisted,
            lifecycle: Lifecycle::default(),
            statements,
        });
        let schemas = Schemas::build(services.clone())?;
        let throttle = throttle::config(&services.settings.limits);
        if let Some(config) = &throttle {
            throttle::spawn_cleanup(config.clone());
        }
        let router = http::router(AppState::new(Shared {
            services: services.clone(),
            schemas,
            throttle,
            documents: Arc::default(),
        }));
        Ok(Self {
            listener,
            router,
            services,
            port,
        })
    }

    /// The bound port (useful with `GATEHOUSE_ADDR=…:0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared services (tests read the statement counter through this).
    pub fn services(&self) -> Arc<Services> {
        self.services.clone()
    }

    /// Serves until `signal` completes, then shuts down gracefully: `/readyz` turns 503
    /// at once while serving goes on for `GATEHOUSE_DRAIN_DELAY_SECS` (so the load
    /// balancer stops routing here), then the listener closes, subscriptions are closed
    /// with 1001, and in-flight requests get `GATEHOUSE_SHUTDOWN_GRACE_SECS` to finish.
    pub async fn run_until_stopped(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(address = %self.listener.local_addr()?, "serving");
        let settings = self.services.settings.clone();
        let services = self.services.clone();
        let drain = async move {
            signal.await;
            services.lifecycle.start_draining();
            tracing::info!(delay = ?settings.drain_delay, "draining: readiness is now 503");
            tokio::time::sleep(settings.drain_delay).await;
            tracing::info!("no longer accepting connections; finishing in-flight requests");
            services.lifecycle.stop();
        };
        let server = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(drain)
        .into_future();
        let grace = self.services.settings.shutdown_grace;
        let lifecycle = &self.services.lifecycle;
        tokio::select! {
            result = server => result.context("serving HTTP"),
            () = async {
                lifecycle.stopped().await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(?grace, "in-flight requests outlived the grace period; exiting");
                Ok(())
            }
        }
    }
}

/// Completes on Ctrl-C or SIGTERM, so Kubernetes rollouts drain cleanly.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining");
}
