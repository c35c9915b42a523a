//! Caches that are never wrong: an entity cache under the DataLoaders and a response cache
//! for anonymous queries, each with an in-process tier in front of Redis.
//!
//! Freshness rules, in the order they matter:
//! - A mutation invalidates what it wrote in Redis *before it returns* (one script deletes
//!   the entity keys and their fill leases, bumps the response version and publishes the
//!   change), so a read on any replica after that misses the Redis tier.
//! - A miss fills Redis only under a lease taken *before* the database read; an
//!   invalidation deletes the lease, so a read that raced a write never writes back the
//!   old value.
//! - In-process tiers are evicted by the published change. Should a message be lost, an
//!   entry still dies after `GATEHOUSE_LOCAL_CACHE_TTL_MS`: that is the staleness bound
//!   of the in-process tier (0 turns it off). A fill that started before an eviction is
//!   not kept.
//! - With a read replica, for `GATEHOUSE_REPLICA_LAG_MS` after a write nothing read is
//!   cached (leases held, no response stored, no in-process fill): the replica may not
//!   have the write yet.
//! - While Redis is unreachable both tiers are bypassed (the database answers); writes
//!   whose invalidation failed are replayed and the in-process tiers emptied when Redis
//!   is back.
//!
//! Without `REDIS_URL` (one process) the in-process tier is the whole cache and writes
//! evict it directly.

mod document;
mod entities;
mod responses;
mod validated;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use anyhow::Context as _;
use redis::Script;

pub use entities::{EntityKey, EntityKind};
pub use responses::{CachedResponse, Lookup, ResponseKey};
pub use validated::{ValidatedKey, ValidatedRequests};

use crate::config::CacheSettings;
use crate::redis::Redis;

/// Both caches and what keeps them fresh.
pub struct Caches {
    settings: CacheSettings,
    redis: Option<Redis>,
    entities: entities::LocalEntities,
    responses: responses::LocalResponses,
    /// Bumped by every eviction of the in-process entity tier; a fill that began under an
    /// older epoch is not kept (it may have read what the eviction removed).
    epoch: AtomicU64,
    /// Changes whose invalidation could not reach Redis, replayed when it is back.
    pending: Mutex<HashSet<EntityKey>>,
    /// Redis was seen down; the next use first resynchronises.
    was_down: AtomicBool,
    /// The pub/sub channel of changes.
    channel: String,
    /// With a read replica: until when (ms after `started`) the in-process tiers take no
    /// fill, because the replica may not have caught up with the last write yet.
    held_until: AtomicU64,
    started: std::time::Instant,
}

/// Deletes entity keys and takes their leases away, bumps the response version and
/// publishes the change. KEYS: the version key, the response hold key, then lease and
/// entity keys in pairs. ARGV: the channel, the message's key list, and how long (ms)
/// refills stay barred (0: not at all), so a read replica still behind the write cannot
/// refill the old value: entity leases are held, and no response is stored meanwhile.
const INVALIDATE: &str = r"
local hold = tonumber(ARGV[3])
for i = 3, #KEYS, 2 do
  if hold > 0 then
    redis.call('SET', KEYS[i], 'written', 'PX', hold)
  else
    redis.call('UNLINK', KEYS[i])
  end
  redis.call('UNLINK', KEYS[i + 1])
end
if hold > 0 then
  redis.call('SET', KEYS[2], 'written', 'PX', hold)
end
local version = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], version .. '|' .. ARGV[2])
return version
";

static INVALIDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(INVALIDATE));

impl Caches {
    /// Caches on `redis` (shared by every replica) or, without it, in-process only.
    pub fn start(
        settings: &CacheSettings,
        redis: Option<Redis>,
        redis_url: Option<&str>,
    ) -> anyhow::Result<Arc<Self>> {
        let channel = redis
            .as_ref()
            .map(|r| r.key(&["cache", "changes"]))
            .unwrap_or_default();
        let caches = Arc::new(Self {
            settings: settings.clone(),
            entities: entities::LocalEntities::new(settings),
            responses: responses::LocalResponses::new(settings),
            redis,
            epoch: AtomicU64::new(0),
            pending: Mutex::new(HashSet::new()),
            was_down: AtomicBool::new(false),
            channel: channel.clone(),
            held_until: AtomicU64::new(0),
            started: std::time::Instant::now(),
        });
        if let (Some(url), Some(_)) = (redis_url, &caches.redis) {
            let client = ::redis::Client::open(url).context("REDIS_URL: invalid Redis URL")?;
            crate::redis::listen(
                client,
                channel,
                Arc::downgrade(&caches),
                Self::resynchronise,
                Self::on_change,
            );
        }
        Ok(caches)
    }

    /// Whether caches may be used now. With Redis configured but unreachable, no: other
    /// replicas' writes cannot reach this one, so the database answers. On the way back
    /// the in-process tiers are emptied and failed invalidations replayed first.
    async fn usable(&self) -> bool {
        let Some(redis) = &self.redis else {
            return true;
        };
        if !redis.is_up() {
            self.was_down.store(true, Ordering::Relaxed);
            return false;
        }
        if self.was_down.swap(false, Ordering::Relaxed) {
            self.resynchronise();
            let keys: Vec<EntityKey> = self.lock_pending().drain().collect();
            self.invalidate(keys).await;
        }
        true
    }

    /// Invalidates what a write changed: `keys` in both tiers, and every cached response
    /// (their version moves on). Call it after the write commits, before the mutation
    /// returns.
    pub async fn invalidate(&self, keys: impl IntoIterator<Item = EntityKey>) {
        let keys: Vec<EntityKey> = keys.into_iter().collect();
        self.evict_local(&keys);
        self.hold_local_fills();
        let Some(redis) = &self.redis else {
            self.responses.bump_version();
            return;
        };
        let mut redis_keys = Vec::with_capacity(keys.len() * 2 + 2);
        redis_keys.push(self.version_key());
        redis_keys.push(self.hold_key());
        for key in &keys {
            let name = self.entity_key(key);
            redis_keys.push(format!("{name}:lease"));
            redis_keys.push(name);
        }
        let names = keys
            .iter()
            .map(EntityKey::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let script = &*INVALIDATE_SCRIPT;
        let hold_ms = millis(self.settings.refill_hold);
        let channel = &self.channel;
        let result = redis
            .run("cache_invalidate", |mut c| async move {
                let mut invocation = script.prepare_invoke();
                for key in &redis_keys {
                    invocation.key(key);
                }
                invocation.arg(channel).arg(names).arg(hold_ms);
                invocation.invoke_async::<u64>(&mut c).await
            })
            .await;
        match result {
            Ok(version) => self.responses.saw_version(version),
            Err(_) => {
                // Replayed once Redis answers again; until then caches are bypassed.
                self.lock_pending().extend(keys);
                self.was_down.store(true, Ordering::Relaxed);
            }
        }
    }

    /// A change published by some replica (this one included): "<version>|<key> <key>…".
    fn on_change(&self, payload: &str) {
        let Some((version, names)) = payload.split_once('|') else {
            return;
        };
        let keys: Vec<EntityKey> = names.split(' ').filter_map(EntityKey::parse).collect();
        self.evict_local(&keys);
        self.hold_local_fills();
        if let Ok(version) = version.parse() {
            self.responses.saw_version(version);
        }
    }

    /// Empties the in-process tiers: changes may have been missed (a new subscription,
    /// Redis coming back).
    fn resynchronise(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entities.clear();
        self.responses.clear();
    }

    fn evict_local(&self, keys: &[EntityKey]) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.entities.evict(keys);
    }

    /// After a write, with a read replica: no in-process fill for the replica's lag bound.
    fn hold_local_fills(&self) {
        if self.settings.refill_hold.is_zero() {
            return;
        }
        let until = self
            .elapsed_ms()
            .saturating_add(millis(self.settings.refill_hold));
        self.held_until.fetch_max(until, Ordering::AcqRel);
    }

    /// Whether in-process fills are held (a write happened within the replica's lag bound).
    fn local_fills_held(&self) -> bool {
        !self.settings.refill_hold.is_zero()
            && self.elapsed_ms() < self.held_until.load(Ordering::Acquire)
    }

    fn elapsed_ms(&self) -> u64 {
        millis(self.started.elapsed())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashSet<EntityKey>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entity_key(&self, key: &EntityKey) -> String {
        match &self.redis {
            Some(redis) => redis.key(&["e", &key.to_string()]),
            None => key.to_string(),
        }
    }

    fn hold_key(&self) -> String {
        match &self.redis {
            Some(redis) => redis.key(&["r", "hold"]),
            None => String::new(),
        }
    }

    fn version_key(&self) -> String {
        match &self.redis {
            Some(redis) => redis.key(&["r", "version"]),
            None => String::new(),
        }
    }
}

/// An in-process tier: at most `local_capacity` entries, each for `local_ttl`; `None` when
/// the TTL is 0 (the tier is off).
fn local_tier<K, V>(settings: &CacheSettings) -> Option<moka::sync::Cache<K, V>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    (settings.local_ttl > std::time::Duration::ZERO).then(|| {
        moka::sync::Cache::builder()
            .max_capacity(settings.local_capacity)
            .time_to_live(settings.local_ttl)
            .build()
    })
}

/// `duration` in whole milliseconds (saturating).
fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Counts one cache lookup in `gatehouse_cache_requests_total{layer,result}`.
fn count(layer: &str, hit: bool, n: usize) {
    if n == 0 {
        return;
    }
    if let Some(metrics) = crate::metrics::get() {
        metrics
            .cache_requests
            .with_label_values(&[layer, if hit { "hit" } else { "miss" }])
            .inc_by(n as u64);
    }
}
