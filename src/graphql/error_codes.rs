//! Gives every error async-graphql raises itself an `extensions.code` from the contract:
//! parse errors, validation errors (depth, complexity, bad variables) and the few execution
//! errors that do not come from our resolvers.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};
use futures_util::stream::BoxStream;
use futures_util::StreamExt as _;

use async_graphql::ErrorExtensions as _;

use crate::error::{AppError, Code};

/// The extension factory to register on the schema.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        code_errors(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let open = OpenSubscription::start();
        next.run(ctx, stream)
            .map(move |mut response| {
                let _open = &open;
                code_errors(&mut response);
                response
            })
            .boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|mut err| {
            if code_of(&err).is_none() {
                set_code(&mut err, Code::GraphqlParseFailed);
            }
            err
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|mut errors| {
            for err in &mut errors {
                let code = classify_validation(&err.message);
                set_code(err, code);
            }
            errors
        })
    }
}

/// Counts an open subscription in `gatehouse_subscriptions_active` while it lives.
struct OpenSubscription;

impl OpenSubscription {
    fn start() -> Self {
        if let Some(metrics) = crate::metrics::get() {
            metrics.subscriptions.inc();
        }
        Self
    }
}

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        if let Some(metrics) = crate::metrics::get() {
            metrics.subscriptions.dec();
        }
    }
}

/// Gives every error of a response its code. Resolvers return `AppError` through `?`,
/// which async-graphql turns into an error whose source is the `AppError`: it gets its code
/// here, once. Only async-graphql's own argument parsing reaches here otherwise; anything
/// else is treated as internal.
fn code_errors(response: &mut Response) {
    for error in &mut response.errors {
        if code_of(error).is_some() {
            continue;
        }
        if let Some(app) = error.source::<AppError>() {
            let coded = app.extend();
            error.message = coded.message;
            error.extensions = coded.extensions;
        } else if is_bad_input(&error.message) {
            set_code(error, Code::BadUserInput);
        } else {
            tracing::error!(message = %error.message, "uncoded GraphQL error");
            error.message = "internal error".into();
            set_code(error, Code::Internal);
        }
    }
}

/// Codes the response of a schema without this extension ([`super::Schemas`]): there
/// the validation errors are the ones without a path (an execution error always has the
/// path of its field), so they get the code the `validation` hook would have given them;
/// then every other error as [`code_errors`] does.
pub fn code_without_hooks(response: &mut Response) {
    for error in &mut response.errors {
        let validation = error.path.is_empty()
            && code_of(error).is_none()
            && error.source::<AppError>().is_none();
        if validation {
            let code = classify_validation(&error.message);
            set_code(error, code);
        }
    }
    code_errors(response);
}

/// async-graphql's messages for input it could not take: the client's mistake. (A
/// required variable left out is only noticed when its field runs.)
fn is_bad_input(message: &str) -> bool {
    message.starts_with("Failed to parse")
        || message.starts_with("Invalid value")
        || message.starts_with("Unknown operation named")
        || message.starts_with("Operation name required")
        || (message.starts_with("Variable") && message.contains("is not defined"))
}

/// The code of a validation error, from async-graphql's messages.
fn classify_validation(message: &str) -> Code {
    if message == "Query is nested too deep." {
        Code::QueryTooDeep
    } else if message == "Query is too complex." {
        Code::QueryTooComplex
    } else if is_bad_input(message) {
        Code::BadUserInput
    } else {
        Code::GraphqlValidationFailed
    }
}

/// The `extensions.code` of an error, if it has one.
pub fn code_of(error: &ServerError) -> Option<String> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code.clone()),
        _ => None,
    }
}

/// Sets (or replaces) `extensions.code`.
pub fn set_code(error: &mut ServerError, code: Code) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_map_to_contract_codes() {
        assert_eq!(
            classify_validation("Query is nested too deep."),
            Code::QueryTooDeep
        );
        assert_eq!(
            classify_validation("Query is too complex."),
            Code::QueryTooComplex
        );
        assert_eq!(
            classify_validation("Invalid value for argument \"first\", expected type \"Int\""),
            Code::BadUserInput
        );
        assert_eq!(
            classify_validation("Unknown field \"nope\" on type \"Query\"."),
            Code::GraphqlValidationFailed
        );
    }
}
