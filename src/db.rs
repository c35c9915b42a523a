//! Database connections: pool set-up, migrations, and the statement counter that makes
//! N+1 regressions visible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Counts every SQL statement a connection runs (SeaORM's metric callback sees each one).
#[derive(Clone, Debug, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    /// Statements run so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one GraphQL request cost the database: statements run and time spent, counted by
/// the metric callback for whichever task runs inside [`REQUEST_STATS`] (the request
/// itself and its DataLoader batches).
#[derive(Debug, Default)]
pub struct RequestStats {
    statements: AtomicU64,
    db_micros: AtomicU64,
}

impl RequestStats {
    /// Statements run.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Database time, in seconds.
    pub fn db_seconds(&self) -> f64 {
        self.db_micros.load(Ordering::Relaxed) as f64 / 1e6
    }
}

tokio::task_local! {
    /// The statistics of the request the current task works for.
    pub static REQUEST_STATS: Arc<RequestStats>;
}

/// Connects to `url` with the configured pool size and schema, counting statements.
pub async fn connect(
    settings: &Settings,
    url: &str,
    counter: &StatementCounter,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(settings.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        // sqlx pings every connection before handing it out: an extra round trip per
        // statement (about a tenth of the CPU under load). A dead connection fails its
        // query instead, and the pool replaces it.
        .test_before_acquire(false);
    if let Some(schema) = &settings.database_schema {
        options.set_schema_search_path(schema.clone());
    }
    let mut db = Database::connect(options)
        .await
        .with_context(|| format!("connecting to the database at {}", redact(url)))?;
    let counter = counter.clone();
    let system = crate::telemetry::sql::db_system(db.get_database_backend());
    db.set_metric_callback(move |info| {
        counter.bump();
        let micros = u64::try_from(info.elapsed.as_micros()).unwrap_or(u64::MAX);
        let _ = REQUEST_STATS.try_with(|stats| {
            stats.statements.fetch_add(1, Ordering::Relaxed);
            stats.db_micros.fetch_add(micros, Ordering::Relaxed);
        });
        tracing::debug!(target: "gatehouse::sql", elapsed_us = info.elapsed.as_micros() as u64, failed = info.failed, sql = %info.statement.sql, "statement");
        crate::telemetry::sql::record_statement(system, info);
    });
    Ok(db)
}

/// Connects the primary database named by `DATABASE_URL`.
pub async fn connect_primary(
    settings: &Settings,
    counter: &StatementCounter,
) -> anyhow::Result<DatabaseConnection> {
    connect(settings, settings.database_url.expose_secret(), counter).await
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("applying migrations")
}

/// True when every known migration has been applied.
pub async fn migrations_applied(db: &DatabaseConnection) -> anyhow::Result<bool> {
    let pending = Migrator::get_pending_migrations(db)
        .await
        .context("reading migration status")?;
    Ok(pending.is_empty())
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://gatehouse.db"), "sqlite://gatehouse.db");
    }
}
