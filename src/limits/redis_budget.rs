//! The shared budget in Redis: one Lua script charges, refunds or reads atomically, so
//! every replica draws on the same balance. When Redis is unavailable the in-process
//! budget takes over (per replica, so a caller may briefly get up to one budget per
//! replica), and Redis resumes by itself when it answers again.
//!
//! **Leases.** A round trip per charge (and one more per refund) was most of the cost of
//! an answer from the response cache. So, with a lease size above zero, a replica draws a
//! caller's points from Redis a lease at a time (the points the request needs plus the
//! lease, when they fit) and spends them in process until they run out; refunds go back
//! into the lease. Redis never hands out more than the limit, so across all replicas a
//! caller is never served more than its budget. What leases cost, documented: a caller
//! may be refused while up to one lease per replica sits unspent on other replicas (until
//! the window ends), and `remaining` counts other replicas' spending only as of this
//! replica's last draw. With one replica both are exact.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::budget::{Budget, BudgetStatus, LocalBudget, Op};
use crate::redis::Redis;

/// `KEYS[1]` the window's counter; `ARGV`: limit, window in ms, points that must be taken,
/// points to take beyond them if they fit (a lease), points given back.
/// Returns `{used, ms until reset, allowed, taken}`; nothing is taken unless the needed
/// points fit.
const SCRIPT: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local extra = tonumber(ARGV[4])
local give = tonumber(ARGV[5])
if give > 0 and used > 0 then
  used = redis.call('DECRBY', KEYS[1], math.min(give, used))
end
local allowed = 1
local taken = 0
if need > 0 or extra > 0 then
  if used + need > limit then
    allowed = 0
  else
    taken = math.min(need + extra, limit - used)
    if taken > 0 then
      used = redis.call('INCRBY', KEYS[1], taken)
    end
  end
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 and used > 0 then
  redis.call('PEXPIRE', KEYS[1], window)
  ttl = window
elseif ttl < 0 then
  ttl = window
end
return {used, ttl, allowed, taken}
";

/// What one script call asks of Redis.
#[derive(Clone, Copy, Default)]
struct Draw {
    /// Points that must be taken (the charge is refused otherwise).
    need: u32,
    /// Points to take beyond `need` when they fit.
    extra: u32,
    /// Points given back first.
    give: u32,
}

/// What Redis answered.
struct Drawn {
    /// Points used in the window, everywhere.
    used: u32,
    reset_at: DateTime<Utc>,
    allowed: bool,
    taken: u32,
}

/// A replica's unspent share of one caller's window.
#[derive(Default)]
struct Lease {
    /// Points drawn from Redis and not spent here yet.
    points: u32,
    /// Points Redis had left at the last draw.
    shared: u32,
    /// The end of the window the points belong to.
    reset_at: DateTime<Utc>,
}

impl Lease {
    fn is_current(&self) -> bool {
        self.reset_at > Utc::now()
    }
}

/// Budgets shared through Redis, with an in-process fallback.
pub struct RedisBudget {
    redis: Redis,
    script: ::redis::Script,
    limit: u32,
    window: Duration,
    /// Points drawn beyond a charge's own (0: every charge and refund goes to Redis).
    lease: u32,
    leases: moka::sync::Cache<String, Arc<tokio::sync::Mutex<Lease>>>,
    fallback: LocalBudget,
}

impl RedisBudget {
    /// `limit` points per `window`, stored under the Redis key prefix; each replica draws
    /// `lease` points ahead (0 for none).
    pub fn new(redis: Redis, limit: u32, window: Duration, lease: u32) -> Self {
        Self {
            redis,
            script: ::redis::Script::new(SCRIPT),
            limit,
            window,
            lease,
            // A lease idle for a window belongs to a window that has ended.
            leases: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(window)
                .build(),
            fallback: LocalBudget::new(limit, window),
        }
    }

    async fn call(&self, key: &str, draw: Draw) -> Option<Drawn> {
        let redis_key = self.redis.key(&["budget", key]);
        let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        let script = &self.script;
        let limit = self.limit;
        let (used, ttl_ms, allowed, taken): (i64, i64, i64, i64) = self
            .redis
            .run("budget", |mut conn| async move {
                script
                    .key(redis_key)
                    .arg(limit)
                    .arg(window_ms)
                    .arg(draw.need)
                    .arg(draw.extra)
                    .arg(draw.give)
                    .invoke_async(&mut conn)
                    .await
            })
            .await
            .ok()?;
        Some(Drawn {
            used: u32::try_from(used.max(0)).unwrap_or(u32::MAX),
            reset_at: Utc::now() + chrono::Duration::milliseconds(ttl_ms.max(0)),
            allowed: allowed == 1,
            taken: u32::try_from(taken.max(0)).unwrap_or(u32::MAX),
        })
    }

    /// The status Redis reports, plus what this replica holds unspent.
    fn status(&self, drawn: &Drawn, held: u32, cost: u32) -> BudgetStatus {
        BudgetStatus {
            limit: self.limit,
            cost,
            remaining: self
                .limit
                .saturating_sub(drawn.used)
                .saturating_add(held)
                .min(self.limit),
            reset_at: drawn.reset_at,
            allowed: drawn.allowed,
        }
    }

    fn lease_of(&self, key: &str) -> Arc<tokio::sync::Mutex<Lease>> {
        if let Some(lease) = self.leases.get(key) {
            return lease;
        }
        self.leases.get_with(key.to_owned(), Default::default)
    }

    /// The status of an allowed charge (or refund) as this replica's lease sees it.
    fn leased_status(&self, lease: &Lease, cost: u32) -> BudgetStatus {
        BudgetStatus {
            limit: self.limit,
            cost,
            remaining: lease.shared.saturating_add(lease.points).min(self.limit),
            reset_at: lease.reset_at,
            allowed: true,
        }
    }

    /// What a current `lease` settles by itself, without Redis: a charge it covers, a
    /// refund that keeps it within two leases, a look. The rule both the in-place path
    /// ([`Budget::try_settle`]) and the waiting paths below follow.
    fn settle_in_lease(&self, lease: &mut Lease, op: Op) -> Option<BudgetStatus> {
        if !lease.is_current() {
            return None;
        }
        match op {
            Op::Charge(cost) if lease.points >= cost => {
                lease.points -= cost;
                Some(self.leased_status(lease, cost))
            }
            Op::Refund(points)
                if lease.points.saturating_add(points) <= self.lease.saturating_mul(2) =>
            {
                lease.points += points;
                Some(self.leased_status(lease, 0))
            }
            Op::Peek => Some(self.leased_status(lease, 0)),
            Op::Charge(_) | Op::Refund(_) => None,
        }
    }

    /// A charge spent from this replica's lease, drawing a new one when it runs short.
    async fn charge_leased(&self, key: &str, cost: u32) -> Option<BudgetStatus> {
        let lease = self.lease_of(key);
        // Held across the draw: concurrent requests of one caller wait for it rather than
        // each drawing a lease of their own.
        let mut lease = lease.lock().await;
        if let Some(status) = self.settle_in_lease(&mut lease, Op::Charge(cost)) {
            return Some(status);
        }
        if !lease.is_current() {
            *lease = Lease::default();
        }
        let draw = Draw {
            need: cost - lease.points,
            extra: self.lease,
            give: 0,
        };
        let drawn = self.call(key, draw).await?;
        if !drawn.allowed {
            return Some(self.status(&drawn, lease.points, 0));
        }
        *lease = Lease {
            points: lease.points + drawn.taken - cost,
            shared: self.limit.saturating_sub(drawn.used),
            reset_at: drawn.reset_at,
        };
        Some(self.leased_status(&lease, cost))
    }

    /// A refund kept in this replica's lease; past two leases the excess goes back to
    /// Redis, so refunds do not strand points here. `None` when there is no current lease.
    async fn refund_leased(&self, key: &str, points: u32) -> Option<BudgetStatus> {
        let lease = self.leases.get(key)?;
        let mut lease = lease.lock().await;
        if let Some(status) = self.settle_in_lease(&mut lease, Op::Refund(points)) {
            return Some(status);
        }
        if !lease.is_current() {
            return None;
        }
        // Past two leases: the excess goes back. Should Redis not answer, the points stay
        // here: nothing is lost.
        lease.points = lease.points.saturating_add(points);
        let keep = self.lease.saturating_mul(2);
        let give = lease.points.saturating_sub(keep);
        if let Some(drawn) = self
            .call(
                key,
                Draw {
                    give,
                    ..Draw::default()
                },
            )
            .await
        {
            lease.points = keep;
            lease.shared = self.limit.saturating_sub(drawn.used);
            lease.reset_at = drawn.reset_at;
        }
        Some(self.leased_status(&lease, 0))
    }
}

#[async_trait::async_trait]
impl Budget for RedisBudget {
    /// With a current lease that covers it and no draw under way for this caller: settled
    /// here, as the async path would settle it without calling Redis.
    fn try_settle(&self, key: &str, op: Op) -> Option<BudgetStatus> {
        if self.lease == 0 {
            return None;
        }
        let lease = self.leases.get(key)?;
        let mut lease = lease.try_lock().ok()?;
        self.settle_in_lease(&mut lease, op)
    }

    async fn settle(&self, key: &str, op: Op) -> BudgetStatus {
        match op {
            Op::Charge(cost) => self.charge(key, cost).await,
            Op::Refund(points) => self.refund(key, points).await,
            Op::Peek => self.peek(key).await,
        }
    }
}

impl RedisBudget {
    async fn charge(&self, key: &str, cost: u32) -> BudgetStatus {
        let charged = if self.lease > 0 {
            self.charge_leased(key, cost).await
        } else {
            let draw = Draw {
                need: cost,
                ..Draw::default()
            };
            let drawn = self.call(key, draw).await;
            drawn.map(|drawn| {
                let cost = if drawn.allowed { cost } else { 0 };
                self.status(&drawn, 0, cost)
            })
        };
        match charged {
            Some(status) => status,
            None => self.fallback.settle(key, Op::Charge(cost)).await,
        }
    }

    async fn refund(&self, key: &str, points: u32) -> BudgetStatus {
        if self.lease > 0 {
            if let Some(status) = self.refund_leased(key, points).await {
                return status;
            }
        }
        let draw = Draw {
            give: points,
            ..Draw::default()
        };
        match self.call(key, draw).await {
            // Only reached without a current lease: this replica holds nothing.
            Some(drawn) => self.status(&drawn, 0, 0),
            None => self.fallback.settle(key, Op::Refund(points)).await,
        }
    }

    /// With a current lease, what this replica knows (as of its last draw) without asking.
    async fn peek(&self, key: &str) -> BudgetStatus {
        if let Some(lease) = self.leases.get(key).filter(|_| self.lease > 0) {
            if let Some(status) = self.settle_in_lease(&mut *lease.lock().await, Op::Peek) {
                return status;
            }
        }
        match self.call(key, Draw::default()).await {
            // Only reached without a current lease: this replica holds nothing.
            Some(drawn) => self.status(&drawn, 0, 0),
            None => self.fallback.settle(key, Op::Peek).await,
        }
    }
}
