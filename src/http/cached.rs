//! The HTTP side of the response cache: answering from it, feeding it, and the
//! `Cache-Control` / `X-Cache` headers every `/graphql` response carries.

use std::time::Instant;

use async_graphql::Request;
use axum::response::{IntoResponse, Response as HttpResponse};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::graphql::{observe, Caller};
use super::response::{rate_limit_headers, refusal, Body};
use super::AppState;
use crate::cache::{CachedResponse, Lookup, ResponseKey};
use crate::db::RequestStats;
use crate::error::Code;
use crate::graphql::context::RequestInfo;
use crate::limits::analysis::seconds_until;
use crate::limits::guard::QUERY_FLOOR;
use crate::services::Services;

/// Consults the response cache before anything parses the document: `Err` is the cached
/// answer to send; `Ok(Some(..))` where a fresh answer is to be stored; `Ok(None)` when the
/// cache does not apply (authenticated, batched, refused, or off). `requests` are admitted
/// (persisted queries resolved, trusted-documents policy applied). Only queries are ever
/// stored, so a hit is a query's answer.
pub(super) async fn consult(
    state: &AppState,
    caller: &Caller,
    requests: &[Result<Request, async_graphql::Response>],
    batched: bool,
) -> Result<Option<(ResponseKey, u64)>, HttpResponse> {
    let [Ok(request)] = requests else {
        return Ok(None);
    };
    if batched || caller.viewer.is_some() || !state.services.caches.caches_responses() {
        return Ok(None);
    }
    let key = ResponseKey::of(request);
    match state.services.caches.cached_response(&key).await {
        Lookup::Hit(entry) => Err(answer(state, caller, &entry).await),
        Lookup::Miss { version } => Ok(Some((key, version))),
        Lookup::Bypass => Ok(None),
    }
}

/// Sends a cached response. It still costs the caller the smallest charge, so the cache
/// is not a way around the budget, and carries the budget headers like any answer.
async fn answer(state: &AppState, caller: &Caller, entry: &CachedResponse) -> HttpResponse {
    let started = Instant::now();
    let budget = state
        .services
        .budget
        .charge(&caller.budget_key, QUERY_FLOOR)
        .await;
    if !budget.allowed {
        if let Some(metrics) = crate::metrics::get() {
            metrics.rate_limited.with_label_values(&["budget"]).inc();
        }
        let wait = seconds_until(budget.reset_at).max(1);
        let message = format!("the budget is spent; it refills in {wait} s");
        return refusal(
            caller.media,
            StatusCode::TOO_MANY_REQUESTS,
            Code::RateLimited,
            &message,
            Some(&budget),
        );
    }
    let mut response = (StatusCode::OK, entry.body.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, caller.media.content_type());
    rate_limit_headers(headers, &budget);
    cache_headers(headers, Some(entry.max_age), Some(true));
    let info = RequestInfo {
        viewer: None,
        request_id: caller.request_id.clone(),
        ..RequestInfo::default()
    };
    observe(
        &info,
        entry.operation.as_deref(),
        started,
        &RequestStats::default(),
        &[],
        true,
    );
    response
}

/// The seconds a response may be kept by anyone, when its every field is public and
/// cacheable and nothing failed.
pub(super) fn public_max_age(response: &async_graphql::Response) -> Option<u32> {
    let hint = response.cache_control;
    let max_age = u32::try_from(hint.max_age).ok().filter(|age| *age > 0)?;
    (hint.public && response.errors.is_empty()).then_some(max_age)
}

/// Stores a fresh anonymous response: its `data` only (the cost and debug extensions
/// belong to the request that computed it).
pub(super) fn store(
    services: &Services,
    (key, version): (ResponseKey, u64),
    response: &async_graphql::Response,
    max_age: u32,
    operation: Option<String>,
) {
    let mut body = Vec::with_capacity(1024);
    if Body::data(&response.data).write(&mut body).is_ok() {
        services
            .caches
            .store_response(key, version, body.into(), max_age, operation);
    }
}

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// `Cache-Control: public, max-age=…` on a cacheable answer, `no-store` on any other;
/// `X-Cache: HIT` or `MISS` when the response cache was consulted.
pub(super) fn cache_headers(headers: &mut HeaderMap, max_age: Option<u32>, hit: Option<bool>) {
    let control = match max_age {
        Some(age) => HeaderValue::from_str(&format!("public, max-age={age}"))
            .unwrap_or(HeaderValue::from_static("no-store")),
        None => HeaderValue::from_static("no-store"),
    };
    headers.insert(header::CACHE_CONTROL, control);
    if let Some(hit) = hit {
        let value = if hit { "HIT" } else { "MISS" };
        headers.insert(X_CACHE, HeaderValue::from_static(value));
    }
}
