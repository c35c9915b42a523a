//! `POST /graphql` and `GET /graphql`: GraphQL over HTTP, batched arrays, the per-caller
//! budget, the request timeout.

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request};
use axum::extract::{ConnectInfo, State};
use axum::response::Response as HttpResponse;
use http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use serde::Deserialize;

use super::client::{self, InvalidToken};
use super::response::{graphql_response, refusal, Media};
use super::{ws, AppState};
use crate::auth::Viewer;
use crate::error::{coded_error, Code};
use crate::graphql::context::RequestInfo;
use crate::graphql::loaders::gate::Tracked;
use crate::graphql::loaders::{Gate, Loaders};

/// The caller of one HTTP request.
struct Caller {
    media: Media,
    viewer: Option<Viewer>,
    budget_key: String,
    request_id: String,
}

impl Caller {
    /// Who is calling; a presented but invalid token is refused here with 401.
    fn identify(
        state: &AppState,
        peer: SocketAddr,
        headers: &HeaderMap,
    ) -> Result<Self, Box<HttpResponse>> {
        let settings = &state.services.settings;
        let ip = client::client_ip(peer, headers, &settings.limits.trusted_proxies);
        let mut caller = Self {
            media: Media::negotiate(headers),
            viewer: None,
            budget_key: client::budget_key(None, ip),
            request_id: client::request_id(headers),
        };
        match client::viewer(headers, &state.services.jwt) {
            Ok(viewer) => {
                caller.viewer = viewer;
                caller.budget_key = client::budget_key(viewer.as_ref(), ip);
                Ok(caller)
            }
            Err(InvalidToken) => Err(Box::new(caller.refuse(
                state,
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                "invalid or expired token",
            ))),
        }
    }

    /// A refusal that still tells the caller its budget (every `/graphql` response does).
    fn refuse(
        &self,
        state: &AppState,
        status: StatusCode,
        code: Code,
        message: &str,
    ) -> HttpResponse {
        let budget = state.services.budget.peek(&self.budget_key);
        refusal(self.media, status, code, message, Some(&budget))
    }
}

/// `POST /graphql`.
pub async fn graphql_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> HttpResponse {
    let (parts, body) = request.into_parts();
    let caller = match Caller::identify(&state, peer, &parts.headers) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let refuse = |status, code, message: &str| caller.refuse(&state, status, code, message);
    if !is_json(&parts.headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadUserInput,
            "send the request as application/json",
        );
    }
    let limit = state.services.settings.limits.max_body_bytes;
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::BadUserInput,
            &format!("the body is larger than {limit} bytes"),
        );
    };
    let Ok(batch) = serde_json::from_slice::<BatchRequest>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            "the body is not a GraphQL request (JSON with a `query` string)",
        );
    };
    let (requests, batched) = match batch {
        BatchRequest::Single(request) => (vec![request], false),
        BatchRequest::Batch(requests) => (requests, true),
    };
    let max = state.services.settings.limits.max_batch;
    if requests.is_empty() || requests.len() > max {
        return refuse(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            &format!("a batch holds 1 to {max} operations"),
        );
    }
    if requests.iter().any(|r| r.query.trim().is_empty()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            "every operation needs a `query`",
        );
    }
    execute(&state, caller, requests, batched).await
}

/// Query-string parameters of `GET /graphql`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// `GET /graphql`: queries (never mutations), or the WebSocket upgrade.
pub async fn graphql_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> HttpResponse {
    if ws::is_upgrade(request.headers()) {
        return ws::upgrade(state, request).await;
    }
    let caller = match Caller::identify(&state, peer, request.headers()) {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let request = match get_request(request.uri()) {
        Ok(request) => request,
        Err(message) => {
            return caller.refuse(&state, StatusCode::BAD_REQUEST, Code::BadUserInput, message)
        }
    };
    if let Some(kind) = operation_type(&request) {
        if kind != OperationType::Query {
            let mut response = caller.refuse(
                &state,
                StatusCode::METHOD_NOT_ALLOWED,
                Code::BadUserInput,
                "only queries may be sent with GET; use POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }
    execute(&state, caller, vec![request], false).await
}

fn get_request(uri: &Uri) -> Result<Request, &'static str> {
    let params: GetParams = serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|_| "malformed query string")?;
    let query = params
        .query
        .filter(|q| !q.trim().is_empty())
        .ok_or("a `query` parameter is required")?;
    let mut request = Request::new(query);
    if let Some(name) = params.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables.filter(|v| !v.is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(&variables).map_err(|_| "`variables` is not JSON")?;
        request = request.variables(async_graphql::Variables::from_json(value));
    }
    if let Some(extensions) = params.extensions.filter(|v| !v.is_empty()) {
        request.extensions =
            serde_json::from_str(&extensions).map_err(|_| "`extensions` is not a JSON object")?;
    }
    Ok(request)
}

/// The type of the operation a request would run; `None` if the document does not parse
/// or names no operation (execution then reports why).
fn operation_type(request: &Request) -> Option<OperationType> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let operation = match &request.operation_name {
        Some(name) => {
            document
                .operations
                .iter()
                .find(|(n, _)| n.map(|n| n.as_str()) == Some(name.as_str()))?
                .1
        }
        None => document.operations.iter().next()?.1,
    };
    Some(operation.node.ty)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|v| v == "application/json" || v == "application/graphql-response+json")
}

/// Charges the budget, runs every operation with its own loaders under the timeout, and
/// writes the response.
async fn execute(
    state: &AppState,
    caller: Caller,
    requests: Vec<Request>,
    batched: bool,
) -> HttpResponse {
    let services = &state.services;
    let cost = u32::try_from(requests.len()).unwrap_or(u32::MAX);
    let budget = services.budget.charge(&caller.budget_key, cost);
    if !budget.allowed {
        return refusal(
            caller.media,
            StatusCode::TOO_MANY_REQUESTS,
            Code::RateLimited,
            "rate budget exhausted; retry after the reset",
            Some(&budget),
        );
    }
    let timeout = services.settings.limits.request_timeout;
    let info = RequestInfo {
        viewer: caller.viewer,
        request_id: caller.request_id.clone(),
        budget_key: caller.budget_key.clone(),
        budget: Some(budget),
    };
    let mut responses = Vec::with_capacity(requests.len());
    for request in requests {
        let gate = Arc::new(Gate::default());
        let request = request.data(info.clone()).data(Loaders::new(
            services.db.clone(),
            caller.viewer,
            Some(gate.clone()),
        ));
        let run = Tracked::new(state.schema.execute(request), gate);
        let response = match tokio::time::timeout(timeout, run).await {
            Ok(response) => response,
            Err(_) => async_graphql::Response::from_errors(vec![coded_error(
                Code::Timeout,
                "the request took too long",
            )]),
        };
        responses.push(response);
    }
    let batch = if batched {
        BatchResponse::Batch(responses)
    } else {
        match responses.pop() {
            Some(response) => BatchResponse::Single(response),
            None => BatchResponse::Batch(Vec::new()),
        }
    };
    graphql_response(caller.media, batch, &caller.request_id, Some(&budget))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_type_follows_the_operation_name() {
        let request =
            Request::new("query A { viewer { id } } mutation B { x }").operation_name("B");
        assert_eq!(operation_type(&request), Some(OperationType::Mutation));
        let request = Request::new("{ viewer { id } }");
        assert_eq!(operation_type(&request), Some(OperationType::Query));
        assert_eq!(operation_type(&Request::new("{")), None);
    }
}
