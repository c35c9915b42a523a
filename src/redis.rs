//! Redis: the pool, the key naming, and how Redis faults degrade.
//!
//! Every call goes through [`Redis::run`], which bounds it with a short timeout and records
//! the outcome: a failure flips the shared state to "down" (logged once per change) and the
//! caller falls back to its in-process path; the next success flips it back. The database
//! stays the source of truth, so Redis being away costs only sharing, never correctness.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context as _;
use deadpool_redis::{Config, Connection, Pool, Runtime};
use futures_util::StreamExt as _;
use tracing::Instrument as _;

/// A Redis pool with a key prefix and fault tracking.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    prefix: Arc<str>,
    timeout: Duration,
    up: Arc<AtomicBool>,
}

/// Why a Redis call did not produce a value.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// No connection, a protocol error, or a script error.
    #[error("redis: {0}")]
    Failed(String),
    /// The call took longer than the configured timeout.
    #[error("redis: timed out")]
    Timeout,
}

impl Redis {
    /// A pool for `url`; no connection is made until first use.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut config = Config::from_url(url);
        let mut pool_config = deadpool_redis::PoolConfig::new(32);
        pool_config.timeouts.wait = Some(timeout);
        pool_config.timeouts.create = Some(timeout.max(Duration::from_millis(500)));
        pool_config.timeouts.recycle = Some(timeout);
        config.pool = Some(pool_config);
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .context("REDIS_URL: cannot build a Redis pool")?;
        Ok(Self {
            pool,
            prefix: prefix.into(),
            timeout,
            up: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The full key for `parts`, under the configured prefix (the one place keys are named).
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = String::with_capacity(64);
        key.push_str(&self.prefix);
        key.push_str(&parts.join(":"));
        key
    }

    /// Whether the last call succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs `call` on a pooled connection under the timeout, tracking Redis health.
    pub async fn run<T, F, Fut>(&self, what: &'static str, call: F) -> Result<T, RedisError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let attempt = async {
            let conn = self
                .pool
                .get()
                .await
                .map_err(|e| RedisError::Failed(e.to_string()))?;
            call(conn)
                .await
                .map_err(|e| RedisError::Failed(e.to_string()))
        };
        // One span per call within a request, the pool wait included: that is what the
        // caller waited for.
        let span = if crate::telemetry::in_trace() {
            tracing::info_span!(
                target: crate::telemetry::TARGET,
                "redis",
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                db.system = "redis",
                db.operation.name = what,
            )
        } else {
            tracing::Span::none()
        };
        let result = match tokio::time::timeout(self.timeout, attempt)
            .instrument(span.clone())
            .await
        {
            Ok(result) => result,
            Err(_) => Err(RedisError::Timeout),
        };
        if result.is_err() {
            span.record("otel.status_code", "error");
        }
        self.record(what, result.as_ref().err());
        result
    }

    fn record(&self, what: &'static str, error: Option<&RedisError>) {
        let up = error.is_none();
        if let (Some(metrics), false) = (crate::metrics::get(), up) {
            metrics.redis_errors.with_label_values(&[what]).inc();
        }
        if self.up.swap(up, Ordering::Relaxed) != up {
            match error {
                Some(error) => {
                    tracing::warn!(operation = what, error = %error, "Redis unavailable: falling back to in-process");
                }
                None => tracing::info!(operation = what, "Redis is back"),
            }
        }
    }
}

/// Listens to the pub/sub `channel` for as long as `target` lives, reconnecting with
/// backoff when the connection is lost: `on_subscribed` runs after every (re)subscription
/// (messages sent while disconnected are lost, so listeners resynchronise there), and
/// `on_message` for every payload.
pub fn listen<T: Send + Sync + 'static>(
    client: redis::Client,
    channel: String,
    target: Weak<T>,
    on_subscribed: fn(&T),
    on_message: fn(&T, &str),
) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            if target.strong_count() == 0 {
                return;
            }
            match subscribe_once(&client, &channel, &target, on_subscribed, on_message).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(channel = %channel, error = %err, "Redis subscription lost; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
}

/// One subscription, until the connection ends or `target` is dropped.
async fn subscribe_once<T>(
    client: &redis::Client,
    channel: &str,
    target: &Weak<T>,
    on_subscribed: fn(&T),
    on_message: fn(&T, &str),
) -> redis::RedisResult<()> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    match target.upgrade() {
        Some(target) => on_subscribed(&target),
        None => return Ok(()),
    }
    let mut messages = pubsub.into_on_message();
    while let Some(message) = messages.next().await {
        let Some(target) = target.upgrade() else {
            return Ok(());
        };
        let payload: String = message.get_payload()?;
        on_message(&target, &payload);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_and_is_marked_down() {
        // Port 1 on loopback refuses connections at once.
        let redis = Redis::new("redis://127.0.0.1:1", "t:", Duration::from_millis(200)).unwrap();
        let started = std::time::Instant::now();
        let result = redis
            .run("ping", |mut c| async move {
                redis::cmd("PING").query_async::<String>(&mut c).await
            })
            .await;
        assert!(result.is_err());
        assert!(!redis.is_up());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(redis.key(&["budget", "user:1"]), "t:budget:user:1");
    }
}
