//! GraphQL-over-HTTP responses: media type, status codes, rate-limit headers.
//!
//! With `Accept: application/graphql-response+json` a request error (nothing executed:
//! parse, validation, limits) is 400 and carries no `data`; a client accepting only
//! `application/json` gets 200 for the same body, as the spec advises.

use std::collections::BTreeMap;

use async_graphql::{BatchResponse, Response, ServerError};
use axum::response::{IntoResponse, Response as HttpResponse};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::error::{coded_error, Code};
use crate::graphql::error_codes::code_of;
use crate::limits::budget::BudgetStatus;

/// The response media type a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// `application/graphql-response+json`.
    GraphqlResponse,
    /// `application/json`.
    Json,
}

impl Media {
    /// Picks from the `Accept` header: the supported type with the highest `q`, the first
    /// listed on a tie. No header, or none we can serve, means `application/json`: the spec
    /// lets a server disregard an `Accept` it cannot meet rather than answer 406, and a
    /// browser or `curl` then still gets a readable answer.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let ranges = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        let mut best: Option<(Media, f32)> = None;
        for range in ranges {
            let mut parts = range.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let is = |media: &str| name.eq_ignore_ascii_case(media);
            let media = if is("application/graphql-response+json") {
                Media::GraphqlResponse
            } else if is("application/json") || is("*/*") || is("application/*") {
                Media::Json
            } else {
                continue;
            };
            // RFC 9110: `q=0` means "not acceptable"; a malformed weight counts as 1.
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .filter(|q| q.is_finite())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(_, top)| q > top) {
                best = Some((media, q));
            }
        }
        best.map_or(Media::Json, |(media, _)| media)
    }

    /// The `Content-Type` of a response in this media type.
    pub fn content_type(self) -> HeaderValue {
        match self {
            Media::GraphqlResponse => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            Media::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }

    /// The status of a request error for this media type.
    pub fn request_error_status(self) -> StatusCode {
        match self {
            Media::GraphqlResponse => StatusCode::BAD_REQUEST,
            Media::Json => StatusCode::OK,
        }
    }
}

/// True when nothing executed: no data, and every error is a request-level error. An
/// unknown persisted-query hash is not one: Apollo clients expect it with 200, then resend
/// the document.
fn is_request_error(response: &Response) -> bool {
    matches!(response.data, async_graphql::Value::Null)
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
        && !response
            .errors
            .iter()
            .any(|e| code_of(e).as_deref() == Some(Code::PersistedQueryNotFound.as_str()))
}

/// True when the guard refused the operation for its budget.
fn is_rate_limited(response: &Response) -> bool {
    response
        .errors
        .iter()
        .any(|e| code_of(e).as_deref() == Some(Code::RateLimited.as_str()))
}

/// A response as it goes on the wire: `data` (absent for a request error), then `errors`
/// and `extensions` when there are any. Written straight from async-graphql's values
/// ([`super::json`]), so fields keep the order the query selected them in.
pub struct Body<'a> {
    data: Option<&'a async_graphql::Value>,
    errors: &'a [ServerError],
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

impl<'a> Body<'a> {
    /// The body of a successful response that carries `data` only.
    pub fn data(data: &'a async_graphql::Value) -> Self {
        static NONE: BTreeMap<String, async_graphql::Value> = BTreeMap::new();
        Self {
            data: Some(data),
            errors: &[],
            extensions: &NONE,
        }
    }

    /// Appends this body as JSON to `out`.
    pub fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let mut separator = b'{';
        if let Some(data) = self.data {
            out.push(separator);
            separator = b',';
            out.extend_from_slice(br#""data":"#);
            super::json::write_value(out, data);
        }
        if !self.errors.is_empty() {
            out.push(separator);
            separator = b',';
            out.extend_from_slice(br#""errors":"#);
            serde_json::to_writer(&mut *out, self.errors)?;
        }
        if !self.extensions.is_empty() {
            out.push(separator);
            separator = b',';
            out.extend_from_slice(br#""extensions":"#);
            serde_json::to_writer(&mut *out, self.extensions)?;
        }
        if separator == b'{' {
            out.push(separator);
        }
        out.push(b'}');
        Ok(())
    }
}

/// Writes one response, dropping `data` for request errors and tagging internal errors
/// with the request id.
fn write_json(out: &mut Vec<u8>, mut response: Response, request_id: &str) {
    let request_error = is_request_error(&response);
    for error in &mut response.errors {
        if code_of(error).as_deref() == Some(Code::Internal.as_str()) {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("requestId", request_id);
        }
    }
    let body = Body {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    let start = out.len();
    if body.write(out).is_err() {
        out.truncate(start);
        out.extend_from_slice(
            br#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#,
        );
    }
}

/// Builds the HTTP response for a single or batched result.
pub fn graphql_response(
    media: Media,
    batch: BatchResponse,
    request_id: &str,
    budget: Option<&BudgetStatus>,
) -> HttpResponse {
    let mut out = Vec::with_capacity(1024);
    let status = match batch {
        BatchResponse::Single(response) => {
            let status = if is_rate_limited(&response) {
                StatusCode::TOO_MANY_REQUESTS
            } else if is_request_error(&response) {
                media.request_error_status()
            } else {
                StatusCode::OK
            };
            write_json(&mut out, response, request_id);
            status
        }
        BatchResponse::Batch(responses) => {
            let all = |f: fn(&Response) -> bool| !responses.is_empty() && responses.iter().all(f);
            let status = if all(is_rate_limited) {
                StatusCode::TOO_MANY_REQUESTS
            } else if all(is_request_error) {
                media.request_error_status()
            } else {
                StatusCode::OK
            };
            out.push(b'[');
            for (i, response) in responses.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(&mut out, response, request_id);
            }
            out.push(b']');
            status
        }
    };
    reply(media, status, out, budget)
}

/// A refusal with one coded error and an explicit status.
pub fn refusal(
    media: Media,
    status: StatusCode,
    code: Code,
    message: &str,
    budget: Option<&BudgetStatus>,
) -> HttpResponse {
    let error: ServerError = coded_error(code, message);
    let body = serde_json::to_vec(&serde_json::json!({ "errors": [error] })).unwrap_or_default();
    reply(media, status, body, budget)
}

fn reply(
    media: Media,
    status: StatusCode,
    body: Vec<u8>,
    budget: Option<&BudgetStatus>,
) -> HttpResponse {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.content_type());
    if let Some(budget) = budget {
        rate_limit_headers(headers, budget);
    }
    response
}

// Names as constants: a `&str` name is parsed again on every insert.
const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// `RateLimit-Limit/Remaining/Reset`, and `Retry-After` when refused.
pub fn rate_limit_headers(headers: &mut HeaderMap, budget: &BudgetStatus) {
    let reset = crate::limits::analysis::seconds_until(budget.reset_at);
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(budget.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(budget.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(reset));
    if !budget.allowed {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(reset.max(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_hold_data_errors_and_extensions_only_when_present() {
        let data = async_graphql::Value::from_json(serde_json::json!({ "a": [1, "x"] })).unwrap();
        let errors = [ServerError::new("boom", None)];
        let mut extensions = BTreeMap::new();
        extensions.insert("cost".to_owned(), async_graphql::Value::from(3));
        let cases = [
            (
                Some(&data),
                &errors[..0],
                BTreeMap::new(),
                r#"{"data":{"a":[1,"x"]}}"#,
            ),
            (
                None,
                &errors[..],
                BTreeMap::new(),
                r#"{"errors":[{"message":"boom"}]}"#,
            ),
            (
                Some(&data),
                &errors[..],
                extensions.clone(),
                r#"{"data":{"a":[1,"x"]},"errors":[{"message":"boom"}],"extensions":{"cost":3}}"#,
            ),
            (
                None,
                &errors[..0],
                extensions,
                r#"{"extensions":{"cost":3}}"#,
            ),
            (None, &errors[..0], BTreeMap::new(), "{}"),
        ];
        for (data, errors, extensions, expected) in cases {
            let mut out = Vec::new();
            let body = Body {
                data,
                errors,
                extensions: &extensions,
            };
            body.write(&mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn accept_header_picks_the_media_type() {
        let mut h = HeaderMap::new();
        assert_eq!(Media::negotiate(&h), Media::Json);
        h.insert(
            header::ACCEPT,
            "application/graphql-response+json, application/json;q=0.9"
                .parse()
                .unwrap(),
        );
        assert_eq!(Media::negotiate(&h), Media::GraphqlResponse);
        h.insert(header::ACCEPT, "application/json".parse().unwrap());
        assert_eq!(Media::negotiate(&h), Media::Json);
        h.insert(
            header::ACCEPT,
            "application/json;q=0.5, application/graphql-response+json"
                .parse()
                .unwrap(),
        );
        assert_eq!(Media::negotiate(&h), Media::GraphqlResponse);
        h.insert(
            header::ACCEPT,
            "application/graphql-response+json;q=0, */*"
                .parse()
                .unwrap(),
        );
        assert_eq!(Media::negotiate(&h), Media::Json);
        h.insert(header::ACCEPT, "text/html".parse().unwrap());
        assert_eq!(Media::negotiate(&h), Media::Json);
    }
}
