//! Persisted operations: Apollo automatic persisted queries (APQ) and the trusted-documents
//! mode for production frontends.
//!
//! APQ: a request may send only `extensions.persistedQuery.sha256Hash`; a known hash runs
//! its stored document, an unknown one answers `PERSISTED_QUERY_NOT_FOUND` (message
//! `PersistedQueryNotFound`, which Apollo clients look for), and the client retries with
//! the document, which is checked against the hash and stored (in Redis when configured,
//! so every replica knows it).
//!
//! Trusted documents (`GATEHOUSE_TRUSTED_DOCUMENTS`): only the operations of a manifest
//! run; any other document is refused, whether sent by hash or in full.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use async_graphql::{Request, ServerError};
use sha2::{Digest, Sha256};

use crate::error::{coded_error, Code};
use crate::redis::Redis;

/// How long Redis keeps an automatically persisted document.
const APQ_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most documents the in-process store keeps (oldest dropped first).
const LOCAL_CAPACITY: usize = 10_000;

/// The persisted-operation policy of a server.
pub struct Persisted {
    apq: bool,
    trusted: Option<HashMap<String, String>>,
    local: Mutex<(HashMap<String, String>, VecDeque<String>)>,
    redis: Option<Redis>,
}

impl Persisted {
    /// APQ on or off, a trusted-documents manifest if configured, Redis if shared.
    pub fn new(apq: bool, manifest: Option<&Path>, redis: Option<Redis>) -> anyhow::Result<Self> {
        let trusted = manifest.map(load_manifest).transpose()?;
        Ok(Self {
            apq,
            trusted,
            local: Mutex::default(),
            redis,
        })
    }

    /// Fills in the document of a hash-only request and enforces the policy.
    pub async fn resolve(&self, request: &mut Request) -> Result<(), ServerError> {
        let hash = persisted_hash(request)?;
        let has_query = !request.query.trim().is_empty();
        if let Some(trusted) = &self.trusted {
            let hash = match hash {
                Some(hash) => hash,
                None if has_query => sha256_hex(&request.query),
                None => return Err(bad("a request needs a `query` or a persisted query hash")),
            };
            let document = trusted.get(&hash).ok_or_else(|| {
                coded_error(
                    Code::BadUserInput,
                    "only trusted documents run on this server; this one is not in its manifest",
                )
            })?;
            if has_query && sha256_hex(&request.query) != hash {
                return Err(bad("the query does not match its sha256Hash"));
            }
            request.query = document.clone();
            return Ok(());
        }
        let Some(hash) = hash else {
            return if has_query {
                Ok(())
            } else {
                Err(bad("a request needs a `query`"))
            };
        };
        if !self.apq {
            return Err(bad("persisted queries are not enabled on this server"));
        }
        if has_query {
            if sha256_hex(&request.query) != hash {
                return Err(bad("provided sha does not match query"));
            }
            self.store(&hash, &request.query).await;
            return Ok(());
        }
        match self.lookup(&hash).await {
            Some(document) => {
                request.query = document;
                Ok(())
            }
            None => Err(coded_error(
                Code::PersistedQueryNotFound,
                "PersistedQueryNotFound",
            )),
        }
    }

    async fn store(&self, hash: &str, document: &str) {
        if let Some(redis) = &self.redis {
            let key = redis.key(&["apq", hash]);
            let (document, ttl) = (document.to_owned(), APQ_TTL.as_secs());
            let stored = redis
                .run("apq set", |mut c| async move {
                    ::redis::cmd("SET")
                        .arg(key)
                        .arg(document)
                        .arg("EX")
                        .arg(ttl)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
            if stored.is_ok() {
                return;
            }
        }
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *local;
        if map.insert(hash.to_owned(), document.to_owned()).is_none() {
            order.push_back(hash.to_owned());
            if order.len() > LOCAL_CAPACITY {
                if let Some(oldest) = order.pop_front() {
                    map.remove(&oldest);
                }
            }
        }
    }

    async fn lookup(&self, hash: &str) -> Option<String> {
        if let Some(redis) = &self.redis {
            let key = redis.key(&["apq", hash]);
            if let Ok(found) = redis
                .run("apq get", |mut c| async move {
                    ::redis::cmd("GET")
                        .arg(key)
                        .query_async::<Option<String>>(&mut c)
                        .await
                })
                .await
            {
                if found.is_some() {
                    return found;
                }
            }
        }
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        local.0.get(hash).cloned()
    }
}

fn bad(message: &str) -> ServerError {
    coded_error(Code::BadUserInput, message)
}

/// The lower-case hex SHA-256 of a document, as APQ and manifests name them.
pub fn sha256_hex(document: &str) -> String {
    Sha256::digest(document.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `extensions.persistedQuery.sha256Hash` (version 1), if the request carries one.
fn persisted_hash(request: &Request) -> Result<Option<String>, ServerError> {
    let Some(persisted) = request.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let json = serde_json::to_value(persisted).map_err(|_| bad("malformed persistedQuery"))?;
    if json.get("version").and_then(serde_json::Value::as_i64) != Some(1) {
        return Err(bad("persistedQuery.version must be 1"));
    }
    let hash = json
        .get("sha256Hash")
        .and_then(serde_json::Value::as_str)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| bad("persistedQuery.sha256Hash must be 64 hex digits"))?;
    Ok(Some(hash.to_ascii_lowercase()))
}

/// Reads a manifest: Apollo's persisted-query manifest (`{"operations": [{"id", "body"}]}`)
/// or a plain `{"<sha256>": "<document>"}` map. Every entry is checked against its hash.
fn load_manifest(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading GATEHOUSE_TRUSTED_DOCUMENTS {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("GATEHOUSE_TRUSTED_DOCUMENTS {} is not JSON", path.display()))?;
    let pairs: Vec<(String, String)> = match json.get("operations").and_then(|o| o.as_array()) {
        Some(operations) => operations
            .iter()
            .map(|op| {
                let id = op.get("id").and_then(|v| v.as_str());
                let body = op.get("body").and_then(|v| v.as_str());
                match (id, body) {
                    (Some(id), Some(body)) => Ok((id.to_owned(), body.to_owned())),
                    _ => anyhow::bail!("every manifest operation needs an `id` and a `body`"),
                }
            })
            .collect::<anyhow::Result<_>>()?,
        None => json
            .as_object()
            .context("the manifest is neither {\"operations\": [...]} nor a hash map")?
            .iter()
            .map(|(hash, body)| {
                let body = body
                    .as_str()
                    .context("manifest documents must be strings")?;
                Ok((hash.clone(), body.to_owned()))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let mut manifest = HashMap::new();
    for (hash, body) in pairs {
        let hash = hash.to_ascii_lowercase();
        anyhow::ensure!(
            sha256_hex(&body) == hash,
            "manifest entry {hash} does not match the sha256 of its document"
        );
        manifest.insert(hash, body);
    }
    tracing::info!(documents = manifest.len(), "trusted documents loaded");
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::value!({ "version": 1, "sha256Hash": hash }),
        );
        request
    }

    #[tokio::test]
    async fn apq_registers_then_serves_by_hash() {
        let persisted = Persisted::new(true, None, None).unwrap();
        let query = "{ __typename }";
        let hash = sha256_hex(query);
        let mut unknown = with_hash("", &hash);
        let err = persisted.resolve(&mut unknown).await.unwrap_err();
        assert_eq!(err.message, "PersistedQueryNotFound");
        persisted
            .resolve(&mut with_hash(query, &hash))
            .await
            .unwrap();
        let mut known = with_hash("", &hash);
        persisted.resolve(&mut known).await.unwrap();
        assert_eq!(known.query, query);
        let mut wrong = with_hash("{ other }", &hash);
        assert!(persisted.resolve(&mut wrong).await.is_err());
    }

    #[tokio::test]
    async fn trusted_mode_runs_only_manifest_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let doc = "query Feed { posts { totalCount } }";
        let manifest = serde_json::json!({ "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{ "id": sha256_hex(doc), "name": "Feed", "type": "query", "body": doc }] });
        std::fs::write(&path, manifest.to_string()).unwrap();
        let persisted = Persisted::new(true, Some(&path), None).unwrap();
        let mut by_hash = with_hash("", &sha256_hex(doc));
        persisted.resolve(&mut by_hash).await.unwrap();
        assert_eq!(by_hash.query, doc);
        persisted.resolve(&mut Request::new(doc)).await.unwrap();
        assert!(persisted
            .resolve(&mut Request::new("{ __typename }"))
            .await
            .is_err());
    }
}
