//! The schema, built three times: with the guard and error codes as async-graphql
//! extensions; bare, for HTTP operations that [`Schemas::execute`] guards around it; and
//! bare without the validation rules, for HTTP operations whose text, operation name and
//! variables passed them before ([`crate::cache::ValidatedRequests`]).
//!
//! Why a bare one: once any extension is registered, async-graphql runs the whole extension
//! chain for every field it resolves (a boxed future per extension per field, plus a
//! registry lookup), whether or not an extension looks at fields; none of ours does. That
//! was a quarter to a third of the instructions of an uncached list query (callgrind). The
//! bare schema resolves fields without it; the guard's checks, charge, refund, field order
//! and error codes run here before and after, through the same functions the extensions
//! call. Anything but the plain case (a document that does not parse, a refusal, a dry
//! run, introspection while it is off, a subscription) goes to the extension schema, so
//! every refusal keeps one implementation. WebSocket operations use the extension schema
//! (a subscription pays per event through its stream hook).

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest};
use async_graphql::{Request, Response, SchemaEnv, ValidationMode};
use futures_util::FutureExt as _;

use super::context::RequestInfo;
use super::{error_codes, introspection, operation, schema_builder, spans, AppSchema};
use crate::cache::{ValidatedKey, ValidatedRequests};
use crate::limits::analysis::RECURSION_LIMIT;
use crate::limits::guard::{Admission, Guard};
use crate::services::Services;

/// The schema with and without extensions, and what runs the latter.
#[derive(Clone)]
pub struct Schemas {
    /// With the extensions: WebSocket operations, and every HTTP operation the bare path
    /// leaves to it.
    pub full: AppSchema,
    bare: AppSchema,
    /// The bare schema validating only what execution needs, for requests that passed
    /// full validation before ([`ValidatedRequests`]).
    prevalidated: AppSchema,
    validated: Arc<ValidatedRequests<Admission>>,
    guard: Guard,
    /// The types, for the guard's analysis (async-graphql shows them only to extensions).
    env: SchemaEnv,
    refuse_introspection: bool,
}

impl Schemas {
    /// Both schemas over `services`, limits and error codes applied.
    pub fn build(services: Arc<Services>) -> anyhow::Result<Self> {
        let settings = &services.settings;
        let guard = Guard::new(Arc::new(settings.limits.clone()), services.budget.clone());
        let refuse_introspection = !settings.introspection;
        let traced = settings.otlp_endpoint.is_some();
        let configured = || {
            let mut builder = schema_builder().limit_recursive_depth(RECURSION_LIMIT);
            // First, so its spans also time the extensions below; absent without tracing
            // (then the bare schema has no extension at all).
            if traced {
                builder = builder.extension(spans::Spans);
            }
            if refuse_introspection {
                builder = builder.disable_introspection();
            }
            builder.data(services.clone())
        };
        let bare = configured().finish();
        let prevalidated = configured().validation_mode(ValidationMode::Fast).finish();
        // The guard enforces depth and cost with its own analysis (see `limits::analysis`);
        // async-graphql's recursion limit still bounds the validator.
        let mut full = configured()
            .extension(operation::DefaultVariables)
            .extension(error_codes::ErrorCodes)
            .extension(guard.clone());
        if refuse_introspection {
            full = full.extension(introspection::RefuseIntrospection);
        }
        Ok(Self {
            full: full.finish(),
            bare,
            prevalidated,
            validated: Arc::default(),
            guard,
            env: schema_env()?,
            refuse_introspection,
        })
    }

    /// Runs one HTTP operation whose request carries `info` (and its loaders) as data.
    pub async fn execute(&self, mut request: Request, info: &RequestInfo) -> Response {
        let run = self.guard.start();
        let key = ValidatedKey::of(&request);
        let known = self.validated.passed(&key);
        // Out of the request while its document is borrowed (`parsed_query` takes it whole).
        let operation_name = request.operation_name.take();
        let variables = std::mem::take(&mut request.variables);
        let admitted = match (&known, request.parsed_query()) {
            // Passed everything below before, with the same text, name and variables.
            (Some(admission), Ok(_)) => Some(
                run.admit_known(admission, operation_name.as_deref(), info)
                    .await
                    .map(|()| None),
            ),
            (None, Ok(document))
                if !(self.refuse_introspection
                    && introspection::introspects_document(document)) =>
            {
                let registry = &self.env.registry;
                run.admit_plain(
                    registry,
                    document,
                    operation_name.as_deref(),
                    &variables,
                    info,
                )
                .await
                .map(|admitted| admitted.map(Some))
            }
            _ => None,
        };
        request.operation_name = operation_name;
        request.variables = variables;
        let mut response = match admitted {
            None => return self.full.execute(request).await,
            Some(Err(refusal)) => Response::from_errors(vec![refusal]),
            Some(Ok(learnt)) => {
                let mut response = match learnt {
                    None => self.prevalidated.execute(request).await,
                    Some(admission) => {
                        let response = self.bare.execute(request).await;
                        // Errors may be validation's (or a resolver's: then it is
                        // validated again next time, which costs only time).
                        if response.errors.is_empty() {
                            self.validated.remember(key, admission);
                        }
                        response
                    }
                };
                run.order(&mut response);
                response
            }
        };
        run.settle(&mut response).await;
        error_codes::code_without_hooks(&mut response);
        response
    }
}

/// The schema's environment (its registry of types), read once at start-up by an
/// extension during one request, as async-graphql keeps it from everything else.
fn schema_env() -> anyhow::Result<SchemaEnv> {
    let env = Arc::new(OnceLock::new());
    let schema = schema_builder().extension(ReadEnv(env.clone())).finish();
    // `{ __typename }` resolves without waiting on anything.
    schema
        .execute("{ __typename }")
        .now_or_never()
        .ok_or_else(|| anyhow::anyhow!("reading the schema's types did not finish at once"))?;
    env.get()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the schema's types were not read"))
}

/// Keeps the environment of the schema it runs in.
struct ReadEnv(Arc<OnceLock<SchemaEnv>>);

impl ExtensionFactory for ReadEnv {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ReadEnv(self.0.clone()))
    }
}

#[async_trait::async_trait]
impl Extension for ReadEnv {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let _ = self.0.set(ctx.schema_env.clone());
        next.run(ctx).await
    }
}
