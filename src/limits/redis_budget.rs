//! The shared budget in Redis: one Lua script charges, refunds or reads atomically, so
//! every replica draws on the same balance. When Redis is unavailable the in-process
//! budget takes over (per replica, so a caller may briefly get up to one budget per
//! replica), and Redis resumes by itself when it answers again.

use std::time::Duration;

use chrono::Utc;

use super::budget::{Budget, BudgetStatus, LocalBudget};
use crate::redis::Redis;

/// `KEYS[1]` the window's counter; `ARGV`: limit, window in ms, points, mode.
/// Returns `{used, ms until reset, allowed}`.
const SCRIPT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local points = tonumber(ARGV[3])
local allowed = 1
if ARGV[4] == 'charge' then
  if used + points <= limit then
    used = redis.call('INCRBY', KEYS[1], points)
  else
    allowed = 0
  end
elseif ARGV[4] == 'refund' and used > 0 then
  used = redis.call('DECRBY', KEYS[1], math.min(points, used))
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 and used > 0 then
  redis.call('PEXPIRE', KEYS[1], window)
  ttl = window
elseif ttl < 0 then
  ttl = window
end
return {used, ttl, allowed}
";

/// Budgets shared through Redis, with an in-process fallback.
pub struct RedisBudget {
    redis: Redis,
    script: ::redis::Script,
    limit: u32,
    window: Duration,
    fallback: LocalBudget,
}

impl RedisBudget {
    /// `limit` points per `window`, stored under the Redis key prefix.
    pub fn new(redis: Redis, limit: u32, window: Duration) -> Self {
        Self {
            redis,
            script: ::redis::Script::new(SCRIPT),
            limit,
            window,
            fallback: LocalBudget::new(limit, window),
        }
    }

    async fn call(&self, key: &str, points: u32, mode: &'static str) -> Option<BudgetStatus> {
        let redis_key = self.redis.key(&["budget", key]);
        let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        let script = &self.script;
        let limit = self.limit;
        let (used, ttl_ms, allowed): (i64, i64, i64) = self
            .redis
            .run("budget", |mut conn| async move {
                script
                    .key(redis_key)
                    .arg(limit)
                    .arg(window_ms)
                    .arg(points)
                    .arg(mode)
                    .invoke_async(&mut conn)
                    .await
            })
            .await
            .ok()?;
        let used = u32::try_from(used.max(0)).unwrap_or(u32::MAX);
        Some(BudgetStatus {
            limit,
            cost: if mode == "charge" && allowed == 1 {
                points
            } else {
                0
            },
            remaining: limit.saturating_sub(used),
            reset_at: Utc::now() + chrono::Duration::milliseconds(ttl_ms.max(0)),
            allowed: allowed == 1,
        })
    }
}

#[async_trait::async_trait]
impl Budget for RedisBudget {
    async fn charge(&self, key: &str, cost: u32) -> BudgetStatus {
        match self.call(key, cost, "charge").await {
            Some(status) => status,
            None => self.fallback.charge(key, cost).await,
        }
    }

    async fn refund(&self, key: &str, points: u32) -> BudgetStatus {
        match self.call(key, points, "refund").await {
            Some(status) => status,
            None => self.fallback.refund(key, points).await,
        }
    }

    async fn peek(&self, key: &str) -> BudgetStatus {
        match self.call(key, 0, "peek").await {
            Some(status) => status,
            None => self.fallback.peek(key).await,
        }
    }
}
