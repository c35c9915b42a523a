//! The GraphQL schema: types, loaders, and the one place it is assembled.

pub mod connection;
pub mod context;
pub mod datetime;
pub mod error_codes;
pub mod execution;
pub mod field_order;
pub mod ids;
pub mod in_order;
pub mod inputs;
pub mod introspection;
pub mod loaders;
pub mod mutation;
pub mod operation;
pub mod persisted;
pub mod query;
pub mod spans;
pub mod subscription;
pub mod types;

use async_graphql::{Schema, SchemaBuilder};

pub use execution::Schemas;

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
