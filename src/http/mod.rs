//! The HTTP surface (CONTRACT.md section 4): routes, request ids, and what every route
//! shares (client address, viewer).

pub mod client;
pub mod graphql;
pub mod health;
pub mod response;
pub mod ws;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use http::HeaderName;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::graphql::AppSchema;
use crate::services::Services;

/// The request id header, echoed when the caller sends one and generated otherwise.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Long-lived services.
    pub services: Arc<Services>,
    /// The schema, built once.
    pub schema: AppSchema,
}

/// The full router.
pub fn router(state: AppState) -> Router {
    // The GraphQL handler reads its body itself, with `GATEHOUSE_MAX_BODY_BYTES`, so that
    // its 413 carries the rate-limit headers like every other `/graphql` response.
    let mut app = Router::new()
        .route(
            "/graphql",
            get(graphql::graphql_get).post(graphql::graphql_post),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if state.services.settings.graphiql {
        app = app.merge(crate::playground::router());
    }
    app.with_state(state)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
