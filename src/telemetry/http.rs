//! The span of each `/graphql` request, continuing the caller's trace.
//!
//! The caller's W3C `traceparent` (and `tracestate`) become the span's parent, so the
//! caller's trace id is kept and Gatehouse's work shows up inside the caller's trace.
//! Attributes: method, route, status, request id, and the operation's name and type (set
//! by the GraphQL handler once it knows them). Never headers, tokens, documents or
//! variables.

use async_graphql::parser::types::OperationType;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::field::Empty;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::TARGET;

/// Reads propagation headers from an HTTP request.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Middleware for the `/graphql` route (installed only when tracing is on): runs the
/// request inside its span, parented on the caller's `traceparent`.
pub async fn request_span(request: Request, next: Next) -> Response {
    let parent = TraceContextPropagator::new()
        .extract_with_context(&opentelemetry::Context::new(), &Headers(request.headers()));
    let method = request.method().clone();
    let name = format!("{method} /graphql");
    // `SetRequestIdLayer` runs first, so every request has an id by now.
    let request_id = crate::http::client::request_id(request.headers());
    let span = tracing::info_span!(
        target: TARGET,
        "http.request",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = "/graphql",
        http.response.status_code = Empty,
        graphql.operation.name = Empty,
        graphql.operation.type = Empty,
        gatehouse.request_id = %request_id,
    );
    // No or a malformed `traceparent` leaves an empty context: the span starts a trace.
    let _ = span.set_parent(parent);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    response
}

/// Names the current request span's operation (a single operation; a batch's operations
/// are named on their `graphql.execute` spans instead).
pub fn record_operation(name: Option<&str>, kind: Option<OperationType>) {
    if !super::enabled() {
        return;
    }
    let span = tracing::Span::current();
    if let Some(name) = name {
        span.record("graphql.operation.name", name);
    }
    if let Some(kind) = kind {
        span.record(
            "graphql.operation.type",
            match kind {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            },
        );
    }
}
