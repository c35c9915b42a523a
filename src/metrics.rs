//! Prometheus metrics (`GET /metrics`, text format), registered once per process.
//!
//! Label values are bounded so a client cannot explode cardinality: operation names are
//! sanitised and only the first [`MAX_OPERATION_NAMES`] distinct ones get a label of their
//! own (the rest collapse into `other`); codes, layers and outcomes are fixed sets.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Distinct operation names that get their own label value.
pub const MAX_OPERATION_NAMES: usize = 200;

/// Every metric family.
pub struct Metrics {
    registry: Registry,
    /// Requests by operation and outcome.
    pub http_requests: IntCounterVec,
    /// Request latency by operation and outcome.
    pub http_duration: HistogramVec,
    /// Requests being served.
    pub in_flight: IntGauge,
    /// GraphQL errors by `extensions.code`.
    pub graphql_errors: IntCounterVec,
    /// Estimated cost of operations.
    pub operation_cost: Histogram,
    /// SQL statements per request.
    pub sql_per_request: Histogram,
    /// Database time per request.
    pub db_seconds_per_request: Histogram,
    /// Keys per DataLoader batch, by loader.
    pub batch_size: HistogramVec,
    /// Cache lookups by layer and result.
    pub cache_requests: IntCounterVec,
    /// Refusals for rate by layer (`ip`, `budget`).
    pub rate_limited: IntCounterVec,
    /// Open subscriptions.
    pub subscriptions: IntGauge,
    /// Database pool connections by state (`in_use`, `idle`).
    pub db_pool: IntGaugeVec,
    /// 1 while Redis answers (absent without Redis).
    pub redis_up: IntGauge,
    /// Redis faults (calls that failed or timed out).
    pub redis_errors: IntCounterVec,
    operation_names: Mutex<HashSet<String>>,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let latency = vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let m = Metrics {
        http_requests: IntCounterVec::new(
            Opts::new(
                "gatehouse_http_requests_total",
                "GraphQL HTTP requests by operation and outcome.",
            ),
            &["operation", "outcome"],
        )?,
        http_duration: HistogramVec::new(
            HistogramOpts::new(
                "gatehouse_http_request_duration_seconds",
                "GraphQL HTTP request latency.",
            )
            .buckets(latency),
            &["operation", "outcome"],
        )?,
        in_flight: IntGauge::new(
            "gatehouse_http_requests_in_flight",
            "Requests being served.",
        )?,
        graphql_errors: IntCounterVec::new(
            Opts::new(
                "gatehouse_graphql_errors_total",
                "GraphQL errors by extensions.code.",
            ),
            &["code"],
        )?,
        operation_cost: Histogram::with_opts(
            HistogramOpts::new(
                "gatehouse_operation_cost",
                "Estimated cost of operations (objects).",
            )
            .buckets(vec![
                1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
                25000.0,
            ]),
        )?,
        sql_per_request: Histogram::with_opts(
            HistogramOpts::new(
                "gatehouse_sql_statements_per_request",
                "SQL statements per GraphQL request.",
            )
            .buckets(vec![0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 50.0, 100.0]),
        )?,
        db_seconds_per_request: Histogram::with_opts(HistogramOpts::new(
            "gatehouse_db_seconds_per_request",
            "Database time per GraphQL request.",
        ))?,
        batch_size: HistogramVec::new(
            HistogramOpts::new(
                "gatehouse_dataloader_batch_size",
                "Keys per DataLoader batch.",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
            ]),
            &["loader"],
        )?,
        cache_requests: IntCounterVec::new(
            Opts::new(
                "gatehouse_cache_requests_total",
                "Cache lookups by layer and result.",
            ),
            &["layer", "result"],
        )?,
        rate_limited: IntCounterVec::new(
            Opts::new(
                "gatehouse_rate_limited_total",
                "Requests refused for rate, by layer.",
            ),
            &["layer"],
        )?,
        subscriptions: IntGauge::new(
            "gatehouse_subscriptions_active",
            "Open GraphQL subscriptions.",
        )?,
        db_pool: IntGaugeVec::new(
            Opts::new(
                "gatehouse_db_pool_connections",
                "Database pool connections by state.",
            ),
            &["state"],
        )?,
        redis_up: IntGauge::new("gatehouse_redis_up", "1 while Redis answers.")?,
        redis_errors: IntCounterVec::new(
            Opts::new(
                "gatehouse_redis_errors_total",
                "Redis calls that failed or timed out.",
            ),
            &["operation"],
        )?,
        operation_names: Mutex::new(HashSet::new()),
        registry,
    };
    let r = &m.registry;
    r.register(Box::new(m.http_requests.clone()))?;
    r.register(Box::new(m.http_duration.clone()))?;
    r.register(Box::new(m.in_flight.clone()))?;
    r.register(Box::new(m.graphql_errors.clone()))?;
    r.register(Box::new(m.operation_cost.clone()))?;
    r.register(Box::new(m.sql_per_request.clone()))?;
    r.register(Box::new(m.db_seconds_per_request.clone()))?;
    r.register(Box::new(m.batch_size.clone()))?;
    r.register(Box::new(m.cache_requests.clone()))?;
    r.register(Box::new(m.rate_limited.clone()))?;
    r.register(Box::new(m.subscriptions.clone()))?;
    r.register(Box::new(m.db_pool.clone()))?;
    r.register(Box::new(m.redis_up.clone()))?;
    r.register(Box::new(m.redis_errors.clone()))?;
    Ok(m)
}

static METRICS: OnceLock<Option<Metrics>> = OnceLock::new();

/// The process's metrics (`None` only if registration failed, which is a programming
/// error logged once; metrics are then skipped rather than crash the service).
pub fn get() -> Option<&'static Metrics> {
    METRICS
        .get_or_init(|| match build() {
            Ok(metrics) => Some(metrics),
            Err(err) => {
                tracing::error!(error = %err, "metrics registration failed");
                None
            }
        })
        .as_ref()
}

impl Metrics {
    /// The label for an operation name: sanitised, and `other` past the first
    /// [`MAX_OPERATION_NAMES`] distinct names.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return "anonymous".into();
        };
        let clean: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        if clean.is_empty() {
            return "other".into();
        }
        let mut names = self
            .operation_names
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if names.contains(&clean) {
            return clean;
        }
        if names.len() < MAX_OPERATION_NAMES {
            names.insert(clean.clone());
            return clean;
        }
        "other".into()
    }

    /// The text exposition of every family.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(err) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "encoding metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded_and_sanitised() {
        let m = build().unwrap();
        assert_eq!(m.operation_label(None), "anonymous");
        assert_eq!(m.operation_label(Some("Feed")), "Feed");
        assert_eq!(m.operation_label(Some("bad\"name{}")), "badname");
        for i in 0..(MAX_OPERATION_NAMES + 10) {
            m.operation_label(Some(&format!("Op{i}")));
        }
        assert_eq!(m.operation_label(Some("BrandNew")), "other");
        assert_eq!(m.operation_label(Some("Feed")), "Feed");
        m.http_requests.with_label_values(&["Feed", "ok"]).inc();
        assert!(m.render().contains("gatehouse_http_requests_total"));
    }
}
