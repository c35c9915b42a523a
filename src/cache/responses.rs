//! The response cache: whole responses of anonymous queries whose every field is
//! cacheable, keyed by the normalised document, operation name and variables.
//!
//! Entries carry the response version they were computed under; every write moves the
//! version on (in Redis, for all replicas at once), so older entries become unreachable
//! without being found and deleted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_graphql::Request;
use bytes::Bytes;

use super::{count, document, Caches};
use crate::config::CacheSettings;

/// The cache key of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ResponseKey([u8; 32]);

impl ResponseKey {
    /// The key of `request`: what determines an anonymous response.
    pub fn of(request: &Request) -> Self {
        Self(document::digest(
            &document::normalise(&request.query),
            request,
        ))
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A response ready to send again.
#[derive(Debug)]
pub struct CachedResponse {
    /// The JSON body (`{"data": …}`).
    pub body: Bytes,
    /// Seconds clients may keep it (`Cache-Control: public, max-age`).
    pub max_age: u32,
    /// The operation's name (its document's, when the request named none), for metrics.
    pub operation: Option<String>,
    /// The response version it was computed under.
    version: u64,
}

impl CachedResponse {
    /// Redis form: the version (8 bytes), the max-age (4 bytes), the operation name's
    /// length (2 bytes) and the name, the body.
    fn encode(&self) -> Vec<u8> {
        let name = self.operation.as_deref().unwrap_or_default().as_bytes();
        let name = &name[..name.len().min(usize::from(u16::MAX))];
        let mut out = Vec::with_capacity(14 + name.len() + self.body.len());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.max_age.to_be_bytes());
        out.extend_from_slice(&u16::try_from(name.len()).unwrap_or(0).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&self.body);
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let version = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let max_age = u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?);
        let length = usize::from(u16::from_be_bytes(bytes.get(12..14)?.try_into().ok()?));
        let name = std::str::from_utf8(bytes.get(14..14 + length)?).ok()?;
        Some(Self {
            body: Bytes::copy_from_slice(bytes.get(14 + length..)?),
            max_age,
            operation: (!name.is_empty()).then(|| name.to_owned()),
            version,
        })
    }
}

/// What one `MGET` reads: the entry, the response version, the replica-lag hold.
type Found = (Option<Vec<u8>>, Option<u64>, Option<String>);

/// What a lookup found.
pub enum Lookup {
    /// A response to send.
    Hit(Arc<CachedResponse>),
    /// Nothing: a fresh response may be stored under `version`.
    Miss {
        /// The response version read before executing.
        version: u64,
    },
    /// The cache is off or unusable now: neither read nor write it.
    Bypass,
}

/// The in-process tier and the newest response version this replica has seen.
pub(super) struct LocalResponses {
    cache: Option<moka::sync::Cache<ResponseKey, Arc<CachedResponse>>>,
    version: AtomicU64,
}

impl LocalResponses {
    pub(super) fn new(settings: &CacheSettings) -> Self {
        Self {
            cache: super::local_tier(settings),
            version: AtomicU64::new(0),
        }
    }

    /// A write happened here and there is no Redis: every entry is now stale.
    pub(super) fn bump_version(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Some replica's write moved the shared version to `version` (never backwards: an
    /// older read arriving late must not revive stale entries).
    pub(super) fn saw_version(&self, version: u64) {
        self.version.fetch_max(version, Ordering::AcqRel);
    }

    pub(super) fn clear(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }

    fn current(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

impl Caches {
    /// Whether responses are cached at all (`GATEHOUSE_RESPONSE_CACHE`): when not, callers
    /// need not compute a key.
    pub fn caches_responses(&self) -> bool {
        self.settings.responses
    }

    /// The cached response for `key`, if a fresh one exists.
    pub async fn cached_response(&self, key: &ResponseKey) -> Lookup {
        if !self.settings.responses || !self.usable().await {
            return Lookup::Bypass;
        }
        let local = &self.responses;
        if let Some(cache) = &local.cache {
            let hit = cache
                .get(key)
                .filter(|entry| entry.version == local.current());
            count("response_local", hit.is_some(), 1);
            if let Some(entry) = hit {
                return Lookup::Hit(entry);
            }
        }
        let Some(redis) = &self.redis else {
            if self.local_fills_held() {
                return Lookup::Bypass;
            }
            return Lookup::Miss {
                version: local.current(),
            };
        };
        let names = [
            redis.key(&["r", &key.hex()]),
            self.version_key(),
            self.hold_key(),
        ];
        let found: Result<Found, _> = redis
            .run("response_get", |mut c| async move {
                ::redis::cmd("MGET").arg(&names).query_async(&mut c).await
            })
            .await;
        let Ok((entry, version, held)) = found else {
            return Lookup::Bypass;
        };
        let version = version.unwrap_or(0);
        local.saw_version(version);
        let hit = entry
            .as_deref()
            .and_then(CachedResponse::decode)
            .filter(|entry| entry.version == version)
            .map(Arc::new);
        count("response_redis", hit.is_some(), 1);
        match hit {
            Some(entry) => {
                self.keep_response(*key, &entry);
                Lookup::Hit(entry)
            }
            // A write within the read replica's lag bound: an answer computed now may
            // miss it, so none is stored.
            None if held.is_some() => Lookup::Bypass,
            None => Lookup::Miss { version },
        }
    }

    /// Stores a fresh response computed under `version` (the one its lookup returned):
    /// should a write have moved the version on meanwhile, the entry is never served.
    pub fn store_response(
        &self,
        key: ResponseKey,
        version: u64,
        body: Bytes,
        max_age: u32,
        operation: Option<String>,
    ) {
        let entry = Arc::new(CachedResponse {
            body,
            max_age,
            operation,
            version,
        });
        self.keep_response(key, &entry);
        let Some(redis) = self.redis.clone() else {
            return;
        };
        let name = redis.key(&["r", &key.hex()]);
        let ttl_ms = u64::try_from(self.settings.response_ttl.as_millis()).unwrap_or(u64::MAX);
        let payload = entry.encode();
        tokio::spawn(async move {
            let _ = redis
                .run("response_set", |mut c| async move {
                    ::redis::cmd("SET")
                        .arg(name)
                        .arg(payload)
                        .arg("PX")
                        .arg(ttl_ms)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
        });
    }

    fn keep_response(&self, key: ResponseKey, entry: &Arc<CachedResponse>) {
        if let Some(cache) = &self.responses.cache {
            if entry.version == self.responses.current() && !self.local_fills_held() {
                cache.insert(key, entry.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_requests_share_a_key() {
        let a = Request::new("{ posts(first: 2) { totalCount } }");
        let b = Request::new("{posts(first:2){totalCount}}");
        assert_eq!(ResponseKey::of(&a), ResponseKey::of(&b));
        let named = Request::new("{ posts(first: 2) { totalCount } }").operation_name("X");
        assert_ne!(ResponseKey::of(&a), ResponseKey::of(&named));
        let vars = |v| {
            Request::new("query($n: Int) { posts(first: $n) { totalCount } }")
                .variables(async_graphql::Variables::from_json(v))
        };
        assert_eq!(
            ResponseKey::of(&vars(serde_json::json!({"n": 1}))),
            ResponseKey::of(&vars(serde_json::json!({"n": 1})))
        );
        assert_ne!(
            ResponseKey::of(&vars(serde_json::json!({"n": 1}))),
            ResponseKey::of(&vars(serde_json::json!({"n": 2})))
        );
    }

    #[test]
    fn entries_round_trip_through_their_redis_form() {
        let entry = CachedResponse {
            body: Bytes::from_static(br#"{"data":{}}"#),
            max_age: 5,
            operation: Some("Feed".into()),
            version: 7,
        };
        let back = CachedResponse::decode(&entry.encode()).unwrap();
        assert_eq!((back.version, back.max_age), (7, 5));
        assert_eq!(back.operation.as_deref(), Some("Feed"));
        assert_eq!(back.body, entry.body);
        assert!(CachedResponse::decode(b"short").is_none());
    }
}
