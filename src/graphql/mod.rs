//! The GraphQL schema: types, loaders, and the one place it is assembled.

pub mod connection;
pub mod context;
pub mod error_codes;
pub mod field_order;
pub mod ids;
pub mod inputs;
pub mod introspection;
pub mod loaders;
pub mod mutation;
pub mod persisted;
pub mod query;
pub mod spans;
pub mod subscription;
pub mod types;

use std::sync::Arc;

use async_graphql::{Schema, SchemaBuilder};

use crate::limits::guard::Guard;
use crate::services::Services;

/// The schema type.
pub type AppSchema = Schema<query::Query, mutation::Mutation, subscription::Subscription>;

/// The schema without data or limits: enough to print the SDL.
pub fn schema_builder(
) -> SchemaBuilder<query::Query, mutation::Mutation, subscription::Subscription> {
    Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
}

/// The SDL committed as `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The serving schema: services as data, limits and error codes applied.
pub fn build_schema(services: Arc<Services>) -> AppSchema {
    let guard = Guard::new(
        Arc::new(services.settings.limits.clone()),
        services.budget.clone(),
    );
    // The guard enforces depth and cost with its own analysis (see `limits::analysis`);
    // async-graphql's recursion limit still bounds the validator.
    let mut builder = schema_builder();
    // First, so its spans also time the extensions below; absent without tracing.
    if services.settings.otlp_endpoint.is_some() {
        builder = builder.extension(spans::Spans);
    }
    let mut builder = builder.extension(error_codes::ErrorCodes).extension(guard);
    if !services.settings.introspection {
        builder = builder
            .extension(introspection::RefuseIntrospection)
            .disable_introspection();
    }
    builder.data(services).finish()
}
