//! Per-IP request throttling (`tower_governor`): a token bucket per client address, refilled
//! at `GATEHOUSE_IP_RATE_PER_SEC` with bursts of `GATEHOUSE_IP_BURST`. The address is the
//! peer's, or the forwarded client's when the peer is a trusted proxy. The buckets live in
//! this process: each replica throttles what reaches it, which is what protects it; the
//! shared, cost-based budget is [`super::budget`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use governor::middleware::NoOpMiddleware;
use http::{header, HeaderValue, StatusCode};
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};

use crate::config::Limits;
use crate::error::{coded_error, Code};
use crate::http::client::client_ip;

/// Keys buckets by client address, believing `X-Forwarded-For` only from trusted proxies.
#[derive(Clone, Debug)]
pub struct ClientIp {
    trusted: Arc<Vec<IpAddr>>,
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;

    fn extract<T>(&self, req: &http::Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(client_ip(peer, req.headers(), &self.trusted))
    }
}

/// The governor configuration type.
pub type ThrottleConfig = GovernorConfig<ClientIp, NoOpMiddleware>;

/// The throttle configuration; `None` when `GATEHOUSE_IP_RATE_PER_SEC` is 0 (off).
pub fn config(limits: &Limits) -> Option<Arc<ThrottleConfig>> {
    if limits.ip_rate_per_sec == 0 {
        return None;
    }
    let period = Duration::from_nanos(1_000_000_000 / u64::from(limits.ip_rate_per_sec));
    GovernorConfigBuilder::default()
        .period(period)
        .burst_size(limits.ip_burst.max(1))
        .key_extractor(ClientIp {
            trusted: Arc::new(limits.trusted_proxies.clone()),
        })
        .finish()
        .map(Arc::new)
}

/// The layer for `/graphql`, answering refusals as GraphQL errors with `Retry-After`.
pub fn layer(
    config: Arc<ThrottleConfig>,
    burst: u32,
) -> GovernorLayer<ClientIp, NoOpMiddleware, Body> {
    GovernorLayer::new(config).error_handler(move |error| refusal(&error, burst))
}

/// Drops buckets of clients that have gone quiet, so an address flood cannot grow memory.
pub fn spawn_cleanup(config: Arc<ThrottleConfig>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            config.limiter().retain_recent();
        }
    });
}

fn refusal(error: &GovernorError, burst: u32) -> Response {
    if let Some(metrics) = crate::metrics::get() {
        metrics.rate_limited.with_label_values(&["ip"]).inc();
    }
    let (status, wait) = match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            (StatusCode::TOO_MANY_REQUESTS, (*wait_time).max(1))
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, 1),
    };
    let code = if status == StatusCode::TOO_MANY_REQUESTS {
        Code::RateLimited
    } else {
        Code::Internal
    };
    let body = serde_json::json!({ "errors": [coded_error(
        code,
        format!("too many requests from this address; retry in {wait} s"),
    )] });
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(wait));
    headers.insert("ratelimit-limit", HeaderValue::from(burst));
    headers.insert("ratelimit-remaining", HeaderValue::from(0));
    headers.insert("ratelimit-reset", HeaderValue::from(wait));
    response
}
