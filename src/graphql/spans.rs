//! Spans for GraphQL validation and execution, on the schema only when tracing is on.
//!
//! async-graphql's own `Tracing` extension makes a span per resolved field, about 30% of
//! the CPU of a list query; two spans per operation say where the time went at no such
//! cost, and DataLoader batches and SQL statements nest under `graphql.execute`.
//!
//! Parsing has no hook here: the HTTP handler parses each document up front to pick its
//! operation (`http::graphql`), and the schema reuses that document, so the
//! `graphql.parse` span sits there, around the real work.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextValidation,
};
use async_graphql::{Response, ServerError, ValidationResult};
use tracing::field::Empty;
use tracing::Instrument as _;

use crate::telemetry::TARGET;

/// The extension factory to register on the schema (outermost, so the spans time the other
/// extensions' work too).
pub struct Spans;

impl ExtensionFactory for Spans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(SpansExtension)
    }
}

struct SpansExtension;

#[async_trait::async_trait]
impl Extension for SpansExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let span =
            tracing::info_span!(target: TARGET, "graphql.validate", otel.status_code = Empty);
        let result = next.run(ctx).instrument(span.clone()).await;
        if result.is_err() {
            span.record("otel.status_code", "error");
        }
        result
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let span = tracing::info_span!(
            target: TARGET,
            "graphql.execute",
            graphql.operation.name = operation_name,
            otel.status_code = Empty,
        );
        let response = next.run(ctx, operation_name).instrument(span.clone()).await;
        if response.is_err() {
            span.record("otel.status_code", "error");
        }
        response
    }
}
