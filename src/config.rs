//! Settings: one typed struct read from the environment names of CONTRACT.md section 5.
//!
//! Every value has an embedded default so `cargo run --release` works with no setup; an
//! invalid value fails start-up with a message that names the variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Where the service runs: `production` switches introspection and GraphiQL off (unless
/// enabled explicitly) and logs JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// Local development: GraphiQL and introspection on, human-readable logs.
    Development,
    /// Production: GraphiQL and introspection off unless enabled, JSON logs.
    Production,
}

/// How tokens are signed and checked.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    /// `JWT_SECRET`: HS256 shared secret. When no key source is configured a random secret
    /// is generated per start (tokens then die with the process; a warning says so).
    pub secret: Option<SecretString>,
    /// `JWT_PRIVATE_KEY_FILE`: PEM key for signing with an asymmetric algorithm.
    pub private_key_file: Option<PathBuf>,
    /// `JWT_PUBLIC_KEY_FILE`: PEM key for verifying with an asymmetric algorithm.
    pub public_key_file: Option<PathBuf>,
    /// `JWT_JWKS_URL`: an identity provider's key set.
    pub jwks_url: Option<String>,
    /// `JWT_AUDIENCE`: the `aud` required, when set.
    pub audience: Option<String>,
    /// `GATEHOUSE_JWT_ISSUER`: the `iss` claim written and required.
    pub issuer: String,
    /// `GATEHOUSE_JWT_TTL_SECS`: lifetime of tokens issued by `register`/`login`.
    pub ttl: Duration,
}

/// Query and traffic limits (README "Limits" lists each with its default).
#[derive(Clone, Debug)]
pub struct Limits {
    /// `GATEHOUSE_MAX_DEPTH`: deepest selection allowed.
    pub max_depth: usize,
    /// `GATEHOUSE_MAX_COMPLEXITY`: highest estimated cost of one operation.
    pub max_complexity: usize,
    /// `GATEHOUSE_MAX_ALIASES`: aliases in one document.
    pub max_aliases: usize,
    /// `GATEHOUSE_MAX_ROOT_FIELDS`: root fields in one operation.
    pub max_root_fields: usize,
    /// `GATEHOUSE_MAX_DIRECTIVES`: directives in one document.
    pub max_directives: usize,
    /// `GATEHOUSE_MAX_QUERY_BYTES`: length of one GraphQL document.
    pub max_query_bytes: usize,
    /// `GATEHOUSE_MAX_SUBSCRIPTIONS`: open subscriptions per token (per IP when anonymous)
    /// on one replica.
    pub max_subscriptions: usize,
    /// `GATEHOUSE_MAX_BATCH`: operations in one batched request.
    pub max_batch: usize,
    /// `GATEHOUSE_MAX_BODY_BYTES`: request body size.
    pub max_body_bytes: usize,
    /// `GATEHOUSE_REQUEST_TIMEOUT_MS`: time one request may run.
    pub request_timeout: Duration,
    /// `GATEHOUSE_RATE_POINTS`: cost budget per token (per IP when anonymous) per window.
    pub rate_points: u32,
    /// `GATEHOUSE_RATE_WINDOW_SECS`: length of the budget window.
    pub rate_window: Duration,
    /// `GATEHOUSE_RATE_LEASE_POINTS`: points a replica draws from the shared (Redis)
    /// budget ahead of use (default 1% of the budget; 0 draws per request).
    pub rate_lease_points: u32,
    /// `GATEHOUSE_IP_RATE_PER_SEC`: per-IP request refill rate.
    pub ip_rate_per_sec: u32,
    /// `GATEHOUSE_IP_BURST`: per-IP burst size.
    pub ip_burst: u32,
    /// `GATEHOUSE_TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

/// All configuration of one Gatehouse process.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `GATEHOUSE_ADDR`: listen address (port 0 picks a free port).
    pub addr: SocketAddr,
    /// `DATABASE_URL`: the primary database.
    pub database_url: SecretString,
    /// `DATABASE_REPLICA_URL`: optional read replica.
    pub database_replica_url: Option<SecretString>,
    /// `GATEHOUSE_DATABASE_SCHEMA`: PostgreSQL schema to use (tests use one per run).
    pub database_schema: Option<String>,
    /// `GATEHOUSE_DB_MAX_CONNECTIONS`: pool size.
    pub db_max_connections: u32,
    /// `REDIS_URL`: shared cache, budgets and fan-out; unset means in-process.
    pub redis_url: Option<SecretString>,
    /// `GATEHOUSE_REDIS_PREFIX`: prefix of every Redis key (tests use one per run).
    pub redis_prefix: String,
    /// `GATEHOUSE_REDIS_TIMEOUT_MS`: bound on every Redis call before falling back.
    pub redis_timeout: Duration,
    /// `GATEHOUSE_ENV`.
    pub environment: Environment,
    /// `GATEHOUSE_GRAPHIQL`: serve the playground (default: on outside production).
    pub graphiql: bool,
    /// `GATEHOUSE_INTROSPECTION`: allow introspection (default: on outside production).
    pub introspection: bool,
    /// `GATEHOUSE_SEED_DEMO`: load the demo data set into an empty database at start-up.
    pub seed_demo: bool,
    /// `GATEHOUSE_CORS_ORIGINS`: origins allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
    /// `GATEHOUSE_CSRF_PREVENTION`: GETs need a preflight-forcing header (default: on in
    /// production).
    pub csrf_prevention: bool,
    /// `GATEHOUSE_TRUSTED_DOCUMENTS`: a manifest of the only operations accepted.
    pub trusted_documents: Option<PathBuf>,
    /// `GATEHOUSE_APQ`: accept Apollo automatic persisted queries (default on).
    pub apq: bool,
    /// `GATEHOUSE_DEBUG_HEADER`: in production, `x-gatehouse-debug: 1` adds the request's
    /// SQL statement count and database time to `extensions.sql` (always on outside
    /// production).
    pub debug_header: bool,
    /// `GATEHOUSE_DRAIN_DELAY_SECS`: after SIGTERM, how long `/readyz` answers 503 while
    /// the server still serves, so load balancers stop routing to it.
    pub drain_delay: Duration,
    /// `GATEHOUSE_SHUTDOWN_GRACE_SECS`: then how long in-flight requests may finish.
    pub shutdown_grace: Duration,
    /// `GATEHOUSE_WS_KEEPALIVE_SECS`: interval of the server's WebSocket pings.
    pub ws_keepalive: Duration,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/HTTP collector (`http://collector:4318`); traces
    /// go to `<endpoint>/v1/traces`. Unset: no tracing at all.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_SERVICE_NAME`: the `service.name` of exported traces.
    pub otel_service_name: String,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// Token settings.
    pub jwt: JwtSettings,
    /// Query and traffic limits.
    pub limits: Limits,
    /// Entity and response caches.
    pub cache: CacheSettings,
}

/// The entity cache (under the DataLoaders) and the response cache (anonymous queries).
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// `GATEHOUSE_ENTITY_CACHE`: cache rows and counts by id (default on).
    pub entities: bool,
    /// `GATEHOUSE_RESPONSE_CACHE`: cache whole responses of anonymous cacheable queries
    /// (default on).
    pub responses: bool,
    /// `GATEHOUSE_CACHE_TTL_SECS`: lifetime of an entity in Redis. Writes invalidate
    /// entries at once; the TTL only bounds memory and a write lost while Redis was away.
    pub ttl: Duration,
    /// `GATEHOUSE_RESPONSE_CACHE_TTL_SECS`: lifetime of a cached response in Redis.
    pub response_ttl: Duration,
    /// `GATEHOUSE_LOCAL_CACHE_TTL_MS`: lifetime of an entry in a replica's in-process tier,
    /// the bound on its staleness should an invalidation message be lost (0 turns the
    /// in-process tier off).
    pub local_ttl: Duration,
    /// `GATEHOUSE_LOCAL_CACHE_CAPACITY`: entries each in-process tier holds at most.
    pub local_capacity: u64,
    /// `GATEHOUSE_REPLICA_LAG_MS`: with a read replica, how long after a write nothing read
    /// may be cached (the replica's lag bound; default 2000). 0 without a replica.
    pub refill_hold: Duration,
}

/// A configuration value that could not be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}={value:?}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// The value it had.
    pub value: String,
    /// What was expected.
    pub reason: String,
}

impl Settings {
    /// Reads the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (a variable name to its value), so tests can supply
    /// their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let environment = match env.string("GATEHOUSE_ENV").as_deref() {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(ConfigError {
                    variable: "GATEHOUSE_ENV",
                    value: other.to_owned(),
                    reason: "expected `development` or `production`".into(),
                })
            }
        };
        let dev = environment == Environment::Development;
        let rate_points = env.parse("GATEHOUSE_RATE_POINTS", 100_000)?;
        Ok(Self {
            addr: env.parse("GATEHOUSE_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)))?,
            database_url: env
                .string("DATABASE_URL")
                .unwrap_or_else(|| "sqlite://gatehouse.db?mode=rwc".into())
                .into(),
            database_replica_url: env.string("DATABASE_REPLICA_URL").map(Into::into),
            database_schema: env.string("GATEHOUSE_DATABASE_SCHEMA"),
            db_max_connections: env.parse("GATEHOUSE_DB_MAX_CONNECTIONS", 16)?,
            redis_url: env.string("REDIS_URL").map(Into::into),
            redis_prefix: env
                .string("GATEHOUSE_REDIS_PREFIX")
                .unwrap_or_else(|| "gatehouse:".into()),
            redis_timeout: Duration::from_millis(env.parse("GATEHOUSE_REDIS_TIMEOUT_MS", 250)?),
            environment,
            graphiql: env.parse("GATEHOUSE_GRAPHIQL", dev)?,
            introspection: env.parse("GATEHOUSE_INTROSPECTION", dev)?,
            seed_demo: env.parse("GATEHOUSE_SEED_DEMO", true)?,
            cors_origins: env.list("GATEHOUSE_CORS_ORIGINS")?,
            csrf_prevention: env.parse("GATEHOUSE_CSRF_PREVENTION", !dev)?,
            trusted_documents: env.string("GATEHOUSE_TRUSTED_DOCUMENTS").map(PathBuf::from),
            apq: env.parse("GATEHOUSE_APQ", true)?,
            debug_header: env.parse("GATEHOUSE_DEBUG_HEADER", false)?,
            drain_delay: Duration::from_secs(env.parse("GATEHOUSE_DRAIN_DELAY_SECS", 5)?),
            shutdown_grace: Duration::from_secs(env.parse("GATEHOUSE_SHUTDOWN_GRACE_SECS", 20)?),
            ws_keepalive: Duration::from_secs(env.parse("GATEHOUSE_WS_KEEPALIVE_SECS", 25)?.max(1)),
            otlp_endpoint: env.http_url("OTEL_EXPORTER_OTLP_ENDPOINT")?,
            otel_service_name: env
                .string("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| "gatehouse".into()),
            log_filter: env.string("RUST_LOG").unwrap_or_else(|| "info".into()),
            jwt: JwtSettings {
                secret: env.string("JWT_SECRET").map(Into::into),
                private_key_file: env.string("JWT_PRIVATE_KEY_FILE").map(PathBuf::from),
                public_key_file: env.string("JWT_PUBLIC_KEY_FILE").map(PathBuf::from),
                jwks_url: env.string("JWT_JWKS_URL"),
                audience: env.string("JWT_AUDIENCE"),
                issuer: env
                    .string("GATEHOUSE_JWT_ISSUER")
                    .unwrap_or_else(|| "gatehouse".into()),
                ttl: Duration::from_secs(env.parse("GATEHOUSE_JWT_TTL_SECS", 86_400)?),
            },
            limits: Limits {
                max_depth: env.parse("GATEHOUSE_MAX_DEPTH", 15)?,
                max_complexity: env.parse("GATEHOUSE_MAX_COMPLEXITY", 25_000)?,
                max_aliases: env.parse("GATEHOUSE_MAX_ALIASES", 30)?,
                max_root_fields: env.parse("GATEHOUSE_MAX_ROOT_FIELDS", 20)?,
                max_directives: env.parse("GATEHOUSE_MAX_DIRECTIVES", 50)?,
                max_query_bytes: env.parse("GATEHOUSE_MAX_QUERY_BYTES", 32 * 1024)?,
                max_subscriptions: env.parse("GATEHOUSE_MAX_SUBSCRIPTIONS", 25)?,
                max_batch: env.parse("GATEHOUSE_MAX_BATCH", 10)?,
                max_body_bytes: env.parse("GATEHOUSE_MAX_BODY_BYTES", 256 * 1024)?,
                request_timeout: Duration::from_millis(
                    env.parse("GATEHOUSE_REQUEST_TIMEOUT_MS", 10_000)?,
                ),
                rate_points,
                rate_window: Duration::from_secs(env.parse("GATEHOUSE_RATE_WINDOW_SECS", 60)?),
                rate_lease_points: env.parse("GATEHOUSE_RATE_LEASE_POINTS", rate_points / 100)?,
                ip_rate_per_sec: env.parse("GATEHOUSE_IP_RATE_PER_SEC", 100)?,
                ip_burst: env.parse("GATEHOUSE_IP_BURST", 200)?,
                trusted_proxies: env.list("GATEHOUSE_TRUSTED_PROXIES")?,
            },
            cache: CacheSettings {
                entities: env.parse("GATEHOUSE_ENTITY_CACHE", true)?,
                responses: env.parse("GATEHOUSE_RESPONSE_CACHE", true)?,
                ttl: Duration::from_secs(env.parse("GATEHOUSE_CACHE_TTL_SECS", 300)?),
                response_ttl: Duration::from_secs(
                    env.parse("GATEHOUSE_RESPONSE_CACHE_TTL_SECS", 60)?,
                ),
                local_ttl: Duration::from_millis(env.parse("GATEHOUSE_LOCAL_CACHE_TTL_MS", 1000)?),
                local_capacity: env.parse("GATEHOUSE_LOCAL_CACHE_CAPACITY", 50_000)?,
                refill_hold: if env.string("DATABASE_REPLICA_URL").is_some() {
                    Duration::from_millis(env.parse("GATEHOUSE_REPLICA_LAG_MS", 2000)?)
                } else {
                    Duration::ZERO
                },
            },
        })
    }

    /// True when running with `GATEHOUSE_ENV=production`.
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

/// Typed access to a variable lookup; every parse error names its variable.
struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    fn string(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.string(name) {
            None => Ok(default),
            Some(value) => value.trim().parse().map_err(|e: T::Err| ConfigError {
                variable: name,
                reason: e.to_string(),
                value,
            }),
        }
    }

    /// An `http://` or `https://` URL with a host, as written.
    fn http_url(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        let Some(value) = self.string(name) else {
            return Ok(None);
        };
        let value = value.trim().to_owned();
        match value.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() =>
            {
                Ok(Some(value))
            }
            _ => Err(ConfigError {
                variable: name,
                value,
                reason: "expected an http:// or https:// URL, e.g. http://collector:4318".into(),
            }),
        }
    }

    fn list<T: std::str::FromStr>(&self, name: &'static str) -> Result<Vec<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let Some(value) = self.string(name) else {
            return Ok(Vec::new());
        };
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse().map_err(|e: T::Err| ConfigError {
                    variable: name,
                    value: value.clone(),
                    reason: format!("{item:?}: {e}"),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.addr.to_string(), "127.0.0.1:8000");
        assert!(s.redis_url.is_none());
        assert_eq!(s.limits.max_depth, 15);
        assert!(s.graphiql && s.introspection);
    }

    #[test]
    fn production_turns_playground_and_introspection_off() {
        let s = settings(&[("GATEHOUSE_ENV", "production")]).unwrap();
        assert!(!s.graphiql && !s.introspection);
        let s = settings(&[
            ("GATEHOUSE_ENV", "production"),
            ("GATEHOUSE_GRAPHIQL", "true"),
        ])
        .unwrap();
        assert!(s.graphiql);
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let err = settings(&[("GATEHOUSE_MAX_DEPTH", "deep")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_MAX_DEPTH");
        assert!(err.to_string().contains("GATEHOUSE_MAX_DEPTH"));
        let err = settings(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.1, nope")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_TRUSTED_PROXIES");
        let err = settings(&[("GATEHOUSE_ENV", "staging")]).unwrap_err();
        assert_eq!(err.variable, "GATEHOUSE_ENV");
        for endpoint in ["collector:4318", "grpc://collector:4317", "http://"] {
            let err = settings(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)]).unwrap_err();
            assert_eq!(err.variable, "OTEL_EXPORTER_OTLP_ENDPOINT", "{endpoint}");
        }
    }

    #[test]
    fn tracing_is_off_unless_an_endpoint_is_set() {
        let s = settings(&[]).unwrap();
        assert!(s.otlp_endpoint.is_none());
        assert_eq!(s.otel_service_name, "gatehouse");
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SERVICE_NAME", "gatehouse-eu"),
        ])
        .unwrap();
        assert_eq!(s.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(s.otel_service_name, "gatehouse-eu");
    }
}
