//! Gatehouse: a GraphQL API service for frontend apps.
//!
//! A code-first async-graphql schema resolves through per-request DataLoaders over SeaORM
//! (PostgreSQL in production, SQLite embedded), with keyset pagination and one statement
//! per level for nested pages. JWTs carry identity, so replicas stay stateless.
//!
//! # Layout
//!
//! - [`config`]: `Settings` from the environment (CONTRACT.md section 5).
//! - [`app`]: `App::build` (connections, migrations, schema, listener) and shutdown.
//! - [`http`]: routes: GraphQL over HTTP and WebSocket, probes, request ids.
//! - [`graphql`]: the schema: types, inputs, loaders, error codes.
//! - [`store`]: data access, one file per table; hand-written SQL on hot paths.
//! - [`auth`]: JWT and argon2id; the viewer and what it may see.
//! - [`events`]: subscription fan-out behind a trait.
//! - [`limits`]: the per-caller cost budget.
//! - [`error`]: `AppError` and the contract's error codes.
//! - [`telemetry`]: logs, and OpenTelemetry traces when an OTLP endpoint is set.
//! - [`seed`]: the demo data set. [`playground`]: the offline GraphiQL page.

pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod lifecycle;
pub mod limits;
pub mod metrics;
pub mod playground;
pub mod redis;
pub mod seed;
pub mod services;
pub mod store;
pub mod telemetry;
