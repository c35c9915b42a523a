//! The HTTP surface (CONTRACT.md section 4): routes, request ids, and what every route
//! shares (client address, viewer).

mod cached;
pub mod client;
pub mod documents;
pub mod graphql;
pub mod hardening;
pub mod health;
mod json;
pub mod response;
pub mod ws;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use http::HeaderName;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::graphql::Schemas;
use crate::limits::throttle::{self, ThrottleConfig};
use crate::services::Services;

/// The request id header, echoed when the caller sends one and generated otherwise.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The media type of a request's `Content-Type`, lower-cased, without parameters.
pub fn content_type(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// What handlers share: one `Arc`, because axum clones the state for every request and
/// cloning (then dropping) each of its shared parts was 2% of a response-cache hit's CPU.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
pub struct Shared {
    /// Long-lived services.
    pub services: Arc<Services>,
    /// The schema, built once (with and without extensions).
    pub schemas: Schemas,
    /// Per-IP throttle buckets, when throttling is on.
    pub throttle: Option<Arc<ThrottleConfig>>,
    /// Documents already parsed, by their text.
    pub documents: Arc<documents::ParsedDocuments>,
}

impl AppState {
    /// The state handlers share.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The full router.
pub fn router(state: AppState) -> Router {
    // The GraphQL handler reads its body itself, with `GATEHOUSE_MAX_BODY_BYTES`, so that
    // its 413 carries the rate-limit headers like every other `/graphql` response.
    let settings = state.services.settings.clone();
    let mut endpoint = get(graphql::graphql_get)
        .post(graphql::graphql_post)
        .fallback(graphql::method_not_allowed);
    if let Some(config) = &state.throttle {
        endpoint = endpoint.layer(throttle::layer(config.clone(), settings.limits.ip_burst));
    }
    // Outside the throttle, so a throttled request is traced too. Only with tracing on.
    if settings.otlp_endpoint.is_some() {
        endpoint = endpoint.layer(axum::middleware::from_fn(
            crate::telemetry::http::request_span,
        ));
    }
    let mut app = Router::new()
        .route("/graphql", endpoint)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    if settings.graphiql {
        app = app.merge(crate::playground::router());
    }
    // One layer made of the whole stack: every `Router::layer` boxes each route once
    // more, and each box is cloned per request (a tenth of a response-cache hit's CPU
    // with a layer per header). Outermost first.
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(hardening::panic_response))
        .option_layer(hardening::cors(&settings))
        .layer(hardening::security_headers_layer(&settings));
    app.with_state(state).layer(middleware)
}
