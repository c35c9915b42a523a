//! Requests whose validation already passed. async-graphql validates every request
//! against the schema (some twenty rules, each walking the document), about a twentieth
//! of the instructions of an uncached nested query, although clients send the same few
//! documents over and over. Validation depends on nothing but the schema (fixed for the
//! life of the process), the document, the operation name and the variables (an
//! argument's value may come from one), so a request whose text, operation name and
//! variables equal those of a request that passed passes too: it runs on a schema that
//! checks only what the answer needs (cache hints, fragment cycles) and skips the rules.
//! Only success is remembered: a failing request is validated every time, and so
//! reports its errors exactly as the first time.

use super::{count, document};
use async_graphql::Request;

/// At most this many requests are remembered (32-byte keys).
const CAPACITY: u64 = 10_000;

/// The key of a request: a digest of its text as sent (no normal form: two spellings of
/// one document are two entries, and finding that they are the same would cost most of
/// what is saved), operation name and variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ValidatedKey([u8; 32]);

impl ValidatedKey {
    /// The key of `request`, taken before it runs.
    pub fn of(request: &Request) -> Self {
        Self(document::digest(&request.query, request))
    }
}

/// The requests of this process that passed validation, each with `V`: what else was
/// learnt of it that depends on nothing but its key.
pub struct ValidatedRequests<V = ()>(moka::sync::Cache<ValidatedKey, V>);

impl<V: Clone + Send + Sync + 'static> Default for ValidatedRequests<V> {
    fn default() -> Self {
        Self(moka::sync::Cache::new(CAPACITY))
    }
}

impl<V: Clone + Send + Sync + 'static> ValidatedRequests<V> {
    /// What was remembered of a request with `key` if it passed validation before
    /// (counted in `gatehouse_cache_requests_total{layer="validation"}`).
    pub fn passed(&self, key: &ValidatedKey) -> Option<V> {
        let found = self.0.get(key);
        count("validation", found.is_some(), 1);
        found
    }

    /// Remembers that the request with `key` passed validation, with `value`.
    pub fn remember(&self, key: ValidatedKey, value: V) {
        self.0.insert(key, value);
    }
}
