//! Database connections: pool set-up, migrations, and the statement counter that makes
//! N+1 regressions visible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::{ConnectOptions as _, Executor as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend,
    SqlxPostgresConnector,
};
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
    let mut db = if DbBackend::Postgres.is_prefix_of(url) {
        connect_postgres(settings, url).await
    } else {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(settings.db_max_connections)
            .min_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .sqlx_logging(false)
            // No ping before each statement, as on PostgreSQL (see `connect_postgres`).
            .test_before_acquire(false);
        Database::connect(options).await.map_err(Into::into)
    }
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

/// How long a connection may take to open, and a request may wait for one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL pool, built with sqlx directly because SeaORM's connect cannot run
/// statements on each new connection. Every connection starts with [`session_setup`].
///
/// The pool never pings: sqlx would ping every connection before handing it out (an
/// extra round trip per statement, about a tenth of the CPU under load); a dead
/// connection fails its query instead, and the pool replaces it.
async fn connect_postgres(settings: &Settings, url: &str) -> anyhow::Result<DatabaseConnection> {
    let options = url.parse::<PgConnectOptions>()?.disable_statement_logging();
    let schema = settings.database_schema.clone();
    let pool = PgPoolOptions::new()
        .max_connections(settings.db_max_connections)
        .min_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .test_before_acquire(false)
        .after_connect(move |conn, _| {
            let setup = session_setup(conn.server_version_num(), schema.as_deref());
            Box::pin(async move {
                if !setup.is_empty() {
                    conn.execute(setup.as_str()).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
}

/// The settings a new PostgreSQL session gets, as one round trip.
///
/// `enable_memoize = off` (PostgreSQL 14 and later): for a page joined to its authors
/// the planner puts a Memoize node over the users lookup, sized for every author it
/// expects (~10,000 on the bench data), and each execution allocates and zeroes that
/// table before it reads ten rows, for a cache that a page of 10 to 100 rows never
/// fills (without it, PostgreSQL's CPU per request: 14–27% less on `feed`, 5–25% on
/// `deep`). Gatehouse's statements read bounded pages by index, where Memoize cannot
/// pay off. `search_path`: `GATEHOUSE_DATABASE_SCHEMA`, each comma-separated name
/// quoted as an identifier.
fn session_setup(server_version: Option<u32>, schema: Option<&str>) -> String {
    let mut setup = Vec::new();
    if server_version.is_none_or(|version| version >= 140_000) {
        setup.push("SET enable_memoize = off".to_owned());
    }
    if let Some(schema) = schema {
        let names: Vec<String> = schema
            .split(',')
            .map(|name| quote_identifier(name.trim()))
            .collect();
        setup.push(format!("SET search_path = {}", names.join(", ")));
    }
    setup.join("; ")
}

/// `name` as a PostgreSQL identifier (already quoted names are kept as they are).
fn quote_identifier(name: &str) -> String {
    if name.starts_with('"') {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
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
    use super::{redact, session_setup};

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://gatehouse.db"), "sqlite://gatehouse.db");
    }

    #[test]
    fn session_setup_turns_memoize_off_where_it_exists_and_quotes_the_schema() {
        assert_eq!(
            session_setup(Some(150_020), None),
            "SET enable_memoize = off"
        );
        // PostgreSQL 13 has no such setting: setting it would fail every connection.
        assert_eq!(session_setup(Some(130_016), None), "");
        assert_eq!(
            session_setup(Some(140_000), Some("app, \"My Schema\",we\"ird")),
            "SET enable_memoize = off; SET search_path = \"app\", \"My Schema\", \"we\"\"ird\""
        );
    }
}
