//! The entity cache: rows and counts by key, read through the in-process tier, then one
//! `MGET` per batch, then the database; misses are written back under a lease.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};

use redis::Script;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{count, Caches};
use crate::config::CacheSettings;
use crate::error::AppResult;

/// What a cached value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// A user row (without its password hash).
    User,
    /// A post row, whatever its status (visibility is applied on the way out).
    Post,
    /// A tag row.
    Tag,
    /// The tags of a post.
    PostTags,
    /// `Post.commentCount`.
    CommentCount,
    /// `Post.likeCount`.
    LikeCount,
    /// `User.postCount` as anonymous callers see it (published posts).
    AuthorPostCount,
    /// `Tag.posts.totalCount` as anonymous callers see it (published posts).
    TagPostCount,
}

const KINDS: [(EntityKind, &str); 8] = [
    (EntityKind::User, "user"),
    (EntityKind::Post, "post"),
    (EntityKind::Tag, "tag"),
    (EntityKind::PostTags, "post_tags"),
    (EntityKind::CommentCount, "comment_count"),
    (EntityKind::LikeCount, "like_count"),
    (EntityKind::AuthorPostCount, "author_post_count"),
    (EntityKind::TagPostCount, "tag_post_count"),
];

impl EntityKind {
    fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("unknown", |(_, name)| name)
    }

    /// The key of this kind for `id`.
    pub fn key(self, id: i64) -> EntityKey {
        EntityKey { kind: self, id }
    }
}

/// One cached value: a kind and the id of its row (or parent, for counts and lists).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntityKey {
    /// What it is.
    pub kind: EntityKind,
    /// Whose it is.
    pub id: i64,
}

impl EntityKey {
    /// Reads the form [`fmt::Display`] writes (`post:42`).
    pub fn parse(text: &str) -> Option<Self> {
        let (name, id) = text.rsplit_once(':')?;
        let kind = KINDS.iter().find(|(_, n)| *n == name)?.0;
        Some(Self {
            kind,
            id: id.parse().ok()?,
        })
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.id)
    }
}

/// The in-process tier: typed values, so a hit costs a clone, not a parse.
pub(super) struct LocalEntities {
    cache: Option<moka::sync::Cache<EntityKey, Arc<dyn Any + Send + Sync>>>,
}

impl LocalEntities {
    pub(super) fn new(settings: &CacheSettings) -> Self {
        Self {
            cache: super::local_tier(settings),
        }
    }

    pub(super) fn evict(&self, keys: &[EntityKey]) {
        if let Some(cache) = &self.cache {
            for key in keys {
                cache.invalidate(key);
            }
        }
    }

    pub(super) fn clear(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }
}

/// Takes fill leases. KEYS: lease keys. ARGV: the token, the lease lifetime (ms).
/// Returns 1 for each lease taken, 0 where another reader holds one.
const LEASE: &str = r"
local taken = {}
for i, key in ipairs(KEYS) do
  taken[i] = redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
end
return taken
";

/// Writes values whose lease is still ours. KEYS: value key, lease key, … ARGV: the token,
/// the value lifetime (ms), then one value per pair of keys.
const FILL: &str = r"
local written = 0
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i + 1]) == ARGV[1] then
    redis.call('SET', KEYS[i], ARGV[2 + (i + 1) / 2], 'PX', ARGV[2])
    redis.call('DEL', KEYS[i + 1])
    written = written + 1
  end
end
return written
";

static LEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LEASE));
static FILL_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(FILL));

/// How long a lease outlives the database read it covers, at most. An expired lease only
/// means the value is not written back.
const LEASE_MS: u64 = 5_000;

impl Caches {
    /// Values for `keys` through both tiers; `fetch` loads the misses from the database
    /// (keys it leaves out are not cached: rows that do not exist).
    pub async fn entities<V, F, Fut>(
        &self,
        keys: &[EntityKey],
        fetch: F,
    ) -> AppResult<HashMap<EntityKey, V>>
    where
        V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
        F: FnOnce(Vec<EntityKey>) -> Fut,
        Fut: Future<Output = AppResult<HashMap<EntityKey, V>>>,
    {
        if !self.settings.entities || keys.is_empty() || !self.usable().await {
            return fetch(keys.to_vec()).await;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut found = HashMap::with_capacity(keys.len());
        let mut missing = Vec::with_capacity(keys.len());
        match &self.entities.cache {
            Some(local) => {
                for key in keys {
                    match local.get(key).and_then(|v| v.downcast::<V>().ok()) {
                        Some(value) => {
                            found.insert(*key, V::clone(&value));
                        }
                        None => missing.push(*key),
                    }
                }
                count("entity_local", true, found.len());
                count("entity_local", false, missing.len());
            }
            None => missing.extend_from_slice(keys),
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let mut lease = None;
        if self.redis.is_some() {
            if let Some(values) = self.mget::<V>(&missing).await {
                let before = missing.len();
                let mut still = Vec::new();
                for (key, value) in missing.into_iter().zip(values) {
                    match value {
                        Some(value) => {
                            self.keep_local(key, &value, epoch);
                            found.insert(key, value);
                        }
                        None => still.push(key),
                    }
                }
                count("entity_redis", true, before - still.len());
                count("entity_redis", false, still.len());
                missing = still;
                if missing.is_empty() {
                    return Ok(found);
                }
                lease = self.take_leases(&missing).await;
            }
        }
        let fetched = fetch(missing).await?;
        for (key, value) in &fetched {
            self.keep_local(*key, value, epoch);
        }
        if let Some((token, leased)) = lease {
            self.fill(token, &leased, &fetched);
        }
        found.extend(fetched);
        Ok(found)
    }

    /// Keeps a value in the in-process tier unless an eviction happened since `epoch`.
    fn keep_local<V: Clone + Send + Sync + 'static>(&self, key: EntityKey, value: &V, epoch: u64) {
        let Some(local) = &self.entities.cache else {
            return;
        };
        if self.epoch.load(Ordering::Acquire) != epoch || self.local_fills_held() {
            return;
        }
        local.insert(key, Arc::new(value.clone()));
        // An eviction between the check and the insert must win.
        if self.epoch.load(Ordering::Acquire) != epoch {
            local.invalidate(&key);
        }
    }

    /// The Redis tier's values for `keys` (`None`: Redis failed; treat all as misses).
    async fn mget<V: DeserializeOwned>(&self, keys: &[EntityKey]) -> Option<Vec<Option<V>>> {
        let redis = self.redis.as_ref()?;
        let names: Vec<String> = keys.iter().map(|k| self.entity_key(k)).collect();
        let raw: Vec<Option<Vec<u8>>> = redis
            .run("cache_mget", |mut c| async move {
                ::redis::cmd("MGET").arg(&names).query_async(&mut c).await
            })
            .await
            .ok()?;
        Some(
            raw.into_iter()
                .map(|bytes| bytes.and_then(|b| serde_json::from_slice(&b).ok()))
                .collect(),
        )
    }

    /// Leases on the keys about to be read from the database: a token and the keys whose
    /// lease it holds.
    async fn take_leases(&self, keys: &[EntityKey]) -> Option<(String, Vec<EntityKey>)> {
        let redis = self.redis.as_ref()?;
        let token = uuid::Uuid::new_v4().simple().to_string();
        let script = &*LEASE_SCRIPT;
        let leases: Vec<String> = keys
            .iter()
            .map(|k| format!("{}:lease", self.entity_key(k)))
            .collect();
        let token_arg = token.clone();
        let taken: Vec<i64> = redis
            .run("cache_lease", |mut c| async move {
                let mut invocation = script.prepare_invoke();
                for lease in &leases {
                    invocation.key(lease);
                }
                invocation.arg(token_arg).arg(LEASE_MS);
                invocation.invoke_async(&mut c).await
            })
            .await
            .ok()?;
        let leased = keys
            .iter()
            .zip(taken)
            .filter(|(_, taken)| *taken == 1)
            .map(|(key, _)| *key)
            .collect::<Vec<_>>();
        (!leased.is_empty()).then_some((token, leased))
    }

    /// Writes leased values back to Redis in the background: the request does not wait.
    fn fill<V: Serialize>(
        &self,
        token: String,
        leased: &[EntityKey],
        values: &HashMap<EntityKey, V>,
    ) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        let mut keys = Vec::with_capacity(leased.len() * 2);
        let mut payloads = Vec::with_capacity(leased.len());
        for key in leased {
            let Some(bytes) = values.get(key).and_then(|v| serde_json::to_vec(v).ok()) else {
                continue;
            };
            let name = self.entity_key(key);
            keys.push(name.clone());
            keys.push(format!("{name}:lease"));
            payloads.push(bytes);
        }
        if payloads.is_empty() {
            return;
        }
        let ttl_ms = u64::try_from(self.settings.ttl.as_millis()).unwrap_or(u64::MAX);
        tokio::spawn(async move {
            let script = &*FILL_SCRIPT;
            let _ = redis
                .run("cache_fill", |mut c| async move {
                    let mut invocation = script.prepare_invoke();
                    for key in &keys {
                        invocation.key(key);
                    }
                    invocation.arg(token).arg(ttl_ms);
                    for payload in &payloads {
                        invocation.arg(payload.as_slice());
                    }
                    invocation.invoke_async::<i64>(&mut c).await
                })
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_and_parse_back() {
        for (kind, _) in KINDS {
            let key = kind.key(42);
            assert_eq!(EntityKey::parse(&key.to_string()), Some(key));
        }
        assert_eq!(EntityKind::PostTags.key(7).to_string(), "post_tags:7");
        assert_eq!(EntityKey::parse("nope:1"), None);
        assert_eq!(EntityKey::parse("post:x"), None);
    }
}
